"""Validation from a profiler trace taken anywhere: an Analysis joined op by op with the
aten ops of a torch.profiler (Kineto) Chrome trace (roofline.measure.trace).

    c = compare_trace(analysis, "trace.json")   # a Comparison, as a live validation gives
    c.by_category(); c.summary(); c.analysis_only; c.trace_only

A GPU trace (one with device kernels) is compared on the "kernel" basis: each op's
summed kernel time against its predicted kernel_s, and the device idle between the ops'
kernels (Other) against the launch and dispatch overhead the model charges. A CPU-only
trace is compared on the "wall" basis: each op's duration against its predicted_s.

The join follows the forward: the two op sequences (names in execution order) are
aligned as a diff aligns lines (difflib's longest matching blocks), so an op one side
has and the other lacks (a profiler that records an op the capture decomposes, a
symbolic op, a second forward) is set apart and reported, not shifted onto its
neighbours. A trace of several back-to-back forwards of the model is averaged per op.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roofline.errors import RooflineError
from roofline.measure.compare import Comparison, compare_frames
from roofline.measure.trace import TraceRun, read_profile, trace_op_name

__all__ = ["MIN_MATCHED", "compare_trace", "join_trace", "predicted_other_s"]

#: Below this fraction of the analysis' ops found in the trace, it is not a trace of the model.
MIN_MATCHED = 0.5


def predicted_other_s(ops: pd.DataFrame, basis: str, between_ops_s: float = 0.0) -> float:
    """Predicted time between ops (s) on a basis: "kernel": the per-op launch and
    dispatch overhead outside kernels, sum(predicted_s - kernel_s); "wall":
    ``between_ops_s`` (Analysis.between_ops_s: the Python of the module calls), the
    per-op dispatch being inside each op's predicted_s as it is inside its measured time."""
    if basis == "kernel":
        return float((ops["predicted_s"] - ops["kernel_s"]).sum())
    return between_ops_s


def _forwards(run: TraceRun, names: list[str]) -> tuple[pd.DataFrame, float, int]:
    """The trace's ops as one forward: per-op means when it holds k >= 2 back-to-back
    repeats of exactly the analysis' op sequence, else as they are. Returns (ops,
    forward seconds, k)."""
    n, ops = len(names), run.ops
    k = len(ops) // n if n else 0
    if k < 2 or len(ops) != k * n or list(ops["op"]) != names * k:
        return ops, run.forward_s, 1
    position = np.tile(np.arange(n), k)
    mean = ops.groupby(position).agg(op=("op", "first"), measured_s=("measured_s", "mean"),
                                     start_us=("start_us", "first"), host_s=("host_s", "mean"),
                                     kernels=("kernels", "mean"))
    return mean.reset_index(drop=True), run.forward_s / k, k


def join_trace(names: list[str], traced: list[str]) -> list[tuple[int, int]]:
    """(analysis index, trace index) pairs of the ops the two sequences share, in order:
    the longest matching blocks of the two name lists."""
    matcher = difflib.SequenceMatcher(None, names, traced, autojunk=False)
    return [(a + i, b + i) for a, b, size in matcher.get_matching_blocks() for i in range(size)]


def _check_matched(analysis: Any, path: str, run_ops: pd.DataFrame, matched: int) -> None:
    n = len(analysis.ops)
    if n and matched < MIN_MATCHED * n:
        seen = ", ".join(dict.fromkeys(run_ops["op"].head(8)))
        raise RooflineError(
            f"{path}: only {matched} of the {n} ops of {analysis.name} are in the trace (its first ops: {seen}); "
            "is it a trace of this model, with the same batch and options?")


def compare_trace(analysis: Any, path: str | Path) -> Comparison:
    """Comparison of an Analysis with a torch.profiler trace of the same model (see the
    module doc). Times in seconds. A RooflineError naming the file when it is missing,
    not JSON, holds no aten op, or is not a trace of this model."""
    names = list(analysis.ops["op"].astype(str))
    run = read_profile(path, recorded={trace_op_name(op) for op in names})
    trace_ops, forward_s, _repeats = _forwards(run, names)
    pairs = join_trace(names, list(trace_ops["op"]))
    _check_matched(analysis, str(path), trace_ops, len(pairs))
    basis = "kernel" if run.device == "cuda" else "wall"
    predicted = analysis.ops.copy()
    if basis == "kernel":
        predicted["predicted_s"] = predicted["kernel_s"]
    a_index = [a for a, _ in pairs]
    t_index = [t for _, t in pairs]
    ops = compare_frames(predicted.iloc[a_index], trace_ops.iloc[t_index].reset_index(drop=True), name=analysis.name)
    a_rest = predicted.drop(index=predicted.index[a_index])
    t_rest = trace_ops.drop(index=trace_ops.index[t_index])
    return Comparison(
        name=analysis.name,
        hw_name=analysis.hw.name,
        device=f"{run.device} (trace)",
        ops=ops,
        forward_s=forward_s,
        profiler_s=float(trace_ops["measured_s"].sum()),
        profiler_kind="device kernels" if basis == "kernel" else "top-level aten ops",
        threads=None,
        basis=basis,
        other_predicted_s=predicted_other_s(analysis.ops, basis, analysis.between_ops_s),
        source=str(path),
        analysis_only=a_rest[["op", "predicted_s"]].rename_axis("index"),
        trace_only=t_rest[["op", "measured_s", "start_us"]],
    )
