"""roofline/formulas/matmul.py against closed forms worked out here and FlopCounterMode."""

import pytest
import sympy
import torch
from torch.utils.flop_counter import FlopCounterMode

from roofline.count.categories import GEMM
from roofline.count.formulas.matmul import gemm_bytes, gemm_flops
from roofline.count.registry import MATRIX
from tests.conftest import only_cost


def test_mm_flops_and_bytes():
    a, b = torch.randn(64, 128), torch.randn(128, 256)
    cost = only_cost(torch.mm, a, b)
    assert cost.flops == 2 * 64 * 128 * 256 == 4_194_304
    assert cost.bytes_read == 4 * (64 * 128 + 128 * 256) == 163_840
    assert cost.bytes_written == 4 * 64 * 256 == 65_536
    assert cost.category == GEMM and cost.unit == MATRIX


def test_addmm_counts_the_bias_add_and_reads_the_bias_once():
    bias, a, b = torch.randn(256), torch.randn(64, 128), torch.randn(128, 256)
    cost = only_cost(torch.addmm, bias, a, b)
    assert cost.flops == 4_194_304 + 64 * 256
    assert cost.bytes_read == 163_840 + 256 * 4


def test_bmm_and_baddbmm():
    a, b = torch.randn(8, 32, 16), torch.randn(8, 16, 24)
    assert only_cost(torch.bmm, a, b).flops == 2 * 8 * 32 * 24 * 16 == 196_608
    c = torch.randn(8, 32, 24)
    cost = only_cost(torch.baddbmm, c, a, b)
    assert cost.flops == 196_608 + 8 * 32 * 24
    assert cost.bytes_read == 4 * (8 * 32 * 16 + 8 * 16 * 24 + 8 * 32 * 24)


def test_linear_on_3d_input_is_one_gemm_plus_views():
    layer = torch.nn.Linear(64, 32)
    x = torch.randn(4, 10, 64)
    cost = only_cost(layer, x)  # views are filtered out: the only working op is addmm
    assert cost.flops == 2 * 40 * 64 * 32 + 40 * 32


def test_same_tensor_twice_is_read_once():
    a = torch.randn(32, 32)
    cost = only_cost(torch.mm, a, a)
    assert cost.bytes_read == 32 * 32 * 4


@pytest.mark.parametrize("shape_a,shape_b", [((7, 9), (9, 5)), ((3, 7, 9), (3, 9, 5)), ((2, 3, 7, 9), (9, 5))])
def test_matmul_matches_flop_counter_mode(shape_a, shape_b):
    a, b = torch.randn(shape_a), torch.randn(shape_b)
    with FlopCounterMode(display=False) as counter:
        torch.matmul(a, b)
    ours = sum(c.flops for c in [only_cost(torch.matmul, a, b)])
    assert ours == counter.get_total_flops()


def test_closed_forms_are_symbolic():
    m, n, k, b = sympy.symbols("m n k b", positive=True, integer=True)
    assert sympy.simplify(gemm_flops(m, n, k, b) - 2 * b * m * n * k) == 0
    read, written = gemm_bytes(m, n, k, 1, itemsize=2)
    assert sympy.simplify(read - 2 * (m * k + k * n)) == 0
    assert sympy.simplify(written - 2 * m * n) == 0


def test_addmm_and_baddbmm_with_beta_zero_neither_read_nor_add_the_input():
    # addmm(C, A, B, beta=0): 2*M*N*K = 2*8*4*16 = 1024 FLOPs (FlopCounterMode agrees);
    # reads A and B only, (8*16 + 16*4) * 4 = 768 B; writes 8*4*4 = 128 B.
    a, b, c = torch.randn(8, 16), torch.randn(16, 4), torch.randn(8, 4)
    cost = only_cost(lambda: torch.addmm(c, a, b, beta=0))
    with FlopCounterMode(display=False) as peer:
        torch.addmm(c, a, b, beta=0)
    assert cost.flops == peer.get_total_flops() == 1024
    assert (cost.bytes_read, cost.bytes_written) == (768, 128)
    # baddbmm over 2 batches: 2*2*8*4*16 = 2048 FLOPs; reads (2*8*16 + 2*16*4) * 4 = 1536 B.
    a, b, c = torch.randn(2, 8, 16), torch.randn(2, 16, 4), torch.randn(2, 8, 4)
    cost = only_cost(lambda: torch.baddbmm(c, a, b, beta=0))
    with FlopCounterMode(display=False) as peer:
        torch.baddbmm(c, a, b, beta=0)
    assert cost.flops == peer.get_total_flops() == 2048
    assert (cost.bytes_read, cost.bytes_written) == (1536, 256)
