"""Dense matrix products: mm, addmm, bmm, baddbmm, matmul, linear, mv, dot.

FLOPs count a multiply-add as 2; an added bias/accumulator (addmm's C) adds one FLOP
per output element. Bytes are compulsory: both operands read once, the result written
once.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import GEMM
from roofline.count.formulas._common import (
    distinct_bytes,
    numel,
    read_bytes,
    written_bytes,
)
from roofline.count.formulas.sparse import has_sparse_operand, sparse_matmul_cost
from roofline.count.registry import MATRIX, Cost, register


def gemm_flops(m: Any, n: Any, k: Any, batch: Any = 1, accumulate: bool = False) -> Any:
    """FLOPs of ``batch`` products of an (m x k) and a (k x n) matrix.

    accumulate: an added matrix or bias (beta*C + A@B) adds m*n FLOPs per product.
    """
    flops = 2 * batch * m * n * k
    if accumulate:
        flops = flops + batch * m * n
    return flops


def gemm_bytes(m: Any, n: Any, k: Any, batch: Any = 1, itemsize: Any = 4, bias_elems: Any = 0) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of a batched GEMM with one dtype."""
    bytes_read = itemsize * (batch * m * k + batch * k * n + bias_elems)
    bytes_written = itemsize * batch * m * n
    return bytes_read, bytes_written


def _matmul_dims(a: TensorInfo, b: TensorInfo) -> tuple[int, int, int, int]:
    """(batch, m, n, k) of torch.matmul semantics for shapes a and b."""
    a_shape, b_shape = list(a.shape), list(b.shape)
    if len(a_shape) == 1:
        a_shape = [1] + a_shape
    if len(b_shape) == 1:
        b_shape = b_shape + [1]
    m, k = a_shape[-2], a_shape[-1]
    n = b_shape[-1]
    batch_a, batch_b = a_shape[:-2], b_shape[:-2]
    width = max(len(batch_a), len(batch_b))
    batch_a = [1] * (width - len(batch_a)) + batch_a
    batch_b = [1] * (width - len(batch_b)) + batch_b
    batch = numel(max(x, y) for x, y in zip(batch_a, batch_b))
    return batch, m, n, k


def complex_gemm_flops(m: Any, n: Any, k: Any, batch: Any = 1, accumulate: bool = False) -> Any:
    """Real FLOPs of a complex GEMM: a complex multiply-add is 4 real multiplies and 4
    real adds (8 FLOPs, 4x a real one); an added complex matrix is 2 FLOPs per element."""
    flops = 4 * gemm_flops(m, n, k, batch)
    if accumulate:
        flops = flops + 2 * batch * m * n
    return flops


def _is_complex(record: OpRecord) -> bool:
    return any(t.dtype.is_complex for t in record.inputs)


def _gemm_cost(record: OpRecord, a: TensorInfo, b: TensorInfo, accumulate: bool, ignored: Any = None) -> Cost:
    """A GEMM's cost; ``ignored``: an input the kernel never reads (addmm's C when beta=0)."""
    batch, m, n, k = _matmul_dims(a, b)
    flops_of = complex_gemm_flops if _is_complex(record) else gemm_flops
    skipped = distinct_bytes(ignored) if isinstance(ignored, TensorInfo) and ignored is not a and ignored is not b else 0
    return Cost(
        flops=flops_of(m, n, k, batch, accumulate),
        bytes_read=read_bytes(record) - skipped,
        bytes_written=written_bytes(record),
        category=GEMM,
        unit=MATRIX,
    )


@register("aten.mm", "aten.bmm", "aten.matmul", "aten.mv", "aten.dot", "aten.vdot", "aten.inner")
def matmul_cost(record: OpRecord) -> Cost:
    if has_sparse_operand(record):  # sparse @ dense and the like: SpMM/SpMV
        return sparse_matmul_cost(record)
    a, b = record.args[0], record.args[1]
    return _gemm_cost(record, a, b, accumulate=False)


@register("aten.addmm", "aten.baddbmm", "aten.addmv", "aten.addbmm", "aten._addmm_activation")
def addmm_cost(record: OpRecord) -> Cost:
    if has_sparse_operand(record):
        return sparse_matmul_cost(record)
    named = record.named_args()
    a = named.get("mat1", named.get("batch1", named.get("mat")))
    b = named.get("mat2", named.get("batch2", named.get("vec")))
    if a is None or b is None:
        a, b = record.args[1], record.args[2]
    # beta * input + alpha * (a @ b): with beta=0 the input is neither read nor added
    # (torch ignores it, NaNs included). addbmm sums its batch of products into one
    # matrix: (b-1)*m*n adds plus m*n for the input, the same b*m*n that accumulate
    # counts.
    if named.get("beta", 1) == 0:
        return _gemm_cost(record, a, b, accumulate=False, ignored=named.get("self", record.args[0]))
    return _gemm_cost(record, a, b, accumulate=True)


@register("aten.linear")
def linear_cost(record: OpRecord) -> Cost:
    x, weight = record.args[0], record.args[1]
    bias = record.args[2] if len(record.args) > 2 else record.kwargs.get("bias")
    k = x.shape[-1]
    m = numel(x.shape[:-1])
    n = weight.shape[0] if len(weight.shape) == 2 else 1
    flops_of = complex_gemm_flops if _is_complex(record) else gemm_flops
    return Cost(
        flops=flops_of(m, n, k, 1, accumulate=isinstance(bias, TensorInfo)),
        bytes_read=read_bytes(record),
        bytes_written=written_bytes(record),
        category=GEMM,
        unit=MATRIX,
    )
