"""What every figure shares: artist gids, colours and sizes, a pyplot-free figure, tick
formatters, and the checks and coercions of the results a figure is given (analyses,
measured times). Nothing here draws a chart or computes a prediction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from roofline.count.categories import CATEGORIES
from roofline.errors import RooflineError
from roofline.predict import DEFAULT_LEVEL
from roofline.units import format_quantity, si

if TYPE_CHECKING:  # only for annotations: roofline.py imports this module
    from roofline.report.plot.roofline import Ceiling

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
#: suffix of the dotted roofs and ceilings scaled by the spec's efficiencies
ATTAINABLE = "-attainable"

#: One colour per category, the same in every figure (matplotlib's tab10, in CATEGORIES order).
CATEGORY_COLORS: dict[str, str] = dict(
    zip(
        CATEGORIES,
        ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"),
    )
)
#: Colour of a category outside CATEGORIES, and of secondary text (labels of steps, ceilings).
MUTED_COLOR = "#333333"
#: Colour of the main lines: the y = x line, ridge markers, the DRAM roof.
INK_COLOR = "#222222"
#: Colour of single-series bars and of the error bands.
BAR_COLOR = "#4c72b0"
# Memory levels are styled from DRAM (the last level) inward, so DRAM looks the same on
# every spec whatever caches it lists.
_LEVEL_COLORS = (INK_COLOR, "#1f5fa8", "#2e8b57", "#b8860b", "#8b008b")
_LEVEL_MARKERS = ("o", "s", "^", "D", "v")
FONT = 7.5
AX_SIZE = (6.4, 4.8)  # inches per roofline panel
DPI = 100.0
GRID_STYLE = {"lw": 0.4, "alpha": 0.35}


# --------------------------------------------------------------------------- figures and axes
def new_figure(width: float, height: float, dpi: float) -> Figure:
    """A Figure with its own Agg canvas (no pyplot, no global figure list)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def si_tick(unit: str) -> FuncFormatter:
    """Log-axis tick labels with decimal SI prefixes: 1e12 -> "1T"."""
    return FuncFormatter(lambda value, _pos: si(value, unit, None, space=False) if value > 0 else "")


def fmt_time(seconds: float) -> str:
    """A duration for a label: "1.2 ms"; "0 s" for nothing."""
    return format_quantity(seconds, "time") if seconds > 0 else "0 s"


def time_tick() -> FuncFormatter:
    """Log-axis tick labels in seconds with a time prefix: 1e-3 -> "1 ms"."""
    return FuncFormatter(lambda value, _pos: fmt_time(value) if value > 0 else "")


def category_color(category: str) -> str:
    """A category's colour (MUTED_COLOR for one outside CATEGORIES)."""
    return CATEGORY_COLORS.get(category, MUTED_COLOR)


def present_categories(values: Iterable[str]) -> list[str]:
    """The categories among ``values``: CATEGORIES order first, unknown ones after, sorted."""
    found = set(values)
    return [c for c in CATEGORIES if c in found] + sorted(found - set(CATEGORIES))


# --------------------------------------------------------------------------- inputs
def as_list(obj: Any) -> list[Any]:
    """None -> [], a list or tuple -> a list, anything else -> [it]."""
    if obj is None:
        return []
    if isinstance(obj, (list, tuple)):
        return list(obj)
    return [obj]


def per_item(value: Any, items: Sequence[Any], where: str, what: str) -> list[Any]:
    """``value`` spread over ``items``: a list or tuple gives one entry each (its length
    must match), anything else (None included) is the same for every item."""
    values = as_list(value) if isinstance(value, (list, tuple)) else [value] * len(items)
    if len(values) != len(items):
        raise RooflineError(f"{where}: {len(values)} {what} for {len(items)} analyses")
    return values


def check_analysis(obj: Any, where: str) -> None:
    """RooflineError unless ``obj`` looks like a roofline Analysis (ops, hw, name)."""
    if not all(hasattr(obj, name) for name in ("ops", "hw", "name")):
        raise RooflineError(f"{where}: expected a roofline Analysis, got {type(obj).__name__}")


def check_analyses(analyses: Any, where: str) -> list[Any]:
    """One analysis or a list of them, as a non-empty list of checked analyses."""
    items = as_list(analyses)
    if not items:
        raise RooflineError(f"{where}: no analysis to plot")
    for i, a in enumerate(items):
        check_analysis(a, f"{where}: analyses[{i}]")
    return items


def short_op(op: str) -> str:
    """"aten.mm" -> "mm"."""
    return op.removeprefix("aten.")


def op_label(op: str, module: str, width: int = 34) -> str:
    """"mm layer.0", cut to ``width`` characters with an ellipsis in the module's part:
    the op's name is always whole (a cut name could be another op)."""
    name, module = short_op(op), module or "(top)"
    room = width - len(name) - 1
    if len(module) > room:
        module = module[: max(room - 1, 1)] + "…"
    return f"{name} {module}"


def frame_of(obj: Any) -> Any:
    """A result object's per-op frame (Comparison.ops, Measurement.ops), else obj itself."""
    ops = getattr(obj, "ops", None)
    return ops if isinstance(ops, pd.DataFrame) and not isinstance(obj, pd.DataFrame) else obj


def measured_series(measured: Any, index: pd.Index, where: str) -> pd.Series:
    """Measured seconds per op, aligned to ``index`` (op index), NaN where missing.

    Accepts a Series of seconds indexed by op index, or a DataFrame with a ``measured_s``
    column (indexed by op index, or with an ``index`` column naming it), or an object
    holding such a frame as ``.ops`` (roofline.measure.Measurement, validate.Comparison).
    """
    measured = frame_of(measured)
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


def placeable(flops: pd.Series, nbytes: pd.Series, seconds: pd.Series) -> pd.Series:
    """Ops that have a point on a log-log roofline: positive, finite FLOPs, bytes and time."""
    f, b, t = (pd.to_numeric(s, errors="coerce") for s in (flops, nbytes, seconds))
    return (f > 0) & (b > 0) & (t > 0) & np.isfinite(f) & np.isfinite(b) & np.isfinite(t)


def marker_area(share: np.ndarray) -> np.ndarray:
    """Marker area (pt^2) proportional to share of time, with a floor so tiny ops stay visible."""
    return np.maximum(2000.0 * share, 6.0)


# --------------------------------------------------------------------------- memory levels
def memory_levels(hw: Any, levels: Sequence[str] | None) -> list[Any]:
    """Memory levels to draw (MemoryLevel objects), fastest first."""
    if levels is None:
        return list(hw.memory)
    known = {lvl.name: lvl for lvl in hw.memory}
    missing = [name for name in levels if name not in known]
    if missing:
        raise RooflineError(f"levels: {hw.name} has no memory level {', '.join(map(repr, missing))}; it has: {', '.join(known)}")
    return [lvl for lvl in hw.memory if lvl.name in levels]


def level_style(hw: Any, name: str) -> tuple[str, str]:
    """(colour, marker) of a memory level, counted from DRAM inward."""
    names = [lvl.name for lvl in hw.memory]
    k = (len(names) - 1 - names.index(name)) % len(_LEVEL_COLORS)
    return _LEVEL_COLORS[k], _LEVEL_MARKERS[k]


def is_dram(name: str) -> bool:
    """Whether a level is the one the time model charges every op's compulsory bytes to."""
    return name == DEFAULT_LEVEL


@dataclass
class Panel:
    """What one roofline panel shows, gathered before drawing so limits can be shared."""

    ax: Axes
    hw: Any
    levels: list[Any]
    ceilings: list[Ceiling]
    xs: np.ndarray
    ys: np.ndarray
