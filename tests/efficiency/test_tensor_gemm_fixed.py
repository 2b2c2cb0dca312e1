"""kernel_model.tensor_gemm_fixed: a tensor-core GEMM kernel's fixed time, once per kernel.

What is checked: the fixed time adds exactly once to a tensor-core GEMM's kernel time
(the spec's 6 us, a closed form: the difference with and without it) and never to an
fp32 GEMM on CUDA cores or to an element-wise op; and against published measurements
no fit saw (cited below), half-precision GEMMs of 1 to 34 GFLOP and weight-streaming
linears come within 15%, where without the fixed time the small ones are 25-50% fast.
"""

import dataclasses

import pytest
import torch
from torch import nn

from roofline.analysis import analyze
from roofline.hardware import load_hardware


class MatMul(nn.Module):
    def forward(self, a, b):
        return a @ b


def meta(*shape, dtype=torch.bfloat16):
    return torch.empty(shape, dtype=dtype, device="meta")


def kernel_s(model, inputs, spec):
    return float(analyze(model, inputs, hw=spec).ops["kernel_s"].sum())


def without_fixed(spec):
    return dataclasses.replace(spec, kernel_model=dataclasses.replace(spec.kernel_model, tensor_gemm_fixed_s=0.0))


def test_added_once_to_a_tensor_core_gemm_only():
    spec = load_hardware("h100-sxm")
    assert spec.kernel_model.tensor_gemm_fixed_s == pytest.approx(6e-6)
    bare = without_fixed(spec)
    # 8192^3 in bf16: compute-bound, far above the 2 us floor: exactly 6 us more.
    big = (meta(8192, 8192), meta(8192, 8192))
    assert kernel_s(MatMul(), big, spec) - kernel_s(MatMul(), big, bare) == pytest.approx(6e-6, rel=1e-6)
    # fp32 runs on CUDA cores (the SIMT tiles' own fixed cost, k_overhead, covers it): nothing added.
    fp32 = (meta(4096, 4096, dtype=torch.float32), meta(4096, 4096, dtype=torch.float32))
    assert kernel_s(MatMul(), fp32, spec) == kernel_s(MatMul(), fp32, bare)

    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    vectors = (meta(1 << 24), meta(1 << 24))
    assert kernel_s(Add(), vectors, spec) == kernel_s(Add(), vectors, bare)


#: Published kernel times (us) no fit saw: (spec, dtype, batch, M, N, K, linear?, us, source).
HELD_OUT = [
    # tile-ai/TileOPs PR #2148, BmmFwdOp table, torch-cublas column (H200, CUDA 13.2, PyTorch 2.13)
    ("h200", torch.bfloat16, 16, 512, 512, 512, False, 11.9, "github.com/tile-ai/TileOPs/pull/2148"),
    ("h200", torch.bfloat16, 8, 1024, 1024, 1024, False, 30.7, "github.com/tile-ai/TileOPs/pull/2148"),
    # XLA's H100 bf16 matmul table (openxla/xla matmul_interpolator_data.h): its batched points, not fitted
    ("h100-sxm", torch.bfloat16, 4, 1024, 1024, 1024, False, 17.5, "openxla/xla matmul_interpolator_data.h"),
    ("h100-sxm", torch.bfloat16, 2, 2048, 2048, 2048, False, 47.9, "openxla/xla matmul_interpolator_data.h"),
    # ml-explore/mlx PRs #3255 (A100 80GB) and #3160 (H100): cuBLAS fp16 x @ w.T baselines
    ("a100-sxm", torch.float16, 1, 64, 4096, 4096, True, 27.0, "github.com/ml-explore/mlx/pull/3255"),
    ("h100-sxm", torch.float16, 1, 64, 16384, 16384, True, 192.8, "github.com/ml-explore/mlx/pull/3160"),
]


def published_case(spec_name, dtype, batch, m, n, k, linear):
    if linear:
        return nn.Linear(k, n, bias=False, device="meta", dtype=dtype), (meta(m, k, dtype=dtype),)
    lead = (batch,) if batch > 1 else ()
    return MatMul(), (meta(*lead, m, k, dtype=dtype), meta(*lead, k, n, dtype=dtype))


@pytest.mark.parametrize("spec_name, dtype, batch, m, n, k, linear, measured_us, source", HELD_OUT)
def test_published_half_precision_gemms_within_15_percent(spec_name, dtype, batch, m, n, k, linear, measured_us, source):
    model, inputs = published_case(spec_name, dtype, batch, m, n, k, linear)
    predicted_us = kernel_s(model, inputs, load_hardware(spec_name)) * 1e6
    assert abs(predicted_us / measured_us - 1) <= 0.15, (source, predicted_us, measured_us)


def test_without_it_the_small_ones_come_out_far_too_fast():
    # The same held-out figures under 35 us: the tile and wave time alone is 25-50% short.
    for spec_name, dtype, batch, m, n, k, linear, measured_us, source in HELD_OUT:
        if measured_us > 35:
            continue
        model, inputs = published_case(spec_name, dtype, batch, m, n, k, linear)
        predicted_us = kernel_s(model, inputs, without_fixed(load_hardware(spec_name))) * 1e6
        assert predicted_us / measured_us - 1 < -0.2, (source, predicted_us, measured_us)
