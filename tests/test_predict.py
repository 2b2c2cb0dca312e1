"""roofline/predict.py: the time model on a hand-made spec, worked out by hand."""

import math

import pandas as pd
import pytest

from roofline.hardware import (
    WORKING_SET,
    CalibrationRecord,
    Efficiency,
    HardwareSpec,
    MemoryLevel,
    SuiteOp,
    SuiteRow,
)
from roofline.predict import MEMORY_BOUND, Tf32Policy, predict_frame

SPEC = HardwareSpec(
    name="toy",
    display_name="Toy GPU",
    kind="gpu",
    vendor="none",
    source="made up for the test",
    matrix_flops={"bf16": 100e12, "tf32": 50e12},
    vector_flops={"fp32": 10e12, "bf16": 20e12},
    memory=(MemoryLevel("l2", 5e12, 50e6), MemoryLevel("dram", 1e12, 80e9)),
    host_link_bw=50e9,
    peer_link_bw=None,
    overhead_s=5e-6,
    efficiency=Efficiency(matrix=0.5, vector=0.8, memory=0.5),
)


def frame(**columns):
    defaults = dict(unit="vector", dtype="fp32", category="Element-wise", traffic="memory", supported=True)
    n = len(columns["flops"])
    data = {k: columns.get(k, [v] * n) for k, v in defaults.items()}
    data.update(columns)
    data["bytes"] = columns["bytes"]
    return pd.DataFrame(data)


def test_compute_bound_gemm_uses_the_matrix_peak_and_its_efficiency():
    ops = frame(flops=[1e12], bytes=[1e9], unit=["matrix"], dtype=["bf16"], category=["GEMM"])
    row = predict_frame(ops, SPEC).iloc[0]
    # compute: 1e12 / (0.5 * 100e12) = 20 ms; memory: 1e9 / (0.5 * 1e12) = 2 ms.
    assert row.compute_s == pytest.approx(0.02)
    assert row.memory_s == pytest.approx(0.002)
    assert row.predicted_s == pytest.approx(0.02 + 5e-6)
    assert row.bound == "compute"


def test_memory_bound_elementwise_uses_dram_bandwidth():
    ops = frame(flops=[1e6], bytes=[8e6])
    row = predict_frame(ops, SPEC).iloc[0]
    assert row.memory_s == pytest.approx(8e6 / 0.5e12)  # 16 us
    assert row.compute_s == pytest.approx(1e6 / (0.8 * 10e12))
    assert row.bound == "memory"


def test_tiny_op_is_overhead_bound():
    row = predict_frame(frame(flops=[10.0], bytes=[80.0]), SPEC).iloc[0]
    assert row.bound == "overhead" and row.predicted_s == pytest.approx(5e-6 + 80 / 0.5e12)


def test_fp32_gemm_falls_back_to_vector_and_fp32_conv_uses_tf32():
    ops = frame(
        flops=[1e12, 1e12],
        bytes=[1.0, 1.0],
        unit=["matrix", "matrix"],
        dtype=["fp32", "fp32"],
        category=["GEMM", "Conv"],
    )
    rows = predict_frame(ops, SPEC, tf32=Tf32Policy(conv=True, matmul=False))
    assert rows.iloc[0].peak_flops == 10e12  # no fp32 matrix peak: vector fp32
    assert rows.iloc[0].compute_s == pytest.approx(1e12 / (0.8 * 10e12))
    assert rows.iloc[1].peak_flops == 50e12  # cuDNN conv runs fp32 as TF32
    assert rows.iloc[1].compute_s == pytest.approx(1e12 / (0.5 * 50e12))


def test_host_transfer_uses_the_host_link_at_full_rate():
    row = predict_frame(frame(flops=[0.0], bytes=[1e9], traffic=["host_link"]), SPEC).iloc[0]
    assert row.memory_s == pytest.approx(1e9 / 50e9)


def test_views_take_no_time_and_unsupported_ops_only_overhead():
    ops = frame(flops=[0.0, math.nan], bytes=[0.0, math.nan], unit=["none", "vector"], supported=[True, False])
    rows = predict_frame(ops, SPEC)
    assert rows.iloc[0].predicted_s == 0 and rows.iloc[0].bound == "none"
    assert rows.iloc[1].predicted_s == pytest.approx(5e-6) and rows.iloc[1].bound == "overhead"


def test_other_memory_level():
    row = predict_frame(frame(flops=[0.0], bytes=[1e9]), SPEC, level="l2").iloc[0]
    assert row.memory_s == pytest.approx(1e9 / (0.5 * 5e12))


def test_working_set_reads_weights_from_the_level_that_holds_all_of_them():
    import dataclasses

    spec = dataclasses.replace(SPEC, measured=CalibrationRecord(memory_level=WORKING_SET))
    # 1 MB of activations fits in the 50 MB L2; the 10 MB of weights it reads belong to a
    # model of 200 MB of weights, which only DRAM holds.
    ops = frame(flops=[0.0], bytes=[11e6], param_bytes=[10e6])
    row = predict_frame(ops, spec, resident_bytes=200e6).iloc[0]
    assert row.memory_s == pytest.approx(1e6 / (0.5 * 5e12) + 10e6 / (0.5 * 1e12))
    # A 20 MB model keeps its weights in L2 between forwards.
    row = predict_frame(ops, spec, resident_bytes=20e6).iloc[0]
    assert row.memory_s == pytest.approx(11e6 / (0.5 * 5e12))
    # Unknown resident bytes (0): the weights are read from DRAM.
    row = predict_frame(ops, spec).iloc[0]
    assert row.memory_s == pytest.approx(1e6 / (0.5 * 5e12) + 10e6 / (0.5 * 1e12))
    # Datasheet mode (no working set): everything from DRAM, weights or not.
    assert predict_frame(ops, SPEC, resident_bytes=20e6).iloc[0].memory_s == pytest.approx(11e6 / (0.5 * 1e12))


def test_calibrated_op_suite_gives_ops_their_own_efficiency():
    import dataclasses

    suite = (SuiteRow("exp", 65536, MEMORY_BOUND, 0.1), SuiteRow("exp", 262144, MEMORY_BOUND, 0.3),
             SuiteRow("exp", 1048576, MEMORY_BOUND, 0.2),
             SuiteRow("exp", 4096, MEMORY_BOUND, None))  # None: too little work to tell, left out
    record = CalibrationRecord(op_suite=suite, op_suite_ops=(SuiteOp("exp", ("aten.exp", "aten.exp_")),))
    spec = dataclasses.replace(SPEC, measured=record)
    ops = frame(flops=[1e6, 1e6], bytes=[8e6, 8e6], op=["aten.exp", "aten.abs"])
    rows = predict_frame(ops, spec)
    # exp reaches the median of its measured fractions (0.2) of the roofline; abs, not in
    # the suite, the spec's memory efficiency (0.5).
    assert rows.iloc[0].memory_s == pytest.approx(8e6 / (0.2 * 1e12))
    assert rows.iloc[0].compute_s == pytest.approx(1e6 / (0.2 * 10e12))
    assert rows.iloc[1].memory_s == pytest.approx(8e6 / (0.5 * 1e12))
    # A datasheet spec has no suite: one efficiency per unit.
    assert predict_frame(ops, SPEC).iloc[0].memory_s == pytest.approx(8e6 / (0.5 * 1e12))

