"""roofline.calibrate.suite and .fit: the op suite's aten-op mapping (which the calibration
writes into the spec's record, so predictions need not know the suite) and the small fits."""

import pandas as pd
import pytest
import torch

import roofline
from roofline.calibrate import Calibration
from roofline.calibrate.fit import caches_from_plateaus, matrix_efficiency, suite_efficiency
from roofline.calibrate.suite import SUITE_OPS, op_suite, suite_ops
from roofline.count.loops import loop_key, without_kernel
from roofline.hardware import CalibrationRecord, SuiteOp
from roofline.predict import COMPUTE_BOUND, MEMORY_BOUND, NO_WORK


def test_every_suite_op_has_its_aten_ops():
    assert set(op_suite("cpu", 4096)) == set(SUITE_OPS)


def test_suite_ops_resolve_each_name_once_in_order():
    assert suite_ops(["exp", "add", "exp"]) == (
        SuiteOp("exp", ("aten.exp", "aten.exp_")),
        SuiteOp("add", ("aten.add", "aten.add_", "aten.sub", "aten.sub_")),
    )
    with pytest.raises(KeyError):
        suite_ops(["softplus"])  # not a suite op: no mapping to guess


def test_the_aten_ops_of_a_suite_op_name_what_it_runs():
    # The op each suite function runs is one of the aten ops it stands for, so a model
    # calling it is predicted with the fraction the suite measured for it.
    for name, (fn, args) in op_suite("cpu", 4096).items():
        if not SUITE_OPS[name]:
            continue  # transpose: a copy of a strided view, not told apart by name
        ops = roofline.analyze(fn, args, hw="h100-sxm", name=name).ops
        working = ops[ops["bound"] != NO_WORK]
        # a kernel variant's family stands for "op@kernel" (GELU's tanh form: aten.gelu@tanh)
        ran = {loop_key(op, kernel) for op, kernel in zip(working["op"], working["loop_kernel"].fillna(""))}
        assert ran & set(SUITE_OPS[name]), (name, ran)
    for aten_ops in SUITE_OPS.values():
        for op in aten_ops:
            assert hasattr(torch.ops.aten, without_kernel(op).removeprefix("aten.")), op


def test_a_calibration_without_its_suite_records_no_suite():
    # to_spec() runs before the suite does (to predict the suite on the ceilings)
    frame = pd.DataFrame
    result = Calibration(
        device="cpu", device_name="test", vendor="x", threads=1, mode="quick", clock="wall",
        started="2026-01-01T00:00:00+00:00", duration_s=float("nan"), overhead_s=2e-6,
        overhead=frame({"op": ["aten.add"], "seconds": [2e-6]}), curve=frame(columns=["working_set_bytes", "kernel", "bandwidth"]),
        plateaus=[], levels=frame({"level": ["l2", "dram"], "capacity": [1e6, 1e10], "bandwidth": [1e11, 1e10],
                                   "points": [1, 1]}),
        gemm=frame(columns=["dtype", "shape", "flops_per_s"]), matrix_flops={"fp32": 1e11},
        vector=frame(columns=["dtype", "kernel", "elements", "flops_per_s"]), vector_flops={"fp32": 1e10},
        efficiency=frame(columns=["shape", "fraction"]), matrix_efficiency=0.8, host_link_bw=1e10,
    )
    record = result.record()
    assert isinstance(record, CalibrationRecord)
    assert record.op_suite == () and record.op_suite_ops == () and record.duration_s is None
    suite = frame({"op": ["exp", "exp"], "elements": [16, 32], "bound": [MEMORY_BOUND, MEMORY_BOUND],
                   "fraction": [0.25, float("nan")]})
    result.suite = suite
    record = result.record()
    assert [row.fraction for row in record.op_suite] == [0.25, None]  # NaN: could not tell
    assert record.op_suite_ops == (SuiteOp("exp", SUITE_OPS["exp"]),)


def test_fits_of_the_suites_by_hand():
    suite = pd.DataFrame({"bound": [MEMORY_BOUND, MEMORY_BOUND, COMPUTE_BOUND, MEMORY_BOUND],
                          "fraction": [0.5, 0.7, 0.3, float("nan")]})
    assert suite_efficiency(suite, MEMORY_BOUND, 1.0) == pytest.approx(0.6)
    assert suite_efficiency(suite, COMPUTE_BOUND, 1.0) == pytest.approx(0.3)
    assert suite_efficiency(suite.iloc[:0], COMPUTE_BOUND, 0.9) == 0.9  # nothing to tell: the fallback
    assert matrix_efficiency(pd.DataFrame({"fraction": [0.9, 1.3, 0.02]})) == pytest.approx(0.9)
    assert matrix_efficiency(pd.DataFrame({"fraction": [0.01]})) == 0.05  # clipped
    assert matrix_efficiency(pd.DataFrame({"fraction": []})) == 1.0


def test_caches_from_plateaus_by_hand():
    # capacity: the geometric mean of a plateau's last size and the next one's first
    plateaus = [(1e3, 1e5, 100.0), (4e5, 1e7, 50.0), (4e7, 1e9, 10.0)]
    assert caches_from_plateaus(plateaus) == [("l1", pytest.approx(2e5)), ("l2", pytest.approx(2e7))]
    assert caches_from_plateaus(plateaus[:1]) == []


def test_the_embedding_bag_case_by_hand():
    # 4096 elements gathered: 4096 / 64 = 64 rows of 64 fp32 in bags of 4 -> 16 bags, from
    # a table of 2**18 rows; its weight a parameter, as a model's, so the op a forward runs
    # (aten._embedding_bag) is the one timed
    fn, (table, picks, bags) = op_suite("cpu", 4096)["embedding_bag"]
    assert tuple(table.shape) == (2**18, 64) and table.requires_grad
    assert picks.numel() == 64 and bags.numel() == 16
    with torch.no_grad():
        ops = roofline.analyze(fn, (table, picks, bags), hw="h100-sxm", name="embedding_bag").ops
    assert list(ops["op"]) == ["aten._embedding_bag"]
    assert tuple(fn(table, picks, bags).shape) == (16, 64)
