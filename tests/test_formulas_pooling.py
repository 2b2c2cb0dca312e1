"""roofline/formulas/pooling.py against closed forms worked out here."""

import torch
import torch.nn.functional as F

from roofline.categories import REGIONAL
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


def test_adaptive_avg_pool_window_is_ceil_in_over_out():
    x = torch.randn(1, 4, 7, 7)
    cost = only_cost(F.adaptive_avg_pool2d, x, 2)
    assert cost.flops == 4 * 4 * (4 * 4 + 1)  # window ceil(7/2) = 4 per side
