"""roofline/formulas/pooling.py against closed forms worked out here."""

import torch
import torch.nn.functional as F

from roofline.capture import capture
from roofline.count.categories import REGIONAL
from roofline.count.registry import count
from tests.conftest import only_cost


def test_max_pool_window_and_indices():
    x = torch.randn(1, 4, 8, 8)
    cost = only_cost(F.max_pool2d, x, 3, 2, 1)
    # Output 4x4 per channel; 9 compares per output; indices are int64.
    assert cost.flops == 4 * 16 * 9
    assert cost.bytes_read == 256 * 4
    assert cost.bytes_written == 64 * 4 + 64 * 8
    assert cost.category == REGIONAL


def test_avg_pool_adds_a_divide():
    x = torch.randn(2, 3, 6, 6)
    cost = only_cost(F.avg_pool2d, x, 2)
    assert cost.flops == 2 * 3 * 9 * (4 + 1)


def test_adaptive_avg_pool_overlapping_windows():
    x = torch.randn(1, 4, 7, 7)
    cost = only_cost(F.adaptive_avg_pool2d, x, 2)
    assert cost.flops == 4 * 4 * (4 * 4 + 1)  # windows 0..4 and 3..7: 4 per side, overlapping


def test_bilinear_upsample_two_flops_per_tap():
    x = torch.randn(1, 3, 4, 4)
    cost = only_cost(F.interpolate, x, scale_factor=2, mode="bilinear", align_corners=False)
    out = 3 * 8 * 8
    assert cost.flops == out * 4 * 2  # 4 taps, a multiply-add each
    assert cost.bytes_read == 48 * 4 and cost.bytes_written == out * 4
    assert cost.category == REGIONAL


def test_nearest_upsample_only_copies():
    x = torch.randn(1, 2, 3, 3)
    cost = only_cost(F.interpolate, x, scale_factor=3, mode="nearest")
    assert cost.flops == 0 and cost.bytes_written == 2 * 81 * 4


def test_grid_sample_reads_the_taps_it_fetches():
    feature = torch.randn(1, 64, 100, 100)  # 2.56 MB feature map
    grid = torch.rand(1, 7, 7, 2) * 2 - 1  # one 7x7 crop
    cost = only_cost(F.grid_sample, feature, grid, mode="bilinear", align_corners=False)
    samples = 64 * 49
    assert cost.flops == samples * 8
    assert cost.bytes_read == samples * 4 * 4 + 49 * 2 * 4  # 4 taps of fp32 each, plus the grid
    assert cost.bytes_written == samples * 4


def test_adaptive_pooling_sums_its_uneven_windows():
    # 32 -> 7: output i covers inputs floor(32i/7) .. ceil(32(i+1)/7), windows of
    # 5, 6, 5, 6, 5, 6, 5 = 38 taps along a dimension (not 7 x ceil(32/7) = 35).
    # Per plane: 38 * 38 = 1444 adds plus 7 * 7 = 49 divides = 1493; 32 planes (one
    # image of 32 channels): 32 * 1493 = 47_776 FLOPs (the largest window, 5x5 for all
    # 49 outputs, gave 32 * (1225 + 49) = 40_768).
    x = torch.randn(1, 32, 32, 32)
    cost = only_cost(torch.nn.functional.adaptive_avg_pool2d, x, 7)
    assert cost.flops == 47_776
    # Max pooling compares without the divide: 32 * 1444 = 46_208.
    cost = only_cost(torch.nn.functional.adaptive_max_pool2d, x, 7, op="aten.adaptive_max_pool2d")
    assert cost.flops == 46_208
    # An even split, 32 -> 8: windows of 4, 32 taps a dimension: 32 * (32*32 + 64) = 34_816.
    assert only_cost(torch.nn.functional.adaptive_avg_pool2d, x, 8).flops == 34_816


def test_adaptive_avg_pool_backward_matches_its_forward():
    # The gradient of each output, divided once, is added to each input of its window:
    # the forward's 47_776 FLOPs for 32 -> 7 on 32 planes.
    x = torch.randn(1, 32, 32, 32, requires_grad=True)
    records, _ = capture(lambda: torch.nn.functional.adaptive_avg_pool2d(x, 7).sum().backward())
    [cost] = [count(r) for r in records if r.packet == "aten._adaptive_avg_pool2d_backward"]
    assert cost.flops == 47_776
