"""roofline/count/formulas/linalg.py: the standard leading-order FLOP counts of Golub & Van
Loan and LAPACK Working Note 41, worked out by hand for small matrices."""

import pytest
import torch

from roofline.count.categories import GEMM
from tests.conftest import costs_of, only_cost


def flops_of(fn, op=None):
    return only_cost(fn, op=op).flops


A = torch.randn(6, 6)
SPD = A @ A.T + 6 * torch.eye(6)  # symmetric positive definite
B = torch.randn(6, 2)
TALL = torch.randn(8, 5)


@pytest.mark.parametrize("fn, op, expected", [
    # Cholesky n^3/3: 216/3 = 72.
    (lambda: torch.linalg.cholesky(SPD), "aten.linalg_cholesky_ex", 72),
    # LU 2n^3/3 = 144 (lu_factor, lu, det and slogdet all factor once).
    (lambda: torch.linalg.lu_factor(A), "aten.linalg_lu_factor_ex", 144),
    (lambda: torch.linalg.lu(A), "aten.linalg_lu", 144),
    (lambda: torch.linalg.det(A), "aten._linalg_det", 144),
    # Solve: LU 144 + 2 n^2 k = 2*36*2 = 144: 288.
    (lambda: torch.linalg.solve(A, B), "aten._linalg_solve_ex", 288),
    # Inverse: 2 n^3 = 432.
    (lambda: torch.linalg.inv(A), "aten.linalg_inv_ex", 432),
    # Triangular solve n^2 k = 36*2 = 72.
    (lambda: torch.linalg.solve_triangular(torch.tril(SPD), B, upper=False), "aten.linalg_solve_triangular", 72),
    # Symmetric eigen with vectors 9 n^3 = 1,944; general eigen 25 n^3 = 5,400.
    (lambda: torch.linalg.eigh(SPD), "aten._linalg_eigh", 1_944),
    (lambda: torch.linalg.eig(A), "aten.linalg_eig", 5_400),
    # Thin SVD of 8 x 5: 14 m n^2 + 8 n^3 = 14*8*25 + 8*125 = 3,800; full: 4 m^2 n + 8 m n^2
    # + 9 n^3 = 1,280 + 1,600 + 1,125 = 4,005.
    (lambda: torch.linalg.svd(TALL, full_matrices=False), "aten._linalg_svd", 3_800),
    (lambda: torch.linalg.svd(TALL), "aten._linalg_svd", 4_005),
])
def test_decompositions_count_the_standard_flops(fn, op, expected):
    assert flops_of(fn, op=op) == pytest.approx(expected)


def test_qr_counts_the_factorization_and_forming_q():
    # geqrf of 8 x 5: 2 m n^2 - 2 n^3/3 = 400 - 250/3 = 316.67.
    geqrf = 400 - 250 / 3
    assert flops_of(lambda: torch.linalg.qr(TALL, mode="r")) == pytest.approx(geqrf)
    # Reduced Q (orgqr, 8 x 5 from 5 reflectors): 4*8*5*5 - 2*(8+5)*25 + 4*125/3 = 316.67.
    assert flops_of(lambda: torch.linalg.qr(TALL)) == pytest.approx(geqrf + 800 - 650 + 500 / 3)
    # Complete Q (8 x 8): 4*8*8*5 - 2*(8+8)*25 + 4*125/3 = 646.67.
    assert flops_of(lambda: torch.linalg.qr(TALL, mode="complete")) == pytest.approx(geqrf + 1_280 - 800 + 500 / 3)


def test_batched_and_complex_matrices():
    batch = torch.stack([SPD, SPD, SPD])
    assert flops_of(lambda: torch.linalg.cholesky(batch), op="aten.linalg_cholesky_ex") == 3 * 72
    # A complex multiply-add is 8 real FLOPs against 2: 4 x.
    assert flops_of(lambda: torch.linalg.inv(A.to(torch.complex64)), op="aten.linalg_inv_ex") == 4 * 432


def test_linalg_is_gemm_work_on_the_vector_units():
    ((_, cost),) = [c for c in costs_of(lambda: torch.linalg.inv(A)) if c[0] == "aten.linalg_inv_ex"]
    assert (cost.category, cost.unit) == (GEMM, "vector")
    assert cost.bytes_read == 36 * 4  # A once; the inverse and the info flag written
    assert cost.bytes_written == 36 * 4 + 4
