"""Convolutions on GPUs: the fastest of the algorithms cuDNN has for the shape.

In benchmark mode cuDNN times its algorithms on the first call and keeps the fastest,
so a convolution takes the least of their times. Four are modelled, each as the kernels
it launches, for 3x3, stride-1, undilated, ungrouped 2-D convolutions in fp32 on CUDA
cores (the shapes NeuSight's measurements cover):

- implicit GEMM (cuDNN's ``scudnn_128x{32,64,128}`` kernels): the convolution as a
  product of m = N x output pixels, n = output channels, k = input channels x 9, the
  output cut into 128 x tn tiles, one thread block per tile running the whole k
  reduction (no split-K: the grids in the data are ceil(m/128) x ceil(n/tn) x 1). The
  blocks have 64, 128 or 256 threads (2, 4, 8 warps) for tn = 32, 64, 128;
- explicit GEMM (``explicit_convolve_sgemm``): im2col writes the (9C) x (N P Q) lowered
  matrix, then a cuBLAS SGEMM, which may split k, runs it (roofline.efficiency.gemm);
- Winograd F(4x4, 3x3), non-fused (Lavin & Gray, "Fast Algorithms for Convolutional
  Neural Networks", 2016): an input transform to 36 points per 4x4 output block, a
  filter transform, 36 batched GEMMs of (tiles x C) @ (C x K) on the architecture's
  batched SGEMM tiles (no split-K: grid z = 36 in the data) and an output transform,
  four kernels, their intermediates through memory;
- Winograd F(2x2, 3x3), fused (``scudnn_winograd_128x128_..._tileIJKt``): one kernel;
  each 256-thread block computes 32 output channels over I images x J x K tiles of 2x2
  outputs (32 tiles: 16 points x 32 tiles x 32 channels = a 128x128 product per input
  channel), so its grid is ceil(N/I) x ceil(P/2J) x ceil(Q/2K) x ceil(K/32) (the data's
  grids read N x ceil(K/32), ceil(P/8), ceil(Q/16) for tile148). cuDNN has six such
  shapes (148, 228, 244, 418, 424, 442 in the kernel names); the fastest is taken.

Few blocks: an SM reaches its peak only with enough warps to hide the latency of its
FMA pipelines and shared-memory loads, SATURATION_WARPS per 64 FP32 lanes; a block of
w warps alone on an SM runs at w / SATURATION_WARPS of it. So a grid that gives each SM
r blocks takes max(r, SATURATION_WARPS / w) block-times: a wave of few small blocks, each
running the whole reduction, is as slow as a full one. This is where the small
convolutions (few output tiles, long channel reductions) lose.

Constants: SATURATION_WARPS (physics: 2 warps per scheduler on a 64-lane SM, checked on
the data), FUSED_GEMM_FRACTION and TRANSFORM_ELEMENTS_PER_SM_CYCLE (fitted, below), and
per GPU ``kernel_model.gemm_efficiency.conv`` (the fraction of the sustained SIMT peak
cuDNN's convolutions reach on whole tiles; without it the SIMT GEMM figure), fitted on
the rows of NeuSight's conv train split whose position is not 4 mod 5
(benchmarks/conv_algorithms.py --fit; the other fifth is held out). The other
algorithms run at the same ratio conv / simt of their GEMM figures: on the T4 the
convolutions ran faster than its sustained clock and SIMT GEMM figure allow, on every
algorithm alike.

Everything is vectorised over arrays of convolutions (np.ceil, np.minimum, np.where).
"""

from __future__ import annotations

import numpy as np

from roofline.efficiency.gemm import TILE_MENUS, Tile, gemm_efficiency
from roofline.hardware import HardwareSpec

__all__ = [
    "FUSED_GEMM_FRACTION", "FUSED_TILES", "IMPLICIT_TILES", "SATURATION_WARPS", "TRANSFORM_ELEMENTS_PER_SM_CYCLE",
    "WINOGRAD_POINTS", "conv_algorithms_s", "conv_s", "explicit_gemm_s", "implicit_gemm_multiplies", "implicit_gemm_s",
    "lanes_per_sm", "saturated_s", "winograd_fused_s", "winograd_multiplies", "winograd_nonfused_s",
    "winograd_tiles",
]

#: Transformed points per tile of F(m x m, 3x3): (m + 2)^2.
WINOGRAD_POINTS: dict[int, int] = {2: 16, 4: 36}
#: Elements the non-fused Winograd transforms produce per SM per clock (fitted, see above).
TRANSFORM_ELEMENTS_PER_SM_CYCLE = 0.5
#: The fused Winograd kernel's GEMM efficiency over the implicit GEMM's (fitted): its
#: transforms share the SM with the multiplies. On the fit rows' grid (conv figures held)
#: 0.8 and 0.9 are within half a point; refitting the conv figures at 0.9 lowers them
#: (the fused rows pin the product), so 0.8, the value they were fitted with, is kept.
FUSED_GEMM_FRACTION = 0.8
#: Warps an SM of 64 FP32 lanes needs resident to reach its peak (scaled by lanes / 64).
SATURATION_WARPS = 8.0
#: cuDNN's implicit-GEMM tiles: (output rows, output channels, warps per block).
IMPLICIT_TILES: tuple[tuple[int, int, int], ...] = ((128, 32, 2), (128, 64, 4), (128, 128, 8))
#: Fused F(2x2) blocks: (images, tile rows, tile columns) of 2x2 output tiles, x 32 channels.
FUSED_TILES: tuple[tuple[int, int, int], ...] = ((1, 4, 8), (2, 2, 8), (2, 4, 4), (4, 1, 8), (4, 2, 4), (4, 4, 2))
FUSED_CHANNELS = 32
FUSED_WARPS = 8
#: Output-channel x tile products of a fused block per input channel: 16 points x 32 x 32.
FUSED_BLOCK_FMAS = 16 * 32 * 32


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


def lanes_per_sm(hw: HardwareSpec, peak_flops) -> np.ndarray:
    """FP32 lanes of one SM: the peak (FLOP/s at the boost clock) / (2 x SMs x clock)."""
    model = hw.kernel_model
    return np.asarray(peak_flops, dtype=float) / (2.0 * model.sms * model.boost_clock_hz)


def saturated_s(blocks, block_fmas, warps, *, sms: int, lanes, sm_fma_per_s) -> np.ndarray:
    """Seconds of a grid of ``blocks`` thread blocks of ``warps`` warps, each doing
    block_fmas multiply-adds, on ``sms`` SMs of ``lanes`` FP32 lanes that each do
    sm_fma_per_s when saturated: the busiest SM runs ceil(blocks / sms) blocks, and
    never faster than a full SM's SATURATION_WARPS x lanes / 64 warps allow."""
    per_sm = np.ceil(np.asarray(blocks, dtype=float) / sms)
    needed = np.maximum(SATURATION_WARPS * np.asarray(lanes, dtype=float) / 64.0 / warps, 1.0)
    return np.maximum(per_sm, needed) * block_fmas / sm_fma_per_s


def _kernel_s(flops, nbytes, hw: HardwareSpec, attained_flops) -> np.ndarray:
    """One kernel: max(flops / attained_flops, start-up + bytes at the memory roof, floor)."""
    model = hw.kernel_model
    memory_s = model.latency_s + nbytes / (hw.efficiency.memory * hw.dram.bandwidth)
    return np.maximum(np.maximum(flops / attained_flops, memory_s), model.min_kernel_s)


def _efficiencies(hw: HardwareSpec) -> tuple[float, float]:
    """(conv, speed): the fraction of the sustained SIMT peak cuDNN's convolutions reach
    on whole tiles, and its ratio to the spec's SIMT GEMM figure (1 without a conv figure)."""
    fitted = hw.kernel_model.gemm_efficiency
    simt = fitted.get("simt", hw.efficiency.matrix)
    conv = fitted.get("conv", simt)
    return conv, conv / simt


def _sm_fma_per_s(hw: HardwareSpec, peak_flops, efficiency) -> np.ndarray:
    """Multiply-adds per second of one SM at the sustained clock and ``efficiency``."""
    model = hw.kernel_model
    return np.asarray(peak_flops, dtype=float) * model.clock_ratio * efficiency / (2.0 * model.sms)


def _compulsory_bytes(n, h, w, p, q, c, k, itemsize) -> np.ndarray:
    """Input, 3x3 weights and output, once each (B)."""
    return (n * c * h * w + 9.0 * c * k + n * k * p * q) * itemsize


def implicit_gemm_s(n, h, w, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0) -> np.ndarray:
    """Seconds of cuDNN's implicit GEMM on ``hw``: the best of IMPLICIT_TILES, each block
    running k = 9c steps plus the spec's k_overhead, no split-K (saturated_s), never
    below its compulsory bytes. n, c, k: batch and channels; h x w input, p x q output
    pixels; peak_flops: the SIMT peak (FLOP/s at boost); itemsize: B."""
    model = hw.kernel_model
    conv, _ = _efficiencies(hw)
    rate = _sm_fma_per_s(hw, peak_flops, conv)
    lanes = lanes_per_sm(hw, peak_flops)
    m, steps = n * p * q, 9.0 * c + model.k_overhead
    best = np.inf
    for rows, cols, warps in IMPLICIT_TILES:
        blocks = np.ceil(m / rows) * np.ceil(k / cols)
        best = np.minimum(best, saturated_s(blocks, rows * cols * steps, warps, sms=model.sms, lanes=lanes,
                                            sm_fma_per_s=rate))
    return np.maximum(best, _kernel_s(0.0, _compulsory_bytes(n, h, w, p, q, c, k, itemsize), hw, 1.0))


def explicit_gemm_s(n, h, w, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0) -> np.ndarray:
    """Seconds of the explicit GEMM on ``hw``: im2col (reads the input, writes the
    9c x (n p q) lowered matrix) then an SGEMM on the SIMT tile menu with split-K
    (roofline.efficiency.gemm) at the spec's SIMT efficiency x conv / simt. Arguments
    as implicit_gemm_s."""
    model = hw.kernel_model
    _, speed = _efficiencies(hw)
    m, depth = n * p * q, 9.0 * c
    lowered = depth * m * itemsize
    im2col = _kernel_s(0.0, n * c * h * w * itemsize + lowered, hw, 1.0)
    shape = gemm_efficiency(1.0, m, k, depth, sms=model.sms, menu=TILE_MENUS["simt"], k_overhead=model.k_overhead)
    ideal = model.gemm_efficiency.get("simt", hw.efficiency.matrix) * speed
    attained = shape * ideal * model.clock_ratio * np.asarray(peak_flops, dtype=float)
    gemm = _kernel_s(2.0 * m * k * depth, lowered + (9.0 * c * k + m * k) * itemsize, hw, attained)
    return im2col + gemm


def _batched_fraction(batch, m, n, k, hw: HardwareSpec) -> np.ndarray:
    """Fraction of the SIMT peak the batched SGEMM of the non-fused Winograd attains: the
    architecture's batched tiles (else the SIMT menu), no split-K, the batched figure."""
    model = hw.kernel_model
    menu = tuple(Tile(*tile) for tile in model.batched_tiles) or TILE_MENUS["simt"]
    shape = gemm_efficiency(batch, m, n, k, sms=model.sms, menu=menu, k_overhead=model.k_overhead, split_k=False)
    simt = model.gemm_efficiency.get("simt", hw.efficiency.matrix)
    _, speed = _efficiencies(hw)
    return shape * model.gemm_efficiency.get("batched", simt) * speed * model.clock_ratio


def winograd_nonfused_s(n, h, w, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0,
                        transform_rate=TRANSFORM_ELEMENTS_PER_SM_CYCLE) -> np.ndarray:
    """Seconds of F(4x4, 3x3) non-fused on ``hw``: the data, filter and output transforms
    (each at least its streamed bytes, at most transform_rate elements per SM per clock
    x conv / simt) and 36 GEMMs of (tiles x c) @ (c x k). Arguments as implicit_gemm_s;
    transform_rate: elements per SM per clock of the transforms (a fit may vary it)."""
    model = hw.kernel_model
    _, speed = _efficiencies(hw)
    tiles = winograd_tiles(n, p, q, 4)
    points = WINOGRAD_POINTS[4]
    rate = model.sms * model.sustained_clock_hz * transform_rate * speed  # elements/s

    def transform_s(elements, nbytes):
        return np.maximum(_kernel_s(0.0, nbytes, hw, 1.0), elements / rate)

    data = transform_s(points * tiles * c, (n * c * h * w + points * tiles * c) * itemsize)
    weights = transform_s(points * c * k, (9.0 * c * k + points * c * k) * itemsize)
    output = transform_s(points * tiles * k, (points * tiles * k + n * k * p * q) * itemsize)
    gemm_bytes = points * (tiles * c + c * k + tiles * k) * itemsize
    fraction = _batched_fraction(points, tiles, k, c, hw)
    gemm = _kernel_s(2.0 * points * tiles * c * k, gemm_bytes, hw, fraction * np.asarray(peak_flops, dtype=float))
    return data + weights + gemm + output


def winograd_fused_s(n, h, w, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0,
                     fused_fraction=FUSED_GEMM_FRACTION) -> np.ndarray:
    """Seconds of F(2x2, 3x3) fused on ``hw``: the best of FUSED_TILES, each block
    FUSED_BLOCK_FMAS per input channel (plus the spec's k_overhead steps) at
    fused_fraction of the conv efficiency (saturated_s), never below the compulsory
    bytes. Arguments as implicit_gemm_s; fused_fraction: a fit may vary it."""
    model = hw.kernel_model
    conv, _ = _efficiencies(hw)
    rate = _sm_fma_per_s(hw, peak_flops, conv * fused_fraction)
    lanes = lanes_per_sm(hw, peak_flops)
    tile_rows, tile_cols = np.ceil(np.asarray(p, dtype=float) / 2), np.ceil(np.asarray(q, dtype=float) / 2)
    channel_blocks = np.ceil(np.asarray(k, dtype=float) / FUSED_CHANNELS)
    work = FUSED_BLOCK_FMAS * (c + model.k_overhead)
    best = np.inf
    for images, rows, cols in FUSED_TILES:
        blocks = np.ceil(n / images) * np.ceil(tile_rows / rows) * np.ceil(tile_cols / cols) * channel_blocks
        best = np.minimum(best, saturated_s(blocks, work, FUSED_WARPS, sms=model.sms, lanes=lanes,
                                            sm_fma_per_s=rate))
    return np.maximum(best, _kernel_s(0.0, _compulsory_bytes(n, h, w, p, q, c, k, itemsize), hw, 1.0))


#: Algorithm name -> its time function (same arguments).
ALGORITHMS = {"implicit GEMM": implicit_gemm_s, "explicit GEMM": explicit_gemm_s,
              "Winograd 4x4 non-fused": winograd_nonfused_s, "Winograd fused": winograd_fused_s}


def conv_algorithms_s(n, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0) -> dict[str, np.ndarray]:
    """Seconds of each algorithm of ALGORITHMS for 3x3 stride-1 convolutions (padding 1
    assumed for the input size: h = p, w = q, which only moves the input's bytes)."""
    return {name: algorithm(n, p, q, p, q, c, k, hw=hw, peak_flops=peak_flops, itemsize=itemsize)
            for name, algorithm in ALGORITHMS.items()}


def _finite_sizes(n, p, q, c, k, peak_flops):
    n, p, q, c, k = (np.asarray(x, dtype=float) for x in (n, p, q, c, k))
    shape = np.broadcast_shapes(*(np.shape(x) for x in (n, p, q, c, k, peak_flops)))
    eligible = np.isfinite(n) & np.isfinite(p) & np.isfinite(q) & np.isfinite(c) & np.isfinite(k)
    return shape, eligible, tuple(np.where(eligible, x, 1.0) for x in (n, p, q, c, k))


def conv_s(n, p, q, c, k, *, hw: HardwareSpec, peak_flops, itemsize=4.0) -> np.ndarray:
    """Seconds of the convolution as cuDNN's benchmark mode runs it: the least of
    conv_algorithms_s; +inf where any size is not finite (not such a convolution) or the
    spec has no kernel model. Arrays broadcast."""
    shape, eligible, sizes = _finite_sizes(n, p, q, c, k, peak_flops)
    if hw.kernel_model is None:
        return np.full(shape, np.inf)
    times = conv_algorithms_s(*sizes, hw=hw, peak_flops=peak_flops, itemsize=itemsize)
    best = np.minimum.reduce([np.broadcast_to(t, shape) for t in times.values()])
    return np.where(eligible, best, np.inf) + np.zeros(shape)
