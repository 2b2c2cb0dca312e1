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
