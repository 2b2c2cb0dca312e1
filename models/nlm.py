"""Neural Logic Machines (Dong et al., ICLR 2019) on their three decision-making tasks.

One of the three neuro-symbolic workloads profiled by the seed paper (Susskind et al.,
2021). Predicates of arity r over N objects are tensors [B, N, ..., N, C] (r object
dims). A logic layer, for every arity r = 0..breadth, gathers
  expand(arity r-1)  - broadcast one more object dim (a free variable),
  the arity-r input itself,
  reduce(arity r+1)  - max and min over the last object dim (exists / forall), with
                       tuples that repeat an object masked out (exclude_self),
concatenates them on channels, permutes the object dims in all r! orders and
concatenates those (r! x channels), then applies a per-arity MLP with no hidden
layer (Linear + sigmoid) giving ``attributes`` (8) output channels; with
``residual`` the layer's input is concatenated to its output. Submodules:
``nlm.layers.<i>.{expand,reduce,permute,logic}.<arity>`` and the task head.

Tasks, depth / breadth / flags as in the authors' release scripts
(github.com/google/neural-logic-machines, scripts/*/learn_policy.py and README):

``nlm-path`` (shortest path, graph task; also ``nlm``)
    Unary inputs [B, N, 2] (current node, target node), binary [B, N, N, 2] (edges
    both ways); depth 5, breadth 3, residual; the unary output feeds a Linear(., 1)
    policy over the N nodes. Trained on small graphs (curriculum up to 12 nodes),
    tested on 10 to 50: N = 50.
``nlm-sort`` (sorting)
    Binary inputs [B, N, N, 6] (index and value comparisons <, =, >); depth 3,
    breadth 2 (the release's README); the binary output, diagonal removed, feeds a
    policy over the N (N - 1) swaps. Trained up to 10 numbers, tested on 10 to 50:
    N = 50.
``nlm-blocks`` (blocks world)
    State [B, 2 (m + 1), 4] (world id, block id, x, y of the m blocks and the ground
    in the current and the target world), turned into binary comparisons (12
    channels); depth 7, breadth 2, residual; unary outputs of the two worlds are
    joined and paired into a policy over the (m + 1) m moves. Trained up to 12
    blocks, tested on 10 to 50: m = 50 (102 objects).

Options: n_objects (nodes, numbers or blocks), depth, breadth, attributes,
residual, exclude_self.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import torch
import torch.nn as nn


def _object_dims(arity: int) -> list[int]:
    """Positions of the object dims of an arity-r predicate [B, N x r, C]."""
    return list(range(1, arity + 1))


class Expand(nn.Module):
    """Arity r -> r + 1: broadcast a new last object dim of size N."""

    def __init__(self, arity: int) -> None:
        super().__init__()
        self.arity = arity

    def forward(self, x: torch.Tensor, n_objects: int) -> torch.Tensor:
        shape = list(x.shape)
        shape.insert(self.arity + 1, n_objects)
        return x.unsqueeze(self.arity + 1).expand(shape)


class Reduce(nn.Module):
    """Arity r -> r - 1: exists (max) and forall (min) over the last object dim.

    With ``exclude_self``, entries whose object indices are not all distinct are
    masked (to 0 for exists, 1 for forall) first. Output channels: 2 x input.
    """

    def __init__(self, arity: int, exclude_self: bool = True) -> None:
        super().__init__()
        self.arity = arity
        self.exclude_self = exclude_self

    def distinct_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean [N, ..., N, 1] (r object dims): True where all indices differ."""
        n = x.shape[1]
        index = torch.arange(n, device=x.device)
        views = []
        for dim in range(self.arity):
            shape = [1] * self.arity
            shape[dim] = n
            views.append(index.view(shape))
        mask = None
        for first, second in itertools.combinations(range(self.arity), 2):
            differ = views[first] != views[second]
            mask = differ if mask is None else mask & differ
        return mask.unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduce_dim = self.arity  # last object dim
        if self.exclude_self and self.arity > 1:
            mask = self.distinct_mask(x)
            exists = torch.where(mask, x, 0.0).amax(dim=reduce_dim)
            forall = torch.where(mask, x, 1.0).amin(dim=reduce_dim)
        else:
            exists = x.amax(dim=reduce_dim)
            forall = x.amin(dim=reduce_dim)
        return torch.cat([exists, forall], dim=-1)


class Permute(nn.Module):
    """All r! orders of the object dims, concatenated on channels (r! x channels)."""

    def __init__(self, arity: int) -> None:
        super().__init__()
        self.arity = arity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.arity <= 1:
            return x
        dims = _object_dims(self.arity)
        channel = self.arity + 1
        orders = [x.permute(0, *order, channel) for order in itertools.permutations(dims)]
        return torch.cat(orders, dim=-1)


class LogicLayer(nn.Module):
    """One NLM layer over arities 0..breadth (see the module docstring).

    ``input_dims[r]`` channels come in at arity r (0 = absent); ``output_dims[r]``
    go out (``attributes``, plus the input's with ``residual``; 0 where no input
    reaches arity r).
    """

    def __init__(self, breadth: int, input_dims: Sequence[int], attributes: int = 8,
                 exclude_self: bool = True, residual: bool = False) -> None:
        super().__init__()
        if len(input_dims) != breadth + 1:
            raise ValueError(
                f"LogicLayer: input_dims needs breadth + 1 = {breadth + 1} entries, got {list(input_dims)}"
            )
        self.breadth = breadth
        self.input_dims = list(input_dims)
        self.residual = residual
        self.expand = nn.ModuleDict()
        self.reduce = nn.ModuleDict()
        self.permute = nn.ModuleDict()
        self.logic = nn.ModuleDict()
        self.output_dims = []
        self.mlp_input_dims = []
        for r in range(breadth + 1):
            channels = self.input_dims[r]
            if r > 0 and self.input_dims[r - 1] > 0:
                self.expand[str(r)] = Expand(r - 1)
                channels += self.input_dims[r - 1]
            if r < breadth and self.input_dims[r + 1] > 0:
                self.reduce[str(r)] = Reduce(r + 1, exclude_self)
                channels += 2 * self.input_dims[r + 1]
            channels *= math.factorial(r)
            self.mlp_input_dims.append(channels)
            if channels == 0:
                self.output_dims.append(0)
                continue
            self.permute[str(r)] = Permute(r)
            self.logic[str(r)] = nn.Sequential(nn.Linear(channels, attributes), nn.Sigmoid())
            self.output_dims.append(attributes + (self.input_dims[r] if residual else 0))

    def forward(self, inputs: Sequence[torch.Tensor | None], n_objects: int) -> list[torch.Tensor | None]:
        outputs: list[torch.Tensor | None] = []
        for r in range(self.breadth + 1):
            key = str(r)
            if key not in self.logic:
                outputs.append(None)
                continue
            parts = []
            if key in self.expand:
                parts.append(self.expand[key](inputs[r - 1], n_objects))
            if self.input_dims[r] > 0:
                parts.append(inputs[r])
            if key in self.reduce:
                parts.append(self.reduce[key](inputs[r + 1]))
            gathered = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
            out = self.logic[key](self.permute[key](gathered))
            if self.residual and self.input_dims[r] > 0:
                out = torch.cat([inputs[r], out], dim=-1)
            outputs.append(out)
        return outputs


class LogicMachine(nn.Module):
    """``depth`` logic layers; ``forward(list of predicates by arity) -> list``."""

    def __init__(self, depth: int, breadth: int, input_dims: Sequence[int], attributes: int = 8,
                 exclude_self: bool = True, residual: bool = False) -> None:
        super().__init__()
        self.breadth = breadth
        self.layers = nn.ModuleList()
        dims = list(input_dims)
        for _ in range(depth):
            layer = LogicLayer(breadth, dims, attributes, exclude_self, residual)
            self.layers.append(layer)
            dims = layer.output_dims
        self.output_dims = dims

    def forward(self, inputs: Sequence[torch.Tensor | None], n_objects: int):
        features = list(inputs)
        for layer in self.layers:
            features = layer(features, n_objects)
        return features


def pairs_without_self(x: torch.Tensor) -> torch.Tensor:
    """[B, N, N, C] -> [B, N (N - 1), C]: every ordered pair of distinct objects.

    Drops the diagonal with fixed-shape views: after removing flat entry 0, the
    remaining N^2 - 1 entries split into N - 1 rows of N + 1 whose last entry is
    the next diagonal element.
    """
    b, n, _, c = x.shape
    flat = x.reshape(b, n * n, c)[:, 1:]
    return flat.reshape(b, n - 1, n + 1, c)[:, :, :n].reshape(b, n * (n - 1), c)


def compare_pairs(x: torch.Tensor) -> torch.Tensor:
    """Unary [B, N, D] -> binary [B, N, N, 3D]: x_i < x_j, x_i == x_j, x_i > x_j."""
    first = x.unsqueeze(2)
    second = x.unsqueeze(1)
    return torch.cat([first < second, first == second, first > second], dim=-1).float()


def concat_pairs(x: torch.Tensor) -> torch.Tensor:
    """Unary [B, N, D] -> binary [B, N, N, 2D]: (x_i, x_j)."""
    b, n, d = x.shape
    return torch.cat([x.unsqueeze(2).expand(b, n, n, d), x.unsqueeze(1).expand(b, n, n, d)], dim=-1)


class PairTransform(nn.Module):
    """Unary -> binary predicates: "cmp" (compare_pairs) or "concat" (concat_pairs)."""

    def __init__(self, method: str) -> None:
        super().__init__()
        if method not in ("cmp", "concat"):
            raise ValueError(f"PairTransform: method must be 'cmp' or 'concat', got {method!r}")
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return compare_pairs(x) if self.method == "cmp" else concat_pairs(x)


class DropSelfPairs(nn.Module):
    """Module form of ``pairs_without_self`` (so its copies have a module path)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pairs_without_self(x)


class PathPolicy(nn.Module):
    """Shortest path: next-node policy [B, N] from node markers and edges."""

    def __init__(self, depth: int = 5, breadth: int = 3, attributes: int = 8, residual: bool = True,
                 exclude_self: bool = True) -> None:
        super().__init__()
        dims = [0] * (breadth + 1)
        dims[1], dims[2] = 2, 2
        self.nlm = LogicMachine(depth, breadth, dims, attributes, exclude_self, residual)
        self.policy = nn.Linear(self.nlm.output_dims[1], 1)

    def forward(self, nodes: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        inputs = [None] * (self.nlm.breadth + 1)
        inputs[1], inputs[2] = nodes, edges
        features = self.nlm(inputs, nodes.shape[1])[1]
        return torch.softmax(self.policy(features).squeeze(-1), dim=-1)


class SortPolicy(nn.Module):
    """Sorting: swap policy [B, N (N - 1)] from pairwise comparisons."""

    def __init__(self, depth: int = 3, breadth: int = 2, attributes: int = 8, residual: bool = True,
                 exclude_self: bool = True) -> None:
        super().__init__()
        dims = [0] * (breadth + 1)
        dims[2] = 6
        self.nlm = LogicMachine(depth, breadth, dims, attributes, exclude_self, residual)
        self.pairs = DropSelfPairs()
        self.policy = nn.Linear(self.nlm.output_dims[2], 1)

    def forward(self, comparisons: torch.Tensor) -> torch.Tensor:
        inputs = [None] * (self.nlm.breadth + 1)
        inputs[2] = comparisons
        features = self.nlm(inputs, comparisons.shape[1])[2]
        return torch.softmax(self.policy(self.pairs(features)).squeeze(-1), dim=-1)


class BlocksPolicy(nn.Module):
    """Blocks world: move policy [B, (m + 1) m] from both worlds' block coordinates."""

    def __init__(self, depth: int = 7, breadth: int = 2, attributes: int = 8, residual: bool = True,
                 exclude_self: bool = True) -> None:
        super().__init__()
        if breadth < 2:
            raise ValueError(f"nlm-blocks: option breadth must be at least 2, got {breadth}")
        state_dim = 4
        dims = [0] * (breadth + 1)
        dims[2] = 3 * state_dim
        self.input_transform = PairTransform("cmp")
        self.nlm = LogicMachine(depth, breadth, dims, attributes, exclude_self, residual)
        self.final_transform = PairTransform("concat")
        self.pairs = DropSelfPairs()
        head_dim = 2 * (2 * self.nlm.output_dims[1]) + 3 * 2 * state_dim
        self.policy = nn.Linear(head_dim, 1)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        b, total, _ = states.shape
        m = total // 2  # objects per world (blocks + ground)
        inputs = [None] * (self.nlm.breadth + 1)
        inputs[2] = self.input_transform(states)
        unary = self.nlm(inputs, total)[1]  # [B, 2m, D]
        joined = torch.cat([unary[:, :m], unary[:, m:]], dim=-1)  # same block, both worlds
        joined_states = torch.cat([states[:, :m], states[:, m:]], dim=-1)
        pairs = torch.cat([self.final_transform(joined), self.input_transform(joined_states)], dim=-1)
        return torch.softmax(self.policy(self.pairs(pairs)).squeeze(-1), dim=-1)


TASKS = {
    # task: (policy class, default n_objects = largest test size, depth, breadth)
    "path": (PathPolicy, 50, 5, 3),
    "sort": (SortPolicy, 50, 3, 2),
    "blocks": (BlocksPolicy, 50, 7, 2),
}


def build_nlm(batch: int = 1, *, task: str = "path", n_objects: int | None = None,
              depth: int | None = None, breadth: int | None = None, attributes: int = 8,
              residual: bool = True, exclude_self: bool = True):
    """A Neural Logic Machine policy for ``task`` ("path", "sort" or "blocks").

    Options: task; n_objects (nodes / numbers / blocks; default the paper's largest
    test size, 50); depth and breadth (default the release's per-task values:
    path 5 / 3, sort 3 / 2, blocks 7 / 2); attributes (output channels per arity and
    layer, 8); residual (True); exclude_self (True). Returns ``(model, inputs)``;
    inputs are float32 0/1 predicates (path, sort) or integer-valued coordinates
    (blocks), the output a policy (softmax) over the task's actions.
    """
    if task not in TASKS:
        raise ValueError(f"nlm: option task must be one of {sorted(TASKS)}, got {task!r}")
    policy_cls, default_n, default_depth, default_breadth = TASKS[task]
    n = default_n if n_objects is None else n_objects
    if n < 2:
        raise ValueError(f"nlm: option n_objects must be at least 2, got {n}")
    model = policy_cls(depth or default_depth, breadth or default_breadth, attributes, residual,
                       exclude_self).eval()
    if task == "path":
        nodes = torch.zeros(batch, n, 2)
        nodes[:, 0, 0] = 1.0  # current node
        nodes[:, n - 1, 1] = 1.0  # target node
        edges = (torch.rand(batch, n, n, 1) < 0.3).float()
        return model, (nodes, torch.cat([edges, edges.transpose(1, 2)], dim=-1))
    if task == "sort":
        index = torch.arange(n, dtype=torch.float32).expand(batch, n).unsqueeze(-1)
        values = torch.rand(batch, n, 1)
        comparisons = torch.cat([compare_pairs(index), compare_pairs(values)], dim=-1)
        return model, (comparisons,)
    objects = n + 1  # blocks and the ground, per world
    world = torch.arange(2, dtype=torch.float32).repeat_interleave(objects).expand(batch, 2 * objects)
    block = torch.arange(objects, dtype=torch.float32).repeat(2).expand(batch, 2 * objects)
    coords = torch.randint(0, objects, (batch, 2 * objects, 2)).float()
    return model, (torch.cat([world.unsqueeze(-1), block.unsqueeze(-1), coords], dim=-1),)


def build_nlm_path(batch: int = 1, **options):
    """NLM on shortest path (options as ``build_nlm``; N = 50 nodes by default)."""
    return build_nlm(batch, task="path", **options)


def build_nlm_sort(batch: int = 1, **options):
    """NLM on sorting (options as ``build_nlm``; N = 50 numbers by default)."""
    return build_nlm(batch, task="sort", **options)


def build_nlm_blocks(batch: int = 1, **options):
    """NLM on blocks world (options as ``build_nlm``; 50 blocks = 102 objects by default)."""
    return build_nlm(batch, task="blocks", **options)


ZOO = {
    "nlm": build_nlm,
    "nlm-path": build_nlm_path,
    "nlm-sort": build_nlm_sort,
    "nlm-blocks": build_nlm_blocks,
}
