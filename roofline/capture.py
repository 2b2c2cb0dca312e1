"""Capture every aten op a model runs, with its module path, shapes and dtypes.

A TorchDispatchMode sees each op below autograd, after composite ops have been
decomposed, so what it records is what the backend kernels actually run. It works the
same on real, fake and meta tensors: meta tensors let a model far larger than memory be
analysed, since no data is ever allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map_only

_INDEX_DTYPE_BYTES = 8  # sparse COO/CSR indices are int64 unless stated otherwise


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """What the cost formulas need to know about one tensor (no data, only metadata)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    stride: tuple[int, ...] | None  # None for sparse layouts
    layout: str  # "strided", "sparse_coo", "sparse_csr", ...
    device: str
    nnz: int | None = None  # stored values of a sparse tensor

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the logical (dense) tensor: numel x itemsize."""
        return self.numel * self.itemsize

    @property
    def footprint_bytes(self) -> int:
        """Bytes this tensor actually occupies: the distinct elements its strides reach.

        A broadcast (stride-0) view of a bias is as small as the bias; a sparse tensor
        holds its nnz values plus their indices.
        """
        if self.layout != "strided" or self.stride is None:
            nnz = self.nnz or 0
            if self.layout == "sparse_csr":
                index_elems = nnz + (self.shape[0] + 1 if self.shape else 0)
            else:
                index_elems = nnz * max(len(self.shape), 1)
            return nnz * self.itemsize + index_elems * _INDEX_DTYPE_BYTES
        numel = self.numel
        if numel == 0:
            return 0
        span = 1 + sum((size - 1) * abs(st) for size, st in zip(self.shape, self.stride))
        return min(numel, span) * self.itemsize

    @property
    def is_contiguous(self) -> bool:
        if self.stride is None:
            return False
        expected = 1
        for size, st in zip(reversed(self.shape), reversed(self.stride)):
            if size != 1 and st != expected:
                return False
            expected *= size
        return True


def tensor_info(t: torch.Tensor) -> TensorInfo:
    """Metadata of a tensor (real, fake or meta) as a TensorInfo."""
    layout = str(t.layout).removeprefix("torch.")
    if layout == "strided":
        return TensorInfo(tuple(t.shape), t.dtype, tuple(t.stride()), layout, t.device.type)
    nnz = None
    if layout in ("sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc"):
        try:
            nnz = int(t._nnz())
        except (RuntimeError, NotImplementedError):
            nnz = None
    return TensorInfo(tuple(t.shape), t.dtype, None, layout, t.device.type, nnz)


@dataclass(slots=True)
class OpRecord:
    """One aten op as it ran: name, where in the model, and its arguments as metadata.

    ``args``/``kwargs`` hold the call's arguments with every tensor replaced by its
    TensorInfo; ``inputs`` are the distinct input tensors (a tensor passed twice is read
    once) and ``outputs`` the output tensors, both flattened.
    """

    index: int
    op: str  # overload name, e.g. "aten.mm.default"
    module: str  # qualified name of the innermost module running, "" at top level
    module_type: str
    args: tuple
    kwargs: dict
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    func: Any = field(repr=False, default=None)  # the torch OpOverload

    @property
    def packet(self) -> str:
        """The op without its overload, e.g. "aten.mm"."""
        return self.op.rsplit(".", 1)[0] if self.op.count(".") >= 2 else self.op

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype the op computes in: its first floating input's, else its first input's or output's."""
        for info in self.inputs:
            if info.dtype.is_floating_point or info.dtype.is_complex:
                return info.dtype
        for info in self.inputs + self.outputs:
            return info.dtype
        return None

    def named_args(self) -> dict[str, Any]:
        """Arguments by their schema names (positional and keyword merged)."""
        names = _schema_arg_names(self.func) if self.func is not None else ()
        named = {name: value for name, value in zip(names, self.args)}
        named.update(self.kwargs)
        return named

    def arg(self, name: str, position: int | None = None, default: Any = None) -> Any:
        """One argument by schema name (falling back to its position when there is no schema)."""
        named = self.named_args()
        if name in named:
            return named[name]
        if position is not None and position < len(self.args) and self.func is None:
            return self.args[position]
        return default

    def shapes(self) -> str:
        """Input shapes as a compact string, e.g. "[64,128]x[128,256]"."""
        return "x".join("[" + ",".join(map(str, info.shape)) + "]" for info in self.inputs)


_SCHEMA_NAMES: dict[Any, tuple[str, ...]] = {}


def _schema_arg_names(func: Any) -> tuple[str, ...]:
    names = _SCHEMA_NAMES.get(func)
    if names is None:
        try:
            names = tuple(a.name for a in func._schema.arguments)
        except AttributeError:
            names = ()
        _SCHEMA_NAMES[func] = names
    return names


class _ModuleStack:
    """Tracks which named module is running, through global forward hooks."""

    def __init__(self, model: torch.nn.Module | None):
        self.names: dict[int, str] = {}
        if model is not None:
            for name, module in model.named_modules():
                self.names[id(module)] = name
        self.stack: list[tuple[str, str]] = [("", type(model).__name__ if model is not None else "")]
        self._handles: list[Any] = []

    def _pre(self, module: torch.nn.Module, args: Any) -> None:
        name = self.names.get(id(module))
        if name is None:  # a module created inside forward, or not part of the model
            parent = self.stack[-1][0]
            name = f"{parent}.<{type(module).__name__}>" if parent else f"<{type(module).__name__}>"
        self.stack.append((name, type(module).__name__))

    def _post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if len(self.stack) > 1:
            self.stack.pop()

    def __enter__(self) -> "_ModuleStack":
        hooks = torch.nn.modules.module
        self._handles = [
            hooks.register_module_forward_pre_hook(self._pre),
            hooks.register_module_forward_hook(self._post, always_call=True),
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def current(self) -> tuple[str, str]:
        return self.stack[-1]


def _distinct_infos(values: Any, memo: dict[int, TensorInfo]) -> tuple[TensorInfo, ...]:
    """TensorInfo of each distinct tensor in ``values``, shared through ``memo`` so that
    the same tensor maps to the same TensorInfo object in args and inputs."""
    found: list[TensorInfo] = []
    flat, _ = tree_flatten(values)
    for value in flat:
        if isinstance(value, torch.Tensor):
            key = id(value)
            if key not in memo:
                memo[key] = tensor_info(value)
                found.append(memo[key])
    return tuple(found)


class CaptureMode(TorchDispatchMode):
    """Records every aten op dispatched while active into ``self.records``."""

    def __init__(self, modules: _ModuleStack):
        super().__init__()
        self.modules = modules
        self.records: list[OpRecord] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        module, module_type = self.modules.current
        memo: dict[int, TensorInfo] = {}
        inputs = _distinct_infos((args, kwargs), memo)
        as_info = lambda t: memo[id(t)]  # noqa: E731
        outputs = _distinct_infos(out, {})
        self.records.append(
            OpRecord(
                index=len(self.records),
                op=str(func),
                module=module,
                module_type=module_type,
                args=tree_map_only(torch.Tensor, as_info, args),
                kwargs=tree_map_only(torch.Tensor, as_info, kwargs),
                inputs=inputs,
                outputs=outputs,
                func=func,
            )
        )
        return out


def call_model(model: Any, inputs: Any) -> Any:
    """Call ``model`` with example inputs: a tuple/list is positional, a dict is keyword,
    anything else is the single argument."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def capture(model: Any, inputs: Any = ()) -> tuple[list[OpRecord], Any]:
    """Run ``model`` on ``inputs`` once and return (records, output).

    Runs under whatever grad mode the caller set (no_grad and inference_mode both work).
    """
    root = model if isinstance(model, torch.nn.Module) else None
    with _ModuleStack(root) as modules, CaptureMode(modules) as mode:
        output = call_model(model, inputs)
    return mode.records, output
