"""Roofline and breakdown figures. Every function returns a matplotlib Figure.

Plotting only reads results (Analysis.ops, by_category(), a comparison frame, a sweep
frame): it never predicts, measures or compares. What a figure needs is made by the
caller first (Analysis.with_hw for what_if, Analysis.compare for the compare scatter;
Analysis.plot does both for you). Figures are built with ``matplotlib.figure.Figure``
and an Agg canvas, not pyplot, so they work on any backend (headless included), leave
no global state behind, and still display in Jupyter when returned as a cell's last value.

Kinds (``plot(analysis, kind=...)``, ``Analysis.plot(kind)``):

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
* ``plot_sweep`` (function only): predicted time against batch size from a sweep frame.

Modules: roofline (roofline, hierarchical_roofline, trajectory, ceilings), bars
(breakdown, what_if), compare (predicted_vs_measured), sweep (plot_sweep), labels (label
placement), kinds (plot, KINDS), files (save, check_figure_path), _common (gids, colours,
figure helpers). Artists carry a ``gid`` (ROOF, CEILING, RIDGE, OPS, OP_LABEL, ...) so
tests and users can find what was drawn.

May import: matplotlib, numpy, pandas, roofline.errors, roofline.units, roofline._io,
roofline.count's constants (categories, compute units) and roofline.predict's constants.
Results (Analysis, Comparison, HardwareSpec) arrive as arguments and are only read.
Never capture, measure, calibrate or tools.

Note: the function ``roofline`` shadows its module ``roofline.report.plot.roofline`` as
an attribute of this package; import the module's other names with
``from roofline.report.plot.roofline import ...``.
"""

from roofline.report.plot._common import (
    BAND,
    CATEGORY_COLORS,
    CEILING,
    CEILING_LABEL,
    IDENTITY,
    OP_LABEL,
    OP_SPAN,
    OPS,
    RIDGE,
    ROOF,
    ROOF_LABEL,
    STEP_LABEL,
    TOTAL,
    TRAJECTORY,
)
from roofline.report.plot.bars import breakdown
from roofline.report.plot.compare import predicted_vs_measured
from roofline.report.plot.files import check_figure_path, save
from roofline.report.plot.kinds import KINDS, plot, what_if

# Binds ``roofline`` here to the function; importing the submodule had bound it to the module.
from roofline.report.plot.roofline import (
    Ceiling,
    ceilings,
    hierarchical_roofline,
    roofline,
    trajectory,
)
from roofline.report.plot.sweep import plot_sweep

__all__ = [
    "BAND",
    "CATEGORY_COLORS",
    "CEILING",
    "CEILING_LABEL",
    "IDENTITY",
    "KINDS",
    "OPS",
    "OP_LABEL",
    "OP_SPAN",
    "RIDGE",
    "ROOF",
    "ROOF_LABEL",
    "STEP_LABEL",
    "TOTAL",
    "TRAJECTORY",
    "Ceiling",
    "breakdown",
    "ceilings",
    "check_figure_path",
    "hierarchical_roofline",
    "plot",
    "plot_sweep",
    "predicted_vs_measured",
    "roofline",
    "save",
    "trajectory",
    "what_if",
]
