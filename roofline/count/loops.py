"""The loop nest an eager CPU kernel runs for one op: how many inner loops, how long each.

A CPU kernel vectorizes its innermost loop: ATen's TensorIterator first merges the
dimensions every operand walks through contiguously (a contiguous add of 1M elements is
one loop of 1M), then runs the innermost merged dimension as the inner loop, the rest as
an outer loop around it. A broadcast over a short last dimension (x[N, 6] * w[6]), a
reduction over a short row (x[N, 6].sum(-1)), an index_select along the last dimension
or a cat of short rows leaves loops of a few elements each: too short to fill a vector
register, so they run element by element, and each loop pays its own start. The time
model charges such loops what calibrate measured for them (roofline.efficiency.cpu);
this module only says what the loops are, from shapes and strides alone:

    LoopShape(loops, inner): ``loops`` inner loops of ``inner`` elements on average.

Some ops run another kernel for some arguments, whose loops cost differently: the shape
names it (LoopShape.kernel, a key of LOOP_KERNELS) and calibrate times it as its own
family (``op@kernel``, loop_key). An index_select along the last dimension, when it is
the third or later, runs ATen's general path, one strided copy (a TensorIterator) per
index, element by element ("strided"; along a middle dimension past the second the same
path copies rows of the dimensions after it, vectorized: the ordinary slice shape); a reduction that keeps the input's innermost dimension reduces column by
column, each column a chain of dependent steps ("outer"); a cat with an input that is not
contiguous (a permuted or expanded view) or of a dtype without ATen's serial cat kernel
copies input by input into the output's narrowed slices, one TensorIterator copy each,
and a clone or copy_ of such a source whose slices are contiguous runs the same copy
("copy").

Rules by aten op (a registry, as the cost formulas): TensorIterator ops (every op torch
tags pointwise, copies, reductions) by merging dimensions as TensorIterator does; cat by
its inputs' slices; index_select, embedding and index_add by the slice each index moves.
Other ops have none (None): their kernels are not loops of this kind (GEMMs, convolutions)
or not modelled. Sizes may be SymInts (a symbolic capture): every comparison is one that
holds for all sizes or is treated as false (dimensions not merged), never a guard.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch

from roofline.capture import OpRecord, TensorInfo
from roofline.count.registry import LoopShape

__all__ = ["COPY_LOOP_OPS", "LOOP_KERNELS", "LOOP_RULES", "MEASURED_ONLY_KERNELS", "REDUCTION_LOOP_OPS",
           "SERIAL_CAT_DTYPES", "SLICE_LOOP_OPS", "SORTED_SCATTER_MIN_SLICE", "LoopShape", "iterator_loops", "loop_key", "loop_shape", "loops_of",
           "GATHER_OPS", "gathered_elements", "strided_elements", "without_kernel"]

Rule = Callable[[OpRecord], "LoopShape | None"]

#: aten op packet -> the rule giving its loops (ops torch tags pointwise take the
#: TensorIterator rule without a key).
LOOP_RULES: dict[str, Rule] = {}


#: Kernels an op runs instead of its usual one for some arguments -> how it steps through
#: its inner loop: "strided" (element by element: a strided copy never vectorizes) or
#: "reduction" (ATen's outer reduction: 4 vectors of columns at a time, the rest scalar).
LOOP_KERNELS: dict[str, str] = {"strided": "strided", "outer": "reduction", "scatter": "strided", "sorted": "strided",
                                "tanh": "elementwise", "copy": "copy"}
#: Kernel variants costed only on a record that timed their own family (a calibration
#: from before they were told apart predicts their op as its usual kernel).
MEASURED_ONLY_KERNELS = ("scatter", "sorted", "copy")
#: dtypes ATen's single-threaded cat copies with its serial kernel (cat_serial_kernel:
#: float, double, bfloat16); a cat of other dtypes copies input by input ("copy").
SERIAL_CAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16)
#: Ops whose copy of a strided source runs ATen's per-slice TensorIterator copy ("copy").
COPY_LOOP_OPS = ("aten.clone", "aten.copy_")


def loop_key(op: str, kernel: str) -> str:
    """The family key of ``op`` running ``kernel`` ("aten.index_select@strided"; ``op``
    itself for its usual kernel, "")."""
    return f"{op}@{kernel}" if kernel else op


def without_kernel(key: str) -> str:
    """The op (or suite family) of a loop_key: "aten.amax@outer" -> "aten.amax"."""
    return key.split("@", 1)[0]


def _rule(*ops: str) -> Callable[[Rule], Rule]:
    def decorate(rule: Rule) -> Rule:
        for op in ops:
            LOOP_RULES[op] = rule
        return rule
    return decorate


def _known(condition: Any) -> bool:
    """True only where ``condition`` holds for every size (plain bools as they are)."""
    if isinstance(condition, bool):
        return condition
    from torch.fx.experimental.symbolic_shapes import statically_known_true

    return bool(statically_known_true(condition))


def _broadcast_strides(shape: tuple, info: TensorInfo) -> tuple | None:
    """``info``'s strides over the iteration ``shape`` (trailing dimensions aligned, 0
    where it is broadcast); None for a tensor without strides (sparse)."""
    if info.stride is None or len(info.shape) > len(shape):
        return None
    pad = len(shape) - len(info.shape)
    strides = []
    for d, size in enumerate(shape):
        if d < pad:
            strides.append(0)
            continue
        own = info.shape[d - pad]
        strides.append(0 if _known(own == 1) and not _known(size == 1) else info.stride[d - pad])
    return tuple(strides)


def iterator_loops(shape: tuple, operand_strides: list[tuple]) -> LoopShape | None:
    """The loops TensorIterator runs over iteration ``shape`` whose operands (output
    first) walk it with ``operand_strides`` (elements; 0: broadcast or reduced): the
    dimensions ordered innermost-first by the operands' strides, size-1 ones dropped, and
    neighbours merged where every operand steps from one into the other contiguously.
    inner is the innermost merged dimension's size; loops the other elements."""
    dims = [d for d in range(len(shape)) if not _known(shape[d] == 1)]
    if not dims:
        return LoopShape(1, 1)

    def inner_first(a: int, b: int) -> bool:  # dimension a runs inside dimension b
        for strides in operand_strides:
            if _known(strides[a] == 0) or _known(strides[b] == 0):
                continue
            return _known(strides[a] < strides[b])
        return a > b

    order = []  # innermost first: an insertion sort keeps equal dimensions in place
    for d in reversed(dims):
        at = len(order)
        while at > 0 and inner_first(d, order[at - 1]):
            at -= 1
        order.insert(at, d)
    inner = shape[order[0]]
    for previous, d in itertools.pairwise(order):
        if not all(_known(s[previous] * shape[previous] == s[d]) for s in operand_strides):
            break
        inner = inner * shape[d]
    total = math.prod(shape[d] for d in dims)
    return LoopShape(total // inner, inner)


def _pointwise(record: OpRecord) -> LoopShape | None:
    if not record.outputs:
        return None
    out = record.outputs[0]
    operands = [o for o in (out, *record.inputs) if o.layout == "strided"]
    strides = [_broadcast_strides(out.shape, o) for o in operands]
    if any(s is None for s in strides) or len(out.shape) == 0:
        return None
    return iterator_loops(tuple(out.shape), strides)


@_rule("aten.gelu", "aten.gelu_")
def _gelu(record: OpRecord) -> LoopShape | None:
    """An element-wise loop; GELU's tanh approximation runs another kernel ("tanh": ATen's
    CPU GeluKernel evaluates it at about four times the erf form's time an element)."""
    shape = _pointwise(record)
    approximate = record.kwargs.get("approximate", record.args[1] if len(record.args) > 1 else "none")
    if shape is None or approximate != "tanh":
        return shape
    return LoopShape(shape.loops, shape.inner, "tanh")


_rule("aten._to_copy", "aten.where", "aten.masked_fill", "aten.masked_fill_", "aten.fill_", "aten.clamp",
      "aten.clamp_")(_pointwise)


@_rule(*COPY_LOOP_OPS)
def _copy(record: OpRecord) -> LoopShape | None:
    """A copy's TensorIterator loops (_pointwise); a source that is not contiguous but
    whose slices are (the inner loop of more than one element at unit stride on both
    sides, the outer loop hopping through the source: a permuted or expanded tensor
    made contiguous) runs the slice-by-slice copy a cat of such inputs runs ("copy")."""
    shape = _pointwise(record)
    source = record.args[1] if record.packet == "aten.copy_" and len(record.args) > 1 else \
        (record.inputs[0] if record.inputs else None)
    if shape is None or not isinstance(source, TensorInfo) or source.stride is None or _is_contiguous(source):
        return shape
    if _known(shape.loops > 1) and _known(shape.inner > 1) and _unit_inner(source):
        return LoopShape(shape.loops, shape.inner, "copy")
    return shape


def _unit_inner(info: TensorInfo) -> bool:
    """True where ``info``'s last dimension of more than one element has stride 1."""
    live = [d for d in range(len(info.shape)) if not _known(info.shape[d] == 1)]
    return bool(live) and _known(info.stride[live[-1]] == 1)


def _dims(value: Any, ndim: int) -> list[int]:
    """The reduced dimensions of a ``dim`` argument (None or empty: all), made positive."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return list(range(ndim))
    values = value if isinstance(value, (list, tuple)) else [value]
    return sorted({int(v) % ndim for v in values}) if ndim else []


#: Ops whose kernel runs its inner loop as a reduction (softmaxes reduce their rows).
REDUCTION_LOOP_OPS = ("aten.sum", "aten.mean", "aten.amax", "aten.amin", "aten.prod", "aten.any", "aten.all", "aten.max",
                      "aten.min", "aten.argmax", "aten.argmin", "aten.nansum", "aten.logsumexp", "aten._softmax",
                      "aten._log_softmax", "aten._safe_softmax")
#: Ops whose kernel copies whole slices (a cat's rows, a gather's indexed rows).
SLICE_LOOP_OPS = ("aten.cat", "aten.index_select", "aten.embedding", "aten.index_add", "aten.index_add_")


@_rule(*REDUCTION_LOOP_OPS)
def _reduction(record: OpRecord) -> LoopShape | None:
    """A reduction iterates over its input: the output walks it with stride 0 along the
    reduced dimensions (softmax: over its row, written back in place)."""
    if not record.inputs or not record.outputs or record.inputs[0].stride is None:
        return None
    if len(record.args) > 1 and isinstance(record.args[1], TensorInfo):  # max/min of two tensors: element-wise
        return _pointwise(record)
    x = record.inputs[0]
    ndim = len(x.shape)
    if ndim == 0:
        return None
    softmax = "softmax" in record.op
    if softmax:  # a softmax runs its row as a reduction and writes the row out
        reduced = _dims(record.args[1] if len(record.args) > 1 else -1, ndim)
        return iterator_loops(tuple(x.shape), [tuple(0 if d in reduced else s for d, s in enumerate(x.stride)), x.stride])
    dim = record.args[1] if len(record.args) > 1 and not isinstance(record.args[1], (bool, TensorInfo)) else \
        record.kwargs.get("dim")
    reduced = _dims(dim, ndim)
    # The output's own strides, spread over the input's dimensions (0 where reduced).
    kept = [d for d in range(ndim) if d not in reduced]
    contiguous = [math.prod(x.shape[e] for e in kept[i + 1:]) for i in range(len(kept))]
    out_strides = [0] * ndim
    for d, stride in zip(kept, contiguous):
        out_strides[d] = stride
    shape = iterator_loops(tuple(x.shape), [tuple(out_strides), tuple(x.stride)])
    if shape is None or not _keeps_innermost(x, reduced):
        return shape
    return LoopShape(shape.loops, shape.inner, "outer")


def _keeps_innermost(x: TensorInfo, reduced: list[int]) -> bool:
    """True where a reduction over ``reduced`` keeps ``x``'s unit-stride dimension and
    reduces a dimension of more than one element: ATen then reduces column by column
    (Reduce.h, vectorized_outer_reduction), not along the rows."""
    live = [d for d in range(len(x.shape)) if not _known(x.shape[d] == 1)]
    return (any(d in reduced for d in live)
            and any(d not in reduced and _known(x.stride[d] == 1) for d in live))


@_rule("aten.cat")
def _cat(record: OpRecord) -> LoopShape | None:
    """cat copies each input as slices of prod(shape[dim:]) elements, one per index of
    the dimensions before ``dim``: ATen's serial kernel, walking the output once, where
    every input is contiguous and of one dtype it runs for (SERIAL_CAT_DTYPES).
    Otherwise (a permuted, expanded or sliced input, another dtype) cat_out_cpu copies
    input by input into result.narrow(dim, ...), each a TensorIterator copy ("copy"):
    its loops are the copy's (iterator_loops over the input, the narrowed output's
    strides first), summed over the inputs, where each input's slices are contiguous
    (its last dimension of more than one element at unit stride); an input walked
    element by element across its rows (ViT's class token before a transposed patch
    grid) is not this copy, and the cat keeps the serial kernel's shape, unmodelled."""
    tensors = record.args[0] if record.args else ()
    tensors = [t for t in tensors if isinstance(t, TensorInfo) and t.numel != 0]
    if not tensors:
        return None
    ndim = len(tensors[0].shape)
    dim = int(record.args[1] if len(record.args) > 1 else record.kwargs.get("dim", 0)) % max(ndim, 1)
    total = sum(t.numel for t in tensors)
    if _serial_cat(tensors) or not all(_unit_inner(t) for t in tensors if t.stride is not None):
        loops = sum(math.prod(t.shape[:dim]) for t in tensors)
        return LoopShape(loops, total / loops if _known(loops > 0) else total)
    out_shape = list(tensors[0].shape)
    out_shape[dim] = sum(t.shape[dim] for t in tensors)
    out_strides = tuple(math.prod(out_shape[d + 1:]) for d in range(ndim))  # result.narrow keeps these
    per_input = [iterator_loops(tuple(t.shape), [out_strides, tuple(t.stride)]) for t in tensors]
    loops = sum(shape.loops for shape in per_input)
    return LoopShape(loops, total / loops if _known(loops > 0) else total, "copy")


def _serial_cat(tensors: list[TensorInfo]) -> bool:
    """True where ATen's serial cat kernel copies these inputs (one thread, or fewer
    elements than a grain: this model's loop costs are one thread's)."""
    dtypes = {t.dtype for t in tensors}
    return (len(dtypes) == 1 and next(iter(dtypes)) in SERIAL_CAT_DTYPES
            and all(len(t.shape) == len(tensors[0].shape) and _is_contiguous(t) for t in tensors))


def _gather_along(source: TensorInfo, dim: Any, indices: Any) -> LoopShape | None:
    ndim = len(source.shape)
    if ndim == 0 or indices is None:
        return None
    dim = int(dim) % ndim
    inner = math.prod(source.shape[dim + 1:])
    return LoopShape(math.prod(source.shape[:dim]) * indices, inner)


@_rule("aten.index_select")
def _index_select(record: OpRecord) -> LoopShape | None:
    """One slice of prod(shape[dim + 1:]) elements per index and outer position: ATen
    copies them with memcpy along dimension 0, and along dimension 1 (its dim-1 fast
    path). Along the last dimension past those, with more than one outer position, it
    runs its general path: per index, one strided copy of the source's slice at that
    index (source.select(dim, i): numel / size(dim) elements, element by element)."""
    source, dim, index = record.args[0], record.args[1], record.args[2]
    if not isinstance(index, TensorInfo) or not isinstance(source, TensorInfo):
        return None
    ndim = len(source.shape)
    at = int(dim) % ndim if ndim else 0
    if at >= 2 and at == ndim - 1 and not _known(math.prod(source.shape[:at]) == 1):
        return LoopShape(index.numel, math.prod(source.shape[:at]), "strided")
    return _gather_along(source, dim, index.numel)


@_rule("aten.embedding")
def _embedding(record: OpRecord) -> LoopShape | None:
    """One weight row per index (on a CPU an embedding is weight.index_select(0, ...))."""
    weight, indices = record.args[0], record.args[1]
    if not isinstance(weight, TensorInfo) or not isinstance(indices, TensorInfo) or len(weight.shape) != 2:
        return None
    return LoopShape(indices.numel, weight.shape[1])


#: The fewest elements per index (the slice) for which ATen's scatter_add sorts the
#: indices and adds whole rows (ScatterGatherKernel.cpp, can_use_expanded_index_path).
SORTED_SCATTER_MIN_SLICE = 16


@_rule("aten.index_add", "aten.index_add_")
def _index_add(record: OpRecord) -> LoopShape | None:
    """One source slice of prod(source.shape[dim + 1:]) elements added per index.

    On a self of two or more dimensions, with alpha 1, int64 indices and a source the
    self's shape apart from ``dim``, along the first or last dimension, ATen's CPU
    index_add_ is a scatter_add over the index expanded to the source
    (TensorAdvancedIndexing.cpp, index_add_cpu_out): along dim 0 with slices of at least
    SORTED_SCATTER_MIN_SLICE contiguous fp elements it sorts the indices and adds rows
    ("sorted"); otherwise its general kernel adds element by element, index by index
    ("scatter"; along the last dimension, row by row: one loop of all indices per row).
    Other index_adds run one TensorIterator add per slice (the usual slice shape)."""
    self_, dim, index, source = record.args[0], record.args[1], record.args[2], record.args[3]
    if not isinstance(source, TensorInfo) or not isinstance(index, TensorInfo):
        return None
    kernel = _scatter_kernel(record, self_, dim, index, source)
    if kernel is None:
        return _gather_along(source, dim, index.numel)
    at = int(dim) % len(source.shape)
    if at == 0:
        shape = _gather_along(source, 0, index.numel)
        return None if shape is None else LoopShape(shape.loops, shape.inner, kernel)
    return LoopShape(math.prod(source.shape[:at]), index.numel, kernel)


def _scatter_kernel(record: OpRecord, self_: Any, dim: Any, index: TensorInfo, source: TensorInfo) -> str | None:
    """"sorted" or "scatter" where index_add_ runs as scatter_add (see _index_add), else None."""
    if not isinstance(self_, TensorInfo) or len(self_.shape) < 2 or len(source.shape) != len(self_.shape):
        return None
    at = int(dim) % len(self_.shape)
    alpha = record.kwargs.get("alpha", record.args[4] if len(record.args) > 4 else 1)
    same_sizes = all(_known(a == b) for d, (a, b) in enumerate(zip(self_.shape, source.shape)) if d != at)
    if at not in (0, len(self_.shape) - 1) or alpha != 1 or index.dtype != torch.int64 or not same_sizes:
        return None
    slice_elements = math.prod(source.shape[1:])
    contiguous = all(_is_contiguous(t) for t in (self_, source))
    if (at == 0 and contiguous and self_.dtype.is_floating_point and self_.dtype != torch.float16
            and _known(slice_elements >= SORTED_SCATTER_MIN_SLICE)):
        return "sorted"
    return "scatter"


def _is_contiguous(info: TensorInfo) -> bool:
    if info.stride is None:
        return False
    expected = 1
    for size, stride in zip(reversed(info.shape), reversed(info.stride)):
        if not _known(size == 1) and not _known(stride == expected):
            return False
        expected = expected * size
    return True


def _is_pointwise(func: Any) -> bool:
    return func is not None and torch.Tag.pointwise in getattr(func, "tags", ())


def loop_shape(record: OpRecord) -> LoopShape | None:
    """The loops of ``record``'s CPU kernel (see the module doc), or None where no rule
    applies or the rule cannot read the record."""
    rule = LOOP_RULES.get(record.packet)
    if rule is None and _is_pointwise(record.func):
        rule = _pointwise
    if rule is None:
        return None
    try:
        shape = rule(record)
    except (TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError):
        return None
    if shape is None or not _known(shape.loops > 0):
        return None
    return shape


def loops_of(shape: LoopShape | None) -> tuple[float, float]:
    """(loops, inner) as floats, NaN for None."""
    if shape is None:
        return math.nan, math.nan
    return float(shape.loops), float(shape.inner)


#: Ops a GPU runs as an index gather, one output element a thread with its index arithmetic
#: (index_select's indexSelectSmallIndex/LargeIndex kernels; an embedding is
#: weight.index_select(0, ids) there).
GATHER_OPS = ("aten.index_select", "aten.embedding")


def gathered_elements(record: OpRecord) -> Any:
    """Elements ``record``'s GPU gather kernel computes one by one (GATHER_OPS): its
    output's; None for other ops. Sizes may be SymInts."""
    if record.packet not in GATHER_OPS or not record.outputs:
        return None
    return record.outputs[0].numel


def strided_elements(record: OpRecord, loops: LoopShape | None) -> Any:
    """Elements ``record``'s GPU kernel computes one by one with index arithmetic: those
    of an element-wise op (TensorIterator's gpu_kernel: the pointwise ops, copies and
    casts) whose operands walk more than one loop (broadcast, permuted or sliced:
    PyTorch's unvectorised path, each element's offsets divided out of its index), and
    the output elements of a cat with an input that is not contiguous (its general
    batched copy, the same arithmetic); 0 for such ops whose operands walk one contiguous
    loop (the vectorised path); None for other ops (GEMMs, reductions, gathers: other
    kernels) and where the rules cannot read the record. ``loops``: the record's
    loop_shape (TensorIterator's merged loops, the same on a GPU). Sizes may be SymInts."""
    if record.packet == "aten.cat":
        inputs = record.args[0] if record.args else ()
        tensors = [t for t in inputs if isinstance(t, TensorInfo)] if isinstance(inputs, (list, tuple)) else []
        if not tensors or any(t.stride is None for t in tensors):
            return None
        return 0 if all(_is_contiguous(t) for t in tensors) else sum(t.numel for t in tensors)
    rule = LOOP_RULES.get(record.packet, _pointwise if _is_pointwise(record.func) else None)
    if rule not in (_pointwise, _gelu, _copy) or loops is None:
        return None
    return loops.loops * loops.inner if _known(loops.loops > 1) else 0
