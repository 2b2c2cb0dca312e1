"""Roofline charts (roofline/report/plot/roofline.py): roofline, hierarchical_roofline,
trajectory and ceilings. Each renders to a real PNG of the expected pixel size, and the
Axes hold the points, lines and labels counted by hand from the toy analysis
(tests/report/plot_helpers.py)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.collections import PathCollection

import roofline
from roofline import plot
from roofline.analysis import COUNT_COLUMNS, Analysis
from roofline.errors import RooflineError
from roofline.hardware import load_hardware
from roofline.report.plot.roofline import Ceiling
from tests.report.plot_helpers import (
    MM_BYTES,
    MM_FLOPS,
    N,
    assert_real_image,
    by_gid,
    n_points,
    op_row,
    text_boxes,
    toy,
)


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
        rows.append(op_row(f"aten.op{i}", f"m.{i}", "Element-wise", flops, nbytes / 2, nbytes / 2, "vector"))
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
    # no label sits on a labelled point (the engine keeps labels off the markers it labels)
    anchors = [ax.transData.transform(t.xy) for t in ax.texts if t.get_gid() == plot.OP_LABEL]
    assert not any(b.contains(x, y) for b in boxes for x, y in anchors)


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
    frame = pd.DataFrame([op_row("aten.view", "", "Data Transform", 0.0, 0.0, 0.0, "none")])[list(COUNT_COLUMNS)]
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




# --------------------------------------------------------------------------- ceilings
def test_ceilings_merge_equal_peaks_and_read_the_used_ones():
    hw = load_hardware("h100-sxm")
    every = plot.ceilings(hw, "all")
    assert [c.peak_flops for c in every] == sorted({*hw.matrix_flops.values(), *hw.vector_flops.values()}, reverse=True)
    used = plot.ceilings(hw, "used", toy().ops)
    assert [(c.peak_flops, c.matrix) for c in used] == [(989e12, True), (134e12, False)]
    assert isinstance(used[0], Ceiling) and "bf16" in used[0].label
    assert plot.ceilings(hw, [("vector", "fp32")])[0].names == (("vector", "fp32"),)
    with pytest.raises(RooflineError, match="needs the ops frame"):
        plot.ceilings(hw, "used")
    with pytest.raises(RooflineError, match='expected "all", "used"'):
        plot.ceilings(hw, "some")


def test_integer_ops_add_no_ceiling_of_their_own():
    """An int32 arange runs at the fp32 vector rate by fallback: a bf16 model's plot
    shows the bf16 ceilings only."""
    hw = load_hardware("h100-sxm")
    arange = op_row("aten.arange", "", "Other", 1024.0, 0.0, 4096.0, "vector", dtype="int32")
    frame = pd.concat([toy().ops[list(COUNT_COLUMNS)], pd.DataFrame([arange])], ignore_index=True)
    a = Analysis("toy", hw, frame)
    used = plot.ceilings(hw, "used", a.ops)
    assert [(c.peak_flops, c.matrix) for c in used] == [(989e12, True), (134e12, False)]
    only_ints = Analysis("ints", hw, pd.DataFrame([arange])[list(COUNT_COLUMNS)])
    assert [c.peak_flops for c in plot.ceilings(hw, "used", only_ints.ops)] == [67e12]  # all there is


def test_gpu_figures_name_kernels_as_a_gpu_runs_them():
    sdpa = op_row("aten._scaled_dot_product_flash_attention_for_cpu", "attn", "GEMM", 1e9, 1e6, 1e6, "matrix")
    frame = pd.DataFrame([sdpa])[list(COUNT_COLUMNS)]
    fig = plot.roofline(Analysis("attn", load_hardware("h100-sxm"), frame), top=1)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert any("_scaled_dot_product_flash_attention attn" in text for text in labels), labels
    assert not any("_for_cpu" in text for text in labels)


def test_labels_never_cut_an_op_name():
    from roofline.report.plot._common import op_label

    label = op_label("aten._scaled_dot_product_flash_attention", "blocks.*.attn.core", width=40)
    assert label.startswith("_scaled_dot_product_flash_attention b") and label.endswith("…") and len(label) <= 40
    assert op_label("aten.mm", "lm_head") == "mm lm_head"


def test_a_group_in_modules_with_nothing_in_common_is_named_by_its_op():
    # three identical batch norms in modules that share no part of their path: the
    # pattern would be "*.*.* …", which names nothing; the label is the op and its count
    rows = [op_row("aten.native_batch_norm", module, "Element-wise", 1e6, 4e6, 4e6, "vector")
            for module in ("layer1.0.bn1", "layer2.1.bn2", "stem.bn")]
    frame = pd.DataFrame(rows)[list(COUNT_COLUMNS)]
    fig = plot.roofline(Analysis("bn", load_hardware("h100-sxm"), frame), top=1)
    labels = [t.get_text() for t in by_gid(fig.axes[0], plot.OP_LABEL)]
    assert labels == ["native_batch_norm x3"]


def _two_op_run(scale, add_flops_factor):
    rows = [op_row("aten.relu", "a", "Element-wise", 1e6 * scale, 4e6 * scale, 4e6 * scale, "vector"),
            op_row("aten.add", "b", "Element-wise", 1e6 * scale * add_flops_factor, 4e6 * scale, 4e6 * scale, "vector")]
    return Analysis(f"x{scale:g}", load_hardware("h100-sxm"), pd.DataFrame(rows)[list(COUNT_COLUMNS)])


@pytest.mark.parametrize("add_flops_factor, expected", [
    (1.0, ["batch 1", "batch 100"]),  # relu and add on the same points: each step named once
    (100.0, ["batch 1", "batch 1", "batch 100", "batch 100"]),  # add two decades to the right: its own names
])
def test_trajectory_names_a_step_once_where_its_points_meet(add_flops_factor, expected):
    runs = {f"batch {s}": _two_op_run(s, add_flops_factor) for s in (1, 100)}
    fig = plot.trajectory(runs, by="op", keys=["aten.relu", "aten.add"])
    assert len(by_gid(fig.axes[0], plot.TRAJECTORY)) == 2
    assert sorted(t.get_text() for t in by_gid(fig.axes[0], plot.STEP_LABEL)) == expected
