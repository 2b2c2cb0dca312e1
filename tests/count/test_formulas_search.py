"""roofline/count/formulas/search.py: searching, counting and selection, worked out by hand
(comparisons are FLOPs; median by Knuth's average for selection)."""

import math

import pytest
import torch

from tests.conftest import only_cost


def flops_of(fn, op=None):
    return only_cost(fn, op=op).flops


X = torch.randn(4, 16)


@pytest.mark.parametrize("fn, op, expected", [
    (lambda: torch.nonzero(X), "aten.nonzero", 64),  # one test per element
    (lambda: torch.histc(X, bins=8), "aten.histc", 5 * 64),  # min, max, then 3 to bin
    (lambda: torch.histc(X, bins=8, min=-1, max=1), "aten.histc", 3 * 64),
    (lambda: torch.histogram(X, bins=8), "aten.histogram", 5 * 64),
    (lambda: torch.bincount(torch.tensor([0, 1, 1, 3, 2])), "aten.bincount", 5),
    # 10 sorted boundaries: ceil(log2 11) = 4 compares per value.
    (lambda: torch.bucketize(X, torch.arange(10.0)), "aten.bucketize", 4 * 64),
    (lambda: torch.searchsorted(torch.arange(10.0), X), "aten.searchsorted", 4 * 64),
    (lambda: torch.floor_divide(X, 3), "aten.floor_divide", 2 * 64),  # divide, floor
    # Median by selection: 2(1 + ln 2) compares per element.
    (lambda: torch.median(X), "aten.median", 2 * (1 + math.log(2)) * 64),
    (lambda: torch.median(X, dim=1), "aten.median", 2 * (1 + math.log(2)) * 64),
    # Mode: sort the 20 values (20 log2 20) then scan them (20).
    (lambda: torch.mode(torch.tensor([0, 1, 1, 3, 2] * 4)), "aten.mode", 20 * math.log2(20) + 20),
])
def test_search_and_selection(fn, op, expected):
    assert flops_of(fn, op=op) == pytest.approx(expected)
