"""Fused scaled-dot-product attention (math, flash, memory-efficient, cuDNN, CPU flash).

Shapes: q [B, Hq, L, E], k [B, Hkv, S, E], v [B, Hkv, S, Ev]; grouped-query attention
has Hkv < Hq (each kv head serves Hq/Hkv query heads, so the work follows Hq).
FLOPs are the two matmuls, Q@K^T and P@V: 2*B*Hq*(L*S)*(E + Ev), the convention of the
FlashAttention papers; the softmax's few FLOPs per score are not included. Causal
attention counts the work actually done: only the (query, key) pairs the mask keeps.
Bytes are those of a fused kernel: q, k, v (and a mask) read once, the output (and
log-sum-exp) written once; the L x S score matrix never reaches memory.

Variable-length calls (nested/jagged tensors: the flash and memory-efficient kernels
given cumulative sequence offsets) pack B sequences into one token dimension; each
sequence attends only to itself, so the work is the sum over sequences. Capture keeps
the offsets when they hold real data; fake or meta offsets give a bound (see
varlen_lengths).
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import GEMM
from roofline.count.formulas._common import is_symbolic, prod, read_bytes, written_bytes
from roofline.count.registry import MATRIX, AttentionShape, Cost, register


def causal_pairs(q_len: Any, kv_len: Any) -> Any:
    """(query, key) pairs a causal mask keeps, with torch's top-left alignment.

    Query i sees keys 0..i, capped at kv_len: sum over i of min(i + 1, kv_len), which is
    L(L+1)/2 when L <= S and S(S+1)/2 + (L-S)S otherwise (a Piecewise for symbols; it
    collapses to L(L+1)/2 when both lengths are the same symbol).
    """
    if is_symbolic(q_len, kv_len):
        import sympy

        return sympy.Piecewise(
            (q_len * (q_len + 1) / 2, sympy.Le(q_len, kv_len)),
            (kv_len * (kv_len + 1) / 2 + (q_len - kv_len) * kv_len, True),
        )
    if q_len <= kv_len:
        return q_len * (q_len + 1) // 2
    return kv_len * (kv_len + 1) // 2 + (q_len - kv_len) * kv_len


def attention_flops(
    batch: Any, q_heads: Any, q_len: Any, kv_len: Any, head_dim: Any, v_head_dim: Any | None = None, causal: bool = False
) -> Any:
    """FLOPs of Q@K^T and P@V for one attention call."""
    v_head_dim = head_dim if v_head_dim is None else v_head_dim
    pairs = causal_pairs(q_len, kv_len) if causal else q_len * kv_len
    return 2 * batch * q_heads * pairs * (head_dim + v_head_dim)


def attention_bytes(
    batch: Any,
    q_heads: Any,
    kv_heads: Any,
    q_len: Any,
    kv_len: Any,
    head_dim: Any,
    v_head_dim: Any | None = None,
    itemsize: Any = 2,
    lse_itemsize: Any = 0,
    mask_elems: Any = 0,
    mask_itemsize: Any | None = None,
) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of a fused attention kernel.

    lse_itemsize: bytes per query row of the log-sum-exp the flash kernels also write
    (4: fp32; 0 to leave it out). mask_elems: elements of an additive or boolean mask
    read once at its own (possibly broadcast) size, ``mask_itemsize`` bytes each.
    """
    v_head_dim = head_dim if v_head_dim is None else v_head_dim
    mask_itemsize = itemsize if mask_itemsize is None else mask_itemsize
    bytes_read = itemsize * batch * (q_heads * q_len * head_dim + kv_heads * kv_len * (head_dim + v_head_dim))
    bytes_read = bytes_read + mask_elems * mask_itemsize
    bytes_written = itemsize * batch * q_heads * q_len * v_head_dim + lse_itemsize * batch * q_heads * q_len
    return bytes_read, bytes_written


def naive_attention_bytes(
    batch: Any, heads: Any, q_len: Any, kv_len: Any, head_dim: Any, itemsize: Any = 4
) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of attention run as separate ops:
    S = Q @ K^T (bmm), P = softmax(S), O = P @ V (bmm). The L x S score matrix is
    written by the first bmm, read and written by the softmax and read by the second
    bmm: four passes over B*H*L*S elements on top of the fused kernel's traffic."""
    scores = batch * heads * q_len * kv_len * itemsize
    qkv_read, out_written = attention_bytes(batch, heads, heads, q_len, kv_len, head_dim, itemsize=itemsize)
    return qkv_read + 2 * scores, out_written + 2 * scores


def _sdpa_flops(q: TensorInfo, k: TensorInfo, v: TensorInfo, causal: bool, seq_first: bool = False) -> Any:
    q_shape = q.shape if len(q.shape) >= 3 else (1, *q.shape)
    if seq_first:  # [B, L, H, E] layout of the low-level flash/efficient kernels
        *batch_dims, q_len, q_heads, head_dim = q_shape
        kv_len = k.shape[-3]
    else:
        *batch_dims, q_heads, q_len, head_dim = q_shape
        kv_len = k.shape[-2]
    return attention_flops(prod(batch_dims), q_heads, q_len, kv_len, head_dim, v.shape[-1], causal)


#: Every fused attention forward kernel (and the composite op, if it is ever seen).
SDPA_OPS = (
    "aten.scaled_dot_product_attention",
    "aten._scaled_dot_product_attention_math",
    "aten._scaled_dot_product_flash_attention",
    "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_efficient_attention",
    "aten._scaled_dot_product_cudnn_attention",
    "aten._scaled_dot_product_fused_attention_overrideable",
    "aten._flash_attention_forward",
    "aten._efficient_attention_forward",
)


def sdpa_arguments(record: OpRecord, first: int = 0) -> tuple[TensorInfo, TensorInfo, TensorInfo, bool]:
    """(q, k, v, causal) of a fused attention call, forward (q at position ``first`` = 0)
    or backward (after grad_out, ``first`` = 1), across the kernels' argument names."""
    named = record.named_args()
    q = named.get("query", record.args[first])
    k = named.get("key", record.args[first + 1])
    v = named.get("value", record.args[first + 2])
    causal = bool(named.get("is_causal", named.get("causal", False)))
    if named.get("custom_mask_type", 0) == 1:  # efficient attention's causal flag
        causal = True
    return q, k, v, causal


#: Kernels whose tensors are [B, L, H, E] (or packed [T, H, E] / [1, T, H, E] with offsets).
SEQUENCE_FIRST_OPS = (
    "aten._flash_attention_forward",
    "aten._efficient_attention_forward",
    "aten._flash_attention_backward",
    "aten._efficient_attention_backward",
)


#: (query offsets, key offsets, query max length, key max length) argument names of the
#: variable-length kernels: flash, then memory-efficient.
_VARLEN_ARGUMENTS = (
    ("cum_seq_q", "cum_seq_k", "max_q", "max_k"),
    ("cu_seqlens_q", "cu_seqlens_k", "max_seqlen_q", "max_seqlen_k"),
)


def _packed_lengths(total: int, max_len: int) -> list[int]:
    """Lengths of the worst case of sequences holding ``total`` tokens, none longer than
    ``max_len``: as many full-length sequences as the tokens fill, then the rest. The
    work of a sequence (L^2, or L(L+1)/2 causal) grows faster than its length, so for
    a fixed total no split does more."""
    full, rest = divmod(int(total), int(max_len))
    return [int(max_len)] * full + ([rest] if rest else [])


def varlen_lengths(record: OpRecord, q: TensorInfo, k: TensorInfo) -> list[tuple[int, int]] | None:
    """(query length, key length) per sequence of a variable-length attention call, or
    None when the call is a padded batch (no offsets).

    Offsets whose values capture kept give the exact lengths. Otherwise (fake or meta
    offsets) a bound: self-attention (one offsets tensor for queries and keys) packs the
    tokens into full-length sequences (_packed_lengths); cross-attention takes every one
    of the B sequences at its maximum lengths, as torch.utils.flop_counter does.
    """
    named = record.named_args()
    for q_name, k_name, q_max_name, k_max_name in _VARLEN_ARGUMENTS:
        q_offsets, k_offsets = named.get(q_name), named.get(k_name)
        if isinstance(q_offsets, TensorInfo) and isinstance(k_offsets, TensorInfo):
            break
    else:
        return None
    if q_offsets.values is not None and k_offsets.values is not None:
        q_lengths = [b - a for a, b in zip(q_offsets.values, q_offsets.values[1:])]
        k_lengths = [b - a for a, b in zip(k_offsets.values, k_offsets.values[1:])]
        return list(zip(q_lengths, k_lengths))
    q_max, k_max = named[q_max_name], named[k_max_name]
    if q_offsets is k_offsets and q_max == k_max:
        return [(n, n) for n in _packed_lengths(q.shape[-3], q_max)]
    return [(q_max, k_max)] * (q_offsets.shape[0] - 1)


def fused_attention_flops(record: OpRecord, first: int = 0) -> Any:
    """FLOPs of a fused attention kernel's two matmuls (forward, q at ``first`` = 0;
    a backward multiplies them by 2.5): per sequence for variable-length calls."""
    q, k, v, causal = sdpa_arguments(record, first)
    seq_first = record.packet in SEQUENCE_FIRST_OPS
    lengths = varlen_lengths(record, q, k) if seq_first else None
    if lengths is None:
        return _sdpa_flops(q, k, v, causal, seq_first)
    heads, head_dim = q.shape[-2], q.shape[-1]  # packed [(1,) tokens, heads, head_dim]
    return sum(attention_flops(1, heads, q_len, kv_len, head_dim, v.shape[-1], causal) for q_len, kv_len in lengths)


def attention_shape(record: OpRecord, first: int = 0) -> AttentionShape | None:
    """The AttentionShape of a call in the [B, H, L, E] layout (heads = B x H), forward
    (q at position ``first`` = 0) or backward (``first`` = 1); None for the
    sequence-first kernels (their packed variable-length calls have no one length)."""
    if record.packet in SEQUENCE_FIRST_OPS:
        return None
    q, k, _, _ = sdpa_arguments(record, first)
    q_shape = q.shape if len(q.shape) >= 3 else (1, *q.shape)
    *batch_dims, q_heads, q_len, head_dim = q_shape
    return AttentionShape(prod(batch_dims) * q_heads, q_len, k.shape[-2], head_dim)


@register(*SDPA_OPS)
def sdpa_cost(record: OpRecord) -> Cost:
    return Cost(fused_attention_flops(record), read_bytes(record), written_bytes(record), GEMM, unit=MATRIX,
                attention=attention_shape(record))
