"""roofline/predict.py: the time model on a hand-made spec, worked out by hand."""

import math
from pathlib import Path

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
    load_hardware,
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


# ------------------------------------------------------------------ the calibrated local-cpu spec

LOCAL_CPU = Path(__file__).resolve().parents[1] / "hw_specs" / "local-cpu.yaml"


def test_local_cpu_predictions_by_hand():
    """Every calibrated term of hw_specs/local-cpu.yaml, worked from the figures in the file:
    working-set levels, suite efficiencies (medians of the three sizes), the view
    overhead, the fresh-write cost and weights read from the level that holds them all."""
    hw = load_hardware(LOCAL_CPU)
    ops = frame(
        op=["aten.exp", "aten.view", "aten.add", "aten.mm"],
        unit=["vector", "none", "vector", "matrix"],
        category=["Element-wise", "Data Transform", "Element-wise", "GEMM"],
        flops=[1e6, 0.0, 0.0, 2e9],
        bytes=[8e6, 0.0, 96e6, 3e6],
        bytes_written=[4e6, 0.0, 32e6, 1e6],
        param_bytes=[0.0, 0.0, 0.0, 2e6],
    )
    rows = predict_frame(ops, hw, resident_bytes=100e6)  # 100 MB of weights: only DRAM holds them
    l3_bw, dram_bw, overhead_s = 188.5628939805837e9, 36513985790.179565, 2.088652980187449e-6
    # exp: 8 MB fit the 33.5 MB L3; exp reached 0.105, 0.1024 and 0.1042 of the roofline
    exp = rows.iloc[0]
    assert exp.memory_s == pytest.approx(8e6 / (0.1042 * l3_bw), rel=1e-12)
    assert exp.compute_s == pytest.approx(1e6 / (0.1042 * 35.450647966990786e9), rel=1e-12)
    assert exp.predicted_s == pytest.approx(exp.memory_s + overhead_s, rel=1e-12)
    # a view costs the measured view overhead, no work
    assert rows.iloc[1].predicted_s == 2.198e-06 and rows.iloc[1].bound == "none"
    # add: 96 MB from DRAM at add's median fraction 0.9522, plus page faults of its 32 MB
    # output (at least 31.64 MB fresh: 3.995 GB/s)
    assert rows.iloc[2].memory_s == pytest.approx(96e6 / (0.9522 * dram_bw) + 32e6 / 3995000000.0, rel=1e-12)
    # mm: not in the suite; fp32 matrix peak and efficiency; 1 MB of activations from L3,
    # 2 MB of weights from DRAM, both at the spec's memory efficiency
    mm = rows.iloc[3]
    assert mm.compute_s == pytest.approx(2e9 / (0.7748730160881794 * 205645507623.40018), rel=1e-12)
    memory_efficiency = 0.7741813670071203
    assert mm.memory_s == pytest.approx(1e6 / (memory_efficiency * l3_bw) + 2e6 / (memory_efficiency * dram_bw),
                                        rel=1e-12)
    assert mm.bound == "compute"


def test_a_few_row_linear_on_cold_weights_takes_the_rate_calibrate_measured():
    """A calibrated CPU's record says a 2-row linear layer on a cold fp32 weight runs at
    8 GFLOP/s (roofline.efficiency.cpu.few_row_gemm_s): a 2-row Linear(4096, 4096) of a
    model whose weights do not fit the caches takes its FLOPs at that rate."""
    import torch

    from roofline.analysis import analyze
    from roofline.hardware import CalibrationRecord, Efficiency, HardwareSpec, MemoryLevel, RowsRate

    def spec(rows):
        record = CalibrationRecord(device="cpu", threads=1, memory_level="working_set", gemm_rows=rows)
        return HardwareSpec(
            name="toy", display_name="toy", kind="cpu", vendor="x", source="test",
            matrix_flops={"fp32": 1e12}, vector_flops={"fp32": 1e12},
            memory=(MemoryLevel("l2", 100e9, 1e6), MemoryLevel("l3", 50e9, 32e6), MemoryLevel("dram", 10e9, 1e10)),
            host_link_bw=10e9, peer_link_bw=None, overhead_s=0.0, efficiency=Efficiency(1.0, 1.0, 1.0),
            measured=record)

    model = torch.nn.Linear(4096, 4096, bias=False, device="meta")
    x = torch.empty(2, 4096, device="meta")
    table = (RowsRate(1, 4096, 8e9), RowsRate(4, 4096, 8e9))
    with torch.no_grad():
        plain = analyze(model, (x,), hw=spec(()))
        rows = analyze(model, (x,), hw=spec(table))
    mm = rows.ops[rows.ops["op"] == "aten.mm"].iloc[0]
    # 2 x 2 x 4096 x 4096 = 67.11 MFLOP at 8 GFLOP/s = 8.389 ms; without the table the
    # 64 MiB weight streams from DRAM (the 64 MiB model outgrows the 32 MB l3) at 10 GB/s:
    # 6.711 ms, plus the activations
    assert mm["predicted_s"] == pytest.approx(2 * 2 * 4096**2 / 8e9)
    plain_mm = plain.ops[plain.ops["op"] == "aten.mm"].iloc[0]
    assert plain_mm["predicted_s"] == pytest.approx(4096**2 * 4 / 10e9, rel=0.01)
    # 512 rows are past a table of few rows: the ordinary model
    wide = torch.empty(512, 4096, device="meta")
    with torch.no_grad():
        a = analyze(model, (wide,), hw=spec(table)).ops["predicted_s"].sum()
        b = analyze(model, (wide,), hw=spec(())).ops["predicted_s"].sum()
    assert a == b
    # a table measured to 128 rows (a full calibration's): on this weight, larger than the
    # 32 MB l3, its last rate stands past it (a packed GEMM's plateau on such a weight):
    # 2 x 512 x 4096^2 at 20 GFLOP/s
    longer = table + (RowsRate(128, 4096, 20e9),)
    with torch.no_grad():
        a = analyze(model, (wide,), hw=spec(longer)).ops["predicted_s"].sum()
    assert a == pytest.approx(2 * 512 * 4096**2 / 20e9)
    # three 16 MiB weights (48 MiB: cold, read from DRAM), each of which the l3 would hold:
    # 512 rows take the ordinary model
    small = torch.nn.Sequential(*(torch.nn.Linear(2048, 2048, bias=False, device="meta") for _ in range(3)))
    rows_512 = torch.empty(512, 2048, device="meta")
    with torch.no_grad():
        a = analyze(small, (rows_512,), hw=spec(longer)).ops["predicted_s"].sum()
        b = analyze(small, (rows_512,), hw=spec(())).ops["predicted_s"].sum()
    assert a == b
