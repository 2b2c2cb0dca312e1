"""roofline/formulas/attention.py against closed forms worked out here and FlopCounterMode."""

import sympy
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from roofline.categories import GEMM
from roofline.formulas.attention import attention_flops, causal_pairs
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
