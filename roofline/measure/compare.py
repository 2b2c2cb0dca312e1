"""Predicted vs measured: the Comparison of an Analysis with a Measurement
(the analyse + measure + compare pipeline behind ``roofline validate`` is
roofline.tools.validate).

    a = roofline.analyze(model, inputs, hw="hw_specs/local-cpu.yaml")
    m = roofline.measure(model, inputs)
    c = a.compare(m)             # or roofline.tools.validate.validate(model, inputs, hw=...)
    c.ops                        # per op: predicted_s, measured_s, ratio, error
    c.by_category()              # the same errors per category, and a Total row
    c.summary()                  # end-to-end error, time-weighted MAPE, median op error

Error definitions (all relative to the measurement, so +0.2 means predicted 20% slow):
- end-to-end error: (predicted forward - measured forward) / measured forward, where the
  measured forward is the whole forward timed without instrumentation (or the span a
  profiler trace's ops cover) and the predicted forward is the sum of predicted op times
  plus the predicted Other (below) and the predictions of ops the trace lacks;
- op-sum error: the same against the sum of the measured per-op times;
- time-weighted MAPE: sum |predicted - measured| / sum measured over ops, i.e. each op's
  absolute percentage error weighted by its share of the measured time;
- median op error: median of |predicted - measured| / measured over the ops that do work
  (views and other no-work ops, predicted at 0 s, are left out of the median only).

Other (between ops), as the seed paper's breakdown has it: the forward's time spent in no
op (Python glue, framework dispatch between ops, garbage collection; on a GPU trace, the
device idle between the ops' kernels): measured forward - sum of measured op times. Its
prediction is what the time model charges outside the ops compared: on the "kernel"
basis (a GPU trace: ops compared by kernel_s) the per-op launch and dispatch overhead
(predicted_s - kernel_s); on the "wall" basis (live runs, CPU traces: ops compared by
predicted_s) the Python of the model's nn.Module calls (Analysis.between_ops_s, from a
calibrated spec's ``measured.module_call_s``; 0 without it), the per-op dispatch cost
being inside each op's predicted_s, where the measurement puts it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from roofline.count.categories import CATEGORIES
from roofline.errors import RooflineError

__all__ = [
    "Comparison",
    "compare",
    "compare_frames",
    "end_to_end_error",
    "time_weighted_error",
    "median_op_error",
    "TARGET_END_TO_END",
    "TARGET_TIME_WEIGHTED",
    "OTHER_ROW",
    "UNMATCHED_ROW",
]

#: by_category's rows for the time between ops and for ops only one side has.
OTHER_ROW = "Other (between ops)"
UNMATCHED_ROW = "Unmatched ops"

#: Fidelity targets: |end-to-end error| and time-weighted per-op error at most these.
TARGET_END_TO_END = 0.15
TARGET_TIME_WEIGHTED = 0.30

COMPARISON_COLUMNS = (
    "op", "module", "category", "bound", "shapes", "predicted_s", "measured_s", "ratio", "error",
)


# --------------------------------------------------------------------------- metrics


def end_to_end_error(predicted_s: float, measured_s: float) -> float:
    """Signed relative error of a total: (predicted - measured) / measured."""
    return (predicted_s - measured_s) / measured_s if measured_s > 0 else math.nan


def time_weighted_error(predicted_s: Any, measured_s: Any) -> float:
    """Time-weighted mean absolute percentage error over ops (a fraction).

    sum_i w_i |p_i - m_i| / m_i with w_i = m_i / sum m, which is sum |p - m| / sum m.
    """
    p = np.asarray(predicted_s, dtype=float)
    m = np.asarray(measured_s, dtype=float)
    total = m.sum()
    return float(np.abs(p - m).sum() / total) if total > 0 else math.nan


def median_op_error(predicted_s: Any, measured_s: Any) -> float:
    """Median over ops of |p - m| / m (a fraction); NaN when there is no op."""
    p = np.asarray(predicted_s, dtype=float)
    m = np.asarray(measured_s, dtype=float)
    keep = m > 0
    if not keep.any():
        return math.nan
    return float(np.median(np.abs(p[keep] - m[keep]) / m[keep]))


# --------------------------------------------------------------------------- result


@dataclass
class Comparison:
    """Per-op predicted vs measured times of one model on one spec and device.

    ops: one row per aten op (index = op index): op, module, category, bound, shapes,
    predicted_s, measured_s (median per call), ratio (predicted / measured) and error
    ((predicted - measured) / measured). Times in seconds.
    forward_s: the measured whole forward; ops_total_s: sum of measured per-op times;
    profiler_s: torch.profiler's self-time total per forward (NaN if it did not run).
    basis: "wall" (ops' predicted_s against measured wall times) or "kernel" (their
    kernel_s against device time, from a GPU trace). other_predicted_s: the predicted
    time between ops (see the module doc). page_faults: median page faults per measured
    forward (NaN from a trace or where the OS does not say). source: the trace file, if read from one.
    analysis_only / trace_only: ops one side has and the other lacks (a trace join):
    op, predicted_s / measured_s, left out of ``ops`` and shown apart.
    """

    name: str
    hw_name: str
    device: str
    ops: pd.DataFrame = field(repr=False)
    forward_s: float
    profiler_s: float = math.nan
    profiler_kind: str = ""
    threads: int | None = None
    basis: str = "wall"
    other_predicted_s: float = 0.0
    source: str = ""
    page_faults: float = math.nan
    analysis_only: pd.DataFrame = field(repr=False, default_factory=lambda: pd.DataFrame(columns=["op", "predicted_s"]))
    trace_only: pd.DataFrame = field(repr=False, default_factory=lambda: pd.DataFrame(columns=["op", "measured_s"]))

    @property
    def predicted_s(self) -> float:
        """Sum of the predicted times of the ops compared (s)."""
        return float(self.ops["predicted_s"].sum())

    @property
    def other_s(self) -> float:
        """Measured time between ops (s): the forward less every measured op (Other)."""
        return self.forward_s - self.ops_total_s - float(self.trace_only["measured_s"].sum())

    @property
    def unmatched_predicted_s(self) -> float:
        """Predicted time of the ops the trace lacks (s)."""
        return float(self.analysis_only["predicted_s"].sum())

    @property
    def predicted_total_s(self) -> float:
        """The predicted forward (s): ops compared, ops the trace lacks, and Other."""
        return self.predicted_s + self.unmatched_predicted_s + self.other_predicted_s

    @property
    def ops_total_s(self) -> float:
        return float(self.ops["measured_s"].sum())

    @property
    def end_to_end_error(self) -> float:
        """(predicted forward - measured whole forward) / measured whole forward."""
        return end_to_end_error(self.predicted_total_s, self.forward_s)

    @property
    def ops_total_error(self) -> float:
        """(predicted total - sum of measured op times) / sum of measured op times."""
        return end_to_end_error(self.predicted_s, self.ops_total_s)

    @property
    def time_weighted_error(self) -> float:
        return time_weighted_error(self.ops["predicted_s"], self.ops["measured_s"])

    @property
    def median_op_error(self) -> float:
        work = self.ops[self.ops["bound"] != "none"]
        return median_op_error(work["predicted_s"], work["measured_s"])

    def meets_targets(self, end_to_end: float = TARGET_END_TO_END, time_weighted: float = TARGET_TIME_WEIGHTED) -> bool:
        """True when |end-to-end error| <= end_to_end and the time-weighted error <= time_weighted."""
        return abs(self.end_to_end_error) <= end_to_end and self.time_weighted_error <= time_weighted

    def summary(self) -> dict[str, Any]:
        """Totals (s) and error metrics (fractions) as plain numbers."""
        return {
            "model": self.name,
            "hw": self.hw_name,
            "device": self.device,
            "threads": self.threads,
            "basis": self.basis,
            "source": self.source,
            "ops": int(len(self.ops)),
            "predicted_s": self.predicted_s,
            "predicted_total_s": self.predicted_total_s,
            "forward_s": self.forward_s,
            "ops_total_s": self.ops_total_s,
            "other_s": self.other_s,
            "other_predicted_s": self.other_predicted_s,
            "other_share": self.other_s / self.forward_s if self.forward_s else math.nan,
            "analysis_only_ops": len(self.analysis_only),
            "trace_only_ops": len(self.trace_only),
            "profiler_s": self.profiler_s,
            "page_faults": self.page_faults,
            "end_to_end_error": self.end_to_end_error,
            "ops_total_error": self.ops_total_error,
            "time_weighted_error": self.time_weighted_error,
            "median_op_error": self.median_op_error,
            "meets_targets": self.meets_targets(),
        }

    def by_category(self) -> pd.DataFrame:
        """Errors per category, every category in taxonomy order, then Other (between
        ops), Unmatched ops (only when a trace join left some), then Total.

        Columns: ops, predicted_s, measured_s, share (of the measured forward), error (of
        the row's summed times), time_weighted_error, median_op_error (work ops only).
        Total is the whole forward: predicted_total_s against forward_s, its error the
        end-to-end error; its time-weighted and median errors are over the ops compared.
        """
        rows = {name: _error_row(self.ops[self.ops["category"] == name]) for name in CATEGORIES}
        rows[OTHER_ROW] = _total_row(0, self.other_predicted_s, self.other_s)
        if len(self.analysis_only) or len(self.trace_only):
            rows[UNMATCHED_ROW] = _total_row(len(self.analysis_only) + len(self.trace_only), self.unmatched_predicted_s,
                                             float(self.trace_only["measured_s"].sum()))
        rows["Total"] = {**_error_row(self.ops), "predicted_s": self.predicted_total_s, "measured_s": self.forward_s,
                         "error": self.end_to_end_error}
        table = pd.DataFrame.from_dict(rows, orient="index")
        total = self.forward_s
        table.insert(3, "share", table["measured_s"] / total if total else math.nan)
        table.index.name = "category"
        return table

    def by_op(self) -> pd.DataFrame:
        """Predicted and measured totals per aten op name, sorted by measured time."""
        grouped = self.ops.groupby("op").agg(
            category=("category", "first"), count=("op", "size"),
            predicted_s=("predicted_s", "sum"), measured_s=("measured_s", "sum"))
        grouped["error"] = (grouped["predicted_s"] - grouped["measured_s"]) / grouped["measured_s"]
        return grouped.sort_values("measured_s", ascending=False)

    def top(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` ops with the largest measured time."""
        return self.ops.nlargest(n, "measured_s")


def _error_row(part: pd.DataFrame) -> dict[str, Any]:
    """One by_category row from a set of compared ops: their summed times and errors."""
    work = part[part["bound"] != "none"]
    predicted, measured = float(part["predicted_s"].sum()), float(part["measured_s"].sum())
    return {
        "ops": len(part),
        "predicted_s": predicted,
        "measured_s": measured,
        "error": end_to_end_error(predicted, measured),
        "time_weighted_error": time_weighted_error(part["predicted_s"], part["measured_s"]),
        "median_op_error": median_op_error(work["predicted_s"], work["measured_s"]),
    }


def _total_row(ops: int, predicted_s: float, measured_s: float) -> dict[str, Any]:
    """A by_category row of summed times with no per-op errors (Other, Unmatched)."""
    return {"ops": ops, "predicted_s": predicted_s, "measured_s": measured_s,
            "error": end_to_end_error(predicted_s, measured_s), "time_weighted_error": math.nan,
            "median_op_error": math.nan}


# --------------------------------------------------------------------------- compare


def compare_frames(predicted: pd.DataFrame, measured: pd.DataFrame, *, name: str = "model") -> pd.DataFrame:
    """Join predicted rows (op, predicted_s, ...) with measured rows (op, measured_s) by
    op index: the join is exact, so both must hold the same ops in the same order.

    Raises RooflineError naming the first index where they disagree.
    """
    if len(predicted) != len(measured):
        raise RooflineError(
            f"{name}: the analysis has {len(predicted)} ops but the measurement has {len(measured)}; "
            "the model ran different ops in the two runs (data-dependent control flow?)"
        )
    p_ops, m_ops = predicted["op"].to_numpy(), measured["op"].to_numpy()
    mismatch = np.flatnonzero(p_ops != m_ops)
    if mismatch.size:
        i = int(mismatch[0])
        raise RooflineError(
            f"{name}: op {i} is {p_ops[i]} in the analysis but {m_ops[i]} in the measurement; "
            "the two runs did not execute the same ops"
        )
    joined = predicted.reset_index(drop=True).copy()
    joined["measured_s"] = measured["measured_s"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        joined["ratio"] = joined["predicted_s"] / joined["measured_s"]
        joined["error"] = (joined["predicted_s"] - joined["measured_s"]) / joined["measured_s"]
    joined.index = predicted.index
    joined.index.name = "index"
    for column in COMPARISON_COLUMNS:
        if column not in joined:
            joined[column] = "" if column in ("module", "shapes", "bound") else math.nan
    return joined[list(COMPARISON_COLUMNS)]


def compare(analysis: Any, measurement: Any) -> Comparison:
    """Comparison of an Analysis's predictions with a Measurement of the same model."""
    ops = compare_frames(analysis.ops, measurement.ops, name=analysis.name)
    return Comparison(
        name=analysis.name,
        hw_name=analysis.hw.name,
        device=measurement.device,
        ops=ops,
        forward_s=measurement.forward_s,
        profiler_s=measurement.profiler_s,
        profiler_kind=measurement.profiler_kind,
        threads=measurement.threads,
        other_predicted_s=analysis.between_ops_s,
        page_faults=measurement.page_faults,
    )
