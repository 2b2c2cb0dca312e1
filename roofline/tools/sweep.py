"""Sweeps: one model over a grid of shapes (batch, seq) and hardware specs.

Two paths give the same rows. The symbolic one (roofline.tools.symbolic_sweep) captures
the model once with symbolic batch and seq, so every op's FLOPs and bytes are closed
forms in them, and evaluates the whole grid on every spec with vectorised numpy; a
sweep takes it when the grid has SYMBOLIC_MIN_SHAPES shapes or more and the model
allows it. Otherwise (data-dependent shapes, a model that fails on fake tensors, a
small grid) each shape is built and captured once, and every spec is a re-prediction of
the same counted ops (Analysis.with_hw). A one-line note says which path ran and why.
The result is one tidy DataFrame, one row per (shape, spec), that writes straight to
CSV; roofline.report.plot.plot_sweep draws predicted time against batch size, one line
per spec.
"""

from __future__ import annotations

import inspect
import math
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roofline._io import progress as progress_bar
from roofline._io import write_text_atomic
from roofline.analysis import Analysis, analyze
from roofline.count.categories import CATEGORIES
from roofline.errors import RooflineError, TargetError
from roofline.hardware import HardwareSpec, load_hardware


def category_column(category: str) -> str:
    """The sweep column holding one category's predicted time: "Element-wise" -> "element_wise_s"."""
    return re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_") + "_s"


#: Columns of a sweep frame, in order: what was analysed (target, dtype, parameter count,
#: batch and seq: the values given, else the build function's defaults; seq empty for a
#: model without one), the spec, then the totals. Times in seconds, FLOPs in FLOP, bytes
#: in bytes, intensity in FLOP/byte, throughput in samples per second.
SWEEP_COLUMNS: tuple[str, ...] = (
    "target",
    "dtype",
    "params",
    "batch",
    "seq",
    "hw",
    "predicted_s",
    "samples_per_s",
    "total_flops",
    "total_bytes",
    "intensity",
    "ops",
    "unsupported_ops",
    *(category_column(c) for c in CATEGORIES),
)


def sweep_row(analysis: Analysis, target: str, batch: int | None, seq: int | None) -> dict[str, Any]:
    """One sweep row (SWEEP_COLUMNS) from an Analysis: its totals and per-category times."""
    summary = analysis.summary()
    per_category = analysis.by_category()["predicted_s"]
    row: dict[str, Any] = {
        "target": target,
        "dtype": analysis.workload.dtype,
        "params": analysis.workload.params,
        "batch": batch,
        "seq": seq,
        "hw": analysis.hw.name,
        "predicted_s": summary["predicted_s"],
        "samples_per_s": batch / summary["predicted_s"] if batch and summary["predicted_s"] > 0 else math.nan,
        "total_flops": summary["total_flops"],
        "total_bytes": summary["total_bytes"],
        "intensity": summary["intensity"],
        "ops": summary["ops"],
        "unsupported_ops": summary["unsupported_ops"],
    }
    for category in CATEGORIES:
        row[category_column(category)] = float(per_category[category])
    return row


def _check_seq_option(target: str) -> None:
    """A clear error when --seq is given for a model whose build function has no seq."""
    from roofline.targets import resolve_builder

    builder, name = resolve_builder(target)
    try:
        parameters = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        return
    if "seq" not in parameters and not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        raise TargetError(f"{name}: its build function takes no 'seq' option, so the sweep cannot vary seq")


def _check_sizes(values: Sequence[int | None], what: str) -> list[int | None]:
    values = list(values)
    if not values:
        raise RooflineError(f"sweep: no {what} values given")
    for value in values:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise RooflineError(f"sweep: {what} values must be positive integers, got {value!r}")
    return values


#: Sweep methods: "auto" (symbolic when the grid is large enough and the model allows
#: it), "symbolic" (symbolic wherever the model allows it) and "capture" (one capture per shape).
METHODS = ("auto", "symbolic", "capture")
#: Shapes from which "auto" takes the symbolic path: with repeated layers recorded once,
#: a symbolic capture costs about as much as one or two plain ones, and a grid needs
#: two (batch 1 is a region of its own); from 4 shapes the symbolic path is faster on
#: the zoo's transformers (docs/performance.md).
SYMBOLIC_MIN_SHAPES = 4


class SweepNote(UserWarning):
    """Which path a sweep took (a warning when no ``note`` callback is given)."""


def sweep(
    target: str,
    hw: Sequence[str | HardwareSpec],
    batch: Sequence[int | None] = (None,),
    seq: Sequence[int | None] | None = None,
    *,
    meta: bool = False,
    dtype: str | None = None,
    options: dict[str, Any] | None = None,
    strict: bool = False,
    progress: bool = False,
    method: str = "auto",
    note: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Predict ``target`` (a zoo name or path/to/file.py[:function]) on every spec in
    ``hw`` at every (batch, seq) in the grid.

    Builds and captures each shape once (batch x seq builds), then predicts it on each
    spec from the stored ops. batch/seq: build options (None: the build function's
    default; seq needs a build function with a ``seq`` option). meta: build on the meta
    device (no data, any size). dtype, strict: as for analyze. progress: show a rich
    progress bar on stderr. method: one of METHODS (see there); "symbolic" still falls
    back to one capture per shape where the model does not allow it. note: called with
    one line saying which path ran and why (default: a SweepNote warning, only when the
    symbolic path was asked for, or chosen, and did not hold).

    Returns a DataFrame with SWEEP_COLUMNS, one row per (batch, seq, spec) in grid order.
    Every spec is loaded before any model is built, so a bad name fails at once.
    """
    if isinstance(hw, (str, HardwareSpec)):
        hw = [hw]
    specs = [load_hardware(h) for h in hw]
    if not specs:
        raise RooflineError("sweep: no hardware spec given")
    batches = _check_sizes(batch, "batch")
    seqs = _check_sizes(seq, "seq") if seq is not None else [None]
    if any(s is not None for s in seqs):
        _check_seq_option(target)
    shapes = [(b, s) for b in batches for s in seqs]
    if method not in METHODS:
        raise RooflineError(f"sweep: unknown method {method!r}: expected one of {', '.join(METHODS)}")
    def tell(line: str, fallback: bool = False) -> None:
        if note is not None:
            note(line)
        elif fallback:
            warnings.warn(line, SweepNote, stacklevel=3)

    symbolic = None
    if method == "symbolic" or (method == "auto" and len(shapes) >= SYMBOLIC_MIN_SHAPES):
        symbolic = _symbolic(target, specs, batches, seqs, tell, meta=meta, dtype=dtype, options=options, strict=strict)
    elif method == "auto":
        tell(f"sweep: {target}: one capture per shape ({len(shapes)} shapes, fewer than {SYMBOLIC_MIN_SHAPES}: "
             "a symbolic capture would not pay off)")
    else:
        tell(f"sweep: {target}: one capture per shape (method capture)")
    covered = symbolic.covered if symbolic is not None else np.zeros(len(shapes), dtype=bool)
    todo = [(i, shape) for i, shape in enumerate(shapes) if not covered[i]]
    if symbolic is not None and todo:
        tell(f"sweep: {target}: {len(todo)} shape(s) outside the symbolic captures' guards: one capture each",
             fallback=True)
    rows = _captured_rows(target, specs, todo, meta=meta, dtype=dtype, options=options, strict=strict,
                          progress=progress)
    frame = pd.DataFrame(rows, columns=["point", "spec", *SWEEP_COLUMNS])
    if symbolic is not None and len(symbolic.frame):
        renamed = symbolic.frame.rename(columns={f"category:{c}": category_column(c) for c in CATEGORIES})
        frame = pd.concat([renamed, frame] if len(frame) else [renamed], ignore_index=True)
    frame = frame.sort_values(["point", "spec"], kind="stable")[list(SWEEP_COLUMNS)].reset_index(drop=True)
    frame["batch"] = frame["batch"].astype("Int64")
    frame["seq"] = frame["seq"].astype("Int64")
    return frame


def _symbolic(target: str, specs: list[HardwareSpec], batches: list, seqs: list, tell: Callable[..., None],
              **kwargs: Any) -> Any:
    """The symbolic path's SymbolicGrid, or None (with a note saying why) when the
    target does not allow it."""
    from roofline.capture.symbolic import SymbolicUnavailable
    from roofline.tools.symbolic_sweep import symbolic_grid

    try:
        grid = symbolic_grid(target, specs, batches, seqs, **kwargs)
    except SymbolicUnavailable as exc:
        tell(f"sweep: {target}: one capture per shape (no symbolic capture: {exc})", fallback=True)
        return None
    shapes = len(grid.covered)
    tell(f"sweep: {target}: symbolic capture ({grid.regions} capture(s) for {shapes} shapes x {len(specs)} specs)")
    return grid


def _captured_rows(target: str, specs: list[HardwareSpec], todo: list[tuple[int, tuple[Any, Any]]], *, meta: bool,
                   dtype: str | None, options: dict[str, Any] | None, strict: bool, progress: bool) -> list[dict[str, Any]]:
    """Sweep rows (with their point and spec indices) of the shapes ``todo``, each built
    and captured once, then predicted on every spec."""
    from roofline.targets import build, options_at

    rows: list[dict[str, Any]] = []
    with progress_bar(progress, "sweep", len(todo) * len(specs)) as advance:
        for point, (b, s) in todo:
            label = f"batch={b}" + (f" seq={s}" if s is not None else "")
            advance(0, f"capturing {target} {label}")
            built = build(target, batch=b, meta=meta, options=options_at(options, s))
            first = analyze(built.model, built.inputs, hw=specs[0], dtype=dtype, name=built.name, strict=strict,
                            batch=built.batch, seq=built.seq)
            del built  # only the counted ops are needed from here on
            for index, spec in enumerate(specs):
                analysis = first if spec is specs[0] else first.with_hw(spec)
                row = sweep_row(analysis, analysis.name, analysis.workload.batch, analysis.workload.seq)
                rows.append({"point": point, "spec": index, **row})
                advance(1, f"predicting {target} {label} on {spec.name}")
    return rows


def sweep_csv(frame: pd.DataFrame) -> str:
    """A sweep frame as CSV text, one row per (shape, spec)."""
    return frame.to_csv(index=False)


def write_sweep_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a sweep frame as CSV, atomically (complete or absent). Returns the path."""
    path = Path(path)
    write_text_atomic(path, sweep_csv(frame))
    return path

