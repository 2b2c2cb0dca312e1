"""roofline.efficiency.conv: Winograd counts and cuDNN's algorithm choice, worked by hand."""

import dataclasses

import numpy as np
import pandas as pd
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import roofline
from roofline.efficiency import WINOGRAD_COLUMNS, winograd_arrays
from roofline.efficiency.conv import (
    implicit_gemm_multiplies,
    winograd_fused_s,
    winograd_multiplies,
    winograd_nonfused_s,
    winograd_s,
    winograd_tiles,
)
from roofline.hardware import load_hardware
from roofline.predict import Tf32Policy, predict_frame

V100 = load_hardware("v100-pcie")  # 80 SMs at 1370 MHz held, 14 TFLOP/s fp32, SIMT GEMM efficiency 0.873
FP32_PEAK = 14e12
TF32_OFF = Tf32Policy(conv=False, matmul=False)


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


def conv_ops(n, c, k, size, dtype=torch.float32, hw="v100-pcie"):
    conv = torch.nn.Conv2d(c, k, 3, padding=1, bias=False).to(dtype)
    analysis = roofline.analyze(conv, (torch.empty(n, c, size, size, dtype=dtype, device="meta"),), hw=hw,
                                meta=True, tf32=TF32_OFF)
    return analysis.counted


def kernel_s(counted: pd.DataFrame, hw, winograd: bool = True) -> float:
    frame = counted if winograd else counted.assign(**dict.fromkeys(WINOGRAD_COLUMNS, np.nan))
    return float(predict_frame(frame, hw, tf32=TF32_OFF)["kernel_s"].sum())


def test_a_wide_3x3_conv_runs_winograd_4x4_on_a_v100():
    # n=32, 256 -> 256 channels, 28 x 28, fp32 on CUDA cores.
    # Implicit GEMM: 2 x 32 x 784 x 256 x 256 x 9 = 29.595 GFLOP; even at the whole
    # 14e12 x 0.873 = 12.222 TFLOP/s it takes >= 2421 us.
    # F(4x4): 32 x 7 x 7 = 1568 tiles. Transforms at 0.5 elements per SM-clock,
    # 80 x 1.37e9 x 0.5 = 54.8e9 elements/s (each above its streamed bytes: the data
    # transform's 83.5 MB take 100 us at 0.924 x 900 GB/s): data and output 36 x 1568 x 256
    # = 14,450,688 elements each, filter 36 x 256 x 256 = 2,359,296: 31,260,672 / 54.8e9 =
    # 570.45 us. GEMMs: 2 x 36 x 1568 x 256 x 256 = 7.3988 GFLOP: >= 605.4 us at 12.222
    # TFLOP/s; with 128x128 tiles alone, 36 x 13 x 2 = 936 tiles in 12 waves of 80, each
    # tile 256 + 16 steps: useful / spent = (36 x 1568 x 256 x 256 / 80) / (12 x 128 x 128
    # x 272) = 0.8647, so <= 700.1 us (the model takes the best tile, no worse).
    # Fused F(2x2): 16 x 32 x 14 x 14 x 256 x 256 x 2 = 13.15 GFLOP at <= 0.7 x 12.222
    # TFLOP/s: >= 1537 us. So the non-fused Winograd wins, in [1175.9, 1270.6] us.
    counted = conv_ops(32, 256, 256, 28)
    chosen = kernel_s(counted, V100)
    assert 1175.9e-6 <= chosen <= 1270.6e-6
    assert kernel_s(counted, V100, winograd=False) >= 2421e-6


def test_an_rgb_stem_conv_stays_an_implicit_gemm():
    # n=1, 3 -> 64 channels, 224 x 224. Implicit GEMM m = 50176, n = 64, k = 27: with
    # 128x64 tiles, 392 tiles in 3 waves of 160 slots, 27 + 16 steps each: useful / spent =
    # (50176 x 64 x 27 / 80) / (3 x 2 x 128 x 64 x 43) = 0.5128, so <= 173.4 MFLOP /
    # (12.222e12 x 0.5128) = 27.7 us (its 13.45 MB stream in 16.2 us).
    # F(4x4): its output transform alone is 36 x 3136 x 64 = 7.2M elements, 131.8 us.
    # F(2x2): 16 GEMMs with k = 3, at most 3 / (3 + 16) of the tile's time useful:
    # 77.07 MFLOP / (12.222e12 x 0.7 x 0.158) >= 57 us. The implicit GEMM stays.
    counted = conv_ops(1, 3, 64, 224)
    assert kernel_s(counted, V100) == kernel_s(counted, V100, winograd=False) <= 27.7e-6


def test_tensor_core_convs_never_run_winograd():
    # bf16 on an H100 runs cuDNN's tensor-core implicit GEMMs: the Winograd columns change nothing.
    h100 = load_hardware("h100-sxm")
    counted = conv_ops(32, 256, 256, 28, dtype=torch.bfloat16, hw="h100-sxm")
    assert np.isfinite(counted["winograd_n"]).all()
    assert kernel_s(counted, h100) == kernel_s(counted, h100, winograd=False)
    shape = (np.array([32.0]), np.array([28.0]), np.array([28.0]))
    gemm = (np.array([1.0]), np.array([25088.0]), np.array([256.0]), np.array([2304.0]))
    assert winograd_arrays(shape, gemm, h100, peak_flops=np.array([1e15]), on_tensor_cores=np.array([True]),
                           itemsize=np.array([2.0]))[0] == np.inf


def test_no_winograd_without_a_kernel_model():
    plain = dataclasses.replace(V100, kernel_model=None)
    assert winograd_s(1, 8, 8, 4, 4, hw=plain, peak_flops=FP32_PEAK) == np.inf


SIZES = st.tuples(st.integers(1, 64), st.integers(1, 120), st.integers(1, 1024), st.integers(1, 1024))


@settings(max_examples=60, deadline=None)
@given(SIZES, st.integers(0, 3), st.integers(1, 64))
def test_time_never_falls_as_a_size_grows(sizes, which, grow):
    n, p, c, k = sizes
    bigger = list(sizes)
    bigger[which] += grow
    for algorithm in (winograd_nonfused_s, winograd_fused_s):
        small = algorithm(n, p, p, p, p, c, k, hw=V100, peak_flops=FP32_PEAK)
        large = algorithm(bigger[0], bigger[1], bigger[1], bigger[1], bigger[1], bigger[2], bigger[3], hw=V100,
                          peak_flops=FP32_PEAK)
        assert large >= small * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(SIZES)
def test_the_multiplies_run_no_faster_than_the_peak(sizes):
    # Efficiency <= 1 on the multiplies Winograd does run (2 FLOPs each).
    n, p, c, k = sizes
    for algorithm, m in ((winograd_nonfused_s, 4), (winograd_fused_s, 2)):
        seconds = algorithm(n, p, p, p, p, c, k, hw=V100, peak_flops=FP32_PEAK)
        assert seconds >= 2 * winograd_multiplies(n, p, p, c, k, m) / FP32_PEAK


def test_vectorised_over_arrays():
    # One call over a grid gives what one call per point gives.
    n = np.array([[1.0, 8.0], [32.0, 64.0]])
    grid = winograd_s(n, 28, 28, 256, 128, hw=V100, peak_flops=FP32_PEAK)
    one_by_one = [[winograd_s(v, 28, 28, 256, 128, hw=V100, peak_flops=FP32_PEAK) for v in row] for row in n]
    assert np.allclose(grid, one_by_one, rtol=1e-12)
    # A NaN size (an op Winograd cannot run) gives +inf: the implicit GEMM stays.
    assert np.isinf(winograd_s(np.nan, 28, 28, 256, 128, hw=V100, peak_flops=FP32_PEAK))
