"""The validation scatter (roofline/report/plot/compare.py): predicted_vs_measured and the
"compare" kind. Both read a comparison already made; Analysis.plot makes one from
``measured=`` (Analysis.compare) before it calls them."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from roofline import plot
from roofline.analysis import Analysis
from roofline.errors import RooflineError
from roofline.report.plot.compare import compare_kind
from tests.report.plot_helpers import (
    assert_real_image,
    by_gid,
    n_points,
    refuse_predictions,
    toy,
)


# --------------------------------------------------------------------------- validation scatter
def test_predicted_vs_measured_points_identity_and_bands():
    frame = pd.DataFrame(
        {
            "category": ["GEMM", "GEMM", "GEMM", "Element-wise", "Element-wise", "Other"],
            "predicted_s": [1e-4, 2e-4, 3e-4, 1e-5, 2e-5, 1e-5],
            "measured_s": [1.1e-4, 1.5e-4, 4e-4, 3e-5, 2e-5, np.nan],
        }
    )
    fig = plot.predicted_vs_measured(frame, bands=(1.25, 2))
    assert_real_image(fig, 560, 520)
    ax = fig.axes[0]
    ops = by_gid(ax, plot.OPS)
    assert {c.get_label(): len(c.get_offsets()) for c in ops} == {"GEMM": 3, "Element-wise": 2}
    (identity,) = by_gid(ax, plot.IDENTITY)
    assert list(identity.get_xdata()) == list(identity.get_ydata())
    bands = by_gid(ax, plot.BAND, PolyCollection)
    assert len(bands) == 2
    widest = max(bands, key=lambda band: np.ptp(np.log10(band.get_paths()[0].vertices[:, 1])))
    vertices = widest.get_paths()[0].vertices
    lo, hi = vertices[:, 0].min(), vertices[:, 0].max()
    assert vertices[:, 1].max() == pytest.approx(hi * 2) and vertices[:, 1].min() == pytest.approx(lo / 2)
    # GEMM point: measured on x, predicted on y
    gemm = next(c for c in ops if c.get_label() == "GEMM")
    assert np.asarray(gemm.get_offsets())[0] == pytest.approx([1.1e-4, 1e-4])
    assert "1 without a time" in ax.get_title()


def test_compare_kind_accepts_a_comparison_object():
    a = toy()

    class Comparison:  # what Analysis.compare returns: the frame as .ops
        ops = a.ops.assign(measured_s=a.ops["predicted_s"] * 1.5)

    fig = a.plot("compare", comparison=Comparison())
    assert n_points(by_gid(fig.axes[0], plot.OPS)) == 5  # every op with a time (the view has none)




def _measured(a, factor=1.5):
    """A comparison frame of ``a``: every op measured at ``factor`` x its prediction."""
    return a.ops.assign(measured_s=a.ops["predicted_s"] * factor)


def test_compare_plot_reads_the_comparison_without_computing_one(monkeypatch):
    a = toy()
    frame = _measured(a)
    refuse_predictions(monkeypatch)
    compare_module = importlib.import_module("roofline.measure.compare")  # roofline.measure is also a function
    monkeypatch.setattr(compare_module, "compare", lambda *args, **kwargs: pytest.fail("compare() called by a figure"))
    for fig in (plot.predicted_vs_measured(frame), compare_kind(a, comparison=frame), plot.plot(a, "compare", comparison=frame),
                a.plot("compare", comparison=frame)):
        assert n_points(by_gid(fig.axes[0], plot.OPS)) == 5


def test_compare_kind_refuses_a_bare_measurement():
    a = toy()
    with pytest.raises(RooflineError, match="figures only read results"):
        plot.plot(a, "compare", measured=pd.DataFrame({"measured_s": [1.0]}))


def test_analysis_plot_compares_a_measurement_first(monkeypatch):
    # Analysis.plot (not the figure) turns measured= into a comparison, once.
    a = toy()
    seen = []

    def fake_compare(self, measured):
        seen.append(measured)
        return _measured(self, 2.0)

    monkeypatch.setattr(Analysis, "compare", fake_compare)
    fig = a.plot("compare", measured="the measurement")
    assert seen == ["the measurement"]
    gemm = next(c for c in by_gid(fig.axes[0], plot.OPS) if c.get_label() == "GEMM")
    x, y = np.asarray(gemm.get_offsets()).T
    assert x == pytest.approx(2 * y)  # measured twice the predicted time
    assert "toy · bf16 on NVIDIA H100" in fig.axes[0].get_title()
