"""roofline.measure.compare: the error metrics against hand-computed values, the exact join,
Analysis.compare on a real model, and the `roofline validate` command."""

import math

import pandas as pd
import pytest
import torch
from torch import nn

from roofline.analysis import analyze
from roofline.cli import main
from roofline.errors import RooflineError
from roofline.measure import Measurement, measure
from roofline.measure.compare import (
    OTHER_ROW,
    Comparison,
    compare_frames,
    end_to_end_error,
    median_op_error,
    time_weighted_error,
)
from roofline.tools.validate import validate

MS = 1e-3


def synthetic():
    """Four ops, predicted [1, 2, 0, 4] ms against measured [2, 2, 1, 2] ms; the third is a
    view (bound "none"), the forward measured whole took 8 ms."""
    predicted = pd.DataFrame(
        {
            "op": ["aten.mm", "aten.add", "aten.view", "aten.mm"],
            "module": ["a", "b", "b", "c"],
            "category": ["GEMM", "Element-wise", "Data Transform", "GEMM"],
            "bound": ["compute", "memory", "none", "compute"],
            "shapes": ["", "", "", ""],
            "predicted_s": [1 * MS, 2 * MS, 0.0, 4 * MS],
        }
    )
    measured = pd.DataFrame({"op": list(predicted["op"]), "measured_s": [2 * MS, 2 * MS, 1 * MS, 2 * MS]})
    ops = compare_frames(predicted, measured)
    return Comparison("toy", "spec", "cpu", ops, forward_s=8 * MS)


def test_metric_functions_by_hand():
    assert end_to_end_error(7.0, 8.0) == pytest.approx(-1 / 8)
    assert math.isnan(end_to_end_error(1.0, 0.0))
    # sum |p - m| = 1 + 0 + 1 + 2 = 4 over sum m = 7
    assert time_weighted_error([1, 2, 0, 4], [2, 2, 1, 2]) == pytest.approx(4 / 7)
    # |p - m| / m = 0.5, 0, 1, 1 -> median 0.75
    assert median_op_error([1, 2, 0, 4], [2, 2, 1, 2]) == pytest.approx(0.75)
    assert math.isnan(median_op_error([], []))


def test_comparison_summary_by_hand():
    c = synthetic()
    assert c.predicted_s == pytest.approx(7 * MS)
    assert c.ops_total_s == pytest.approx(7 * MS)
    assert c.end_to_end_error == pytest.approx((7 - 8) / 8)
    assert c.ops_total_error == pytest.approx(0.0)
    assert c.time_weighted_error == pytest.approx(4 / 7)
    # work ops only (the view is left out of the median): 0.5, 0, 1 -> 0.5
    assert c.median_op_error == pytest.approx(0.5)
    assert list(c.ops["ratio"]) == pytest.approx([0.5, 1.0, 0.0, 2.0])
    assert list(c.ops["error"]) == pytest.approx([-0.5, 0.0, -1.0, 1.0])
    assert not c.meets_targets()  # |-12.5%| is within 15%, but 57% time-weighted is not within 30%
    assert c.meets_targets(end_to_end=0.15, time_weighted=0.6)
    summary = c.summary()
    assert summary["time_weighted_error"] == pytest.approx(4 / 7) and summary["ops"] == 4


def test_by_category_by_hand():
    table = synthetic().by_category()
    assert table.index[-1] == "Total"
    gemm = table.loc["GEMM"]
    assert gemm["ops"] == 2
    assert gemm["predicted_s"] == pytest.approx(5 * MS) and gemm["measured_s"] == pytest.approx(4 * MS)
    assert gemm["share"] == pytest.approx(4 / 8)  # of the 8 ms forward, as the seed's breakdown
    assert gemm["error"] == pytest.approx(0.25)
    assert gemm["time_weighted_error"] == pytest.approx(3 / 4)  # (1 + 2) / 4
    assert gemm["median_op_error"] == pytest.approx(0.75)  # median of 0.5 and 1
    elementwise = table.loc["Element-wise"]
    assert elementwise["error"] == 0 and elementwise["time_weighted_error"] == 0
    transform = table.loc["Data Transform"]
    assert transform["error"] == pytest.approx(-1.0) and transform["time_weighted_error"] == pytest.approx(1.0)
    assert math.isnan(transform["median_op_error"])  # no work op in it
    assert table.loc["Conv", "ops"] == 0 and math.isnan(table.loc["Conv", "error"])
    # Other, the forward outside every op: 8 - (2 + 2 + 1 + 2) = 1 ms, predicted 0 on the
    # wall basis; its share 1/8.
    other = table.loc[OTHER_ROW]
    assert other["measured_s"] == pytest.approx(1 * MS) and other["predicted_s"] == 0
    assert other["share"] == pytest.approx(1 / 8) and other["error"] == pytest.approx(-1.0)
    assert list(table.index[-2:]) == [OTHER_ROW, "Total"]
    # Total is the whole forward: predicted 7 ms against 8 ms (the end-to-end error, -1/8);
    # its time-weighted error is over the ops.
    total = table.loc["Total"]
    assert total["predicted_s"] == pytest.approx(7 * MS) and total["measured_s"] == pytest.approx(8 * MS)
    assert total["error"] == pytest.approx(-1 / 8)
    assert total["time_weighted_error"] == pytest.approx(4 / 7) and total["share"] == pytest.approx(1.0)


def test_predicted_other_moves_the_end_to_end_error():
    c = synthetic()
    c.other_predicted_s = 0.5 * MS
    # predicted forward 7 + 0.5 = 7.5 ms against 8 ms
    assert c.predicted_total_s == pytest.approx(7.5 * MS)
    assert c.end_to_end_error == pytest.approx(-0.5 / 8)
    assert c.by_category().loc[OTHER_ROW, "error"] == pytest.approx((0.5 - 1) / 1)


def test_join_refuses_different_ops():
    predicted = pd.DataFrame({"op": ["aten.mm", "aten.add"], "predicted_s": [1.0, 1.0]})
    with pytest.raises(RooflineError, match="op 1 is aten.add in the analysis but aten.mul"):
        compare_frames(predicted, pd.DataFrame({"op": ["aten.mm", "aten.mul"], "measured_s": [1.0, 1.0]}))
    with pytest.raises(RooflineError, match="2 ops but the measurement has 1"):
        compare_frames(predicted, pd.DataFrame({"op": ["aten.mm"], "measured_s": [1.0]}))


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        h = torch.relu_(self.bn(self.conv(x)))
        return self.fc(h.flatten(1)).softmax(-1)


def test_analysis_compare_on_a_real_model():
    model, x = SmallNet().eval(), torch.randn(2, 3, 8, 8)
    analysis = analyze(model, (x,), hw="epyc-9654")
    m = measure(model, (x,), warmup=1, repeats=2, profiler_runs=0)
    assert isinstance(m, Measurement)
    c = analysis.compare(m)
    assert len(c.ops) == len(analysis.ops)
    assert list(c.ops["op"]) == list(analysis.ops["op"])
    assert c.ops["predicted_s"].sum() == pytest.approx(analysis.predicted_s)
    assert c.ops_total_s == pytest.approx(m.ops_total_s)
    assert c.forward_s == m.forward_s and c.hw_name == "epyc-9654"
    assert 0 <= c.time_weighted_error and math.isfinite(c.end_to_end_error)
    assert set(c.by_category().index) >= {"Conv", "GEMM", "Element-wise", "Total"}


def test_validate_pipeline_casts_once():
    model, x = SmallNet().eval(), torch.randn(2, 3, 8, 8)
    analysis, m, c = validate(model, (x,), hw="epyc-9654", dtype="fp64", warmup=0, repeats=1, profiler_runs=0)
    assert set(analysis.ops.loc[analysis.ops["op"] == "aten.convolution", "dtype"]) == {"fp64"}
    assert len(c.ops) == len(m.ops) == len(analysis.ops)


MODEL_FILE = '''
import torch
from torch import nn

def build(batch=1):
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(inplace=True), nn.Linear(64, 8))
    return model, (torch.randn(batch, 32),)
'''


def test_cli_validate_writes_table_csv_and_plot(tmp_path, capsys):
    target = tmp_path / "tiny.py"
    target.write_text(MODEL_FILE)
    csv, png = tmp_path / "ops.csv", tmp_path / "ops.png"
    code = main(["validate", str(target), "--hw", "epyc-9654", "--batch", "4", "--warmup", "0", "--repeats", "2",
                 "--threads", "1", "--csv", str(csv), "--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    assert "end-to-end error" in out and "Predicted vs measured by category" in out
    frame = pd.read_csv(csv)
    assert {"predicted_s", "measured_s", "ratio", "error", "category"} <= set(frame.columns)
    assert len(frame) > 3 and (frame["measured_s"] > 0).all()
    assert png.stat().st_size > 1000


def test_cli_validate_user_errors(tmp_path, capsys):
    target = tmp_path / "tiny.py"
    target.write_text(MODEL_FILE)
    assert main(["validate", str(target), "--hw", "no-such-spec"]) == 2
    assert "unknown name" in capsys.readouterr().err
    assert main(["validate", str(target), "--hw", "epyc-9654", "--plot", str(tmp_path / "x.nope")]) == 2
    assert "unknown figure format" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # refused by the parser, before any work
        main(["validate", str(target), "--hw", "epyc-9654", "--threads", "0"])
    assert exit_info.value.code == 2 and "--threads" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cli_validate_on_a_missing_gpu_is_a_user_error(tmp_path, capsys):
    target = tmp_path / "tiny.py"
    target.write_text(MODEL_FILE)
    assert main(["validate", str(target), "--hw", "h100-sxm", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
