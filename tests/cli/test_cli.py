"""roofline/cli.py: the commands, their files and their errors (exit 2, one line)."""

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from roofline.cli import main

TARGET = textwrap.dedent(
    """
    import torch
    import torch.nn as nn

    def build(batch=1):
        model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
        return model, (torch.randn(batch, 32),)

    def fft_model(batch=1):
        class M(nn.Module):
            def forward(self, x):
                return torch.linalg.matrix_exp(x.reshape(-1, 4, 4))  # no formula
        return M(), (torch.randn(batch, 16),)

    def broken(batch=1):
        class M(nn.Module):
            def forward(self, x):
                raise ValueError("shapes do not fit")
        return M(), (torch.randn(batch, 16),)

    def not_a_pair(batch=1):
        return 42
    """
)


@pytest.fixture()
def target(tmp_path):
    path = tmp_path / "mymodel.py"
    path.write_text(TARGET)
    return path


def test_analyze_file_target_writes_csv_and_json(target, tmp_path, capsys):
    csv, js = tmp_path / "ops.csv", tmp_path / "out.json"
    assert main(["analyze", str(target), "--hw", "a100-sxm", "--batch", "4", "--csv", str(csv), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "Runtime by category" in out and "GEMM" in out and "Unsupported ops: none" in out
    ops = pd.read_csv(csv)
    assert {"op", "module", "category", "flops", "bytes", "intensity", "predicted_s", "bound"} <= set(ops.columns)
    document = json.loads(js.read_text())
    expected = 2 * 4 * 32 * 64 + 4 * 64 + 4 * 64 + 2 * 4 * 64 * 8 + 4 * 8  # 2 linears with bias, 1 relu
    assert document["summary"]["total_flops"] == expected


def test_analyze_zoo_model_on_meta(capsys):
    assert main(["analyze", "resnet50", "--hw", "h100-sxm", "--batch", "64", "--meta", "--dtype", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "Conv" in out


def test_hw_list_and_show(capsys):
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("h100-sxm", "mi300x", "xeon-8480", "epyc-9654", "t4"):
        assert name in out
    assert main(["hw", "show", "h100-sxm"]) == 0
    out = capsys.readouterr().out
    assert "Ridge points" in out
    assert "295.2" in out  # 989 TFLOP/s bf16 over 3.35 TB/s


@pytest.mark.parametrize(
    "args,message",
    [
        (["analyze", "no-such-model"], "unknown target 'no-such-model'"),
        (["analyze", "missing.py"], "missing.py: no such file"),
        (["analyze", "{target}:nope"], "no function 'nope'"),
        (["analyze", "{target}:not_a_pair"], "must return (model, example_inputs)"),
        (["analyze", "{target}:broken"], "shapes do not fit"),
        (["analyze", "{target}:fft_model", "--strict"], "aten.linalg_matrix_exp"),
        (["analyze", "{target}", "--hw", "no-such-gpu"], "no-such-gpu"),
        (["analyze", "{target}", "--dtype", "fp7"], "unknown dtype 'fp7'"),
        (["hw", "show", "nothing"], "nothing"),
    ],
)
def test_user_errors_exit_2_with_one_line(target, capsys, args, message):
    args = [a.format(target=target) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_strict_failure_writes_no_files(target, tmp_path):
    csv = tmp_path / "ops.csv"
    assert main(["analyze", f"{target}:fft_model", "--strict", "--csv", str(csv)]) == 2
    assert not csv.exists()


def test_console_script_runs_as_a_process(target):
    result = subprocess.run(
        [sys.executable, "-m", "roofline.cli", "analyze", f"{target}:broken"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "shapes do not fit" in result.stderr
