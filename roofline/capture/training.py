"""Capture one training step: forward, loss, backward and the optimizer update.

    step = capture_train_step(model, inputs, optimizer="adamw")
    step.records      # every aten op of the step, in order (forward ... optimizer)
    step.phases       # one of PHASES per record
    step.memory       # MemoryFootprint: parameters, gradients, optimizer state, activations

The backward is the real one: ``loss.backward()`` on a scalar loss runs autograd, and
the capture records the aten backward kernels it dispatches (convolution_backward, the
mm's of a linear layer's gradients, ...), not a multiple of the forward. The optimizer
step is a steady-state step: the optimizer's state (Adam's moments, SGD's momentum) is
created by one unrecorded warm-up step first, so the recorded step is what every later
step runs, not the first step's allocations.

Phases. Ops before ``backward()`` (the model and the loss) are "forward"; ops autograd
runs are "backward", except those that run with grad mode on inside a backward node:
that is activation checkpointing (torch.utils.checkpoint, reentrant or not) running the
forward again to rebuild what it did not save, and they are "recompute"; the update is
"optimizer", except the optimizer's bookkeeping on host-resident scalars when the model
is on another device: torch keeps Adam's step counters on the CPU (unless capturable)
and reads them with .item() once per parameter, so those ops are "host" work, run by
the CPU while the device is busy, not device kernels (they still carry predict's per-op
overhead; roofline.tools.parallel leaves them out of device time).

Module paths in backward. Autograd runs backward kernels outside any module's forward,
so forward hooks cannot say which module they belong to. Each forward op's output
tensor gets its grad_fn tagged with the module that ran the op (through the node's
``metadata`` dict); a backward op is attributed to the module tagged on the autograd
node executing it. Loss ops are attributed to "<loss>", optimizer ops to "<optimizer>".

Memory. Parameters, buffers, gradients and optimizer state are summed from the model
and the optimizer. Activations are tracked from the ops themselves: every storage an
op creates is followed (by a weak reference) until it is freed, which works the same on
meta tensors. ``activation_bytes`` is what is alive when backward starts (the tensors
saved for backward and the outputs); ``peak_bytes`` is the high-water mark of
everything alive during the step.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import torch
from torch.utils._pytree import tree_flatten

from roofline.capture.meta import EagerPaths
from roofline.capture.mode import CaptureMode, call_model
from roofline.capture.records import OpRecord
from roofline.errors import RooflineError

#: The phases of a training step, in the order they run.
FORWARD, BACKWARD, RECOMPUTE, OPTIMIZER, HOST = "forward", "backward", "recompute", "optimizer", "host"
PHASES: tuple[str, ...] = (FORWARD, BACKWARD, RECOMPUTE, OPTIMIZER, HOST)

LOSS_MODULE = ("<loss>", "loss")
OPTIMIZER_MODULE = "<optimizer>"

#: Weak references to storages, as torch.multiprocessing.reductions.StorageWeakRef makes
#: them, used directly: polling each through that class's methods was most of the cost
#: of following the activations of a large model.
_EXPIRED = torch.UntypedStorage._expired
_FREE_WEAK_REF = torch.UntypedStorage._free_weak_ref

#: Key under which a forward op's module is stored in its autograd node's metadata.
_MODULE_KEY = "roofline.module"

#: The named optimizers: the usual settings, whose values do not change the cost except
#: where they add ops (momentum, weight decay).
OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "sgd": (torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    "adam": (torch.optim.Adam, {"lr": 1e-3}),
    "adamw": (torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.01}),
}


@dataclass(frozen=True)
class MemoryFootprint:
    """Bytes one device holds for a training step (decimal units as everywhere: bytes).

    parameter_bytes: trainable and frozen parameters; buffer_bytes: module buffers
    (batch-norm running statistics); gradient_bytes: the parameters' gradients;
    optimizer_state_bytes: the optimizer's state tensors (moments, momentum, step
    counters); input_bytes: the example inputs; activation_bytes: tensors the step
    created that are alive when backward starts (saved for backward, plus the outputs);
    peak_bytes: the high-water mark of everything alive during the step (static bytes
    plus the largest live set of created tensors, gradients and temporaries included).
    """

    parameter_bytes: float
    buffer_bytes: float
    gradient_bytes: float
    optimizer_state_bytes: float
    input_bytes: float
    activation_bytes: float
    peak_bytes: float

    @property
    def static_bytes(self) -> float:
        """Parameters, buffers, gradients and optimizer state: what stays between steps."""
        return self.parameter_bytes + self.buffer_bytes + self.gradient_bytes + self.optimizer_state_bytes

    def fits(self, capacity: Any) -> bool:
        """True when the peak fits ``capacity``: bytes, or a HardwareSpec (its DRAM)."""
        return self.peak_bytes <= _capacity_bytes(capacity)

    def table(self) -> pd.DataFrame:
        """One row per component (bytes), then the peak."""
        rows = {
            "parameters": self.parameter_bytes,
            "buffers": self.buffer_bytes,
            "gradients": self.gradient_bytes,
            "optimizer state": self.optimizer_state_bytes,
            "inputs": self.input_bytes,
            "activations (at backward start)": self.activation_bytes,
            "peak": self.peak_bytes,
        }
        return pd.DataFrame({"bytes": rows}).rename_axis("component")


def _capacity_bytes(capacity: Any) -> float:
    # Capture comes before hardware in the pipeline: a spec is read by its shape only.
    if isinstance(capacity, str):
        raise RooflineError(f"fits: give bytes or a HardwareSpec, not the name {capacity!r} (load_hardware it first)")
    dram = getattr(capacity, "dram", None)
    return float(dram.capacity) if dram is not None else float(capacity)


@dataclass
class TrainStep:
    """What capture_train_step returns: the records, a phase per record, the memory."""

    records: list[OpRecord]
    phases: list[str]
    memory: MemoryFootprint
    loss: Any = None


# --------------------------------------------------------------------------- helpers


def _tensors(value: Any) -> list[torch.Tensor]:
    flat, _ = tree_flatten(value)
    return [v for v in flat if isinstance(v, torch.Tensor)]


def _storage(t: torch.Tensor) -> Any | None:
    try:
        return t.untyped_storage()
    except (RuntimeError, NotImplementedError, TypeError):  # sparse and other storage-less layouts
        return None


def _storage_key(t: torch.Tensor) -> int | None:
    storage = _storage(t)
    return None if storage is None else storage._cdata


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class _LiveBytes:
    """Bytes of the storages ops create, followed until freed (weak references).

    Storages in ``static`` (parameters, buffers, optimizer state, inputs) are not
    counted: they are accounted for separately and alive throughout. Freed storages are
    only looked for when the count would set a new peak (a count that still includes
    some freed storages is an upper bound, so below the peak it cannot matter), which
    keeps the polling off most ops.
    """

    def __init__(self, static: list[torch.Tensor]):
        self.static = {key for key in map(_storage_key, static) if key is not None}
        self.live: dict[int, tuple[int, int]] = {}  # storage key -> (weak reference, bytes)
        self.current = 0
        self.peak = 0

    def prune(self) -> None:
        """Forget the storages that have been freed."""
        for key in [k for k, (ref, _) in self.live.items() if _EXPIRED(ref)]:
            self._forget(key)

    def _forget(self, key: int) -> None:
        ref, size = self.live.pop(key)
        _FREE_WEAK_REF(ref)
        self.current -= size

    def add(self, out: Any) -> None:
        """Follow the storages of the tensors in ``out`` not followed yet (or static)."""
        for t in _tensors(out):
            storage = _storage(t)
            if storage is None:
                continue
            key = storage._cdata
            if key in self.static:
                continue
            if key in self.live:
                if not _EXPIRED(self.live[key][0]):
                    continue  # a view of a storage already counted
                self._forget(key)  # a freed storage's address, reused
            size = int(storage.nbytes())
            self.live[key] = (storage._weak_ref(), size)
            self.current += size
        if self.current > self.peak:
            self.prune()
            self.peak = max(self.peak, self.current)

    def __enter__(self) -> "_LiveBytes":
        return self

    def __exit__(self, *exc: Any) -> None:
        for key in list(self.live):  # release the weak references (peak and counts stay)
            self._forget(key)


class _TrainCapture(CaptureMode):
    """CaptureMode for a training step, built on its public hooks: module_path says where
    ops outside any forward belong (loss, backward nodes, optimizer); run_op tags the
    previous op's autograd nodes with its module before the next op runs; on_record gives
    each record its phase and follows the bytes of the tensors it creates.

    capture_train_step moves it through the step by setting ``phase`` (FORWARD, then
    BACKWARD, then OPTIMIZER) and ``in_loss`` (while the loss function runs).
    """

    def __init__(self, model: torch.nn.Module | None, live: _LiveBytes, optimizer_name: str, host_split: bool):
        super().__init__(model)
        self.live = live
        self.phase = FORWARD
        self.in_loss = False
        self.optimizer_label = (OPTIMIZER_MODULE, optimizer_name)
        #: the model is on a device: the optimizer's ops on CPU scalars are HOST work
        self.host_split = host_split
        self.phases: list[str] = []  # one per record
        self._pending: list[tuple[weakref.ref, tuple[str, str]]] = []

    def module_path(self) -> tuple[str, str]:
        """The module running, else "<loss>", "<optimizer>" or the module tagged on the
        autograd node executing (backward)."""
        if self.modules.in_module:  # inside a module's forward (a recompute included)
            return self.modules.current
        if self.in_loss:
            return LOSS_MODULE
        if self.phase == OPTIMIZER:
            return self.optimizer_label
        if self.phase == BACKWARD:
            node = torch._C._current_autograd_node()
            if node is not None:
                tag = node.metadata.get(_MODULE_KEY)
                if tag is not None:
                    return tag
        return self.modules.current

    def run_op(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Tag the previous op's autograd nodes, then run ``func`` once."""
        # The previous op's outputs have their grad_fn now (autograd sets it after the
        # kernel returns): tag each node with the module that ran the op, before this op
        # runs, so a backward node reached next already carries its module.
        if self._pending:
            for ref, label in self._pending:
                t = ref()
                node = t.grad_fn if t is not None else None
                if node is not None and _MODULE_KEY not in node.metadata:
                    node.metadata[_MODULE_KEY] = label
            self._pending = []
        return func(*args, **kwargs)

    def on_record(self, record: OpRecord, out: Any) -> None:
        """Give the record its phase; follow its outputs (module tags, live bytes)."""
        phase = self.phase
        # A symbolic op's outputs are neither tagged nor followed, as before the hooks
        # existed (its aten ops ran unrecorded); only its phase is given.
        if record.python_call is None:
            if torch.is_grad_enabled():
                label = (record.module, record.module_type)
                # requires_grad is not set yet inside dispatch: tag whatever gets a grad_fn.
                self._pending = [(weakref.ref(t), label) for t in _tensors(out)]
                # grad mode on inside a backward node: checkpointing rerunning the forward
                if phase == BACKWARD and torch._C._current_autograd_node() is not None:
                    phase = RECOMPUTE
            self.live.add(out)
        if phase == OPTIMIZER and self.host_split and _on_host(record):
            phase = HOST
        self.phases.append(phase)


def make_optimizer(optimizer: Any, params: list[torch.nn.Parameter], foreach: bool | None = None) -> torch.optim.Optimizer | None:
    """An optimizer over ``params``: "sgd" (momentum 0.9), "adam", "adamw" (weight decay
    0.01), None for no update, or a callable params -> torch.optim.Optimizer.

    foreach: True for the multi-tensor (_foreach_*) implementation, as torch picks on
    GPUs; False for one op per parameter; None lets torch choose for the tensors' device.
    """
    if optimizer is None:
        return None
    if not params:
        raise RooflineError("optimizer: the model has no trainable parameters to update (pass optimizer=None)")
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(params)
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        known = ", ".join(OPTIMIZERS)
        raise RooflineError(f"optimizer {optimizer!r}: expected one of {known}, None, or a callable params -> torch.optim.Optimizer")
    cls, kwargs = OPTIMIZERS[optimizer.lower()]
    kwargs = dict(kwargs)
    if foreach is not None:
        kwargs["foreach"] = foreach
    return cls(params, **kwargs)


def default_loss(output: Any) -> torch.Tensor:
    """The sum of every floating-point output tensor that depends on a parameter.

    A stand-in for a real loss: its forward (a sum) and backward (an expand of ones)
    are a few cheap ops, and every output's gradient flows back through the model.
    """
    terms = [t.sum() for t in _tensors(output) if t.is_floating_point() and t.requires_grad]
    if not terms:
        raise RooflineError(
            "train: the model's output does not depend on any trainable parameter, so there is nothing to backpropagate"
        )
    loss = terms[0]
    for term in terms[1:]:
        loss = loss + term
    return loss


def _warm_up(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
    """One unrecorded step on zero gradients, so that the optimizer's state exists and
    the recorded step is a steady-state one."""
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for p in params:
        p.grad = None


def _state_tensors(optimizer: torch.optim.Optimizer | None) -> list[torch.Tensor]:
    if optimizer is None:
        return []
    found: list[torch.Tensor] = []
    for state in optimizer.state.values():
        found.extend(_tensors(dict(state)))
    return found


def _on_host(record: OpRecord) -> bool:
    """True for an op whose tensors are all on the CPU (and that has tensors at all)."""
    tensors = record.inputs + record.outputs
    return bool(tensors) and all(t.device == "cpu" for t in tensors)


def _distinct_bytes(tensors: list[torch.Tensor]) -> int:
    seen: set[int] = set()
    total = 0
    for t in tensors:
        key = _storage_key(t)
        key = id(t) if key is None else key
        if key not in seen:
            seen.add(key)
            total += _nbytes(t)
    return total


def _training_copy(model: Any, copy_model: bool) -> Any:
    """The module to train: a deep copy (copy_model) or the model itself, in training
    mode; a plain callable unchanged."""
    if not isinstance(model, torch.nn.Module):
        return model
    if copy_model:
        try:
            model = copy.deepcopy(model)
        except Exception as exc:
            raise RooflineError(
                f"train: cannot copy the model ({type(exc).__name__}: {exc}); pass copy_model=False to train it in place"
            ) from exc
    return model.train()


def _checked_loss(loss: Any) -> torch.Tensor:
    """``loss`` if it is a scalar tensor that depends on a trainable parameter."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise RooflineError(f"train: loss_fn must return a scalar tensor, got {type(loss).__name__}")
    if not loss.requires_grad:
        raise RooflineError("train: the loss does not depend on any trainable parameter")
    return loss


def _run_step(model: Any, inputs: Any, mode: _TrainCapture, loss_fn: Callable[[Any], torch.Tensor],
              opt: torch.optim.Optimizer | None) -> tuple[torch.Tensor, int]:
    """Forward, loss, backward and update under ``mode`` (entered by the caller):
    (the loss, activation bytes alive when backward starts)."""
    output = call_model(model, inputs)
    mode.in_loss = True
    loss = _checked_loss(loss_fn(output))
    mode.in_loss = False
    mode.live.prune()
    activation_bytes = mode.live.current
    mode.phase = BACKWARD
    loss.backward()
    mode.phase = OPTIMIZER
    if opt is not None:
        opt.step()
    return loss, activation_bytes


def capture_train_step(
    model: Any,
    inputs: Any = (),
    *,
    optimizer: Any = "adamw",
    loss_fn: Callable[[Any], torch.Tensor] | None = None,
    foreach: bool | None = None,
    copy_model: bool = True,
) -> TrainStep:
    """Record one training step of ``model`` on ``inputs``: forward, loss, backward and
    an optimizer update (see the module docstring for the phases and the memory).

    optimizer: see make_optimizer. loss_fn: output -> scalar tensor (default: the sum of
    the outputs, default_loss). copy_model: run on a deep copy so the caller's model is
    left as it was (no gradients set, weights not updated); the copy is put in training
    mode, so dropout and batch norm behave as in training.
    """
    model = _training_copy(model, copy_model)
    root = model if isinstance(model, torch.nn.Module) else None
    params = [p for p in (root.parameters() if root is not None else ()) if p.requires_grad]
    opt = make_optimizer(optimizer, params, foreach)
    if opt is not None:
        _warm_up(opt, params)
    all_params = list(root.parameters()) if root is not None else []
    buffers = list(root.buffers()) if root is not None else []
    state = _state_tensors(opt)
    input_tensors = _tensors(inputs)
    live = _LiveBytes(all_params + buffers + state + input_tensors)
    host_split = any(p.device.type != "cpu" for p in all_params)
    mode = _TrainCapture(root, live, type(opt).__name__ if opt is not None else "none", host_split)

    with torch.enable_grad(), EagerPaths(), live, mode:
        loss, activation_bytes = _run_step(model, inputs, mode, loss_fn or default_loss, opt)

    grads = [p.grad for p in params if p.grad is not None]
    memory = MemoryFootprint(
        parameter_bytes=float(_distinct_bytes(all_params)),
        buffer_bytes=float(_distinct_bytes(buffers)),
        gradient_bytes=float(_distinct_bytes(grads)),
        optimizer_state_bytes=float(_distinct_bytes(state)),
        input_bytes=float(_distinct_bytes(input_tensors)),
        activation_bytes=float(activation_bytes),
        peak_bytes=float(_distinct_bytes(all_params) + _distinct_bytes(buffers) + _distinct_bytes(state)
                         + _distinct_bytes(input_tensors) + live.peak),
    )
    return TrainStep(mode.records, mode.phases, memory, loss.detach())
