"""roofline/formulas/pointwise.py against closed forms worked out here."""

import torch

from roofline.count.categories import ELEMENTWISE
from tests.conftest import only_cost


def test_broadcast_add_reads_the_small_operand_at_its_own_size():
    x, bias = torch.randn(32, 64), torch.randn(64)
    cost = only_cost(torch.add, x, bias)
    assert cost.flops == 32 * 64
    assert cost.bytes_read == 32 * 64 * 4 + 64 * 4
    assert cost.bytes_written == 32 * 64 * 4
    assert cost.category == ELEMENTWISE


def test_expanded_operand_costs_its_storage_not_its_view():
    small = torch.randn(1, 64).expand(128, 64)
    cost = only_cost(torch.mul, small, torch.randn(128, 64))
    assert cost.bytes_read == 64 * 4 + 128 * 64 * 4


def test_in_place_relu_reads_and_writes_its_tensor():
    x = torch.randn(1000)
    cost = only_cost(torch.relu_, x)
    assert cost.flops == 1000
    assert cost.bytes_read == 4000 and cost.bytes_written == 4000


def test_tag_fallback_covers_ops_without_a_handler():
    x = torch.randn(10, 10, dtype=torch.float64)
    cost = only_cost(torch.atan2, x, x.clone())
    assert cost.flops == 100
    assert cost.bytes_read == 2 * 100 * 8


def test_multi_flop_ops():
    x = torch.randn(100)
    assert only_cost(torch.addcmul, x, x.clone(), x.clone()).flops == 200


def test_expanded_column_slice_reads_its_distinct_elements_once():
    # y is x's first column broadcast over 100 columns: shape (100, 100), strides (100, 0).
    # Distinct elements read: all of x (100*100) plus y's column (100), float32:
    # (10_000 + 100) * 4 = 40_400 B. Counting y by its span from first to last element
    # (1 + 99*100 = 9_901 elements) gave 40_000 + 39_604 = 79_604 B.
    x = torch.randn(100, 100)
    y = x[:, :1].expand(100, 100)
    cost = only_cost(torch.add, x, y, op="aten.add")
    assert cost.bytes_read == 40_400
    assert cost.bytes_written == 100 * 100 * 4


def test_overlapping_windows_read_each_element_once():
    # unfold(0, 3, 1) of 10 elements: 8 windows of 3 (24 positions) over 10 distinct
    # elements; the sum reads 10 * 4 = 40 B.
    x = torch.randn(10)
    cost = only_cost(lambda: x.unfold(0, 3, 1).sum(-1), op="aten.sum")
    assert cost.bytes_read == 40
