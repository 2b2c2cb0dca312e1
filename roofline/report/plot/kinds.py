"""Figures by name: ``plot(subject, kind)`` and the KINDS it dispatches to, for
Analysis.plot; and ``what_if`` in both its call forms.

Dispatch only routes: each kind's function gets results already computed. Analysis.plot
makes what a kind needs first (the analyses on each spec for "what_if", the comparison
for "compare" given ``measured=``), so nothing here predicts, measures or compares.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.figure import Figure

from roofline.errors import RooflineError
from roofline.report.plot import bars
from roofline.report.plot._common import as_list, check_analysis
from roofline.report.plot.compare import compare_kind
from roofline.report.plot.roofline import hierarchical_roofline, roofline

#: Names of the kinds of figure (keys of KINDS); "what-if" is accepted for WHAT_IF.
ROOFLINE, HIERARCHICAL, BREAKDOWN, WHAT_IF, COMPARE = "roofline", "hierarchical", "breakdown", "what_if", "compare"

#: plot kinds -> function(subject, **kw): subject is an Analysis, a list of analyses
#: (one per spec) for WHAT_IF.
KINDS: dict[str, Callable[..., Figure]] = {
    ROOFLINE: roofline,
    HIERARCHICAL: hierarchical_roofline,
    BREAKDOWN: bars.breakdown,
    WHAT_IF: bars.what_if,
    COMPARE: compare_kind,
}


def kind_key(kind: str) -> str:
    """The KINDS key a kind name means ("what-if" -> "what_if"); RooflineError for an unknown one."""
    key = kind.replace("-", "_")
    if key not in KINDS:
        raise RooflineError(f"plot: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return key


def plot(analysis: Any, kind: str = ROOFLINE, **kw: Any) -> Figure:
    """Draw one kind of figure for an Analysis (see KINDS; for "what_if", the list of its
    analyses on each spec); keyword arguments go to the kind's function."""
    return KINDS[kind_key(kind)](analysis, **kw)


def what_if(analyses: Any, hws: Sequence[Any] | None = None, **kw: Any) -> Figure:
    """One model predicted on several specs (see roofline.report.plot.bars.what_if).

    what_if([a_h100, a_a100, ...]): the analyses of one model on each spec, already
    predicted (``a.with_hw(spec)``), the first the reference.
    what_if(analysis, hws): one Analysis and spec names, YAML paths or HardwareSpec
    objects; the analysis makes its runs on each spec itself (Analysis.plot), then
    comes back to the first form. Keyword arguments (title, figsize, dpi) go through.
    """
    if hws is None:
        return bars.what_if(as_list(analyses), **kw)
    if isinstance(analyses, (list, tuple)):
        raise RooflineError("what_if: give the analyses (one per spec) or one analysis and hws, not both")
    check_analysis(analyses, "what_if")
    if not callable(getattr(analyses, "plot", None)):
        raise RooflineError(f"what_if: {type(analyses).__name__} cannot predict itself on other specs; pass its analyses, one per spec")
    return analyses.plot(WHAT_IF, hws=hws, **kw)
