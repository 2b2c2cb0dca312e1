"""Repeated layers recorded once: a module call identical to an earlier one is replayed
from the earlier call's records instead of being run again.

A transformer runs the same layer class, with parameters of the same shapes, on inputs
of the same shapes, once per layer; with symbolic sizes every one of those runs costs
milliseconds per op in PyTorch's shape algebra (roofline.capture.symbolic), so a 32-layer
model pays 32 times for what one layer tells. ModuleReplay patches every submodule's
forward for the duration of a capture: a call whose key (below) matches an earlier
call's appends copies of that call's records, renamed to this module's path, and returns
new tensor objects of the earlier outputs' shapes, strides and dtypes (detached views of
them, made without being recorded); its ops are not run again. Copies share their original's argument objects
(dataclasses.replace), so a consumer can count a copy by its original.

The key holds everything the records can depend on:
- the module's structure: the class, parameter and buffer names, shapes and dtypes, and
  every plain attribute (numbers, strings, tuples of them; any other object by identity)
  of it and each of its submodules, so two layers that differ in a setting (a sliding
  window, an expert count) never share records. ``layer_idx`` is left out: Hugging Face
  layers hold their index only to find their entry in a KV cache, and a call that is
  given a cache is never replayed (next rule);
- the call's arguments: tensors by shape, stride, dtype, device and which arguments are
  the same tensor; None, numbers, strings, dtypes and devices by value; any other
  object (a cache, a config) makes the call ineligible, as does an output that is
  neither a tensor nor such a value;
- the grad mode: only calls under no_grad are replayed (a replayed output has no
  autograd history).

Calls at the model's top level are never replayed (the model's own forward is not
patched). Only captures whose on_record hook does nothing may use it: copies are
appended without calling the hook.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from roofline.capture.mode import CaptureMode, active_capture

__all__ = ["ModuleReplay"]

#: Attributes left out of a module's key (see the module docstring).
_IGNORED_ATTRIBUTES = frozenset({"layer_idx", "forward"})  # forward: the patch itself
#: Argument values kept in a key by value.
_PLAIN = (type(None), bool, int, float, str, torch.dtype, torch.device, torch.layout, torch.memory_format)


class _Ineligible(Exception):
    """A call that cannot be replayed (an argument or output the key cannot describe)."""


@dataclass(frozen=True)
class _Call:
    """What a replay needs of an earlier call: its records [start, end), its module's path
    and call path, and per output leaf either a tensor to imitate, the input leaf it
    returned as is (an int), or a plain value."""

    start: int
    end: int
    name: str
    caller: str
    spec: Any
    outputs: tuple[Any, ...]


def _size(value: Any) -> Any:
    """A size for a key: an int, or a SymInt's expression."""
    return value.node.expr if isinstance(value, torch.SymInt) else value


def _tensor_key(t: torch.Tensor) -> tuple:
    if t.layout is not torch.strided or t.is_nested or t.is_quantized:
        raise _Ineligible
    return (type(t), tuple(map(_size, t.shape)), tuple(map(_size, t.stride())), _size(t.storage_offset()),
            t.dtype, t.device, t.requires_grad)


def _leaves_key(leaves: list[Any]) -> tuple:
    """The key of a call's flattened arguments (see the module docstring)."""
    parts: list[Any] = []
    first: dict[int, int] = {}  # id of a tensor -> its first position
    for position, leaf in enumerate(leaves):
        if isinstance(leaf, torch.Tensor):
            parts.append(("T", first.setdefault(id(leaf), position), *_tensor_key(leaf)))
        elif isinstance(leaf, torch.SymInt):
            parts.append(("S", _size(leaf)))
        elif isinstance(leaf, _PLAIN):
            parts.append((type(leaf), leaf))
        else:
            raise _Ineligible
    return tuple(parts)


def _attribute(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_attribute(v) for v in value))
    return ("id", id(value))  # an object the layers share (a config) or not (anything per layer)


def _structure(module: torch.nn.Module) -> tuple:
    """A module's structure key: class, settings and parameter/buffer shapes, recursively."""
    parts: list[Any] = []
    for name, sub in module.named_modules():
        settings = tuple(sorted((k, _attribute(v)) for k, v in vars(sub).items()
                                if not k.startswith("_") and k not in _IGNORED_ATTRIBUTES))
        parts.append((name, type(sub), settings))
    for name, tensor in (*module.named_parameters(), *module.named_buffers()):
        parts.append((name, tuple(tensor.shape), tensor.dtype, tensor.requires_grad))
    return tuple(parts)


class ModuleReplay:
    """Context manager: while active, calls of ``model``'s submodules identical to an
    earlier call are replayed (see the module docstring). ``calls`` and ``replayed``
    count the submodule calls seen and those replayed."""

    def __init__(self, model: torch.nn.Module | None):
        self.model = model
        self.calls = 0
        self.replayed = 0
        self._seen: dict[tuple, _Call] = {}
        self._structures: dict[int, tuple] = {}
        self._patched: list[tuple[torch.nn.Module, Any]] = []

    def __enter__(self) -> "ModuleReplay":
        if self.model is not None:
            for module in self.model.modules():
                if module is not self.model:
                    saved = module.__dict__.get("forward")
                    module.forward = functools.wraps(module.forward)(functools.partial(self._call, module, module.forward))
                    self._patched.append((module, saved))
        return self

    def __exit__(self, *exc: object) -> None:
        for module, saved in reversed(self._patched):
            if saved is None:
                del module.forward
            else:
                module.forward = saved
        self._patched = []

    def _call(self, module: torch.nn.Module, forward: Any, *args: Any, **kwargs: Any) -> Any:
        capture = active_capture()
        if capture is None or type(capture).on_record is not CaptureMode.on_record or torch.is_grad_enabled():
            return forward(*args, **kwargs)
        self.calls += 1
        leaves, spec = tree_flatten((args, kwargs))
        try:
            key = (self._structure(module), repr(spec), _leaves_key(leaves), torch.is_autocast_enabled())
        except (_Ineligible, TypeError):
            return forward(*args, **kwargs)
        name, caller = capture.modules.current[0], capture.modules.caller
        earlier = self._seen.get(key)
        if earlier is not None:
            self.replayed += 1
            return _replay(capture, earlier, name, caller, leaves)
        start = len(capture.records)
        out = forward(*args, **kwargs)
        try:
            self._seen[key] = _remember(start, len(capture.records), name, caller, leaves, out)
        except _Ineligible:
            pass
        return out

    def _structure(self, module: torch.nn.Module) -> tuple:
        found = self._structures.get(id(module))
        if found is None:
            found = self._structures[id(module)] = _structure(module)
        return found


def _remember(start: int, end: int, name: str, caller: str, inputs: list[Any], out: Any) -> _Call:
    """The _Call of a call that just ran (outputs described per leaf)."""
    leaves, spec = tree_flatten(out)
    positions = {id(leaf): i for i, leaf in reversed(list(enumerate(inputs))) if isinstance(leaf, torch.Tensor)}
    outputs: list[Any] = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            _tensor_key(leaf)  # a layout the replay cannot imitate is ineligible
            outputs.append(positions.get(id(leaf), leaf))
        elif isinstance(leaf, (*_PLAIN, torch.SymInt)):
            outputs.append((leaf,))  # in a tuple: a bare int names an input
        else:
            raise _Ineligible
    return _Call(start, end, name, caller, spec, tuple(outputs))


def _renamed(path: str | None, old: str, new: str) -> str | None:
    if path is None or old == new:
        return path
    if path == old:
        return new
    return new + path[len(old):] if old and path.startswith(old + ".") else path


def _replay(capture: CaptureMode, earlier: _Call, name: str, caller: str, inputs: list[Any]) -> Any:
    """Append copies of ``earlier``'s records under this call's path; return its outputs."""
    records = capture.records
    for record in records[earlier.start:earlier.end]:
        records.append(dataclasses.replace(record, index=len(records), module=_renamed(record.module, earlier.name, name),
                                           caller=_renamed(record.caller, earlier.caller, caller)))
    capture.opaque_depth += 1  # the fresh outputs are not ops of the model
    try:
        leaves = [_fresh(kept, inputs) for kept in earlier.outputs]
    finally:
        capture.opaque_depth -= 1
    return tree_unflatten(leaves, earlier.spec)


def _fresh(kept: Any, inputs: list[Any]) -> Any:
    if isinstance(kept, int):
        return inputs[kept]
    if isinstance(kept, tuple):
        return kept[0]
    return kept.detach()  # a new tensor object of the same shape, stride and dtype (a view: cheap)
