"""roofline.efficiency.cpu_conv: depthwise and grouped CPU convolutions at the rates a
calibration measured (measured.conv_rates). Expected values are worked out by hand in
the comments."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.efficiency.cpu_conv import (
    ConvShape,
    conv_rate_s,
    conv_shape,
    series_seconds,
)
from roofline.hardware import CalibrationRecord, ConvRate

LOCAL_CPU = Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml"

# Depthwise 3x3, stride 1: 100000 outputs at 9 GFLOP/s: 2 x 100000 x 9 / 9e9 = 2e-4 s;
# 400000 outputs at 14.4 GFLOP/s: 2 x 400000 x 9 / 1.44e10 = 5e-4 s.
# Grouped, reduction 36: 100000 outputs at 3.6 GFLOP/s: 2 x 100000 x 36 / 3.6e9 = 2e-3 s;
# reduction 144: 100000 outputs at 36 GFLOP/s: 2 x 100000 x 144 / 3.6e10 = 8e-4 s.
RATES = (ConvRate("depthwise", 1, 9, 100000, 9e9), ConvRate("depthwise", 1, 9, 400000, 1.44e10),
         ConvRate("grouped", 1, 36, 100000, 3.6e9), ConvRate("grouped", 1, 144, 100000, 3.6e10))


def _record(**kw):
    return CalibrationRecord(device="cpu", threads=1, conv_rates=RATES, **kw)


def test_series_seconds_by_hand():
    points = [(4000.0, 2e-4), (1000.0, 1e-4)]  # any order
    # 2000 is halfway (in log) from 1000 to 4000: sqrt(1e-4 x 2e-4) = 1.41421e-4 s;
    # below the smallest point its time (1e-4); above the largest its rate: 2e-4 x 8000 / 4000
    seconds = series_seconds(points, np.array([2000.0, 500.0, 1000.0, 8000.0]))
    assert seconds == pytest.approx([math.sqrt(1e-4 * 2e-4), 1e-4, 1e-4, 4e-4])


def test_a_noisy_point_never_makes_a_larger_convolution_faster():
    # 3e-4 at 1000 and 2e-4 at 4000: made non-decreasing, 3e-4 at both, so 3e-4 between
    assert series_seconds([(1000.0, 3e-4), (4000.0, 2e-4)], np.array([2000.0])) == pytest.approx([3e-4])


def _depthwise_counts(channels, side, stride, taps, bias=False):
    """Counts of a fp32 depthwise conv of a (1, channels, side, side) input, 'same' padding:
    its output is (1, channels, side / stride, side / stride)."""
    out = channels * (side // stride) ** 2
    weight_bytes = 4 * channels * taps + (4 * channels if bias else 0)
    return {"flops": 2.0 * out * taps + (out if bias else 0), "bytes_read": 4.0 * channels * side * side + weight_bytes,
            "bytes_written": 4.0 * out, "param_bytes": float(weight_bytes)}


def test_conv_shape_reads_taps_stride_and_groups_from_the_counts():
    rows = [_depthwise_counts(32, 112, 1, 9),  # 401408 outputs, 7225344 FLOP: 9 taps, in/out = 1: stride 1
            _depthwise_counts(32, 112, 1, 9, bias=True),  # + 401408 FLOP: 9.5 per output pair -> still 9 taps
            _depthwise_counts(144, 56, 2, 9),  # 112896 outputs from 451584 inputs: in/out = 4, stride 2
            # ResNeXt's grouped 3x3: 128 channels in 32 groups at 56x56, K = 4 x 9 = 36
            {"flops": 2.0 * 128 * 36 * 3136, "bytes_read": 4.0 * (128 * 3136 + 128 * 36), "bytes_written": 4.0 * 128 * 3136,
             "param_bytes": 4.0 * 128 * 36},
            # a dense 1x1: one group
            {"flops": 2.0 * 256 * 64 * 3136, "bytes_read": 4.0 * (64 * 3136 + 256 * 64), "bytes_written": 4.0 * 256 * 3136,
             "param_bytes": 4.0 * 256 * 64}]
    column = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    nan = math.nan
    gemm = (np.array([nan, nan, nan, 32.0, 1.0]), np.array([nan, nan, nan, 3136.0, 3136.0]),
            np.array([nan, nan, nan, 4.0, 256.0]), np.array([nan, nan, nan, 36.0, 64.0]))
    shape = conv_shape(np.ones(5, dtype=bool), column["flops"], column["bytes_read"], column["bytes_written"],
                       column["param_bytes"], np.full(5, 4.0), gemm)
    assert shape.depthwise.tolist() == [True, True, True, False, False]
    assert shape.grouped.tolist() == [False, False, False, True, False]
    assert shape.reduction[:4].tolist() == [9, 9, 9, 36]
    assert shape.stride[:3].tolist() == [1, 1, 2]
    assert shape.out_elements[:4].tolist() == [401408, 401408, 112896, 401408]
    # no GEMM columns: nothing is classified
    assert not conv_shape(np.ones(5, dtype=bool), column["flops"], column["bytes_read"], column["bytes_written"],
                          column["param_bytes"], np.full(5, 4.0), None).depthwise.any()


def _shape(depthwise, grouped, stride, reduction, out):
    return ConvShape(np.array(depthwise), np.array(grouped), np.array(stride, dtype=float),
                     np.array(reduction, dtype=float), np.array(out, dtype=float))


def test_conv_rate_s_by_hand():
    shape = _shape(depthwise=[True, True, False, False, True, False],
                   grouped=[False, False, True, True, False, False],
                   stride=[1, 1, 1, 1, 1, 1], reduction=[9, 9, 72, 18, 25, 1],
                   out=[200000, 400000, 100000, 100000, 100000, 100000])
    seconds = conv_rate_s(shape, _record())
    # depthwise 200000 outputs: halfway (in log) from 100000 to 400000: sqrt(2e-4 x 5e-4) = 3.1623e-4 s
    # grouped K = 72: halfway (in log) from 36 to 144, rate sqrt(3.6e9 x 3.6e10) = 1.13842e10 FLOP/s:
    #   2 x 100000 x 72 / 1.13842e10 = 1.26491e-3 s
    # grouped K = 18, below the smallest reduction: 3.6 GFLOP/s, 2 x 100000 x 18 / 3.6e9 = 1e-3 s
    # a depthwise 5x5 (25 taps, not measured) and a dense conv: no rate (NaN)
    assert seconds[:4] == pytest.approx([math.sqrt(2e-4 * 5e-4), 5e-4, 2 * 100000 * 72 / math.sqrt(3.6e9 * 3.6e10), 1e-3])
    assert np.isnan(seconds[4:]).all()


def test_no_table_or_a_gpu_record_gives_no_rate():
    shape = _shape([True], [False], [1], [9], [100000])
    assert np.isnan(conv_rate_s(shape, None)).all()
    assert np.isnan(conv_rate_s(shape, CalibrationRecord(device="cpu"))).all()
    assert np.isnan(conv_rate_s(shape, CalibrationRecord(device="cuda", conv_rates=RATES))).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1_000, 10_000_000), st.floats(1e-6, 1e-1)), min_size=1, max_size=6,
                unique_by=lambda p: p[0]),
       st.lists(st.floats(1.0, 1e8), min_size=2, max_size=8))
def test_series_time_never_falls_as_a_convolution_grows(points, sizes):
    sizes = np.sort(np.array(sizes))
    seconds = series_seconds(points, sizes)
    assert (np.diff(seconds) >= -1e-12 * seconds[1:]).all() and (seconds > 0).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1e3, 1e7), min_size=2, max_size=6), st.floats(10.0, 300.0))
def test_grouped_time_never_falls_as_the_plane_grows(sizes, reduction):
    sizes = np.sort(np.array(sizes))
    n = len(sizes)
    shape = _shape([False] * n, [True] * n, [1] * n, [reduction] * n, sizes)
    seconds = conv_rate_s(shape, _record())
    assert (np.diff(seconds) >= -1e-12 * seconds[1:]).all()


def _spec_with(rates):
    from roofline.hardware import load_hardware

    local = load_hardware(LOCAL_CPU)
    return local, dataclasses.replace(local, measured=dataclasses.replace(local.measured, conv_rates=rates))


def test_predictions_take_the_measured_depthwise_time():
    from roofline.analysis import analyze

    local, spec = _spec_with(RATES)
    x, w = torch.randn(1, 16, 50, 50), torch.randn(16, 1, 3, 3)
    conv = lambda a, b: torch.nn.functional.conv2d(a, b, None, 1, 1, 1, 16)
    # 16 x 50 x 50 = 40000 outputs, below the table's 100000: that point's time, 2e-4 s,
    # the spec's per-op overhead (its dispatch) taken out of the kernel time
    ops = analyze(conv, (x, w), hw=spec).ops
    row = ops[ops["category"] == "Conv"].iloc[0]
    assert row["kernel_s"] == pytest.approx(2e-4 - spec.overhead_s)
    assert row["predicted_s"] == pytest.approx(2e-4)
    # the same spec without the table: 2 x 40000 x 9 FLOP at the vector roof
    plain = analyze(conv, (x, w), hw=local).ops
    plain_row = plain[plain["category"] == "Conv"].iloc[0]
    vector_roof = local.efficiency.vector * local.vector_flops["fp32"]
    assert plain_row["compute_s"] == pytest.approx(2 * 40000 * 9 / vector_roof)


def test_a_dense_convolution_keeps_the_gemm_prediction():
    from roofline.analysis import analyze

    local, spec = _spec_with(RATES)
    x, w = torch.randn(1, 64, 28, 28), torch.randn(128, 64, 1, 1)
    conv = lambda a, b: torch.nn.functional.conv2d(a, b)
    with_table = analyze(conv, (x, w), hw=spec).ops
    without = analyze(conv, (x, w), hw=local).ops
    assert with_table["predicted_s"].sum() == pytest.approx(without["predicted_s"].sum())


def test_a_symbolic_sweep_predicts_what_a_direct_analysis_does():
    from roofline.analysis import analyze
    from roofline.capture import persistent_bytes
    from roofline.predict import Tf32Policy
    from roofline.tools.symbolic import SizeDim, closed_forms

    _, spec = _spec_with(RATES)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1, groups=16),  # depthwise
                                torch.nn.Conv2d(16, 32, 3, padding=1, groups=4)).eval()  # grouped, K = 4 x 9
    with torch.no_grad():
        forms = closed_forms(model, (torch.randn(3, 16, 20, 20),), [SizeDim(0, 0, "batch")])
    totals = forms.evaluate({"batch": np.array([1.0, 5.0])}, spec, tf32=Tf32Policy.from_torch(),
                            resident_bytes=float(persistent_bytes(model)))
    for i, batch in enumerate((1, 5)):
        direct = analyze(model, (torch.randn(batch, 16, 20, 20),), hw=spec)
        assert totals.predicted_s[i] == pytest.approx(direct.predicted_s, rel=1e-9)
