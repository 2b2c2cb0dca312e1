"""Roofline and breakdown figures. Every function returns a matplotlib Figure.

Plotting only reads results (Analysis.ops, by_category(), a comparison frame): it never
computes a prediction. Figures are built with ``matplotlib.figure.Figure`` and an Agg
canvas, not pyplot, so they work on any backend (headless included), leave no global
state behind, and still display in Jupyter when returned as a cell's last value.

Kinds (``plot(analysis, kind=...)``):

* ``roofline``: log-log, one roof per memory level, one ceiling per compute peak (dtype x
  matrix/vector unit), ridge points marked; ops as points sized by share of time and
  coloured by category, the top ops labelled without overlap. Several analyses are
  drawn side by side on shared axes.
* ``hierarchical``: the top ops at each memory level's intensity (flops / bytes moved at
  that level), joined by a line, against that level's roof.
* ``breakdown``: stacked bars of time per category (roofline.count.categories order), per
  model; predicted and measured side by side when measured times are given.
* ``compare``: predicted vs measured per op (log-log, y = x, error bands).
* ``what_if``: one model's predicted total and category shares on several specs.
* ``trajectory`` (function only): one aggregated point per category (or module) per
  analysis, joined in order: how a category moves as batch or table size grows.

Artists carry a ``gid`` (ROOF, CEILING, RIDGE, OPS, OP_LABEL, ...) so tests and users can
find what was drawn.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator
from matplotlib.transforms import Bbox

from roofline.count.categories import CATEGORIES
from roofline._io import write_atomic
from roofline.errors import RooflineError
from roofline.units import format_quantity, si, time_scale

__all__ = [
    "CATEGORY_COLORS",
    "Ceiling",
    "KINDS",
    "breakdown",
    "ceilings",
    "check_figure_path",
    "hierarchical_roofline",
    "plot",
    "predicted_vs_measured",
    "roofline",
    "save",
    "trajectory",
    "what_if",
]

# gids of the artists each figure draws (read back by the tests).
ROOF = "roof"  # one diagonal Line2D per memory level
CEILING = "ceiling"  # one horizontal Line2D per distinct compute peak
RIDGE = "ridge"  # one Line2D (markers only) holding every ceiling x roof intersection
OPS = "ops"  # one PathCollection per category (roofline) or per level (hierarchical)
OP_LABEL = "op-label"  # an Annotation per labelled op
OP_SPAN = "op-span"  # hierarchical: one Line2D per op joining its level points
ROOF_LABEL = "roof-label"
CEILING_LABEL = "ceiling-label"
TRAJECTORY = "trajectory"  # one Line2D per category / module
STEP_LABEL = "step-label"
IDENTITY = "y=x"
BAND = "band"
TOTAL = "total"

#: One colour per category, the same in every figure (matplotlib's tab10, in CATEGORIES order).
CATEGORY_COLORS: dict[str, str] = dict(
    zip(
        CATEGORIES,
        ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"),
    )
)
# Memory levels are styled from DRAM (the last level) inward, so DRAM looks the same on
# every spec whatever caches it lists.
_LEVEL_COLORS = ("#222222", "#1f5fa8", "#2e8b57", "#b8860b", "#8b008b")
_LEVEL_MARKERS = ("o", "s", "^", "D", "v")
_FONT = 7.5
_AX_SIZE = (6.4, 4.8)  # inches per roofline panel


# --------------------------------------------------------------------------- helpers
def _new_figure(width: float, height: float, dpi: float) -> Figure:
    """A Figure with its own Agg canvas (no pyplot, no global figure list)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _si_tick(unit: str) -> FuncFormatter:
    """Log-axis tick labels with decimal SI prefixes: 1e12 -> "1T"."""
    return FuncFormatter(lambda value, _pos: si(value, unit, None, space=False) if value > 0 else "")


def _fmt_time(seconds: float) -> str:
    return format_quantity(seconds, "time") if seconds > 0 else "0 s"


def _as_list(obj: Any) -> list[Any]:
    if obj is None:
        return []
    if isinstance(obj, (list, tuple)):
        return list(obj)
    return [obj]


def _check_analysis(obj: Any, where: str) -> None:
    if not all(hasattr(obj, name) for name in ("ops", "hw", "name")):
        raise RooflineError(f"{where}: expected a roofline Analysis, got {type(obj).__name__}")


def _short_op(op: str) -> str:
    return op.removeprefix("aten.")


def _op_label(op: str, module: str, width: int = 34) -> str:
    text = f"{_short_op(op)} {module or '(top)'}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _frame_of(obj: Any) -> Any:
    """A result object's per-op frame (Comparison.ops, Measurement.ops), else obj itself."""
    ops = getattr(obj, "ops", None)
    return ops if isinstance(ops, pd.DataFrame) and not isinstance(obj, pd.DataFrame) else obj


def _measured_series(measured: Any, index: pd.Index, where: str) -> pd.Series:
    """Measured seconds per op, aligned to ``index`` (op index), NaN where missing.

    Accepts a Series of seconds indexed by op index, or a DataFrame with a ``measured_s``
    column (indexed by op index, or with an ``index`` column naming it), or an object
    holding such a frame as ``.ops`` (roofline.measure.Measurement, validate.Comparison).
    """
    measured = _frame_of(measured)
    if isinstance(measured, pd.DataFrame):
        if "measured_s" not in measured.columns:
            raise RooflineError(f"{where}: the measured frame has no 'measured_s' column (columns: {', '.join(map(str, measured.columns))})")
        frame = measured.set_index("index") if "index" in measured.columns else measured
        series = frame["measured_s"]
    elif isinstance(measured, pd.Series):
        series = measured
    else:
        raise RooflineError(f"{where}: expected a Series of seconds or a frame with 'measured_s', got {type(measured).__name__}")
    return pd.to_numeric(series, errors="coerce").reindex(index)


# --------------------------------------------------------------------------- ceilings
@dataclass(frozen=True)
class Ceiling:
    """One horizontal compute ceiling: a peak (FLOP/s) and the (unit, dtype) pairs it stands for."""

    peak_flops: float
    names: tuple[tuple[str, str], ...]  # (unit, dtype) pairs with this peak

    @property
    def matrix(self) -> bool:
        return any(unit == "matrix" for unit, _ in self.names)

    @property
    def label(self) -> str:
        parts = []
        for unit in ("matrix", "vector"):
            dtypes = [dtype for u, dtype in self.names if u == unit]
            if dtypes:
                parts.append(f"{'/'.join(dtypes)} {unit}")
        return ", ".join(parts)


def _peak_name(hw: Any, unit: str, dtype: str, peak: float) -> tuple[str, str]:
    """Which (unit, dtype) of the spec a used peak is: the same fallback order as
    HardwareSpec.peak_flops (matrix entry, TF32 for fp32 matrix work, vector entry, fp32 vector)."""
    candidates = []
    if unit == "matrix":
        candidates.append(("matrix", dtype))
        if dtype == "fp32":
            candidates.append(("matrix", "tf32"))
    candidates += [("vector", dtype), ("vector", "fp32")]
    for cand_unit, cand_dtype in candidates:
        table = hw.matrix_flops if cand_unit == "matrix" else hw.vector_flops
        if table.get(cand_dtype) == peak:
            return cand_unit, cand_dtype
    return unit, dtype


def ceilings(hw: Any, peaks: str | Iterable[tuple[str, str]] = "all", ops: pd.DataFrame | None = None) -> list[Ceiling]:
    """The compute ceilings to draw, highest first; equal peaks share one ceiling.

    peaks: "all" (every entry of the spec), "used" (the peaks ``ops`` ran at: needs the
    ops frame with flops, unit, dtype, peak_flops columns; "all" if no op did work), or
    (unit, dtype) pairs.
    """
    pairs: list[tuple[str, str, float]] = []
    if isinstance(peaks, str) and peaks == "all":
        pairs = [("matrix", d, p) for d, p in hw.matrix_flops.items()] + [("vector", d, p) for d, p in hw.vector_flops.items()]
    elif isinstance(peaks, str) and peaks == "used":
        if ops is None:
            raise RooflineError('peaks="used" needs the ops frame')
        working = ops[(ops["flops"] > 0) & ops["peak_flops"].notna()]
        for (unit, dtype, peak), _ in working.groupby(["unit", "dtype", "peak_flops"], sort=False):
            name_unit, name_dtype = _peak_name(hw, unit, dtype, float(peak))
            pairs.append((name_unit, name_dtype, float(peak)))
    elif isinstance(peaks, str):
        raise RooflineError(f'peaks={peaks!r}: expected "all", "used" or a list of (unit, dtype) pairs')
    else:
        for pair in peaks:
            try:
                unit, dtype = pair
                pairs.append((unit, dtype, hw.peak_flops(dtype, unit)))
            except (TypeError, ValueError) as exc:
                raise RooflineError(f"peaks: {pair!r} is not a (unit, dtype) pair of {hw.name}: {exc}") from None
    if not pairs and isinstance(peaks, str) and peaks == "used":  # nothing did work: show the spec's peaks
        return ceilings(hw, "all")
    by_peak: dict[float, list[tuple[str, str]]] = {}
    for unit, dtype, peak in pairs:
        names = by_peak.setdefault(peak, [])
        if (unit, dtype) not in names:
            names.append((unit, dtype))
    return [Ceiling(peak, tuple(names)) for peak, names in sorted(by_peak.items(), reverse=True)]


def _levels(hw: Any, levels: Sequence[str] | None) -> list[Any]:
    """Memory levels to draw (MemoryLevel objects), fastest first."""
    if levels is None:
        return list(hw.memory)
    known = {lvl.name: lvl for lvl in hw.memory}
    missing = [name for name in levels if name not in known]
    if missing:
        raise RooflineError(f"levels: {hw.name} has no memory level {', '.join(map(repr, missing))}; it has: {', '.join(known)}")
    return [lvl for lvl in hw.memory if lvl.name in levels]


def _level_style(hw: Any, name: str) -> tuple[str, str]:
    """(colour, marker) of a memory level, counted from DRAM inward."""
    names = [lvl.name for lvl in hw.memory]
    k = (len(names) - 1 - names.index(name)) % len(_LEVEL_COLORS)
    return _LEVEL_COLORS[k], _LEVEL_MARKERS[k]


# --------------------------------------------------------------------------- roof drawing
@dataclass
class _Panel:
    """What one roofline panel shows, gathered before drawing so limits can be shared."""

    ax: Axes
    hw: Any
    levels: list[Any]
    ceilings: list[Ceiling]
    xs: np.ndarray
    ys: np.ndarray


def _limits(panels: list[_Panel]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Shared log limits covering every point, ridge and ceiling, whole decades."""
    xs, ys, ridges, peaks = [], [], [], []
    for p in panels:
        xs.extend(p.xs.tolist())
        ys.extend(p.ys.tolist())
        for c in p.ceilings:
            peaks.append(c.peak_flops)
            ridges.extend(c.peak_flops / lvl.bandwidth for lvl in p.levels)
    top = max(peaks)
    x_lo = min(xs + ridges) / 3
    x_hi = max(xs + ridges) * 3
    y_lo = min(ys + [top * 1e-3]) / 3
    y_hi = top * 4
    decade = lambda v, f: 10.0 ** f(math.log10(v))  # noqa: E731
    return (decade(x_lo, math.floor), decade(x_hi, math.ceil)), (decade(y_lo, math.floor), decade(y_hi, math.ceil))


def _draw_roofs(panel: _Panel, xlim: tuple[float, float], efficiency: bool) -> None:
    """Roofs (diagonals, one per level), ceilings (horizontal, one per peak) and ridge points."""
    ax, hw = panel.ax, panel.hw
    top = max(c.peak_flops for c in panel.ceilings)
    fastest = max(lvl.bandwidth for lvl in panel.levels)
    for lvl in panel.levels:
        color, _ = _level_style(hw, lvl.name)
        ax.plot([xlim[0], top / lvl.bandwidth], [lvl.bandwidth * xlim[0], top], color=color, lw=1.4, gid=ROOF, zorder=2)
        if efficiency:
            bw = hw.efficiency.memory * lvl.bandwidth
            ax.plot([xlim[0], top / bw], [bw * xlim[0], top], color=color, lw=0.7, ls=":", gid=ROOF + "-attainable", zorder=2)
    for c in panel.ceilings:
        style = "-" if c.matrix else "--"
        ax.plot([c.peak_flops / fastest, xlim[1]], [c.peak_flops] * 2, color="#444444", lw=1.1, ls=style, gid=CEILING, zorder=2)
        if efficiency:
            eff = hw.efficiency.matrix if c.matrix else hw.efficiency.vector
            ax.plot([c.peak_flops * eff / fastest, xlim[1]], [c.peak_flops * eff] * 2, color="#444444", lw=0.6, ls=":", gid=CEILING + "-attainable", zorder=2)
    rx = [c.peak_flops / lvl.bandwidth for c in panel.ceilings for lvl in panel.levels]
    ry = [c.peak_flops for c in panel.ceilings for _ in panel.levels]
    ax.plot(rx, ry, ls="none", marker="o", ms=3.5, mfc="white", mec="#222222", mew=0.9, gid=RIDGE, zorder=3)


def _style_axes(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], ylabel: bool = True) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.xaxis.set_major_formatter(_si_tick(""))
    ax.yaxis.set_major_formatter(_si_tick(""))
    ax.set_xlabel("arithmetic intensity (FLOP/byte)", fontsize=_FONT + 1)
    if ylabel:
        ax.set_ylabel("performance (FLOP/s)", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    ax.grid(True, which="major", lw=0.4, alpha=0.35)


# --------------------------------------------------------------------------- label placement
def _inside(box: Bbox, outer: Bbox) -> bool:
    return box.x0 >= outer.x0 + 1 and box.x1 <= outer.x1 - 1 and box.y0 >= outer.y0 + 1 and box.y1 <= outer.y1 - 1


def _free(box: Bbox, occupied: list[Bbox], pad: float = 1.5) -> bool:
    grown = box.expanded(1.0, 1.0).padded(pad)
    return not any(grown.overlaps(other) for other in occupied)


def _clear_of(box: Bbox, points: np.ndarray, pad: float = 2.0) -> bool:
    """No point of ``points`` (display coordinates, shape (n, 2)) lies within ``pad``
    pixels of ``box``."""
    if not len(points):
        return True
    x, y = points[:, 0], points[:, 1]
    inside = (x >= box.x0 - pad) & (x <= box.x1 + pad) & (y >= box.y0 - pad) & (y <= box.y1 + pad)
    return not bool(inside.any())


def _line_points(ax: Axes, gids: set[str], step_px: float = 2.5) -> np.ndarray:
    """Display-space points every ``step_px`` along the Line2Ds with these gids (roofs,
    ceilings), so labels can keep off the lines as well as off each other."""
    chunks = []
    for line in ax.lines:
        if line.get_gid() not in gids or line.get_linestyle() in ("None", "none", ""):
            continue
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            n = max(2, int(math.hypot(x1 - x0, y1 - y0) / step_px))
            t = np.linspace(0.0, 1.0, n)[:, None]
            chunks.append(np.array([x0, y0]) + t * np.array([x1 - x0, y1 - y0]))
    return np.vstack(chunks) if chunks else np.empty((0, 2))


def _text_box(text: Text, renderer: Any) -> Bbox:
    """Display-space box of a text's glyphs only (an Annotation's leader line left out)."""
    if hasattr(text, "update_positions"):  # an Annotation places its text at draw time
        text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


def _place_first(
    make: Callable[[Any], Text], candidates: Iterable[Any], renderer: Any, outer: Bbox, occupied: list[Bbox],
    markers: Sequence[Bbox] = (),
) -> tuple[Text, Any] | None:
    """Try candidate positions in order; keep the first text that fits inside ``outer``
    without touching ``occupied`` or ``markers`` (display-space boxes) and add its box
    to ``occupied``; if none fits, draw nothing."""
    for candidate in candidates:
        text = make(candidate)
        box = _text_box(text, renderer)
        if _inside(box, outer) and _free(box, occupied) and _free(box, markers):
            occupied.append(box)
            return text, candidate
        text.remove()
    return None


_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0))


def _leader_boxes(point: tuple[float, float], box: Bbox, skip_px: float) -> list[Bbox]:
    """Small boxes along the leader line from a point to the nearest edge of a label
    box (the part inside the point's own marker left out)."""
    px, py = point
    tx, ty = min(max(px, box.x0), box.x1), min(max(py, box.y0), box.y1)
    length = math.hypot(tx - px, ty - py)
    boxes = []
    for t in np.linspace(0.0, 1.0, max(2, int(length / 4))):
        sx, sy = px + t * (tx - px), py + t * (ty - py)
        if math.hypot(sx - px, sy - py) > skip_px + 1.5:
            boxes.append(Bbox([[sx - 1, sy - 1], [sx + 1, sy + 1]]))
    return boxes


def _label_points(
    ax: Axes, renderer: Any, points: list[tuple[float, float, str, float]], occupied: list[Bbox], markers: Sequence[Bbox] = (),
    color: str = "#111111", lines: np.ndarray | None = None,
) -> list[Text]:
    """Greedy placement: each label (most important first) goes to the first of 8
    directions x 5 distances around its point where it touches nothing placed so far
    (other labels and their leader lines, the legend, roof labels, ``markers``) and its
    leader line crosses no label; labels that fit nowhere are dropped.

    points: (x, y, text, marker radius in points). occupied: display-space boxes of
    text; the placed labels and leaders are added to it. markers: boxes of the points
    (labels avoid them, leader lines may cross them). lines: display points along the
    roofs and ceilings (labels avoid them while any place is free of them; a label that
    fits nowhere else may touch a line rather than be dropped).
    """
    outer = ax.get_window_extent(renderer)
    px_per_pt = ax.figure.dpi / 72.0
    on_lines = lines if lines is not None else np.empty((0, 2))
    placed = []
    for x, y, text, radius in points:
        anchor = tuple(ax.transData.transform((x, y)))
        candidates = [
            (ring, dx, dy, dist)
            for ring, dist in enumerate((radius + 3, radius + 14, radius + 28, radius + 45, radius + 65))
            for dx, dy in _DIRECTIONS
        ]
        for avoid_lines in (True, False):
            label = None
            for ring, dx, dy, dist in candidates:
                norm = math.hypot(dx, dy)
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
                arrow = dict(arrowstyle="-", lw=0.5, color="#777777", shrinkA=0, shrinkB=radius) if ring else None
                label = ax.annotate(text, (x, y), xytext=(dx / norm * dist, dy / norm * dist), textcoords="offset points", ha=ha,
                                    va=va, fontsize=_FONT - 0.5, color=color, gid=OP_LABEL, arrowprops=arrow, zorder=5,
                                    annotation_clip=False)
                box = _text_box(label, renderer)
                leader = _leader_boxes(anchor, box, radius * px_per_pt) if ring else []
                if (_inside(box, outer) and _free(box, occupied) and _free(box, markers)
                        and (not avoid_lines or _clear_of(box, on_lines))
                        and all(_free(b, occupied, pad=0.5) for b in leader)):
                    occupied.append(box)
                    occupied.extend(leader)
                    placed.append(label)
                    break
                label.remove()
                label = None
            if label is not None or not len(on_lines):
                break
    return placed


def _marker_box(ax: Axes, x: float, y: float, radius_pts: float) -> Bbox:
    cx, cy = ax.transData.transform((x, y))
    r = radius_pts * ax.figure.dpi / 72.0
    return Bbox([[cx - r, cy - r], [cx + r, cy + r]])


def _label_roofs(panel: _Panel, renderer: Any, occupied: list[Bbox], markers: Sequence[Bbox] = ()) -> None:
    """Level names along their diagonal (rotated to match it), ceiling names above their line."""
    ax, outer = panel.ax, panel.ax.get_window_extent(renderer)
    (x_lo, x_hi), (y_lo, _) = ax.get_xlim(), ax.get_ylim()
    top = max(c.peak_flops for c in panel.ceilings)
    for c in panel.ceilings:  # highest first
        text = f"{c.label}: {format_quantity(c.peak_flops, 'flops')}"
        # Along the line, from the right end leftwards, until it fits.
        xs = [x_hi / 1.3 / (1.6**k) for k in range(12)]
        _place_first(
            lambda x: ax.text(x, c.peak_flops * 1.07, text, ha="right", va="bottom", fontsize=_FONT - 0.5, color="#333333", gid=CEILING_LABEL),
            xs, renderer, outer, occupied, markers,
        )
    for lvl in sorted(panel.levels, key=lambda l: -l.bandwidth):
        color, _ = _level_style(panel.hw, lvl.name)
        ridge_x = top / lvl.bandwidth
        p0 = ax.transData.transform((x_lo, lvl.bandwidth * x_lo))
        p1 = ax.transData.transform((ridge_x, top))
        angle = math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0]))
        text = f"{lvl.name} {format_quantity(lvl.bandwidth, 'bandwidth')}"
        start = max(x_lo * 1.5, y_lo * 2 / lvl.bandwidth)
        xs = [start * (1.8**k) for k in range(14) if start * (1.8**k) < ridge_x / 2]
        _place_first(
            lambda x: ax.text(x, lvl.bandwidth * x * 1.15, text, rotation=angle, rotation_mode="anchor", ha="left", va="bottom",
                              fontsize=_FONT - 0.5, color=color, gid=ROOF_LABEL),
            xs, renderer, outer, occupied, markers,
        )


# --------------------------------------------------------------------------- roofline
def _placeable(flops: pd.Series, nbytes: pd.Series, seconds: pd.Series) -> pd.Series:
    """Ops that have a point on a log-log roofline: positive, finite FLOPs, bytes and time."""
    f, b, t = (pd.to_numeric(s, errors="coerce") for s in (flops, nbytes, seconds))
    return (f > 0) & (b > 0) & (t > 0) & np.isfinite(f) & np.isfinite(b) & np.isfinite(t)


def _marker_area(share: np.ndarray) -> np.ndarray:
    """Marker area (pt^2) proportional to share of time, with a floor so tiny ops stay visible."""
    return np.maximum(2000.0 * share, 6.0)


def _module_pattern(modules: Sequence[str]) -> str:
    """One name for several module paths: differing parts become "*" (blocks.*.mlp.fc1)."""
    names = [m or "(top)" for m in modules]
    if len(set(names)) == 1:
        return names[0]
    by_depth: dict[int, list[list[str]]] = {}
    for name in names:
        by_depth.setdefault(name.count("."), []).append(name.split("."))
    split = max(by_depth.values(), key=len)  # the most common depth names the group
    pattern = ".".join(parts[0] if len(set(parts)) == 1 else "*" for parts in zip(*split))
    return pattern if len(by_depth) == 1 else pattern + " …"


def _label_groups(frame: pd.DataFrame, top: int, keep: Sequence[str] = ()) -> pd.DataFrame:
    """The ``top`` labels for a roofline panel. Ops of the same aten op drawn at the same
    point (the 12 identical layers of a transformer) share one label, "op modules xN",
    ranked by their summed time. Columns: x, y, text, seconds, share_max and ``keep``
    (taken from the group's first op)."""
    if not top or frame.empty:
        return pd.DataFrame(columns=["x", "y", "text", "seconds", "share_max", *keep])
    key = pd.DataFrame(
        {"op": frame["op"], "lx": np.round(np.log10(frame["x"]), 3), "ly": np.round(np.log10(frame["y"]), 3)}, index=frame.index
    )
    rows = []
    for _, members in frame.groupby([key["op"], key["lx"], key["ly"]], sort=False):
        text = _op_label(members["op"].iloc[0], _module_pattern(list(members["module"])), width=40)
        if len(members) > 1:
            text += f" x{len(members)}"
        rows.append({"x": members["x"].iloc[0], "y": members["y"].iloc[0], "text": text,
                     "seconds": members["seconds"].sum(), "share_max": members["share"].max(),
                     **{column: members[column].iloc[0] for column in keep}})
    return pd.DataFrame(rows).nlargest(top, "seconds").reset_index(drop=True)


def roofline(
    analyses: Any,
    *,
    measured: Any = None,
    peaks: str | Iterable[tuple[str, str]] = "used",
    levels: Sequence[str] | None = None,
    top: int = 8,
    efficiency: bool = False,
    titles: Sequence[str] | None = None,
    ax_size: tuple[float, float] = _AX_SIZE,
    dpi: float = 100,
) -> Figure:
    """Roofline chart of one or several analyses (side by side, shared axes).

    Each op with FLOPs is a point at (intensity = flops / bytes in FLOP/byte, performance
    = flops / time in FLOP/s), its area proportional to its share of the model's time,
    coloured by category; the ``top`` ops by time are labelled. Ops without FLOPs (copies,
    views) have no place on a log axis: their count and share of time are in the title.

    measured: measured seconds per op (a Series indexed by op index, or a frame with a
    ``measured_s`` column such as Analysis.compare's) or one per analysis; the points
    then use measured times instead of predicted ones.
    peaks: "used" (the peaks the ops ran at), "all", or (unit, dtype) pairs.
    levels: memory levels to draw (default all). efficiency: also draw the roofs scaled
    by the spec's efficiencies (what the time model can reach), dotted.
    Figure size: ax_size (inches) per panel, at ``dpi``.
    """
    items = _as_list(analyses)
    if not items:
        raise RooflineError("roofline: no analysis to plot")
    for i, a in enumerate(items):
        _check_analysis(a, f"roofline: analyses[{i}]")
    measured_list = _as_list(measured) if isinstance(measured, (list, tuple)) else [measured] * len(items)
    if len(measured_list) != len(items):
        raise RooflineError(f"roofline: {len(measured_list)} measured frames for {len(items)} analyses")
    fig = _new_figure(ax_size[0] * len(items), ax_size[1], dpi)
    axes = fig.subplots(1, len(items), squeeze=False)[0]

    panels, frames = [], []
    for ax, a, m in zip(axes, items, measured_list):
        ops = a.ops
        seconds = ops["predicted_s"] if m is None else _measured_series(m, ops.index, f"roofline: measured for {a.name}")
        mask = _placeable(ops["flops"], ops["bytes"], seconds)
        frame = ops.loc[mask, ["op", "module", "category", "flops", "bytes"]].copy()
        frame["seconds"] = seconds[mask].astype(float)
        total_s = float(np.nansum(seconds.to_numpy(dtype=float)))
        frame["share"] = frame["seconds"] / total_s if total_s > 0 else 0.0
        frame["x"] = frame["flops"] / frame["bytes"]
        frame["y"] = frame["flops"] / frame["seconds"]
        unplaced = ~mask & (seconds > 0)
        frames.append((frame, int(unplaced.sum()), float(seconds[unplaced].sum()) / total_s if total_s > 0 else 0.0, m is not None))
        panels.append(_Panel(ax, a.hw, _levels(a.hw, levels), ceilings(a.hw, peaks, ops), frame["x"].to_numpy(), frame["y"].to_numpy()))
    xlim, ylim = _limits(panels)

    for k, (panel, (frame, n_unplaced, unplaced_share, is_measured)) in enumerate(zip(panels, frames)):
        ax, a = panel.ax, items[k]
        _style_axes(ax, xlim, ylim, ylabel=k == 0)
        _draw_roofs(panel, xlim, efficiency)
        present = [c for c in CATEGORIES if c in set(frame["category"])] + sorted(set(frame["category"]) - set(CATEGORIES))
        for cat in present:
            rows = frame[frame["category"] == cat]
            ax.scatter(rows["x"], rows["y"], s=_marker_area(rows["share"].to_numpy()), color=CATEGORY_COLORS.get(cat, "#333333"),
                       alpha=0.7, edgecolors="white", linewidths=0.4, gid=OPS, label=cat, zorder=4)
        title = titles[k] if titles else f"{a.name} on {a.hw.display_name}"
        source = "measured" if is_measured else "predicted"
        sub = f"{len(frame)} ops placed ({source} time)"
        if n_unplaced:
            sub += f"; {n_unplaced} without FLOPs not drawn ({unplaced_share:.0%} of time)"
        ax.set_title(f"{title}\n{sub}", fontsize=_FONT + 1)
        if present:
            handles = [Line2D([], [], ls="none", marker="o", ms=5, color=CATEGORY_COLORS.get(c, "#333333"), label=c) for c in present]
            ax.legend(handles=handles, loc="lower right", fontsize=_FONT - 0.5, title="area = share of time", title_fontsize=_FONT - 1,
                      framealpha=0.85)

    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    for panel, (frame, *_rest) in zip(panels, frames):
        ax = panel.ax
        occupied: list[Bbox] = []
        legend = ax.get_legend()
        if legend is not None:
            occupied.append(legend.get_window_extent(renderer))
        groups = _label_groups(frame, top)
        radii = np.sqrt(_marker_area(groups["share_max"].to_numpy())) / 2
        markers = [_marker_box(ax, x, y, r) for (x, y), r in zip(groups[["x", "y"]].to_numpy(), radii)]
        _label_roofs(panel, renderer, occupied, markers)
        _label_points(ax, renderer, [(x, y, text, r) for (x, y, text), r in zip(groups[["x", "y", "text"]].to_numpy(), radii)],
                      occupied, markers, lines=_line_points(ax, {ROOF, CEILING}))
    return fig


def hierarchical_roofline(
    analysis: Any,
    *,
    level_bytes: pd.DataFrame | None = None,
    top: int = 10,
    peaks: str | Iterable[tuple[str, str]] = "used",
    title: str | None = None,
    figsize: tuple[float, float] = _AX_SIZE,
    dpi: float = 100,
) -> Figure:
    """Hierarchical roofline: each of the ``top`` ops at every memory level's intensity.

    The intensity at a level is flops / bytes moved at that level; performance (flops /
    predicted time) is the same at every level, so one op is a horizontal row of points,
    one per level (marker and colour of the level's roof), joined by a line. The level
    whose roof is closest above its point is the one that bounds it.

    level_bytes: bytes moved per op at each level, a frame indexed like analysis.ops with
    one column per level name (from hardware counters, a cache simulator or a tiling
    model). Default: the ops' ``bytes_<level>`` columns where present. A level with no
    data uses the compulsory bytes (the ``bytes`` column, which the time model charges to
    DRAM); the subtitle names the cache levels drawn that way.
    """
    _check_analysis(analysis, "hierarchical_roofline")
    ops, hw = analysis.ops, analysis.hw
    level_objs = list(hw.memory)
    given = level_bytes if level_bytes is not None else pd.DataFrame(index=ops.index)
    if level_bytes is not None:
        unknown = [c for c in level_bytes.columns if c not in {l.name for l in level_objs}]
        if unknown:
            raise RooflineError(f"level_bytes: {hw.name} has no memory level {', '.join(map(repr, unknown))}; it has: {', '.join(l.name for l in level_objs)}")
    per_level: dict[str, pd.Series] = {}
    compulsory = []
    for lvl in level_objs:
        if lvl.name in given.columns:
            per_level[lvl.name] = pd.to_numeric(given[lvl.name], errors="coerce").reindex(ops.index)
        elif f"bytes_{lvl.name}" in ops.columns:
            per_level[lvl.name] = pd.to_numeric(ops[f"bytes_{lvl.name}"], errors="coerce")
        else:
            per_level[lvl.name] = ops["bytes"]
            if lvl.name != "dram":  # the time model's traffic is DRAM traffic: nothing is missing there
                compulsory.append(lvl.name)

    seconds = ops["predicted_s"]
    mask = _placeable(ops["flops"], ops["bytes"], seconds)
    for series in per_level.values():
        mask &= series > 0
    total_s = float(seconds.sum())
    frame = ops.loc[mask, ["op", "module", "flops"]].copy()
    frame["seconds"] = seconds[mask]
    frame["share"] = frame["seconds"] / total_s if total_s > 0 else 0.0
    frame["y"] = frame["flops"] / frame["seconds"]
    names = [lvl.name for lvl in level_objs]
    for name in names:
        frame[f"x_{name}"] = frame["flops"] / per_level[name][mask]
    # The top ops, identical layers merged into one row as on the plain roofline.
    frame["x"] = frame[[f"x_{n}" for n in names]].max(axis=1)  # grouping key and label anchor
    groups = _label_groups(frame, top, keep=[f"x_{n}" for n in names])
    stacked = groups[[f"x_{n}" for n in names]].to_numpy(dtype=float).T if len(groups) else np.empty((len(names), 0))
    y = groups["y"].to_numpy(dtype=float) if len(groups) else np.array([])

    fig = _new_figure(figsize[0], figsize[1], dpi)
    ax = fig.subplots()
    panel = _Panel(ax, hw, level_objs, ceilings(hw, peaks, ops), stacked.ravel(), np.tile(y, len(level_objs)))
    xlim, ylim = _limits([panel])
    _style_axes(ax, xlim, ylim)
    _draw_roofs(panel, xlim, efficiency=False)
    for j in range(len(y)):
        lo, hi = stacked[:, j].min(), stacked[:, j].max()
        if hi > lo:
            ax.plot([lo, hi], [y[j], y[j]], color="#999999", lw=0.8, gid=OP_SPAN, zorder=3)
    area = _marker_area(groups["share_max"].to_numpy(dtype=float)) if len(groups) else np.array([])
    for k, lvl in enumerate(level_objs):
        color, marker = _level_style(hw, lvl.name)
        ax.scatter(stacked[k], y, s=area, marker=marker, facecolors=color if lvl.name == "dram" else "none", edgecolors=color,
                   linewidths=1.1, alpha=0.85, gid=OPS, label=lvl.name, zorder=4)
    sub = f"top {len(y)} ops by predicted time"
    if compulsory:
        sub += f"\nno traffic data for {', '.join(compulsory)}: drawn with the compulsory (DRAM) bytes"
    ax.set_title(f"{title or f'{analysis.name} on {hw.display_name}: hierarchical roofline'}\n{sub}", fontsize=_FONT + 1)
    handles = [Line2D([], [], ls="none", marker=_level_style(hw, n)[1], ms=5, color=_level_style(hw, n)[0], label=f"{n} intensity")
               for n in names]
    ax.legend(handles=handles, loc="lower right", fontsize=_FONT - 0.5, framealpha=0.85)

    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    occupied = [ax.get_legend().get_window_extent(renderer)]
    radii = np.sqrt(area) / 2
    markers = [_marker_box(ax, stacked[k, j], y[j], radii[j]) for j in range(len(y)) for k in range(len(names))]
    _label_roofs(panel, renderer, occupied, markers)
    points = [(stacked[:, j].max(), y[j], groups["text"].iloc[j], radii[j]) for j in range(len(y))]  # at the rightmost point
    _label_points(ax, renderer, points, occupied, markers, lines=_line_points(ax, {ROOF, CEILING, OP_SPAN}))
    return fig


def trajectory(
    analyses: Mapping[str, Any] | Sequence[tuple[str, Any]],
    *,
    by: str = "category",
    keys: Sequence[str] | None = None,
    peaks: str | Iterable[tuple[str, str]] = "used",
    title: str | None = None,
    figsize: tuple[float, float] = _AX_SIZE,
    dpi: float = 100,
) -> Figure:
    """How a group of ops moves on the roofline across several analyses of one model
    (batch sizes, table sizes, ...): one point per (group, analysis) at the group's total
    intensity (sum flops / sum bytes) and performance (sum flops / sum predicted time),
    joined in the order given. Drawn against the first analysis's spec.

    analyses: {label: Analysis} or [(label, Analysis)], in sweep order.
    by: an ops column to group on ("category", "module", "op"); keys: the groups to draw
    (default every group with FLOPs, categories in the seed's order).
    """
    pairs = list(analyses.items()) if isinstance(analyses, Mapping) else list(analyses)
    if not pairs:
        raise RooflineError("trajectory: no analysis to plot")
    for label, a in pairs:
        _check_analysis(a, f"trajectory: {label!r}")
    hw = pairs[0][1].hw
    if by not in pairs[0][1].ops.columns:
        raise RooflineError(f"trajectory: by={by!r} is not an ops column")
    sums = []
    for label, a in pairs:
        ops = a.ops[_placeable(a.ops["flops"], a.ops["bytes"], a.ops["predicted_s"])]
        grouped = ops.groupby(by).agg(flops=("flops", "sum"), bytes=("bytes", "sum"), seconds=("predicted_s", "sum"))
        sums.append((label, grouped))
    found = set().union(*(set(g.index) for _, g in sums))
    if keys is None:
        keys = [c for c in CATEGORIES if c in found] if by == "category" else sorted(found)
        keys += sorted(found - set(keys))
    missing = [k for k in keys if k not in found]
    if missing:
        raise RooflineError(f"trajectory: no ops with FLOPs in {by} {', '.join(map(repr, missing))}")

    fig = _new_figure(figsize[0], figsize[1], dpi)
    ax = fig.subplots()
    lines = {}
    for key in keys:
        pts = [(label, g.loc[key]) for label, g in sums if key in g.index]
        lines[key] = [(label, row["flops"] / row["bytes"], row["flops"] / row["seconds"]) for label, row in pts]
    all_x = np.array([x for pts in lines.values() for _, x, _ in pts])
    all_y = np.array([y for pts in lines.values() for _, _, y in pts])
    used_ops = pd.concat([a.ops for _, a in pairs])
    panel = _Panel(ax, hw, list(hw.memory), ceilings(hw, peaks, used_ops), all_x, all_y)
    xlim, ylim = _limits([panel])
    _style_axes(ax, xlim, ylim)
    _draw_roofs(panel, xlim, efficiency=False)
    palette = [c for c in CATEGORY_COLORS.values()]
    for i, (key, pts) in enumerate(lines.items()):
        color = CATEGORY_COLORS.get(key, palette[i % len(palette)]) if by == "category" else palette[i % len(palette)]
        ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", ms=4, lw=1.3, color=color, gid=TRAJECTORY, label=str(key), zorder=4)
    ax.set_title(title or f"{pairs[0][1].name}: {by} totals across {len(pairs)} runs on {hw.display_name}", fontsize=_FONT + 1)
    ax.legend(loc="lower right", fontsize=_FONT - 0.5, framealpha=0.85)
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    occupied = [ax.get_legend().get_window_extent(renderer)]
    markers = [_marker_box(ax, x, y, 3) for pts in lines.values() for _, x, y in pts]
    _label_roofs(panel, renderer, occupied, markers)
    ends = []
    for key, pts in lines.items():
        chosen = [pts[0], pts[-1]] if len(pts) > 1 else pts
        ends += [(x, y, str(label), 3.0) for label, x, y in chosen]
    for text in _label_points(ax, renderer, ends, occupied, markers, color="#333333", lines=_line_points(ax, {ROOF, CEILING})):
        text.set_gid(STEP_LABEL)
    return fig


# --------------------------------------------------------------------------- bars
def _category_seconds(source: Any, where: str, ops: pd.DataFrame | None = None) -> pd.Series:
    """Seconds per category (CATEGORIES order) from an Analysis-like by_category(), a
    frame with category + measured_s (or predicted_s) columns (or an object holding one as
    ``.ops``, such as validate.Comparison), or a Series by category. A per-op frame with
    no category column (Measurement.ops) takes its categories from ``ops`` by op index."""
    source = _frame_of(source)
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


def breakdown(
    analyses: Any,
    *,
    measured: Any = None,
    normalize: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """Stacked bars of time per category (the seed's categories, in order), one per model.

    measured: for each analysis (a list, or one value for a single analysis) None or its
    measured seconds: a roofline.measure.Measurement, the Comparison of Analysis.compare,
    a frame with category and measured_s columns, or a Series by category. A model with a measurement gets a hatched "measured" bar
    beside its "predicted" one.
    normalize: bars show shares (%) of each bar's total; else seconds. The total time is
    written above each bar either way.
    """
    items = _as_list(analyses)
    if not items:
        raise RooflineError("breakdown: no analysis to plot")
    measured_list = _as_list(measured) if isinstance(measured, (list, tuple)) else [measured] * len(items)
    if len(measured_list) != len(items):
        raise RooflineError(f"breakdown: {len(measured_list)} measured entries for {len(items)} analyses")
    bars: list[tuple[str, str, pd.Series]] = []  # (model, "predicted"/"measured", seconds by category)
    for i, (a, m) in enumerate(zip(items, measured_list)):
        _check_analysis(a, f"breakdown: analyses[{i}]")
        bars.append((a.name, "predicted", a.by_category()["predicted_s"].reindex(list(CATEGORIES)).astype(float)))
        if m is not None:
            bars.append((a.name, "measured", _category_seconds(m, f"breakdown: measured for {a.name}", a.ops)))
    values = np.vstack([s.to_numpy() for _, _, s in bars])
    totals = values.sum(axis=1)
    if normalize:
        values = np.divide(values, totals[:, None], out=np.zeros_like(values), where=totals[:, None] > 0) * 100
        factor, unit = 1.0, "%"
    else:
        factor, unit = time_scale(float(totals.max()) if totals.size else 0.0)
        values = values / factor

    positions, x, previous = [], 0.0, None
    for model, _, _ in bars:
        x += 1.0 if previous == model else (1.5 if previous is not None else 0.0)
        positions.append(x)
        previous = model
    positions_arr = np.array(positions)
    width = 0.85
    fig = _new_figure(*(figsize or (max(4.0, 1.0 + 0.9 * len(bars)) + 1.8, 4.4)), dpi)
    ax = fig.subplots()
    _stacked_bars(ax, positions_arr, values, horizontal=False, hatches=["//" if kind == "measured" else None for _, kind, _ in bars], width=width)
    for pos, height, total in zip(positions_arr, values.sum(axis=1), totals):
        ax.text(pos, height, _fmt_time(total), ha="center", va="bottom", fontsize=_FONT - 0.5, gid=TOTAL)
    ax.set_xticks(positions_arr)
    any_measured = any(kind == "measured" for _, kind, _ in bars)
    ax.set_xticklabels([f"{model}\n{kind}" if any_measured else model for model, kind, _ in bars], fontsize=_FONT, rotation=0 if len(bars) <= 6 else 30)
    ax.set_ylabel("share of time (%)" if normalize else f"time ({unit})", fontsize=_FONT + 1)
    if normalize:
        ax.set_ylim(0, 108)
    else:
        ax.set_ylim(0, values.sum(axis=1).max() * 1.1 if len(values) else 1)
    ax.tick_params(labelsize=_FONT)
    ax.set_title(title or "Time by category" + (" (hatched: measured)" if any_measured else " (predicted)"), fontsize=_FONT + 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_FONT - 0.5, frameon=False)
    ax.grid(True, axis="y", lw=0.4, alpha=0.35)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def what_if(
    analysis: Any,
    hws: Sequence[Any],
    *,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """One model predicted on several specs (Analysis.with_hw, no re-capture).

    Left: the predicted total per spec (log axis, written out, with the ratio to the
    first spec). Right: each spec's predicted time split by category (shares, stacked).
    hws: spec names, YAML paths or HardwareSpec objects.
    """
    _check_analysis(analysis, "what_if")
    specs = list(hws)
    if not specs:
        raise RooflineError("what_if: no hardware spec given")
    runs = [analysis.with_hw(hw) for hw in specs]
    tables = [r.by_category()["predicted_s"].reindex(list(CATEGORIES)).astype(float) for r in runs]
    totals = np.array([t.sum() for t in tables])
    shares = np.vstack([t.to_numpy() / total * 100 if total > 0 else np.zeros(len(CATEGORIES)) for t, total in zip(tables, totals)])
    names = [r.hw.name for r in runs]
    positions = np.arange(len(runs))[::-1].astype(float)  # first spec on top

    fig = _new_figure(*(figsize or (10.0, 1.2 + 0.45 * len(runs))), dpi)
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1.6]})
    left.barh(positions, totals, height=0.7, color="#4c72b0")
    left.set_xscale("log")
    left.set_xlim(totals.min() / 3, totals.max() * 30)
    left.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _fmt_time(v) if v > 0 else ""))
    for pos, total in zip(positions, totals):
        left.text(total * 1.15, pos, f"{_fmt_time(total)}  ({total / totals[0]:.2g}x)", va="center", fontsize=_FONT - 0.5, gid=TOTAL)
    left.set_yticks(positions)
    left.set_yticklabels(names, fontsize=_FONT)
    left.set_xlabel(f"predicted time (ratio to {names[0]})", fontsize=_FONT + 1)
    left.tick_params(labelsize=_FONT)
    left.grid(True, axis="x", lw=0.4, alpha=0.35)
    _stacked_bars(right, positions, shares, horizontal=True, hatches=[None] * len(runs), width=0.7)
    right.set_xlim(0, 100)
    right.set_xlabel("share of predicted time by category (%)", fontsize=_FONT + 1)
    right.tick_params(labelsize=_FONT)
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_FONT - 0.5, frameon=False)
    fig.suptitle(title or f"{analysis.name}: the same ops on {len(runs)} specs", fontsize=_FONT + 2)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- validation
def predicted_vs_measured(
    comparison: pd.DataFrame,
    *,
    bands: Sequence[float] = (1.25, 2.0),
    title: str | None = None,
    figsize: tuple[float, float] = (5.6, 5.2),
    dpi: float = 100,
) -> Figure:
    """Predicted vs measured time per op: log-log, measured on x, predicted on y, the
    y = x line and shaded bands where predicted is within each factor of measured.

    comparison: a frame with predicted_s, measured_s (seconds) and category columns, one
    row per op (any frame with those columns), or an object holding one as ``.ops`` (the
    Comparison that Analysis.compare returns). Rows without a positive time on both sides
    are left out and counted in the title.
    """
    comparison = _frame_of(comparison)
    if not isinstance(comparison, pd.DataFrame):
        raise RooflineError(f"predicted_vs_measured: expected a DataFrame, got {type(comparison).__name__}")
    missing = [c for c in ("predicted_s", "measured_s", "category") if c not in comparison.columns]
    if missing:
        raise RooflineError(f"predicted_vs_measured: the comparison frame has no {', '.join(map(repr, missing))} column(s)")
    factors = sorted(float(b) for b in bands)
    if any(b <= 1 for b in factors):
        raise RooflineError(f"predicted_vs_measured: bands are factors above 1 (e.g. 1.25, 2), got {list(bands)}")
    pred = pd.to_numeric(comparison["predicted_s"], errors="coerce")
    meas = pd.to_numeric(comparison["measured_s"], errors="coerce")
    ok = (pred > 0) & (meas > 0) & np.isfinite(pred) & np.isfinite(meas)
    rows = comparison[ok]
    fig = _new_figure(figsize[0], figsize[1], dpi)
    ax = fig.subplots()
    if len(rows):
        lo = min(pred[ok].min(), meas[ok].min()) / 3
        hi = max(pred[ok].max(), meas[ok].max()) * 3
    else:
        lo, hi = 1e-6, 1e-3
    lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
    grid = np.array([lo, hi])
    for b, alpha in zip(reversed(factors), np.linspace(0.08, 0.18, len(factors))):
        ax.fill_between(grid, grid / b, grid * b, color="#4c72b0", alpha=float(alpha), lw=0, gid=BAND, label=f"within {b:g}x")
    ax.plot(grid, grid, color="#222222", lw=1.0, gid=IDENTITY, label="y = x")
    cats = [c for c in CATEGORIES if c in set(rows["category"])] + sorted(set(rows["category"]) - set(CATEGORIES))
    for cat in cats:
        sel = ok & (comparison["category"] == cat)
        ax.scatter(meas[sel], pred[sel], s=14, color=CATEGORY_COLORS.get(cat, "#333333"), alpha=0.75, edgecolors="none", gid=OPS, label=cat, zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # after set_*scale, which resets the formatter
        axis.set_major_formatter(FuncFormatter(lambda v, _p: _fmt_time(v) if v > 0 else ""))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("measured time per op", fontsize=_FONT + 1)
    ax.set_ylabel("predicted time per op", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    ax.grid(True, which="major", lw=0.4, alpha=0.35)
    sum_pred, sum_meas = float(pred[ok].sum()), float(meas[ok].sum())
    sub = f"{len(rows)} ops"
    if (~ok).sum():
        sub += f" ({int((~ok).sum())} without a time on both sides left out)"
    if sum_meas > 0:
        sub += f"\nsum predicted {_fmt_time(sum_pred)} vs measured {_fmt_time(sum_meas)} ({sum_pred / sum_meas - 1:+.0%})"
    ax.set_title(f"{title or 'Predicted vs measured'}\n{sub}", fontsize=_FONT + 1)
    ax.legend(loc="upper left", fontsize=_FONT - 0.5, framealpha=0.85)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- dispatch and saving
def _compare_kind(analysis: Any, *, comparison: pd.DataFrame | None = None, measured: Any = None, **kw: Any) -> Figure:
    if comparison is None and measured is not None:
        if not hasattr(analysis, "compare"):
            raise RooflineError("plot(kind='compare'): this Analysis has no compare(); pass comparison=<frame>")
        comparison = analysis.compare(measured)
    if comparison is None:
        raise RooflineError("plot(kind='compare'): pass comparison=<frame with predicted_s, measured_s, category> or measured=<measurement>")
    kw.setdefault("title", f"{analysis.name} on {analysis.hw.display_name}")
    return predicted_vs_measured(comparison, **kw)


#: plot kinds -> function(analysis, **kw)
KINDS: dict[str, Callable[..., Figure]] = {
    "roofline": roofline,
    "hierarchical": hierarchical_roofline,
    "breakdown": breakdown,
    "what_if": what_if,
    "compare": _compare_kind,
}


def plot(analysis: Any, kind: str = "roofline", **kw: Any) -> Figure:
    """Draw one kind of figure for an Analysis (see KINDS); keyword arguments go to it."""
    key = kind.replace("-", "_")
    if key not in KINDS:
        raise RooflineError(f"plot: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return KINDS[key](analysis, **kw)


def check_figure_path(path: str | os.PathLike) -> str:
    """The format a figure path asks for (from its suffix); RooflineError if matplotlib
    cannot write it or its directory does not exist. Lets a command fail before work."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    supported = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in supported:
        raise RooflineError(f"{path}: unknown figure format {fmt!r}; use one of {', '.join(sorted(supported))}")
    if not path.parent.is_dir():
        raise RooflineError(f"{path}: no such directory {str(path.parent)!r}")
    return fmt


def save(fig: Figure, path: str | os.PathLike, *, dpi: float | None = None) -> Path:
    """Write a figure atomically (temp file + rename); the format comes from the suffix.

    The pixel size is the figure size in inches x dpi (the figure's own dpi by default):
    no tight bounding box, so it is predictable.
    """
    path = Path(path)
    fmt = check_figure_path(path)
    write_atomic(path, lambda handle: fig.savefig(handle, format=fmt, dpi=dpi or fig.dpi), binary=True)
    return path
