"""The capture itself: a dispatch mode that records every aten op a model runs.

A TorchDispatchMode sees each op below autograd, after composite ops have been
decomposed, so what it records is what the backend kernels actually run. It works the
same on real, fake and meta tensors: meta tensors let a model far larger than memory be
analysed, since no data is ever allocated.

A jagged nested tensor (layout=torch.jagged) runs each op in Python as aten ops on its
packed values: those are what is recorded. A strided nested tensor's op is recorded
once, on TensorInfos of layout "nested" that list each component's shape.

CaptureMode has three hooks, the one supported way to change what a capture does
(measurement times ops through them, training tags phases and follows memory):

    run_op(func, args, kwargs) -> out    how one op is executed (default: func(*args, **kwargs))
    on_record(record, out)               after each OpRecord is appended
    module_path() -> (name, type name)   the module the op being recorded belongs to
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from roofline.capture.meta import EagerPaths
from roofline.capture.records import OpRecord, make_record, op_name, persistent_storages

try:  # the jagged nested tensor type (torch.nested with layout=torch.jagged); private in torch
    from torch.nested._internal.nested_tensor import NestedTensor as _JAGGED
except ImportError:  # pragma: no cover - a torch without it has no jagged tensors to record
    _JAGGED = None

__all__ = ["ModuleStack", "CaptureMode", "active_capture", "call_model", "capture", "uncompiled"]


class ModuleStack:
    """Which named module is running, followed through global forward hooks.

    A context manager: entering installs the hooks, leaving removes them. ``current`` is
    (qualified name, type name) of the innermost module running; outside every module,
    ("", type name of the model).

    A module has one qualified name, its first in ``model.named_modules()`` (its owner's
    attribute path): a module shared by two parents is named after the first. ``caller``
    is the path the call took instead, fvcore's "caller" view: each running module by
    the attribute its caller holds it under (``a.proj`` and ``b.proj`` for one Linear
    held by blocks a and b), a module its caller does not hold by its name in <>.
    """

    def __init__(self, model: torch.nn.Module | None):
        self.names: dict[int, str] = {}
        if model is not None:
            for name, module in model.named_modules():
                # a torch.compile'd submodule wraps the original as "_orig_mod": name it as
                # the original is named, so paths do not change when a block is compiled
                self.names[id(module)] = ".".join(part for part in name.split(".") if part != "_orig_mod")
        self.stack: list[tuple[str, str]] = [("", type(model).__name__ if model is not None else "")]
        self.callers: list[str] = [""]  # the call path of each frame of ``stack``
        self._running: list[Any] = [model]  # the module of each frame
        self._handles: list[Any] = []
        #: Module calls entered so far (each pays nn.Module.__call__'s Python cost).
        self.calls = 0

    def _pre(self, module: torch.nn.Module, args: Any) -> None:
        self.calls += 1
        name = self.names.get(id(module))
        parent = self.stack[-1][0]
        if name is None:  # a module created inside forward, or not part of the model
            local = f"<{type(module).__name__}>"
            name = f"{parent}.{local}" if parent else local
        else:
            local = self._local_name(module, name, parent)
        self.callers.append(f"{self.callers[-1]}.{local}" if self.callers[-1] else local)
        self._running.append(module)
        self.stack.append((name, type(module).__name__))

    def _local_name(self, module: torch.nn.Module, name: str, parent: str) -> str:
        """The name of ``module`` within the module calling it: the attribute it is held
        under, its path below the caller, or (held elsewhere) its own name in <>."""
        caller = self._running[-1]
        held = getattr(caller, "_modules", None) or {}
        attribute = next((key for key, child in held.items() if child is module), None)
        if attribute is not None:
            return attribute
        if not parent:
            return name
        return name[len(parent) + 1:] if name.startswith(parent + ".") else f"<{name}>"

    def _post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if len(self.stack) > 1:
            self.stack.pop()
            self.callers.pop()
            self._running.pop()

    def __enter__(self) -> "ModuleStack":
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
        """(qualified name, type name) of the innermost module running."""
        return self.stack[-1]

    @property
    def caller(self) -> str:
        """The call path of the innermost module running ("" at top level)."""
        return self.callers[-1]

    @property
    def in_module(self) -> bool:
        """True while some module's forward is running (the model's own included)."""
        return len(self.stack) > 1


#: CaptureModes entered and not yet exited, innermost last (see active_capture).
_ACTIVE_CAPTURES: list["CaptureMode"] = []


def active_capture() -> "CaptureMode | None":
    """The innermost CaptureMode now recording, or None outside a capture."""
    return _ACTIVE_CAPTURES[-1] if _ACTIVE_CAPTURES else None


class CaptureMode(TorchDispatchMode):
    """Records every aten op dispatched while active into ``self.records``.

    model: the nn.Module being run (None for a plain callable): its module names give the
    records' module paths, its parameters and buffers their param_bytes. Entering the
    mode also enters its ModuleStack (``self.modules``).

    Subclasses change what a capture does through the hooks run_op, on_record and
    module_path only; each is called once per recorded op. While ``opaque_depth`` > 0 (a
    roofline.symbolic_op function is running) aten ops run bare, through no hook and
    unrecorded: the function is recorded once, by record_python_call.
    """

    def __init__(self, model: Any = None):
        super().__init__()
        root = model if isinstance(model, torch.nn.Module) else None
        self.modules = ModuleStack(root)
        #: Storages of the model's parameters and buffers (see records.persistent_storages).
        self.persistent = persistent_storages(root)
        self.records: list[OpRecord] = []
        self.opaque_depth = 0
        self._calls_recorded = 0  # module calls already given to a record

    # ------------------------------------------------------------------ hooks

    def run_op(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Execute one aten op (an OpOverload) and return its output.

        Called once per recorded op, before its record is made. Override to wrap the
        call (measurement times it here, or replays it first); the override must run the
        real call exactly once and return its output, which the model goes on with.
        """
        return func(*args, **kwargs)

    def on_record(self, record: OpRecord, out: Any) -> None:
        """Called once after each record is appended to ``self.records`` (its index is its
        position there), for aten ops and symbolic ops alike.

        record.func is the real OpOverload (or, for a symbolic op, the Python function);
        ``out`` is the call's real output (tensors, not TensorInfo). Default: nothing.
        """

    def module_path(self) -> tuple[str, str]:
        """(qualified name, type name) of the module the op being recorded belongs to;
        "" at top level. Default: the innermost module running (self.modules.current)."""
        return self.modules.current

    # ------------------------------------------------------------------ recording

    def record_python_call(self, name: str, fn: Any, args: tuple, kwargs: dict, out: Any, python_call: Any) -> OpRecord:
        """Append one record "symbolic.<name>" for a Python function that just ran (called
        by roofline.symbolic_op's wrapper; python_call: its PythonCall)."""
        return self._append(f"symbolic.{name}", fn, tuple(args), dict(kwargs), out, python_call)

    def _append(self, op: str, func: Any, args: tuple, kwargs: dict, out: Any, python_call: Any = None) -> OpRecord:
        module = self.module_path()
        # the call path where module_path is the module running; else module_path's own name
        caller = self.modules.caller if module == self.modules.current else module[0]
        record = make_record(len(self.records), op, func, module, args, kwargs, out,
                             self.persistent, python_call, caller=caller,
                             module_calls=self.modules.calls - self._calls_recorded)
        self._calls_recorded = self.modules.calls
        self.records.append(record)
        self.on_record(record, out)
        return record

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:  # noqa: D105
        kwargs = kwargs or {}
        if _JAGGED in types:
            # A jagged nested tensor runs each op in Python, as aten ops on its packed
            # values: let it, and record those (the kernels eager runs, on the real
            # elements) rather than one op on a tensor whose shape is ragged.
            return NotImplemented
        if self.opaque_depth or func in _QUERIES:  # inside a symbolic_op: recorded as one op by its wrapper
            return func(*args, **kwargs)
        if runs_decomposed(func, args, kwargs):
            # A composite op reaches the mode whole only where autograd is off (under
            # inference_mode, or inside a tensor subclass): eager runs its decomposition,
            # so record those ops, as no_grad records them, with this mode back on.
            TorchDispatchMode.__enter__(self)
            try:
                return func.decompose(*args, **kwargs)
            finally:
                TorchDispatchMode.__exit__(self, None, None, None)
        out = self.run_op(func, args, kwargs)
        self._append(op_name(func), func, args, kwargs, out)
        return out

    def __enter__(self) -> "CaptureMode":
        self.modules.__enter__()
        _ACTIVE_CAPTURES.append(self)
        try:
            return super().__enter__()
        except BaseException:
            _ACTIVE_CAPTURES.remove(self)
            self.modules.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: Any) -> Any:
        try:
            return super().__exit__(*exc)
        finally:
            _ACTIVE_CAPTURES.remove(self)
            self.modules.__exit__(*exc)


#: Ops a fake tensor dispatches to answer a query about itself (``t.device``): no kernel
#: runs them, and a capture of real tensors never sees them, so they are not recorded.
_QUERIES = frozenset({torch.ops.prim.device.default})

#: Dispatch key name of each device type's dense tensors (others: the type, capitalised).
_DEVICE_KEYS = {"cpu": "CPU", "cuda": "CUDA", "meta": "Meta", "xpu": "XPU", "mps": "MPS", "hpu": "HPU", "privateuseone": "PrivateUse1"}
#: Dispatch key prefix of each non-dense layout.
_LAYOUT_PREFIXES = {torch.sparse_coo: "Sparse", torch.sparse_csr: "SparseCsr", torch.sparse_csc: "SparseCsr",
                    torch.sparse_bsr: "SparseCsr", torch.sparse_bsc: "SparseCsr", torch._mkldnn: "Mkldnn"}
_COMPOSITE: dict[Any, bool] = {}


def _is_composite(func: Any) -> bool:
    """True for an op with a CompositeImplicitAutograd kernel (it decomposes into others)."""
    composite = _COMPOSITE.get(func)
    if composite is None:
        try:
            composite = isinstance(func, torch._ops.OpOverload) and torch._C._dispatch_has_kernel_for_dispatch_key(
                func.name(), "CompositeImplicitAutograd")
        except RuntimeError:  # an overload the dispatcher does not know by that name
            composite = False
        _COMPOSITE[func] = composite
    return composite


def _backend_key(t: torch.Tensor) -> Any:
    """The dispatch key of a tensor's backend kernels (CPU, CUDA, Meta, SparseCPU, ...), or None."""
    prefix = "Quantized" if t.is_quantized else _LAYOUT_PREFIXES.get(t.layout, "")
    device = t.device.type
    return getattr(torch._C.DispatchKey, prefix + _DEVICE_KEYS.get(device, device.capitalize()), None)


def runs_decomposed(func: Any, args: tuple, kwargs: dict) -> bool:
    """True when eager runs ``func`` as its decomposition on these arguments: a composite
    op with no kernel of its own for any argument's backend (linear has one for nested
    tensors). Ops on strided nested tensors are kept whole (their composite kernels
    differ); they are counted per component."""
    if not _is_composite(func):
        return False
    name = func.name()
    tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
    tensors += [t for a in args if isinstance(a, (list, tuple)) for t in a if isinstance(t, torch.Tensor)]
    for t in tensors:
        if t.is_nested:
            return False
        key = _backend_key(t)
        if key is not None and torch._C._dispatch_has_kernel_for_dispatch_key(name, key):
            return False
    return True


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
        with EagerPaths(), CaptureMode(root) as mode:
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
    warnings.warn(
        f"roofline: {type(module).__name__} was compiled with {how}; analysing {what} as eager "
        "PyTorch runs it: every aten op is counted, including those a compiled graph would fuse",
        UserWarning,
        stacklevel=3,
    )
