"""The efficiency stage inside prediction: a spec with a kernel model against the same
spec without one, on ops whose times are worked out by hand."""

import dataclasses

import pytest
import torch
from torch import nn

import roofline
from roofline.hardware import KernelModel, load_hardware
from roofline.predict import OVERHEAD_BOUND, Tf32Policy

TF32_OFF = Tf32Policy(conv=False, matmul=False)


def kernel_spec(**changes):
    """a100-pcie with a simple kernel model: one 128x128 SIMT tile... (the real menu),
    gemm efficiency 0.5, no tile overhead, 10 us start-up, 20 us floor."""
    model = KernelModel(sms=108, boost_clock_hz=1410e6, sustained_clock_hz=1410e6, gemm_efficiency={"simt": 0.5},
                        k_overhead=0.0, latency_s=10e-6, min_kernel_s=20e-6, source="test")
    spec = load_hardware("a100-pcie")
    return dataclasses.replace(spec, kernel_model=dataclasses.replace(model, **changes), overhead_s=0.0)


def linear_analysis(spec, m, k, n):
    model = nn.Linear(k, n, bias=False)
    return roofline.analyze(model, (torch.randn(m, k),), hw=spec, meta=True, tf32=TF32_OFF)


def test_a_full_wave_gemm_runs_at_the_fitted_efficiency():
    # 1152 x 1536 output = 9 x 12 tiles of 128x128 on 108 SMs: no tile or wave loss, so
    # compute_s = 2 m n k / (0.5 x 19.5 TFLOP/s).
    spec = kernel_spec()
    ops = linear_analysis(spec, 1152, 4096, 1536).ops
    mm = ops[ops.op == "aten.mm"].iloc[0]
    assert mm.compute_s == pytest.approx(2 * 1152 * 4096 * 1536 / (0.5 * 19.5e12), rel=1e-12)
    assert mm.kernel_s == pytest.approx(mm.compute_s)


def test_a_sustained_clock_below_boost_slows_compute_in_proportion():
    fast = linear_analysis(kernel_spec(), 1152, 4096, 1536).ops
    slow = linear_analysis(kernel_spec(sustained_clock_hz=705e6), 1152, 4096, 1536).ops
    assert slow.compute_s.sum() == pytest.approx(2 * fast.compute_s.sum(), rel=1e-12)


def test_memory_bound_ops_pay_the_start_up_and_the_floor():
    spec = kernel_spec()
    x = torch.randn(1000, 1000)  # relu: 4 MB read + 4 MB written
    ops = roofline.analyze(nn.ReLU(), (x,), hw=spec, meta=True).ops
    relu = ops[ops.op == "aten.relu"].iloc[0]
    assert relu.memory_s == pytest.approx(10e-6 + 8e6 / (spec.efficiency.memory * 1.555e12), rel=1e-12)
    tiny = roofline.analyze(nn.ReLU(), (torch.randn(4),), hw=spec, meta=True).ops.iloc[0]
    assert tiny.kernel_s == 20e-6 and tiny.bound == OVERHEAD_BOUND  # the floor wins


def test_without_a_kernel_model_nothing_changes():
    plain = dataclasses.replace(kernel_spec(), kernel_model=None)
    ops = linear_analysis(plain, 129, 4096, 1536).ops
    mm = ops[ops.op == "aten.mm"].iloc[0]
    assert mm.compute_s == pytest.approx(2 * 129 * 4096 * 1536 / (plain.efficiency.vector * 19.5e12), rel=1e-12)
    assert (ops.kernel_s + ops.overhead_s == ops.predicted_s).all()


def test_a_ragged_gemm_is_slower_per_flop_than_a_whole_one():
    spec = kernel_spec()
    whole = linear_analysis(spec, 1152, 4096, 1536).ops
    ragged = linear_analysis(spec, 1153, 4096, 1536).ops  # one more row: a ragged row of tiles
    per_flop = lambda ops: ops.compute_s.sum() / ops.flops.sum()  # noqa: E731
    assert per_flop(ragged) > 1.05 * per_flop(whole)


def test_device_time_is_reported_apart_from_eager_time():
    spec = dataclasses.replace(kernel_spec(), overhead_s=4e-6)
    a = linear_analysis(spec, 1152, 4096, 1536)
    working = a.ops[a.ops.unit != "none"]
    # predicted_s adds 4 us of launch to each op that does work; kernel_s does not.
    assert a.predicted_s - a.kernel_s == pytest.approx(4e-6 * len(working), rel=1e-9)
    assert a.summary()["kernel_s"] == a.kernel_s
