"""The symbolic path of a sweep: capture a target once per region of the (batch, seq)
grid with those sizes symbolic, then predict every point of the region on every spec
with vectorised numpy (roofline.tools.symbolic).

Which input dimensions are the batch and the sequence is found by building the target
at two points of the grid: a dimension that equals the batch (or seq) at both is that
size. A target whose parameters change with the sizes, or whose inputs have dimensions
that change but are neither size, cannot be captured once for the grid
(SymbolicUnavailable). The first capture runs at a point inside the grid with sizes of
2 or more; its guards say which points its closed forms hold for; the next capture runs
at the first point left out (batch 1 is one such point for most models), up to
MAX_REGIONS captures, or until a capture holds at its own point only (a model that
decides on its sizes, e.g. loops over the batch). Points still left are returned as not
covered, for the caller to capture one by one.

The closed forms of each region are kept for the rest of the process (REGIONS, keyed by
the target, its options, dtype and the sizes varied; a file target also by its
modification time), so a second sweep of the same target, on other specs or another
grid, captures again only for points no kept region holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils._pytree import tree_flatten

from roofline.capture import persistent_bytes
from roofline.capture.inputs import cast_inputs, converted_copy
from roofline.capture.symbolic import SizeDim, SymbolicUnavailable
from roofline.count.categories import CATEGORIES
from roofline.dtypes import parse_dtype
from roofline.errors import UnsupportedOpError
from roofline.hardware import HardwareSpec
from roofline.predict import Tf32Policy
from roofline.tools.symbolic import ClosedForms, closed_forms
from roofline.workload import compute_dtype, count_params

__all__ = ["MAX_REGIONS", "REGIONS", "Region", "SymbolicGrid", "size_dims", "symbolic_grid"]

#: The most symbolic captures one sweep makes before capturing the points left one by one.
MAX_REGIONS = 4


@dataclass(frozen=True)
class SymbolicGrid:
    """The symbolic path's result: ``frame``, the sweep rows (SWEEP_COLUMNS values plus
    ``point`` and ``spec``, the indices of the shape and the spec) of the covered points;
    ``covered``, per shape, whether a closed form held there; ``regions``, the symbolic
    captures made."""

    frame: pd.DataFrame
    covered: np.ndarray
    regions: int


@dataclass(frozen=True)
class Region:
    """The closed forms of one symbolic capture, and what the rows say about the model:
    name, dtype key, parameter count, resident bytes (parameters and buffers, B), and
    the batch and seq its build reported (for a size the grid does not vary)."""

    forms: ClosedForms
    name: str
    dtype: str
    params: int
    resident_bytes: float
    batch: int | None
    seq: int | None


#: Regions kept per (target, options, dtype, meta, sizes varied, file time): see the module docstring.
REGIONS: dict[tuple, tuple[list[SizeDim], list[Region]]] = {}


def _cache_key(target: str, meta: bool, dtype: str | None, options: dict[str, Any] | None, varying: Sequence[str]) -> tuple:
    """REGIONS's key; a file target's includes its modification time (an edited file is new)."""
    import os

    path = target.partition(":")[0] if ".py" in target else target
    stamp = os.stat(path).st_mtime_ns if os.path.isfile(path) else None
    return (target, stamp, meta, dtype, tuple(sorted((k, repr(v)) for k, v in (options or {}).items())), tuple(varying))


@dataclass(frozen=True)
class _Build:
    """A build for one region: the model and inputs as analyze would run them, and what
    the rows say about them."""

    model: Any
    inputs: Any
    name: str
    batch: int | None
    seq: int | None


def _build(target: str, batch: int | None, seq: int | None, *, meta: bool, dtype: str | None,
           options: dict[str, Any] | None) -> _Build:
    from roofline.targets import build, options_at

    built = build(target, batch=batch, meta=meta, options=options_at(options, seq))
    torch_dtype = parse_dtype(dtype)
    model = built.model
    if isinstance(model, torch.nn.Module) and torch_dtype is not None:
        model = converted_copy(model, None, torch_dtype)
    return _Build(model, cast_inputs(built.inputs, torch_dtype, None), built.name, built.batch, built.seq)


def _shapes(inputs: Any) -> list[tuple[int, ...] | None]:
    return [tuple(leaf.shape) if isinstance(leaf, torch.Tensor) else None for leaf in tree_flatten(inputs)[0]]


def _param_shapes(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    if not isinstance(model, torch.nn.Module):
        return []
    return [(name, tuple(t.shape)) for name, t in (*model.named_parameters(), *model.named_buffers())]


def size_dims(first: _Build, second: _Build, sizes: tuple[dict[str, int], dict[str, int]], label: str) -> list[SizeDim]:
    """The input dimensions that are the named sizes, from two builds at ``sizes``
    (name -> value at each build; every name differs between them)."""
    if _param_shapes(first.model) != _param_shapes(second.model):
        raise SymbolicUnavailable(f"{label}: its parameters change with {', '.join(sizes[0])}, "
                                  "so one capture cannot stand for every size")
    shapes_a, shapes_b = _shapes(first.inputs), _shapes(second.inputs)
    if [s is None or len(s) for s in shapes_a] != [s is None or len(s) for s in shapes_b]:
        raise SymbolicUnavailable(f"{label}: its inputs change structure with the sizes")
    dims: list[SizeDim] = []
    for leaf, (a, b) in enumerate(zip(shapes_a, shapes_b)):
        for dim, (size_a, size_b) in enumerate(zip(a or (), b or ())):
            names = [n for n in sizes[0] if size_a == sizes[0][n] and size_b == sizes[1][n]]
            if len(names) > 1:
                raise SymbolicUnavailable(f"{label}: input dimension {dim} could be {' or '.join(names)}")
            if names:
                dims.append(SizeDim(leaf, dim, names[0]))
            elif size_a != size_b:
                raise SymbolicUnavailable(f"{label}: input dimension {dim} changes with the sizes "
                                          f"({size_a} -> {size_b}) but is none of them")
    return dims


def _start(uncovered: np.ndarray, points: dict[str, np.ndarray]) -> int:
    """The point to capture next: the middle uncovered point whose sizes are all >= 2
    (PyTorch specialises 0 and 1), else the first uncovered one."""
    candidates = np.flatnonzero(uncovered & np.all([v >= 2 for v in points.values()], axis=0))
    if len(candidates):
        return int(candidates[len(candidates) // 2])
    return int(np.flatnonzero(uncovered)[0])


def _probe(index: int, points: dict[str, np.ndarray]) -> int | None:
    """A second point whose every size differs from point ``index``'s, preferring sizes
    that differ from each other too (so a dimension names one size only)."""
    differs = np.all([v != v[index] for v in points.values()], axis=0)
    distinct = differs & (np.all([points[a] != points[b] for a in points for b in points if a < b], axis=0)
                          if len(points) > 1 else True)
    for mask in (distinct, differs):
        found = np.flatnonzero(mask)
        if len(found):
            return int(found[len(found) // 2])
    return None


def symbolic_grid(target: str, specs: Sequence[HardwareSpec], batches: Sequence[int | None], seqs: Sequence[int | None],
                  *, meta: bool, dtype: str | None, options: dict[str, Any] | None, strict: bool) -> SymbolicGrid:
    """Predict ``target`` at every (batch, seq) of the grid batches x seqs on every spec
    through symbolic captures (see the module docstring). Raises SymbolicUnavailable
    when the target cannot be captured symbolically."""
    shapes = [(b, s) for b in batches for s in seqs]
    varying = {name: np.array([shape[i] for shape in shapes], dtype=float)
               for i, name in enumerate(("batch", "seq")) if len({shape[i] for shape in shapes}) > 1}
    if not varying:
        raise SymbolicUnavailable(f"{target}: a single shape, nothing to vary")
    uncovered = np.ones(len(shapes), dtype=bool)
    frames: list[pd.DataFrame] = []
    key = _cache_key(target, meta, dtype, options, list(varying))
    dims, kept = REGIONS.get(key, (None, []))
    for region in kept:  # regions an earlier sweep captured
        covered = region.forms.covers(varying) & uncovered
        if covered.any():
            frames.append(_rows(region, specs, np.flatnonzero(covered), shapes))
            uncovered &= ~covered
    regions = 0
    while uncovered.any() and regions < MAX_REGIONS:
        index = _start(uncovered, varying)
        built = _build(target, *shapes[index], meta=meta, dtype=dtype, options=options)
        if dims is None:
            dims = _find_dims(target, built, index, shapes, varying, meta=meta, dtype=dtype, options=options)
        with torch.no_grad():
            forms = closed_forms(built.model, built.inputs, dims, label=built.name)
        if strict and forms.unsupported_ops:
            _raise_unsupported(forms, built.name)
        covered = forms.covers(varying) & uncovered
        if not covered[index]:
            raise SymbolicUnavailable(f"{built.name}: the symbolic capture does not hold at its own sizes")
        region = Region(forms, built.name, compute_dtype(built.model, built.inputs, None), count_params(built.model),
                        float(persistent_bytes(built.model)), built.batch, built.seq)
        kept.append(region)
        REGIONS[key] = (dims, kept)
        frames.append(_rows(region, specs, np.flatnonzero(covered), shapes))
        uncovered &= ~covered
        regions += 1
        if covered.sum() == 1:  # the model decided on its sizes: another capture would hold at one point too
            break
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return SymbolicGrid(frame=frame, covered=~uncovered, regions=regions)


def _find_dims(target: str, built: _Build, index: int, shapes: list, varying: dict[str, np.ndarray], *, meta: bool,
               dtype: str | None, options: dict[str, Any] | None) -> list[SizeDim]:
    """The input dimensions holding the varied sizes, from a second build (size_dims)."""
    probe = _probe(index, varying)
    if probe is None:
        raise SymbolicUnavailable(f"{target}: no second shape to tell the sizes' dimensions apart")
    other = _build(target, *shapes[probe], meta=meta, dtype=dtype, options=options)
    sizes = tuple({name: int(values[i]) for name, values in varying.items()} for i in (index, probe))
    dims = size_dims(built, other, sizes, built.name)
    missing = sorted(set(varying) - {d.name for d in dims})
    if missing:
        raise SymbolicUnavailable(f"{built.name}: no input dimension holds {', '.join(missing)}")
    return dims


def _raise_unsupported(forms: ClosedForms, name: str) -> None:
    """UnsupportedOpError naming every op with no formula (as Analysis.check_strict)."""
    missing = forms.groups[~forms.groups["supported"]].groupby("op")["count"].sum()
    listed = ", ".join(f"{op} x{n}" for op, n in missing.items())
    raise UnsupportedOpError(f"{name}: {len(missing)} unsupported op(s): {listed}")


def _rows(region: Region, specs: Sequence[HardwareSpec], indices: np.ndarray,
          shapes: list[tuple[int | None, int | None]]) -> pd.DataFrame:
    """Sweep rows (point and spec indices, then SWEEP_COLUMNS values) of the points at
    ``indices`` on every spec, from one region's closed forms."""
    forms = region.forms
    batches = [shapes[i][0] if shapes[i][0] is not None else region.batch for i in indices]
    seqs = [shapes[i][1] if shapes[i][1] is not None else region.seq for i in indices]
    batch = np.array([b or 0 for b in batches], dtype=float)
    points = {name: np.array([v or 0 for v in values], dtype=float)
              for name, values in (("batch", batches), ("seq", seqs)) if name in forms.symbols}
    sizes = forms.sizes(points)
    tf32 = Tf32Policy.from_torch()
    parts = []
    for s, spec in enumerate(specs):
        totals = forms.evaluate(points, spec, tf32=tf32, resident_bytes=region.resident_bytes, sizes=sizes)
        with np.errstate(divide="ignore", invalid="ignore"):
            intensity = np.where(totals.bytes > 0, totals.flops / totals.bytes, np.nan)
            per_sample = np.where((batch > 0) & (totals.predicted_s > 0), batch / totals.predicted_s, np.nan)
        columns = {"point": indices, "spec": s, "target": region.name, "dtype": region.dtype, "params": region.params,
                   "batch": batches, "seq": seqs, "hw": spec.name, "predicted_s": totals.predicted_s,
                   "samples_per_s": per_sample, "total_flops": totals.flops, "total_bytes": totals.bytes,
                   "intensity": intensity, "ops": forms.ops, "unsupported_ops": forms.unsupported_ops}
        columns.update({f"category:{c}": totals.category_s[c] for c in CATEGORIES})
        parts.append(pd.DataFrame(columns))
    return pd.concat(parts, ignore_index=True)
