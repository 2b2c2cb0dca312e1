"""roofline/formulas/attention.py against closed forms worked out here and FlopCounterMode."""

import sympy
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from roofline.count.categories import GEMM
from roofline.count.formulas.attention import attention_flops, causal_pairs
from tests.conftest import costs_of


def sdpa_cost(q, k, v, **kwargs):
    found = [c for op, c in costs_of(F.scaled_dot_product_attention, q, k, v, **kwargs) if c.category == GEMM]
    assert len(found) == 1
    return found[0]


def test_full_attention_flops_and_fused_bytes():
    q = torch.randn(2, 4, 16, 8)
    cost = sdpa_cost(q, torch.randn(2, 4, 16, 8), torch.randn(2, 4, 16, 8))
    # QK^T and PV: 2 x (2*4 heads) x 16 x 16 x 8 each.
    assert cost.flops == 2 * 2 * (2 * 4 * 16 * 16 * 8) == 65_536
    # Fused: q, k, v read once, the output written; the 16x16 scores never stored.
    assert cost.bytes_read == 3 * 2 * 4 * 16 * 8 * 4
    assert cost.bytes_written >= 2 * 4 * 16 * 8 * 4


def test_full_attention_matches_flop_counter_mode():
    q, k, v = torch.randn(2, 3, 12, 16), torch.randn(2, 3, 20, 16), torch.randn(2, 3, 20, 16)
    # FlopCounterMode has no formula for the CPU flash kernel; on meta tensors the call
    # decomposes into the math path's two bmm, which it does count.
    with FlopCounterMode(display=False) as counter:
        F.scaled_dot_product_attention(q.to("meta"), k.to("meta"), v.to("meta"))
    assert sdpa_cost(q, k, v).flops == counter.get_total_flops()


def test_causal_counts_the_kept_pairs():
    q = torch.randn(1, 2, 16, 8)
    cost = sdpa_cost(q, q.clone(), q.clone(), is_causal=True)
    pairs = 16 * 17 // 2  # query i sees keys 0..i
    assert cost.flops == 2 * 2 * (2 * pairs * 8)


def test_causal_grouped_query_attention_follows_query_heads():
    q, kv = torch.randn(1, 8, 10, 16), torch.randn(1, 2, 10, 16)
    cost = sdpa_cost(q, kv, kv.clone(), is_causal=True, enable_gqa=True)
    assert cost.flops == 2 * 8 * 55 * (16 + 16)
    # k and v have 2 heads, not 8: GQA reads the smaller cache.
    assert cost.bytes_read == 4 * (8 * 10 * 16 + 2 * (2 * 10 * 16))


def test_causal_pairs_closed_form():
    assert causal_pairs(4, 4) == 1 + 2 + 3 + 4
    assert causal_pairs(6, 3) == 1 + 2 + 3 + 3 + 3 + 3
    assert causal_pairs(2, 5) == 1 + 2
    n = sympy.Symbol("n", positive=True, integer=True)
    assert sympy.simplify(attention_flops(1, 1, n, n, 64, causal=False) - 256 * n**2) == 0


def test_naive_attention_pays_for_the_score_matrix():
    from roofline.count.formulas.attention import naive_attention_bytes

    q, k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8)
    costs = [c for _, c in costs_of(lambda: torch.softmax(q @ k.transpose(-2, -1), -1) @ v)]
    scores = 1 * 2 * 5 * 7 * 4  # the 5 x 7 score matrix per head, fp32
    qkv = (2 * 5 * 8 + 2 * 2 * 7 * 8) * 4
    out = 2 * 5 * 8 * 4
    # bmm writes the scores, softmax reads and writes them, the second bmm reads them.
    assert sum(c.bytes_read for c in costs) == qkv + 2 * scores
    assert sum(c.bytes_written for c in costs) == out + 2 * scores
    assert naive_attention_bytes(1, 2, 5, 7, 8, itemsize=4) == (qkv + 2 * scores, out + 2 * scores)
    assert sum(c.flops for c in costs if c.category == GEMM) == 2 * 2 * (2 * 5 * 7 * 8)


def test_arbitrary_mask_is_read_but_does_not_cut_the_work():
    q, k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8)
    mask = torch.randn(5, 7)  # additive, broadcast over batch and heads
    cost = sdpa_cost(q, k, v, attn_mask=mask)
    assert cost.flops == 2 * 2 * (2 * 5 * 7 * 8)  # a dense kernel scores every pair
    assert cost.bytes_read == (2 * 5 * 8 + 2 * 2 * 7 * 8) * 4 + 5 * 7 * 4
    # A boolean mask is turned into an additive one first (a separate op), then read.
    keep = torch.rand(1, 1, 5, 7) > 0.3
    assert sdpa_cost(q, k, v, attn_mask=keep).bytes_read == cost.bytes_read


def test_fused_kernel_writes_output_and_log_sum_exp():
    from roofline.count.formulas.attention import attention_bytes

    q = torch.randn(2, 3, 6, 8).bfloat16()
    cost = sdpa_cost(q, q.clone(), q.clone())
    # bf16 output plus one fp32 log-sum-exp per query row.
    assert cost.bytes_written == 2 * 3 * 6 * 8 * 2 + 2 * 3 * 6 * 4
    assert attention_bytes(2, 3, 3, 6, 6, 8, itemsize=2, lse_itemsize=4) == (cost.bytes_read, cost.bytes_written)


# --------------------------------------------------------------------------- variable length
# The reproducer: 4 causal sequences of 32, 64, 96 and 128 tokens packed into
# one [320 tokens, 8 heads, 64] tensor (nested/jagged attention), run on meta tensors:
# the flash and memory-efficient kernels have meta implementations but no CPU ones.
VARLEN_LENGTHS = (32, 64, 96, 128)
VARLEN_OFFSETS = (0, 32, 96, 192, 320)


def _varlen_costs(offsets, causal=True):
    """Costs of flash forward, flash backward, efficient forward, efficient backward."""
    q = torch.empty(320, 8, 64, device="meta", dtype=torch.float16)
    q4 = q.unsqueeze(0)
    flash = torch.ops.aten._flash_attention_forward
    efficient = torch.ops.aten._efficient_attention_forward
    mask_type = 1 if causal else 0  # efficient attention's top-left causal mask

    def run():
        out, lse, rng, unused, _ = flash(q, q, q, offsets, offsets, 128, 128, 0.0, causal, False)
        torch.ops.aten._flash_attention_backward(out, q, q, q, out, lse, offsets, offsets, 128, 128, 0.0, causal, rng, unused)
        out4, lse4, seed, offset, *_ = efficient(q4, q4, q4, None, offsets, offsets, 128, 128, 0.0, mask_type, True)
        torch.ops.aten._efficient_attention_backward(
            out4, q4, q4, q4, None, out4, offsets, offsets, 128, 128, lse4, 0.0, seed, offset, mask_type, False
        )

    return [cost for op, cost in costs_of(run) if cost.category == GEMM]


def test_varlen_causal_attention_counts_each_sequence_with_real_offsets():
    offsets = torch.tensor(VARLEN_OFFSETS, dtype=torch.int32)
    flash_fwd, flash_bwd, eff_fwd, eff_bwd = (c.flops for c in _varlen_costs(offsets))
    # Kept pairs per sequence L(L+1)/2: 528 + 2080 + 4656 + 8256 = 15,520; each pair costs
    # 2 FLOPs x 8 heads x (64 + 64) = 2,048: 31,784,960 (one 320-token sequence would be
    # 320*321/2 = 51,360 pairs, 105,185,280 FLOPs: the old count).
    assert flash_fwd == eff_fwd == 15_520 * 2_048 == 31_784_960
    # Backward: the two matmuls recomputed plus four gradient matmuls, 2.5 x.
    assert flash_bwd == eff_bwd == 31_784_960 * 5 / 2 == 79_462_400


def test_varlen_attention_with_fake_offsets_is_a_bound():
    offsets = torch.empty(5, dtype=torch.int32, device="meta")
    flash_fwd, flash_bwd, eff_fwd, eff_bwd = (c.flops for c in _varlen_costs(offsets))
    # Unknown lengths, 320 tokens, none over 128: the worst split is 128 + 128 + 64,
    # 8,256 + 8,256 + 2,080 = 18,592 kept pairs x 2,048 = 38,076,416 FLOPs: above the
    # real 31,784,960 and below the single-sequence 105,185,280.
    assert flash_fwd == eff_fwd == 18_592 * 2_048 == 38_076_416
    assert flash_bwd == eff_bwd == 38_076_416 * 5 / 2


def test_varlen_full_attention_matches_flop_counter_mode():
    offsets = torch.tensor(VARLEN_OFFSETS, dtype=torch.int32)
    q = torch.empty(320, 8, 64, device="meta", dtype=torch.float16)
    with FlopCounterMode(display=False) as counter:
        torch.ops.aten._flash_attention_forward(q, q, q, offsets, offsets, 128, 128, 0.0, False, False)
    flash_fwd = _varlen_costs(offsets, causal=False)[0].flops
    # sum L^2 = 1,024 + 4,096 + 9,216 + 16,384 = 30,720 pairs x 2 x 8 x 128 = 62,914,560.
    assert flash_fwd == counter.get_total_flops() == 62_914_560
