"""The terminal views of issue 15 (roofline/report/tables.py, hw_tables.py, layout.py,
text.py): what was analysed in every header, breakdowns by category, op and module,
tables that fit 80 columns, spec tables without fp32 fallbacks, caveats and private
references, the zoo in plain text, and op names as a GPU runs them."""

from __future__ import annotations

import pytest
from rich.console import Console

from roofline.hardware import list_hardware, load_hardware
from roofline.hardware.io import spec_caveats
from roofline.report import tables
from roofline.report.hw_tables import build_options, peak_text, plain_text
from roofline.report.layout import table
from roofline.report.text import clean, display_op, dtype_note, public_text
from tests.report.plot_helpers import refuse_predictions, toy


def render(print_fn, *args, width: int = 80, **kw) -> str:
    console = Console(record=True, width=width)
    print_fn(*args, console, **kw)
    text = console.export_text()
    widest = max(len(line) for line in text.splitlines())
    assert widest <= width, f"a line of {widest} characters in {width} columns"
    return text


def test_views_by_category_op_and_module(monkeypatch):
    a = toy()
    refuse_predictions(monkeypatch)
    out = render(tables.print_view, a, by="category")
    assert "GEMM" in out and "Sparse MM" not in out and "Total" in out
    out = render(tables.print_view, a, by="category", all_categories=True)
    assert "Sparse MM" in out and "Embedding" in out
    out = render(tables.print_view, a, by="op")
    assert "Runtime by op" in out and "mm " in out and "relu" in out
    out = render(tables.print_view, a, by="module", depth=1)
    assert "Runtime by module (depth 1" in out and "layer " in out and "(top)" in out
    with pytest.raises(ValueError, match="unknown view"):
        tables.print_view(a, Console(), by="nope")


def test_analysis_header_names_the_workload_and_the_top_is_grouped(monkeypatch):
    a = toy()
    refuse_predictions(monkeypatch)
    out = render(tables.print_analysis, a, top=5)
    assert out.splitlines()[0].startswith("toy · bf16 on NVIDIA H100 SXM5 80GB (h100-sxm)")
    assert "predicted" in out and "kernels" in out and "per-op overhead" in out
    top = out[out.index("Top"):out.index("Runtime by category")]
    assert top.count("mm ") == 1 and " 2 " in top  # the two identical matmuls: one row, 2 calls
    assert "note: computed in fp32" not in out  # a bf16 model needs no note


def test_fp32_on_a_gpu_says_so_and_how_to_ask_for_bf16():
    assert dtype_note("fp32", load_hardware("h100-sxm")) == (
        "note: computed in fp32; GPUs run most models in bf16: add --dtype bf16")
    assert "fp16: add --dtype fp16" in dtype_note("fp32", load_hardware("t4"))  # a T4 has no bf16
    assert dtype_note("bf16", load_hardware("h100-sxm")) is None
    assert dtype_note("fp32", load_hardware("xeon-8480")) is None


def test_numbers_stay_whole_and_names_give_way():
    rows = [["_scaled_dot_product_flash_attention", "[1,12,1024,64]x[1,12,1024,64]x[1,12,1024,64]", "12", "460 us",
             "7.0%", "127.6", "compute"]]
    columns = ["op", "input shapes", "calls", "time", "share", "FLOP/B", "bound"]
    console = Console(record=True, width=60)
    console.print(table("t", columns, rows, names=2))
    text = console.export_text()
    assert all(len(line) <= 60 for line in text.splitlines())
    assert "460 us" in text and "127.6" in text and "compute" in text and "…" in text
    wide = Console(record=True, width=200)
    wide.print(table("t", columns, rows, names=2))
    assert "_scaled_dot_product_flash_attention" in wide.export_text()  # room: nothing cut


def test_hardware_list_has_no_fp32_fallback_in_matrix_columns():
    frame = list_hardware().set_index("name")
    assert frame.loc["t4", "peak_bf16_matrix"] != frame.loc["t4", "peak_bf16_matrix"]  # NaN: no bf16 units
    assert frame.loc["t4", "peak_int8_matrix"] == 130e12
    out = render(tables.print_hardware_list, list_hardware())
    t4 = next(line for line in out.splitlines() if line.startswith("t4"))
    v100 = next(line for line in out.splitlines() if line.startswith("v100 "))
    assert t4.split()[-3:] == ["-", "130", "8.1"] and v100.split()[-3:] == ["-", "-", "15.7"]
    assert "int8\nTOP/s" not in out and "TOP/s" in out and "hw_reference" not in out
    assert "t4 *" in out and "h200 *" not in out  # estimates marked where the file says so


def test_hardware_show_caveats_int8_and_no_private_files():
    spec = load_hardware("t4")
    caveats = spec_caveats(spec)
    assert ("memory.l2", "? bandwidth an ESTIMATE, not from hw_reference.md or a primary source: calibrate") in caveats
    out = render(tables.print_hardware, spec, caveats=caveats)
    assert "130 TOP/s" in out and "FLOP/s" in out
    assert "Caveats" in out and "memory.l2: ? bandwidth an ESTIMATE" in out
    assert "hw_reference" not in out
    assert spec_caveats(load_hardware("h200")) == []
    assert peak_text("int8", 1.979e15) == "1979 TOP/s" and peak_text("bf16", 989e12) == "989 TFLOP/s"
    assert public_text("NVIDIA datasheet; figures collected in shared hw_reference.md") == "NVIDIA datasheet"


def test_zoo_plain_text_with_build_options():
    def gpt(batch: int = 1, seq: int = 1024, attention: str = "sdpa", **rest):
        """GPT-2 over ``seq`` tokens, see :func:`build_gpt2`."""

    out = render(tables.print_zoo, {"gpt": gpt})
    assert "GPT-2 over seq tokens, see build_gpt2." in out and "``" not in out and ":func:" not in out
    assert "options: batch=1, seq=1024, attention='sdpa', ..." in out
    assert plain_text("``a`` and `b`") == "a and b"
    assert build_options(lambda batch=1, *, seq=None: None) == "batch=1, seq=None"


def test_op_names_as_the_device_runs_them():
    sdpa = "aten._scaled_dot_product_flash_attention_for_cpu"
    assert display_op(sdpa, "gpu") == "aten._scaled_dot_product_flash_attention"
    assert display_op(sdpa + "_backward", "gpu") == "aten._scaled_dot_product_flash_attention_backward"
    assert display_op("aten.mkldnn_convolution", "gpu") == "aten.cudnn_convolution"
    assert display_op(sdpa, "cpu") == sdpa and display_op("aten.mm", "gpu") == "aten.mm"


def test_control_characters_are_shown_not_obeyed():
    assert clean("Evil\x1b[31mRED\x07") == "Evil\\x1b\\[31mRED\\x07"
    assert clean("tab\there") == "tab\\x09here"
