"""The figures package (roofline/report/plot): the names it exports, plot() dispatch
by kind (Analysis.plot), saving, and the CLI's --plot. Each kind's own tests are in
tests/report/test_plot_<module>.py."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from roofline import plot
from roofline.cli import main
from roofline.errors import RooflineError
from tests.report.plot_helpers import refuse_predictions, toy

#: Every name notebooks, benchmarks, docs and tests use as ``plot.<name>``.
PUBLIC = [
    "BAND", "CATEGORY_COLORS", "CEILING", "CEILING_LABEL", "Ceiling", "IDENTITY", "KINDS", "OPS", "OP_LABEL", "OP_SPAN",
    "RIDGE", "ROOF", "ROOF_LABEL", "STEP_LABEL", "TOTAL", "TRAJECTORY", "breakdown", "ceilings", "check_figure_path",
    "hierarchical_roofline", "plot", "plot_sweep", "predicted_vs_measured", "roofline", "save", "trajectory", "what_if",
]


def test_every_public_name_is_exported():
    assert sorted(plot.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(plot, name) is not None
    assert callable(plot.roofline)  # the function, not its module roofline.report.plot.roofline
    assert set(plot.KINDS) == {"roofline", "hierarchical", "breakdown", "what_if", "compare"}


# --------------------------------------------------------------------------- dispatch, saving, CLI
def test_analysis_plot_kinds_and_errors(tmp_path):
    a = toy()
    assert isinstance(a.plot("breakdown"), Figure)
    assert isinstance(a.plot("what-if", hws=["h100-sxm", "l4"]), Figure)
    with pytest.raises(RooflineError, match="unknown kind 'pie'"):
        a.plot("pie")
    with pytest.raises(RooflineError, match="comparison="):
        a.plot("compare")
    with pytest.raises(RooflineError, match="measured_s"):
        plot.roofline(a, measured=pd.DataFrame({"seconds": [1.0]}))
    with pytest.raises(RooflineError, match="no memory level 'l1'"):
        plot.roofline(a, levels=["l1"])
    with pytest.raises(RooflineError, match="unknown figure format 'png2'"):
        plot.save(a.plot(), tmp_path / "x.png2")
    path = plot.save(a.plot(), tmp_path / "x.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_cli_analyze_writes_the_roofline_png(tmp_path, capsys):
    out = tmp_path / "gcn.png"
    assert main(["analyze", "gcn", "--meta", "--plot", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out.replace("\n", "")
    image = Image.open(out)
    assert image.format == "PNG" and image.size == (640, 480)
    assert main(["analyze", "gcn", "--meta", "--plot", str(tmp_path / "missing" / "x.png")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_no_figure_captures_predicts_or_compares(monkeypatch):
    a, b = toy("a"), toy("b", hw="a100-sxm")
    comparison = a.ops.assign(measured_s=a.ops["predicted_s"] * 1.2)
    refuse_predictions(monkeypatch)
    figures = [
        plot.roofline([a, b], measured=[comparison, None]), plot.hierarchical_roofline(a), plot.trajectory({"a": a, "b": b}),
        plot.breakdown([a, b], measured=[comparison, None]), plot.what_if([a, b]), plot.predicted_vs_measured(comparison),
        *(a.plot(kind) for kind in ("roofline", "hierarchical", "breakdown")), a.plot("compare", comparison=comparison),
    ]
    assert all(isinstance(fig, Figure) for fig in figures)
