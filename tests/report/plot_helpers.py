"""Shared pieces of the figure tests (tests/report/test_plot*.py).

A hand-built op table (a toy Analysis) makes every count and position known in advance:
two identical 4096^3 bf16 matmuls, a relu and an add on 4096^2 elements, a copy (bytes
but no FLOPs) and a view (nothing at all), on the H100 SXM spec (l2 + dram levels,
989 TFLOP/s bf16 matrix, 134 TFLOP/s bf16 vector).
"""

from __future__ import annotations

import io
import math

import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

import roofline
import roofline.analysis as analysis_module
from roofline.analysis import COUNT_COLUMNS, Analysis
from roofline.hardware import load_hardware
from roofline.report.plot import labels

N = 4096
MM_FLOPS = 2.0 * N**3  # one multiply-add = 2 FLOPs
MM_BYTES = 3.0 * N * N * 2  # A, B read and C written once, bf16
EW_ELEMS = float(N * N)


def op_row(op, module, category, flops, bytes_read, bytes_written, unit, dtype="bf16"):
    """One row of an ops frame (COUNT_COLUMNS) with these counts."""
    total = bytes_read + bytes_written
    return {
        "op": op, "module": module, "module_type": "", "category": category, "flops": flops,
        "bytes_read": bytes_read, "bytes_written": bytes_written, "bytes": total, "param_bytes": 0.0,
        "intensity": flops / total if total else math.nan, "unit": unit, "dtype": dtype,
        "traffic": "memory", "shapes": "", "supported": True, "reason": "",
        # no matrix product behind these rows: the efficiency stage uses its defaults
        "gemm_batch": math.nan, "gemm_m": math.nan, "gemm_n": math.nan, "gemm_k": math.nan,
        "reduce_rows": math.nan, "reduce_len": math.nan,
        "winograd_n": math.nan, "winograd_p": math.nan, "winograd_q": math.nan,
        "loop_count": math.nan, "loop_inner": math.nan, "loop_kernel": "", "strided_elements": 0.0, "gathered_elements": math.nan,
        "attn_heads": math.nan, "attn_q": math.nan, "attn_kv": math.nan, "attn_dim": math.nan,
    }


def toy(name: str = "toy", hw: str = "h100-sxm", scale: float = 1.0) -> Analysis:
    """Six ops: 4 with FLOPs (2 GEMM at one point, 2 Element-wise), a copy, a view."""
    rows = [
        op_row("aten.mm", "layer.0", "GEMM", MM_FLOPS * scale, 2 * N * N * 2 * scale, N * N * 2 * scale, "matrix"),
        op_row("aten.mm", "layer.1", "GEMM", MM_FLOPS * scale, 2 * N * N * 2 * scale, N * N * 2 * scale, "matrix"),
        op_row("aten.relu", "act", "Element-wise", EW_ELEMS * scale, EW_ELEMS * 2 * scale, EW_ELEMS * 2 * scale, "vector"),
        op_row("aten.add", "res", "Element-wise", EW_ELEMS * scale, 2 * EW_ELEMS * 2 * scale, EW_ELEMS * 2 * scale, "vector"),
        op_row("aten.copy_", "", "Data Move", 0.0, EW_ELEMS * 2 * scale, EW_ELEMS * 2 * scale, "vector"),
        op_row("aten.view", "", "Data Transform", 0.0, 0.0, 0.0, "none"),
    ]
    frame = pd.DataFrame(rows)[list(COUNT_COLUMNS)]
    frame.index.name = "index"
    return Analysis(name, load_hardware(hw), frame)


def png_of(fig: Figure) -> Image.Image:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_real_image(fig: Figure, width: int, height: int) -> None:
    image = png_of(fig)
    assert image.size == (width, height)
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 20  # drawn on, not a blank canvas


def by_gid(ax, gid: str, kind=None) -> list:
    artists = list(ax.lines) + list(ax.collections) + list(ax.texts)
    return [a for a in artists if a.get_gid() == gid and (kind is None or isinstance(a, kind))]


def n_points(collections) -> int:
    return sum(len(c.get_offsets()) for c in collections)


def text_boxes(fig: Figure, ax, gids: set[str]) -> list:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [labels.text_box(t, renderer) for t in ax.texts if t.get_gid() in gids]


def refuse_predictions(monkeypatch) -> None:
    """Make every way to capture, predict or compare raise, so a figure that tries fails
    (figures only read results)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a figure must not capture, predict or compare")

    monkeypatch.setattr(Analysis, "with_hw", refuse)
    monkeypatch.setattr(Analysis, "compare", refuse)
    monkeypatch.setattr(Analysis, "__post_init__", refuse)  # building an Analysis predicts
    monkeypatch.setattr(analysis_module, "analyze", refuse)
    monkeypatch.setattr(analysis_module, "predict_frame", refuse)
    monkeypatch.setattr(roofline, "analyze", refuse)
