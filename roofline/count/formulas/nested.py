"""Nested tensors: the conversions between ragged and padded (or listed) tensors.

Ops on a jagged nested tensor are recorded as the aten ops it runs on its packed values
(see roofline.capture.mode), and an op on a strided nested tensor is counted one
component at a time (roofline.count.components); what is left are the conversions,
pure data movement: each reads the real elements it keeps (never a padded slot it
drops) and any offsets, and writes its output once (padding included, since a padded
output is written whole).
"""

from __future__ import annotations

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import DATA_MOVE, DATA_TRANSFORM, OTHER
from roofline.count.formulas._common import (
    distinct_bytes,
    read_bytes,
    tensors_in,
    written_bytes,
)
from roofline.count.registry import NO_UNIT, Cost, counts_nested, register


@register("aten._nested_tensor_from_tensor_list")
@counts_nested
def from_list_cost(record: OpRecord) -> Cost:
    """Tensors copied one after another into one nested buffer."""
    return Cost(0, read_bytes(record), written_bytes(record), DATA_MOVE)


@register("aten.to_padded_tensor", "aten._jagged_to_padded_dense_forward")
@counts_nested
def to_padded_cost(record: OpRecord) -> Cost:
    """Ragged to padded: the real elements (and offsets) read, the padded tensor written."""
    return Cost(0, read_bytes(record), written_bytes(record), DATA_TRANSFORM)


def _kept_read(record: OpRecord, padded: TensorInfo) -> int:
    """Bytes a padded-to-ragged op reads: the elements it keeps (its output's real
    elements at the padded input's width) and every other input (offsets, a mask)."""
    kept = sum(t.numel for t in record.outputs) * padded.itemsize
    others = sum(distinct_bytes(t) for t in record.inputs if t is not padded)
    return kept + others


@register(
    "aten._padded_dense_to_jagged_forward",
    "aten._nested_from_padded",
    "aten._nested_from_padded_and_nested_example",
    "aten._nested_tensor_from_mask",
)
@counts_nested
def from_padded_cost(record: OpRecord) -> Cost:
    """Padded to ragged: only the kept elements are read, the ragged tensor written."""
    padded = tensors_in(record.args[0])[0]
    return Cost(0, _kept_read(record, padded), written_bytes(record), DATA_TRANSFORM)


@register("aten._nested_get_offsets", "aten._nested_compute_contiguous_strides_offsets")
@counts_nested
def nested_metadata_cost(record: OpRecord) -> Cost:
    """The offsets (and strides) of a nested tensor's components: a few integers per
    component, on the host, next to no work."""
    return Cost(0, 0, 0, OTHER, unit=NO_UNIT)


@register("aten._nested_tensor_from_mask_left_aligned")
def left_aligned_check_cost(record: OpRecord) -> Cost:
    """nn.TransformerEncoder's test that a padding mask keeps each sequence's tokens first:
    one compare per mask element, the mask read, a bool returned."""
    mask = record.inputs[-1]
    return Cost(mask.numel, read_bytes(record), 0, OTHER)
