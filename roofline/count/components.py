"""Ops on strided nested tensors, counted one component at a time.

A strided nested tensor (torch.nested without layout=torch.jagged) holds components of
different shapes, and its kernels work on each in turn: a nested matmul is one matmul
per component. A formula that reads shapes cannot take the ragged tensor whole, so the
op is split into one record per component (each nested argument replaced by that
component, a dense tensor; dense arguments are shared) and the FLOPs are the sum of the
formula over the components. Bytes stay compulsory for the whole op: each nested tensor
its real elements once, a shared dense operand (a weight) once, not once per component.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import OTHER
from roofline.count.formulas._common import read_bytes, written_bytes
from roofline.count.registry import (
    NO_UNIT,
    Cost,
    Handler,
    Unsupported,
    register_component_counter,
)

__all__ = ["component_records", "count_by_component"]


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _component(info: TensorInfo, i: int) -> TensorInfo:
    """Component ``i`` of a nested TensorInfo as a dense, contiguous one."""
    shape = info.components[i]
    return TensorInfo(shape, info.dtype, _contiguous_strides(shape), "strided", info.device)


def _pick(value: Any, i: int, memo: dict[int, TensorInfo]) -> Any:
    """``value`` with every nested TensorInfo in it replaced by its component ``i`` (one
    object per distinct tensor, through ``memo``, so a tensor passed twice stays one)."""
    if isinstance(value, TensorInfo):
        if value.layout != "nested":
            return value
        if id(value) not in memo:
            memo[id(value)] = _component(value, i)
        return memo[id(value)]
    if isinstance(value, (list, tuple)):
        return type(value)(_pick(item, i, memo) for item in value)
    if isinstance(value, dict):
        return {key: _pick(item, i, memo) for key, item in value.items()}
    return value


def component_records(record: OpRecord) -> list[OpRecord]:
    """One record per component of the op's nested tensors (they all have as many)."""
    counts = {len(t.components) for t in (*record.inputs, *record.outputs) if t.layout == "nested" and t.components is not None}
    if len(counts) != 1:
        raise ValueError(f"nested tensors with {sorted(counts)} components in one op")
    parts = []
    for i in range(counts.pop()):
        memo: dict[int, TensorInfo] = {}
        parts.append(dataclasses.replace(
            record,
            args=_pick(record.args, i, memo),
            kwargs=_pick(record.kwargs, i, memo),
            inputs=_pick(record.inputs, i, memo),
            outputs=_pick(record.outputs, i, {}),
        ))
    return parts


@register_component_counter
def count_by_component(record: OpRecord, handler: Handler) -> Cost | Unsupported:
    """The op's cost as the sum of ``handler`` over its components (see the module
    docstring); Unsupported with the reason when the split or a formula fails.

    Bytes: the smaller of the components' sum (right when each component reads its own
    slices only) and the op's compulsory traffic (right when a dense operand is shared
    by every component), since each overcounts in the other case.
    """
    try:
        parts = [handler(part) for part in component_records(record)]
    except Exception as exc:  # a formula bug must not lose the rest of the analysis
        return Unsupported(f"strided nested tensor, counted per component: {type(exc).__name__}: {exc}")
    if not parts:
        return Cost(0, 0, 0, OTHER, unit=NO_UNIT)
    first = parts[0]
    return Cost(
        sum(p.flops for p in parts),
        min(sum(p.bytes_read for p in parts), read_bytes(record)),
        min(sum(p.bytes_written for p in parts), written_bytes(record)),
        first.category,
        unit=first.unit,
        traffic=first.traffic,
    )
