"""GPU fused attention (flash-style kernels) by tiles of queries and keys.

A flash kernel gives each block a tile of queries and walks the keys a tile at a time:
per (query tile x key tile) it runs two products on the matrix units (Q K^T and P V:
4 x rows x keys x head_dim FLOPs) and one exponential per score on the special function
units, which issue 16 a clock per SM on every architecture from Volta to Hopper (CUDA C
Programming Guide, throughput of native arithmetic instructions: exp2, 32-bit). A score
costs 4 x head_dim FLOPs against one exponential: on an H100 SXM (989 TFLOP/s of bf16
products, 16 x 132 SMs x 1.83 GHz = 3.9 T exponentials/s: the FlashAttention-3 paper's
figures) the exponentials take half the products' time at head_dim 128 and as long at 64.
Kernels overlap the two only in part (FlashAttention-3's own ablation: pipelining them
buys 14%), so this model adds them. Published forward plateaus sit 0-10% under that sum
at the full matrix peak (FA3 on H100: 497 / 648-661 / 756 TFLOP/s at head_dim 64 / 128 /
256 against 495 / 659 / 791 for the sum; FA2 on A100: 192 / 225 against 208 / 250).

Tiles, the way shapes lose: queries run in tiles of QUERY_TILE rows (a short query, a
decode step, in tiles of at least MMA_ROWS: the matrix instruction's rows), keys in tiles
of KEY_TILE; a causal mask (top left, as torch's is_causal) leaves query tile i the key
tiles up to its diagonal, the diagonal one computed whole. Each query tile pays a fixed
cost worth QUERY_TILE_FIXED key tiles: loading its queries, filling the pipeline,
normalising and writing its output, which is what makes short sequences slow.

A backward runs BACKWARD_PRODUCTS times the products on the same tiles, its
exponentials again, and adds each tile's query gradient into an fp32 buffer through L2
(DQ_ACCUMULATOR_BYTES); its two memory-bound helper kernels (dO x O row sums before, the
query gradient's conversion after) are left out (docs/fidelity-attention.md).

Which kernel this describes: one that reaches the spec's matrix efficiency on its
products. PyTorch's SDPA runs FlashAttention-2 on A100 (within 10% of this model), and on
H100 cuDNN's kernel where its bundled cuDNN is recent enough (recent releases; within
10%), else FlashAttention-2, whose Ampere instructions (mma.sync) reach about half of
Hopper's peak: this model is about 35% fast for it (docs/fidelity-attention.md).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BACKWARD_PRODUCTS", "DQ_ACCUMULATOR_BYTES", "KEY_TILE", "MMA_ROWS", "QUERY_TILE", "QUERY_TILE_FIXED", "SPECIAL_PER_SM_CLOCK", "attention_tiles",
           "causal_mask", "gpu_attention_s"]

#: Queries and keys per tile of FlashAttention-2/3's forward kernels at head_dim 64-128.
QUERY_TILE = 128
KEY_TILE = 128
#: Rows of the smallest matrix instruction (mma m16): a shorter query still fills them.
MMA_ROWS = 16
#: Exponentials (special function unit results) per clock per SM, compute capability 7.0-9.0.
SPECIAL_PER_SM_CLOCK = 16
#: Fixed cost of a query tile, in key tiles (loading Q, filling the pipeline, normalising
#: and storing O). Fitted: FlashAttention-3's forward at head_dim 128, non-causal, from
#: 512 to 16k tokens (its paper's Figure 5), the rate at each length over the 16k one
#: against n / (n + c) with n = L / 128 key tiles: c of 1.0-1.7.
QUERY_TILE_FIXED = 1.3


def causal_mask(flops: np.ndarray, attention: tuple[np.ndarray, ...], products: np.ndarray | float = 1.0) -> np.ndarray:
    """Per op, whether a fused attention ran under a causal mask: its counted ``flops``
    (FLOP) fall short of the full square's, ``products`` x 4 x heads x q_len x kv_len x
    head_dim (``attention``'s arrays; ``products`` BACKWARD_PRODUCTS for a backward)."""
    heads, q_len, kv_len, head_dim = (np.asarray(a, dtype=float) for a in attention)
    with np.errstate(invalid="ignore"):
        return np.asarray(flops, dtype=float) < 0.999 * np.asarray(products, dtype=float) * 4.0 * heads * q_len * kv_len * head_dim


def attention_tiles(q_len: np.ndarray, kv_len: np.ndarray, causal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query tiles, (query x key) tiles computed, rows per query tile) of one head:
    ceil(q / QUERY_TILE) query tiles of min(QUERY_TILE, q rounded up to MMA_ROWS) rows;
    every key tile for each (ceil(kv / KEY_TILE)), or under a causal mask the tiles up to
    the diagonal, min(i + 1, key tiles) for query tile i (query tiles of the key tiles'
    size, q <= kv as a causal call has them)."""
    q_len, kv_len, causal = np.broadcast_arrays(np.asarray(q_len, dtype=float), np.asarray(kv_len, dtype=float),
                                                np.asarray(causal, dtype=bool))
    rows = np.minimum(QUERY_TILE, MMA_ROWS * np.ceil(np.maximum(q_len, 1.0) / MMA_ROWS))
    q_tiles = np.ceil(np.maximum(q_len, 1.0) / rows)
    kv_tiles = np.ceil(np.maximum(kv_len, 1.0) / KEY_TILE)
    # sum over i < q_tiles of min(i + 1, kv_tiles): a triangle up to kv_tiles, then full rows
    full_rows = np.maximum(q_tiles - kv_tiles, 0.0)
    triangle_rows = q_tiles - full_rows
    causal_tiles = triangle_rows * (triangle_rows + 1.0) / 2.0 + full_rows * kv_tiles
    return q_tiles, np.where(causal, causal_tiles, q_tiles * kv_tiles), rows


#: Products of a backward pass over a forward's: it recomputes Q K^T and differentiates
#: both products (five GEMMs of the tile's size against two), and recomputes one
#: exponential per score.
BACKWARD_PRODUCTS = 2.5
#: Bytes per element of the query gradient a backward accumulates: FlashAttention-2 and
#: -3 walk the query tiles inside a key tile's block and add each tile's share of dQ into
#: an fp32 buffer in global memory with atomic adds (the FlashAttention-2 paper on the
#: backward's parallelism; FA3's backward, its dQ warp), reductions the L2 carries out:
#: rows x head_dim x 4 bytes through L2 per tile.
DQ_ACCUMULATOR_BYTES = 4


def gpu_attention_s(attention: tuple[np.ndarray, ...], causal: np.ndarray, *, matrix_flops: np.ndarray,
                    special_per_s: float, products: np.ndarray | float = 1.0, l2_bw: float = np.inf) -> np.ndarray:
    """Seconds of a fused attention on a GPU, over its tiles (module doc): per computed
    tile the products at ``matrix_flops`` (FLOP/s attained on the matrix units) plus the
    exponentials at ``special_per_s`` (exponentials per second, the device's), plus for a
    backward its query gradient's accumulation through L2 (DQ_ACCUMULATOR_BYTES per
    element at ``l2_bw``, B/s), and per query tile QUERY_TILE_FIXED tiles more.
    ``attention``: (heads, q_len, kv_len, head_dim) arrays (heads = batch x heads);
    ``causal``: the call's mask; ``products``: the tile's products over a forward's
    (BACKWARD_PRODUCTS for a backward). NaN where a shape is missing."""
    heads, q_len, kv_len, head_dim = (np.asarray(a, dtype=float) for a in attention)
    q_tiles, tiles, rows = attention_tiles(q_len, kv_len, causal)
    products = np.asarray(products, dtype=float)
    accumulate_s = np.where(products > 1.0, rows * head_dim * DQ_ACCUMULATOR_BYTES / l2_bw, 0.0)
    per_tile_s = (products * 4.0 * rows * KEY_TILE * head_dim / np.asarray(matrix_flops, dtype=float)
                  + rows * KEY_TILE / special_per_s + accumulate_s)
    return heads * (tiles + QUERY_TILE_FIXED * q_tiles) * per_tile_s
