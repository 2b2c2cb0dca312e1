"""Terminal tables (roofline/report/tables.py): each printer lays out a result already
computed and computes nothing (capture, prediction and comparison are switched off while
it prints). The commands that call them are tested through the CLI in tests/cli."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from rich.console import Console

from roofline.hardware import list_hardware, load_hardware
from roofline.measure.compare import COMPARISON_COLUMNS, Comparison
from roofline.report import tables
from roofline.tools.sweep import SWEEP_COLUMNS
from tests.report.plot_helpers import refuse_predictions, toy


@pytest.fixture
def console():
    return Console(record=True, width=200)


def text_of(console: Console) -> str:
    return console.export_text()


def test_table_aligns_names_left_and_numbers_right():
    table = tables.table("t", ["name", "value"], [["a", 1], ["b", 22]])
    assert [c.justify for c in table.columns] == ["left", "right"]
    assert table.row_count == 2


def test_percent_formatting():
    assert tables.signed_percent(0.1234) == "+12.3%"
    assert tables.signed_percent(float("nan")) == tables.MISSING


def test_print_analysis_reads_the_analysis(console, monkeypatch):
    a = toy()
    refuse_predictions(monkeypatch)
    tables.print_analysis(a, console, top=3)
    out = text_of(console)
    assert "toy · bf16 on NVIDIA H100 SXM" in out and "6 aten ops" in out
    assert "Top 3 ops by predicted time" in out and "mm" in out
    assert "Runtime by category (predicted)" in out and "Element-wise" in out
    assert "Sparse MM" not in out  # no op: no row unless asked
    assert "Bound by: " in out and "Unsupported ops: none" in out


def test_print_sweep_one_column_per_spec(console):
    rows = [{c: 1.0 for c in SWEEP_COLUMNS} | {"target": "mlp", "dtype": "fp32", "params": 1500, "batch": b, "seq": None,
                                                 "hw": hw, "predicted_s": t}
            for b in (1, 8) for hw, t in (("h100-sxm", 1e-3), ("t4", 2e-3))]
    tables.print_sweep(pd.DataFrame(rows, columns=list(SWEEP_COLUMNS)), console)
    out = text_of(console)
    assert "mlp · fp32 · 1.5k params: predicted time per batch" in out
    header = next(line for line in out.splitlines() if "batch" in line and "FLOPs" in line)
    assert "h100-sxm" in header and "t4" in header
    assert out.count("2 ms") == 2 and out.count("1 ms") == 2


def test_print_comparison_reads_the_comparison(console, monkeypatch):
    a = toy()
    ops = a.ops.assign(measured_s=a.ops["predicted_s"] * 1.1)
    ops["ratio"] = ops["predicted_s"] / ops["measured_s"]
    ops["error"] = ops["ratio"] - 1
    comparison = Comparison("toy", "h100-sxm", "cpu", ops[list(COMPARISON_COLUMNS)], forward_s=float(ops["measured_s"].sum()),
                            threads=4)
    refuse_predictions(monkeypatch)
    tables.print_comparison(comparison, console, top=2)
    out = text_of(console)
    assert "toy on cpu (4 threads) against spec h100-sxm" in out
    assert "Predicted vs measured by category" in out and "Top 2 ops by measured time" in out
    assert "-9.1%" in out  # end-to-end: 1 / 1.1 - 1


def test_print_calibration(console):
    result = SimpleNamespace(
        device_name="test cpu", device="cpu", threads=2, mode="quick", duration_s=1.5, overhead_s=2e-6,
        levels=pd.DataFrame({"level": ["l2", "dram"], "capacity": [1e6, 1e9], "bandwidth": [1e11, 2e10], "points": [3, 4]}),
        matrix_flops={"fp32": 1e12}, vector_flops={"fp32": 1e11}, matrix_efficiency=0.8, vector_efficiency=0.5,
        memory_efficiency=0.7, view_overhead_s=1e-7, fresh_write=None, notes=["a note"],
    )
    tables.print_calibration(result, console)
    out = text_of(console)
    assert "test cpu (cpu, 2 threads, quick mode)" in out and "100 GB/s" in out and "1 TFLOP/s" in out
    assert "note: a note" in out


def test_print_hardware_list_and_spec(console):
    tables.print_hardware_list(list_hardware(), console)
    tables.print_hardware(load_hardware("h100-sxm"), console)
    out = text_of(console)
    assert "Hardware specs" in out and "a100-sxm" in out
    assert "Dense peaks" in out and "Memory levels" in out and "Ridge points (FLOP/byte)" in out


def test_print_zoo_first_docstring_line(console):
    def tiny(batch=1):
        """A tiny model.

        More words."""

    tables.print_zoo({"tiny": tiny, "bare": lambda: None}, console)
    out = text_of(console)
    assert "A tiny model." in out and "More words" not in out and "bare" in out
