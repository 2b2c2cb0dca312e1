"""What capture records: TensorInfo (one tensor's metadata) and OpRecord (one op as it ran).

Pure data and the pure functions that build it from live tensors: nothing here runs a
model or enters a mode (that is roofline.capture.mode).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._pytree import SUPPORTED_NODES, tree_flatten, tree_unflatten

__all__ = ["TensorInfo", "OpRecord", "tensor_info", "persistent_bytes", "persistent_storages", "make_record", "op_name"]

_INDEX_DTYPE_BYTES = 8  # sparse COO/CSR indices are int64 unless stated otherwise


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """What the cost formulas need to know about one tensor (no data, only metadata)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    stride: tuple[int, ...] | None  # None for sparse layouts
    layout: str  # "strided", "sparse_coo", "sparse_csr", ...
    device: str
    nnz: int | None = None  # stored values of a sparse tensor (real elements of a nested one)
    #: The integers a small index tensor holds, kept only where the work depends on them
    #: and the tensor has real data (the sequence offsets of variable-length attention:
    #: see VALUE_ARGUMENTS); None otherwise.
    values: tuple[int, ...] | None = None
    #: The shape of each component of a strided nested tensor (layout "nested"); None otherwise.
    components: tuple[tuple[int, ...], ...] | None = None

    @property
    def numel(self) -> int:
        """Elements of the logical (dense) tensor; of a nested tensor, its real elements."""
        if self.layout == "nested":
            return self.nnz or 0
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
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
        if self.layout == "nested":
            return (self.nnz or 0) * self.itemsize
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
        """True for a dense row-major layout (size-1 dims' strides ignored); False when sparse."""
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


def _nested_info(t: torch.Tensor) -> TensorInfo:
    """A strided nested tensor (torch.nested without layout=torch.jagged): its components
    differ in shape, so it has no dense shape. Layout "nested"; shape the bound of its
    components (the padded shape, n x the largest size of each dim); nnz its real
    elements, which numel and footprint_bytes report; components each one's shape."""
    components = tuple(tuple(int(v) for v in row) for row in t._nested_tensor_size().tolist())
    dims = len(components[0]) if components else 0
    bound = (len(components), *(max(c[d] for c in components) for d in range(dims)))
    elements = sum(math.prod(c) for c in components)
    return TensorInfo(bound, t.dtype, None, "nested", t.device.type, elements, components=components)


def tensor_info(t: torch.Tensor) -> TensorInfo:
    """Metadata of a tensor (real, fake or meta) as a TensorInfo."""
    if t.layout is torch.strided:  # layouts are singletons
        if t.is_nested:
            return _nested_info(t)
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
    #: The module's call path (fvcore's "caller" view: a module shared by two parents has
    #: one ``module`` name, its first, but a caller path through the parent that called
    #: it); None where capture did not follow calls (then ``module`` is the path).
    caller: str | None = None
    #: nn.Module calls entered since the previous record (the model's own call counts
    #: for the first): Python run between ops, which eager pays on the host.
    module_calls: int = 0

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


def op_name(func: Any) -> str:
    """The op's name, str(func) (e.g. "aten.mm.default"), cached: formatting an
    OpOverload's name costs a microsecond per op."""
    name = _OP_NAMES.get(func)
    if name is None:
        name = _OP_NAMES[func] = str(func)
    return name


def _schema_arg_names(func: Any) -> tuple[str, ...]:
    """The op's argument names from its schema, cached; () for a function without one."""
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


def persistent_storages(model: Any) -> frozenset[int]:
    """Identities (the storage's C pointer) of a model's parameter and buffer storages;
    empty for a non-module."""
    if not isinstance(model, torch.nn.Module):
        return frozenset()
    return frozenset(_storage_key(t) for t in _persistent_tensors(model))


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




#: Schema argument names whose integers capture keeps (TensorInfo.values): the cumulative
#: sequence offsets of variable-length attention (flash: cum_seq_q/k, memory-efficient:
#: cu_seqlens_q/k). Without them a batch of packed sequences counts as one long sequence.
VALUE_ARGUMENTS = frozenset({"cum_seq_q", "cum_seq_k", "cu_seqlens_q", "cu_seqlens_k"})
_VALUE_POSITIONS: dict[Any, tuple[tuple[int, str], ...]] = {}


def _value_positions(func: Any) -> tuple[tuple[int, str], ...]:
    """(position, name) of the op's VALUE_ARGUMENTS, cached per OpOverload."""
    positions = _VALUE_POSITIONS.get(func)
    if positions is None:
        names = _schema_arg_names(func)
        positions = _VALUE_POSITIONS[func] = tuple((i, n) for i, n in enumerate(names) if n in VALUE_ARGUMENTS)
    return positions


def _holds_data(t: torch.Tensor) -> bool:
    """True for a plain tensor with real data (not meta, not a fake or functional
    tensor, whose values are unknown)."""
    return type(t) in _PLAIN_TENSOR_TYPES and not t.is_meta


def _keep_values(func: Any, args: tuple, kwargs: dict, memo: dict[int, TensorInfo]) -> dict[int, TensorInfo]:
    """{id of the TensorInfo made for an offsets argument: the same TensorInfo with its
    values}, for the VALUE_ARGUMENTS of ``func`` that hold real data. Reading them
    synchronises a GPU once per such op, as torch's FlopCounterMode does."""
    kept: dict[int, TensorInfo] = {}
    for position, name in _value_positions(func):
        t = args[position] if position < len(args) else kwargs.get(name)
        if isinstance(t, torch.Tensor) and t.dim() == 1 and _holds_data(t) and id(t) in memo:
            info = memo[id(t)]
            kept[id(info)] = dataclasses.replace(info, values=tuple(int(v) for v in t.tolist()))
    return kept


def _swap(values: Any, kept: dict[int, TensorInfo]) -> Any:
    """A top-level tuple or dict of arguments with each kept TensorInfo replaced."""
    if isinstance(values, dict):
        return {key: kept.get(id(v), v) for key, v in values.items()}
    return tuple(kept.get(id(v), v) for v in values)


def make_record(
    index: int,
    op: str,
    func: Any,
    module: tuple[str, str],
    args: tuple,
    kwargs: dict,
    out: Any,
    persistent: frozenset[int] = frozenset(),
    python_call: Any = None,
    caller: str | None = None,
    module_calls: int = 0,
) -> OpRecord:
    """The OpRecord of one call that just ran: its args, kwargs and output as metadata.

    module: (qualified name, type name) of the module it ran in; persistent: the storages
    of the model's parameters and buffers (persistent_storages), for param_bytes;
    caller: the module's call path (OpRecord.caller); module_calls: module calls since
    the previous record (OpRecord.module_calls).
    """
    memo: dict[int, TensorInfo] = {}
    inputs: list[TensorInfo] = []
    arg_infos = _to_infos(args, memo, inputs)
    kwarg_infos = _to_infos(kwargs, memo, inputs)
    outputs: list[TensorInfo] = []
    _to_infos(out, {}, outputs)  # its own memo: an output that aliases an input is listed again
    kept = _keep_values(func, args, kwargs, memo) if _value_positions(func) else {}
    if kept:
        arg_infos, kwarg_infos, inputs = _swap(arg_infos, kept), _swap(kwarg_infos, kept), list(_swap(inputs, kept))
    return OpRecord(
        index=index,
        op=op,
        module=module[0],
        module_type=module[1],
        args=tuple(arg_infos),
        kwargs=kwarg_infos,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        func=func,
        python_call=python_call,
        param_bytes=_param_bytes((args, kwargs), persistent) if persistent else 0,
        caller=caller,
        module_calls=module_calls,
    )
