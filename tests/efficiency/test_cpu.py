"""roofline.efficiency.cpu: the calibrated CPU curve (dispatch + work ramped by the
threads an op's size can use). Expected values are worked out by hand in the comments."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roofline.efficiency.cpu import (
    GRAIN_ELEMENTS,
    curve_terms,
    curve_time_s,
    op_elements,
    thread_slowdown,
    threads_used,
)
from roofline.hardware import CalibrationRecord, OpCurve, SuiteOp


def test_grain_is_atens():
    # at::internal::GRAIN_SIZE in ATen's Parallel.h
    assert GRAIN_ELEMENTS == 32768


@pytest.mark.parametrize("elements, threads, expected", [
    (4096, 2, 1),            # 4096 / 32768 = 0.125 -> at least 1
    (32768, 2, 1),           # exactly one grain
    (40000, 2, 1.220703125),  # 40000 / 32768 (the envelope of ATen's 2-way split)
    (65536, 2, 2),           # two grains: both threads
    (1_000_000, 2, 2),       # 30.5 grains, capped at the 2 threads
    (100_000, 8, 3.0517578125),  # 100000 / 32768
    (0, 4, 1),               # at least one thread
])
def test_threads_used_by_hand(elements, threads, expected):
    assert threads_used(np.array([elements]), threads)[0] == pytest.approx(expected)


def test_curve_time_by_hand():
    # dispatch 4 us, work 10 us on all threads, efficiency 0.5:
    # 1M elements (2 threads): 4 + 10 / 0.5 = 24 us
    # 16384 elements (1 thread of 2): 4 + 10 * 2 / 0.5 = 44 us
    times = curve_time_s(np.array([10e-6, 10e-6]), np.array([1_000_000, 16384]), dispatch_s=4e-6, efficiency=0.5,
                         threads=2)
    assert times == pytest.approx([24e-6, 44e-6])


def test_a_ramped_copy_by_hand():
    # An fp32 copy of n elements reads and writes 8n bytes at 100 GB/s (roofline), with
    # dispatch 2 us and efficiency 1 on 2 threads.
    # n = 1M: work = 8e6 / 1e11 = 80 us -> 82 us, attained 8e6 / 82e-6 = 97.6 GB/s
    # n = 8192 (one thread): work = 65536 / 1e11 = 0.655 us, x2 = 1.311 us -> 3.311 us,
    #   attained 65536 / 3.311e-6 = 19.8 GB/s: the bandwidth ramps up with size
    n = np.array([1_000_000, 8192])
    seconds = curve_time_s(8.0 * n / 1e11, n, dispatch_s=2e-6, efficiency=1.0, threads=2)
    assert seconds == pytest.approx([82e-6, 3.31072e-6])
    assert (8.0 * n / seconds) / 1e9 == pytest.approx([97.56, 19.79], rel=1e-3)


@given(st.floats(1e-7, 1e-3), st.floats(1e-3, 1.0), st.integers(1, 16),
       st.lists(st.integers(1, 10**8), min_size=2, max_size=20))
def test_time_is_monotone_in_size_and_never_beats_the_roofline(dispatch, efficiency, threads, sizes):
    sizes = np.sort(np.array(sizes, dtype=float))
    work = sizes * 4e-12  # roofline time proportional to the size (4 ps per element)
    seconds = curve_time_s(work, sizes, dispatch_s=dispatch, efficiency=efficiency, threads=threads)
    assert np.all(np.diff(seconds) >= -1e-18)
    # efficiency <= 1: never faster than dispatch + the roofline's own work time
    assert np.all(seconds >= dispatch + work - 1e-18)


def test_op_elements_by_hand():
    ops = pd.DataFrame({
        "dtype": ["fp32", "bf16", "fp32"],
        # add of 1000 fp32: reads 8000 B, writes 4000 B -> 1000 elements
        # relu of 1000 bf16: reads 2000 B, writes 2000 B -> 1000 elements
        # sum of 1000 fp32 to one: reads 4000 B, writes 4 B -> max(4, 2000) / 4 = 500
        "bytes_read": [8000.0, 2000.0, 4000.0],
        "bytes_written": [4000.0, 2000.0, 4.0],
    })
    assert op_elements(ops) == pytest.approx([1000, 1000, 500])


def _record(**kw):
    return CalibrationRecord(device="cpu", threads=2, op_suite_ops=(SuiteOp("add", ("aten.add", "aten.sub")),),
                             op_curves=(OpCurve("add", 3e-6, 0.8, 0.05),), **kw)


def _slowdown(ops, threads):
    return thread_slowdown(ops["bytes_read"].to_numpy(), ops["bytes_written"].to_numpy(), 4.0, threads)


def test_curve_terms_apply_the_family_ramped_by_threads():
    ops = pd.DataFrame({"op": ["aten.add", "aten.sub", "aten.mul"], "dtype": ["fp32"] * 3,
                        "bytes_read": [8e6, 8e3, 8e6], "bytes_written": [4e6, 4e3, 4e6]})
    terms = curve_terms(ops, _record())
    assert terms.has.tolist() == [True, True, False]
    # 1M elements: both threads, 0.8; 1000 elements: one thread of 2, 0.8 / 2 = 0.4
    ramped = terms.base_efficiency / _slowdown(ops, terms.threads)
    assert ramped[:2] == pytest.approx([0.8, 0.4]) and np.isnan(ramped[2])
    assert terms.dispatch_s.tolist() == [3e-6, 3e-6, 0.0]


def test_no_curves_without_a_record_or_on_a_gpu_record():
    ops = pd.DataFrame({"op": ["aten.add"], "dtype": ["fp32"], "bytes_read": [8e3], "bytes_written": [4e3]})
    assert not curve_terms(ops, None).has.any()
    assert not curve_terms(ops, CalibrationRecord(threads=2)).has.any()
    # a GPU kernel's time does not depend on torch's CPU threads: no one-thread slowdown
    gpu = curve_terms(ops, _record().__class__(**{**_record().__dict__, "device": "cuda"}))
    assert (gpu.base_efficiency / _slowdown(ops, gpu.threads))[0] == pytest.approx(0.8)


def test_predictions_on_a_calibrated_spec_follow_the_curve():
    import dataclasses
    from pathlib import Path

    import torch

    from roofline.analysis import analyze
    from roofline.hardware import Efficiency, MemoryLevel, load_hardware

    local = load_hardware(Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml")
    record = dataclasses.replace(_record(), memory_level="working_set")
    spec = dataclasses.replace(local, memory=(MemoryLevel("l2", 100e9, 1e6), MemoryLevel("dram", 10e9, 1e10)),
                               vector_flops={"fp32": 1e10}, efficiency=Efficiency(0.5, 0.5, 0.5), measured=record)
    big, small = (torch.ones(2**20), torch.ones(2**20)), (torch.ones(4096), torch.ones(4096))
    # add of two 2^20 fp32 tensors: 12 MiB = 12582912 B > 1 MB of l2 -> dram at 10 GB/s: 1258.29 us of
    # work (FLOPs 2^20 / 1e10 = 104.9 us, less), both threads, / 0.8 = 1572.86 us, + 3 us
    ops = analyze(torch.add, big, hw=spec).ops
    assert ops["op"].tolist() == ["aten.add"]
    assert ops["predicted_s"].iloc[0] == pytest.approx(3e-6 + 12582912 / 10e9 / 0.8)
    assert ops["overhead_s"].iloc[0] == pytest.approx(3e-6)
    # add of 4096 fp32: 49152 B in l2 at 100 GB/s: 0.49152 us of work, on one thread of
    # 2 (x2), / 0.8 -> 1.2288 us, + 3 us dispatch = 4.2288 us
    ops = analyze(torch.add, small, hw=spec).ops
    assert ops["predicted_s"].iloc[0] == pytest.approx(4.2288e-6)


# ------------------------------------------------------------------ few-row GEMMs

def _rows_record(*pairs, depth=4096):
    from roofline.hardware import RowsRate

    return CalibrationRecord(device="cpu", threads=1, gemm_rows=tuple(RowsRate(r, depth, f) for r, f in pairs))


def test_few_row_gemm_time_by_hand():
    from roofline.efficiency.cpu import few_row_gemm_s

    record = _rows_record((1, 8e9), (4, 8e9), (16, 32e9))
    flops = np.array([2 * 1 * 4096 * 4096, 2 * 2 * 4096 * 4096, 2 * 8 * 4096 * 4096, 2 * 64 * 4096 * 4096])
    rows = np.array([1, 2, 8, 64])
    weight = np.full(4, 4096 * 4096 * 4.0)
    seconds = few_row_gemm_s(rows, np.full(4, 4096), flops, weight, np.full(4, 4.0), record, weights_cold=True)
    # 1 row: 33.55 MFLOP at 8 GFLOP/s = 4.194 ms; 2 rows: log2(2) = 1 lies between log2(1) = 0
    # and log2(4) = 2, both 8 GFLOP/s: 67.11 MFLOP / 8e9 = 8.389 ms; 8 rows: log2 8 = 3, halfway
    # from 2 (8 GFLOP/s) to 4 (32): 20 GFLOP/s, 268.4 MFLOP / 20e9 = 13.42 ms; 64 rows: past
    # the table (16): no floor
    assert seconds == pytest.approx([33554432 / 8e9, 67108864 / 8e9, 268435456 / 20e9, 0.0])


def test_few_row_gemm_applies_only_to_cold_fp32_weights():
    from roofline.efficiency.cpu import few_row_gemm_s

    record = _rows_record((1, 8e9), (4, 8e9))
    flops, rows = np.array([1e6, 1e6, 1e6]), np.array([2, 2, np.nan])
    weight, items = np.array([1e6, 0.0, 1e6]), np.array([4.0, 4.0, 4.0])
    # a weight, no weight (activation x activation), not a GEMM (NaN rows)
    depth = np.full(3, 4096)
    assert few_row_gemm_s(rows, depth, flops, weight, items, record, True).tolist() == [1e6 / 8e9, 0.0, 0.0]
    assert few_row_gemm_s(rows, depth, flops, weight, items, record, False).tolist() == [0.0] * 3  # cached weights
    bf16 = np.array([2.0, 2.0, 2.0])
    assert few_row_gemm_s(rows, depth, flops, weight, bf16, record, True).tolist() == [0.0] * 3
    assert few_row_gemm_s(rows, depth, flops, weight, items, CalibrationRecord(), True).tolist() == [0.0] * 3


def test_past_64_rows_the_table_applies_only_to_weights_larger_than_the_last_cache():
    from roofline.efficiency.cpu import few_row_gemm_s

    # rows 64 at 30, 128 at 40, 512 at 50 GFLOP/s (one depth); a 32 MiB last cache
    record = _rows_record((64, 30e9), (128, 40e9), (512, 50e9), depth=512)
    last_cache = 32 * 2**20
    flops = np.full(5, 1e9)
    rows = np.array([128, 128, 256, 32, 1024])
    weight = np.array([64, 8, 64, 8, 64]) * 2.0**20
    seconds = few_row_gemm_s(rows, np.full(5, 512), flops, weight, np.full(5, 4.0), record, True, last_cache)
    # 128 rows on 64 MiB: 40 GFLOP/s; on 8 MiB (cached between calls): not this table's;
    # 256 rows: log2 256 = 8 lies a quarter of the way from 7 (40) to 9 (50): 45 GFLOP/s;
    # 32 rows: few rows, any cold weight, below the table: its first rate, 30; 1024 rows on
    # 64 MiB: past the table, its last rate (the packed GEMM's plateau), 50
    assert seconds.tolist() == pytest.approx([1e9 / 40e9, 0.0, 1e9 / 45e9, 1e9 / 30e9, 1e9 / 50e9])
    # without a cache size (a spec with DRAM only) no weight is known to outgrow it
    assert few_row_gemm_s(rows[:1], np.full(1, 512), flops[:1], weight[:1], np.full(1, 4.0), record,
                          True).tolist() == [0.0]


@given(st.floats(1, 16), st.floats(1e3, 1e12))
def test_few_row_gemm_rate_stays_within_the_measured_rates(rows, flops):
    from roofline.efficiency.cpu import few_row_gemm_s

    # the time is not monotone in the rows (a CPU switches kernels: 8 rows can run faster
    # than 4), but the rate it implies never leaves the range of the rates measured
    record = _rows_record((1, 8e9), (4, 7e9), (16, 30e9))
    seconds = few_row_gemm_s(np.array([rows]), np.array([1024]), np.array([flops]), np.ones(1), np.full(1, 4.0), record,
                             True)[0]
    assert 7e9 * (1 - 1e-9) <= flops / seconds <= 30e9 * (1 + 1e-9)


def test_few_row_gemm_rate_between_two_depths_by_hand():
    from roofline.efficiency.cpu import few_row_gemm_s
    from roofline.hardware import RowsRate

    record = CalibrationRecord(device="cpu", threads=1, gemm_rows=(
        RowsRate(1, 512, 4e9), RowsRate(4, 512, 6e9), RowsRate(1, 4096, 8e9), RowsRate(4, 4096, 10e9)))
    rows = np.array([1, 2, 1, 1, 1])
    depth = np.array([512, 512, 4096, 1448, 65536])
    flops = np.full(5, 1e9)
    seconds = few_row_gemm_s(rows, depth, flops, np.ones(5), np.full(5, 4.0), record, True)
    # 1 row at 512: 4 GFLOP/s; 2 rows at 512: halfway in log2 rows from 4 to 6 = 5 GFLOP/s;
    # 1 row at 4096: 8; at 1448 (log2 = 10.5, halfway from 9 to 12 is 10.5: 1/2 of the way)
    # 4 + 0.5 x 4 = 6 GFLOP/s; past the deepest measured (65536): clamped to 4096's 8
    assert seconds == pytest.approx([1e9 / 4e9, 1e9 / 5e9, 1e9 / 8e9, 1e9 / 6e9, 1e9 / 8e9], rel=1e-3)


# ------------------------------------------------------------------ kernel variants

def test_a_kernel_variant_takes_its_own_family_where_the_record_has_one():
    # GELU's tanh form (loop_kernel "tanh") has a family of its own, "gelu_tanh", standing
    # for "aten.gelu@tanh"; the erf form keeps "gelu"'s; a record without the variant's
    # family gives the tanh form "gelu"'s as before
    ops = pd.DataFrame({"op": ["aten.gelu", "aten.gelu"], "loop_kernel": ["tanh", ""], "dtype": ["fp32"] * 2,
                        "bytes_read": [4e6, 4e6], "bytes_written": [4e6, 4e6]})
    both = CalibrationRecord(device="cpu", threads=1,
                             op_suite_ops=(SuiteOp("gelu", ("aten.gelu",)), SuiteOp("gelu_tanh", ("aten.gelu@tanh",))),
                             op_curves=(OpCurve("gelu", 2e-6, 0.5, 0.0), OpCurve("gelu_tanh", 5e-6, 0.125, 0.0)))
    terms = curve_terms(ops, both)
    assert terms.dispatch_s.tolist() == [5e-6, 2e-6] and terms.base_efficiency.tolist() == [0.125, 0.5]
    erf_only = CalibrationRecord(device="cpu", threads=1, op_suite_ops=(SuiteOp("gelu", ("aten.gelu",)),),
                                 op_curves=(OpCurve("gelu", 2e-6, 0.5, 0.0),))
    terms = curve_terms(ops, erf_only)
    assert terms.dispatch_s.tolist() == [2e-6, 2e-6] and terms.base_efficiency.tolist() == [0.5, 0.5]
