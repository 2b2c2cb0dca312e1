"""GEMM efficiency on GPUs from tile and wave quantization.

A GPU GEMM library tiles the (batch x M x N) output into thread-block tiles of tm x tn,
each tile computing its whole K reduction on one SM. An SM runs a few tiles at once; the
tiles run in waves of (SMs x tiles per SM). Three losses follow, all from the shapes:

- tile quantization: a ragged edge tile costs a whole tile (M=129 with tm=128 computes
  two row tiles of 128, 50% wasted);
- wave quantization: the last wave may leave SMs idle (109 tiles on 108 SMs take two
  waves, the second one nearly empty);
- reduction depth: each tile pays a fixed prologue and epilogue (loading the first
  fragments, writing the output) worth ``k_overhead`` extra steps of its K loop.

When the output has fewer tiles than the device has slots, libraries split K over
several tiles (split-K) and add the partial results: here each tile's K is split as many
ways as fill the free slots, every part paying the tile's fixed ``k_overhead`` again
(which is what keeps a split from paying off on a short K). The split depends on the
output's tiles only, so time never falls as any dimension grows.

The library picks, per problem, the tile that finishes first; so does this model, over
the tile menu of the device's architecture. The result is the fraction of the peak
the GEMM attains: useful FLOPs over the FLOPs the occupied slots could have done.
Everything is vectorised over arrays of problems, so a whole model costs a few numpy
operations per tile shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "TILE_MENUS", "gemm_efficiency"]


@dataclass(frozen=True)
class Tile:
    """One thread-block tile shape of a GEMM library: tm x tn outputs per tile, and how
    many such tiles one SM keeps resident at once (limited by registers and shared
    memory; smaller tiles fit more)."""

    tm: int
    tn: int
    per_sm: int


#: Tile menus by architecture family and operand class ("simt": fp32 on CUDA cores,
#: "tensor": fp16/bf16/tf32/fp8/int8 on tensor cores). From the kernel names cuBLAS
#: launches (ampere_sgemm_128x64_tn, volta_sgemm_128x32_nn, sm80_xmma_gemm_..._128x128,
#: ...) and CUTLASS's default tile configurations; per_sm from their register and
#: shared-memory footprints (one 256-thread 128x128 SIMT tile fills most of an SM's
#: register file).
_SIMT = (Tile(128, 128, 1), Tile(128, 64, 2), Tile(64, 128, 2), Tile(128, 32, 2), Tile(32, 128, 2), Tile(64, 64, 3), Tile(64, 32, 4), Tile(32, 32, 6))
_TENSOR = (Tile(256, 128, 1), Tile(128, 256, 1), Tile(128, 128, 2), Tile(128, 64, 2), Tile(64, 128, 2), Tile(64, 64, 4))
TILE_MENUS: dict[str, tuple[Tile, ...]] = {"simt": _SIMT, "tensor": _TENSOR}


def _ceil_div(a: np.ndarray, b: float) -> np.ndarray:
    return np.ceil(a / b)


def _tile_time(batch, m, n, k, tile: Tile, sms: int, k_overhead: float, split_k: bool) -> np.ndarray:
    """Time of every problem on one tile shape, in units of (one SM's peak) x (tm*tn FMA
    steps): waves x tiles an SM runs at once x (K steps per tile + overhead)."""
    tiles = batch * _ceil_div(m, tile.tm) * _ceil_div(n, tile.tn)
    slots = float(sms * tile.per_sm)
    # Split K to fill the slots a single wave leaves free (still one wave).
    split = np.maximum(np.floor(slots / tiles), 1.0) if split_k else np.ones_like(tiles)
    k_per_tile = _ceil_div(k, split)
    waves = _ceil_div(tiles * split, slots)
    return waves * tile.per_sm * tile.tm * tile.tn * (k_per_tile + k_overhead)


def gemm_efficiency(
    batch: np.ndarray,
    m: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    *,
    sms: int,
    menu: tuple[Tile, ...],
    k_overhead: float = 0.0,
    split_k: bool = True,
) -> np.ndarray:
    """Fraction of the device's peak (0, 1] that a batch x (M x K) @ (K x N) GEMM attains
    from tile, wave and reduction-depth losses alone, with the best tile of ``menu``.

    sms: streaming multiprocessors (compute units) of the device; k_overhead: fixed
    steps of K each tile (and each split-K part) pays, for its prologue and epilogue;
    split_k: whether a product with fewer tiles than slots splits its K. Multiply by the kernel's peak efficiency on ideal shapes to get
    the attained fraction. Arrays broadcast; sizes below 1 count as 1.
    """
    batch, m, n, k = (np.maximum(np.asarray(x, dtype=float), 1.0) for x in (batch, m, n, k))
    best = np.full(np.broadcast(batch, m, n, k).shape, np.inf)
    for tile in menu:
        best = np.minimum(best, _tile_time(batch, m, n, k, tile, sms, k_overhead, split_k))
    # Useful work in the same units: every SM busy on tm*tn FMA steps over the whole K.
    useful = batch * m * n * k / sms
    return np.minimum(useful / best, 1.0)
