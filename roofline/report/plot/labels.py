"""Label placement: op names, roof names and ceiling names placed so that none overlaps
another, the legend, a marker or (while any place is free of them) a roof or ceiling.

Placement is greedy and works in display space: each label tries a fixed list of
candidate positions in order of preference and keeps the first that fits. It needs a
laid-out figure (call ``fig.tight_layout()`` first) and its renderer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from roofline.report.plot._common import (
    CEILING_LABEL,
    FONT,
    MUTED_COLOR,
    OP_LABEL,
    ROOF_LABEL,
    Panel,
    level_style,
)
from roofline.units import format_quantity

#: Directions a label may sit in around its point, in order of preference (up-right first).
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0))
#: Distances (points beyond the marker's radius) of the rings of candidate positions;
#: the first ring touches the marker and needs no leader line.
_RINGS = (3, 14, 28, 45, 65)
_LABEL_COLOR = "#111111"
_LEADER_COLOR = "#777777"


# --------------------------------------------------------------------------- geometry
def _inside(box: Bbox, outer: Bbox) -> bool:
    return box.x0 >= outer.x0 + 1 and box.x1 <= outer.x1 - 1 and box.y0 >= outer.y0 + 1 and box.y1 <= outer.y1 - 1


def _free(box: Bbox, occupied: Sequence[Bbox], pad: float = 1.5) -> bool:
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


def line_points(ax: Axes, gids: set[str], step_px: float = 2.5) -> np.ndarray:
    """Display-space points every ``step_px`` along the Line2Ds with these gids (roofs,
    ceilings), so labels can keep off the lines as well as off each other."""
    chunks = []
    for line in ax.lines:
        if line.get_gid() not in gids or line.get_linestyle() in ("None", "none", ""):
            continue
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
        for (x0, y0), (x1, y1) in itertools.pairwise(xy):
            n = max(2, int(math.hypot(x1 - x0, y1 - y0) / step_px))
            t = np.linspace(0.0, 1.0, n)[:, None]
            chunks.append(np.array([x0, y0]) + t * np.array([x1 - x0, y1 - y0]))
    return np.vstack(chunks) if chunks else np.empty((0, 2))


def text_box(text: Text, renderer: Any) -> Bbox:
    """Display-space box of a text's glyphs only (an Annotation's leader line left out)."""
    if hasattr(text, "update_positions"):  # an Annotation places its text at draw time
        text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


def marker_box(ax: Axes, x: float, y: float, radius_pts: float) -> Bbox:
    """Display-space box of a round marker of ``radius_pts`` points at data (x, y)."""
    cx, cy = ax.transData.transform((x, y))
    r = radius_pts * ax.figure.dpi / 72.0
    return Bbox([[cx - r, cy - r], [cx + r, cy + r]])


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


# --------------------------------------------------------------------------- placement
def _place_first(
    make: Callable[[Any], Text], candidates: Iterable[Any], renderer: Any, outer: Bbox, occupied: list[Bbox],
    markers: Sequence[Bbox] = (),
) -> tuple[Text, Any] | None:
    """Try candidate positions in order; keep the first text that fits inside ``outer``
    without touching ``occupied`` or ``markers`` (display-space boxes) and add its box
    to ``occupied``; if none fits, draw nothing."""
    for candidate in candidates:
        text = make(candidate)
        box = text_box(text, renderer)
        if _inside(box, outer) and _free(box, occupied) and _free(box, markers):
            occupied.append(box)
            return text, candidate
        text.remove()
    return None


def _candidates(radius: float) -> list[tuple[int, int, int, float]]:
    """(ring, dx, dy, distance in points) around a marker of ``radius`` points, nearest first."""
    return [(ring, dx, dy, radius + gap) for ring, gap in enumerate(_RINGS) for dx, dy in _DIRECTIONS]


def _annotation(ax: Axes, x: float, y: float, text: str, radius: float, color: str, candidate: tuple[int, int, int, float]) -> Text:
    """The label ``text`` of point (x, y) at one candidate offset, with a leader line
    beyond the first ring."""
    ring, dx, dy, dist = candidate
    norm = math.hypot(dx, dy)
    ha = "left" if dx > 0 else "right" if dx < 0 else "center"
    va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
    arrow = {"arrowstyle": "-", "lw": 0.5, "color": _LEADER_COLOR, "shrinkA": 0, "shrinkB": radius} if ring else None
    return ax.annotate(text, (x, y), xytext=(dx / norm * dist, dy / norm * dist), textcoords="offset points", ha=ha, va=va,
                       fontsize=FONT - 0.5, color=color, gid=OP_LABEL, arrowprops=arrow, zorder=5, annotation_clip=False)


def _place_point_label(
    ax: Axes, renderer: Any, point: tuple[float, float, str, float], occupied: list[Bbox], markers: Sequence[Bbox],
    color: str, avoid: np.ndarray,
) -> Text | None:
    """The first candidate position of one point's label that fits (see label_points);
    ``avoid``: display points the label must keep clear of (empty: none)."""
    x, y, text, radius = point
    outer = ax.get_window_extent(renderer)
    anchor = tuple(ax.transData.transform((x, y)))
    skip_px = radius * ax.figure.dpi / 72.0
    for candidate in _candidates(radius):
        label = _annotation(ax, x, y, text, radius, color, candidate)
        box = text_box(label, renderer)
        leader = _leader_boxes(anchor, box, skip_px) if candidate[0] else []
        if (_inside(box, outer) and _free(box, occupied) and _free(box, markers) and _clear_of(box, avoid)
                and all(_free(b, occupied, pad=0.5) for b in leader)):
            occupied.append(box)
            occupied.extend(leader)
            return label
        label.remove()
    return None


def label_points(
    ax: Axes, renderer: Any, points: list[tuple[float, float, str, float]], occupied: list[Bbox], markers: Sequence[Bbox] = (),
    color: str = _LABEL_COLOR, lines: np.ndarray | None = None,
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
    on_lines = lines if lines is not None else np.empty((0, 2))
    placed = []
    for point in points:
        label = _place_point_label(ax, renderer, point, occupied, markers, color, on_lines)
        if label is None and len(on_lines):  # second pass: touching a line beats no label
            label = _place_point_label(ax, renderer, point, occupied, markers, color, np.empty((0, 2)))
        if label is not None:
            placed.append(label)
    return placed


def label_roofs(panel: Panel, renderer: Any, occupied: list[Bbox], markers: Sequence[Bbox] = ()) -> None:
    """Level names along their diagonal (rotated to match it), ceiling names above their line."""
    ax, outer = panel.ax, panel.ax.get_window_extent(renderer)
    (x_lo, x_hi), (y_lo, _) = ax.get_xlim(), ax.get_ylim()
    top = max(c.peak_flops for c in panel.ceilings)
    for c in panel.ceilings:  # highest first
        text = f"{c.label}: {format_quantity(c.peak_flops, 'flops')}"
        # Along the line, from the right end leftwards, until it fits.
        xs = [x_hi / 1.3 / (1.6**k) for k in range(12)]
        _place_first(
            lambda x, c=c, text=text: ax.text(x, c.peak_flops * 1.07, text, ha="right", va="bottom", fontsize=FONT - 0.5, color=MUTED_COLOR,
                                              gid=CEILING_LABEL),
            xs, renderer, outer, occupied, markers,
        )
    for lvl in sorted(panel.levels, key=lambda l: -l.bandwidth):
        color, _ = level_style(panel.hw, lvl.name)
        ridge_x = top / lvl.bandwidth
        p0 = ax.transData.transform((x_lo, lvl.bandwidth * x_lo))
        p1 = ax.transData.transform((ridge_x, top))
        angle = math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0]))
        text = f"{lvl.name} {format_quantity(lvl.bandwidth, 'bandwidth')}"
        start = max(x_lo * 1.5, y_lo * 2 / lvl.bandwidth)
        xs = [start * (1.8**k) for k in range(14) if start * (1.8**k) < ridge_x / 2]
        _place_first(
            lambda x, lvl=lvl, text=text, angle=angle, color=color: ax.text(
                x, lvl.bandwidth * x * 1.15, text, rotation=angle, rotation_mode="anchor", ha="left", va="bottom", fontsize=FONT - 0.5,
                color=color, gid=ROOF_LABEL),
            xs, renderer, outer, occupied, markers,
        )
