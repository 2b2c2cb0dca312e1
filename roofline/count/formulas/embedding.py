"""Embedding lookups: embedding and embedding_bag.

Bytes count only the rows gathered (indices x embedding dim), never the whole table:
each distinct row is read once, so at most the table (min(lookups, table rows) rows),
plus the indices, offsets and per-sample weights read and the outputs written. A bag
reduction adds one FLOP per gathered element (sum/mean/max), and a multiply per element
with per-sample weights.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import EMBEDDING
from roofline.count.formulas._common import distinct_bytes, smin, written_bytes
from roofline.count.registry import Cost, register


def embedding_bag_bytes(
    bags: Any,
    lookups: Any,
    dim: Any,
    itemsize: Any = 4,
    mode: str = "sum",
    per_sample_weights: bool = False,
    index_itemsize: Any = 8,
    table_rows: Any = None,
) -> tuple[Any, Any]:
    """(bytes_read, bytes_written) of _embedding_bag over ``bags`` bags of ``lookups``
    gathered rows in all, with an offsets tensor of ``bags`` entries.

    Read: the gathered rows (at most ``table_rows`` distinct ones when given), indices,
    offsets (and per-sample weights). Written: the
    (bags x dim) output and the side outputs the kernel returns (int64): bag sizes
    (bags), offset2bag (lookups, except in sum mode where the CPU kernel skips it) and
    max indices (bags x dim in max mode, else bags).
    """
    rows = lookups if table_rows is None else smin(lookups, table_rows)
    bytes_read = rows * dim * itemsize + (lookups + bags) * index_itemsize
    if per_sample_weights:
        bytes_read = bytes_read + lookups * itemsize
    offset2bag = 0 if mode == "sum" else lookups
    max_indices = bags * dim if mode == "max" else bags
    bytes_written = bags * dim * itemsize + (bags + offset2bag + max_indices) * index_itemsize
    return bytes_read, bytes_written


def embedding_bag_flops(lookups: Any, dim: Any, weighted: bool = False) -> Any:
    """FLOPs of pooling ``lookups`` gathered rows: one add (or compare) per element, one
    multiply more with per-sample weights."""
    return lookups * dim * (2 if weighted else 1)


def gathered_rows_bytes(weight: TensorInfo, lookups: int) -> int:
    """Bytes of ``lookups`` rows gathered from the table ``weight``: each distinct row
    read once, so at most the whole table."""
    dim = weight.shape[-1] if len(weight.shape) > 1 else 1
    return smin(lookups * dim * weight.itemsize, distinct_bytes(weight))


@register("aten.embedding")
def embedding_cost(record: OpRecord) -> Cost:
    weight, indices = record.args[0], record.args[1]
    bytes_read = gathered_rows_bytes(weight, indices.numel) + distinct_bytes(indices)
    return Cost(0, bytes_read, written_bytes(record), EMBEDDING)


@register("aten._embedding_bag", "aten._embedding_bag_forward_only", "aten.embedding_bag")
def embedding_bag_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    weight = named.get("weight", record.args[0])
    indices = named.get("indices", record.args[1])
    offsets = named.get("offsets")
    per_sample = named.get("per_sample_weights")
    lookups = indices.numel
    dim = weight.shape[-1]
    bytes_read = gathered_rows_bytes(weight, lookups) + distinct_bytes(indices)
    for extra in (offsets, per_sample):
        if isinstance(extra, TensorInfo):
            bytes_read += distinct_bytes(extra)
    flops = embedding_bag_flops(lookups, dim, isinstance(per_sample, TensorInfo))
    return Cost(flops, bytes_read, written_bytes(record), EMBEDDING)
