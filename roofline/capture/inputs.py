"""Model inputs: the one path that casts, moves or copies every tensor inside them.

Inputs may be tensors, or tuples, lists, dicts, namedtuples and dataclasses of them,
nested; pytree alone does not enter dataclasses, so this walks them itself.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import Any, Callable

import torch

from roofline.errors import RooflineError

__all__ = ["converted_copy", "map_tensors", "tensors_in", "cast_inputs", "clone_inputs"]


def map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], inputs: Any) -> Any:
    """``inputs`` with every tensor t replaced by fn(t), containers rebuilt as their own
    type (tuple, list, dict, namedtuple, dataclass); anything else is kept as it is.

    fn runs once per distinct tensor: a tensor passed twice stays one tensor (self-
    attention's ``mha(x, x, x)`` keeps query is key is value, which torch's fast path
    tests)."""
    memo: dict[int, torch.Tensor] = {}

    def once(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in memo:
            memo[id(t)] = fn(t)
        return memo[id(t)]

    return _map(once, inputs)


def _map(fn: Callable[[torch.Tensor], torch.Tensor], inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor):
        return fn(inputs)
    if dataclasses.is_dataclass(inputs) and not isinstance(inputs, type):
        changes = {f.name: _map(fn, getattr(inputs, f.name)) for f in dataclasses.fields(inputs) if f.init}
        return dataclasses.replace(inputs, **changes)
    if isinstance(inputs, dict):
        return type(inputs)((key, _map(fn, value)) for key, value in inputs.items())
    if isinstance(inputs, tuple) and hasattr(inputs, "_fields"):  # namedtuple
        return type(inputs)(*(_map(fn, value) for value in inputs))
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_map(fn, value) for value in inputs)
    return inputs


def tensors_in(inputs: Any) -> list[torch.Tensor]:
    """Every distinct tensor inside ``inputs``, in order: the tensors map_tensors would map
    (the same walk, so what is checked is what is cast, moved and copied)."""
    found: list[torch.Tensor] = []

    def collect(t: torch.Tensor) -> torch.Tensor:
        found.append(t)
        return t

    map_tensors(collect, inputs)
    return found


def cast_inputs(inputs: Any, dtype: torch.dtype | None, device: str | torch.device | None) -> Any:
    """Floating tensors cast to ``dtype`` (None: kept) and every tensor moved to
    ``device`` (None: kept). Integer and bool tensors (indices, masks) keep their dtype."""
    if dtype is None and device is None:
        return inputs

    def convert(t: torch.Tensor) -> torch.Tensor:
        if device is not None and t.is_nested and t.layout is torch.strided and torch.device(device).type == "meta":
            # torch has no meta kernels for them: say so in one line, not its dispatch table
            raise RooflineError(
                "a strided nested tensor cannot be moved to meta: build it with "
                "layout=torch.jagged, or analyse it on real tensors (meta=False)"
            )
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        return t.to(device) if device is not None else t

    return map_tensors(convert, inputs)


def clone_inputs(inputs: Any) -> Any:
    """Fresh copies of the input tensors, so a model that writes its inputs cannot change
    the caller's."""
    return map_tensors(lambda t: t.clone(), inputs)


def _converted(t: torch.Tensor, device: str | None, dtype: torch.dtype | None) -> torch.Tensor:
    """``t`` moved to ``device`` and, when floating point, cast to ``dtype`` (as
    nn.Module.to converts parameters and buffers)."""
    converted = t.detach().to(device=device, dtype=dtype if t.is_floating_point() else None)
    if isinstance(t, torch.nn.Parameter):
        return torch.nn.Parameter(converted, requires_grad=t.requires_grad)
    return converted


def converted_copy(model: torch.nn.Module, device: str | None, dtype: torch.dtype | None) -> torch.nn.Module:
    """A copy of ``model`` on ``device`` in ``dtype``; the caller's model keeps its weights,
    device and dtype (nn.Module.to would convert it in place).

    The copy is a deepcopy whose parameters and buffers are made converted from the start
    (through deepcopy's memo), so the original weights are never duplicated: a model
    analysed on meta costs no memory for its weights. A model deepcopy cannot copy is
    converted in place, with a warning.
    """
    memo: dict[int, Any] = {}
    for t in (*model.parameters(), *model.buffers()):
        if id(t) not in memo:  # a tied weight stays tied
            memo[id(t)] = _converted(t, device, dtype)
    try:
        copied = copy.deepcopy(model, memo)
    except Exception as exc:  # noqa: BLE001 - any object deepcopy cannot copy
        warnings.warn(
            f"roofline: {type(model).__name__} could not be copied ({type(exc).__name__}: {exc}); "
            "it is converted in place: its weights are now on the analysis's device and dtype",
            UserWarning,
            stacklevel=3,
        )
        return model.to(device=device, dtype=dtype)
    return copied.to(device=device, dtype=dtype)  # the module's own _apply hooks (RNN weights)
