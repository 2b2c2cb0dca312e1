"""roofline.efficiency.gemm: tile, wave and reduction-depth losses worked by hand."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.efficiency.gemm import TILE_MENUS, Tile, gemm_efficiency

ONE_TILE = (Tile(128, 128, 1),)


def test_a_full_wave_of_whole_tiles_loses_nothing():
    # 108 SMs, one 128x128 tile each: a 1152 x 1536 output is 9 x 12 = 108 tiles, one wave.
    assert gemm_efficiency(1, 1152, 1536, 4096, sms=108, menu=ONE_TILE) == 1.0


def test_tile_quantization():
    # M = 129 needs two row tiles of 128: 2 x 12 = 24 tiles on 108 SMs, one wave; the
    # useful share of the tiles' work is 129 / 256 ... of a wave of 108 slots, 24 busy.
    e = gemm_efficiency(1, 129, 1536, 4096, sms=108, menu=ONE_TILE, split_k=False)
    useful = 129 * 1536 * 4096 / 108
    spent = 1 * 1 * 128 * 128 * 4096  # one wave, one tile per SM, K steps each
    assert e == useful / spent  # = 0.0895...


def test_wave_quantization():
    # 109 tiles on 108 SMs: two waves, the second nearly empty: 109 / 216 of the slots.
    e = gemm_efficiency(1, 128 * 109, 128, 1024, sms=108, menu=ONE_TILE, split_k=False)
    assert abs(e - 109 / 216) < 1e-12


def test_reduction_depth_overhead():
    # 16 steps of fixed cost per tile on a 64-deep reduction: 64 / (64 + 16) = 0.8.
    e = gemm_efficiency(1, 1152, 1536, 64, sms=108, menu=ONE_TILE, k_overhead=16)
    assert abs(e - 0.8) < 1e-12


def test_split_k_fills_the_device_on_a_skinny_product():
    # One 128x128 output tile with K = 108 x 1024: split-K gives each SM a part of 1024.
    skinny = gemm_efficiency(1, 128, 128, 108 * 1024, sms=108, menu=ONE_TILE)
    unsplit = gemm_efficiency(1, 128, 128, 108 * 1024, sms=108, menu=ONE_TILE, split_k=False)
    assert abs(skinny - 1.0) < 1e-12 and abs(unsplit - 1 / 108) < 1e-12
    # Each of the 108 parts pays the tile's 16 fixed steps: 1024 / (1024 + 16).
    paying = gemm_efficiency(1, 128, 128, 108 * 1024, sms=108, menu=ONE_TILE, k_overhead=16)
    assert abs(paying - 1024 / 1040) < 1e-12


def test_the_best_tile_of_the_menu_is_chosen():
    # 64 x 64 outputs: a 128x128 tile wastes 3/4 of itself, a 64x64 one nothing.
    menu = (Tile(128, 128, 1), Tile(64, 64, 1))
    assert gemm_efficiency(1, 64, 64, 4096, sms=1, menu=menu, split_k=False) == 1.0


@settings(max_examples=200, deadline=None)
@given(batch=st.integers(1, 64), m=st.integers(1, 8192), n=st.integers(1, 8192), k=st.integers(1, 8192),
       sms=st.sampled_from([20, 40, 56, 80, 108, 132]), overhead=st.sampled_from([0.0, 16.0]))
def test_efficiency_is_a_fraction(batch, m, n, k, sms, overhead):
    for menu in TILE_MENUS.values():
        e = float(gemm_efficiency(batch, m, n, k, sms=sms, menu=menu, k_overhead=overhead))
        assert 0.0 < e <= 1.0


@settings(max_examples=100, deadline=None)
@given(m=st.integers(1, 4096), n=st.integers(1, 4096), k=st.integers(1, 4096), sms=st.sampled_from([40, 108]))
def test_time_never_falls_as_the_problem_grows(m, n, k, sms):
    """Time is FLOPs over attained rate; doubling any dimension never makes it faster."""
    menu = TILE_MENUS["simt"]

    def time(mm, nn, kk):
        return mm * nn * kk / float(gemm_efficiency(1, mm, nn, kk, sms=sms, menu=menu, k_overhead=16))

    base = time(m, n, k)
    assert time(2 * m, n, k) >= base * (1 - 1e-9)
    assert time(m, 2 * n, k) >= base * (1 - 1e-9)
    assert time(m, n, 2 * k) >= base * (1 - 1e-9)


def test_arrays_broadcast():
    e = gemm_efficiency(np.array([1, 2]), np.array([1152, 1152]), 1536, 4096, sms=108, menu=ONE_TILE)
    assert e.shape == (2,) and e[0] == 1.0 and e[1] == 1.0  # two batches: 216 tiles, two full waves
