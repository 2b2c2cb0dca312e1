"""roofline/formulas/embedding.py against closed forms worked out here."""

import torch
import torch.nn.functional as F

from roofline.categories import EMBEDDING
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
