"""aten op -> cost formula: a plain table the formula families register into.

Handlers are small functions ``handler(record: OpRecord) -> Cost`` registered with
``@register("aten.mm", ...)``. A key is an overload packet ("aten.mm") or one overload
("aten.mm.default"); the exact overload wins. A key registered twice is an error, unless
the second registration says it replaces the first (``register("aten.mm",
replace=True)``: a user's own formula over a built-in one).

Ops with no key fall back to the handlers registered with ``register_fallback``, tried
in registration order (views, then ops torch tags pointwise: see formulas/__init__.py);
an op none of them takes is "unsupported", never counted as zero.

This module imports no formula: the package (roofline/count/__init__.py) loads the
built-in families, so any import of roofline.count sees all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from roofline.capture import OpRecord
from roofline.errors import RooflineError

#: Compute units an op's FLOPs can run on.
MATRIX = "matrix"
VECTOR = "vector"
#: Unit of ops that do no work at all (views, allocations, markers).
NO_UNIT = "none"

#: Where an op's bytes move: device memory by default, or the host link for transfers.
DEVICE_MEMORY = "memory"
HOST_LINK = "host_link"


@dataclass(frozen=True, slots=True)
class GemmShape:
    """The matrix product an op runs: ``batch`` independent (m x k) @ (k x n) products.
    Convolutions give their implicit GEMM (m = N x output pixels, n = output channels
    per group, k = input channels per group x kernel taps, batch = groups). The
    efficiency stage tiles it (roofline.efficiency.gemm)."""

    batch: float
    m: float
    n: float
    k: float


@dataclass(frozen=True, slots=True)
class RowShape:
    """The rows a row-wise reduction kernel (softmax over the last dimension, layer norm)
    runs over: ``rows`` independent rows of ``length`` elements each. The efficiency
    stage models how often the kernel reads each row (roofline.efficiency.reduction)."""

    rows: float
    length: float


@dataclass(frozen=True, slots=True)
class LoopShape:
    """The loop nest of an op's CPU kernel: ``loops`` inner loops of ``inner`` elements
    each on average (roofline.count.loops). Short inner loops run element by element
    and pay a start each; the time model charges them (roofline.efficiency.cpu).
    ``kernel`` names another kernel the op runs for these arguments ("" for its usual
    one): its loops cost what calibrate measured for ``op@kernel`` (LOOP_KERNELS)."""

    loops: float
    inner: float
    kernel: str = ""


@dataclass(frozen=True, slots=True)
class WinogradShape:
    """A 2-D convolution Winograd can run (3x3 kernel, stride 1, no dilation, one group,
    not transposed): ``n`` images of ``p`` x ``q`` output pixels. With the channels of
    its GemmShape (c = k / 9, k = n) the efficiency stage times cuDNN's Winograd
    algorithms against the implicit GEMM (roofline.efficiency.conv)."""

    n: float
    p: float
    q: float


@dataclass(frozen=True, slots=True)
class AttentionShape:
    """The attention a fused scaled-dot-product kernel runs: ``heads`` (batch x query
    heads) independent attentions of ``q_len`` queries over ``kv_len`` keys, each query
    and key of ``head_dim`` elements. A calibrated CPU times ATen's flash kernel by its
    blocks of queries and keys (roofline.efficiency.cpu_sdpa)."""

    heads: float
    q_len: float
    kv_len: float
    head_dim: float


@dataclass(frozen=True, slots=True)
class Cost:
    """What one op costs, independent of hardware.

    flops: floating-point operations (a multiply-add is 2).
    bytes_read / bytes_written: compulsory traffic in bytes (each distinct input read
    once, each output written once).
    category: one of roofline.count.categories.CATEGORIES.
    unit: MATRIX when the FLOPs can run on matrix/tensor units, VECTOR otherwise,
    NO_UNIT for ops that do no work.
    traffic: DEVICE_MEMORY or HOST_LINK (host-device transfer).
    gemm: the matrix product behind the FLOPs (matmuls, convolutions), or None.
    rows: the rows a row-wise reduction kernel reduces (softmax, layer norm), or None.
    winograd: for a convolution Winograd can run, its images and output size, or None.
    attention: for a fused attention kernel, its heads, lengths and head size, or None.
    """

    flops: float
    bytes_read: float
    bytes_written: float
    category: str
    unit: str = VECTOR
    traffic: str = DEVICE_MEMORY
    gemm: GemmShape | None = None
    rows: RowShape | None = None
    winograd: WinogradShape | None = None
    attention: AttentionShape | None = None

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An op that could not be counted, and why."""

    reason: str


Handler = Callable[[OpRecord], Cost]

_HANDLERS: dict[str, Handler] = {}
#: Every registered key and its handler (read-only).
HANDLERS: Mapping[str, Handler] = MappingProxyType(_HANDLERS)
#: (applies to the op's OpOverload, handler) for ops with no key, tried in order.
_FALLBACKS: list[tuple[Callable[[Any], bool], Handler]] = []


def _name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def register(*ops: str, replace: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler`` for each op key ("aten.mm" or "aten.mm.default").

    replace: the handler replaces the formula already registered for a key (a user
    overriding a built-in one); without it a key registered twice is a RooflineError.
    """

    def decorate(handler: Handler) -> Handler:
        for op in ops:
            previous = _HANDLERS.get(op)
            if previous is not None and not replace:
                raise RooflineError(
                    f"{op} is registered twice: {_name(previous)} then {_name(handler)} "
                    "(pass replace=True to replace its formula)"
                )
        for op in ops:
            _HANDLERS[op] = handler
        return handler

    return decorate


def register_fallback(applies: Callable[[Any], bool]) -> Callable[[Handler], Handler]:
    """Register ``handler`` for the ops with no key whose OpOverload ``applies`` to."""

    def decorate(handler: Handler) -> Handler:
        _FALLBACKS.append((applies, handler))
        return handler

    return decorate


#: Handlers that count a strided nested tensor whole: they read only its real elements
#: (TensorInfo.numel, footprint_bytes), never the shape its components do not share.
#: Any other handler is applied to each component (roofline.count.components).
_COUNTS_NESTED: set[Handler] = set()


def counts_nested(handler: Handler) -> Handler:
    """Mark ``handler`` as right for strided nested tensors (see _COUNTS_NESTED)."""
    _COUNTS_NESTED.add(handler)
    return handler


#: How an op on a strided nested tensor is counted with any other handler: one function
#: (record, handler) -> Cost | Unsupported, set by roofline.count.components when the
#: package loads (it uses the formulas' helpers, which this module may not import).
_COMPONENT_COUNTER: list[Callable[[OpRecord, Handler], "Cost | Unsupported"]] = []


def register_component_counter(counter: Callable[[OpRecord, Handler], "Cost | Unsupported"]) -> Callable:
    """Set the function that counts an op on strided nested tensors component by component."""
    _COMPONENT_COUNTER[:] = [counter]
    return counter


def _has_nested(record: OpRecord) -> bool:
    return any(t.layout == "nested" for t in (*record.inputs, *record.outputs))


def handler_for(op: str, func: Any = None) -> Handler | None:
    """The handler for an overload name ("aten.mm.default"): its own key, its packet's,
    else the first fallback that applies to ``func`` (its OpOverload); or None."""
    handler = _HANDLERS.get(op)
    if handler is None and op.count(".") >= 2:
        handler = _HANDLERS.get(op.rsplit(".", 1)[0])
    if handler is None and func is not None:
        handler = next((h for applies, h in _FALLBACKS if applies(func)), None)
    return handler


def count(record: OpRecord) -> Cost | Unsupported:
    """The cost of one captured op, or Unsupported with the reason.

    A handler that raises makes the op unsupported (with the error as the reason)
    rather than stopping the analysis.
    """
    handler = handler_for(record.op, record.func)
    if handler is None:
        return Unsupported("no formula for this op")
    if handler not in _COUNTS_NESTED and _has_nested(record):
        if not _COMPONENT_COUNTER:
            return Unsupported("strided nested tensor: no per-component counter registered")
        return _COMPONENT_COUNTER[0](record, handler)
    try:
        return handler(record)
    except Exception as exc:  # a formula bug must not lose the rest of the analysis
        return Unsupported(f"formula failed: {type(exc).__name__}: {exc}")
