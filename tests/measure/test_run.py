"""roofline.measure.run: measure() on small models, joined to the analysis.

What is checked: the join is exact (every analysed op gets a finite, positive measured
time, in the same order, under both timing methods); ops that write (in-place ops on
activations, inputs and buffers, random ops) leave the model's outputs, buffers and the
caller's inputs as an unmeasured run leaves them; the records are a plain capture's;
dataclass and namedtuple inputs are moved and copied like tuples; the three totals (sum of ops, whole forward, profiler) agree with each other on a model
whose time is one large matmul. Timings here are measurements, so bounds are loose.
"""

import math
from collections import namedtuple
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from roofline.analysis import analyze
from roofline.capture import capture
from roofline.errors import RooflineError
from roofline.measure import METHODS, measure
from tests.measure.conftest import HW, DropoutNet, InPlaceNet, reference_output, symbolic_net


@pytest.mark.parametrize("method", METHODS)
def test_join_is_exact(method):
    model = InPlaceNet().eval()
    x = torch.randn(4, 16)
    analysis = analyze(model, (x.clone(),), hw=HW)
    m = measure(model, (x,), method=method, warmup=1, repeats=2, profiler_runs=0)
    assert len(m.ops) == len(analysis.ops) > 5
    assert list(m.ops["op"]) == list(analysis.ops["op"])
    assert list(m.ops.index) == list(analysis.ops.index)
    assert (m.ops["measured_s"] > 0).all() and m.ops["measured_s"].map(math.isfinite).all()
    assert (m.ops["min_s"] <= m.ops["measured_s"] + 1e-12).all()
    comparison = analysis.compare(m)
    assert comparison.ops["measured_s"].notna().all()
    assert (comparison.ops["predicted_s"] == analysis.ops["predicted_s"]).all()
    if method == "replay":  # the in-place ops were timed on clones
        written = set(m.ops.loc[m.ops["mutates"], "op"])
        assert {"aten.mul_", "aten.add_", "aten.sigmoid_"} <= written


@pytest.mark.parametrize("method", METHODS)
def test_in_place_ops_leave_outputs_state_and_inputs_unchanged(method):
    torch.manual_seed(0)
    model = InPlaceNet().eval()
    x = torch.randn(4, 16)
    x_before = x.clone()
    expected = reference_output(model, x)  # calls becomes 1: the output is scaled by 1
    model.calls.zero_()
    m = measure(model, (x,), method=method, warmup=2, repeats=3, profiler_runs=1)
    assert torch.equal(x, x_before)  # the caller's input was never written
    assert float(model.calls) == 0.0  # the buffer is back where it was
    assert torch.equal(m.output, expected)  # the measured forward computed what an unmeasured one does
    assert torch.equal(reference_output(model, x), expected)  # and the model still does


@pytest.mark.parametrize("method", METHODS)
def test_random_ops_give_the_unmeasured_output(method):
    model = DropoutNet().train()
    x = torch.randn(16, 8)
    torch.manual_seed(123)
    expected = reference_output(model, x)
    torch.manual_seed(123)
    m = measure(model, (x,), method=method, warmup=1, repeats=2, profiler_runs=0)
    assert torch.equal(m.output, expected)


def test_three_totals_agree_on_a_matmul_model():
    # One 384^3 matmul (about 0.1 GFLOP) dominates: the sum of op times, the whole forward
    # and the profiler's self time measure the same work. The machine running the suite is
    # shared: op sum and forward are read on the thread's CPU clock (time descheduled does
    # not count); the profiler reads wall time, so it gets a looser bound; three attempts.
    model = nn.Linear(384, 384, bias=False).eval()
    x = torch.randn(384, 384)
    ratios = []
    for _ in range(3):
        m = measure(model, (x,), warmup=2, repeats=5, profiler_runs=2, clock="thread")
        assert m.summary()["ops"] == len(m.ops) == 2  # t, mm
        assert m.profiler_kind == "self_cpu" and m.clock == "thread"
        for total in (m.ops_total_s, m.forward_s, m.profiler_s):
            assert 0 < total < 1.0
        ratios.append((m.ops_total_s / m.forward_s, m.profiler_s / m.forward_s))
        if 1 / 2 < ratios[-1][0] < 2 and 1 / 5 < ratios[-1][1] < 5:
            break
    else:
        pytest.fail(f"op sum / forward never within 2x, or profiler / forward within 5x: {ratios}")


def test_meta_tensors_cannot_be_timed():
    model = nn.Linear(4, 4, device="meta")
    with pytest.raises(RooflineError, match="meta"):
        measure(model, (torch.empty(2, 4, device="meta"),))


def test_bad_arguments():
    model = nn.Linear(4, 4)
    with pytest.raises(RooflineError, match="method"):
        measure(model, (torch.ones(1, 4),), method="guess")
    with pytest.raises(RooflineError, match="repeats"):
        measure(model, (torch.ones(1, 4),), repeats=0)


def test_a_model_that_changes_its_ops_between_forwards_is_refused():
    class Flip(nn.Module):
        def __init__(self):
            super().__init__()
            self.n = 0

        def forward(self, x):
            self.n += 1
            return x.relu() if self.n % 2 else x.sigmoid()

    with pytest.raises(RooflineError, match="same ops every forward"):
        measure(Flip(), (torch.ones(3),), warmup=1, repeats=1, profiler_runs=0)


def test_model_failure_is_a_roofline_error():
    class Broken(nn.Module):
        def forward(self, x):
            return x @ torch.ones(5, 5)

    with pytest.raises(RooflineError, match="failed while being measured"):
        measure(Broken(), (torch.ones(2, 3),), profiler_runs=0)


def test_symbolic_op_is_timed_as_one_op():
    model, x = symbolic_net(), torch.randn(8, 8)
    analysis = analyze(model, (x,), hw=HW)
    for method in METHODS:
        m = measure(model, (x,), method=method, warmup=1, repeats=2, profiler_runs=0)
        assert list(m.ops["op"]) == list(analysis.ops["op"])
        assert "symbolic.square_sum" in set(m.ops["op"])
        assert (m.ops["measured_s"] > 0).all()


# ------------------------------------------------------------------ the records are a capture's


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16))
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.body(x)).softmax(-1)


def _signature(records):
    return [(r.op, r.module, r.module_type, [i.shape for i in r.inputs], [o.shape for o in r.outputs], r.param_bytes)
            for r in records]


@pytest.mark.parametrize("method", METHODS)
def test_measured_records_are_a_plain_captures(method):
    model, x = Small().eval(), torch.randn(3, 8)
    with torch.no_grad():  # measure runs as analyze() does: inference
        plain, _ = capture(model, (x,))
    m = measure(model, (x,), method=method, warmup=0, repeats=1, profiler_runs=0)
    assert _signature(m.records) == _signature(plain)
    assert all(isinstance(r.func, torch._ops.OpOverload) for r in m.records)  # the real op, no stand-in
    assert [r.func for r in m.records] == [r.func for r in plain]
    assert list(m.ops["module"]) == [r.module for r in plain]


def test_measure_is_the_function():
    import importlib

    import roofline

    package = importlib.import_module("roofline.measure")
    assert package.measure is measure and roofline.measure is measure  # not the run module
    assert importlib.import_module("roofline.measure.run").measure is measure


# ------------------------------------------------------------------ dataclass and namedtuple inputs


@dataclass
class Batch:
    x: torch.Tensor
    scale: torch.Tensor


Pair = namedtuple("Pair", "x scale")


class TakesBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, batch):
        batch.x.mul_(2.0)  # writes the input: every forward must get a fresh copy
        return self.fc(batch.x) * batch.scale


@pytest.mark.parametrize("wrap", [lambda x, s: Batch(x, s), lambda x, s: (Pair(x, s),)], ids=["dataclass", "namedtuple"])
def test_dataclass_and_namedtuple_inputs(wrap):
    torch.manual_seed(0)
    model = TakesBatch().eval()
    x, scale = torch.randn(2, 4), torch.full((4,), 3.0)
    inputs = wrap(x, scale)
    expected = model(Batch(x.clone(), scale)).detach()
    m = measure(model, inputs, device="cpu", warmup=1, repeats=2, profiler_runs=1)
    assert torch.equal(x, inputs.x if isinstance(inputs, Batch) else inputs[0].x)  # the caller's input is untouched
    assert torch.equal(m.output, expected)
    assert m.ops["measured_s"].notna().all() and "aten.mul_" in set(m.ops["op"])


def test_meta_tensors_inside_a_dataclass_cannot_be_timed():
    def model(batch):
        return batch.x * batch.scale

    with pytest.raises(RooflineError, match="meta"):
        measure(model, Batch(torch.ones(2, device="meta"), torch.ones(2, device="meta")), profiler_runs=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", METHODS)
def test_cuda_measure(method):
    model = InPlaceNet().eval()
    x = torch.randn(64, 16)
    expected = reference_output(model, x).cpu()
    model.calls.zero_()
    analysis = analyze(model.cuda(), (x.cuda(),), hw="h100-sxm")
    model.calls.zero_()
    m = measure(model, (x,), device="cuda", method=method, warmup=1, repeats=3)
    assert m.device == "cuda" and m.profiler_kind == "self_cuda"
    assert list(m.ops["op"]) == list(analysis.ops["op"])
    assert (m.ops["measured_s"] > 0).all()
    assert torch.equal(m.output.cpu(), expected)
