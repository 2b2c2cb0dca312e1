"""Data movement (copies, transfers, assignment, fills) and data transforms (transpose
materialisation, concatenation, gathers, sorting, padding).

A copy whose source and destination differ in layout (a permute/transpose made
contiguous) is a Data Transform; a plain copy is Data Move; a copy between devices is
host-link traffic. Gathers read only the elements they fetch (the output's size) plus
the indices. Scatter-adds (index_add, scatter_add, scatter_reduce) are the aggregation
step of message passing over a graph and count as Sparse MM.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import DATA_MOVE, DATA_TRANSFORM, SPARSE_MM
from roofline.count.formulas._common import (
    distinct_bytes,
    inputs_read,
    is_symbolic,
    log2,
    out_numel,
    prod,
    read_bytes,
    written_bytes,
)
from roofline.count.registry import DEVICE_MEMORY, HOST_LINK, Cost, register


def sort_flops(elements: Any, sort_dim: Any) -> Any:
    """Comparisons of sorting ``elements`` in rows of ``sort_dim``: n log2(n) per row."""
    if not is_symbolic(sort_dim) and sort_dim <= 1:
        return 0
    return elements * log2(sort_dim)


def _layouts_differ(src: TensorInfo, dst: TensorInfo) -> bool:
    if src.numel <= 1:
        return False
    return src.is_contiguous != dst.is_contiguous or (
        not src.is_contiguous and src.stride != dst.stride
    )


def _traffic(src: TensorInfo | None, dst: TensorInfo | None) -> str:
    if src is not None and dst is not None and src.device != dst.device:
        return HOST_LINK
    return DEVICE_MEMORY


@register("aten.copy_", "aten.copy", "aten._copy_from", "aten._copy_from_and_resize")
def copy_cost(record: OpRecord) -> Cost:
    dst, src = record.args[0], record.args[1]
    bytes_read = distinct_bytes(src) if isinstance(src, TensorInfo) else 0
    category = DATA_TRANSFORM if isinstance(src, TensorInfo) and _layouts_differ(src, dst) else DATA_MOVE
    return Cost(0, bytes_read, dst.nbytes, category, traffic=_traffic(src, dst))


@register("aten._to_copy", "aten.clone", "aten.contiguous", "aten.lift_fresh_copy", "aten.to", "aten._to_dense", "aten.to_dense")
def clone_cost(record: OpRecord) -> Cost:
    src = record.args[0]
    dst = record.outputs[0] if record.outputs else None
    category = DATA_MOVE
    if isinstance(src, TensorInfo) and dst is not None and _layouts_differ(src, dst):
        category = DATA_TRANSFORM
    return Cost(0, read_bytes(record), written_bytes(record), category, traffic=_traffic(src, dst))


@register(
    "aten.fill_",
    "aten.fill",
    "aten.zero_",
    "aten.zeros",
    "aten.ones",
    "aten.full",
    "aten.zeros_like",
    "aten.ones_like",
    "aten.full_like",
    "aten.new_zeros",
    "aten.new_ones",
    "aten.new_full",
    "aten.scalar_tensor",
)
def fill_cost(record: OpRecord) -> Cost:
    # A fill writes its output and reads at most a scalar.
    return Cost(0, 0, written_bytes(record), DATA_MOVE)


@register("aten._local_scalar_dense")
def item_cost(record: OpRecord) -> Cost:
    src = record.args[0]
    return Cost(0, src.itemsize, src.itemsize, DATA_MOVE, traffic=HOST_LINK if src.device != "cpu" else DEVICE_MEMORY)


#: Dtypes of boolean masks.
_MASK_DTYPES = frozenset({torch.bool, torch.uint8})


@register(
    "aten.masked_scatter",
    "aten.masked_scatter_",
    "aten.slice_scatter",
    "aten.select_scatter",
    "aten.diagonal_scatter",
    "aten.as_strided_scatter",
)
def assignment_cost(record: OpRecord) -> Cost:
    """A functional scatter (slice_scatter, masked_scatter, ...) copies the whole target
    with the values set: every input read once, the result written once.

    In place (masked_scatter_), only the elements set are written, one per true mask
    entry: that count needs the data, so it is bounded by the source's and the target's
    sizes (exact when the source holds one value per true entry). Reads the mask and
    those source values."""
    if not record.packet.endswith("_"):
        return Cost(0, read_bytes(record), written_bytes(record), DATA_MOVE)
    named = record.named_args()
    target, mask, source = named["self"], named["mask"], named["source"]
    selected = min(source.numel, target.numel)
    bytes_read = distinct_bytes(mask) + min(distinct_bytes(source), selected * source.itemsize)
    return Cost(0, bytes_read, selected * target.itemsize, DATA_MOVE)


def indexed_positions(target: TensorInfo, indices: list) -> tuple[int, int]:
    """(positions, row) of ``target[indices]``: how many index positions it selects and
    how many elements each selects (the dims the indices leave whole).

    Integer index tensors broadcast together (positions = their broadcast numel); a
    boolean mask selects at most its numel positions (the true count needs the data,
    so this is an upper bound). A None entry keeps its dim whole.
    """
    consumed = 1
    int_shapes: list[tuple[int, ...]] = []
    mask_positions = 1
    dim = 0
    for index in indices:
        if index is None:
            dim += 1
            continue
        if index.dtype in _MASK_DTYPES:
            span = target.shape[dim : dim + len(index.shape)]
            consumed *= math.prod(span)
            mask_positions *= index.numel
            dim += len(index.shape)
        else:
            consumed *= target.shape[dim] if dim < len(target.shape) else 1
            int_shapes.append(index.shape)
            dim += 1
    positions = mask_positions * math.prod(_broadcast(int_shapes))
    row = target.numel // consumed if consumed else 0
    return positions, row


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    width = max((len(s) for s in shapes), default=0)
    out = [1] * width
    for shape in shapes:
        for i, size in enumerate((1,) * (width - len(shape)) + tuple(shape)):
            out[i] = max(out[i], size)
    return tuple(out)


@register("aten.index_put_", "aten.index_put", "aten._index_put_impl_")
def index_put_cost(record: OpRecord) -> Cost:
    """``target[indices] = values`` (setitem with tensor indices; ``+=`` with accumulate).

    Reads the values (at their own, possibly broadcast, size) and the indices; writes
    every selected element (positions x row; through a boolean mask the count needs
    the data: exact when values holds one value per selected element, else every mask
    entry is counted, an upper bound). accumulate=True also reads
    the selected elements and adds into them (one FLOP each): a scatter-add, Sparse MM.
    The functional index_put copies the whole target as well.
    """
    named = record.named_args()
    target = named.get("self", record.args[0])
    indices = [i if isinstance(i, TensorInfo) else None for i in (named.get("indices") or record.args[1])]
    values = named.get("values", record.args[2] if len(record.args) > 2 else None)
    accumulate = bool(named.get("accumulate", False))
    positions, row = indexed_positions(target, indices)
    selected = positions * row
    has_mask = any(i is not None and i.dtype in _MASK_DTYPES for i in indices)
    if has_mask and isinstance(values, TensorInfo) and values.numel > row:
        selected = values.numel  # one value per selected element: the true count
    values_bytes = distinct_bytes(values) if isinstance(values, TensorInfo) else 0
    index_bytes = sum(distinct_bytes(i) for i in indices if i is not None)
    bytes_read = values_bytes + index_bytes
    bytes_written = selected * target.itemsize
    if record.packet == "aten.index_put":  # out of place: the whole target read and written once
        bytes_read += distinct_bytes(target)
        bytes_written = target.nbytes
    elif accumulate:  # in place: read-modify-write of the selected elements
        bytes_read += selected * target.itemsize
    flops = selected if accumulate else 0
    return Cost(flops, bytes_read, bytes_written, SPARSE_MM if accumulate else DATA_MOVE)


@register("aten.cat", "aten.stack", "aten.hstack", "aten.vstack", "aten.concat", "aten.concatenate")
def concat_cost(record: OpRecord) -> Cost:
    return Cost(0, read_bytes(record), written_bytes(record), DATA_TRANSFORM)


@register(
    "aten.constant_pad_nd",
    "aten.pad",
    "aten.reflection_pad1d",
    "aten.reflection_pad2d",
    "aten.replication_pad1d",
    "aten.replication_pad2d",
    "aten.flip",
    "aten.roll",
    "aten.repeat",
    "aten.repeat_interleave",
    "aten.tile",
    "aten.im2col",
    "aten._convert_weight_to_int4pack",
    "aten._convert_weight_to_int4pack_for_cpu",
    "aten.pixel_shuffle",
    "aten.pixel_unshuffle",
    "aten.channel_shuffle",
    "aten.tril_indices",
    "aten.triu_indices",
    "aten.expand_copy",
    "aten.permute_copy",
    "aten.transpose_copy",
    "aten.t_copy",
    "aten.view_copy",
    "aten.unfold_copy",
)
def transform_cost(record: OpRecord) -> Cost:
    return Cost(0, read_bytes(record), written_bytes(record), DATA_TRANSFORM)


def landed_taps(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Along one dimension of col2im (fold): how many (block, kernel tap) pairs land
    inside the output of length ``size`` rather than in its padding."""
    blocks = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    return sum(0 <= o * stride - padding + k * dilation < size for o in range(blocks) for k in range(kernel))


@register("aten.col2im")
def col2im_cost(record: OpRecord) -> Cost:
    """fold: sums overlapping patches into a zeroed image, one add per input element
    that lands on an output (those landing in the padding are dropped)."""
    named = record.named_args()
    x, out = named["self"], record.outputs[0]
    planes = out.numel // prod(out.shape[-2:])  # N x C
    per_dim = [
        landed_taps(size, k, s, p, d)
        for size, k, s, p, d in zip(
            out.shape[-2:], named["kernel_size"], named["stride"], named["padding"], named["dilation"]
        )
    ]
    return Cost(planes * prod(per_dim), distinct_bytes(x), written_bytes(record), DATA_TRANSFORM)


def _gather_cost(record: OpRecord, source: TensorInfo) -> Cost:
    index_bytes = sum(distinct_bytes(t) for t in inputs_read(record) if t is not source)
    gathered = min(distinct_bytes(source), out_numel(record) * source.itemsize)
    return Cost(0, gathered + index_bytes, written_bytes(record), DATA_TRANSFORM)


@register("aten.index", "aten._unsafe_index", "aten.index_select", "aten.gather", "aten.take", "aten.take_along_dim", "aten.masked_select")
def gather_cost(record: OpRecord) -> Cost:
    source = record.args[0]
    return _gather_cost(record, source)


@register("aten.sort", "aten.argsort", "aten.topk", "aten.kthvalue", "aten.msort", "aten.unique_dim")
def sort_cost(record: OpRecord) -> Cost:
    """Sorts along ``dim`` (msort: the first dim; unique_dim sorts the slices along it)."""
    x = record.args[0]
    dim = record.arg("dim", default=0 if record.packet == "aten.msort" else -1)
    dim = -1 if dim is None else int(dim)
    sort_len = x.shape[dim] if x.shape else 1
    return Cost(sort_flops(x.numel, sort_len), read_bytes(record), written_bytes(record), DATA_TRANSFORM)


@register("aten._unique", "aten._unique2")
def unique_cost(record: OpRecord) -> Cost:
    """torch.unique without dim sorts the flattened tensor: n log2 n for all n elements."""
    n = record.args[0].numel
    return Cost(sort_flops(n, n), read_bytes(record), written_bytes(record), DATA_TRANSFORM)


@register("aten.unique_consecutive")
def unique_consecutive_cost(record: OpRecord) -> Cost:
    """Drops repeats of the previous element (or slice): one compare per element, no sort."""
    return Cost(record.args[0].numel, read_bytes(record), written_bytes(record), DATA_TRANSFORM)


def _touched_elements(record: OpRecord, target: TensorInfo, index: TensorInfo) -> int:
    """Target elements a scatter or index op selects, repeats included: one per index
    entry for scatter*, a whole slice along ``dim`` per index entry for index_*."""
    if not record.packet.startswith("aten.index_"):
        return index.numel
    dim = record.arg("dim", default=0)
    slices = target.shape[dim] if target.shape else 1
    return index.numel * (target.numel // slices if slices else 0)


@register(
    "aten.index_add",
    "aten.index_add_",
    "aten.scatter_add",
    "aten.scatter_add_",
    "aten.scatter_reduce",
    "aten.scatter_reduce_",
    "aten.index_reduce",
    "aten.index_reduce_",
    "aten.scatter",
    "aten.scatter_",
    "aten.index_copy",
    "aten.index_copy_",
    "aten.index_fill",
    "aten.index_fill_",
)
def scatter_cost(record: OpRecord) -> Cost:
    """Scatter and index ops: message passing when they combine (add, reduce).

    Reads the index and the source elements it selects (or a tensor fill value); one
    FLOP per selected element when combining. In place, only the touched target
    elements are read (when combined) and written; out of place, the whole target is
    read once and written once (the touched elements among them)."""
    named = record.named_args()
    target, index = named["self"], named["index"]
    source = named.get("source", named.get("src"))
    value = named.get("value")
    reduce_op = "add" in record.op or "reduce" in record.op
    touched = _touched_elements(record, target, index)
    bytes_read = distinct_bytes(index)
    if isinstance(source, TensorInfo):
        bytes_read += min(distinct_bytes(source), touched * source.itemsize)
    if isinstance(value, TensorInfo):  # index_fill with a 0-dim tensor value
        bytes_read += distinct_bytes(value)
    if record.packet.endswith("_"):
        bytes_written = min(touched, target.numel) * target.itemsize
        bytes_read += bytes_written if reduce_op else 0  # read-modify-write
    else:
        bytes_read += distinct_bytes(target)
        bytes_written = target.nbytes
    flops = touched if reduce_op else 0
    return Cost(flops, bytes_read, bytes_written, SPARSE_MM if reduce_op else DATA_MOVE)


@register("aten.eye")
def eye_cost(record: OpRecord) -> Cost:
    # Writes the whole matrix (zeros and the diagonal), reads nothing.
    return Cost(0, 0, written_bytes(record), DATA_MOVE)
