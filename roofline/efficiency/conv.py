"""Convolutions on GPUs: the fastest of the algorithms cuDNN has for the shape.

In benchmark mode cuDNN times its algorithms on the first call and keeps the fastest,
so a convolution takes the least of their times. The implicit GEMM (the convolution as
a matrix product of m = N x output pixels, n = output channels, k = input channels x
taps, tiled like any GEMM: roofline.efficiency.gemm) is always there. For a 3x3,
stride-1, undilated, ungrouped 2-D convolution, two Winograd algorithms do fewer
multiplies (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):

- F(4x4, 3x3), non-fused: the input is cut into 6x6 tiles that overlap by 2 (one per
  4x4 block of output), each transformed to 36 values; then 36 independent GEMMs of
  (tiles x C) @ (C x K), one per transformed point; then an output transform back to
  4x4 blocks. 36 multiplies per 4x4 outputs per (C, K) pair against 16 x 9 = 144 for
  the direct product: 4x fewer. Four kernels (data, filter and output transforms, the
  batched GEMM), their intermediates through memory.
- F(2x2, 3x3), fused: 4x4 input tiles to 2x2 outputs, 16 multiplies against 4 x 9 = 36
  (2.25x fewer), transforms in registers: one kernel, compulsory traffic only.

Kernel names in NeuSight's conv measurements (fp32, TF32 off, cuDNN 8.9) show all
three: ``winograd_nonfused::winogradforwarddata4x4`` + ``*_sgemm_*`` with grid z = 36,
``scudnn_winograd_128x128_*`` and ``scudnn_128x{32,64,128}_*`` (implicit GEMM). They ran
on CUDA cores (fp32 SIMT). On tensor cores (fp16, bf16, TF32) cuDNN runs implicit-GEMM
kernels and this module is not used: Winograd is applied only where the data shows it.

Two constants are fitted, on the rows of NeuSight's conv train split whose shape index
is not 4 mod 5 (benchmarks/conv_algorithms.py; the other fifth is held out), each on the
rows whose kernels ran its algorithm:

- the non-fused transforms are not bandwidth-bound: each writes or reads 36 scattered
  matrices, and runs at about TRANSFORM_ELEMENTS_PER_SM_CYCLE transformed elements per
  SM per clock on every GPU measured (Pascal to Ampere), far below DRAM streaming;
- the fused kernel reaches FUSED_GEMM_FRACTION of the GEMM efficiency of the spec's
  SIMT GEMMs (its transforms share the SM with the multiplies).

Everything is vectorised over arrays of convolutions (np.ceil, np.minimum, np.where).
"""

from __future__ import annotations

import numpy as np

from roofline.efficiency.gemm import TILE_MENUS, gemm_efficiency
from roofline.hardware import HardwareSpec

__all__ = [
    "FUSED_GEMM_FRACTION", "TRANSFORM_ELEMENTS_PER_SM_CYCLE", "WINOGRAD_POINTS", "implicit_gemm_multiplies",
    "winograd_fused_s", "winograd_multiplies", "winograd_nonfused_s", "winograd_s", "winograd_tiles",
]

#: Transformed points per tile of F(m x m, 3x3): (m + 2)^2.
WINOGRAD_POINTS: dict[int, int] = {2: 16, 4: 36}
#: Elements the non-fused Winograd transforms produce per SM per clock (fitted, see above).
TRANSFORM_ELEMENTS_PER_SM_CYCLE = 0.5
#: The fused Winograd kernel's GEMM efficiency over the spec's SIMT GEMM efficiency (fitted).
FUSED_GEMM_FRACTION = 0.7


def winograd_tiles(n: np.ndarray, p: np.ndarray, q: np.ndarray, m: int) -> np.ndarray:
    """Output tiles of F(m x m, 3x3) over n images of p x q outputs: n x ceil(p/m) x
    ceil(q/m) (a ragged edge costs a whole tile)."""
    return n * np.ceil(np.asarray(p, dtype=float) / m) * np.ceil(np.asarray(q, dtype=float) / m)


def winograd_multiplies(n, p, q, c, k, m: int) -> np.ndarray:
    """Multiplies of F(m x m, 3x3): (m + 2)^2 per tile per (input, output) channel pair."""
    return WINOGRAD_POINTS[m] * winograd_tiles(n, p, q, m) * c * k


def implicit_gemm_multiplies(n, p, q, c, k) -> np.ndarray:
    """Multiplies of the direct 3x3 convolution: 9 per output pixel per channel pair."""
    return 9.0 * n * p * q * c * k


def _kernel_s(flops, nbytes, hw: HardwareSpec, attained_flops) -> np.ndarray:
    """One kernel: max(flops / attained_flops, start-up + bytes at the memory roof, floor)."""
    model = hw.kernel_model
    memory_s = model.latency_s + nbytes / (hw.efficiency.memory * hw.dram.bandwidth)
    return np.maximum(np.maximum(flops / attained_flops, memory_s), model.min_kernel_s)


def _gemm_fraction(batch, m, n, k, hw: HardwareSpec) -> np.ndarray:
    """Fraction of the SIMT peak a batched GEMM attains (tile and wave model x the spec's
    fitted SIMT GEMM efficiency x the sustained clock). No split-K: each tile of cuDNN's
    Winograd kernels and of the batched sgemm they call runs its whole reduction."""
    model = hw.kernel_model
    shape = gemm_efficiency(batch, m, n, k, sms=model.sms, menu=TILE_MENUS["simt"], k_overhead=model.k_overhead,
                            split_k=False)
    return shape * model.gemm_efficiency.get("simt", hw.efficiency.matrix) * model.clock_ratio


def winograd_nonfused_s(n, h, w, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0,
                        transform_rate=TRANSFORM_ELEMENTS_PER_SM_CYCLE) -> np.ndarray:
    """Seconds of F(4x4, 3x3) non-fused on ``hw``: the data, filter and output transforms
    (each at least its streamed bytes, at most TRANSFORM_ELEMENTS_PER_SM_CYCLE elements per
    SM per clock) and 36 GEMMs of (tiles x c) @ (c x k). n, c, k: batch and channels;
    h x w input, p x q output pixels; peak_flops: the SIMT peak (FLOP/s); itemsize: B;
    transform_rate: elements per SM per clock of the transforms (a fit may vary it)."""
    model = hw.kernel_model
    tiles = winograd_tiles(n, p, q, 4)
    points = WINOGRAD_POINTS[4]
    rate = model.sms * model.sustained_clock_hz * transform_rate  # elements/s

    def transform_s(elements, nbytes):
        return np.maximum(_kernel_s(0.0, nbytes, hw, 1.0), elements / rate)

    data = transform_s(points * tiles * c, (n * c * h * w + points * tiles * c) * itemsize)
    weights = transform_s(points * c * k, (9.0 * c * k + points * c * k) * itemsize)
    output = transform_s(points * tiles * k, (points * tiles * k + n * k * p * q) * itemsize)
    gemm_bytes = points * (tiles * c + c * k + tiles * k) * itemsize
    fraction = _gemm_fraction(points, tiles, k, c, hw)
    gemm = _kernel_s(2.0 * points * tiles * c * k, gemm_bytes, hw, fraction * peak_flops)
    return data + weights + gemm + output


def winograd_fused_s(n, h, w, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0,
                     fused_fraction=FUSED_GEMM_FRACTION) -> np.ndarray:
    """Seconds of F(2x2, 3x3) fused on ``hw``: 16 GEMMs of (tiles x c) @ (c x k) in one
    kernel at FUSED_GEMM_FRACTION of the SIMT GEMM efficiency, compulsory traffic
    (input, 3x3 weights, output). Arguments as winograd_nonfused_s; fused_fraction: the
    kernel's share of the SIMT GEMM efficiency (a fit may vary it)."""
    tiles = winograd_tiles(n, p, q, 2)
    points = WINOGRAD_POINTS[2]
    fraction = _gemm_fraction(points, tiles, k, c, hw) * fused_fraction
    nbytes = (n * c * h * w + 9.0 * c * k + n * k * p * q) * itemsize
    return _kernel_s(2.0 * points * tiles * c * k, nbytes, hw, fraction * peak_flops)


def winograd_s(n, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0) -> np.ndarray:
    """Seconds of the faster Winograd algorithm for 3x3 stride-1 convolutions (padding 1
    assumed for the input size: h = p, w = q, which only moves the transforms' input
    bytes), +inf where any size is not finite (no Winograd for that op) or the spec has
    no kernel model. Arrays broadcast."""
    n, p, q, c, k = (np.asarray(x, dtype=float) for x in (n, p, q, c, k))
    shape = np.broadcast_shapes(*(np.shape(x) for x in (n, p, q, c, k, peak_flops)))
    if hw.kernel_model is None:
        return np.full(shape, np.inf)
    eligible = np.isfinite(n) & np.isfinite(p) & np.isfinite(q) & np.isfinite(c) & np.isfinite(k)
    n, p, q, c, k = (np.where(eligible, x, 1.0) for x in (n, p, q, c, k))
    args = {"hw": hw, "peak_flops": peak_flops, "itemsize": itemsize}
    best = np.minimum(winograd_nonfused_s(n, p, q, p, q, c, k, **args), winograd_fused_s(n, p, q, p, q, c, k, **args))
    return np.where(eligible, best, np.inf) + np.zeros(shape)
