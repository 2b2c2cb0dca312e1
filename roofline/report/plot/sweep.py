"""Predicted time against batch size from a sweep frame (roofline.tools.sweep.sweep):
one line per spec, one panel per seq. It reads the frame only."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from roofline.report.plot._common import new_figure

_PANEL_SIZE = (5.5, 4.2)  # inches per seq panel
_DPI = 120.0


def plot_sweep(frame: pd.DataFrame) -> Figure:
    """A matplotlib Figure of predicted time per batch, one line per spec, one panel per
    seq (save it with roofline.report.plot.save). Reads the frame only.

    frame: a sweep frame (roofline.tools.sweep.SWEEP_COLUMNS; target, batch, seq, hw and
    predicted_s are used). Axes: batch size (log 2) and predicted seconds per batch (log 10).
    """
    seqs = list(frame["seq"].drop_duplicates())
    figure = new_figure(_PANEL_SIZE[0] * len(seqs), _PANEL_SIZE[1], _DPI)
    figure.set_layout_engine("tight")
    axes = figure.subplots(1, len(seqs), squeeze=False, sharey=True)[0]
    for ax, seq in zip(axes, seqs):
        panel = frame[frame["seq"].isna()] if pd.isna(seq) else frame[frame["seq"] == seq]
        for hw, points in panel.groupby("hw", sort=False):
            points = points.dropna(subset=["batch"]).sort_values("batch")
            ax.plot(points["batch"].astype(float), points["predicted_s"], marker="o", label=hw)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_title(f"{frame['target'].iloc[0]}" + ("" if pd.isna(seq) else f", seq {seq}"))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("predicted time per batch (s)")
    axes[-1].legend(title="spec", fontsize="small")
    return figure
