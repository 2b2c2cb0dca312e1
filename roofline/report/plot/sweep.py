"""Predicted time and throughput from a sweep frame (roofline.tools.sweep.sweep), against
the size that varies (batch size, or seq when the batch is fixed): one line per spec.
It reads the frame only."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from roofline.errors import RooflineError

from roofline.report.plot._common import new_figure, si_tick, time_tick

_PANEL_SIZE = (5.5, 4.2)  # inches per seq panel
_DPI = 120.0


def sweep_axis(frame: pd.DataFrame) -> tuple[str, str]:
    """The column a sweep varies and draws along, and the one it holds per panel:
    ("batch", "seq") unless the batch is one value and seq varies ("seq", "batch")."""
    batches, seqs = frame["batch"].dropna().nunique(), frame["seq"].dropna().nunique()
    return ("seq", "batch") if batches <= 1 and seqs > 1 else ("batch", "seq")


def _configuration(frame: pd.DataFrame, fixed: str, value: object) -> str:
    """'gpt2 · fp32 · 124M params · seq 1024': the model and what the panel holds fixed."""
    first = frame.iloc[0]
    parts = [str(first["target"])]
    if "dtype" in frame:
        parts.append(str(first["dtype"]))
    if "params" in frame and first["params"]:
        from roofline.workload import format_count

        parts.append(f"{format_count(first['params'])} params")
    if not pd.isna(value):
        parts.append(f"{fixed} {value}")
    return " · ".join(parts)


def plot_sweep(frame: pd.DataFrame) -> Figure:
    """A matplotlib Figure of a sweep (save it with roofline.report.plot.save): for each
    value of the size held fixed, predicted time (left) and throughput in samples per
    second (right) against the size that varies (sweep_axis), one line per spec. Reads
    the frame only.

    frame: a sweep frame (roofline.tools.sweep.SWEEP_COLUMNS; target, batch, seq, hw,
    predicted_s and samples_per_s are used). Axes: log 2 for the size, log 10 for the rest.
    """
    x, fixed = sweep_axis(frame)
    if frame[x].dropna().empty:
        raise RooflineError(f"plot_sweep: no {x} values to draw along (give --batch or --seq)")
    panels = list(frame[fixed].drop_duplicates())
    figure = new_figure(2 * _PANEL_SIZE[0], _PANEL_SIZE[1] * len(panels), _DPI)
    figure.set_layout_engine("tight")
    grid = figure.subplots(len(panels), 2, squeeze=False)
    for (time_ax, rate_ax), value in zip(grid, panels):
        panel = frame[frame[fixed].isna()] if pd.isna(value) else frame[frame[fixed] == value]
        for hw, points in panel.groupby("hw", sort=False):
            points = points.dropna(subset=[x]).sort_values(x)
            time_ax.plot(points[x].astype(float), points["predicted_s"], marker="o", label=hw)
            if "samples_per_s" in points:
                rate_ax.plot(points[x].astype(float), points["samples_per_s"], marker="o", label=hw)
        for ax, label in ((time_ax, f"predicted time per {'batch' if x == 'batch' else 'step'} (s)"),
                          (rate_ax, "throughput (samples/s)")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("batch size" if x == "batch" else "sequence length")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
            # the sizes swept as ticks ("64", not "2^6"); 1-2-3-5 steps on the other axis
            ax.set_xticks(sorted(panel[x].dropna().astype(float).unique()))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
            ax.yaxis.set_minor_formatter(NullFormatter())
        # times as "2 ms", rates as "600": readable without reading an exponent
        time_ax.yaxis.set_major_formatter(time_tick())
        rate_ax.yaxis.set_major_formatter(si_tick(""))
        time_ax.set_title(_configuration(frame, fixed, value))
        rate_ax.legend(title="spec", fontsize="small")
    return figure
