"""Bar charts (roofline/report/plot/bars.py): breakdown and what_if. what_if draws the
analyses it is given (one per spec) and never predicts: re-predicting is the caller's
job (Analysis.with_hw, or Analysis.plot for the what_if(analysis, hws) form)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roofline import plot
from roofline.analysis import Analysis
from roofline.count.categories import CATEGORIES
from roofline.errors import RooflineError
from roofline.report.plot import bars
from tests.report.plot_helpers import assert_real_image, by_gid, refuse_predictions, toy

SPECS = ["h100-sxm", "a100-sxm", "xeon-8480"]


# --------------------------------------------------------------------------- bars
def test_breakdown_stacks_every_category_per_bar():
    a, b = toy("a"), toy("b", scale=0.5)
    measured = pd.DataFrame({"category": ["GEMM", "GEMM", "Element-wise"], "measured_s": [1e-3, 2e-3, 1e-3]})
    fig = plot.breakdown([a, b], measured=[measured, None])
    ax = fig.axes[0]
    assert len(ax.containers) == len(CATEGORIES) == 9
    assert len(ax.patches) == 3 * 9  # a predicted, a measured, b predicted
    assert [c.get_label() for c in ax.containers] == list(CATEGORIES)
    heights = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    # the measured bar (second) is 3 ms GEMM + 1 ms Element-wise: 75% / 25%
    assert heights["GEMM"][1] == pytest.approx(75.0)
    assert heights["Element-wise"][1] == pytest.approx(25.0)
    assert sum(h[1] for h in heights.values()) == pytest.approx(100.0)
    assert [p.get_hatch() for p in ax.containers[0].patches] == [None, "//", None]
    assert len(by_gid(ax, plot.TOTAL)) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\npredicted", "a\nmeasured", "b\npredicted"]
    w, h = fig.get_size_inches() * fig.dpi
    assert_real_image(fig, round(w), round(h))


def test_breakdown_shows_the_time_between_ops_of_a_measurement():
    from roofline.measure.compare import OTHER_ROW, Comparison, compare_frames

    a = toy("a")
    predicted = pd.DataFrame({"op": ["aten.mm", "aten.add"], "category": ["GEMM", "Element-wise"],
                              "bound": ["compute", "memory"], "predicted_s": [1e-3, 1e-3]})
    ops = compare_frames(predicted, pd.DataFrame({"op": ["aten.mm", "aten.add"], "measured_s": [3e-3, 1e-3]}))
    measured = Comparison("a", "spec", "cpu", ops, forward_s=5e-3)  # 1 ms of the forward in no op
    fig = plot.breakdown(a, measured=measured)
    ax = fig.axes[0]
    labels = [c.get_label() for c in ax.containers]
    assert labels == [*CATEGORIES, OTHER_ROW]
    heights = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    # measured: 3 ms GEMM, 1 ms Element-wise, 1 ms between ops of a 5 ms forward
    assert heights["GEMM"][1] == pytest.approx(60.0) and heights["Element-wise"][1] == pytest.approx(20.0)
    assert heights[OTHER_ROW] == pytest.approx([0.0, 20.0])  # nothing on the predicted bar
    assert sum(h[1] for h in heights.values()) == pytest.approx(100.0)


def test_breakdown_in_seconds():
    a = toy()
    fig = plot.breakdown(a, normalize=False)
    ax = fig.axes[0]
    assert len(ax.patches) == 9
    # two ~178 us matmuls dominate: a total between 0.1 and 1 ms is drawn in us
    assert 1e-4 < a.predicted_s < 1e-3
    total_us = sum(p.get_height() for p in ax.patches)
    assert total_us == pytest.approx(a.predicted_s * 1e6)
    assert ax.get_ylabel() == "time (us)"


def test_what_if_one_bar_per_spec():
    a = toy()
    specs = ["h100-sxm", "a100-sxm", "xeon-8480"]
    fig = plot.what_if(a, specs)
    left, right = fig.axes
    assert len(left.patches) == 3 and len(right.patches) == 3 * 9
    widths = [p.get_width() for p in left.patches]
    assert widths == pytest.approx([a.with_hw(s).predicted_s for s in specs])
    assert [t.get_text() for t in left.get_yticklabels()] == specs
    shares = np.array([p.get_width() for p in right.patches]).reshape(9, 3)
    assert shares.sum(axis=0) == pytest.approx([100.0] * 3)
    w, h = fig.get_size_inches() * fig.dpi
    assert_real_image(fig, round(w), round(h))




def test_what_if_draws_the_given_analyses_without_predicting(monkeypatch):
    runs = [toy().with_hw(spec) for spec in SPECS]
    refuse_predictions(monkeypatch)
    for draw in (plot.what_if, bars.what_if):
        fig = draw(runs)
        left, right = fig.axes
        assert [p.get_width() for p in left.patches] == pytest.approx([r.predicted_s for r in runs])
        assert [t.get_text() for t in left.get_yticklabels()] == SPECS
        assert len(right.patches) == len(SPECS) * len(CATEGORIES)
        assert "toy · bf16: the same ops on 3 specs" in fig.texts[0].get_text()


def test_what_if_of_one_analysis_and_specs_asks_the_analysis():
    # The notebooks' form: the analysis re-predicts itself (Analysis.plot), once per spec.
    a = toy()
    calls = []
    real = Analysis.with_hw

    class Counting(Analysis):
        def with_hw(self, hw):
            calls.append(hw)
            return real(self, hw)

    counting = Counting(a.name, a.hw, a.counted)
    fig = plot.what_if(counting, SPECS)
    assert calls == SPECS
    assert [p.get_width() for p in fig.axes[0].patches] == pytest.approx([a.with_hw(s).predicted_s for s in SPECS])


def test_what_if_errors():
    a = toy()
    with pytest.raises(RooflineError, match="no analysis to plot"):
        plot.what_if([])
    with pytest.raises(RooflineError, match="not both"):
        plot.what_if([a], SPECS)
    with pytest.raises(RooflineError, match="expected a roofline Analysis"):
        plot.what_if([a, "h100-sxm"])
    with pytest.raises(RooflineError, match="no hardware spec given"):
        a.plot("what_if")
    with pytest.raises(RooflineError, match="no hardware spec given"):
        plot.what_if(a, [])
