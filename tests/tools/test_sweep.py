"""roofline/sweep.py and `roofline sweep`: the grid equals separate analyze calls, each
shape is captured once, the CSV is written atomically, and user errors exit 2."""

import os
import textwrap

import pandas as pd
import pytest

import roofline.analysis as analysis_module
from roofline.analysis import analyze
from roofline.count.categories import CATEGORIES
from roofline.cli import main
from roofline.errors import RooflineError
from roofline.tools.sweep import SWEEP_COLUMNS, category_column, sweep, write_sweep_csv
from roofline.targets import build_target

SPECS = ["h100-sxm", "a100-sxm", "t4"]

# A file target whose FLOPs are known in closed form: Linear(IN -> OUT) without bias is
# one (batch*seq, IN) x (IN, OUT) matmul = 2 * batch * seq * IN * OUT FLOPs.
MLP_FILE = textwrap.dedent(
    """
    import torch

    IN, OUT = 32, 48

    def build(batch=1, seq=4):
        model = torch.nn.Linear(IN, OUT, bias=False).eval()
        return model, (torch.randn(batch, seq, IN),)
    """
)


@pytest.fixture
def mlp_target(tmp_path):
    path = tmp_path / "mlp.py"
    path.write_text(MLP_FILE)
    return str(path)


@pytest.fixture(scope="module")
def llama_grid():
    """llama-tiny on meta over 2 batches x 2 seqs x 3 specs, one capture per shape, and how
    many captures ran."""
    calls = []
    real_capture = analysis_module.capture

    def counting_capture(*args, **kwargs):
        calls.append(1)
        return real_capture(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(analysis_module, "capture", counting_capture)
        frame = sweep("llama-tiny", SPECS, batch=[1, 3], seq=[16, 32], meta=True, method="capture")
    return frame, len(calls)


def test_sweep_equals_separate_analyze_calls(llama_grid):
    frame, _ = llama_grid
    assert list(frame.columns) == list(SWEEP_COLUMNS)
    assert len(frame) == 2 * 2 * len(SPECS)
    for row in frame.itertuples(index=False):
        model, inputs, name = build_target("llama-tiny", batch=row.batch, meta=True, options={"seq": row.seq})
        alone = analyze(model, inputs, hw=row.hw, name=name)
        assert row.target == name
        assert row.predicted_s == pytest.approx(alone.predicted_s, rel=1e-12)
        assert row.total_flops == pytest.approx(alone.total_flops, rel=1e-12)
        assert row.total_bytes == pytest.approx(alone.total_bytes, rel=1e-12)
        assert row.intensity == pytest.approx(alone.intensity, rel=1e-12)
        assert row.ops == len(alone.ops)
        per_category = alone.by_category()["predicted_s"]
        for category in CATEGORIES:
            assert getattr(row, category_column(category)) == pytest.approx(per_category[category], rel=1e-12, abs=0)


def test_sweep_captures_each_shape_once(llama_grid):
    frame, captures = llama_grid
    assert captures == 4  # 2 batches x 2 seqs, not x 3 specs
    # the hardware-independent counts are the same on every spec of a shape...
    per_shape = frame.groupby(["batch", "seq"])[["total_flops", "total_bytes", "ops"]].nunique()
    assert (per_shape == 1).all().all()
    # ...and the specs differ in time (an H100 is faster than a T4 on every shape)
    times = frame.pivot_table(index=["batch", "seq"], columns="hw", values="predicted_s")
    assert (times["h100-sxm"] < times["t4"]).all()


def test_category_times_add_up_to_the_total(llama_grid):
    frame, _ = llama_grid
    summed = frame[[category_column(c) for c in CATEGORIES]].sum(axis=1)
    assert summed.to_numpy() == pytest.approx(frame["predicted_s"].to_numpy(), rel=1e-9)


def test_file_target_flops_match_closed_form(mlp_target):
    frame = sweep(mlp_target, ["h100-sxm", "t4"], batch=[1, 8], seq=[4, 16])
    for row in frame.itertuples(index=False):
        assert row.total_flops == 2 * row.batch * row.seq * 32 * 48
        assert row.unsupported_ops == 0


def test_cli_sweep_writes_csv_and_plot(mlp_target, tmp_path):
    out, figure = tmp_path / "results.csv", tmp_path / "sweep.png"
    code = main(["sweep", mlp_target, "--hw", "h100-sxm,t4", "--batch", "1,8,64", "--out", str(out), "--plot", str(figure)])
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns) == list(SWEEP_COLUMNS)
    assert sorted(zip(table["batch"], table["hw"])) == sorted((b, h) for b in (1, 8, 64) for h in ("h100-sxm", "t4"))
    assert (table["seq"] == 4).all()  # no --seq: the build function's default, said
    assert (table["dtype"] == "fp32").all() and (table["params"] == 32 * 48).all()
    assert table["samples_per_s"].to_numpy() == pytest.approx((table["batch"] / table["predicted_s"]).to_numpy())
    assert (table["total_flops"] == 2 * table["batch"] * 4 * 32 * 48).all()
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["mlp.py", "results.csv", "sweep.png"]  # no temp files left


def test_csv_written_atomically(llama_grid, tmp_path, monkeypatch):
    frame, _ = llama_grid
    path = tmp_path / "results.csv"
    path.write_text("previous results\n")

    def failing_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(RooflineError, match="results.csv: cannot write"):
        write_sweep_csv(frame, path)
    assert path.read_text() == "previous results\n"  # the old file is whole
    assert os.listdir(tmp_path) == ["results.csv"]  # and the partial one is gone
    monkeypatch.undo()
    write_sweep_csv(frame, path)
    assert pd.read_csv(path)["predicted_s"].to_numpy() == pytest.approx(frame["predicted_s"].to_numpy(), rel=1e-15)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hw", "h100-sxm,not-a-gpu", "--batch", "1"], '"not-a-gpu"'),
        (["--hw", "h100-sxm", "--batch", "1,zero"], "--batch"),
        (["--hw", "h100-sxm", "--batch", "1", "--seq", "0"], "--seq"),
        (["--hw", "h100-sxm,", "--batch", "1"], "--hw"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(mlp_target, tmp_path, capsys, argv, message):
    out = tmp_path / "results.csv"
    assert main(["sweep", mlp_target, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("roofline: error:") and message in err
    assert not out.exists()


def test_seq_on_a_model_without_seq_is_a_clear_error():
    with pytest.raises(RooflineError, match="resnet50: its build function takes no 'seq' option"):
        sweep("resnet50", ["h100-sxm"], batch=[1], seq=[128], meta=True)


def test_bad_hw_fails_before_any_capture(monkeypatch):
    def no_capture(*args, **kwargs):
        raise AssertionError("captured before checking the specs")

    monkeypatch.setattr(analysis_module, "capture", no_capture)
    with pytest.raises(RooflineError, match="unknown name"):
        sweep("llama-tiny", ["h100-sxm", "nope"], batch=[1], meta=True)


def test_category_column_names():
    assert category_column("Element-wise") == "element_wise_s"
    assert category_column("Sparse MM") == "sparse_mm_s"
    assert category_column("GEMM") == "gemm_s"
    assert len({category_column(c) for c in CATEGORIES}) == len(CATEGORIES)
