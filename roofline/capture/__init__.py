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
from torch.utils._pytree import SUPPORTED_NODES, tree_flatten, tree_unflatten

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


#: Tensor types whose is_meta / is_cpu flags name their device. A subclass (a FakeTensor)
#: may report another device than its data's, so it is asked through t.device.
_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)


def _device_type(t: torch.Tensor) -> str:
    """t.device.type, without building a torch.device for the common cases (a third of
    tensor_info's time went there, see docs/performance.md)."""
    if type(t) in _PLAIN_TENSOR_TYPES:
        if t.is_meta:
            return "meta"
        if t.is_cpu:
            return "cpu"
    return t.device.type


def tensor_info(t: torch.Tensor) -> TensorInfo:
    """Metadata of a tensor (real, fake or meta) as a TensorInfo."""
    if t.layout is torch.strided:  # layouts are singletons
        return TensorInfo(tuple(t.shape), t.dtype, tuple(t.stride()), "strided", _device_type(t))
    layout = str(t.layout).removeprefix("torch.")
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

    A plain-Python function decorated with ``roofline.symbolic_op`` is recorded as one
    op named "symbolic.<name>" (the aten ops it runs are not recorded). Its ``func`` is
    the undecorated Python function and ``python_call`` a roofline.count.python_ops.PythonCall
    holding that function, its real (not TensorInfo) args and kwargs and the cost the
    user declared: replay it with ``record.python_call.replay()``, i.e.
    ``fn(*args, **kwargs)``. ``python_call`` is None for aten ops.
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
    python_call: Any = field(repr=False, default=None)  # symbolic ops only (see above)
    #: Bytes of the inputs that are the model's parameters or buffers (their footprint):
    #: they persist across forwards, unlike activations, which the time model uses to
    #: tell weights streamed from main memory from activations still in cache.
    param_bytes: int = 0

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
_OP_NAMES: dict[Any, str] = {}


def _op_name(func: Any) -> str:
    """str(func), cached: formatting an OpOverload's name costs a microsecond per op."""
    name = _OP_NAMES.get(func)
    if name is None:
        name = _OP_NAMES[func] = str(func)
    return name


def _schema_arg_names(func: Any) -> tuple[str, ...]:
    names = _SCHEMA_NAMES.get(func)
    if names is None:
        try:
            names = tuple(a.name for a in func._schema.arguments)
        except AttributeError:
            names = ()
        _SCHEMA_NAMES[func] = names
    return names


def _persistent_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    return [t for t in (*model.parameters(), *model.buffers()) if t.layout is torch.strided]


def _storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


def persistent_bytes(model: Any) -> int:
    """Bytes of a model's distinct parameter and buffer storages (0 for a non-module)."""
    if not isinstance(model, torch.nn.Module):
        return 0
    seen: dict[int, int] = {}
    for t in _persistent_tensors(model):
        seen[_storage_key(t)] = t.untyped_storage().nbytes()
    return sum(seen.values())


def _param_bytes(values: Any, persistent: frozenset[int]) -> int:
    """Footprint bytes of the distinct tensors in ``values`` (args) stored in ``persistent``."""
    total, seen = 0, set()
    stack = [values]
    while stack:
        value = stack.pop()
        if isinstance(value, torch.Tensor):
            if value.layout is torch.strided and id(value) not in seen:
                seen.add(id(value))
                if _storage_key(value) in persistent:
                    total += tensor_info(value).footprint_bytes
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return total


class _ModuleStack:
    """Tracks which named module is running, through global forward hooks."""

    def __init__(self, model: torch.nn.Module | None):
        self.names: dict[int, str] = {}
        if model is not None:
            for name, module in model.named_modules():
                # a torch.compile'd submodule wraps the original as "_orig_mod": name it as
                # the original is named, so paths do not change when a block is compiled
                self.names[id(module)] = ".".join(part for part in name.split(".") if part != "_orig_mod")
        self.stack: list[tuple[str, str]] = [("", type(model).__name__ if model is not None else "")]
        self._handles: list[Any] = []
        #: Storages of the model's parameters and buffers (identity: the storage's C pointer).
        self.persistent_storages: frozenset[int] = frozenset(
            _storage_key(t) for t in _persistent_tensors(model)
        ) if model is not None else frozenset()

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


#: Argument types that are always pytree leaves and never tensors (the bulk of aten args).
_SCALAR_TYPES = frozenset({int, float, bool, complex, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format})


def _to_infos(value: Any, memo: dict[int, TensorInfo], found: list[TensorInfo]) -> Any:
    """``value`` with every tensor replaced by its TensorInfo, one object per distinct
    tensor (through ``memo``); each tensor seen here for the first time has its
    TensorInfo appended to ``found``, in pytree (depth-first) order.

    Walks lists, tuples and dicts by hand, which is all aten arguments hold: torch's
    generic pytree walk was the largest cost of a capture (see docs/performance.md).
    Any other container (a named tuple, an immutable_list) goes through pytree.
    """
    if isinstance(value, torch.Tensor):
        info = memo.get(id(value))
        if info is None:
            info = memo[id(value)] = tensor_info(value)
            found.append(info)
        return info
    cls = type(value)
    if cls is tuple or cls is list:  # scalars are kept in place without a call
        return cls([item if type(item) in _SCALAR_TYPES else _to_infos(item, memo, found) for item in value])
    if cls is dict:
        return {key: _to_infos(item, memo, found) for key, item in value.items()} if value else {}
    if not isinstance(value, (tuple, list, dict)) and cls not in SUPPORTED_NODES:
        return value  # a leaf: int, float, None, dtype, device, SymInt...
    flat, spec = tree_flatten(value)
    return tree_unflatten([_to_infos(item, memo, found) for item in flat], spec)


#: CaptureModes entered and not yet exited, innermost last (see active_capture).
_ACTIVE_CAPTURES: list["CaptureMode"] = []


def active_capture() -> "CaptureMode | None":
    """The innermost CaptureMode now recording, or None outside a capture."""
    return _ACTIVE_CAPTURES[-1] if _ACTIVE_CAPTURES else None


class CaptureMode(TorchDispatchMode):
    """Records every aten op dispatched while active into ``self.records``.

    While ``opaque_depth`` > 0 (a roofline.symbolic_op function is running) aten ops
    run unrecorded: the function is recorded once, by record_python_call.
    """

    def __init__(self, modules: _ModuleStack):
        super().__init__()
        self.modules = modules
        self.records: list[OpRecord] = []
        self.opaque_depth = 0

    def __enter__(self) -> "CaptureMode":
        _ACTIVE_CAPTURES.append(self)
        return super().__enter__()

    def __exit__(self, *exc: Any) -> Any:
        try:
            return super().__exit__(*exc)
        finally:
            _ACTIVE_CAPTURES.remove(self)

    def _append(self, op: str, func: Any, args: tuple, kwargs: dict, out: Any, python_call: Any = None) -> OpRecord:
        """Append the record of one call that just ran (its args and output as metadata)."""
        module, module_type = self.modules.current
        memo: dict[int, TensorInfo] = {}
        inputs: list[TensorInfo] = []
        arg_infos = _to_infos(args, memo, inputs)
        kwarg_infos = _to_infos(kwargs, memo, inputs)
        outputs: list[TensorInfo] = []
        _to_infos(out, {}, outputs)
        persistent = getattr(self.modules, "persistent_storages", None)
        record = OpRecord(
            index=len(self.records),
            op=op,
            module=module,
            module_type=module_type,
            args=tuple(arg_infos),
            kwargs=kwarg_infos,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            func=func,
            python_call=python_call,
            param_bytes=_param_bytes((args, kwargs), persistent) if persistent else 0,
        )
        self.records.append(record)
        return record

    def record_python_call(self, name: str, fn: Any, args: tuple, kwargs: dict, out: Any, python_call: Any) -> OpRecord:
        """Append one record "symbolic.<name>" for a Python function that just ran."""
        return self._append(f"symbolic.{name}", fn, tuple(args), dict(kwargs), out, python_call)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if self.opaque_depth:  # inside a symbolic_op: recorded as one op by its wrapper
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        self._append(_op_name(func), func, args, kwargs, out)
        return out


def call_model(model: Any, inputs: Any) -> Any:
    """Call ``model`` with example inputs: a tuple/list is positional, a dict is keyword,
    anything else is the single argument."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


class FusedAttentionOnMeta(torch.overrides.TorchFunctionMode):
    """Route scaled_dot_product_attention on meta tensors to the fused kernel.

    On real CPU and GPU tensors PyTorch picks a fused kernel (flash, memory-efficient,
    cuDNN or CPU flash) for the common cases. On meta tensors it has no device to pick
    for and falls back to the math path: separate matmuls over a materialised score
    matrix, with the causal mask applied as data, so the FLOPs and bytes would not be
    those of the run being predicted. Calling the CPU flash kernel, whose meta
    implementation exists and takes the same arguments (grouped-query included),
    records the one fused op a real run records.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention:
            fused = _fused_meta_attention(*args, **kwargs)
            if fused is not None:
                return fused
        return func(*args, **kwargs)


def _fused_meta_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor | None:
    if not (isinstance(query, torch.Tensor) and query.device.type == "meta" and query.dim() == 4):
        return None
    if is_causal and attn_mask is not None:
        return None  # torch rejects this combination: let it say so
    out, _ = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale
    )
    return out


def capture(model: Any, inputs: Any = ()) -> tuple[list[OpRecord], Any]:
    """Run ``model`` on ``inputs`` once and return (records, output).

    Runs under whatever grad mode the caller set (no_grad and inference_mode both work).
    """
    model = uncompiled(model)
    root = model if isinstance(model, torch.nn.Module) else None
    # module.compile() compiles in place: run its eager forward for the capture.
    compiled_call = getattr(root, "_compiled_call_impl", None) if root is not None else None
    if compiled_call is not None:
        _warn_compiled(root, "module.compile()", "the module's uncompiled forward")
        root._compiled_call_impl = None
    elif root is not None and any(isinstance(getattr(m, "_orig_mod", None), torch.nn.Module) for m in root.modules()):
        _warn_compiled(root, "torch.compile on some submodules", "their original modules")
    try:
        with FusedAttentionOnMeta(), _ModuleStack(root) as modules, CaptureMode(modules) as mode:
            output = call_model(model, inputs)
    finally:
        if compiled_call is not None:
            root._compiled_call_impl = compiled_call
    return mode.records, output


def uncompiled(model: Any) -> Any:
    """The original module of a torch.compile'd one (``model._orig_mod``), with a warning;
    anything else unchanged. The analysis counts the eager aten ops of the original
    module: the ops a compiled graph fuses are counted one by one."""
    original = getattr(model, "_orig_mod", None)
    if isinstance(model, torch.nn.Module) and isinstance(original, torch.nn.Module):
        _warn_compiled(original, "torch.compile", "the original module (model._orig_mod)")
        return original
    return model


def _warn_compiled(module: Any, how: str, what: str) -> None:
    import warnings

    warnings.warn(
        f"roofline: {type(module).__name__} was compiled with {how}; analysing {what} as eager "
        "PyTorch runs it: every aten op is counted, including those a compiled graph would fuse",
        UserWarning,
        stacklevel=3,
    )
