"""roofline/formulas/movement.py against closed forms worked out here."""

import torch

from roofline.categories import DATA_MOVE, DATA_TRANSFORM, SPARSE_MM
from tests.conftest import costs_of, only_cost


def test_transpose_made_contiguous_is_a_data_transform():
    x = torch.randn(32, 64)
    cost = only_cost(lambda t: t.t().contiguous(), x)
    assert cost.category == DATA_TRANSFORM
    assert cost.bytes_read == cost.bytes_written == 32 * 64 * 4


def test_plain_clone_is_data_move():
    cost = only_cost(torch.clone, torch.randn(100))
    assert cost.category == DATA_MOVE and cost.bytes_read == 400 and cost.bytes_written == 400


def test_dtype_cast_reads_one_width_and_writes_another():
    cost = only_cost(lambda t: t.to(torch.float16), torch.randn(100))
    assert cost.bytes_read == 400 and cost.bytes_written == 200


def test_cat_reads_each_input_and_writes_the_result():
    a, b = torch.randn(10, 4), torch.randn(6, 4)
    cost = only_cost(torch.cat, [a, b])
    assert cost.category == DATA_TRANSFORM
    assert cost.bytes_read == 16 * 4 * 4 and cost.bytes_written == 16 * 4 * 4


def test_index_gathers_only_the_selected_rows():
    table = torch.randn(10_000, 32)
    idx = torch.randint(0, 10_000, (50,))
    cost = only_cost(lambda t, i: t[i], table, idx)
    assert cost.bytes_read == 50 * 32 * 4 + 50 * 8


def test_views_cost_nothing():
    x = torch.randn(4, 6)
    assert costs_of(lambda t: t.view(6, 4).t().unsqueeze(0)[:, 1:], x) == []


def test_index_add_is_message_passing():
    target = torch.zeros(100, 16)
    src = torch.randn(500, 16)
    idx = torch.randint(0, 100, (500,))
    cost = only_cost(lambda: target.index_add_(0, idx, src))
    assert cost.category == SPARSE_MM
    assert cost.flops == 500 * 16
    # src and index read; touched target rows read and written (at most the whole target)
    assert cost.bytes_read == 500 * 16 * 4 + 500 * 8 + 100 * 16 * 4
    assert cost.bytes_written == 100 * 16 * 4


def test_fill_writes_only():
    cost = only_cost(lambda: torch.zeros(64, 64))
    assert cost.bytes_read == 0 and cost.bytes_written == 64 * 64 * 4
