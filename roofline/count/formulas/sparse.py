"""Sparse matrix products (SpMM, SpMV, SpGEMM) and the other sparse-tensor kernels.

A sparse (M x K) matrix with nnz stored values times a dense (K x N) matrix does one
multiply-add per stored value per output column: 2*nnz*N FLOPs (SpMV: N = 1); a dense
(M x K) matrix times a sparse (K x N) one does 2*nnz*M. An added matrix (addmm's
``self`` with beta != 0) adds M*N FLOPs and is read. Bytes are compulsory traffic: the
sparse operand's nnz values and its indices (COO: ndim int64 per value; CSR: one column
index per value plus M+1 row pointers), the dense operand once, the dense result
written once. Category Sparse MM, on vector units.

What torch 2.13 dispatches on CPU (captured, see tests/test_formulas_sparse.py):
``torch.sparse.mm`` and ``torch.sparse.addmm`` become ``aten._sparse_addmm`` (mm as
beta=0 on a fresh ``zeros``), ``sparse @ dense`` and ``torch.mm`` stay ``aten.mm`` with
a sparse operand, ``torch.addmm`` stays ``aten.addmm``, sparse-vector products are
``aten.mv``; dense @ sparse is ``aten.mm`` with the sparse operand second, and
``torch.sparse.mm(dense, sparse)`` transposes into ``_sparse_addmm``. Sparse @ sparse is
``aten._sparse_sparse_matmul``. aten.mm/addmm/mv are registered by roofline.count.formulas.matmul,
which hands calls with a sparse operand to ``sparse_matmul_cost`` here.

Graph message passing (gather rows with ``index_select``, combine with ``index_add_``,
``scatter_add``/``scatter_reduce``) is counted in roofline.count.formulas.movement; its
aggregation step is Sparse MM as well. ``message_passing_cost`` below is its closed form.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import DATA_TRANSFORM, ELEMENTWISE, SPARSE_MM
from roofline.count.formulas._common import (
    distinct_bytes,
    inputs_read,
    is_symbolic,
    read_bytes,
    smin,
    written_bytes,
)
from roofline.count.formulas.movement import sort_flops
from roofline.count.formulas.no_work import view_cost
from roofline.count.registry import VECTOR, Cost, register

#: Bytes of one sparse index (COO indices, CSR row pointers and column indices).
INDEX_ITEMSIZE = 8

#: Sparse layouts torch reports (TensorInfo.layout).
SPARSE_LAYOUTS = frozenset({"sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc"})

#: FLOPs per stored value of the sparse softmax (max, subtract, exp, sum, divide).
SPARSE_SOFTMAX_FLOPS_PER_VALUE = 5


def is_sparse(info: Any) -> bool:
    return isinstance(info, TensorInfo) and info.layout in SPARSE_LAYOUTS


def sparse_index_bytes(nnz: Any, rows: Any, layout: str = "sparse_coo", ndim: Any = 2, index_itemsize: Any = INDEX_ITEMSIZE) -> Any:
    """Bytes of the indices of a sparse matrix with ``nnz`` stored values.

    COO stores ``ndim`` indices per value; CSR one column index per value plus
    ``rows + 1`` row pointers (CSC the same with columns, passed as ``rows``).
    """
    if layout in ("sparse_csr", "sparse_csc", "csr", "csc"):
        return (nnz + rows + 1) * index_itemsize
    return nnz * ndim * index_itemsize


def spmm_flops(nnz: Any, n: Any, accumulate_elems: Any = 0) -> Any:
    """FLOPs of a sparse matrix with ``nnz`` stored values times a dense matrix of ``n``
    columns: one multiply-add (2 FLOPs) per stored value per column, plus one add per
    element of an accumulated matrix (``accumulate_elems``, M*N for addmm with beta != 0)."""
    return 2 * nnz * n + accumulate_elems


def spmm_bytes(
    nnz: Any,
    m: Any,
    k: Any,
    n: Any,
    itemsize: Any = 4,
    layout: str = "sparse_coo",
    accumulate: bool = False,
    index_itemsize: Any = INDEX_ITEMSIZE,
) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of sparse (m x k, nnz) @ dense (k x n).

    Read: nnz values and their indices, the dense operand, and the added matrix when
    accumulating; written: the dense (m x n) result.
    """
    bytes_read = nnz * itemsize + sparse_index_bytes(nnz, m, layout, 2, index_itemsize) + k * n * itemsize
    if accumulate:
        bytes_read = bytes_read + m * n * itemsize
    return bytes_read, m * n * itemsize


def spgemm_flops(nnz_a: Any, nnz_b: Any, k: Any) -> Any:
    """Expected FLOPs of sparse (m x k, nnz_a) @ sparse (k x n, nnz_b).

    The exact count depends on where the values sit (sum over k of the nonzeros in
    column k of A times those in row k of B); with values spread uniformly it is
    nnz_a * nnz_b / k multiply-adds, the estimate used here.
    """
    if not is_symbolic(k) and k == 0:
        return 0
    return 2 * nnz_a * nnz_b / k


def message_passing_cost(edges: Any, features: Any, nodes: Any, itemsize: Any = 4, weighted: bool = True) -> dict[str, Any]:
    """Closed form of one message-passing aggregation over a graph with ``edges`` edges:
    gather the source rows (index_select), scale them by edge weights (mul), sum them
    into the target rows (index_add_ on a zeroed (nodes x features) output).

    Returns {"flops", "bytes_read", "bytes_written"} summed over the gather, the
    multiply, the zero fill and the scatter-add, with each op's traffic as the op
    formulas count it (int64 indices; a gather reads at most the whole source table,
    a scatter-add touches at most the whole target). FLOPs equal SpMM's 2*nnz*N with
    nnz = edges.
    """
    rows = edges * features * itemsize
    index = edges * INDEX_ITEMSIZE
    table = nodes * features * itemsize
    touched = smin(table, rows)
    gather = (touched + index, rows)
    scale = (rows + edges * itemsize, rows) if weighted else (0, 0)
    fill = (0, table)
    scatter = (rows + index + touched, touched)
    flops = edges * features * (2 if weighted else 1)
    bytes_read = gather[0] + scale[0] + fill[0] + scatter[0]
    bytes_written = gather[1] + scale[1] + fill[1] + scatter[1]
    return {"flops": flops, "bytes_read": bytes_read, "bytes_written": bytes_written}


# --------------------------------------------------------------------------- handlers


def _nnz(info: TensorInfo) -> int:
    if info.nnz is None:
        raise ValueError(f"{info.layout} operand has no known nnz (sparse meta tensors carry none)")
    return info.nnz


#: Ops of the form beta * self + alpha * (mat1 @ mat2).
_ACCUMULATING = frozenset({"aten.addmm", "aten._sparse_addmm", "aten.sspaddmm", "aten.addmv"})


def _matrix_operands(record: OpRecord) -> tuple[TensorInfo, TensorInfo, TensorInfo | None, Any]:
    """(left, right, added matrix or None, beta) of an (add)mm/mv-style call."""
    named = record.named_args()
    if record.packet in _ACCUMULATING:
        added = named.get("self", record.args[0])
        left = named.get("mat1", named.get("mat", record.args[1]))
        right = named.get("mat2", named.get("vec", record.args[2]))
        return left, right, added, named.get("beta", 1)
    return record.args[0], record.args[1], None, 0


def sparse_matmul_cost(record: OpRecord) -> Cost:
    """Cost of mm/addmm/mv/_sparse_addmm with one sparse and one dense operand, or of a
    sparse @ sparse product."""
    left, right, added, beta = _matrix_operands(record)
    accumulate = isinstance(added, TensorInfo) and beta != 0
    out = record.outputs[0]
    out_elems = out.numel if out.layout == "strided" else (out.nnz or 0)
    if is_sparse(left) and is_sparse(right):
        flops = spgemm_flops(_nnz(left), _nnz(right), left.shape[-1])
    elif is_sparse(left):
        n = right.shape[-1] if len(right.shape) > 1 else 1
        flops = spmm_flops(_nnz(left), n)
    else:  # dense (m x k) @ sparse (k x n): each stored value meets m rows
        m = left.shape[0] if len(left.shape) > 1 else 1
        flops = spmm_flops(_nnz(right), m)
    if accumulate:
        flops = flops + out_elems
    bytes_read = sum(distinct_bytes(t) for t in inputs_read(record) if t is not added or accumulate)
    return Cost(flops, bytes_read, written_bytes(record), SPARSE_MM, unit=VECTOR)


def has_sparse_operand(record: OpRecord) -> bool:
    return any(t.layout in SPARSE_LAYOUTS for t in record.inputs)


register(
    "aten._sparse_addmm",
    "aten._sparse_mm",
    "aten.sspaddmm",
    "aten.smm",
    "aten.hspmm",
    "aten._sparse_sparse_matmul",
)(sparse_matmul_cost)


def coalesce_flops(nnz_in: Any, nnz_out: Any | None = None) -> Any:
    """FLOPs of coalescing a COO tensor: sort its nnz index keys (nnz*log2(nnz)
    comparisons, as sorts are counted in roofline.count.formulas.movement) and add each
    duplicate into its first copy (nnz_in - nnz_out adds; nnz_in when unknown)."""
    adds = nnz_in if nnz_out is None else nnz_in - nnz_out
    return sort_flops(nnz_in, nnz_in) + adds


@register("aten._coalesce", "aten.coalesce")
def coalesce_cost(record: OpRecord) -> Cost:
    src = record.args[0]
    out = record.outputs[0] if record.outputs else None
    nnz_out = out.nnz if out is not None else None
    flops = coalesce_flops(_nnz(src), nnz_out)
    return Cost(flops, read_bytes(record), written_bytes(record), DATA_TRANSFORM)


@register("aten._sparse_sum")
def sparse_sum_cost(record: OpRecord) -> Cost:
    # One add per stored value summed.
    return Cost(_nnz(record.args[0]), read_bytes(record), written_bytes(record), ELEMENTWISE)


@register("aten._sparse_softmax", "aten._sparse_log_softmax")
def sparse_softmax_cost(record: OpRecord) -> Cost:
    flops = SPARSE_SOFTMAX_FLOPS_PER_VALUE * _nnz(record.args[0])
    return Cost(flops, read_bytes(record), written_bytes(record), ELEMENTWISE)


@register(
    "aten._to_sparse",
    "aten.to_sparse",
    "aten._to_sparse_csr",
    "aten._to_sparse_csc",
    "aten._to_sparse_bsr",
    "aten._to_sparse_bsc",
    "aten.to_sparse_csr",
    "aten.to_sparse_csc",
)
def to_sparse_cost(record: OpRecord) -> Cost:
    # Conversion scans the dense tensor once (or re-indexes a sparse one) and writes the
    # values and indices it keeps.
    return Cost(0, read_bytes(record), written_bytes(record), DATA_TRANSFORM)


# Wrapping given index/value tensors into a sparse tensor, reading its parts back
# and asking its metadata all alias storage: nothing is copied or computed.
register(
    "aten._sparse_coo_tensor_with_dims_and_tensors",
    "aten._sparse_coo_tensor_unsafe",
    "aten.sparse_compressed_tensor",
    "aten._sparse_compressed_tensor_unsafe",
    "aten._sparse_csr_tensor_unsafe",
    "aten.is_coalesced",
    "aten._nnz",
    "aten.sparse_dim",
    "aten.dense_dim",
    "aten._indices",
    "aten._values",
    "aten.indices",
    "aten.values",
    "aten.crow_indices",
    "aten.col_indices",
    "aten.ccol_indices",
    "aten.row_indices",
    "aten._coalesced_",
)(view_cost)
