"""roofline.measure.trace and .profile: per-op times from a torch.profiler trace, joined
with an Analysis. A real CPU trace taken here, and a hand-written CUDA-style trace whose
per-op sums are worked out by hand below."""

import json
import math

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from roofline.analysis import analyze
from roofline.errors import RooflineError
from roofline.measure import compare_trace
from roofline.measure.compare import OTHER_ROW, UNMATCHED_ROW
from roofline.measure.profile import join_trace
from roofline.measure.trace import read_profile

from .conftest import HW
from .test_compare import SmallNet


def cpu_trace(model, x, path, forwards=1):
    """A torch.profiler CPU trace of ``forwards`` forwards (after one warm-up) at ``path``."""
    with torch.no_grad():
        model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(forwards):
                model(x)
    prof.export_chrome_trace(str(path))
    return json.loads(path.read_text())


def test_a_real_cpu_trace_joins_every_op(tmp_path):
    model, x = SmallNet().eval(), torch.randn(2, 3, 8, 8)
    analysis = analyze(model, (x,), hw=HW)
    doc = cpu_trace(model, x, tmp_path / "trace.json")
    c = compare_trace(analysis, tmp_path / "trace.json")
    # Every op the analysis records is found in the trace, in order, and nothing is left over.
    assert list(c.ops["op"]) == list(analysis.ops["op"])
    assert c.analysis_only.empty and c.trace_only.empty
    assert c.basis == "wall" and c.device == "cpu (trace)"
    # A CPU op's measured time is its own duration in the file: read the addmm event here.
    (addmm,) = [e for e in doc["traceEvents"] if e.get("cat") == "cpu_op" and e["name"] == "aten::addmm"]
    row = c.ops[c.ops["op"] == "aten.addmm"].iloc[0]
    assert row["measured_s"] == pytest.approx(addmm["dur"] / 1e6)
    # Composite ops are split as the analysis counts them: aten::conv2d's time is its
    # aten::convolution's, which holds everything below it.
    (conv,) = [e for e in doc["traceEvents"] if e.get("cat") == "cpu_op" and e["name"] == "aten::convolution"]
    assert c.ops[c.ops["op"] == "aten.convolution"]["measured_s"].iloc[0] == pytest.approx(conv["dur"] / 1e6)
    # The predictions are the analysis' own, wall basis: predicted_s per op, nothing between ops.
    assert c.ops["predicted_s"].tolist() == pytest.approx(analysis.ops["predicted_s"].tolist())
    assert c.other_predicted_s == 0.0
    # The forward is the span of the ops: first start to last end, from the file.
    ops = [e for e in doc["traceEvents"] if e.get("cat") == "cpu_op" and e["name"].startswith("aten::")]
    span_us = max(e["ts"] + e["dur"] for e in ops) - min(e["ts"] for e in ops)
    assert c.forward_s == pytest.approx(span_us / 1e6)
    assert c.other_s == pytest.approx(c.forward_s - c.ops_total_s) and c.other_s >= 0
    table = c.by_category()
    assert table.loc["Total", "measured_s"] == pytest.approx(c.forward_s)
    assert table.loc[OTHER_ROW, "measured_s"] == pytest.approx(c.other_s)


def test_several_forwards_in_one_trace_are_averaged(tmp_path):
    model, x = SmallNet().eval(), torch.randn(2, 3, 8, 8)
    analysis = analyze(model, (x,), hw=HW)
    doc = cpu_trace(model, x, tmp_path / "trace.json", forwards=3)
    c = compare_trace(analysis, tmp_path / "trace.json")
    assert list(c.ops["op"]) == list(analysis.ops["op"]) and c.trace_only.empty
    durations = [e["dur"] for e in doc["traceEvents"] if e.get("cat") == "cpu_op" and e["name"] == "aten::addmm"]
    assert len(durations) == 3
    assert c.ops[c.ops["op"] == "aten.addmm"]["measured_s"].iloc[0] == pytest.approx(sum(durations) / 3 / 1e6)


# ----------------------------------------------------------------------------- CUDA-style trace


class LinearRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x).relu() * 2


def op(name, ts, dur, tid=1):
    return {"ph": "X", "cat": "cpu_op", "name": name, "pid": 1, "tid": tid, "ts": ts, "dur": dur, "args": {}}


def launch(ts, correlation, tid=1):
    return {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": tid, "ts": ts, "dur": 3,
            "args": {"correlation": correlation}}


def kernel(ts, dur, correlation, cat="kernel"):
    return {"ph": "X", "cat": cat, "name": f"k{correlation}", "pid": 0, "tid": 7, "ts": ts, "dur": dur,
            "args": {"correlation": correlation}}


#: aten::linear (composite: the analysis records its aten::t and aten::addmm) launches a
#: GEMM (40 us) and, from a nested aten::copy_, a copy kernel (5 us); aten::relu launches
#: its clamp_min kernel (8 us) from a nested op; aten::zeros (not in the analysis) a
#: memset (2 us); the analysis' final aten::mul is not in the trace. One kernel has no
#: launch in the trace (another process's) and belongs to no op.
CUDA_TRACE = [
    op("aten::linear", 0, 50),
    op("aten::t", 2, 5), op("aten::transpose", 3, 3),
    op("aten::addmm", 10, 30), launch(12, 101), op("aten::copy_", 20, 10), launch(22, 102),
    op("aten::relu", 60, 20), op("aten::clamp_min", 62, 15), launch(65, 103),
    op("aten::zeros", 90, 5), launch(91, 104),
    kernel(100, 40, 101), kernel(145, 5, 102), kernel(160, 8, 103), kernel(175, 2, 104, cat="gpu_memset"),
    kernel(300, 50, 999),
]


def test_a_cuda_trace_by_hand(tmp_path):
    path = tmp_path / "cuda.json"
    path.write_text(json.dumps({"traceEvents": CUDA_TRACE}))
    model, x = LinearRelu().eval(), torch.randn(2, 4)
    analysis = analyze(model, (x,), hw="t4")
    assert list(analysis.ops["op"]) == ["aten.t", "aten.addmm", "aten.relu", "aten.mul"]

    run = read_profile(path, recorded={"aten::t", "aten::addmm", "aten::relu", "aten::mul"})
    assert run.device == "cuda"
    assert list(run.ops["op"]) == ["aten.t", "aten.addmm", "aten.relu", "aten.zeros"]
    # t: no kernel; addmm: 40 + 5 = 45 us (the copy_ inside it is its own); relu: 8 us;
    # zeros: the 2 us memset. The kernel of correlation 999 has no launch here: nobody's.
    assert run.ops["measured_s"].tolist() == pytest.approx([0.0, 45e-6, 8e-6, 2e-6])
    assert run.ops["kernels"].tolist() == [0, 2, 1, 1]
    # Device span of the ops' kernels: 100 us to 175 + 2 = 177 us.
    assert run.forward_s == pytest.approx(77e-6)

    c = compare_trace(analysis, path)
    assert c.basis == "kernel" and c.device == "cuda (trace)"
    assert list(c.ops["op"]) == ["aten.t", "aten.addmm", "aten.relu"]
    assert c.ops["measured_s"].tolist() == pytest.approx([0.0, 45e-6, 8e-6])
    # GPU traces are device time: compared with the ops' kernel_s, not their wall time.
    assert c.ops["predicted_s"].tolist() == pytest.approx(analysis.ops["kernel_s"].iloc[:3].tolist())
    assert list(c.analysis_only["op"]) == ["aten.mul"] and list(c.trace_only["op"]) == ["aten.zeros"]
    # Other: the device idle inside the span, 77 - (45 + 8) - 2 = 22 us (the gaps 140-145,
    # 150-160 and 168-175); predicted: the launch overhead the spec charges the three ops
    # that do work (addmm, relu, mul; the view aten.t launches nothing).
    assert c.other_s == pytest.approx(22e-6)
    from roofline.hardware import load_hardware

    assert c.other_predicted_s == pytest.approx(3 * load_hardware("t4").overhead_s)
    table = c.by_category()
    assert table.loc[OTHER_ROW, "measured_s"] == pytest.approx(22e-6)
    assert table.loc[UNMATCHED_ROW, "ops"] == 2 and table.loc[UNMATCHED_ROW, "measured_s"] == pytest.approx(2e-6)
    assert table.loc["Total", "measured_s"] == pytest.approx(77e-6)
    # The whole forward predicted: every op's kernel and its overhead, i.e. the analysis' total.
    assert table.loc["Total", "predicted_s"] == pytest.approx(analysis.predicted_s)
    assert c.end_to_end_error == pytest.approx((analysis.predicted_s - 77e-6) / 77e-6)


def test_kernels_found_by_external_id_without_launch_events(tmp_path):
    """A trace whose launches are missing: each kernel's External id names the aten op
    (here the aten::copy_ inside aten::addmm) that launched it; gzip as tensorboard writes."""
    import gzip

    events = [
        {**op("aten::addmm", 10, 30), "args": {"External id": 5}},
        {**op("aten::copy_", 20, 5), "args": {"External id": 6}},
        {**op("aten::relu", 50, 10), "args": {"External id": 7}},
        {**kernel(100, 30, None), "args": {"External id": 5}},
        {**kernel(140, 4, None), "args": {"External id": 6}},
        {**kernel(150, 6, None), "args": {"External id": 7}},
    ]
    path = tmp_path / "trace.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump({"traceEvents": events}, handle)
    run = read_profile(path, recorded={"aten::addmm", "aten::relu"})
    # addmm: 30 + 4 us (its copy_'s kernel is its own); relu: 6 us; span 100 to 156 us.
    assert list(run.ops["op"]) == ["aten.addmm", "aten.relu"]
    assert run.ops["measured_s"].tolist() == pytest.approx([34e-6, 6e-6])
    assert run.forward_s == pytest.approx(56e-6)


def test_join_sets_aside_what_one_side_lacks():
    names = ["aten.t", "aten.addmm", "aten.relu", "aten.mul"]
    traced = ["aten.zeros", "aten.t", "aten.addmm", "aten.relu", "aten.mul"]
    assert join_trace(names, traced) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert join_trace(names, ["aten.t", "aten.relu"]) == [(0, 0), (2, 1)]


# ----------------------------------------------------------------------------- bad files


def test_bad_trace_files_name_the_file(tmp_path):
    analysis = analyze(LinearRelu().eval(), (torch.randn(2, 4),), hw=HW)
    with pytest.raises(RooflineError, match=r"nope\.json: no such file"):
        compare_trace(analysis, tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RooflineError, match=r"bad\.json: not a JSON trace: line 1"):
        compare_trace(analysis, tmp_path / "bad.json")
    (tmp_path / "list.json").write_text(json.dumps({"events": []}))
    with pytest.raises(RooflineError, match=r"list\.json: expected a Chrome trace"):
        compare_trace(analysis, tmp_path / "list.json")
    (tmp_path / "empty.json").write_text(json.dumps({"traceEvents": [kernel(0, 1, 1)]}))
    with pytest.raises(RooflineError, match=r"empty\.json: no aten ops"):
        compare_trace(analysis, tmp_path / "empty.json")
    other = [op("aten::conv2d", 0, 5), op("aten::max_pool2d", 10, 5)]
    (tmp_path / "other.json").write_text(json.dumps({"traceEvents": other}))
    with pytest.raises(RooflineError, match=r"other\.json: only 0 of the 4 ops of LinearRelu are in the trace"):
        compare_trace(analysis, tmp_path / "other.json")
    assert math.isfinite(analysis.predicted_s)
