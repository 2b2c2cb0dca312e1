"""roofline.report.trace: the predicted timeline as a Chrome/Perfetto trace, and its line-up
with torch.profiler's trace of the measured run."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn as nn

from roofline import analyze
from roofline.cli import main
from roofline.errors import RooflineError
from roofline.report.trace import chrome_trace, merge_traces, profiler_ops, trace_name, write_trace


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Sequential(nn.Linear(64, 8), nn.Softmax(-1)))


@pytest.fixture(scope="module")
def analysis():
    return analyze(small_model(), (torch.randn(4, 32),), hw="h100-sxm")


def op_events(document, pid=None):
    return [
        e for e in document["traceEvents"]
        if e["ph"] == "X" and e.get("cat") != "module" and (pid is None or e["pid"] == pid)
    ]


def test_trace_name():
    assert trace_name("aten.mm") == "aten::mm"
    assert trace_name("aten._softmax") == "aten::_softmax"
    assert trace_name("symbolic.unify") == "symbolic::unify"


def test_one_event_per_op_back_to_back(analysis):
    document = chrome_trace(analysis)
    events = op_events(document)
    assert [e["name"] for e in events] == ["aten::t", "aten::addmm", "aten::relu", "aten::t", "aten::addmm", "aten::_softmax"]
    assert {e["tid"] for e in events} == {1} and {e["pid"] for e in events} == {1}
    # op i starts where op i-1 ends; the last ends at the predicted total (microseconds)
    for before, after in zip(events, events[1:]):
        assert after["ts"] == pytest.approx(before["ts"] + before["dur"], abs=2e-3)
    assert events[0]["ts"] == 0.0
    end = events[-1]["ts"] + events[-1]["dur"]
    assert end == pytest.approx(analysis.predicted_s * 1e6, abs=5e-3)
    for event, (_, row) in zip(events, analysis.ops.iterrows()):
        assert event["dur"] == pytest.approx(row.predicted_s * 1e6, abs=2e-3)


def test_args_hold_flops_bytes_bound_and_module(analysis):
    first_linear = op_events(chrome_trace(analysis))[1]
    args = first_linear["args"]
    # Linear(32, 64) on 4 rows: 2*4*32*64 multiply-adds + 4*64 bias adds; reads x, W, b; writes y
    assert args["flops"] == 2 * 4 * 32 * 64 + 4 * 64
    assert args["bytes_read"] == 4 * (4 * 32 + 32 * 64 + 64)
    assert args["bytes_written"] == 4 * 4 * 64
    assert args["module"] == "0" and args["module_type"] == "Linear" and args["category"] == "GEMM"
    assert args["bound"] in ("compute", "memory", "overhead")
    # device time is the larger of compute and memory, or H100's 2 us shortest kernel
    # (its kernel_model's min_kernel) when both are shorter; eager adds the launch
    floor_us = 2.0
    assert args["kernel_us"] == pytest.approx(max(args["compute_us"], args["memory_us"], floor_us))
    assert args["predicted_us"] == pytest.approx(args["overhead_us"] + args["kernel_us"])
    assert first_linear["cat"] == "GEMM"


def test_module_spans_nest_and_contain_their_ops(analysis):
    document = chrome_trace(analysis)
    spans = {e["name"]: e for e in document["traceEvents"] if e.get("cat") == "module"}
    assert set(spans) == {"0", "1", "2", "2.0", "2.1"}
    outer, inner = spans["2"], spans["2.0"]
    assert outer["ts"] <= inner["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"] + 1e-9
    assert spans["2"]["args"]["ops"] == 3 and spans["2.0"]["args"]["module_type"] == "Linear"
    for event in op_events(document):
        span = spans[event["args"]["module"]]
        assert span["ts"] <= event["ts"] and event["ts"] + event["dur"] <= span["ts"] + span["dur"] + 1e-9
    names = {e["args"]["name"] for e in document["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names == {"ops (predicted)", "modules (predicted)"}


def test_category_layout_puts_each_category_on_its_own_track(analysis):
    document = chrome_trace(analysis, layout="category", modules=False, counters=False)
    threads = {e["tid"]: e["args"]["name"] for e in document["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    events = op_events(document)
    for event in events:
        assert threads[event["tid"]] == f"{event['cat']} (predicted)"
    assert len({e["tid"] for e in events}) == len(set(analysis.ops["category"]))
    assert not [e for e in document["traceEvents"] if e["ph"] == "C"]


def test_counters_give_each_ops_predicted_rate(analysis):
    document = chrome_trace(analysis)
    flop_rates = [e for e in document["traceEvents"] if e["ph"] == "C" and e["name"] == "predicted FLOP/s"]
    ops = analysis.ops[analysis.ops["predicted_s"] > 0]
    assert len(flop_rates) == len(ops) + 1  # one per op that takes time, and a zero at the end
    for event, (_, row) in zip(flop_rates, ops.iterrows()):
        assert event["args"]["FLOP/s"] == pytest.approx(row.flops / row.predicted_s)
    assert flop_rates[-1]["args"]["FLOP/s"] == 0.0


def test_unsupported_ops_are_valid_json_with_their_reason(tmp_path):
    class Spectrum(nn.Module):
        def forward(self, x):
            return torch.linalg.matrix_exp(x.reshape(2, 4, 4))  # no formula

    a = analyze(Spectrum(), (torch.randn(2, 16),))
    assert not a.unsupported.empty
    path = write_trace(a, tmp_path / "t.json")
    document = json.loads(path.read_text())  # the file is strict JSON: no NaN
    unsupported = [e for e in op_events(document) if e["name"].startswith("aten::linalg_matrix_exp")]
    assert unsupported and unsupported[0]["args"]["flops"] is None and "no formula" in unsupported[0]["args"]["unsupported"]


def test_bad_layout_is_a_user_error(analysis):
    with pytest.raises(RooflineError, match="trace layout 'stacked'"):
        chrome_trace(analysis, layout="stacked")


# ------------------------------------------------------- line-up with torch.profiler


@pytest.fixture(scope="module")
def measured_trace(tmp_path_factory):
    from torch.profiler import ProfilerActivity, profile

    model = small_model()
    x = torch.randn(4, 32)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(x)
    path = tmp_path_factory.mktemp("profiler") / "measured.json"
    prof.export_chrome_trace(str(path))
    return path


def test_predicted_ops_appear_in_order_in_the_profiler_trace(analysis, measured_trace):
    measured = [e["name"] for e in profiler_ops(measured_trace)]
    predicted = [e["name"] for e in op_events(chrome_trace(analysis))]
    # the profiler also lists composite ops (aten::linear around aten::t and aten::addmm):
    # the predicted ops are an ordered subsequence of its aten ops
    remaining = iter(measured)
    assert all(name in remaining for name in predicted), (predicted, measured)


def test_merged_trace_starts_with_the_measured_run(analysis, measured_trace):
    measured = json.loads(measured_trace.read_text())
    merged = merge_traces(chrome_trace(analysis), measured_trace)
    measured_pids = {e["pid"] for e in measured["traceEvents"] if "pid" in e}
    predicted = [e for e in merged["traceEvents"] if e.get("cat") == "GEMM"]
    assert len(predicted) == 2
    (pid,) = {e["pid"] for e in predicted}
    assert pid not in measured_pids
    first_measured = profiler_ops(measured)[0]["ts"]
    first_predicted = min(e["ts"] for e in op_events(merged, pid))
    assert first_predicted == pytest.approx(float(first_measured), abs=1e-3)
    # every measured event is kept as it was
    assert merged["traceEvents"][: len(measured["traceEvents"])] == measured["traceEvents"]
    assert merged["roofline"]["model"] == analysis.name


def test_merge_needs_aten_ops_in_the_measured_trace(analysis):
    with pytest.raises(RooflineError, match="no aten ops"):
        merge_traces(chrome_trace(analysis), {"traceEvents": []})


# ------------------------------------------------------------------------ CLI

TARGET = textwrap.dedent(
    """
    import torch, torch.nn as nn

    def build(batch=1):
        return nn.Sequential(nn.Linear(32, 64), nn.ReLU()), (torch.randn(batch, 32),)
    """
)


@pytest.fixture()
def target(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TARGET)
    return path


def test_cli_trace_and_merged_trace(target, tmp_path, measured_trace, capsys):
    out = tmp_path / "predicted.json"
    assert main(["analyze", str(target), "--batch", "2", "--trace", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    document = json.loads(out.read_text())
    assert [e["name"] for e in op_events(document)] == ["aten::t", "aten::addmm", "aten::relu"]
    assert op_events(document)[1]["args"]["flops"] == 2 * 2 * 32 * 64 + 2 * 64

    both = tmp_path / "both.json"
    assert main(["analyze", str(target), "--trace", str(both), "--trace-measured", str(measured_trace)]) == 0
    merged = json.loads(both.read_text())
    assert len(merged["traceEvents"]) > len(json.loads(measured_trace.read_text())["traceEvents"])


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--trace-measured", "{tmp}/nothing.json"], "--trace-measured: give --trace FILE too"),
        (["--trace", "{tmp}/t.json", "--trace-measured", "{tmp}/nothing.json"], "nothing.json: no such file"),
        (["--trace", "{tmp}/no/such/dir/t.json"], "no such directory"),
    ],
)
def test_cli_trace_errors_exit_2(target, tmp_path, capsys, extra, message):
    args = ["analyze", str(target)] + [a.format(tmp=tmp_path) for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
