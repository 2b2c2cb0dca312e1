"""Bad input at the command line: every mistake is one line on stderr and exit code 2.

Extends tests/test_cli.py (unknown target, missing file, missing function, wrong return,
a model raising, --strict on an unsupported op, bad --hw and --dtype) with the cases it
does not cover.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from roofline import analyze
from roofline.cli import main
from roofline.count import registry
from roofline.errors import UnsupportedOpError

TARGET = textwrap.dedent(
    """
    import torch
    import torch.nn as nn

    CONSTANT = 3

    def build(batch=1):
        return nn.Sequential(nn.Linear(32, 64), nn.ReLU()), (torch.randn(batch, 32),)

    def wrong_shapes(batch=1):
        return nn.Linear(32, 64), (torch.randn(batch, 31),)

    def wrong_dtype(batch=1):
        return nn.Linear(32, 64), (torch.ones(batch, 32, dtype=torch.int64),)

    def build_raises(batch=1):
        raise ValueError("no GPU named 'frobnicator'")

    def not_callable_model(batch=1):
        return 42, (torch.randn(batch, 32),)

    def three_things(batch=1):
        return nn.Linear(2, 2), (torch.randn(1, 2),), "extra"

    def multi_line(batch=1):
        class M(nn.Module):
            def forward(self, x):
                raise RuntimeError("first line of the model's message\\nsecond line\\n\\n  third")
        return M(), (torch.randn(batch, 4),)

    def no_batch():
        return nn.Linear(2, 2), (torch.randn(1, 2),)
    """
)


@pytest.fixture()
def target(tmp_path):
    path = tmp_path / "mymodel.py"
    path.write_text(TARGET)
    return path


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.startswith("roofline: error: "), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["analyze", "{target}:wrong_shapes"],
         ["mymodel:wrong_shapes: the model failed while running: RuntimeError:", "mat1 and mat2 shapes cannot be multiplied"]),
        (["analyze", "{target}:wrong_dtype"], ["mymodel:wrong_dtype: the model failed while running:", "dtype"]),
        (["analyze", "{target}:build_raises"],
         ["mymodel:build_raises: building the model failed: ValueError: no GPU named 'frobnicator'"]),
        (["analyze", "{target}:not_callable_model"], ["must return (model, example_inputs), got tuple"]),
        (["analyze", "{target}:three_things"], ["must return (model, example_inputs)"]),
        (["analyze", "{target}:CONSTANT"], ["no function 'CONSTANT'"]),
        (["analyze", "{target}:no_batch", "--batch", "2"], ["takes no 'batch' option (it takes: nothing)"]),
        (["analyze", "{target}", "--seq", "128"], ["mymodel:build: its build function takes no 'seq' option (it takes: batch)"]),
        (["analyze", "{target}", "-o", "width"], ["--option 'width': expected KEY=VALUE"]),
        (["analyze", "{target}", "-o", "width=3"], ["takes no 'width' option"]),
        (["analyze", "{target}", "--hw", "{tmp}/missing.yaml"], ["missing.yaml: no such file"]),
        (["analyze", "resnet50", "--seq", "3"], ["resnet50: its build function takes no 'seq' option"]),
        (["analyze", "hf:"], ["hf: expected hf:MODEL_ID or hf:path/to/config.json"]),
    ],
)
def test_bad_targets_and_options(target, tmp_path, capsys, args, fragments):
    args = [a.format(target=target, tmp=tmp_path) for a in args]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, *fragments)


def test_file_that_does_not_import(tmp_path, capsys):
    bad = tmp_path / "broken.py"
    bad.write_text("def build(:\n    pass\n")
    code, _, err = run_cli(["analyze", str(bad)], capsys)
    assert_one_line_error(code, err, "broken.py: failed to import: SyntaxError")


def test_file_without_a_build_function(tmp_path, capsys):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    code, _, err = run_cli(["analyze", str(empty)], capsys)
    assert_one_line_error(code, err, "no function 'build'")


def test_multi_line_model_error_is_printed_on_one_line(target, capsys):
    code, _, err = run_cli(["analyze", f"{target}:multi_line"], capsys)
    assert_one_line_error(code, err, "first line of the model's message second line third")


def test_multi_line_error_from_a_real_process(target):
    result = subprocess.run(
        [sys.executable, "-m", "roofline.cli", "analyze", f"{target}:multi_line"], capture_output=True, text=True
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "second line" in lines[0] and "Traceback" not in result.stderr


def test_hf_target_without_transformers_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    code, _, err = run_cli(["analyze", "hf:bert-base-uncased"], capsys)
    assert_one_line_error(code, err, "pip install 'roofline[hf]'")


# ------------------------------------------------------------- a formula that raises


@pytest.fixture()
def broken_relu():
    """aten.relu's formula replaced by one that raises, restored afterwards."""
    key = "aten.relu"
    previous = registry._HANDLERS.get(key)

    def broken(record):
        raise ZeroDivisionError("deliberately broken formula")

    registry.register(key, replace=True)(broken)
    try:
        yield key
    finally:
        registry.register(key, replace=True)(previous)


def test_a_raising_formula_makes_its_op_unsupported_and_the_analysis_completes(broken_relu):
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    a = analyze(model, (torch.randn(4, 32),))
    unsupported = a.unsupported
    assert list(unsupported["op"]) == ["aten.relu"] and list(unsupported["count"]) == [1]
    assert unsupported["reason"].iloc[0] == "formula failed: ZeroDivisionError: deliberately broken formula"
    # the other ops are still counted: two linears, 2*m*n*k + m*n each
    assert a.total_flops == (2 * 4 * 32 * 64 + 4 * 64) + (2 * 4 * 64 * 8 + 4 * 8)
    relu = a.ops[a.ops["op"] == "aten.relu"].iloc[0]
    assert not relu["supported"] and relu["flops"] != relu["flops"]  # NaN, never a fake 0
    assert relu["predicted_s"] == a.hw.overhead_s  # listed with its overhead, not as free
    with pytest.raises(UnsupportedOpError, match=r"aten\.relu x1 \(formula failed: ZeroDivisionError"):
        analyze(model, (torch.randn(4, 32),), strict=True)


def test_a_raising_formula_at_the_command_line(broken_relu, target, tmp_path, capsys):
    code, out, err = run_cli(["analyze", str(target)], capsys)
    assert code == 0 and err == ""
    assert "Unsupported ops" in out and "aten.relu" in out and "ZeroDivisionError" in out
    csv = tmp_path / "ops.csv"
    code, _, err = run_cli(["analyze", str(target), "--strict", "--csv", str(csv)], capsys)
    assert_one_line_error(code, err, "mymodel:build: 1 unsupported op(s): aten.relu x1 (formula failed: ZeroDivisionError")
    assert not csv.exists()


def test_the_broken_formula_is_gone_after_the_test(target, capsys):
    code, out, _ = run_cli(["analyze", str(target), "--strict"], capsys)
    assert code == 0 and "Unsupported ops: none" in out
