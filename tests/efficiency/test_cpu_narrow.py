"""roofline.efficiency.cpu.narrow_gemm_s: products of few output columns at the rate a
calibration measured for them. Expected values are worked out by hand in the comments."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from roofline.efficiency.cpu import narrow_gemm_s
from roofline.hardware import CalibrationRecord, ColsRate, RowsRate


def _record(**kw):
    return CalibrationRecord(device="cpu", threads=1, gemm_cols=(ColsRate(8, 64, 4e9), ColsRate(16, 64, 8e9)),
                             gemm_rows=(RowsRate(1, 4096, 7e9), RowsRate(64, 4096, 5e10)), **kw)


def test_narrow_gemm_by_hand():
    # 4096 x 64 onto 8 columns: 2 x 4096 x 8 x 64 = 4194304 FLOP at 4 GFLOP/s = 1.048576 ms;
    # 2^3.5 = 11.31 columns sit halfway (in log2) between 8 and 16: 6 GFLOP/s
    flops = np.array([4194304.0, 1e9])
    seconds = narrow_gemm_s(np.array([8.0, 2**3.5]), np.array([4096.0, 4096.0]), np.array([64.0, 64.0]), flops,
                            np.array([4.0, 4.0]), _record())
    assert seconds == pytest.approx([1.048576e-3, 1e9 / 6e9])


def test_narrow_gemm_applies_to_many_rows_few_fp32_columns_only():
    flops = np.full(4, 1e6)
    # 64 rows: the few-row table's (it goes to 64); 32 columns: past the table; bf16
    seconds = narrow_gemm_s(np.array([8.0, 8.0, 32.0, 8.0]), np.array([64.0, 65.0, 4096.0, 4096.0]),
                            np.full(4, 64.0), flops, np.array([4.0, 4.0, 4.0, 2.0]), _record())
    assert seconds.tolist() == [0.0, pytest.approx(1e6 / 4e9), 0.0, 0.0]
    assert narrow_gemm_s(np.array([8.0]), np.array([4096.0]), np.array([64.0]), flops[:1], np.array([4.0]),
                         CalibrationRecord()).tolist() == [0.0]
    # a rows table that also holds 128 and 512 rows (large weights: few_row_gemm_s) leaves
    # products of 65 to 512 rows and few columns to this table still
    longer = dataclasses.replace(_record(), gemm_rows=_record().gemm_rows + (RowsRate(512, 4096, 6e10),))
    assert narrow_gemm_s(np.array([8.0]), np.array([65.0]), np.array([64.0]), flops[:1], np.array([4.0]),
                         longer).tolist() == [pytest.approx(1e6 / 4e9)]


def test_predictions_take_the_narrow_rate():
    from roofline.analysis import analyze
    from roofline.hardware import load_hardware

    local = load_hardware(Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml")
    spec = dataclasses.replace(local, measured=dataclasses.replace(local.measured, **{
        f.name: getattr(_record(), f.name) for f in dataclasses.fields(CalibrationRecord) if f.name in ("gemm_cols",)}))
    x, w = torch.randn(4096, 64), torch.randn(8, 64)
    # F.linear without bias -> mm [4096, 64] x [64, 8]: 4194304 FLOP at 4 GFLOP/s
    ops = analyze(lambda a, b: torch.nn.functional.linear(a, b), (x, w), hw=spec).ops
    mm = ops[ops["op"] == "aten.mm"].iloc[0]
    assert mm["compute_s"] == pytest.approx(1.048576e-3)
    plain = analyze(lambda a, b: torch.nn.functional.linear(a, b), (x, w), hw=local).ops
    assert plain[plain["op"] == "aten.mm"].iloc[0]["compute_s"] < 1e-3
