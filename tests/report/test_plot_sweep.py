"""plot_sweep lives in report (roofline/report/plot/sweep.py), not in tools.sweep: it
draws a sweep frame, one line per spec and one panel per seq, and computes nothing."""

from __future__ import annotations

import pandas as pd

import roofline.tools.sweep as sweep_module
from roofline import plot
from roofline.report.plot import plot_sweep
from roofline.tools.sweep import SWEEP_COLUMNS
from tests.report.plot_helpers import assert_real_image, refuse_predictions


def _frame(seqs=(None,)) -> pd.DataFrame:
    """A hand-made sweep frame: two specs x three batches x ``seqs``, time linear in batch."""
    rows = []
    for seq in seqs:
        for hw, per_sample in (("h100-sxm", 1e-5), ("t4", 8e-5)):
            for batch in (1, 8, 64):
                rows.append({column: 0.0 for column in SWEEP_COLUMNS}
                            | {"target": "mlp", "dtype": "bf16", "params": 1500, "batch": batch, "seq": seq, "hw": hw,
                               "predicted_s": per_sample * batch, "samples_per_s": 1 / per_sample})
    frame = pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))
    frame["batch"] = frame["batch"].astype("Int64")
    frame["seq"] = frame["seq"].astype("Int64")
    return frame


def test_plot_sweep_lives_in_report():
    assert plot.plot_sweep is plot_sweep
    assert plot_sweep.__module__ == "roofline.report.plot.sweep"
    assert not hasattr(sweep_module, "plot_sweep")


def test_plot_sweep_time_and_throughput_one_line_per_spec_one_row_per_seq(monkeypatch):
    refuse_predictions(monkeypatch)
    fig = plot_sweep(_frame())
    ax, rate = fig.axes
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines) == ["h100-sxm", "t4"]
    assert list(lines["t4"].get_xdata()) == [1.0, 8.0, 64.0]
    assert list(lines["t4"].get_ydata()) == [8e-5, 64e-5, 512e-5]
    assert list(rate.lines[1].get_ydata()) == [1 / 8e-5] * 3
    assert ax.get_title() == "mlp · bf16 · 1.5k params"  # what was swept, not just its name
    assert rate.get_ylabel() == "throughput (samples/s)"
    assert_real_image(fig, 1320, 504)  # 2 x 5.5 x 4.2 inches at 120 dpi
    wide = plot_sweep(_frame(seqs=(16, 32)))
    assert [a.get_title() for a in wide.axes[::2]] == ["mlp · bf16 · 1.5k params · seq 16", "mlp · bf16 · 1.5k params · seq 32"]


def test_plot_sweep_along_seq_when_the_batch_is_fixed(monkeypatch):
    frame = _frame(seqs=(64, 128))
    frame = frame[frame["batch"] == 1]
    fig = plot_sweep(frame)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "sequence length" and ax.get_title() == "mlp · bf16 · 1.5k params · batch 1"
    assert list(ax.lines[0].get_xdata()) == [64.0, 128.0]
