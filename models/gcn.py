"""Two-layer graph convolutional network (Kipf & Welling, "Semi-Supervised
Classification with Graph Convolutional Networks", ICLR 2017) on a Cora-sized graph:
2,708 nodes, 1,433 input features, 16 hidden units, 7 classes, 10,556 directed edges
drawn at random with a fixed seed (Cora's node/edge counts, not its edges).

    H1 = ReLU(A_hat X W1 + b1);  out = log_softmax(A_hat H1 W2 + b2)
    A_hat = D^-1/2 (A + I) D^-1/2

Two aggregation modes:

* default (``sparse=False``): message passing over ``edge_index`` (2, E) -- self loops
  appended, symmetric degree normalisation computed with ``index_add_``, messages
  gathered with ``index_select`` and summed into target nodes with ``index_add_``.
  Works on meta tensors. Inputs ``(x (N, F), edge_index (2, E) int64)``.
* ``sparse=True``: the normalised adjacency is built once (in the build function, on
  real tensors) as a sparse COO (``layout="coo"``) or CSR (``layout="csr"``) matrix and
  aggregated with ``torch.sparse.mm``. Inputs ``(x, adjacency)``. Not available on meta
  (sparse tensors have no meta support).

Dropout (p=0.5) is kept as in the paper; it is a no-op in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import default_device, seeded_randint

__all__ = ["GCN", "normalized_edge_weights", "normalized_adjacency", "build_gcn", "ZOO"]

CORA_NODES, CORA_FEATURES, CORA_CLASSES, CORA_EDGES = 2708, 1433, 7, 10556


def normalized_edge_weights(edge_index: torch.Tensor, num_nodes: int):
    """Append self loops and return (src, dst, weight) with weight = 1/sqrt(d_src d_dst)."""
    loops = torch.arange(num_nodes, device=edge_index.device, dtype=edge_index.dtype)
    src = torch.cat((edge_index[0], loops))
    dst = torch.cat((edge_index[1], loops))
    ones = torch.ones(src.shape[0], device=edge_index.device)
    degree = torch.zeros(num_nodes, device=edge_index.device).index_add_(0, dst, ones)
    inv_sqrt = degree.rsqrt()  # every node has its self loop, so degree >= 1
    weight = inv_sqrt.index_select(0, src) * inv_sqrt.index_select(0, dst)
    return src, dst, weight


def normalized_adjacency(edge_index: torch.Tensor, num_nodes: int,
                         layout: str = "coo") -> torch.Tensor:
    """A_hat as a sparse (num_nodes, num_nodes) matrix, rows = targets (real tensors only)."""
    src, dst, weight = normalized_edge_weights(edge_index, num_nodes)
    adj = torch.sparse_coo_tensor(torch.stack((dst, src)), weight, (num_nodes, num_nodes),
                                  check_invariants=True).coalesce()
    if layout == "csr":
        return adj.to_sparse_csr()
    if layout != "coo":
        raise ValueError(f"layout={layout!r}: expected 'coo' or 'csr'")
    return adj


class GraphConv(nn.Module):
    """X -> A_hat X W + b (transform first, then aggregate: the cheaper order here)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.linear = nn.Linear(cin, cout, bias=False)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, graph) -> torch.Tensor:
        h = self.linear(x)
        if isinstance(graph, torch.Tensor):  # sparse adjacency
            out = torch.sparse.mm(graph, h)
        else:
            src, dst, weight = graph
            messages = h.index_select(0, src) * weight.unsqueeze(1)
            out = torch.zeros_like(h).index_add_(0, dst, messages)
        return out + self.bias


class GCN(nn.Module):
    def __init__(self, features: int = CORA_FEATURES, hidden: int = 16,
                 classes: int = CORA_CLASSES, dropout: float = 0.5, sparse: bool = False):
        super().__init__()
        self.sparse = sparse
        self.dropout = nn.Dropout(dropout)
        self.conv1 = GraphConv(features, hidden)
        self.conv2 = GraphConv(hidden, classes)

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        if self.sparse:
            if not graph.is_sparse and graph.layout != torch.sparse_csr:
                raise ValueError("GCN(sparse=True) expects a sparse COO/CSR adjacency")
        else:
            graph = normalized_edge_weights(graph, x.shape[0])
        h = torch.relu(self.conv1(self.dropout(x), graph))
        h = self.conv2(self.dropout(h), graph)
        return F.log_softmax(h, dim=1)


def build_gcn(batch: int = 1, nodes: int = CORA_NODES, features: int = CORA_FEATURES,
              hidden: int = 16, classes: int = CORA_CLASSES, edges: int = CORA_EDGES,
              sparse: bool = False, layout: str = "coo", seed: int = 0):
    """Two-layer GCN (Kipf & Welling 2017), Cora sizes by default.

    Options: ``nodes``, ``features``, ``hidden``, ``classes``, ``edges`` (directed edges,
    drawn uniformly with ``seed``), ``sparse`` (aggregate with ``torch.sparse.mm`` over a
    prebuilt normalised adjacency instead of index_add_ message passing; real tensors
    only), ``layout`` ("coo" or "csr", with ``sparse=True``). ``batch`` graphs are
    handled as one disjoint graph of ``batch * nodes`` nodes (as graph libraries batch).
    Returns ``(model, (x, edge_index))`` or ``(model, (x, adjacency))``; the model
    returns per-node log-probabilities (batch * nodes, classes).
    """
    total_nodes = batch * nodes
    edge_index = seeded_randint(0, nodes, (2, edges), seed=seed)
    if batch > 1:  # disjoint union: shift each copy's node ids
        shift = (torch.arange(batch) * nodes).repeat_interleave(edges)
        edge_index = edge_index.repeat(1, batch) + shift
    model = GCN(features, hidden, classes, sparse=sparse).eval()
    x = torch.randn(total_nodes, features)
    if not sparse:
        return model, (x, edge_index)
    if default_device().type == "meta":
        raise ValueError("gcn sparse=True needs real tensors: sparse tensors do not "
                         "work on the meta device; use the default sparse=False there")
    return model, (x, normalized_adjacency(edge_index, total_nodes, layout))


ZOO = {"gcn": build_gcn}
