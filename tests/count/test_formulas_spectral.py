"""roofline/count/formulas/spectral.py: FFTs at FFTW's 5 N log2 N (2.5 for real data),
worked out by hand."""

import pytest
import sympy
import torch

from roofline.count.formulas.spectral import fft_flops
from tests.conftest import only_cost


def flops_of(fn, op=None):
    return only_cost(fn, op=op).flops


X = torch.randn(4, 16)
XC = X.to(torch.complex64)


@pytest.mark.parametrize("fn, expected", [
    # 4 real transforms of 16 points: 4 x 2.5 x 16 x log2 16 = 640.
    (lambda: torch.fft.rfft(X), 640),
    # Complex: 4 x 5 x 16 x 4 = 1,280.
    (lambda: torch.fft.fft(XC), 1_280),
    # 2-d complex transform of 4 x 16 = 64 points: 5 x 64 x 6 = 1,920.
    (lambda: torch.fft.fft2(XC), 1_920),
    # ortho-normalised 2-d real transform: 2.5 x 64 x 6 = 960, then 4 x 9 complex outputs
    # scaled, 2 FLOPs each: 72. Total 1,032.
    (lambda: torch.fft.rfftn(X, norm="ortho"), 1_032),
])
def test_fft_counts_5_n_log2_n(fn, expected):
    assert flops_of(fn) == expected


def test_inverse_real_fft_is_sized_by_its_real_output_and_scaled():
    spectrum = torch.fft.rfft(X)  # [4, 9]
    # 16-point real output: 4 x 2.5 x 16 x 4 = 640, then 64 outputs scaled by 1/16: 704.
    assert flops_of(lambda: torch.fft.irfft(spectrum), op="aten._fft_c2r") == 704
    n = sympy.Symbol("n", positive=True, integer=True)
    assert sympy.simplify(fft_flops(n) - 5 * n * sympy.log(n, 2)) == 0


def test_ffts_are_other_work():
    from roofline.count.categories import OTHER

    assert only_cost(lambda: torch.fft.rfft(X)).category == OTHER
