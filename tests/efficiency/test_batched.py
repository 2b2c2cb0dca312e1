"""Batched GEMMs (bmm) on the architecture's batched tiles (KernelModel.batched_tiles,
gemm_efficiency["batched"]): hand-worked cases, and the properties every shape keeps."""

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import roofline
from roofline.efficiency import kernel_efficiency_arrays
from roofline.hardware import KernelModel, load_hardware
from roofline.predict import Tf32Policy

TF32_OFF = Tf32Policy(conv=False, matmul=False)
#: An A100-like kernel model: 108 SMs, single GEMMs at 0.8 of the peak on the menu,
#: batched ones on cuBLAS's one 128x128 tile at 0.9, 16 K steps of fixed cost per tile.
MODEL = KernelModel(sms=108, boost_clock_hz=1410e6, sustained_clock_hz=1410e6,
                    gemm_efficiency={"simt": 0.8, "batched": 0.9}, k_overhead=16.0, latency_s=0.0,
                    min_kernel_s=0.0, source="test", batched_tiles=((128, 128, 1),))


def spec_with(model):
    return dataclasses.replace(load_hardware("a100-pcie"), kernel_model=model, overhead_s=0.0)


def fraction(model, batch, m, n, k):
    """The attained fraction of the fp32 peak of one GEMM (fp32 on CUDA cores)."""
    shape = tuple(np.array([float(v)]) for v in (batch, m, n, k))
    out = kernel_efficiency_arrays(shape, spec_with(model), compute=np.array([0.7]),
                                   on_tensor_cores=np.array([False]), does_work=np.array([True]))
    return float(out.compute[0])


def test_a_batched_gemm_runs_the_fixed_tile():
    # 108 products of 64 x 48 @ 48 x 128 (m=64, k=48, n=128): on the 128x128 tile, 108
    # tiles (one per product) fill the 108 SMs in one wave, each tile 128 x 128 outputs
    # over 48 + 16 K steps. Useful: 64 x 128 x 48 per SM = 393216 FMA steps; spent:
    # 128 x 128 x 64 = 1048576; 393216 / 1048576 = 0.375; x 0.9 (batched) = 0.3375.
    assert fraction(MODEL, 108, 64, 128, 48) == pytest.approx(0.375 * 0.9, rel=1e-12)


def test_without_batched_tiles_the_menu_and_split_k_stand():
    # Same product on the general menu: the 32x128 tile (2 per SM, 216 slots) covers each
    # product with 2 tiles, 216 tiles, one wave with no waste: 2 x 32 x 128 x (48 + 16) =
    # 524288 steps spent for 393216 useful: 0.75 (64x32, 4 per SM, ties; 64x128 splitting
    # K in two spends 2 x 64 x 128 x (24 + 16) = 655360: 0.6). x 0.8 (simt) = 0.6.
    plain = dataclasses.replace(MODEL, batched_tiles=())
    assert fraction(plain, 108, 64, 128, 48) == pytest.approx(0.75 * 0.8, rel=1e-12)


def test_a_single_gemm_keeps_the_menu():
    # batch 1 is a single GEMM: batched tiles do not apply. 1152 x 1536 outputs are 108
    # tiles of 128x128 (one wave), K = 4096: 4096 / (4096 + 16) of the peak at 0.8; no
    # smaller tile of the menu does better (their K splits pay 16 steps each too).
    assert fraction(MODEL, 1, 1152, 1536, 4096) == pytest.approx(0.8 * 4096 / 4112, rel=1e-12)


def test_the_best_of_several_batched_tiles_is_taken():
    # A Turing-like pair, 64x64 and 64x128 (one per SM each): 40 SMs, 40 products of
    # 64 x 64 outputs, K = 112. On 64x64: 40 tiles, one wave, 112 / (112 + 16) = 0.875.
    # On 64x128: half of each tile wasted: 0.4375. The better one stands: 0.875 x 0.9.
    turing = dataclasses.replace(MODEL, sms=40, batched_tiles=((64, 64, 1), (64, 128, 1)))
    assert fraction(turing, 40, 64, 64, 112) == pytest.approx(0.875 * 0.9, rel=1e-12)


def test_tiles_resident_together_quantize_waves_coarser():
    # 80 SMs, 400 products of 64 x 64 outputs, K = 48, one 64x64 tile each. One per SM:
    # 400 / 80 = 5 full waves of 64 x 64 x (48 + 16) steps: useful 48 of 64 = 0.75.
    # Four per SM (each running at a quarter of the SM): 320 slots, so 2 waves, the
    # second 80 of 320 full; spent 2 x 4 x 64 x 64 x 64 = 2097152 per SM, useful
    # 400 x 64 x 64 x 48 / 80 = 983040: 0.46875.
    one = dataclasses.replace(MODEL, sms=80, batched_tiles=((64, 64, 1),))
    four = dataclasses.replace(MODEL, sms=80, batched_tiles=((64, 64, 4),))
    assert fraction(one, 400, 64, 64, 48) == pytest.approx(0.75 * 0.9, rel=1e-12)
    assert fraction(four, 400, 64, 64, 48) == pytest.approx(0.46875 * 0.9, rel=1e-12)


def test_bmm_through_prediction():
    # torch.bmm of [108, 64, 48] @ [108, 48, 128]: compute_s = 2 x 108 x 64 x 48 x 128 FLOP
    # over 19.5 TFLOP/s x 0.3375 (the first case's fraction).
    spec = spec_with(MODEL)
    a, b = torch.randn(108, 64, 48), torch.randn(108, 48, 128)
    ops = roofline.analyze(lambda x, y: torch.bmm(x, y), (a, b), hw=spec, meta=True, tf32=TF32_OFF).ops
    bmm = ops[ops.op == "aten.bmm"].iloc[0]
    assert bmm.compute_s == pytest.approx(2 * 108 * 64 * 48 * 128 / (19.5e12 * 0.3375), rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(batch=st.integers(2, 512), m=st.integers(1, 4096), n=st.integers(1, 4096), k=st.integers(1, 4096),
       tiles=st.sampled_from([((128, 128, 1),), ((64, 128, 1),), ((64, 64, 1), (64, 128, 1)),
                              ((64, 64, 4), (128, 32, 3), (32, 128, 2))]),
       sms=st.sampled_from([20, 40, 80, 108]))
def test_batched_efficiency_is_a_fraction_and_time_grows_with_size(batch, m, n, k, tiles, sms):
    model = dataclasses.replace(MODEL, sms=sms, batched_tiles=tiles)

    def time(bb, mm, nn, kk):  # FLOPs over the attained rate, in units of the peak
        return bb * mm * nn * kk / fraction(model, bb, mm, nn, kk)

    assert 0.0 < fraction(model, batch, m, n, k) <= 1.0
    base = time(batch, m, n, k)
    for grown in ((2 * batch, m, n, k), (batch, 2 * m, n, k), (batch, m, 2 * n, k), (batch, m, n, 2 * k)):
        assert time(*grown) >= base * (1 - 1e-9)
