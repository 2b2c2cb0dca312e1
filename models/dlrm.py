"""DLRM-style recommender (Naumov et al., "Deep Learning Recommendation Model for
Personalization and Recommendation Systems", 2019), following the structure of the
reference ``dlrm_s_pytorch.py``:

    dense features (13) -> bottom MLP (ReLU after every layer) -> x      (B, d)
    26 sparse features  -> nn.EmbeddingBag(mode="sum", offsets)  -> e_k (B, d) each
    dot interaction: T = [x, e_1..e_26] (B, 27, d); Z = T T^T; keep the 27*26/2 = 351
        strictly-lower-triangular pairs; concatenate with x          (B, d + 351)
    top MLP (ReLU between layers) -> sigmoid                         (B, 1)

Configurations (``config=``):

* ``"small"`` (default): 26 tables of ``rows`` = 100,000 rows each, dim 64, bottom MLP
  13-512-256-64, top MLP 415-512-512-256-1 (the reference's Criteo Kaggle MLP shapes).
  About 166M embedding parameters (666 MB in fp32); pass ``rows=`` to shrink it.
* ``"mlperf"``: MLPerf DLRM training on Criteo Terabyte (``--max-ind-range=40000000``):
  dim 128, bottom MLP 13-512-256-128, top MLP 479-1024-1024-512-256-1 and the 26 table
  sizes of the reference (each capped at 40M rows), 187.8M rows = 24.0B embedding
  parameters (96 GB in fp32): build it on meta.

``pooling`` sets the multi-hot bag size (indices per bag, default 1 as in Criteo).
Inputs are ``(dense (B, 13) float32, indices (26, B*pooling) int64, offsets (26, B)
int64)``; ``indices[k]`` / ``offsets[k]`` feed table ``k``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DLRM", "MLPERF_TABLE_ROWS", "build_dlrm", "ZOO"]

# MLPerf DLRM reference (Criteo Terabyte, max_ind_range = 40,000,000).
MLPERF_TABLE_ROWS = (
    39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346,
    10, 2208, 11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108,
    36,
)

CONFIGS = {
    "small": dict(dim=64, bottom=(512, 256), top=(512, 512, 256, 1)),
    "mlperf": dict(dim=128, bottom=(512, 256), top=(1024, 1024, 512, 256, 1),
                   table_rows=MLPERF_TABLE_ROWS),
}
DENSE_FEATURES = 13
SPARSE_FEATURES = 26


def _mlp(sizes: list[int], final_sigmoid: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(cin, cout))
        last = i == len(sizes) - 2
        layers.append(nn.Sigmoid() if last and final_sigmoid else nn.ReLU())
    return nn.Sequential(*layers)


class DotInteraction(nn.Module):
    """Pairwise dot products of the feature vectors, strictly lower triangle, plus x."""

    def __init__(self, num_vectors: int):
        super().__init__()
        rows, cols = torch.tril_indices(num_vectors, num_vectors, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, x: torch.Tensor, embeddings: list[torch.Tensor]) -> torch.Tensor:
        t = torch.stack([x, *embeddings], dim=1)           # (B, 27, d)
        z = torch.bmm(t, t.transpose(1, 2))                 # (B, 27, 27)
        pairs = z[:, self.rows, self.cols]                  # (B, 351)
        return torch.cat((x, pairs), dim=1)


class DLRM(nn.Module):
    def __init__(self, table_rows: tuple[int, ...], dim: int, bottom: tuple[int, ...],
                 top: tuple[int, ...]):
        super().__init__()
        self.bottom_mlp = _mlp([DENSE_FEATURES, *bottom, dim], final_sigmoid=False)
        self.embeddings = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum")
                                        for rows in table_rows)
        vectors = len(table_rows) + 1
        self.interaction = DotInteraction(vectors)
        self.top_mlp = _mlp([dim + vectors * (vectors - 1) // 2, *top], final_sigmoid=True)

    def forward(self, dense: torch.Tensor, indices: torch.Tensor,
                offsets: torch.Tensor) -> torch.Tensor:
        x = self.bottom_mlp(dense)
        pooled = [bag(indices[k], offsets[k]) for k, bag in enumerate(self.embeddings)]
        return self.top_mlp(self.interaction(x, pooled))


def build_dlrm(batch: int = 1, config: str = "small", pooling: int = 1,
               rows: int = 100_000, dim: int | None = None):
    """DLRM (Naumov et al. 2019; MLPerf DLRM reference sizes for ``config="mlperf"``).

    Options: ``config`` ("small" or "mlperf"), ``pooling`` (indices per bag, default 1),
    ``rows`` (rows per table for "small", default 100,000), ``dim`` (embedding dim
    override for "small"; default 64). Returns ``(model, (dense, indices, offsets))``;
    the model returns click probabilities (batch, 1).
    """
    if config not in CONFIGS:
        raise ValueError(f"config={config!r}: expected one of {sorted(CONFIGS)}")
    if pooling < 1:
        raise ValueError(f"pooling={pooling}: expected at least 1 index per bag")
    cfg = dict(CONFIGS[config])
    if config == "small":
        cfg["table_rows"] = (rows,) * SPARSE_FEATURES
        if dim is not None:
            cfg["dim"] = dim
    elif dim is not None:
        raise ValueError("dim= only applies to config='small'")
    model = DLRM(**cfg).eval()
    dense = torch.rand(batch, DENSE_FEATURES)
    indices = torch.stack([torch.randint(0, n, (batch * pooling,))
                           for n in cfg["table_rows"]])
    offsets = (torch.arange(batch) * pooling).expand(SPARSE_FEATURES, batch).contiguous()
    return model, (dense, indices, offsets)


ZOO = {"dlrm": build_dlrm}
