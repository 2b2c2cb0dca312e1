"""roofline/formulas/matmul.py against closed forms worked out here and FlopCounterMode."""

import pytest
import sympy
import torch
from torch.utils.flop_counter import FlopCounterMode

from roofline.capture import OpRecord, tensor_info
from roofline.count.categories import GEMM
from roofline.count.formulas.matmul import gemm_bytes, gemm_flops
from roofline.count.registry import MATRIX, count
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


# --------------------------------------------------------------------------- grouped and quantized

M, K, N, G = 16, 32, 24, 4


def test_grouped_mm_counts_2mnk_per_group():
    bf16 = torch.bfloat16
    x, w = torch.randn(M, K, dtype=bf16), torch.randn(G, K, N, dtype=bf16)
    offs = torch.tensor([4, 8, 12, 16], dtype=torch.int32)
    # 2-D x 3-D (MoE: each of the 16 rows goes to one of 4 experts): 2*16*24*32 = 24_576.
    # Read: x 16*32*2 = 1024 B, w 4*32*24*2 = 6144 B, offs 16 B = 7184 B; out 16*24*2 = 768 B.
    cost = only_cost(torch.ops.aten._grouped_mm, x, w, offs)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (24_576, 7184, 768)
    assert cost.category == GEMM and cost.unit == MATRIX
    # 3-D x 3-D: a batch of 4 products, as bmm: 2*4*16*24*32 = 98_304 (FlopCounterMode's bmm).
    xb = torch.randn(G, M, K, dtype=bf16)
    with FlopCounterMode(display=False) as peer:
        torch.bmm(xb, w)
    assert only_cost(torch.ops.aten._grouped_mm, xb, w).flops == peer.get_total_flops() == 98_304
    # 2-D x 2-D: offs splits K = 32 into 4 groups, out (4, 16, 24): 2*16*24*32 = 24_576.
    offs_k = torch.tensor([8, 16, 24, 32], dtype=torch.int32)
    assert only_cost(torch.ops.aten._grouped_mm, x, w[0], offs_k).flops == 24_576


def test_fp8_and_int8_matmuls_read_one_byte_an_operand():
    a = torch.randn(M, K).to(torch.float8_e4m3fn)
    b = torch.randn(N, K).to(torch.float8_e4m3fn).t()
    scale_a, scale_b = torch.tensor(1.0), torch.tensor(1.0)
    # _scaled_mm: 2*16*24*32 = 24_576 FLOPs (FlopCounterMode agrees); reads a 512 B,
    # b 768 B and two fp32 scales 8 B = 1288 B; writes bf16 16*24*2 = 768 B.
    cost = only_cost(torch.ops.aten._scaled_mm, a, b, scale_a, scale_b, out_dtype=torch.bfloat16)
    with FlopCounterMode(display=False) as peer:
        torch.ops.aten._scaled_mm(a, b, scale_a, scale_b, out_dtype=torch.bfloat16)
    assert cost.flops == peer.get_total_flops() == 24_576
    assert (cost.bytes_read, cost.bytes_written) == (1288, 768)
    # _int_mm: int8 operands 512 + 768 B read, an int32 result 16*24*4 = 1536 B written.
    ai, bi = torch.randint(-8, 8, (M, K), dtype=torch.int8), torch.randint(-8, 8, (K, N), dtype=torch.int8)
    cost = only_cost(torch.ops.aten._int_mm, ai, bi)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (24_576, 1280, 1536)


def test_scaled_grouped_mm_on_meta():
    # fp8 2-D x 3-D with 4 experts: 24_576 FLOPs; reads a 512 B, b 4*32*24 = 3072 B,
    # scales 16*4 + 4*24*4 = 448 B, offs 16 B = 4048 B; writes bf16 768 B.
    fp8 = torch.float8_e4m3fn
    a = torch.empty(M, K, device="meta", dtype=fp8)
    b = torch.empty(G, N, K, device="meta", dtype=fp8).transpose(-2, -1)
    offs = torch.empty(G, device="meta", dtype=torch.int32)
    scale_a, scale_b = torch.empty(M, device="meta"), torch.empty(G, N, device="meta")
    cost = only_cost(torch.ops.aten._scaled_grouped_mm, a, b, scale_a, scale_b, offs, out_dtype=torch.bfloat16)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (24_576, 4048, 768)


def test_weight_only_int8_and_int4_matmuls_read_the_weight_at_its_stored_width():
    bf16 = torch.bfloat16
    x = torch.randn(M, K, dtype=bf16)
    # int8 weight (24, 32) 768 B, bf16 scales 48 B, x 1024 B: 1840 B read; 24_576 FLOPs.
    w8, scales = torch.randint(-8, 8, (N, K), dtype=torch.int8), torch.randn(N, dtype=bf16)
    cost = only_cost(torch.ops.aten._weight_int8pack_mm, x, w8, scales)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (24_576, 1840, 768)
    # int4 on CPU (meta: the CPU packing wants N divisible by 16): the packed (24, 16)
    # uint8 weight is 24*32/2 = 384 B; scales and zeros (1, 24, 2) bf16 96 B; x 1024 B.
    xm = torch.empty(M, K, device="meta", dtype=bf16)
    packed = torch.empty(N, K // 2, device="meta", dtype=torch.uint8)
    sz = torch.empty(K // 32, N, 2, device="meta", dtype=bf16)
    cost = only_cost(torch.ops.aten._weight_int4pack_mm_for_cpu, xm, packed, 32, sz)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (24_576, 1504, 768)


def test_int4_gpu_packing_reads_half_a_byte_a_weight():
    # The CUDA kernel (no CPU or meta kernel to capture): a record of it. x (16, 64) bf16
    # 2048 B; weight N*K = 24*64 int4 packed into int32 tiles (3, 2, 32, 1): 768 B =
    # 24*64/2; scales and zeros (2, 24, 2) bf16 192 B: 3008 B read. 2*16*24*64 = 49_152.
    x = tensor_info(torch.empty(M, 64, dtype=torch.bfloat16))
    packed = tensor_info(torch.empty(3, 2, 32, 1, dtype=torch.int32))
    sz = tensor_info(torch.empty(2, N, 2, dtype=torch.bfloat16))
    out = tensor_info(torch.empty(M, N, dtype=torch.bfloat16))
    func = torch.ops.aten._weight_int4pack_mm.default
    record = OpRecord(0, "aten._weight_int4pack_mm.default", "", "", (x, packed, 32, sz), {}, (x, packed, sz), (out,), func)
    cost = count(record)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (49_152, 3008, 768)
