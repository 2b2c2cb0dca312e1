"""roofline.measure: per-op timing joined to the analysis, on small models.

What is checked: the join is exact (every analysed op gets a finite, positive measured
time, in the same order, under both timing methods); ops that write (in-place ops on
activations, inputs and buffers, random ops) leave the model's outputs, buffers and the
caller's inputs as an unmeasured run leaves them; the timer agrees with a known sleep;
the three totals (sum of ops, whole forward, profiler) agree with each other on a model
whose time is one large matmul. Timings here are measurements, so bounds are loose.
"""

import math
import time

import pytest
import torch
from torch import nn

from roofline.analysis import analyze
from roofline.errors import RooflineError
from roofline.measure import METHODS, Timer, measure, time_callable, timer_for

HW = "epyc-9654"  # any spec: these tests are about the join and the timing, not the figures


class InPlaceNet(nn.Module):
    """Writes its activations, its input and a buffer in place."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 16)
        self.act = nn.ReLU(inplace=True)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        x.mul_(2.0)  # the caller's input, written in place
        h = self.act(self.fc1(x))
        h.add_(1.0)
        h = self.fc2(h)
        h += x
        self.calls += 1  # state that changes on every forward
        return torch.sigmoid_(h) * self.calls


class DropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x)).relu()


@pytest.fixture(autouse=True)
def _one_thread():
    # The suite shares few cores: one thread keeps timings from waiting on a descheduled
    # worker, and these tests do not depend on the thread count.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _reference(model, x):
    with torch.no_grad():
        return model(x.clone())


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
    expected = _reference(model, x)  # calls becomes 1: the output is scaled by 1
    model.calls.zero_()
    m = measure(model, (x,), method=method, warmup=2, repeats=3, profiler_runs=1)
    assert torch.equal(x, x_before)  # the caller's input was never written
    assert float(model.calls) == 0.0  # the buffer is back where it was
    assert torch.equal(m.output, expected)  # the measured forward computed what an unmeasured one does
    assert torch.equal(_reference(model, x), expected)  # and the model still does


@pytest.mark.parametrize("method", METHODS)
def test_random_ops_give_the_unmeasured_output(method):
    model = DropoutNet().train()
    x = torch.randn(16, 8)
    torch.manual_seed(123)
    expected = _reference(model, x)
    torch.manual_seed(123)
    m = measure(model, (x,), method=method, warmup=1, repeats=2, profiler_runs=0)
    assert torch.equal(m.output, expected)


def test_timer_against_a_known_sleep():
    seconds, fastest, inner = time_callable(lambda: time.sleep(0.002), Timer(), warmup=1, repeats=3, min_batch_s=0)
    assert inner == 1
    assert 0.002 <= fastest <= seconds < 0.05


def test_replay_batches_short_ops():
    x = torch.ones(4)
    _, _, inner = time_callable(lambda: x + 1, Timer(), warmup=1, repeats=2, min_batch_s=1e-3)
    assert inner > 1  # a microsecond op is batched until a sample lasts a millisecond


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


def test_thread_clock_needs_one_thread():
    torch.set_num_threads(2)
    with pytest.raises(RooflineError, match="set them to 1"):
        measure(nn.Linear(4, 4), (torch.ones(1, 4),), clock="thread")
    with pytest.raises(RooflineError, match="clock"):
        timer_for("cpu", clock="sundial")


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
    symbolic_op = pytest.importorskip("roofline.count.python_ops").symbolic_op

    @symbolic_op(flops=lambda x: 2 * x.numel())
    def square_sum(x):
        return (x * x).sum(dim=-1, keepdim=True) + 0 * x

    class Net(nn.Module):
        def forward(self, x):
            return square_sum(x.relu()).sigmoid()

    model, x = Net(), torch.randn(8, 8)
    analysis = analyze(model, (x,), hw=HW)
    for method in METHODS:
        m = measure(model, (x,), method=method, warmup=1, repeats=2, profiler_runs=0)
        assert list(m.ops["op"]) == list(analysis.ops["op"])
        assert "symbolic.square_sum" in set(m.ops["op"])
        assert (m.ops["measured_s"] > 0).all()


def test_cuda_without_a_gpu_is_a_roofline_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RooflineError, match="CUDA is not available"):
        timer_for("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", METHODS)
def test_cuda_measure(method):
    model = InPlaceNet().eval()
    x = torch.randn(64, 16)
    expected = _reference(model, x).cpu()
    model.calls.zero_()
    analysis = analyze(model.cuda(), (x.cuda(),), hw="h100-sxm")
    model.calls.zero_()
    m = measure(model, (x,), device="cuda", method=method, warmup=1, repeats=3)
    assert m.device == "cuda" and m.profiler_kind == "self_cuda"
    assert list(m.ops["op"]) == list(analysis.ops["op"])
    assert (m.ops["measured_s"] > 0).all()
    assert torch.equal(m.output.cpu(), expected)
