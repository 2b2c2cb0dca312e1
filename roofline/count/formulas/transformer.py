"""PyTorch's fused transformer inference ops: the fast paths of nn.MultiheadAttention
(``_native_multi_head_attention``) and nn.TransformerEncoderLayer
(``_transformer_encoder_layer_fwd``), which eager runs in eval mode (see
roofline.capture.meta for how a capture keeps them).

Each is one aten op that runs several kernels in turn, so its cost is the sum of theirs,
each counted as its own family counts it: a projection 2*m*n*k plus one add per output
for its bias, attention's two matmuls as in attention.py, softmax 5 and layer norm 8
FLOPs per element (reduction.py), relu 1 and gelu 2 (pointwise.py). Its bytes are the
sum of each kernel's compulsory traffic: what one kernel writes, the next reads back.

Which attention path runs is torch's choice inside the op (ATen's
native_multi_head_attention): self-attention (query, key and value one tensor) with a
head size that is a multiple of 8, no mask and need_weights=False runs
linear -> fused attention (flash, whose log-sum-exp is fp32) -> linear; anything else
the math path: QKV projection, bias add and 1/sqrt(head size) scale of q
(_transform_bias_rescale_qkv), Q K^T, masked softmax, P V, output projection, and, when
the weights are returned averaged, their sum over heads and a divide.
Shapes: query [B, T, D] (or [T, D] unbatched), key/value [B, S, D]; H heads of D/H.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import GEMM
from roofline.count.formulas._common import distinct_bytes, prod
from roofline.count.formulas.attention import attention_bytes, attention_flops
from roofline.count.formulas.pointwise import FLOPS_PER_ELEMENT
from roofline.count.formulas.reduction import (
    NORM_FLOPS_PER_ELEMENT,
    SOFTMAX_FLOPS_PER_ELEMENT,
    layer_norm_bytes,
)
from roofline.count.registry import MATRIX, Cost, register

#: (FLOPs, bytes read, bytes written) of one kernel inside a fused op.
Work = tuple[Any, Any, Any]


def _linear(rows: Any, k: Any, n: Any, itemsize: Any, bias: bool = True) -> Work:
    """x [rows, k] @ W^T [k, n] (+ bias): 2*rows*k*n FLOPs and rows*n adds."""
    flops = 2 * rows * k * n + (rows * n if bias else 0)
    return flops, (rows * k + k * n + (n if bias else 0)) * itemsize, rows * n * itemsize


def _streaming(elements: Any, flops_per_element: Any, inputs: Any, itemsize: Any) -> Work:
    """An element-wise kernel over ``elements`` with ``inputs`` operands of that size."""
    return flops_per_element * elements, inputs * elements * itemsize, elements * itemsize


def _layer_norm(rows: Any, cols: Any, itemsize: Any) -> Work:
    return (NORM_FLOPS_PER_ELEMENT["layer_norm"] * rows * cols, *layer_norm_bytes(rows, cols, itemsize))


def _total(parts: list[Work]) -> Work:
    return sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts)


def _dims(t: TensorInfo) -> tuple[Any, Any]:
    """(batch, length) of a [B, T, D] or unbatched [T, D] tensor."""
    return (prod(t.shape[:-2]) if len(t.shape) > 2 else 1), t.shape[-2]


def fused_attention_path(self_attention: bool, head_dim: Any, masked: bool, need_weights: bool) -> bool:
    """True when native multi-head attention runs its fused path (module docstring)."""
    return self_attention and head_dim % 8 == 0 and not masked and not need_weights


def _fused_mha(batch: Any, length: Any, embed: Any, heads: Any, itemsize: Any) -> list[Work]:
    head = embed // heads
    attention = (
        attention_flops(batch, heads, length, length, head),
        *attention_bytes(batch, heads, heads, length, length, head, itemsize=itemsize, lse_itemsize=4),
    )
    return [_linear(batch * length, embed, 3 * embed, itemsize), attention, _linear(batch * length, embed, embed, itemsize)]


def _math_mha(batch: Any, q_len: Any, kv_len: Any, embed: Any, heads: Any, itemsize: Any,
              qkv_read: Any, mask_read: Any, averaged_weights: bool) -> list[Work]:
    """Kernels of the math path; qkv_read: bytes of the distinct query/key/value tensors."""
    head, scores = embed // heads, batch * heads * q_len * kv_len
    projected = batch * (q_len + 2 * kv_len) * embed  # q, k and v rows, D wide
    parts = [
        (2 * projected * embed, qkv_read + 3 * embed * embed * itemsize, projected * itemsize),
        (projected + batch * q_len * embed, (projected + 3 * embed) * itemsize, projected * itemsize),
        (2 * scores * head, batch * (q_len + kv_len) * embed * itemsize, scores * itemsize),  # Q K^T
        (SOFTMAX_FLOPS_PER_ELEMENT * scores, scores * itemsize + mask_read, scores * itemsize),
        (2 * scores * head, (scores + batch * kv_len * embed) * itemsize, batch * q_len * embed * itemsize),  # P V
        _linear(batch * q_len, embed, embed, itemsize),
    ]
    if averaged_weights:
        weights = batch * q_len * kv_len
        parts += [(scores, scores * itemsize, weights * itemsize), _streaming(weights, 1, 1, itemsize)]
    return parts


def mha_parts(query: TensorInfo, key: TensorInfo, value: TensorInfo, embed: Any, heads: Any,
              mask: Any, need_weights: bool, averaged: bool) -> list[Work]:
    """The kernels native multi-head attention runs for these arguments."""
    batch, q_len = _dims(query)
    kv_len = _dims(key)[1]
    self_attention = query is key is value
    masked = isinstance(mask, TensorInfo)
    if fused_attention_path(self_attention, embed // heads, masked, need_weights):
        return _fused_mha(batch, q_len, embed, heads, query.itemsize)
    qkv_read = sum(distinct_bytes(t) for t in {id(t): t for t in (query, key, value)}.values())
    mask_read = distinct_bytes(mask) if masked else 0
    return _math_mha(batch, q_len, kv_len, embed, heads, query.itemsize, qkv_read, mask_read, need_weights and averaged)


@register("aten._native_multi_head_attention")
def native_mha_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    parts = mha_parts(
        named["query"], named["key"], named["value"], named["embed_dim"], named["num_head"],
        named.get("mask"), bool(named.get("need_weights", True)), bool(named.get("average_attn_weights", True)),
    )
    return Cost(*_total(parts), GEMM, unit=MATRIX)


@register("aten._transformer_encoder_layer_fwd")
def encoder_layer_cost(record: OpRecord) -> Cost:
    """Self-attention (need_weights=False) + residual add + layer norm, then linear ->
    relu/gelu -> linear + residual add + layer norm (the norms before each block instead
    when norm_first: the same kernels)."""
    named = record.named_args()
    src, embed, heads = named["src"], named["embed_dim"], named["num_heads"]
    batch, length = _dims(src)
    rows, ffn, itemsize = batch * length, named["ffn_weight_1"].shape[0], src.itemsize
    activation = FLOPS_PER_ELEMENT["aten.gelu"] if named.get("use_gelu") else 1
    parts = mha_parts(src, src, src, embed, heads, named.get("mask"), False, True)
    parts += [
        _streaming(rows * embed, 1, 2, itemsize),  # x + src
        _layer_norm(rows, embed, itemsize),
        _linear(rows, embed, ffn, itemsize),
        _streaming(rows * ffn, activation, 1, itemsize),
        _linear(rows, ffn, embed, itemsize),
        _streaming(rows * embed, 1, 2, itemsize),  # x + the block's input
        _layer_norm(rows, embed, itemsize),
    ]
    return Cost(*_total(parts), GEMM, unit=MATRIX)
