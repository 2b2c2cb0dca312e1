"""Checks of a calibration record's curve fields (op_curves, gemm_rows, conv_rates, sdpa_times, stability, quiet,
module_call_s):
values no calibration writes, each problem one line naming the field."""

from __future__ import annotations

import math
from dataclasses import dataclass

from roofline.hardware.spec import CalibrationRecord, ConvRate, SdpaTime
from roofline.units import show_value

__all__ = ["CONV_KINDS", "conv_rate_problems", "curve_problems", "sdpa_time_problems"]

#: The kinds of measured.conv_rates rows (roofline.calibrate.convs).
CONV_KINDS = ("depthwise", "grouped")

#: Shapes measured.sdpa_times needs: one per cost of the block model (roofline.efficiency.cpu_sdpa.MIN_PROBES).
MIN_SDPA_SHAPES = 5

#: Longer than any Python interpreter takes to enter a module call (about 1 us today).
MAX_MODULE_CALL_S = 1e-3


def curve_problems(record: CalibrationRecord) -> list[str]:
    """Problems of ``record``'s op_curves, stability and quiet fields: a curve with a
    negative or infinite dispatch, an efficiency outside (0, 1], a family without aten ops
    in op_suite_ops; a negative spread; non-positive reference times."""
    problems = []
    mapped = {suite_op.name for suite_op in record.op_suite_ops}
    for curve in record.op_curves:
        at = f"measured.op_curves.{curve.op}"
        if not (math.isfinite(curve.dispatch_s) and curve.dispatch_s >= 0):
            problems.append(f"{at}: dispatch_s: expected seconds of at least 0 such as 4e-06, got "
                            f"{show_value(curve.dispatch_s)}")
        if not (0 < curve.efficiency <= 1):  # NaN fails too
            problems.append(f"{at}: efficiency: expected a fraction in (0, 1] such as 0.9, got "
                            f"{show_value(curve.efficiency)}")
        if not (curve.spread >= 0):
            problems.append(f"{at}: spread: expected a number of at least 0, got {show_value(curve.spread)}")
        if curve.op not in mapped:
            problems.append(f"{at}: no aten ops for suite op {curve.op!r} in measured.op_suite_ops; expected a "
                            f"mapping such as {{{curve.op}: [aten.{curve.op}]}} (rerun `roofline calibrate`)")
    for r in record.gemm_cols:
        if not (r.cols >= 1 and r.depth >= 1 and r.flops_per_s > 0):  # NaN fails too
            problems.append(f"measured.gemm_cols: {r.cols} columns at depth {r.depth}: expected columns and depth of "
                            f"at least 1 and FLOP/s above 0 such as [8, 256, 9e9], got {show_value(r.flops_per_s)} FLOP/s")
    for cost in record.loop_costs:
        if not all(math.isfinite(v) and v >= 0 for v in (cost.element_s, cost.loop_s)):
            problems.append(f"measured.loop_costs.{cost.op}: expected seconds of at least 0 per element and per loop "
                            f"such as [{cost.op}, 7e-10, 3e-09], got {show_value(cost.element_s)}, {show_value(cost.loop_s)}")
    if record.module_call_s is not None and not (0 <= record.module_call_s <= MAX_MODULE_CALL_S):  # NaN fails too
        problems.append(f"measured.module_call_s: expected seconds from 0 to {MAX_MODULE_CALL_S:g} such as 1e-06, "
                        f"got {show_value(record.module_call_s)}")
    pairs = [(r.depth, r.rows) for r in record.gemm_rows]
    if any(rows < 1 or depth < 1 for depth, rows in pairs) or pairs != sorted(set(pairs)):
        problems.append("measured.gemm_rows: expected [rows, depth, FLOP/s] rows with rows and depth of at least 1, "
                        f"by depth then rows, each once, got (depth, rows) {pairs}")
    for r in record.gemm_rows:
        if not (math.isfinite(r.flops_per_s) and r.flops_per_s > 0):
            problems.append(f"measured.gemm_rows: {r.rows} rows at depth {r.depth}: expected FLOP/s above 0 such as "
                            f"7e9, got {show_value(r.flops_per_s)}")
    problems += conv_rate_problems(record) + sdpa_time_problems(record)
    for figure in record.stability:
        if not (figure.spread >= 0 and math.isfinite(figure.spread)):
            problems.append(f"measured.stability.{figure.figure}: expected a spread of at least 0 such as 0.03, "
                            f"got {show_value(figure.spread)}")
    if record.quiet is not None:
        for label in ("before_s", "after_s"):
            value = getattr(record.quiet, label)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"measured.quiet.{label}: expected seconds above 0, got {show_value(value)}")
    return problems


#: A row of a RowTable.
Row = ConvRate | SdpaTime


@dataclass(frozen=True)
class RowTable:
    """The layout of a measured table of [key..., value] rows (conv_rates, sdpa_times):
    the YAML ``field``, the row's ``key_fields`` (given once per table; the tail
    ``count_fields`` of them counts of at least 1), its positive ``value_field`` in
    ``value_unit``, what a key is called (``key_noun``) and a good row as calibrate writes
    one (``example_row``, whose value is ``example_value``)."""

    field: str
    key_fields: tuple[str, ...]
    count_fields: tuple[str, ...]
    value_field: str
    value_unit: str
    key_noun: str
    example_row: str
    example_value: str


CONV_RATES = RowTable("conv_rates", ("kind", "stride", "reduction", "out_elements"),
                      ("stride", "reduction", "out_elements"), "flops_per_s", "FLOP/s", "point",
                      "[depthwise, 1, 9, 401408, 1.4e10]", "1.4e10")
SDPA_TIMES = RowTable("sdpa_times", ("heads", "q_len", "kv_len", "head_dim"),
                      ("heads", "q_len", "kv_len", "head_dim"), "seconds", "seconds", "shape",
                      "[12, 128, 128, 64, 0.0009]", "0.0009")


def _row_key(row: Row, table: RowTable) -> tuple:
    return tuple(getattr(row, name) for name in table.key_fields)


def _row_label(row: Row, table: RowTable) -> str:
    """Where a row's problems are: ``measured.FIELD: [key..., value]`` as written."""
    cells = [str(cell) for cell in _row_key(row, table)] + [show_value(getattr(row, table.value_field))]
    return f"measured.{table.field}: [{', '.join(cells)}]"


def _row_problems(row: Row, table: RowTable, seen: set) -> list[str]:
    """One row's problems, one line each: a count below 1, a value that is not a positive
    number, a key already in ``seen`` (the keys of the rows before it; ``row``'s is added)."""
    problems, at = [], _row_label(row, table)
    if min(getattr(row, name) for name in table.count_fields) < 1:
        counts = f"{', '.join(table.count_fields[:-1])} and {table.count_fields[-1]}"
        problems.append(f"{at}: expected {counts} of at least 1 such as {table.example_row}")
    value = getattr(row, table.value_field)
    if not (math.isfinite(value) and value > 0):
        problems.append(f"{at}: {table.value_field}: expected {table.value_unit} above 0 such as "
                        f"{table.example_value}, got {show_value(value)}")
    key = _row_key(row, table)
    if key in seen:
        problems.append(f"{at}: the {table.key_noun} ({', '.join(table.key_fields)}) is given twice")
    seen.add(key)
    return problems


def conv_rate_problems(record: CalibrationRecord) -> list[str]:
    """Problems of ``record.conv_rates``, one line each: a kind other than CONV_KINDS, a
    stride, reduction or output size below 1, a rate that is not a positive number, a
    point given twice."""
    problems, seen = [], set()
    for r in record.conv_rates:
        if r.kind not in CONV_KINDS:
            problems.append(f"{_row_label(r, CONV_RATES)}: kind: expected one of {', '.join(CONV_KINDS)}, got {r.kind!r}")
        problems += _row_problems(r, CONV_RATES, seen)
    return problems


def sdpa_time_problems(record: CalibrationRecord) -> list[str]:
    """Problems of ``record.sdpa_times``, one line each: heads, lengths or head size
    below 1, seconds that are not a positive number, a shape given twice, fewer than
    the probes the block model's costs need (roofline.efficiency.cpu_sdpa)."""
    problems, seen = [], set()
    for r in record.sdpa_times:
        problems += _row_problems(r, SDPA_TIMES, seen)
    if 0 < len(seen) < MIN_SDPA_SHAPES:
        problems.append(f"measured.sdpa_times: expected at least {MIN_SDPA_SHAPES} distinct shapes to fit the block "
                        f"model's {MIN_SDPA_SHAPES} costs, got {len(seen)}")
    return problems
