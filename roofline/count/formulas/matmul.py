"""Dense matrix products: mm, addmm, bmm, baddbmm, matmul, linear, mv, dot; grouped
(mixture-of-experts) and quantized ones: _grouped_mm, _scaled_mm (fp8),
_scaled_grouped_mm, _int_mm, _weight_int8pack_mm, _weight_int4pack_mm.

FLOPs count a multiply-add as 2; an added bias/accumulator (addmm's C) adds one FLOP
per output element. A grouped GEMM is 2*M*N*K per group, summed. The scaling and
dequantization of the quantized ones (a multiply or two per output or per weight) is
not counted, as torch's flop counter leaves _scaled_mm's out. Bytes are compulsory:
both operands read once at their stored width (fp8 and int8 1 byte, int4 half a byte
per weight), scales and offsets too, the result written once.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import GEMM
from roofline.count.formulas._common import (
    distinct_bytes,
    inputs_read,
    numel,
    read_bytes,
    written_bytes,
)
from roofline.count.formulas.sparse import has_sparse_operand, sparse_matmul_cost
from roofline.count.registry import MATRIX, Cost, GemmShape, register


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
        gemm=GemmShape(batch, m, n, k),
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
        gemm=GemmShape(1, m, n, k),
    )


#: Bytes of one int4 weight element (two to a byte).
INT4_ITEMSIZE = 0.5


def grouped_mm_flops(a_shape: tuple[Any, ...], b_shape: tuple[Any, ...], out_shape: tuple[Any, ...]) -> Any:
    """FLOPs of _grouped_mm(a, b): 2*M*N*K per group, summed over the groups.

    a 2-D (M, K) x b 3-D (G, K, N): offs gives each group its rows, out (M, N);
    a 3-D (G, M, K) x b 2-D (K, N): offs gives each group its columns, out (M, N);
    a 3-D x b 3-D: a batch of G products, out (G, M, N): in these three every output
    element is a K-long dot product, 2*K FLOPs each. a 2-D (M, K) x b 2-D (K, N): offs
    splits K among the groups, out (G, M, N): 2*M*N*K in all.
    """
    k = a_shape[-1]
    if len(a_shape) == 2 and len(b_shape) == 2:
        return 2 * numel(out_shape[1:]) * k
    return 2 * numel(out_shape) * k


@register("aten._grouped_mm", "aten._scaled_grouped_mm", "aten._scaled_grouped_mm_v2")
def grouped_mm_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    out = record.outputs[0]
    flops = grouped_mm_flops(named["self"].shape, named["mat2"].shape, out.shape)
    if isinstance(named.get("bias"), TensorInfo):
        flops += out.numel
    return Cost(flops, read_bytes(record), written_bytes(record), GEMM, unit=MATRIX)


@register("aten._scaled_mm", "aten._scaled_mm_v2", "aten._int_mm")
def scaled_mm_cost(record: OpRecord) -> Cost:
    """fp8 (_scaled_mm) and int8 (_int_mm, int32 result) GEMMs: an mm at 1 byte an operand."""
    named = record.named_args()
    return _gemm_cost(record, named["self"], named["mat2"], accumulate=isinstance(named.get("bias"), TensorInfo))


@register(
    "aten._weight_int8pack_mm",
    "aten._weight_int4pack_mm",
    "aten._weight_int4pack_mm_for_cpu",
    "aten._weight_int4pack_mm_with_scales_and_zeros",
    "aten._dyn_quant_matmul_4bit",
)
def weight_quantized_mm_cost(record: OpRecord) -> Cost:
    """x (M x K, floating) times an (N x K) weight stored as int8, or as int4 packed two
    to a byte into int32/uint8 tiles, dequantized on the fly: 2*M*N*K FLOPs. Reads x,
    the weight at its stored width (int4: N*K/2 bytes, whatever the packing's shape;
    _dyn_quant_matmul_4bit's blob, scales included, as stored) and the scales."""
    x, weight, out = record.args[0], record.args[1], record.outputs[0]
    k, n = x.shape[-1], out.shape[-1]
    weight_bytes = n * k * INT4_ITEMSIZE if "int4pack" in record.op else distinct_bytes(weight)
    others = sum(distinct_bytes(t) for t in inputs_read(record) if t is not weight)
    return Cost(gemm_flops(x.numel // k, n, k), others + weight_bytes, written_bytes(record), GEMM, unit=MATRIX)
