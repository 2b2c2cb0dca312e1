"""Predicted vs measured time per op: the validation scatter.

It reads a comparison already made (Analysis.compare, roofline.tools.validate, or any
frame with predicted_s, measured_s and category columns); it never measures or compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from roofline.errors import RooflineError
from roofline.report.text import title as figure_title
from roofline.report.plot._common import (
    BAND,
    BAR_COLOR,
    DPI,
    FONT,
    GRID_STYLE,
    IDENTITY,
    INK_COLOR,
    OPS,
    category_color,
    fmt_time,
    frame_of,
    new_figure,
    present_categories,
    time_tick,
)

#: Columns a comparison frame must have.
COMPARISON_COLUMNS = ("predicted_s", "measured_s", "category")
#: Factors of the default error bands: within 25% and within 2x.
DEFAULT_BANDS = (1.25, 2.0)


def comparison_frame(comparison: Any, where: str) -> pd.DataFrame:
    """The per-op frame of a comparison (a frame, or an object holding one as ``.ops``),
    checked for COMPARISON_COLUMNS."""
    frame = frame_of(comparison)
    if not isinstance(frame, pd.DataFrame):
        raise RooflineError(f"{where}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in COMPARISON_COLUMNS if c not in frame.columns]
    if missing:
        raise RooflineError(f"{where}: the comparison frame has no {', '.join(map(repr, missing))} column(s)")
    return frame


def _band_factors(bands: Sequence[float]) -> list[float]:
    """Band factors, ascending; RooflineError unless every one is above 1."""
    factors = sorted(float(b) for b in bands)
    if any(b <= 1 for b in factors):
        raise RooflineError(f"predicted_vs_measured: bands are factors above 1 (e.g. 1.25, 2), got {list(bands)}")
    return factors


def _decades(pred: pd.Series, meas: pd.Series) -> tuple[float, float]:
    """Whole-decade limits covering every point with room on both sides (a default
    range when there is none)."""
    if len(pred):
        lo = min(pred.min(), meas.min()) / 3
        hi = max(pred.max(), meas.max()) * 3
    else:
        lo, hi = 1e-6, 1e-3
    return 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))


def _style_time_axes(ax: Axes, lo: float, hi: float) -> None:
    """Square log-log axes in seconds, measured on x and predicted on y."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # after set_*scale, which resets the formatter
        axis.set_major_formatter(time_tick())
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("measured time per op", fontsize=FONT + 1)
    ax.set_ylabel("predicted time per op", fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.grid(True, which="major", **GRID_STYLE)


def _subtitle(pred: pd.Series, meas: pd.Series, left_out: int) -> str:
    """How many ops are drawn and left out, and the summed times of those drawn."""
    sub = f"{len(pred)} ops"
    if left_out:
        sub += f" ({left_out} without a time on both sides left out)"
    sum_pred, sum_meas = float(pred.sum()), float(meas.sum())
    if sum_meas > 0:
        sub += f"\nsum predicted {fmt_time(sum_pred)} vs measured {fmt_time(sum_meas)} ({sum_pred / sum_meas - 1:+.0%})"
    return sub


def predicted_vs_measured(
    comparison: Any,
    *,
    bands: Sequence[float] = DEFAULT_BANDS,
    title: str | None = None,
    figsize: tuple[float, float] = (5.6, 5.2),
    dpi: float = DPI,
) -> Figure:
    """Predicted vs measured time per op: log-log, measured on x, predicted on y, the
    y = x line and shaded bands where predicted is within each factor of measured.

    comparison: a frame with predicted_s, measured_s (seconds) and category columns, one
    row per op (any frame with those columns), or an object holding one as ``.ops`` (the
    Comparison that Analysis.compare returns). Rows without a positive time on both sides
    are left out and counted in the title.
    """
    frame = comparison_frame(comparison, "predicted_vs_measured")
    factors = _band_factors(bands)
    pred = pd.to_numeric(frame["predicted_s"], errors="coerce")
    meas = pd.to_numeric(frame["measured_s"], errors="coerce")
    ok = (pred > 0) & (meas > 0) & np.isfinite(pred) & np.isfinite(meas)
    fig = new_figure(figsize[0], figsize[1], dpi)
    ax = fig.subplots()
    lo, hi = _decades(pred[ok], meas[ok])
    grid = np.array([lo, hi])
    for b, alpha in zip(reversed(factors), np.linspace(0.08, 0.18, len(factors))):
        ax.fill_between(grid, grid / b, grid * b, color=BAR_COLOR, alpha=float(alpha), lw=0, gid=BAND, label=f"within {b:g}x")
    ax.plot(grid, grid, color=INK_COLOR, lw=1.0, gid=IDENTITY, label="y = x")
    for cat in present_categories(frame.loc[ok, "category"]):
        sel = ok & (frame["category"] == cat)
        ax.scatter(meas[sel], pred[sel], s=14, color=category_color(cat), alpha=0.75, edgecolors="none", gid=OPS, label=cat, zorder=4)
    _style_time_axes(ax, lo, hi)
    ax.set_title(f"{title or 'Predicted vs measured'}\n{_subtitle(pred[ok], meas[ok], int((~ok).sum()))}", fontsize=FONT + 1)
    ax.legend(loc="upper left", fontsize=FONT - 0.5, framealpha=0.85)
    fig.tight_layout()
    return fig


def compare_kind(analysis: Any, *, comparison: Any = None, measured: Any = None, **kw: Any) -> Figure:
    """``plot(analysis, "compare", comparison=...)``: predicted_vs_measured of a comparison
    already made, titled with the model and spec. A bare measurement is refused: turning
    it into a comparison is Analysis.compare's job (Analysis.plot calls it for you)."""
    if comparison is None and measured is not None:
        raise RooflineError("plot(kind='compare'): figures only read results; pass comparison=analysis.compare(measured) "
                            "(Analysis.plot('compare', measured=...) does this)")
    if comparison is None:
        raise RooflineError("plot(kind='compare'): pass comparison=<frame with predicted_s, measured_s, category> or measured=<measurement>")
    kw.setdefault("title", figure_title(analysis))
    return predicted_vs_measured(comparison, **kw)
