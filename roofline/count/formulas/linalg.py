"""Dense linear algebra: the LAPACK-style factorizations and solves behind torch.linalg.

FLOPs are the standard leading-order counts (each multiply and each add one FLOP; the
O(n^2) terms left out), from Golub & Van Loan, Matrix Computations (4th ed., 2013) and
LAPACK Working Note 41 (Blackford & Dongarra, "Installation Guide for LAPACK", 1999,
appendix: operation counts of the LAPACK routines). For an m x n matrix, p = min(m, n),
q = max(m, n); k right-hand sides:

    Cholesky (potrf)                n^3/3
    LU, partial pivoting (getrf)    q p^2 - p^3/3             (2n^3/3 square)
    QR, Householder (geqrf)         2 q p^2 - 2 p^3/3
    forming Q (orgqr, m x c, k refl.) 4 m c k - 2 (m + c) k^2 + 4 k^3/3
    inverse from LU (getrf + getri) 2n^3
    solve with LU (getrs)           2 n^2 k per solve; Cholesky (potrs) the same
    triangular solve (trsm)         n^2 k
    inverse from Cholesky (potri)   2n^3/3
    symmetric eigen (syev)          4n^3/3 values only, 9n^3 with vectors (GVL 8.3)
    general eigen (geev)            10n^3 values only, 25n^3 with vectors (GVL 7.5.6)
    SVD, Golub-Reinsch (GVL 8.6)    4qp^2 - 4p^3/3 values; 14qp^2 + 8p^3 thin U, V;
                                    4q^2 p + 8qp^2 + 9p^3 full U, V

Leading dims are a batch of independent matrices. A complex multiply-add is 4 real
multiplies and 4 adds against 2, so complex matrices count 4x (LAWN 41's convention).
LAPACK and cuSOLVER run these in the matrix's own precision on the vector (FMA) units,
not on tensor cores: unit VECTOR. Bytes are compulsory: inputs once, outputs once.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import GEMM
from roofline.count.formulas._common import prod, read_bytes, smin, written_bytes
from roofline.count.registry import Cost, register


def cholesky_flops(n: Any) -> Any:
    return n**3 / 3


def lu_flops(m: Any, n: Any) -> Any:
    """getrf of an m x n matrix: q p^2 - p^3/3 (2n^3/3 when square)."""
    p, q = smin(m, n), m + n - smin(m, n)
    return q * p**2 - p**3 / 3


def qr_flops(m: Any, n: Any) -> Any:
    """geqrf of an m x n matrix: 2 q p^2 - 2 p^3/3."""
    p, q = smin(m, n), m + n - smin(m, n)
    return 2 * q * p**2 - 2 * p**3 / 3


def form_q_flops(m: Any, columns: Any, reflectors: Any) -> Any:
    """orgqr: the first ``columns`` columns of Q (m rows) from ``reflectors`` reflectors."""
    return 4 * m * columns * reflectors - 2 * (m + columns) * reflectors**2 + 4 * reflectors**3 / 3


def svd_flops(m: Any, n: Any, vectors: bool, full: bool) -> Any:
    """Golub-Reinsch SVD of an m x n matrix (GVL table 8.6.1, with m and n swapped when wide)."""
    p, q = smin(m, n), m + n - smin(m, n)
    if not vectors:
        return 4 * q * p**2 - 4 * p**3 / 3
    if full:
        return 4 * q**2 * p + 8 * q * p**2 + 9 * p**3
    return 14 * q * p**2 + 8 * p**3


def eigh_flops(n: Any, vectors: bool) -> Any:
    return 9 * n**3 if vectors else 4 * n**3 / 3


def eig_flops(n: Any, vectors: bool) -> Any:
    return 25 * n**3 if vectors else 10 * n**3


def _matrix(record: OpRecord, name: str, position: int) -> TensorInfo:
    value = record.arg(name, position)
    return value if isinstance(value, TensorInfo) else record.inputs[0]


def _cost(record: OpRecord, a: TensorInfo, per_matrix: Any) -> Cost:
    """Cost of ``per_matrix`` FLOPs on each matrix of the batch ``a`` holds (x4 complex)."""
    scale = 4 if a.dtype.is_complex else 1
    return Cost(scale * prod(a.shape[:-2]) * per_matrix, read_bytes(record), written_bytes(record), GEMM)


def _rows_cols(a: TensorInfo) -> tuple[Any, Any]:
    return a.shape[-2], a.shape[-1]


@register("aten.linalg_cholesky_ex", "aten.cholesky", "aten.linalg_cholesky")
def cholesky_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "self", 0)
    return _cost(record, a, cholesky_flops(a.shape[-1]))


@register("aten.linalg_lu_factor_ex", "aten.linalg_lu", "aten._linalg_det", "aten._linalg_slogdet")
def lu_cost(record: OpRecord) -> Cost:
    """LU with partial pivoting; the determinant is the product of U's diagonal (n more
    multiplies, left out); linalg_lu also unpacks P, L and U (copies)."""
    a = _matrix(record, "A", 0)
    return _cost(record, a, lu_flops(*_rows_cols(a)))


@register("aten.linalg_qr")
def qr_cost(record: OpRecord) -> Cost:
    """geqrf, then Q formed (orgqr) unless mode="r": m x p for "reduced", m x m for "complete"."""
    a = _matrix(record, "A", 0)
    m, n = _rows_cols(a)
    mode = record.arg("mode", 1, "reduced")
    p = smin(m, n)
    q_columns = {"r": 0, "complete": m}.get(mode, p)
    form_q = form_q_flops(m, q_columns, p) if q_columns else 0
    return _cost(record, a, qr_flops(m, n) + form_q)


@register("aten.geqrf")
def geqrf_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "self", 0)
    return _cost(record, a, qr_flops(*_rows_cols(a)))


@register("aten.linalg_householder_product", "aten.orgqr")
def householder_product_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "input", 0)
    m, columns = _rows_cols(a)
    reflectors = record.inputs[1].shape[-1]
    return _cost(record, a, form_q_flops(m, columns, reflectors))


@register("aten._linalg_svd")
def svd_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "A", 0)
    vectors = bool(record.arg("compute_uv", 2, True))
    full = bool(record.arg("full_matrices", 1, False))
    return _cost(record, a, svd_flops(*_rows_cols(a), vectors, full))


@register("aten._linalg_eigh")
def eigh_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "A", 0)
    return _cost(record, a, eigh_flops(a.shape[-1], bool(record.arg("compute_v", 2, True))))


@register("aten.linalg_eig", "aten._linalg_eigvals")
def eig_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "self", 0)
    return _cost(record, a, eig_flops(a.shape[-1], record.packet == "aten.linalg_eig"))


def _right_hand_sides(b: TensorInfo, n: Any, left: bool) -> Any:
    """Columns solved for: B is n x k (left) or k x n (right); a vector is one."""
    if len(b.shape) == 1:
        return 1
    return b.shape[-1] if left else b.shape[-2]


@register("aten._linalg_solve_ex")
def solve_cost(record: OpRecord) -> Cost:
    """LU of A, then a forward and a back substitution per right-hand side."""
    a, b = _matrix(record, "A", 0), record.arg("B", 1)
    n = a.shape[-1]
    k = _right_hand_sides(b, n, bool(record.arg("left", default=True)))
    return _cost(record, a, lu_flops(n, n) + 2 * n**2 * k)


@register("aten.linalg_inv_ex")
def inverse_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "A", 0)
    return _cost(record, a, 2 * a.shape[-1] ** 3)


@register("aten.linalg_lu_solve", "aten.cholesky_solve")
def factored_solve_cost(record: OpRecord) -> Cost:
    """Two triangular solves per right-hand side with a factor already made."""
    if record.packet == "aten.cholesky_solve":
        b, factor, left = record.arg("self", 0), record.arg("input2", 1), True
    else:
        b, factor, left = record.arg("B", 2), record.arg("LU", 0), bool(record.arg("left", default=True))
    n = factor.shape[-1]
    return _cost(record, b if len(b.shape) >= 2 else factor, 2 * n**2 * _right_hand_sides(b, n, left))


@register("aten.linalg_solve_triangular", "aten.triangular_solve")
def triangular_solve_cost(record: OpRecord) -> Cost:
    if record.packet == "aten.triangular_solve":  # (b, A): solve A X = b
        b, a, left = record.arg("self", 0), record.arg("A", 1), True
    else:
        a, b, left = record.arg("self", 0), record.arg("B", 1), bool(record.arg("left", default=True))
    n = a.shape[-1]
    return _cost(record, b, n**2 * _right_hand_sides(b, n, left))


@register("aten.cholesky_inverse")
def cholesky_inverse_cost(record: OpRecord) -> Cost:
    a = _matrix(record, "self", 0)
    return _cost(record, a, 2 * a.shape[-1] ** 3 / 3)


@register("aten.linalg_lstsq")
def lstsq_cost(record: OpRecord) -> Cost:
    """Least squares by QR (gels): geqrf, Q^T applied to the k columns of b (4mnk -
    2n^2 k) and a triangular solve (n^2 k): QR + (4mn - n^2) k for m >= n."""
    a, b = record.arg("self", 0), record.arg("b", 1)
    m, n = _rows_cols(a)
    k = 1 if len(b.shape) == len(a.shape) - 1 else b.shape[-1]
    p = smin(m, n)
    return _cost(record, a, qr_flops(m, n) + (4 * m * p - p**2) * k)
