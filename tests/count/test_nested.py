"""Nested tensors counted by their real elements: a jagged tensor's ops are the aten ops
it runs on its packed values; an op on a strided nested tensor is the sum of the op on
each component (roofline.count.components); the conversions read what they keep.

Every tensor below holds two components of 3 and 5 rows of 8 floats: 64 real elements,
256 bytes in fp32 (a padded [2, 5, 8] copy would be 80 elements, 320 bytes).
"""

import pytest
import torch
import torch.nn.functional as F

import roofline
from roofline.errors import RooflineError
from tests.conftest import costs_of

pytestmark = pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype")


def jagged():
    return torch.nested.nested_tensor([torch.randn(3, 8), torch.randn(5, 8)], layout=torch.jagged)


def strided():
    return torch.nested.nested_tensor([torch.randn(3, 8), torch.randn(5, 8)])


@pytest.mark.parametrize("make", [jagged, strided], ids=["jagged", "strided"])
def test_relu_counts_the_real_elements(make):
    ((op, cost),) = costs_of(torch.relu, make())
    # 64 real elements: one FLOP each, 256 B read and 256 B written (was 0, 0 and 0).
    assert (op, cost.flops, cost.bytes_read, cost.bytes_written) == ("aten.relu", 64, 256, 256)


@pytest.mark.parametrize("make", [jagged, strided], ids=["jagged", "strided"])
def test_a_reduction_counts_without_a_traceback(make):
    ((op, cost),) = costs_of(lambda x: x.sum(dim=-1, keepdim=True), make())
    # 8 rows of 8 summed: 64 adds; 256 B read, one float per row written (8 x 4 B).
    assert (op, cost.flops, cost.bytes_read, cost.bytes_written) == ("aten.sum", 64, 256, 32)


@pytest.mark.parametrize("make", [jagged, strided], ids=["jagged", "strided"])
def test_linear_reads_its_shared_weight_once(make):
    weight, bias = torch.randn(4, 8), torch.randn(4)
    ((op, cost),) = costs_of(F.linear, make(), weight, bias)
    # 8 rows x 8 x 4 multiply-adds = 512 FLOPs, plus 8 x 4 bias adds = 544. Read: the
    # 256 B of rows, the 128 B weight and 16 B bias once (not once per component) = 400.
    # A jagged tensor runs linear on its values, which eager decomposes (t, addmm); a
    # strided one has its own linear kernel.
    assert op == ("aten.addmm" if make is jagged else "aten.linear")
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (544, 400, 8 * 4 * 4)


def test_strided_nested_matmul_sums_its_components():
    a = torch.nested.nested_tensor([torch.randn(2, 3, 8), torch.randn(2, 5, 8)])
    b = torch.nested.nested_tensor([torch.randn(2, 8, 3), torch.randn(2, 8, 5)])
    ((_, cost),) = costs_of(torch.matmul, a, b)
    # Per component 2 heads x L x L x 8 multiply-adds: 2*2*3*3*8 + 2*2*5*5*8 = 288 + 800.
    assert cost.flops == 1_088
    # a and b each 2*(3+5)*8 = 128 floats read; the outputs 2*(9+25) = 68 floats written.
    assert (cost.bytes_read, cost.bytes_written) == (2 * 128 * 4, 68 * 4)


def test_jagged_to_padded_reads_the_real_elements_and_writes_the_padding():
    nt = jagged()
    ((op, cost),) = costs_of(lambda: nt.to_padded_tensor(0.0))
    # The 256 B of values and the 3 int64 offsets read; the [2, 5, 8] padded copy written.
    assert (op, cost.bytes_read, cost.bytes_written) == ("aten._jagged_to_padded_dense_forward", 256 + 3 * 8, 320)


def test_jagged_models_analyse_strictly_on_real_and_meta():
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU())
    real = roofline.analyze(model, (jagged(),), strict=True)
    meta = roofline.analyze(model, (jagged(),), meta=True, strict=True)
    # linear 544 (above) + relu over 8 x 4 outputs 32.
    assert real.total_flops == meta.total_flops == 576
    assert list(real.ops["op"]) == list(meta.ops["op"]) == ["aten.t", "aten.addmm", "aten.relu"]


def test_strided_nested_on_meta_is_a_one_line_error():
    with pytest.raises(RooflineError, match="strided nested tensor cannot be moved to meta") as error:
        roofline.analyze(torch.nn.ReLU(), (strided(),), meta=True)
    assert "\n" not in str(error.value)
