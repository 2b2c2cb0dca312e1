"""roofline.efficiency.conv: cuDNN's convolution algorithms and its choice, worked by hand."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import roofline
from roofline.efficiency import WINOGRAD_COLUMNS, conv_arrays
from roofline.efficiency.conv import (
    conv_algorithms_s,
    conv_s,
    explicit_gemm_s,
    implicit_gemm_multiplies,
    implicit_gemm_s,
    lanes_per_sm,
    winograd_fused_s,
    winograd_multiplies,
    winograd_nonfused_s,
    winograd_tiles,
)
from roofline.hardware import load_hardware
from roofline.predict import Tf32Policy, predict_frame

_PACKAGED = load_hardware("v100-pcie")
# A V100 (80 SMs, 1370 MHz held, 900 GB/s at 0.924, no memory start-up, 2 us least kernel,
# cuBLAS's batched tiles 64x64 x4, 128x32 x3, 32x128 x2) with round figures fixed here so
# the arithmetic below does not move when a fit does: SIMT GEMMs at 0.9 of the peak,
# batched at 0.8, cuDNN's convolutions at 0.8 (conv / simt = 8/9), 16 K steps per tile.
V100 = dataclasses.replace(_PACKAGED, kernel_model=dataclasses.replace(
    _PACKAGED.kernel_model, gemm_efficiency={"simt": 0.9, "batched": 0.8, "conv": 0.8}, k_overhead=16.0,
    sustained_clock_hz=1.37e9, boost_clock_hz=1.37e9, latency_s=0.0, min_kernel_s=2e-6,
    batched_tiles=((64, 64, 4), (128, 32, 3), (32, 128, 2))))
# 80 SMs x 64 lanes x 2 FLOP x 1.37 GHz: exactly 64 lanes per SM.
FP32_PEAK = 2 * 80 * 64 * 1.37e9  # 14.0288e12 FLOP/s
# Multiply-adds per second of one SM at the conv efficiency: 14.0288e12 x 0.8 / (2 x 80).
SM_FMA_PER_S = 70.144e9
TF32_OFF = Tf32Policy(conv=False, matmul=False)
ARGS = {"hw": V100, "peak_flops": FP32_PEAK}


def test_the_test_device_has_64_lanes_per_sm():
    assert lanes_per_sm(V100, FP32_PEAK) == pytest.approx(64.0, rel=1e-12)


def test_winograd_multiplies_of_an_8x8_output():
    # n=1, 2 input and 3 output channels, 8 x 8 output pixels.
    # Direct: 9 taps x 64 pixels x 2 x 3 = 3456 multiplies.
    assert implicit_gemm_multiplies(1, 8, 8, 2, 3) == 3456
    # F(4x4, 3x3): 2 x 2 = 4 tiles, 6 x 6 = 36 multiplies per tile and channel pair:
    # 36 x 4 x 6 = 864, a quarter of the direct count.
    assert winograd_tiles(1, 8, 8, 4) == 4
    assert winograd_multiplies(1, 8, 8, 2, 3, 4) == 864
    # F(2x2, 3x3): 16 tiles of 4 x 4 = 16 multiplies: 16 x 16 x 6 = 1536 (2.25x fewer).
    assert winograd_multiplies(1, 8, 8, 2, 3, 2) == 1536


def test_a_ragged_edge_costs_whole_tiles():
    # 6 x 6 outputs need 2 x 2 tiles of 4 x 4 (16 outputs each, 64 computed for 36 wanted):
    # 36 x 4 = 144 multiplies per channel pair against 9 x 36 = 324 direct, 2.25x not 4x.
    assert winograd_multiplies(1, 6, 6, 1, 1, 4) == 144
    assert implicit_gemm_multiplies(1, 6, 6, 1, 1) == 324


def test_a_wave_of_few_blocks_runs_the_whole_reduction_at_the_rate_of_one_sm():
    # n=1, 5 x 5 outputs, 512 -> 64 channels: the implicit GEMM has m = 25 rows,
    # n = 64 columns, k = 9 x 512 = 4608, each block 4608 + 16 = 4624 K steps.
    # 128x32 tiles: 1 x 2 = 2 blocks of 2 warps, one per SM; an SM needs 8 warps to
    # saturate, so each runs at 2/8 of it: as long as 8/2 = 4 blocks, 4 x 128 x 32 x 4624.
    # 128x64: 1 block of 4 warps: 2 x 128 x 64 x 4624. 128x128: 1 block of 8 warps:
    # 128 x 128 x 4624. All three: 16384 x 4624 = 75,759,616 multiply-adds on one SM at
    # 70.144e9 per second: 1080.06 us, while 79 SMs idle. (The plain roofline: 2 x 25 x 64
    # x 4608 = 14.7 MFLOP, about 1 us.) Its compulsory bytes, (12800 + 294912 + 1600) x 4
    # = 1.24 MB, stream in 1.5 us.
    assert implicit_gemm_s(1, 5, 5, 5, 5, 512, 64, **ARGS) == pytest.approx(75_759_616 / SM_FMA_PER_S, rel=1e-9)


def test_a_full_grid_loses_only_its_last_partial_wave():
    # n=64, 32 x 32 outputs, 64 -> 128 channels: m = 65536, k = 576 (+16 = 592 steps).
    # 128x128: 512 x 1 = 512 blocks, ceil(512/80) = 7 per SM: 7 x 16384 = 114,688 outputs.
    # 128x64: 512 x 2 = 1024 blocks, ceil(1024/80) = 13: 13 x 8192 = 106,496.
    # 128x32: 512 x 4 = 2048 blocks, ceil(2048/80) = 26: 26 x 4096 = 106,496.
    # Best 106,496 x 592 = 63,045,632 multiply-adds per SM: 898.80 us at 70.144e9/s,
    # against 65536 x 128 x 576 / 80 = 60,397,978 useful per SM (95.8%).
    assert implicit_gemm_s(64, 32, 32, 32, 32, 64, 128, **ARGS) == pytest.approx(63_045_632 / SM_FMA_PER_S,
                                                                                   rel=1e-9)


def test_a_fused_winograd_block_per_sm():
    # n=1, 8 x 16 outputs, 64 -> 32 channels: 4 x 8 tiles of 2 x 2, one block of the
    # 1-image 4x8-tile shape x 32 channels (every other shape also needs one block on one
    # SM). Per input channel 16 points x 32 tiles x 32 channels = 16384 multiply-adds,
    # 64 + 16 channel steps: 1,310,720 at 0.8 x 70.144e9 = 56.1152e9/s: 23.357 us.
    one = winograd_fused_s(1, 8, 16, 8, 16, 64, 32, **ARGS)
    assert one == pytest.approx(1_310_720 / 56.1152e9, rel=1e-9)
    # 160 images: 160 blocks (80 x 2 for the 2-image shapes, 40 x 4 for the 4-image
    # ones), two per SM: twice the time.
    assert winograd_fused_s(160, 8, 16, 8, 16, 64, 32, **ARGS) == pytest.approx(2 * one, rel=1e-9)
    # 80 images: one block per SM, the time of one.
    assert winograd_fused_s(80, 8, 16, 8, 16, 64, 32, **ARGS) == pytest.approx(one, rel=1e-9)


def test_a_wide_3x3_conv_runs_winograd_4x4():
    # n=32, 256 -> 256 channels, 28 x 28, fp32 on CUDA cores.
    # F(4x4): 32 x 7 x 7 = 1568 tiles. Transforms at 0.5 elements per SM-clock x 8/9:
    # 80 x 1.37e9 x 0.5 x 8/9 = 48.711e9 elements/s; data and output 36 x 1568 x 256 =
    # 14,450,688 elements each, filter 36 x 256 x 256 = 2,359,296: 31,260,672 elements,
    # 641.75 us (each above its bytes: the data transform's 83.5 MB stream in 100.4 us).
    # GEMMs, batch 36 of (1568 x 256) @ (256 x 256), 256 + 16 steps per tile:
    # 64x64 x4: 36 x 25 x 4 = 3600 tiles, 12 waves of 320: 12 x 4 x 4096 x 272 = 53,477,376;
    # 128x32 x3: 36 x 13 x 8 = 3744 tiles, 16 waves of 240: 53,477,376;
    # 32x128 x2: 36 x 49 x 2 = 3528 tiles, 23 waves of 160: 23 x 2 x 4096 x 272 = 51,249,152.
    # Useful 36 x 1568 x 256 x 256 / 80 = 46,242,201.6: 0.90232 x 0.8 x 8/9 of the peak
    # = 9.00158e12 FLOP/s for 7,398,752,256 FLOP: 821.94 us. Total 1463.69 us.
    transforms = 31_260_672 / (80 * 1.37e9 * 0.5 * 0.8 / 0.9)
    gemm = 7_398_752_256 / (46_242_201.6 / 51_249_152 * 0.8 * (0.8 / 0.9) * FP32_PEAK)
    times = conv_algorithms_s(32, 28, 28, 256, 256, **ARGS)
    assert times["Winograd 4x4 non-fused"] == pytest.approx(transforms + gemm, rel=1e-9)
    # Implicit GEMM: m = 25088, 2304 + 16 steps; 392 blocks of 128x128 (5 per SM), 784 of
    # 128x64 (10), 1568 of 128x32 (20): 81,920 outputs x 2320 steps per SM: 2709.5 us.
    assert times["implicit GEMM"] == pytest.approx(81_920 * 2320 / SM_FMA_PER_S, rel=1e-9)
    # Fused F(2x2): 14 x 14 tiles; the 2-image 2x8 shape: 16 x 7 x 2 x 8 = 1792 blocks,
    # 23 per SM (the 1-image 4x8 one: 2048, 26): 23 x 16384 x 272 / 56.1152e9 = 1826.5 us.
    assert times["Winograd fused"] == pytest.approx(23 * 16384 * 272 / 56.1152e9, rel=1e-9)
    # Explicit GEMM: 29.6 GFLOP at no more than 0.8 of the peak: >= 2637 us.
    assert times["explicit GEMM"] >= 2 * 32 * 784 * 256 * 256 * 9 / (0.8 * FP32_PEAK)
    assert conv_s(32, 28, 28, 256, 256, **ARGS) == times["Winograd 4x4 non-fused"]


def conv_ops(n, c, k, size, dtype=torch.float32, hw=V100):
    conv = torch.nn.Conv2d(c, k, 3, padding=1, bias=False).to(dtype)
    analysis = roofline.analyze(conv, (torch.empty(n, c, size, size, dtype=dtype, device="meta"),), hw=hw,
                                meta=True, tf32=TF32_OFF)
    return analysis.counted


def kernel_s(counted: pd.DataFrame, hw, cudnn: bool = True) -> float:
    frame = counted if cudnn else counted.assign(**dict.fromkeys(WINOGRAD_COLUMNS, np.nan))
    return float(predict_frame(frame, hw, tf32=TF32_OFF)["kernel_s"].sum())


def test_predict_takes_cudnns_fastest_algorithm():
    # The op's kernel time is conv_s at the spec's own peak (14e12), whose memory term
    # (the compulsory bytes) is smaller.
    counted = conv_ops(32, 256, 256, 28)
    assert kernel_s(counted, V100) == pytest.approx(
        float(conv_s(32, 28, 28, 256, 256, hw=V100, peak_flops=V100.peak_flops("fp32", "vector"))), rel=1e-12)
    # Without the Winograd shape the conv is timed as a GEMM (split-K, no saturation
    # loss): 2 x 25088 x 256 x 2304 = 29.595 GFLOP at no more than 0.9 x 14e12: >= 2348.8
    # us, 1.6x the non-fused Winograd's 1465 us.
    assert kernel_s(counted, V100, cudnn=False) >= 2 * 25088 * 256 * 2304 / (0.9 * 14e12)
    assert kernel_s(counted, V100, cudnn=False) >= 1.6 * kernel_s(counted, V100)


def test_an_rgb_stem_conv_stays_a_gemm():
    # n=1, 3 -> 64 channels, 224 x 224: k = 27 leaves Winograd nothing to save; its
    # output transform alone is 36 x 3136 x 64 = 7.2M elements, 148 us at 48.711e9/s.
    times = conv_algorithms_s(1, 224, 224, 3, 64, **ARGS)
    assert min(times["implicit GEMM"], times["explicit GEMM"]) < min(times["Winograd 4x4 non-fused"],
                                                                      times["Winograd fused"])
    assert times["Winograd 4x4 non-fused"] >= 36 * 3136 * 64 / (80 * 1.37e9 * 0.5 * 0.8 / 0.9)


def test_tensor_core_convs_run_as_gemms():
    # bf16 on an H100 runs cuDNN's tensor-core implicit GEMMs: the Winograd columns change nothing.
    h100 = load_hardware("h100-sxm")
    counted = conv_ops(32, 256, 256, 28, dtype=torch.bfloat16, hw="h100-sxm")
    assert np.isfinite(counted["winograd_n"]).all()
    assert kernel_s(counted, h100) == kernel_s(counted, h100, cudnn=False)
    shape = (np.array([32.0]), np.array([28.0]), np.array([28.0]))
    gemm = (np.array([1.0]), np.array([25088.0]), np.array([256.0]), np.array([2304.0]))
    assert conv_arrays(shape, gemm, h100, peak_flops=np.array([1e15]), on_tensor_cores=np.array([True]),
                       itemsize=np.array([2.0]))[0] == np.inf


def test_nothing_without_a_kernel_model():
    plain = dataclasses.replace(V100, kernel_model=None)
    assert conv_s(1, 8, 8, 4, 4, hw=plain, peak_flops=FP32_PEAK) == np.inf


ALGORITHMS = (implicit_gemm_s, explicit_gemm_s, winograd_nonfused_s, winograd_fused_s)
SIZES = st.tuples(st.integers(1, 64), st.integers(1, 120), st.integers(1, 1024), st.integers(1, 1024))


def _run(algorithm, n, p, c, k):
    return algorithm(n, p, p, p, p, c, k, **ARGS)


@settings(max_examples=60, deadline=None)
@given(SIZES, st.integers(0, 3), st.integers(1, 64))
def test_time_never_falls_as_batch_spatial_size_or_channels_grow(sizes, which, grow):
    n, p, c, k = sizes
    bigger = list(sizes)
    bigger[which] += grow
    for algorithm in ALGORITHMS:
        assert _run(algorithm, *bigger) >= _run(algorithm, *sizes) * (1 - 1e-12)
    assert conv_s(*bigger[:2], bigger[1], *bigger[2:], **ARGS) >= conv_s(n, p, p, c, k, **ARGS) * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(SIZES)
def test_never_faster_than_the_plain_roofline(sizes):
    # At the spec's peak and bandwidth: no algorithm does fewer multiplies than the fewer
    # of F(4x4)'s and F(2x2)'s (ragged edges included) or the direct count, or moves
    # fewer bytes than the input, the 3x3 weights and the output once each.
    n, p, c, k = sizes
    multiplies = min(winograd_multiplies(n, p, p, c, k, 4), winograd_multiplies(n, p, p, c, k, 2),
                     implicit_gemm_multiplies(n, p, p, c, k))
    compulsory = (n * c * p * p + 9 * c * k + n * k * p * p) * 4.0
    floor = max(2 * multiplies / FP32_PEAK, compulsory / V100.dram.bandwidth)
    for algorithm in ALGORITHMS:
        assert _run(algorithm, n, p, c, k) >= floor * (1 - 1e-12)
    # Each algorithm also does at least its own multiplies at the peak.
    assert _run(implicit_gemm_s, n, p, c, k) >= 2 * implicit_gemm_multiplies(n, p, p, c, k) / FP32_PEAK
    assert _run(winograd_fused_s, n, p, c, k) >= 2 * winograd_multiplies(n, p, p, c, k, 2) / FP32_PEAK
    assert _run(winograd_nonfused_s, n, p, c, k) >= 2 * winograd_multiplies(n, p, p, c, k, 4) / FP32_PEAK


def test_vectorised_over_arrays():
    # One call over a grid gives what one call per point gives.
    n = np.array([[1.0, 8.0], [32.0, 64.0]])
    grid = conv_s(n, 28, 28, 256, 128, **ARGS)
    one_by_one = [[conv_s(v, 28, 28, 256, 128, **ARGS) for v in row] for row in n]
    assert np.allclose(grid, one_by_one, rtol=1e-12)
    # A NaN size (an op that is no such convolution) gives +inf: the GEMM path stays.
    assert np.isinf(conv_s(np.nan, 28, 28, 256, 128, **ARGS))
