"""Ops that move no data and run no kernel: views, in-place changes of a tensor's shape
or strides, allocations, host-side ops (dtype promotion, error checks of results
already returned) and profiler markers. They cost nothing (unit NO_UNIT).

Any op with no formula of its own whose outputs all alias an input without writing to
it (view, slice, t, ...) is a view: ``view_cost`` is the registry's first fallback.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord
from roofline.count.categories import DATA_MOVE, DATA_TRANSFORM, OTHER
from roofline.count.registry import counts_nested, NO_UNIT, Cost, register, register_fallback


def is_view_op(func: Any) -> bool:
    """True when every output aliases an input without writing to it (view, slice, t, ...)."""
    try:
        returns = func._schema.returns
    except AttributeError:
        return False
    if not returns:
        return False
    return all(ret.alias_info is not None and not ret.alias_info.is_write for ret in returns)


@register_fallback(is_view_op)
@counts_nested
def view_cost(record: OpRecord) -> Cost:
    """The cost of a view: nothing."""
    return Cost(0, 0, 0, DATA_TRANSFORM, unit=NO_UNIT)


# Views whose schema does not declare the aliasing, and in-place changes of a
# tensor's shape or strides: no data moves.
register(
    "aten._unsafe_view",
    "aten.lift_fresh",
    "aten._reshape_alias",
    "aten.unsafe_split",
    "aten.unsafe_split_with_sizes",
    "aten.unsafe_chunk",
    "aten.transpose_",
    "aten.t_",
    "aten.squeeze_",
    "aten.unsqueeze_",
    "aten.as_strided_",
    "aten.swapdims_",
    "aten.swapaxes_",
)(view_cost)


@register("aten.empty", "aten.empty_like", "aten.new_empty", "aten.empty_strided", "aten.new_empty_strided", "aten.resize_")
@counts_nested
def allocation_cost(record: OpRecord) -> Cost:
    """Allocation touches no memory and launches no kernel."""
    return Cost(0, 0, 0, DATA_MOVE, unit=NO_UNIT)


@register(
    "aten.promote_types",
    "aten._linalg_check_errors",
    "profiler._record_function_enter",
    "profiler._record_function_enter_new",
    "profiler._record_function_exit",
)
@counts_nested
def no_kernel_cost(record: OpRecord) -> Cost:
    """Ops that run no kernel: a dtype worked out on the host (promote_types), the check
    of the info tensor a LAPACK kernel already returned (_linalg_check_errors), the
    record_function markers torch.optim wraps step() in."""
    return Cost(0, 0, 0, OTHER, unit=NO_UNIT)
