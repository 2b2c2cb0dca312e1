"""`roofline validate MODEL --hw SPEC --profile TRACE`: the validation tables from a
torch.profiler trace instead of a run here; a bad trace file is one line, exit 2, and
is found before the model is built."""

from __future__ import annotations

import json

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from roofline.cli import main
from roofline.measure.compare import OTHER_ROW

from .test_cli_bad_input import one_line_error


def traced(target, path, name="build", **options):
    """A CPU torch.profiler trace of the target's model, written to ``path``."""
    from roofline.targets import build

    built = build(f"{target}:{name}", options=options)
    with torch.no_grad():
        built.model(*built.inputs)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            built.model(*built.inputs)
    prof.export_chrome_trace(str(path))
    return path


def test_validate_from_a_cpu_trace(target, tmp_path, capsys):
    trace = traced(target, tmp_path / "trace.json")
    out = tmp_path / "ops.csv"
    code = main(["validate", str(target), "--hw", "epyc-9654", "--profile", str(trace), "--csv", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert not captured.err  # a CPU trace against a CPU spec: no warning
    text = captured.out
    assert "cpu (trace)" in text and OTHER_ROW in text and "Total" in text and "end-to-end error" in text
    import pandas as pd

    rows = pd.read_csv(out)
    assert set(rows["hw"]) == {"epyc-9654"}
    # fc (a Linear on a 3-d input: its GEMM is an addmm) and relu did work in the trace
    assert rows.loc[rows["op"].isin(["aten.addmm", "aten.relu"]), "measured_s"].gt(0).sum() == 2


def test_a_cpu_trace_against_a_gpu_spec_warns(target, tmp_path, capsys):
    trace = traced(target, tmp_path / "trace.json")
    code = main(["validate", str(target), "--hw", "t4", "--profile", str(trace)])
    err = capsys.readouterr().err
    assert code == 0
    (warning,) = err.splitlines()
    assert warning.startswith("roofline: warning: ") and "a cpu trace but spec 't4' is a gpu" in warning


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        ("{oops", "not a JSON trace: line 1"),
        (json.dumps({"events": []}), "expected a Chrome trace"),
        (json.dumps({"traceEvents": [{"ph": "X", "cat": "kernel", "name": "k", "ts": 0, "dur": 1}]}), "no aten ops"),
    ],
    ids=["missing", "not-json", "not-a-trace", "no-aten-ops"],
)
def test_bad_trace_files(content, fragment, target, tmp_path, capsys, no_build):
    path = tmp_path / "trace.json"
    if content is not None:
        path.write_text(content)
    code = main(["validate", str(target), "--hw", "t4", "--profile", str(path)])
    one_line_error(capsys, code, str(path), fragment)


def test_a_trace_of_another_model(target, tmp_path, capsys):
    events = [{"ph": "X", "cat": "cpu_op", "name": name, "pid": 1, "tid": 1, "ts": 10 * i, "dur": 5, "args": {}}
              for i, name in enumerate(["aten::conv2d", "aten::max_pool2d", "aten::cat"])]
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"traceEvents": events}))
    code = main(["validate", str(target), "--hw", "t4", "--profile", str(path)])
    one_line_error(capsys, code, str(path), "are in the trace", "is it a trace of this model")


def test_no_device_with_a_trace(target, tmp_path, capsys, no_build):
    trace = tmp_path / "t.json"
    trace.write_text("{}")
    code = main(["validate", str(target), "--hw", "t4", "--profile", str(trace), "--device", "cpu"])
    one_line_error(capsys, code, "--device", "--profile")


def test_meta_builds_nothing_real_and_needs_a_trace(target, tmp_path, capsys, monkeypatch):
    import roofline.analysis

    trace = traced(target, tmp_path / "trace.json")
    seen = {}
    real_analyze = roofline.analysis.analyze

    def spy(model, inputs, **kwargs):
        seen["meta"] = all(p.is_meta for p in model.parameters())
        return real_analyze(model, inputs, **kwargs)

    monkeypatch.setattr(roofline.analysis, "analyze", spy)
    code = main(["validate", str(target), "--hw", "epyc-9654", "--profile", str(trace), "--meta"])
    assert code == 0, capsys.readouterr().err
    assert seen == {"meta": True}
    capsys.readouterr()
    code = main(["validate", str(target), "--hw", "epyc-9654", "--meta"])
    one_line_error(capsys, code, "--meta", "--profile")
