"""Capture with symbolic sizes: run a model once on fake tensors whose chosen dimensions
(batch, sequence, ...) are symbols, so every recorded shape is a closed form in them.

PyTorch's symbolic shapes do the work: a FakeTensorMode with a ShapeEnv makes the marked
input dimensions SymInts (torch.fx.experimental.symbolic_shapes), every op's output
shape follows as an expression of them, and every decision the model or PyTorch takes on
a size (a broadcast, ``if seq > 1``, a ``min`` in a cost formula counted later) is
recorded by the ShapeEnv as a guard. The guards, with each symbol's value range and any
specialisation, bound the region where the closed forms hold: ``conditions()`` lists
them, and a point outside must be captured again.

Sizes start from real example values (the hints), which must not be 0 or 1: PyTorch
specialises those. ``specialize_zero_one`` is off, so a symbol may still reach 1 when no
guard excludes it (the guards say whether batch 1 is inside).

Parameters and buffers are turned into fake tensors of the same (static) shapes for the
capture only; the caller's model keeps its own.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from roofline.capture.mode import capture
from roofline.capture.records import OpRecord
from roofline.capture.replay import ModuleReplay
from roofline.errors import RooflineError

__all__ = ["SizeDim", "SymbolicCapture", "SymbolicUnavailable", "symbolic_capture"]


class SymbolicUnavailable(RooflineError):
    """The model cannot be captured with symbolic sizes (data-dependent shapes, a model
    that fails on fake tensors, a formula that cannot take symbols); the message says why
    in one line."""


@dataclass(frozen=True)
class SizeDim:
    """One input dimension that is a named size: dimension ``dim`` of the ``leaf``-th
    tensor of the inputs (pytree order) is ``name`` (e.g. "batch")."""

    leaf: int
    dim: int
    name: str


@dataclass
class SymbolicCapture:
    """The records of one symbolic capture and the ShapeEnv that holds its symbols and
    guards. symbols: size name -> its sympy symbol; hints: size name -> the example value
    the capture ran at."""

    records: list[OpRecord]
    shape_env: Any = field(repr=False)
    symbols: dict[str, Any]
    hints: dict[str, int]

    def expr(self, value: Any) -> Any:
        """A count (int, float, SymInt or SymFloat) as a sympy expression of the symbols."""
        import sympy

        if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            return self.shape_env.replace(value.node.expr)
        if isinstance(value, bool):
            return sympy.true if value else sympy.false
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(float(value))

    def conditions(self) -> list[Any]:
        """The region where the closed forms hold, as sympy relations of the symbols that
        must all be true: every guard recorded so far (call after counting: cost
        formulas add guards too), each symbol's value range and each specialisation."""
        import sympy

        env = self.shape_env
        found: list[Any] = [env.replace(guard.expr) for guard in env.guards]
        for symbol in self.symbols.values():
            bounds = env.var_to_range.get(symbol)
            if bounds is not None:
                if bounds.lower.is_Integer:  # not -int_oo
                    found.append(sympy.Ge(symbol, int(bounds.lower)))
                if bounds.upper.is_Integer:  # not int_oo
                    found.append(sympy.Le(symbol, int(bounds.upper)))
            replaced = env.replacements.get(symbol)
            if replaced is not None:
                found.append(sympy.Eq(symbol, replaced))
        return [c for c in found if c is not sympy.true]

    def free(self, expr: Any) -> set[Any]:
        """Symbols of ``expr`` that are none of the sizes (data-dependent: unbacked)."""
        return set(getattr(expr, "free_symbols", ())) - set(self.symbols.values())


def _fake_inputs(mode: Any, inputs: Any, dims: list[SizeDim], symbols: dict[str, Any]) -> Any:
    """The inputs as fake tensors, the dims named in ``dims`` symbolic (one symbol per
    name, shared by every input dimension of that name)."""
    from torch.fx.experimental.symbolic_shapes import (
        DimDynamic,
        StatelessSymbolicContext,
    )

    leaves, spec = tree_flatten(inputs)
    faked = []
    firsts: dict[str, Any] = {}  # name -> the SymInt of its first dimension
    for index, leaf in enumerate(leaves):
        if not isinstance(leaf, torch.Tensor):
            faked.append(leaf)
            continue
        marked = {d.dim: d.name for d in dims if d.leaf == index}
        if not marked:
            faked.append(mode.from_tensor(leaf, static_shapes=True))
            continue
        dynamic = [DimDynamic.DYNAMIC if i in marked else DimDynamic.STATIC for i in range(leaf.dim())]
        fake = mode.from_tensor(leaf, symbolic_context=StatelessSymbolicContext(dynamic_sizes=dynamic))
        for i, name in marked.items():
            if name in firsts:  # two inputs holding one size: the second equals the first
                torch._check(fake.shape[i] == firsts[name])
            else:
                firsts[name] = fake.shape[i]
                symbols[name] = fake.shape[i].node.expr
        faked.append(fake)
    return tree_unflatten(faked, spec)


def symbolic_capture(model: Any, inputs: Any, dims: list[SizeDim], *, grad: bool = False,
                     label: str = "model", replay: bool = True) -> SymbolicCapture:
    """Capture ``model(*inputs)`` once with the input dimensions ``dims`` symbolic.

    inputs: real or meta example inputs (their sizes are the hints: none of the marked
    ones may be 0 or 1, which PyTorch specialises). Every other dimension, and every
    parameter and buffer, keeps its size. replay: record a repeated layer once and copy
    its records for the others (roofline.capture.replay; calls under no_grad only).
    Raises SymbolicUnavailable (one line naming
    ``label``) when the model fails on fake tensors or its shapes depend on data.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    env = ShapeEnv(duck_shape=False, specialize_zero_one=False)
    mode = FakeTensorMode(shape_env=env, allow_non_fake_inputs=False)
    # Replayed layers leave each op to run about once: the dispatch cache's keys and
    # entries would cost more than they save (half of a capture's time).
    mode.cache_enabled = False
    symbols: dict[str, Any] = {}
    root = model if isinstance(model, torch.nn.Module) else None
    try:
        fake_inputs = _fake_inputs(mode, inputs, dims, symbols)
        with (torch.set_grad_enabled(grad), _fake_parameters(root, mode), mode, ModuleReplay(root if replay else None),
              _eager_whole_indexing()):
            records, _ = capture(model, fake_inputs)
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise SymbolicUnavailable(f"{label}: cannot run on fake tensors with symbolic sizes: "
                                  f"{type(exc).__name__}: {first_line}") from exc
    records = _as_eager_records(records)
    backed = getattr(env, "backed_var_to_val", None) or env.var_to_val
    hints = {name: int(backed[symbol]) for name, symbol in symbols.items()}
    result = SymbolicCapture(records, env, symbols, hints)
    unbacked = sorted(str(s) for s in env.var_to_range if s not in backed)
    if unbacked:
        op = _first_unbacked_op(result)
        raise SymbolicUnavailable(f"{label}: data-dependent sizes ({', '.join(unbacked)}"
                                  f"{f', from {op}' if op else ''}): the closed forms would depend on values")
    return result


def _is_whole_slice(record: OpRecord) -> bool:
    """A slice that takes a whole dimension (``x[:, :, None]``: start 0, end past any
    size, step 1). Eager indexing returns the tensor itself without dispatching one; with
    a symbolic size it cannot tell the slice is whole, so it dispatches."""
    if record.op != "aten.slice.Tensor":
        return False
    named = record.named_args()
    return named.get("start", 0) in (0, None) and named.get("end") in (None, sys.maxsize) and named.get("step", 1) == 1


def _is_whole_index(index: Any) -> bool:
    """An index made of whole slices and Ellipsis only (``x[:, 0:]``, ``x[...]``)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(part is Ellipsis or (isinstance(part, slice) and part.start in (0, None) and part.stop in (None, sys.maxsize)
                                    and part.step in (1, None)) for part in parts)


class _eager_whole_indexing:
    """While active, an index of whole slices returns an alias, as in eager.

    Eager indexing skips a whole slice, and when the result is the tensor itself returns
    ``aten.alias`` of it (one recorded op). With a symbolic size the slice is dispatched,
    and dropped from the records (_as_eager_records), so the alias eager makes is made
    here, after the indexing, where its records were whole slices only."""

    def __enter__(self) -> None:
        from roofline.capture.mode import active_capture

        original = torch.Tensor.__getitem__

        def getitem(tensor: torch.Tensor, index: Any) -> Any:
            found = active_capture()
            start = len(found.records) if found is not None else 0
            out = original(tensor, index)
            if found is not None and isinstance(out, torch.Tensor) and _is_whole_index(index):
                made = found.records[start:]
                if made and all(_is_whole_slice(r) for r in made):
                    out = torch.ops.aten.alias.default(out)
            return out

        torch.Tensor.__getitem__ = getitem

    def __exit__(self, *exc: object) -> None:
        del torch.Tensor.__getitem__  # torch.Tensor inherits it from TensorBase: back to that


#: Size queries (``x.size(0)``) a tensor with symbolic sizes answers through the
#: dispatcher; on a plain tensor they are attribute reads, never ops.
_SIZE_QUERIES = frozenset({"aten.size", "aten.sym_size", "aten.stride", "aten.sym_stride", "aten.numel",
                           "aten.sym_numel", "aten.sym_storage_offset", "aten.dim"})


def _as_eager_records(records: list[OpRecord]) -> list[OpRecord]:
    """The records eager would have made: no size queries and no whole-dimension slices,
    renumbered."""
    kept = [r for r in records if r.packet not in _SIZE_QUERIES and not _is_whole_slice(r)]
    return [r if r.index == i else dataclasses.replace(r, index=i) for i, r in enumerate(kept)]


def _first_unbacked_op(result: SymbolicCapture) -> str | None:
    """The first op whose output shape holds a data-dependent size."""
    for record in result.records:
        for info in record.outputs:
            if any(result.free(result.expr(size)) for size in info.shape):
                return record.op
    return None


class _fake_parameters:
    """Swap a module's parameters and buffers for fake tensors of the same shapes while
    active (tied weights stay tied); a plain callable is left alone."""

    def __init__(self, model: torch.nn.Module | None, mode: Any):
        self.model, self.mode, self.context = model, mode, None

    def __enter__(self) -> None:
        if self.model is None:
            return
        from torch.nn.utils.stateless import _reparametrize_module

        tensors = {**dict(self.model.named_parameters()), **dict(self.model.named_buffers())}
        owners: dict[int, int] = {}  # storage -> tensors stored there
        for t in {id(t): t for t in tensors.values()}.values():
            key = t.untyped_storage()._cdata
            owners[key] = owners.get(key, 0) + 1
        made: dict[int, Any] = {}  # id of a tensor -> its fake (a tied weight is one tensor)
        self.templates: dict[tuple, Any] = {}
        for t in tensors.values():
            if id(t) not in made:
                made[id(t)] = self._fake(t, owners)
        fakes = {name: made[id(t)] for name, t in tensors.items()}
        self.context = _reparametrize_module(self.model, fakes, tie_weights=True)
        self.context.__enter__()

    def _fake(self, t: torch.Tensor, owners: dict[int, int]) -> Any:
        """A fake of ``t`` when it alone fills its storage (the common case): a new tensor
        object over one fake allocation per shape, stride and dtype (a detached view: a
        twentieth of from_tensor's cost; tensors are told apart by object, and storages
        are only asked whether they hold weights), else through from_tensor, which keeps
        the sharing."""
        if (t.layout is torch.strided and not t.is_quantized and t.storage_offset() == 0
                and owners[t.untyped_storage()._cdata] == 1 and t.untyped_storage().nbytes() == t.numel() * t.element_size()
                and type(t) in (torch.Tensor, torch.nn.Parameter)):
            key = (tuple(t.shape), t.stride(), t.dtype, t.device)
            with self.mode:
                template = self.templates.get(key)
                if template is None:
                    template = self.templates[key] = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype,
                                                                         device=t.device)
                return template.detach().requires_grad_(t.requires_grad)
        return self.mode.from_tensor(t, static_shapes=True)

    def __exit__(self, *exc: object) -> None:
        if self.context is not None:
            self.context.__exit__(*exc)
