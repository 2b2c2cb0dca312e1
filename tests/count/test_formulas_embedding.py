"""roofline/formulas/embedding.py against closed forms worked out here."""

import torch
import torch.nn.functional as F

from roofline.count.categories import EMBEDDING
from tests.conftest import only_cost


def test_embedding_reads_only_the_gathered_rows():
    table = torch.nn.Embedding(1000, 64)
    idx = torch.randint(0, 1000, (4, 10))
    cost = only_cost(table, idx)
    assert cost.flops == 0
    assert cost.bytes_read == 40 * 64 * 4 + 40 * 8  # 40 rows of 64 fp32, plus int64 indices
    assert cost.bytes_written == 4 * 10 * 64 * 4
    assert cost.category == EMBEDDING


def test_embedding_bag_sum_with_offsets():
    bag = torch.nn.EmbeddingBag(100_000, 16, mode="sum")
    idx = torch.randint(0, 100_000, (30,))
    offsets = torch.tensor([0, 10, 25])
    cost = only_cost(bag, idx, offsets)
    assert cost.flops == 30 * 16  # one add per gathered element
    rows = 30 * 16 * 4
    assert cost.bytes_read == rows + 30 * 8 + 3 * 8  # never the 6.4 MB table
    assert cost.bytes_written >= 3 * 16 * 4


def test_embedding_bag_per_sample_weights_add_a_multiply():
    weight = torch.randn(50, 8)
    idx = torch.randint(0, 50, (12,))
    offsets = torch.tensor([0, 6])
    psw = torch.rand(12)
    cost = only_cost(F.embedding_bag, idx, weight, offsets, mode="sum", per_sample_weights=psw)
    assert cost.flops == 2 * 12 * 8
    assert cost.bytes_read == 12 * 8 * 4 + 12 * 8 + 2 * 8 + 12 * 4


def test_embedding_bag_table_1000x_larger_than_the_rows_it_gathers():
    rows, dim, lookups = 24_000, 8, 24  # the table holds 1000x the rows looked up
    bag = torch.nn.EmbeddingBag(rows, dim, mode="mean")
    idx = torch.randint(0, rows, (lookups,))
    offsets = torch.tensor([0, 8, 16])
    cost = only_cost(bag, idx, offsets)
    gathered = lookups * dim * 4
    assert cost.bytes_read == gathered + lookups * 8 + 3 * 8
    table = rows * dim * 4
    assert table == 1000 * gathered and cost.bytes_read < table / 500
    # mean: an add per gathered element (the divide per output is not counted).
    assert cost.flops == lookups * dim


def test_embedding_bag_bytes_formula_matches_the_kernel_outputs():
    from roofline.count.formulas.embedding import embedding_bag_bytes

    for mode in ("sum", "mean", "max"):
        bag = torch.nn.EmbeddingBag(100, 6, mode=mode)
        idx, offsets = torch.randint(0, 100, (12,)), torch.tensor([0, 5, 9])
        cost = only_cost(bag, idx, offsets)
        assert embedding_bag_bytes(3, 12, 6, 4, mode) == (cost.bytes_read, cost.bytes_written), mode


def test_embedding_reads_at_most_the_table():
    # 100 lookups into a 10-row table of dim 4 (float32, 160 B): at most the 10 distinct
    # rows are read, 160 B, plus the int64 indices, 100 * 8 = 800 B: 960 B (counting a
    # row per lookup gave 100 * 16 + 800 = 2400 B). Output: 100 * 4 * 4 = 1600 B.
    table = torch.nn.Embedding(10, 4)
    idx = torch.randint(0, 10, (5, 20))
    cost = only_cost(table, idx)
    assert (cost.bytes_read, cost.bytes_written) == (960, 1600)
    # A bag over the same lookups in 5 bags: 160 + 800 + offsets 5 * 8 = 1000 B read.
    bag = torch.nn.EmbeddingBag(10, 4, mode="sum")
    cost = only_cost(bag, idx.flatten(), torch.arange(0, 100, 20))
    assert cost.bytes_read == 1000
    assert cost.flops == 100 * 4  # one add per gathered element, repeats included
