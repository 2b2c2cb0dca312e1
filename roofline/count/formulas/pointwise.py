"""Element-wise ops: every op torch tags as pointwise, plus a few it does not.

FLOPs are output elements x a per-op count (1 unless listed in FLOPS_PER_ELEMENT; a
transcendental counts as one FLOP, the usual convention for vector-unit work). Bytes
are compulsory: each distinct input's footprint once (a broadcast operand is read at
its own size), the output written once.
"""

from __future__ import annotations

from typing import Any

import torch

from roofline.capture import OpRecord
from roofline.count.categories import ELEMENTWISE
from roofline.count.formulas._common import (
    distinct_bytes,
    inputs_read,
    out_numel,
    read_bytes,
    written_bytes,
)
from roofline.count.formulas.no_work import is_view_op
from roofline.count.registry import counts_nested, Cost, register, register_fallback

#: FLOPs per output element for ops that do more than one operation per element.
FLOPS_PER_ELEMENT: dict[str, int] = {
    "aten.addcmul": 2,
    "aten.addcdiv": 2,
    "aten.lerp": 2,
    "aten.hardswish": 3,
    "aten.hardsigmoid": 3,
    "aten.silu": 2,  # x * sigmoid(x)
    "aten.gelu": 2,
    "aten.mish": 3,
    "aten.softplus": 2,
    "aten.elu": 2,
    "aten.leaky_relu": 2,
    "aten.floor_divide": 2,  # divide, then floor
    "aten.floor_divide_": 2,
}


def pointwise_flops(elements: Any, flops_per_element: Any = 1) -> Any:
    """FLOPs of an element-wise op over ``elements`` outputs."""
    return elements * flops_per_element


def pointwise_bytes(elements: Any, n_inputs: Any = 1, itemsize: Any = 4) -> tuple[Any, Any]:
    """(bytes_read, bytes_written) of an element-wise op whose inputs all have the output's size."""
    return n_inputs * elements * itemsize, elements * itemsize


#: Real FLOPs per output element of element-wise ops on complex operands (both complex):
#: (a+bi)+(c+di) is 2 adds; (a+bi)(c+di) 4 multiplies and 2 adds; a division 6
#: multiplies, 3 adds and 2 divides; |a+bi| 2 multiplies, an add and a square root. Ops
#: not listed count twice their real cost (the work on both parts; a lower bound for
#: the transcendental ones).
COMPLEX_FLOPS_PER_ELEMENT: dict[str, int] = {
    "aten.add": 2,
    "aten.add_": 2,
    "aten.sub": 2,
    "aten.sub_": 2,
    "aten.neg": 2,
    "aten.mul": 6,
    "aten.mul_": 6,
    "aten.div": 11,
    "aten.div_": 11,
    "aten.abs": 4,
    "aten.conj_physical": 1,
}
#: A complex times (or over) a real operand: one real op on each part.
_COMPLEX_BY_REAL = {"aten.mul": 2, "aten.mul_": 2, "aten.div": 2, "aten.div_": 2}


def _complex_flops_per_element(record: OpRecord, real_per_element: int) -> int | None:
    """FLOPs per element when the op works on complex numbers, else None."""
    complex_inputs = [t.dtype.is_complex for t in record.inputs]
    if not any(complex_inputs):
        return None
    operands = [a for a in record.args[:2] if not isinstance(a, (str, type(None)))]
    all_complex = all(
        (a.dtype.is_complex if hasattr(a, "dtype") else isinstance(a, complex)) for a in operands
    )
    if not all_complex and record.packet in _COMPLEX_BY_REAL:
        return _COMPLEX_BY_REAL[record.packet]
    return COMPLEX_FLOPS_PER_ELEMENT.get(record.packet, 2 * real_per_element)


def is_pointwise_op(func: Any) -> bool:
    """True when torch tags the op pointwise (add, exp, sigmoid, ...) and it is no view
    (aten.positive is tagged pointwise but returns its input: a view, it costs nothing)."""
    return torch.Tag.pointwise in getattr(func, "tags", ()) and not is_view_op(func)


@register_fallback(is_pointwise_op)
@counts_nested
def pointwise_cost(record: OpRecord) -> Cost:
    """Cost of any element-wise op (the registry's fallback for ops tagged pointwise)."""
    per_element = FLOPS_PER_ELEMENT.get(record.packet, 1)
    per_element = _complex_flops_per_element(record, per_element) or per_element
    return Cost(pointwise_flops(out_numel(record), per_element), read_bytes(record), written_bytes(record), ELEMENTWISE)


# Element-wise ops without torch's pointwise tag.
register(
    "aten.where",
    "aten.masked_fill",
    "aten.masked_fill_",
    "aten.clamp_min",
    "aten.clamp_max",
    "aten.hardtanh",
    "aten.hardtanh_",
    "aten.relu",
    "aten.relu_",
    "aten.threshold",
    "aten.threshold_",
    "aten.dropout",
    "aten.native_dropout",
    "aten.rsub",
    "aten.gelu",
    "aten.silu",
    "aten.silu_",
    "aten.glu",
    "aten.tril",
    "aten.triu",
    "aten.tril_",
    "aten.triu_",
    "aten.sign",
    "aten.pow",
    "aten.bernoulli",
    "aten.rand",
    "aten.randn",
    "aten.randint",
    "aten.arange",
    "aten.linspace",
    "aten.floor_divide",
    "aten.floor_divide_",
)(pointwise_cost)


@register("aten.uniform_", "aten.normal_", "aten.exponential_", "aten.random_", "aten.bernoulli_", "aten.cauchy_", "aten.log_normal_", "aten.geometric_")
def random_fill_cost(record: OpRecord) -> Cost:
    """An in-place random fill (weight init, dropout masks): one FLOP per element
    generated, the tensor written once and never read (only a tensor parameter, such as
    bernoulli_'s p, is read)."""
    target = record.args[0]
    bytes_read = sum(distinct_bytes(t) for t in inputs_read(record) if t is not target)
    return Cost(pointwise_flops(out_numel(record)), bytes_read, written_bytes(record), ELEMENTWISE)


@register("aten.rand_like", "aten.randn_like", "aten.randint_like")
def random_like_cost(record: OpRecord) -> Cost:
    """A random tensor shaped like its input: one FLOP per element generated, the
    output written; the input gives only its shape and is never read."""
    return Cost(pointwise_flops(out_numel(record)), 0, written_bytes(record), ELEMENTWISE)


@register("aten.diff")
def diff_cost(record: OpRecord) -> Cost:
    """n-th differences along a dim: pass j subtracts neighbours, leaving one element
    fewer along the dim each time, so the FLOPs are sum over j = 1..n of the elements of
    pass j (the output is pass n). prepend/append are read like the input."""
    n = int(record.arg("n", default=1))
    out = record.outputs[0]
    dim = int(record.arg("dim", default=-1)) % max(len(out.shape), 1)
    length, rows = (out.shape[dim], out.numel // out.shape[dim]) if out.shape and out.shape[dim] else (0, 0)
    flops = sum((length + n - j) * rows for j in range(1, n + 1))
    return Cost(flops, read_bytes(record), written_bytes(record), ELEMENTWISE)
