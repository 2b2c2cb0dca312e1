"""Figures: each kind renders to a real PNG of the expected pixel size, and the Axes hold
the points, lines and bars counted by hand from the inputs.

Most tests use a hand-built op table (a toy Analysis) so every count and position is
known in advance: two identical 4096^3 bf16 matmuls, a relu and an add on 4096^2
elements, a copy (bytes but no FLOPs) and a view (nothing at all), on the H100 SXM spec
(l2 + dram levels, 989 TFLOP/s bf16 matrix, 134 TFLOP/s bf16 vector).
"""

from __future__ import annotations

import io
import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from PIL import Image

import roofline
from roofline import plot
from roofline.analysis import COUNT_COLUMNS, Analysis
from roofline.count.categories import CATEGORIES
from roofline.cli import main
from roofline.errors import RooflineError
from roofline.hardware import load_hardware

N = 4096
MM_FLOPS = 2.0 * N**3  # one multiply-add = 2 FLOPs
MM_BYTES = 3.0 * N * N * 2  # A, B read and C written once, bf16
EW_ELEMS = float(N * N)


def _row(op, module, category, flops, bytes_read, bytes_written, unit, dtype="bf16"):
    total = bytes_read + bytes_written
    return {
        "op": op, "module": module, "module_type": "", "category": category, "flops": flops,
        "bytes_read": bytes_read, "bytes_written": bytes_written, "bytes": total, "param_bytes": 0.0,
        "intensity": flops / total if total else math.nan, "unit": unit, "dtype": dtype,
        "traffic": "memory", "shapes": "", "supported": True, "reason": "",
    }


def toy(name: str = "toy", hw: str = "h100-sxm", scale: float = 1.0) -> Analysis:
    """Six ops: 4 with FLOPs (2 GEMM at one point, 2 Element-wise), a copy, a view."""
    rows = [
        _row("aten.mm", "layer.0", "GEMM", MM_FLOPS * scale, 2 * N * N * 2 * scale, N * N * 2 * scale, "matrix"),
        _row("aten.mm", "layer.1", "GEMM", MM_FLOPS * scale, 2 * N * N * 2 * scale, N * N * 2 * scale, "matrix"),
        _row("aten.relu", "act", "Element-wise", EW_ELEMS * scale, EW_ELEMS * 2 * scale, EW_ELEMS * 2 * scale, "vector"),
        _row("aten.add", "res", "Element-wise", EW_ELEMS * scale, 2 * EW_ELEMS * 2 * scale, EW_ELEMS * 2 * scale, "vector"),
        _row("aten.copy_", "", "Data Move", 0.0, EW_ELEMS * 2 * scale, EW_ELEMS * 2 * scale, "vector"),
        _row("aten.view", "", "Data Transform", 0.0, 0.0, 0.0, "none"),
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
    return [plot._text_box(t, renderer) for t in ax.texts if t.get_gid() in gids]


# --------------------------------------------------------------------------- roofline
def test_roofline_counts_points_roofs_ceilings_and_ridges():
    a = toy()
    fig = plot.roofline(a)
    assert_real_image(fig, 640, 480)
    (ax,) = fig.axes
    ops = by_gid(ax, plot.OPS, PathCollection)
    # 2 matmuls + relu + add have FLOPs; the copy and the view have none.
    assert n_points(ops) == 4
    assert sorted(c.get_label() for c in ops) == ["Element-wise", "GEMM"]
    assert len(by_gid(ax, plot.ROOF)) == 2  # l2, dram
    assert len(by_gid(ax, plot.CEILING)) == 2  # bf16 matrix (the mm), bf16 vector (relu, add)
    (ridges,) = by_gid(ax, plot.RIDGE)
    assert len(ridges.get_xdata()) == 2 * 2  # every ceiling meets every roof
    # The copy takes time but cannot sit on a log axis: the title says so.
    assert "1 without FLOPs not drawn" in ax.get_title()


def test_roofline_positions_and_lines_match_the_closed_forms():
    a = toy()
    hw = a.hw
    fig = plot.roofline(a)
    (ax,) = fig.axes
    gemm = next(c for c in by_gid(ax, plot.OPS) if c.get_label() == "GEMM")
    x, y = np.asarray(gemm.get_offsets()).T
    # intensity of C = A B with square n x n bf16 operands: 2 n^3 / (3 n^2 2 bytes) = n / 3
    assert x == pytest.approx([N / 3, N / 3])
    # time: compute-bound on the bf16 tensor peak at the spec's efficiency, plus the overhead
    t = max(MM_FLOPS / (hw.efficiency.matrix * 989e12), MM_BYTES / (hw.efficiency.memory * 3.35e12)) + 4e-6
    assert y == pytest.approx([MM_FLOPS / t] * 2, rel=1e-9)
    slopes = sorted(float(np.mean(np.asarray(l.get_ydata()) / np.asarray(l.get_xdata()))) for l in by_gid(ax, plot.ROOF))
    assert slopes == pytest.approx([3.35e12, 7.3e12])  # dram, l2 bandwidths (datasheet, B/s)
    levels = sorted(l.get_ydata()[0] for l in by_gid(ax, plot.CEILING))
    assert levels == pytest.approx([134e12, 989e12])
    (ridges,) = by_gid(ax, plot.RIDGE)
    assert sorted(ridges.get_xdata()) == pytest.approx(sorted(p / b for p in (989e12, 134e12) for b in (3.35e12, 7.3e12)))


def test_roofline_marker_area_follows_share_of_time():
    a = toy()
    fig = plot.roofline(a)
    ew = next(c for c in by_gid(fig.axes[0], plot.OPS) if c.get_label() == "Element-wise")
    gemm = next(c for c in by_gid(fig.axes[0], plot.OPS) if c.get_label() == "GEMM")
    # each matmul takes far longer than relu or add, so its marker is larger
    assert gemm.get_sizes().min() > ew.get_sizes().max()


def test_roofline_labels_top_ops_once_per_group_without_overlap():
    fig = plot.roofline(toy(), top=8)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts if t.get_gid() == plot.OP_LABEL]
    # the two identical matmuls share one label; relu and add get their own
    assert sorted(labels) == ["add res", "mm layer.* x2", "relu act"]
    boxes = text_boxes(fig, ax, {plot.OP_LABEL, plot.ROOF_LABEL, plot.CEILING_LABEL})
    assert len(boxes) == 3 + 2 + 2
    assert not any(b1.overlaps(b2) for b1, b2 in combinations(boxes, 2))


def test_crowded_labels_never_overlap_each_other_or_the_legend():
    # 40 ops in a cloud one decade wide, each its own op name: many labels compete for room.
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        flops = float(10 ** rng.uniform(9, 10))
        nbytes = flops / float(10 ** rng.uniform(-0.5, 0.5))
        rows.append(_row(f"aten.op{i}", f"m.{i}", "Element-wise", flops, nbytes / 2, nbytes / 2, "vector"))
    frame = pd.DataFrame(rows)[list(COUNT_COLUMNS)]
    a = Analysis("crowd", load_hardware("h100-sxm"), frame)
    fig = plot.roofline(a, top=15)
    ax = fig.axes[0]
    assert n_points(by_gid(ax, plot.OPS)) == 40
    boxes = text_boxes(fig, ax, {plot.OP_LABEL, plot.ROOF_LABEL, plot.CEILING_LABEL})
    assert 3 <= len([t for t in ax.texts if t.get_gid() == plot.OP_LABEL]) <= 15
    assert not any(b1.overlaps(b2) for b1, b2 in combinations(boxes, 2))
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    assert not any(b.overlaps(legend) for b in boxes)
    axes_box = ax.get_window_extent(fig.canvas.get_renderer())
    assert all(axes_box.contains(b.x0, b.y0) and axes_box.contains(b.x1, b.y1) for b in boxes)


def test_roofline_side_by_side_shares_axes():
    fig = plot.roofline([toy("small", scale=0.01), toy("big", hw="a100-sxm")])
    assert_real_image(fig, 1280, 480)
    left, right = fig.axes
    assert left.get_xlim() == right.get_xlim() and left.get_ylim() == right.get_ylim()
    assert n_points(by_gid(left, plot.OPS)) == n_points(by_gid(right, plot.OPS)) == 4
    assert "A100" in right.get_title()


def test_roofline_with_measured_times_moves_points_down():
    a = toy()
    measured = pd.DataFrame({"measured_s": a.ops["predicted_s"] * 2})
    fig_p, fig_m = plot.roofline(a), plot.roofline(a, measured=measured)
    y_p = np.asarray(by_gid(fig_p.axes[0], plot.OPS)[0].get_offsets())[:, 1]
    y_m = np.asarray(by_gid(fig_m.axes[0], plot.OPS)[0].get_offsets())[:, 1]
    assert y_m == pytest.approx(y_p / 2)  # twice the time, half the FLOP/s
    assert "measured time" in fig_m.axes[0].get_title()


def test_roofline_all_peaks_merges_equal_ceilings():
    fig = plot.roofline(toy(), peaks="all")
    hw = load_hardware("h100-sxm")
    distinct = set(hw.matrix_flops.values()) | set(hw.vector_flops.values())
    assert len(by_gid(fig.axes[0], plot.CEILING)) == len(distinct)
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == plot.CEILING_LABEL]
    assert any("bf16/fp16 matrix" in text for text in labels)  # 989 TFLOP/s for both


def test_roofline_of_ops_without_flops_draws_the_spec_alone():
    frame = pd.DataFrame([_row("aten.view", "", "Data Transform", 0.0, 0.0, 0.0, "none")])[list(COUNT_COLUMNS)]
    fig = plot.roofline(Analysis("views", load_hardware("h100-sxm"), frame))
    ax = fig.axes[0]
    hw = load_hardware("h100-sxm")
    assert n_points(by_gid(ax, plot.OPS)) == 0
    assert len(by_gid(ax, plot.CEILING)) == len(set(hw.matrix_flops.values()) | set(hw.vector_flops.values()))
    assert "0 ops placed" in ax.get_title()
    assert_real_image(fig, 640, 480)


def test_efficiency_roofs_are_scaled_by_the_spec():
    a = toy()
    fig = plot.roofline(a, efficiency=True)
    ax = fig.axes[0]
    scaled = sorted(np.asarray(l.get_ydata())[0] / np.asarray(l.get_xdata())[0] for l in by_gid(ax, plot.ROOF + "-attainable"))
    assert scaled == pytest.approx(sorted(a.hw.efficiency.memory * bw for bw in (3.35e12, 7.3e12)))


def test_real_model_points_by_hand_count():
    # Linear -> ReLU -> Linear runs t, addmm, relu, t, addmm: three ops with FLOPs.
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    a = roofline.analyze(model, (torch.randn(8, 16),), hw="h100-sxm")
    fig = a.plot()
    ops = {c.get_label(): len(c.get_offsets()) for c in by_gid(fig.axes[0], plot.OPS)}
    assert ops == {"GEMM": 2, "Element-wise": 1}
    assert_real_image(fig, 640, 480)


# --------------------------------------------------------------------------- hierarchical
def test_hierarchical_roofline_with_level_traffic():
    a = toy()
    # A tiled matmul moves 4x its compulsory bytes through L2; the others stream once.
    l2 = a.ops["bytes"].where(a.ops["op"] != "aten.mm", a.ops["bytes"] * 4)
    fig = plot.hierarchical_roofline(a, level_bytes=pd.DataFrame({"l2": l2}))
    assert_real_image(fig, 640, 480)
    ax = fig.axes[0]
    per_level = {c.get_label(): np.asarray(c.get_offsets()) for c in by_gid(ax, plot.OPS)}
    assert set(per_level) == {"l2", "dram"}
    assert all(len(points) == 3 for points in per_level.values())  # mm x2 (one group), relu, add
    mm_dram = per_level["dram"][:, 0].max()
    assert mm_dram == pytest.approx(N / 3)
    assert per_level["l2"][:, 0].max() == pytest.approx(N / 3 / 4)
    assert len(by_gid(ax, plot.OP_SPAN)) == 1  # only the matmul differs between levels
    assert "no traffic data" not in ax.get_title()


def test_hierarchical_roofline_without_level_traffic_says_so():
    fig = plot.hierarchical_roofline(toy())
    ax = fig.axes[0]
    assert "no traffic data for l2" in ax.get_title()
    assert len(by_gid(ax, plot.OP_SPAN)) == 0
    with pytest.raises(RooflineError, match="no memory level 'l3'"):
        plot.hierarchical_roofline(toy(), level_bytes=pd.DataFrame({"l3": [1.0]}))


# --------------------------------------------------------------------------- trajectory
def test_trajectory_one_line_per_category_one_point_per_run():
    runs = {f"x{s:g}": toy(scale=s) for s in (0.01, 0.1, 1.0)}
    fig = plot.trajectory(runs)
    assert_real_image(fig, 640, 480)
    lines = {l.get_label(): l for l in by_gid(fig.axes[0], plot.TRAJECTORY)}
    assert list(lines) == ["GEMM", "Element-wise"]  # categories with FLOPs, seed order
    assert all(len(l.get_xdata()) == 3 for l in lines.values())
    # scaling FLOPs and bytes together keeps the intensity: the GEMM line is vertical
    assert lines["GEMM"].get_xdata() == pytest.approx([N / 3] * 3)
    with pytest.raises(RooflineError, match="Conv"):
        plot.trajectory(runs, keys=["Conv"])


# --------------------------------------------------------------------------- bars
def test_breakdown_stacks_every_category_per_bar():
    a, b = toy("a"), toy("b", scale=0.5)
    measured = pd.DataFrame({"category": ["GEMM", "GEMM", "Element-wise"], "measured_s": [1e-3, 2e-3, 1e-3]})
    fig = plot.breakdown([a, b], measured=[measured, None])
    ax = fig.axes[0]
    assert len(ax.containers) == len(CATEGORIES) == 9
    assert len(ax.patches) == 3 * 9  # a predicted, a measured, b predicted
    assert [c.get_label() for c in ax.containers] == list(CATEGORIES)
    heights = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    # the measured bar (second) is 3 ms GEMM + 1 ms Element-wise: 75% / 25%
    assert heights["GEMM"][1] == pytest.approx(75.0)
    assert heights["Element-wise"][1] == pytest.approx(25.0)
    assert sum(h[1] for h in heights.values()) == pytest.approx(100.0)
    assert [p.get_hatch() for p in ax.containers[0].patches] == [None, "//", None]
    assert len(by_gid(ax, plot.TOTAL)) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\npredicted", "a\nmeasured", "b\npredicted"]
    w, h = fig.get_size_inches() * fig.dpi
    assert_real_image(fig, round(w), round(h))


def test_breakdown_in_seconds():
    a = toy()
    fig = plot.breakdown(a, normalize=False)
    ax = fig.axes[0]
    assert len(ax.patches) == 9
    # two ~178 us matmuls dominate: a total between 0.1 and 1 ms is drawn in us
    assert 1e-4 < a.predicted_s < 1e-3
    total_us = sum(p.get_height() for p in ax.patches)
    assert total_us == pytest.approx(a.predicted_s * 1e6)
    assert ax.get_ylabel() == "time (us)"


def test_what_if_one_bar_per_spec():
    a = toy()
    specs = ["h100-sxm", "a100-sxm", "xeon-8480"]
    fig = plot.what_if(a, specs)
    left, right = fig.axes
    assert len(left.patches) == 3 and len(right.patches) == 3 * 9
    widths = [p.get_width() for p in left.patches]
    assert widths == pytest.approx([a.with_hw(s).predicted_s for s in specs])
    assert [t.get_text() for t in left.get_yticklabels()] == specs
    shares = np.array([p.get_width() for p in right.patches]).reshape(9, 3)
    assert shares.sum(axis=0) == pytest.approx([100.0] * 3)
    w, h = fig.get_size_inches() * fig.dpi
    assert_real_image(fig, round(w), round(h))


# --------------------------------------------------------------------------- validation scatter
def test_predicted_vs_measured_points_identity_and_bands():
    frame = pd.DataFrame(
        {
            "category": ["GEMM", "GEMM", "GEMM", "Element-wise", "Element-wise", "Other"],
            "predicted_s": [1e-4, 2e-4, 3e-4, 1e-5, 2e-5, 1e-5],
            "measured_s": [1.1e-4, 1.5e-4, 4e-4, 3e-5, 2e-5, np.nan],
        }
    )
    fig = plot.predicted_vs_measured(frame, bands=(1.25, 2))
    assert_real_image(fig, 560, 520)
    ax = fig.axes[0]
    ops = by_gid(ax, plot.OPS)
    assert {c.get_label(): len(c.get_offsets()) for c in ops} == {"GEMM": 3, "Element-wise": 2}
    (identity,) = by_gid(ax, plot.IDENTITY)
    assert list(identity.get_xdata()) == list(identity.get_ydata())
    bands = by_gid(ax, plot.BAND, PolyCollection)
    assert len(bands) == 2
    widest = max(bands, key=lambda band: np.ptp(np.log10(band.get_paths()[0].vertices[:, 1])))
    vertices = widest.get_paths()[0].vertices
    lo, hi = vertices[:, 0].min(), vertices[:, 0].max()
    assert vertices[:, 1].max() == pytest.approx(hi * 2) and vertices[:, 1].min() == pytest.approx(lo / 2)
    # GEMM point: measured on x, predicted on y
    gemm = next(c for c in ops if c.get_label() == "GEMM")
    assert np.asarray(gemm.get_offsets())[0] == pytest.approx([1.1e-4, 1e-4])
    assert "1 without a time" in ax.get_title()


def test_compare_kind_accepts_a_comparison_object():
    a = toy()

    class Comparison:  # what Analysis.compare returns: the frame as .ops
        ops = a.ops.assign(measured_s=a.ops["predicted_s"] * 1.5)

    fig = a.plot("compare", comparison=Comparison())
    assert n_points(by_gid(fig.axes[0], plot.OPS)) == 5  # every op with a time (the view has none)


# --------------------------------------------------------------------------- dispatch, saving, CLI
def test_analysis_plot_kinds_and_errors(tmp_path):
    a = toy()
    assert isinstance(a.plot("breakdown"), Figure)
    assert isinstance(a.plot("what-if", hws=["h100-sxm", "l4"]), Figure)
    with pytest.raises(RooflineError, match="unknown kind 'pie'"):
        a.plot("pie")
    with pytest.raises(RooflineError, match="comparison="):
        a.plot("compare")
    with pytest.raises(RooflineError, match="measured_s"):
        plot.roofline(a, measured=pd.DataFrame({"seconds": [1.0]}))
    with pytest.raises(RooflineError, match="no memory level 'l1'"):
        plot.roofline(a, levels=["l1"])
    with pytest.raises(RooflineError, match="unknown figure format 'png2'"):
        plot.save(a.plot(), tmp_path / "x.png2")
    path = plot.save(a.plot(), tmp_path / "x.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_cli_analyze_writes_the_roofline_png(tmp_path, capsys):
    out = tmp_path / "gcn.png"
    assert main(["analyze", "gcn", "--meta", "--plot", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out.replace("\n", "")
    image = Image.open(out)
    assert image.format == "PNG" and image.size == (640, 480)
    assert main(["analyze", "gcn", "--meta", "--plot", str(tmp_path / "missing" / "x.png")]) == 2
    assert "no such directory" in capsys.readouterr().err
