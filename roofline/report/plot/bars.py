"""Bar charts of time by category: ``breakdown`` (one stacked bar per model, measured
beside predicted) and ``what_if`` (one model on several specs).

Both only read: ``what_if`` takes the analyses already predicted on each spec (made by
the caller with ``Analysis.with_hw``), it never predicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from roofline.count.categories import CATEGORIES
from roofline.errors import RooflineError
from roofline.measure.compare import OTHER_ROW
from roofline.report.plot._common import (
    BAR_COLOR,
    CATEGORY_COLORS,
    DPI,
    FONT,
    GRID_STYLE,
    TOTAL,
    check_analyses,
    fmt_time,
    frame_of,
    new_figure,
    per_item,
    time_tick,
)
from roofline.units import time_scale

#: Hatch of a measured bar (predicted bars are plain).
MEASURED_HATCH = "//"
#: Colour of a measured bar's time between ops (Other: Python glue, dispatch between ops).
BETWEEN_OPS_COLOR = "#d0d0d0"
#: The two kinds of bar of breakdown.
PREDICTED, MEASURED = "predicted", "measured"
_BAR_WIDTH = 0.85
_WHAT_IF_BAR = 0.7


def _category_seconds(source: Any, where: str, ops: pd.DataFrame | None = None) -> pd.Series:
    """Seconds per category (CATEGORIES order) from an Analysis-like by_category(), a
    frame with category + measured_s (or predicted_s) columns (or an object holding one as
    ``.ops``, such as validate.Comparison), or a Series by category. A per-op frame with
    no category column (Measurement.ops) takes its categories from ``ops`` by op index."""
    source = frame_of(source)
    if isinstance(source, pd.DataFrame) and "category" not in source.columns and ops is not None and "measured_s" in source.columns:
        source = source.assign(category=ops["category"].reindex(source.index))
    if isinstance(source, pd.Series):
        series = source
    elif isinstance(source, pd.DataFrame):
        column = "measured_s" if "measured_s" in source.columns else "predicted_s" if "predicted_s" in source.columns else None
        if column is None or "category" not in source.columns:
            raise RooflineError(f"{where}: expected a frame with 'category' and 'measured_s' columns, got {', '.join(map(str, source.columns))}")
        series = pd.to_numeric(source[column], errors="coerce").groupby(source["category"]).sum()
    else:
        raise RooflineError(f"{where}: expected a frame or a Series of seconds by category, got {type(source).__name__}")
    unknown = set(series.index) - set(CATEGORIES) - {"Total"}
    if unknown:
        raise RooflineError(f"{where}: unknown categories {', '.join(sorted(map(str, unknown)))}")
    return series.reindex(list(CATEGORIES)).fillna(0.0).astype(float)


def _predicted_by_category(analysis: Any) -> pd.Series:
    """An analysis's predicted seconds per category, CATEGORIES order (no Total)."""
    return analysis.by_category()["predicted_s"].reindex(list(CATEGORIES)).astype(float)


def _stacked_bars(ax: Axes, positions: np.ndarray, values: np.ndarray, horizontal: bool, hatches: Sequence[str | None], width: float) -> None:
    """values: (bars, categories) -> one BarContainer per category, stacked in CATEGORIES order."""
    base = np.zeros(len(positions))
    for j, cat in enumerate(CATEGORIES):
        color = CATEGORY_COLORS[cat]
        if horizontal:
            bars = ax.barh(positions, values[:, j], left=base, height=width, color=color, label=cat, edgecolor="white", linewidth=0.4)
        else:
            bars = ax.bar(positions, values[:, j], bottom=base, width=width, color=color, label=cat, edgecolor="white", linewidth=0.4)
        for patch, hatch in zip(bars.patches, hatches):
            if hatch:
                patch.set_hatch(hatch)
        base = base + values[:, j]


def _legend_right(ax: Axes) -> None:
    """The category legend outside the axes, on the right: the categories some bar has
    (a category that took no time is no help to read the bars)."""
    drawn = [c for c in ax.containers if any(p.get_width() * p.get_height() > 0 for p in c.patches)]
    ax.legend(handles=drawn, labels=[c.get_label() for c in drawn], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize=FONT - 0.5, frameon=False)


def _configuration(analysis: Any) -> str:
    """'gpt2 · bf16 · batch 8 · seq 1024 · 124M params': what was analysed (no spec)."""
    workload = getattr(analysis, "workload", None)
    return " · ".join([workload.model, *workload.settings()]) if workload is not None else analysis.name


# --------------------------------------------------------------------------- breakdown
def _breakdown_bars(items: list[Any], measured: list[Any]) -> list[tuple[str, str, pd.Series, float]]:
    """(model, PREDICTED or MEASURED, seconds by category, seconds between ops) per bar,
    a model's measured bar right after its predicted one."""
    bars = []
    for a, m in zip(items, measured):
        bars.append((a.name, PREDICTED, _predicted_by_category(a), 0.0))
        if m is not None:
            bars.append((a.name, MEASURED, _category_seconds(m, f"breakdown: measured for {a.name}", a.ops),
                         _between_ops_s(m)))
    return bars


def _between_ops_s(measured: Any) -> float:
    """The measured forward's time in no op (a Measurement's or Comparison's other_s,
    when positive); 0 for a frame or Series, which hold ops only."""
    value = getattr(measured, "other_s", None)
    return float(value) if isinstance(value, float) and np.isfinite(value) and value > 0 else 0.0


def _bar_positions(models: Sequence[str]) -> np.ndarray:
    """x of each bar: bars of one model touch, models are half a bar apart."""
    positions, x, previous = [], 0.0, None
    for model in models:
        x += 1.0 if previous == model else (1.5 if previous is not None else 0.0)
        positions.append(x)
        previous = model
    return np.array(positions)


def _scaled(values: np.ndarray, totals: np.ndarray, normalize: bool) -> tuple[np.ndarray, str]:
    """Bar values as shares (%) of each bar's total, or in the time unit of the largest
    total; and the unit."""
    if normalize:
        shares = np.divide(values, totals[:, None], out=np.zeros_like(values), where=totals[:, None] > 0) * 100
        return shares, "%"
    factor, unit = time_scale(float(totals.max()) if totals.size else 0.0)
    return values / factor, unit


def breakdown(
    analyses: Any,
    *,
    measured: Any = None,
    normalize: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = DPI,
) -> Figure:
    """Stacked bars of time per category (the seed's categories, in order), one per model.

    measured: for each analysis (a list, or one value for a single analysis) None or its
    measured seconds: a roofline.measure.Measurement, the Comparison of Analysis.compare,
    a frame with category and measured_s columns, or a Series by category. A model with a
    measurement gets a hatched "measured" bar beside its "predicted" one; a Measurement or
    Comparison adds its time between ops (Other (between ops), grey) on top of it.
    normalize: bars show shares (%) of each bar's total; else seconds. The total time is
    written above each bar either way.
    """
    items = check_analyses(analyses, "breakdown")
    bars = _breakdown_bars(items, per_item(measured, items, "breakdown", "measured entries"))
    seconds = np.column_stack([np.vstack([s.to_numpy() for _, _, s, _ in bars]), [b for *_, b in bars]])
    totals = seconds.sum(axis=1)
    values, unit = _scaled(seconds, totals, normalize)
    positions = _bar_positions([model for model, _, _, _ in bars])
    any_measured = any(kind == MEASURED for _, kind, _, _ in bars)
    fig = new_figure(*(figsize or (max(4.0, 1.0 + 0.9 * len(bars)) + 1.8, 4.4)), dpi)
    ax = fig.subplots()
    _stacked_bars(ax, positions, values[:, :-1], horizontal=False,
                  hatches=[MEASURED_HATCH if kind == MEASURED else None for _, kind, _, _ in bars], width=_BAR_WIDTH)
    if values[:, -1].any():  # the measured forward's time in no op, on top (the seed's Other)
        ax.bar(positions, values[:, -1], bottom=values[:, :-1].sum(axis=1), width=_BAR_WIDTH, color=BETWEEN_OPS_COLOR,
               label=OTHER_ROW, hatch=MEASURED_HATCH, edgecolor="white", linewidth=0.4)
    for pos, height, total in zip(positions, values.sum(axis=1), totals):
        ax.text(pos, height, fmt_time(total), ha="center", va="bottom", fontsize=FONT - 0.5, gid=TOTAL)
    ax.set_xticks(positions)
    ax.set_xticklabels([f"{model}\n{kind}" if any_measured else model for model, kind, _, _ in bars], fontsize=FONT,
                       rotation=0 if len(bars) <= 6 else 30)
    ax.set_ylabel("share of time (%)" if normalize else f"time ({unit})", fontsize=FONT + 1)
    ax.set_ylim(0, 108 if normalize else values.sum(axis=1).max() * 1.1 if len(values) else 1)
    ax.tick_params(labelsize=FONT)
    ax.set_title(title or "Time by category" + (" (hatched: measured)" if any_measured else " (predicted)"), fontsize=FONT + 1)
    _legend_right(ax)
    ax.grid(True, axis="y", **GRID_STYLE)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- what if
def what_if(
    analyses: Sequence[Any],
    *,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = DPI,
) -> Figure:
    """One model predicted on several specs, one analysis per spec, the first the reference.

    analyses: the same model's Analysis on each spec, in the order to draw (make them
    with ``[a.with_hw(hw) for hw in specs]``: no re-capture). Nothing is predicted here.
    Left: the predicted total per spec (log axis, written out, with the ratio to the
    first spec). Right: each spec's predicted time split by category (shares, stacked).
    """
    runs = check_analyses(analyses, "what_if")
    tables = [_predicted_by_category(r) for r in runs]
    totals = np.array([t.sum() for t in tables])
    shares, _ = _scaled(np.vstack([t.to_numpy() for t in tables]), totals, normalize=True)
    names = [r.hw.name for r in runs]
    positions = np.arange(len(runs))[::-1].astype(float)  # first spec on top

    fig = new_figure(*(figsize or (10.0, 1.2 + 0.45 * len(runs))), dpi)
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1.6]})
    left.barh(positions, totals, height=_WHAT_IF_BAR, color=BAR_COLOR)
    left.set_xscale("log")
    left.set_xlim(totals.min() / 3, totals.max() * 30)
    left.xaxis.set_major_formatter(time_tick())
    for pos, total in zip(positions, totals):
        left.text(total * 1.15, pos, f"{fmt_time(total)}  ({total / totals[0]:.2g}x)", va="center", fontsize=FONT - 0.5, gid=TOTAL)
    left.set_yticks(positions)
    left.set_yticklabels(names, fontsize=FONT)
    left.set_xlabel(f"predicted time (ratio to {names[0]})", fontsize=FONT + 1)
    left.tick_params(labelsize=FONT)
    left.grid(True, axis="x", **GRID_STYLE)
    _stacked_bars(right, positions, shares, horizontal=True, hatches=[None] * len(runs), width=_WHAT_IF_BAR)
    right.set_xlim(0, 100)
    right.set_xlabel("share of predicted time by category (%)", fontsize=FONT + 1)
    right.tick_params(labelsize=FONT)
    _legend_right(right)
    fig.suptitle(title or f"{_configuration(runs[0])}: the same ops on {len(runs)} specs", fontsize=FONT + 2)
    fig.tight_layout()
    return fig
