"""roofline/formulas/reduction.py against closed forms worked out here."""

import torch
import torch.nn.functional as F

from roofline.capture import OpRecord, tensor_info
from roofline.count.categories import ELEMENTWISE
from roofline.count.registry import count
from tests.conftest import only_cost


def test_sum_over_a_dim():
    x = torch.randn(16, 128)
    cost = only_cost(torch.sum, x, dim=1)
    assert cost.flops == 16 * 128
    assert cost.bytes_read == 16 * 128 * 4 and cost.bytes_written == 16 * 4


def test_variance_counts_three_flops_per_element():
    x = torch.randn(10, 20)
    assert only_cost(torch.var, x, dim=0).flops == 3 * 200


def test_layer_norm():
    x = torch.randn(8, 16, 32)
    ln = torch.nn.LayerNorm(32)
    cost = only_cost(ln, x)
    assert cost.flops == 8 * x.numel()  # mean 1, variance 3, normalise 2, affine 2
    assert cost.bytes_read == x.numel() * 4 + 2 * 32 * 4
    # output, plus the per-row mean and rstd the kernel also writes
    assert cost.bytes_written == x.numel() * 4 + 2 * 8 * 16 * 4
    assert cost.category == ELEMENTWISE


def test_batch_norm_inference():
    bn = torch.nn.BatchNorm2d(4).eval()
    x = torch.randn(2, 4, 5, 5)
    cost = only_cost(bn, x, op="aten.native_batch_norm")
    assert cost.flops == 4 * x.numel()
    # input, then weight, bias, running mean and var (4 channels each)
    assert cost.bytes_read == x.numel() * 4 + 4 * 4 * 4


def test_softmax():
    x = torch.randn(6, 50)
    cost = only_cost(F.softmax, x, dim=-1)
    assert cost.flops == 5 * 300
    assert cost.bytes_read == cost.bytes_written == 300 * 4


def test_group_norm_and_rms_norm():
    x = torch.randn(2, 8, 4, 4)
    assert only_cost(torch.nn.GroupNorm(2, 8), x, op="aten.native_group_norm").flops == 8 * x.numel()
    y = torch.randn(3, 16)
    # The fused kernel only exists on GPU (it decomposes on CPU): count a record of it.
    info = tensor_info(y)
    record = OpRecord(0, "aten._fused_rms_norm.default", "", "", (info, [16], None, 1e-5), {}, (info,),
                      (info, tensor_info(torch.randn(3, 1))), torch.ops.aten._fused_rms_norm.default)
    cost = count(record)
    assert cost.flops == 6 * y.numel()
    assert cost.bytes_read == 48 * 4 and cost.bytes_written == 48 * 4 + 3 * 4


def test_torch_equal_compares_every_element_and_writes_nothing():
    from tests.conftest import only_cost as _only_cost

    a = torch.randn(6, 5)
    cost = _only_cost(torch.equal, a, a.clone())
    assert cost.flops == 30 and cost.bytes_read == 2 * 30 * 4 and cost.bytes_written == 0


def test_complex_sum_counts_two_real_adds_per_element():
    # A complex add is two real adds: sum of 100 complex64 is 200 FLOPs; prod of 100
    # complex multiplies (4 multiplies, 2 adds each) is 600.
    z = torch.randn(100, dtype=torch.complex64)
    assert only_cost(torch.sum, z, op="aten.sum").flops == 200
    assert only_cost(torch.prod, z, op="aten.prod").flops == 600


def test_batch_norm_training_writes_its_running_statistics_back():
    # BatchNorm2d(16) training on (8, 16, 4, 4) = 2048 float32 elements.
    # FLOPs: 8 per element (batch statistics) = 16_384, plus the running-stat update,
    # 7 per channel (mean: 3; variance: 3 and the unbiasing n/(n-1)) = 112: 16_496.
    # Read: x 8192 B + weight, bias, running mean, running var 4 * 64 B = 8448 B.
    # Written: y 8192 B + saved mean and inverse std 2 * 64 B + the running mean and
    # variance written back 2 * 64 B = 8448 B (the write-back was missing: 8320).
    bn = torch.nn.BatchNorm2d(16).train()
    cost = only_cost(bn, torch.randn(8, 16, 4, 4), op="aten.native_batch_norm")
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (16_496, 8448, 8448)
