"""Element-wise ops: every op torch tags as pointwise, plus a few it does not.

FLOPs are output elements x a per-op count (1 unless listed in FLOPS_PER_ELEMENT; a
transcendental counts as one FLOP, the usual convention for vector-unit work). Bytes
are compulsory: each distinct input's footprint once (a broadcast operand is read at
its own size), the output written once.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord
from roofline.categories import ELEMENTWISE
from roofline.formulas._common import out_numel, read_bytes, written_bytes
from roofline.registry import Cost, register

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
}


def pointwise_flops(elements: Any, flops_per_element: Any = 1) -> Any:
    """FLOPs of an element-wise op over ``elements`` outputs."""
    return elements * flops_per_element


def pointwise_bytes(elements: Any, n_inputs: Any = 1, itemsize: Any = 4) -> tuple[Any, Any]:
    """(bytes_read, bytes_written) of an element-wise op whose inputs all have the output's size."""
    return n_inputs * elements * itemsize, elements * itemsize


def pointwise_cost(record: OpRecord) -> Cost:
    """Cost of any element-wise op (the registry's fallback for ops tagged pointwise)."""
    per_element = FLOPS_PER_ELEMENT.get(record.packet, 1)
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
    "aten.bernoulli_",
    "aten.uniform_",
    "aten.normal_",
    "aten.exponential_",
    "aten.random_",
    "aten.rand",
    "aten.randn",
    "aten.randint",
    "aten.rand_like",
    "aten.randn_like",
    "aten.arange",
    "aten.linspace",
)(pointwise_cost)
