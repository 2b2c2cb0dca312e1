"""aten op -> cost formula. Unknown ops are listed, never counted as zero.

Handlers are small functions ``handler(record: OpRecord) -> Cost`` registered with
``@register("aten.mm", ...)``. A key is an overload packet ("aten.mm") or one overload
("aten.mm.default"); the exact overload wins. Ops with no handler fall back, in order,
to: view ops (outputs alias an input, nothing written) which cost nothing, then ops
tagged ``torch.Tag.pointwise``, then "unsupported".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from roofline.capture import OpRecord

#: Compute units an op's FLOPs can run on.
MATRIX = "matrix"
VECTOR = "vector"
#: Unit of ops that do no work at all (views).
NO_UNIT = "none"

#: Where an op's bytes move: device memory by default, or the host link for transfers.
DEVICE_MEMORY = "memory"
HOST_LINK = "host_link"


@dataclass(frozen=True, slots=True)
class Cost:
    """What one op costs, independent of hardware.

    flops: floating-point operations (a multiply-add is 2).
    bytes_read / bytes_written: compulsory traffic in bytes (each distinct input read
    once, each output written once).
    category: one of roofline.count.categories.CATEGORIES.
    unit: "matrix" when the FLOPs can run on matrix/tensor units, "vector" otherwise,
    "none" for views.
    traffic: "memory" (device memory) or "host_link" (host-device transfer).
    """

    flops: float
    bytes_read: float
    bytes_written: float
    category: str
    unit: str = VECTOR
    traffic: str = DEVICE_MEMORY

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An op that could not be counted, and why."""

    reason: str


Handler = Callable[[OpRecord], Cost]

_HANDLERS: dict[str, Handler] = {}
_loaded = False


def register(*ops: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for each op key ("aten.mm" or "aten.mm.default")."""

    def decorate(handler: Handler) -> Handler:
        for op in ops:
            _HANDLERS[op] = handler
        return handler

    return decorate


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        import roofline.count.formulas  # noqa: F401  (registers every family)

        _loaded = True


def handler_for(op: str) -> Handler | None:
    """The registered handler for an overload name, or None."""
    _ensure_loaded()
    handler = _HANDLERS.get(op)
    if handler is None and op.count(".") >= 2:
        handler = _HANDLERS.get(op.rsplit(".", 1)[0])
    return handler


def registered_ops() -> list[str]:
    """Every op key that has a hand-written handler."""
    _ensure_loaded()
    return sorted(_HANDLERS)


def is_view_op(func) -> bool:
    """True when every output aliases an input without writing to it (view, slice, t, ...)."""
    try:
        returns = func._schema.returns
    except AttributeError:
        return False
    if not returns:
        return False
    for ret in returns:
        alias = ret.alias_info
        if alias is None or alias.is_write:
            return False
    return True


def is_pointwise_op(func) -> bool:
    try:
        return torch.Tag.pointwise in func.tags
    except AttributeError:
        return False


def count(record: OpRecord) -> Cost | Unsupported:
    """The cost of one captured op, or Unsupported with the reason.

    A handler that raises makes the op unsupported (with the error as the reason)
    rather than stopping the analysis.
    """
    handler = handler_for(record.op)
    if handler is None:
        if is_view_op(record.func):
            handler = view_cost
        elif is_pointwise_op(record.func):
            from roofline.count.formulas.pointwise import pointwise_cost

            handler = pointwise_cost
        else:
            return Unsupported("no formula for this op")
    try:
        return handler(record)
    except Exception as exc:  # a formula bug must not lose the rest of the analysis
        return Unsupported(f"formula failed: {type(exc).__name__}: {exc}")


def view_cost(record: OpRecord) -> Cost:
    """The cost of an op that moves no data and launches no kernel (a view): nothing."""
    from roofline.count.categories import DATA_TRANSFORM

    return Cost(0.0, 0.0, 0.0, DATA_TRANSFORM, unit=NO_UNIT)
