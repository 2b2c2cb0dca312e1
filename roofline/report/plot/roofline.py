"""Roofline charts: roofs and ceilings of a spec with ops (or groups of ops) placed on them.

* ``roofline``: one panel per analysis, shared log axes, one point per op.
* ``hierarchical_roofline``: the top ops at each memory level's intensity.
* ``trajectory``: one point per group (category, module) per analysis, joined in order.
* ``ceilings``: which compute ceilings a chart draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator
from matplotlib.transforms import Bbox

from roofline.count.categories import CATEGORIES
from roofline.count.registry import MATRIX, VECTOR
from roofline.errors import RooflineError
from roofline.dtypes import OTHER_DTYPE
from roofline.report.text import display_op
from roofline.report.text import title as figure_title
from roofline.report.plot._common import (
    ATTAINABLE,
    AX_SIZE,
    CATEGORY_COLORS,
    CEILING,
    DPI,
    FONT,
    GRID_STYLE,
    INK_COLOR,
    MUTED_COLOR,
    OP_SPAN,
    OPS,
    RIDGE,
    ROOF,
    STEP_LABEL,
    TRAJECTORY,
    Panel,
    category_color,
    check_analyses,
    check_analysis,
    is_dram,
    level_style,
    marker_area,
    measured_series,
    memory_levels,
    new_figure,
    op_label,
    per_item,
    placeable,
    present_categories,
    short_op,
    si_tick,
)
from roofline.report.plot.labels import (
    label_points,
    label_roofs,
    line_points,
    marker_box,
)

_CEILING_COLOR = "#444444"
_SPAN_COLOR = "#999999"
#: "peaks" values naming a set of ceilings rather than listing (unit, dtype) pairs.
ALL_PEAKS, USED_PEAKS = "all", "used"


# --------------------------------------------------------------------------- ceilings
@dataclass(frozen=True)
class Ceiling:
    """One horizontal compute ceiling: a peak (FLOP/s) and the (unit, dtype) pairs it stands for."""

    peak_flops: float
    names: tuple[tuple[str, str], ...]  # (unit, dtype) pairs with this peak

    @property
    def matrix(self) -> bool:
        """Whether any of its pairs is a matrix (tensor core) peak: drawn solid."""
        return any(unit == MATRIX for unit, _ in self.names)

    @property
    def label(self) -> str:
        """"bf16/fp16 matrix, fp32 vector"."""
        parts = []
        for unit in (MATRIX, VECTOR):
            dtypes = [dtype for u, dtype in self.names if u == unit]
            if dtypes:
                parts.append(f"{'/'.join(dtypes)} {unit}")
        return ", ".join(parts)


def _peak_name(hw: Any, unit: str, dtype: str, peak: float) -> tuple[str, str]:
    """Which (unit, dtype) of the spec a used peak is: the same fallback order as
    HardwareSpec.peak_flops (matrix entry, TF32 for fp32 matrix work, vector entry, fp32 vector)."""
    candidates = []
    if unit == MATRIX:
        candidates.append((MATRIX, dtype))
        if dtype == "fp32":
            candidates.append((MATRIX, "tf32"))
    candidates += [(VECTOR, dtype), (VECTOR, "fp32")]
    for cand_unit, cand_dtype in candidates:
        table = hw.matrix_flops if cand_unit == MATRIX else hw.vector_flops
        if table.get(cand_dtype) == peak:
            return cand_unit, cand_dtype
    return unit, dtype


def _peak_triples(hw: Any, peaks: str | Iterable[tuple[str, str]], ops: pd.DataFrame | None) -> list[tuple[str, str, float]]:
    """(unit, dtype, peak) of every ceiling ``peaks`` asks for (see ceilings)."""
    if isinstance(peaks, str) and peaks == ALL_PEAKS:
        return [(MATRIX, d, p) for d, p in hw.matrix_flops.items()] + [(VECTOR, d, p) for d, p in hw.vector_flops.items()]
    if isinstance(peaks, str) and peaks == USED_PEAKS:
        if ops is None:
            raise RooflineError('peaks="used" needs the ops frame')
        working = ops[(ops["flops"] > 0) & ops["peak_flops"].notna()]
        # integer and bool ops (an arange, index arithmetic) run at the fp32 vector rate
        # by fallback: they would add an fp32 ceiling the model's arithmetic never uses
        floating = working[working["dtype"] != OTHER_DTYPE]
        working = floating if not floating.empty else working
        groups = working.groupby(["unit", "dtype", "peak_flops"], sort=False).groups
        return [(*_peak_name(hw, unit, dtype, float(peak)), float(peak)) for unit, dtype, peak in groups]
    if isinstance(peaks, str):
        raise RooflineError(f'peaks={peaks!r}: expected "all", "used" or a list of (unit, dtype) pairs')
    triples = []
    for pair in peaks:
        try:
            unit, dtype = pair
            triples.append((unit, dtype, hw.peak_flops(dtype, unit)))
        except (TypeError, ValueError) as exc:
            raise RooflineError(f"peaks: {pair!r} is not a (unit, dtype) pair of {hw.name}: {exc}") from None
    return triples


def ceilings(hw: Any, peaks: str | Iterable[tuple[str, str]] = ALL_PEAKS, ops: pd.DataFrame | None = None) -> list[Ceiling]:
    """The compute ceilings to draw, highest first; equal peaks share one ceiling.

    peaks: "all" (every entry of the spec), "used" (the peaks ``ops`` ran at: needs the
    ops frame with flops, unit, dtype, peak_flops columns; "all" if no op did work), or
    (unit, dtype) pairs.
    """
    triples = _peak_triples(hw, peaks, ops)
    if not triples and isinstance(peaks, str) and peaks == USED_PEAKS:  # nothing did work: show the spec's peaks
        return ceilings(hw, ALL_PEAKS)
    by_peak: dict[float, list[tuple[str, str]]] = {}
    for unit, dtype, peak in triples:
        names = by_peak.setdefault(peak, [])
        if (unit, dtype) not in names:
            names.append((unit, dtype))
    return [Ceiling(peak, tuple(names)) for peak, names in sorted(by_peak.items(), reverse=True)]


# --------------------------------------------------------------------------- roofs and axes
def _decade(value: float, rounding: Callable[[float], int]) -> float:
    """The power of ten at or around ``value``: rounding is math.floor (below) or math.ceil (above)."""
    return 10.0 ** rounding(math.log10(value))


def _limits(panels: list[Panel]) -> tuple[tuple[float, float], tuple[float, float]]:
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
    return (_decade(x_lo, math.floor), _decade(x_hi, math.ceil)), (_decade(y_lo, math.floor), _decade(y_hi, math.ceil))


def _draw_roofs(panel: Panel, xlim: tuple[float, float], efficiency: bool) -> None:
    """Roofs (diagonals, one per level), ceilings (horizontal, one per peak) and ridge points."""
    ax, hw = panel.ax, panel.hw
    top = max(c.peak_flops for c in panel.ceilings)
    fastest = max(lvl.bandwidth for lvl in panel.levels)
    for lvl in panel.levels:
        color, _ = level_style(hw, lvl.name)
        ax.plot([xlim[0], top / lvl.bandwidth], [lvl.bandwidth * xlim[0], top], color=color, lw=1.4, gid=ROOF, zorder=2)
        if efficiency:
            bw = hw.efficiency.memory * lvl.bandwidth
            ax.plot([xlim[0], top / bw], [bw * xlim[0], top], color=color, lw=0.7, ls=":", gid=ROOF + ATTAINABLE, zorder=2)
    for c in panel.ceilings:
        style = "-" if c.matrix else "--"
        ax.plot([c.peak_flops / fastest, xlim[1]], [c.peak_flops] * 2, color=_CEILING_COLOR, lw=1.1, ls=style, gid=CEILING, zorder=2)
        if efficiency:
            eff = hw.efficiency.matrix if c.matrix else hw.efficiency.vector
            ax.plot([c.peak_flops * eff / fastest, xlim[1]], [c.peak_flops * eff] * 2, color=_CEILING_COLOR, lw=0.6, ls=":",
                    gid=CEILING + ATTAINABLE, zorder=2)
    rx = [c.peak_flops / lvl.bandwidth for c in panel.ceilings for lvl in panel.levels]
    ry = [c.peak_flops for c in panel.ceilings for _ in panel.levels]
    ax.plot(rx, ry, ls="none", marker="o", ms=3.5, mfc="white", mec=INK_COLOR, mew=0.9, gid=RIDGE, zorder=3)


def _style_axes(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], ylabel: bool = True) -> None:
    """Log-log axes with SI ticks and the intensity / performance labels."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, numticks=12))
        axis.set_major_formatter(si_tick(""))
    ax.set_xlabel("arithmetic intensity (FLOP/byte)", fontsize=FONT + 1)
    if ylabel:
        ax.set_ylabel("performance (FLOP/s)", fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.grid(True, which="major", **GRID_STYLE)


def _draw_frame(panels: list[Panel], efficiency: bool = False) -> None:
    """Shared limits, axes, roofs and ceilings of every panel (the first has the y label)."""
    xlim, ylim = _limits(panels)
    for k, panel in enumerate(panels):
        _style_axes(panel.ax, xlim, ylim, ylabel=k == 0)
        _draw_roofs(panel, xlim, efficiency)


def _legend_box(ax: Axes, renderer: Any) -> list[Bbox]:
    """The legend's display box (labels keep off it), if the axes has one."""
    legend = ax.get_legend()
    return [legend.get_window_extent(renderer)] if legend is not None else []


# --------------------------------------------------------------------------- op groups
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
        pattern = _module_pattern(list(members["module"]))
        # "*.*.* …" names no module: the op and its count say all there is
        anywhere = set(pattern.replace(".", "").replace("…", "").replace(" ", "")) == {"*"}
        text = short_op(members["op"].iloc[0]) if anywhere else op_label(members["op"].iloc[0], pattern, width=40)
        if len(members) > 1:
            text += f" x{len(members)}"
        rows.append({"x": members["x"].iloc[0], "y": members["y"].iloc[0], "text": text,
                     "seconds": members["seconds"].sum(), "share_max": members["share"].max(),
                     **{column: members[column].iloc[0] for column in keep}})
    return pd.DataFrame(rows).nlargest(top, "seconds").reset_index(drop=True)


def _label_panel(panel: Panel, renderer: Any, points: list[tuple[float, float, str, float]], markers: list[Bbox],
                 extra_lines: Iterable[str] = (), **style: Any) -> list[Any]:
    """Roof and ceiling names, then the ``points`` labels (x, y, text, marker radius),
    all kept off the legend, each other and ``markers``; labels avoid the roofs, the
    ceilings and the lines with gids ``extra_lines`` where they can; ``style`` goes to
    label_points (color). Returns the point labels."""
    ax = panel.ax
    occupied = _legend_box(ax, renderer)
    label_roofs(panel, renderer, occupied, markers)
    return label_points(ax, renderer, points, occupied, markers, lines=line_points(ax, {ROOF, CEILING, *extra_lines}), **style)


def _group_points(groups: pd.DataFrame, anchors: np.ndarray) -> tuple[list[tuple[float, float, str, float]], np.ndarray]:
    """Label points (x, y, text, marker radius) of label groups anchored at ``anchors``
    ((n, 2) data coordinates), and the radii."""
    radii = np.sqrt(marker_area(groups["share_max"].to_numpy(dtype=float))) / 2 if len(groups) else np.array([])
    return [(x, y, text, r) for (x, y), text, r in zip(anchors, groups["text"], radii)], radii


# --------------------------------------------------------------------------- roofline
@dataclass
class _OpPoints:
    """The ops of one roofline panel that have a point, and what the title says of the rest."""

    frame: pd.DataFrame  # op, module, category, flops, bytes, seconds, share, x, y
    unplaced: int  # ops with time but no FLOPs or bytes
    unplaced_share: float  # their share of the total time
    measured: bool  # times are measured, not predicted


def _op_points(analysis: Any, measured: Any) -> _OpPoints:
    """Every op of ``analysis`` with a place on the roofline, at its predicted time or
    (``measured`` given) its measured one."""
    # device ops only (a training step's host-side bookkeeping is not on the roofline),
    # named as the spec's device runs them
    ops = getattr(analysis, "device_ops", analysis.ops)
    seconds = ops["predicted_s"] if measured is None else measured_series(measured, ops.index, f"roofline: measured for {analysis.name}")
    mask = placeable(ops["flops"], ops["bytes"], seconds)
    frame = ops.loc[mask, ["op", "module", "category", "flops", "bytes"]].copy()
    frame["op"] = [display_op(op, analysis.hw.kind) for op in frame["op"]]
    frame["seconds"] = seconds[mask].astype(float)
    total_s = float(np.nansum(seconds.to_numpy(dtype=float)))
    frame["share"] = frame["seconds"] / total_s if total_s > 0 else 0.0
    frame["x"] = frame["flops"] / frame["bytes"]
    frame["y"] = frame["flops"] / frame["seconds"]
    unplaced = ~mask & (seconds > 0)
    share = float(seconds[unplaced].sum()) / total_s if total_s > 0 else 0.0
    return _OpPoints(frame, int(unplaced.sum()), share, measured is not None)


def _draw_op_points(ax: Axes, points: _OpPoints, title: str) -> None:
    """One scatter per category (area = share of time), the title and the legend."""
    frame = points.frame
    present = present_categories(frame["category"])
    for cat in present:
        rows = frame[frame["category"] == cat]
        ax.scatter(rows["x"], rows["y"], s=marker_area(rows["share"].to_numpy()), color=category_color(cat),
                   alpha=0.7, edgecolors="white", linewidths=0.4, gid=OPS, label=cat, zorder=4)
    sub = f"{len(frame)} ops placed ({'measured' if points.measured else 'predicted'} time)"
    if points.unplaced:
        sub += f"; {points.unplaced} without FLOPs not drawn ({points.unplaced_share:.0%} of time)"
    ax.set_title(f"{title}\n{sub}", fontsize=FONT + 1)
    if present:
        handles = [Line2D([], [], ls="none", marker="o", ms=5, color=category_color(c), label=c) for c in present]
        ax.legend(handles=handles, loc="lower right", fontsize=FONT - 0.5, title="area = share of time", title_fontsize=FONT - 1,
                  framealpha=0.85)


def roofline(
    analyses: Any,
    *,
    measured: Any = None,
    peaks: str | Iterable[tuple[str, str]] = USED_PEAKS,
    levels: Sequence[str] | None = None,
    top: int = 8,
    efficiency: bool = False,
    titles: Sequence[str] | None = None,
    ax_size: tuple[float, float] = AX_SIZE,
    dpi: float = DPI,
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
    items = check_analyses(analyses, "roofline")
    measured_list = per_item(measured, items, "roofline", "measured frames")
    fig = new_figure(ax_size[0] * len(items), ax_size[1], dpi)
    axes = fig.subplots(1, len(items), squeeze=False)[0]
    all_points = [_op_points(a, m) for a, m in zip(items, measured_list)]
    panels = [
        Panel(ax, a.hw, memory_levels(a.hw, levels), ceilings(a.hw, peaks, getattr(a, "device_ops", a.ops)), p.frame["x"].to_numpy(), p.frame["y"].to_numpy())
        for ax, a, p in zip(axes, items, all_points)
    ]
    _draw_frame(panels, efficiency)
    for k, (panel, points, a) in enumerate(zip(panels, all_points, items)):
        _draw_op_points(panel.ax, points, titles[k] if titles else figure_title(a))
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    for panel, points in zip(panels, all_points):
        groups = _label_groups(points.frame, top)
        labels, _ = _group_points(groups, groups[["x", "y"]].to_numpy(dtype=float))
        markers = [marker_box(panel.ax, x, y, r) for x, y, _, r in labels]
        _label_panel(panel, renderer, labels, markers)
    return fig


# --------------------------------------------------------------------------- hierarchical
def _level_traffic(ops: pd.DataFrame, hw: Any, level_bytes: pd.DataFrame | None) -> tuple[dict[str, pd.Series], list[str]]:
    """Bytes moved per op at each memory level of ``hw`` (see hierarchical_roofline), and
    the cache levels that had no data and fell back to the compulsory bytes."""
    names = [lvl.name for lvl in hw.memory]
    given = level_bytes if level_bytes is not None else pd.DataFrame(index=ops.index)
    unknown = [c for c in given.columns if c not in names]
    if unknown:
        raise RooflineError(f"level_bytes: {hw.name} has no memory level {', '.join(map(repr, unknown))}; it has: {', '.join(names)}")
    per_level: dict[str, pd.Series] = {}
    compulsory = []
    for name in names:
        if name in given.columns:
            per_level[name] = pd.to_numeric(given[name], errors="coerce").reindex(ops.index)
        elif f"bytes_{name}" in ops.columns:
            per_level[name] = pd.to_numeric(ops[f"bytes_{name}"], errors="coerce")
        else:
            per_level[name] = ops["bytes"]
            if not is_dram(name):  # the time model's traffic is DRAM traffic: nothing is missing there
                compulsory.append(name)
    return per_level, compulsory


def _level_groups(ops: pd.DataFrame, per_level: dict[str, pd.Series], top: int) -> pd.DataFrame:
    """The ``top`` label groups of ops placeable at every level, with one intensity
    column ``x_<level>`` per level (identical layers merged as on the plain roofline)."""
    seconds = ops["predicted_s"]
    mask = placeable(ops["flops"], ops["bytes"], seconds)
    for series in per_level.values():
        mask &= series > 0
    total_s = float(seconds.sum())
    frame = ops.loc[mask, ["op", "module", "flops"]].copy()
    frame["seconds"] = seconds[mask]
    frame["share"] = frame["seconds"] / total_s if total_s > 0 else 0.0
    frame["y"] = frame["flops"] / frame["seconds"]
    columns = [f"x_{name}" for name in per_level]
    for name, column in zip(per_level, columns):
        frame[column] = frame["flops"] / per_level[name][mask]
    frame["x"] = frame[columns].max(axis=1)  # grouping key and label anchor
    return _label_groups(frame, top, keep=columns)


def _draw_level_points(ax: Axes, hw: Any, stacked: np.ndarray, y: np.ndarray, area: np.ndarray) -> None:
    """Per op, a horizontal span joining its level points; per level, one scatter in the
    level's marker and colour (filled for DRAM), and the legend."""
    for j in range(len(y)):
        lo, hi = stacked[:, j].min(), stacked[:, j].max()
        if hi > lo:
            ax.plot([lo, hi], [y[j], y[j]], color=_SPAN_COLOR, lw=0.8, gid=OP_SPAN, zorder=3)
    names = [lvl.name for lvl in hw.memory]
    for k, name in enumerate(names):
        color, marker = level_style(hw, name)
        ax.scatter(stacked[k], y, s=area, marker=marker, facecolors=color if is_dram(name) else "none", edgecolors=color,
                   linewidths=1.1, alpha=0.85, gid=OPS, label=name, zorder=4)
    handles = [Line2D([], [], ls="none", marker=level_style(hw, n)[1], ms=5, color=level_style(hw, n)[0], label=f"{n} intensity")
               for n in names]
    ax.legend(handles=handles, loc="lower right", fontsize=FONT - 0.5, framealpha=0.85)


def hierarchical_roofline(
    analysis: Any,
    *,
    level_bytes: pd.DataFrame | None = None,
    top: int = 10,
    peaks: str | Iterable[tuple[str, str]] = USED_PEAKS,
    title: str | None = None,
    figsize: tuple[float, float] = AX_SIZE,
    dpi: float = DPI,
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
    check_analysis(analysis, "hierarchical_roofline")
    ops, hw = analysis.ops, analysis.hw
    per_level, compulsory = _level_traffic(ops, hw, level_bytes)
    groups = _level_groups(ops, per_level, top)
    columns = [f"x_{name}" for name in per_level]
    stacked = groups[columns].to_numpy(dtype=float).T if len(groups) else np.empty((len(columns), 0))  # (levels, ops)
    y = groups["y"].to_numpy(dtype=float) if len(groups) else np.array([])

    fig = new_figure(figsize[0], figsize[1], dpi)
    ax = fig.subplots()
    panel = Panel(ax, hw, list(hw.memory), ceilings(hw, peaks, ops), stacked.ravel(), np.tile(y, len(columns)))
    _draw_frame([panel])
    labels, radii = _group_points(groups, np.column_stack([stacked.max(axis=0), y]) if len(y) else np.empty((0, 2)))
    _draw_level_points(ax, hw, stacked, y, marker_area(groups["share_max"].to_numpy(dtype=float)) if len(y) else np.array([]))
    sub = f"top {len(y)} ops by predicted time"
    if compulsory:
        sub += f"\nno traffic data for {', '.join(compulsory)}: drawn with the compulsory (DRAM) bytes"
    ax.set_title(f"{title or f'{figure_title(analysis)}: hierarchical roofline'}\n{sub}", fontsize=FONT + 1)
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    markers = [marker_box(ax, stacked[k, j], y[j], radii[j]) for j in range(len(y)) for k in range(len(columns))]
    _label_panel(panel, renderer, labels, markers, extra_lines={OP_SPAN})  # labels at each op's rightmost point
    return fig


# --------------------------------------------------------------------------- trajectory
def _distinct_steps(ax: Axes, ends: list[tuple[float, float, str, float]], min_px: float = 25.0) -> list[tuple[float, float, str, float]]:
    """The step labels worth drawing: a step's name once per cluster of its points
    (the first and last runs of several groups often land together; one "batch 1" says
    it for all of them). A point within ``min_px`` display pixels of a kept point with
    the same name is left unlabelled."""
    kept: list[tuple[float, float, str, float]] = []
    for end in ends:
        here = ax.transData.transform(end[:2])
        if not any(name == end[2] and np.hypot(*(ax.transData.transform((x, y)) - here)) < min_px for x, y, name, _ in kept):
            kept.append(end)
    return kept


def _group_totals(pairs: list[tuple[str, Any]], by: str) -> list[tuple[str, pd.DataFrame]]:
    """Per analysis, the summed flops, bytes and predicted seconds of its placeable ops per ``by`` value."""
    sums = []
    for label, a in pairs:
        ops = a.ops[placeable(a.ops["flops"], a.ops["bytes"], a.ops["predicted_s"])]
        sums.append((label, ops.groupby(by).agg(flops=("flops", "sum"), bytes=("bytes", "sum"), seconds=("predicted_s", "sum"))))
    return sums


def _trajectory_keys(sums: list[tuple[str, pd.DataFrame]], by: str, keys: Sequence[str] | None) -> list[str]:
    """The groups to draw: ``keys`` (each must have FLOPs somewhere), or every group
    found, categories in the seed's order."""
    found = set().union(*(set(g.index) for _, g in sums))
    if keys is None:
        keys = [c for c in CATEGORIES if c in found] if by == "category" else sorted(found)
        keys += sorted(found - set(keys))
    missing = [k for k in keys if k not in found]
    if missing:
        raise RooflineError(f"trajectory: no ops with FLOPs in {by} {', '.join(map(repr, missing))}")
    return list(keys)


def trajectory(
    analyses: Mapping[str, Any] | Sequence[tuple[str, Any]],
    *,
    by: str = "category",
    keys: Sequence[str] | None = None,
    peaks: str | Iterable[tuple[str, str]] = USED_PEAKS,
    title: str | None = None,
    figsize: tuple[float, float] = AX_SIZE,
    dpi: float = DPI,
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
        check_analysis(a, f"trajectory: {label!r}")
    first = pairs[0][1]
    hw = first.hw
    if by not in first.ops.columns:
        raise RooflineError(f"trajectory: by={by!r} is not an ops column")
    sums = _group_totals(pairs, by)
    lines = {
        key: [(label, g.loc[key, "flops"] / g.loc[key, "bytes"], g.loc[key, "flops"] / g.loc[key, "seconds"]) for label, g in sums if key in g.index]
        for key in _trajectory_keys(sums, by, keys)
    }
    fig = new_figure(figsize[0], figsize[1], dpi)
    ax = fig.subplots()
    points = [(x, y) for pts in lines.values() for _, x, y in pts]
    used_ops = pd.concat([a.ops for _, a in pairs])
    panel = Panel(ax, hw, list(hw.memory), ceilings(hw, peaks, used_ops), np.array([x for x, _ in points]), np.array([y for _, y in points]))
    _draw_frame([panel])
    palette = list(CATEGORY_COLORS.values())
    for i, (key, pts) in enumerate(lines.items()):
        color = CATEGORY_COLORS.get(key, palette[i % len(palette)]) if by == "category" else palette[i % len(palette)]
        ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", ms=4, lw=1.3, color=color, gid=TRAJECTORY, label=str(key), zorder=4)
    ax.set_title(title or f"{first.name}: {by} totals across {len(pairs)} runs on {hw.display_name}", fontsize=FONT + 1)
    ax.legend(loc="lower right", fontsize=FONT - 0.5, framealpha=0.85)
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    markers = [marker_box(ax, x, y, 3) for x, y in points]
    ends = [(x, y, str(label), 3.0) for pts in lines.values() for label, x, y in ([pts[0], pts[-1]] if len(pts) > 1 else pts)]
    for text in _label_panel(panel, renderer, _distinct_steps(ax, ends), markers, color=MUTED_COLOR):
        text.set_gid(STEP_LABEL)
    return fig
