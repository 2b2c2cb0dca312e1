"""The calibration record's curve fields (op_curves, gemm_rows, stability, quiet, module_call_s): typed at load,
round-tripped through write -> load, bad values refused in one line naming the field."""

import dataclasses

from roofline.hardware import (
    ColsRate,
    FigureSpread,
    LoopCost,
    OpCurve,
    QuietCheck,
    RowsRate,
    SuiteOp,
    load_hardware,
    write_hardware,
)

from .conftest import refused_in_one_line


def test_curve_fields_round_trip(local, tmp_path):
    record = dataclasses.replace(
        local.measured,
        op_suite_ops=(SuiteOp("add", ("aten.add",)), SuiteOp("exp", ("aten.exp",))),
        op_suite=(),
        op_curves=(OpCurve("add", 4.1e-06, 0.93, 0.08), OpCurve("exp", 3.5e-06, 0.11, 0.2)),
        stability=(FigureSpread("peak fp32 matrix", 0.02), FigureSpread("dram bandwidth", 0.04)),
        quiet=QuietCheck(0.00044, 0.00046),
        gemm_rows=(RowsRate(1, 4096, 7.0e9), RowsRate(4, 4096, 7.6e9)),
    )
    path = write_hardware(dataclasses.replace(local, measured=record), tmp_path / "c.yaml")
    text = path.read_text()
    assert "- [add, 4.1e-06, 0.93, 0.08]" in text and "peak fp32 matrix: 0.02" in text
    assert "quiet: {before_s: 0.00044, after_s: 0.00046}" in text
    again = load_hardware(path).measured
    assert again.op_curves == record.op_curves and again.stability == record.stability
    assert again.quiet == record.quiet and again.gemm_rows == record.gemm_rows
    assert "gemm_rows:\n  - [1, 4096, 7000000000.0]" in text


def test_loop_and_column_fields_round_trip(local, tmp_path):
    record = dataclasses.replace(local.measured, loop_costs=(LoopCost("add", 7e-10, 3.1e-09),),
                                 gemm_cols=(ColsRate(8, 64, 9e9), ColsRate(16, 64, 1.5e10)))
    path = write_hardware(dataclasses.replace(local, measured=record), tmp_path / "l.yaml")
    text = path.read_text()
    assert "loop_costs:\n  - [add, 7.0e-10, 3.1e-09]" in text and "gemm_cols:\n  - [8, 64, 9000000000.0]" in text
    again = load_hardware(path).measured
    assert again.loop_costs == record.loop_costs and again.gemm_cols == record.gemm_cols


def test_module_call_round_trips(local, tmp_path):
    record = dataclasses.replace(local.measured, module_call_s=2.2e-06)
    path = write_hardware(dataclasses.replace(local, measured=record), tmp_path / "m.yaml")
    assert "module_call_s: 2.2e-06" in path.read_text()
    assert load_hardware(path).measured.module_call_s == 2.2e-06


BAD = [
    ({"op_curves": [["add", 3e-6, 1.5, 0.1]]}, "measured.op_curves.add", "efficiency: expected a fraction in (0, 1]"),
    ({"op_curves": [["add", -3e-6, 0.5, 0.1]]}, "measured.op_curves.add", "dispatch_s: expected seconds of at least 0"),
    ({"op_curves": [["add", 3e-6, 0.5, -1]]}, "measured.op_curves.add", "spread: expected a number of at least 0"),
    ({"op_curves": [["softplus", 3e-6, 0.5, 0.1]]}, "measured.op_curves.softplus", "no aten ops for suite op"),
    ({"op_curves": [["add", "fast", 0.5, 0.1]]}, "measured.op_curves.0.1", "expected a number"),
    ({"op_curves": [["add", 3e-6, 0.5]]}, "measured.op_curves.0.3", "missing required field"),
    ({"gemm_rows": [[4, 512, 7e9], [1, 512, 8e9]]}, "measured.gemm_rows", "by depth then rows"),
    ({"gemm_rows": [[1, 512, 0.0]]}, "measured.gemm_rows: 1 rows at depth 512", "FLOP/s above 0"),
    ({"gemm_rows": [[1.5, 512, 8e9]]}, "measured.gemm_rows.0.0", "integer"),
    ({"loop_costs": [["add", -1e-9, 3e-9]]}, "measured.loop_costs.add", "expected seconds of at least 0"),
    ({"loop_costs": [["add", 1e-9]]}, "measured.loop_costs.0.2", "missing required field"),
    ({"gemm_cols": [[8, 64, 0.0]]}, "measured.gemm_cols: 8 columns at depth 64", "FLOP/s above 0"),
    ({"module_call_s": -1e-6}, "measured.module_call_s", "expected seconds from 0 to"),
    ({"module_call_s": 0.5}, "measured.module_call_s", "expected seconds from 0 to"),
    ({"module_call_s": "2 us"}, "measured.module_call_s", "expected a number"),
    ({"stability": {"dram bandwidth": -0.1}}, "measured.stability.dram bandwidth", "at least 0"),
    ({"quiet": {"before_s": 0.0, "after_s": 1e-3}}, "measured.quiet.before_s", "above 0"),
    ({"quiet": {"before_s": 1e-3}}, "measured.quiet.after_s", "missing required field"),
]


test_bad_curve_fields_are_refused_in_one_line = refused_in_one_line(BAD)
