"""Searching, counting and selection: nonzero, histograms, bincount, bucketize,
searchsorted, median and mode.

A comparison is one FLOP, as in the sort formulas (movement.py). Per element:

- nonzero: one test against zero; the indices of the hits are written.
- histc and histogram with a bin count: subtract the low edge, scale by bins / width,
  add one to the bin: 3; with no range given, the input's min and max are found first
  (one compare each: 2 more). density=True divides each bin once.
- histogram with bin edges, bucketize and searchsorted: a binary search over B sorted
  values, ceil(log2(B + 1)) compares; a histogram then adds one to the bin.
- bincount: one add per element (weighted or not).
- median: selection (quickselect/introselect) of the middle element of each row of n,
  on average 2n(1 + ln 2) ~ 3.39n compares (Knuth, The Art of Computer Programming
  vol. 3, 5.3.3: Hoare's FIND takes 2n + 2k ln(n/k) + 2(n - k) ln(n/(n - k)) for the
  k-th of n, here k = n/2).
- mode: each row of n sorted (n log2 n compares) then scanned for its longest run (n).

Bytes are compulsory: inputs once (the boundaries or sorted sequence included), outputs
once.
"""

from __future__ import annotations

import math
from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import DATA_TRANSFORM, ELEMENTWISE
from roofline.count.formulas._common import is_symbolic, read_bytes, written_bytes
from roofline.count.formulas.movement import sort_flops
from roofline.count.registry import Cost, register

#: Average compares per element of selecting a median: 2(1 + ln 2).
MEDIAN_COMPARES_PER_ELEMENT = 2 * (1 + math.log(2))
#: Per element of a histogram with a bin count: subtract, scale, add to the bin.
HISTOGRAM_FLOPS_PER_ELEMENT = 3
#: Per element when the range is the data's own: one compare for the min, one for the max.
RANGE_FLOPS_PER_ELEMENT = 2


def search_steps(sorted_values: Any) -> Any:
    """Compares of a binary search over ``sorted_values`` values: ceil(log2(B + 1))."""
    if is_symbolic(sorted_values):
        import sympy

        return sympy.ceiling(sympy.log(sorted_values + 1, 2))
    return int(sorted_values).bit_length()


def _numel(value: Any) -> Any:
    return value.numel if isinstance(value, TensorInfo) else 1  # a Scalar input is one element


def _cost(record: OpRecord, flops: Any, category: str = ELEMENTWISE) -> Cost:
    return Cost(flops, read_bytes(record), written_bytes(record), category)


@register("aten.nonzero", "aten.nonzero_static")
def nonzero_cost(record: OpRecord) -> Cost:
    return _cost(record, record.inputs[0].numel, DATA_TRANSFORM)


def _range_given(low: Any, high: Any) -> bool:
    return low is not None and high is not None and low != high


@register("aten.histc")
def histc_cost(record: OpRecord) -> Cost:
    """histc: min = max (0 and 0 by default) means the range is the data's."""
    elements = record.inputs[0].numel
    per_element = HISTOGRAM_FLOPS_PER_ELEMENT
    if not _range_given(record.arg("min", 2, 0), record.arg("max", 3, 0)):
        per_element += RANGE_FLOPS_PER_ELEMENT
    return _cost(record, per_element * elements)


@register("aten.histogram", "aten._histogramdd_from_bin_cts", "aten._histogramdd_from_bin_tensors")
def histogram_cost(record: OpRecord) -> Cost:
    x, bins = record.args[0], record.arg("bins", 1)
    elements = x.numel
    if isinstance(bins, TensorInfo) or isinstance(bins, (list, tuple)) and bins and isinstance(bins[0], TensorInfo):
        edges = bins if isinstance(bins, (list, tuple)) else [bins]
        per_element = sum(search_steps(e.numel) for e in edges) + 1
        bin_count = math.prod(max(e.numel - 1, 0) for e in edges)
    else:
        counts = bins if isinstance(bins, (list, tuple)) else [bins]
        per_element = HISTOGRAM_FLOPS_PER_ELEMENT * len(counts)
        per_element += RANGE_FLOPS_PER_ELEMENT if record.arg("range") is None else 0
        bin_count = math.prod(counts)
    density = bin_count if record.arg("density", default=False) else 0
    return _cost(record, per_element * elements + density)


@register("aten.bincount")
def bincount_cost(record: OpRecord) -> Cost:
    return _cost(record, record.inputs[0].numel)


@register("aten.bucketize", "aten.searchsorted")
def binary_search_cost(record: OpRecord) -> Cost:
    """Each searched value: a binary search over the last dim of the sorted values."""
    if record.packet == "aten.bucketize":
        values, sorted_values = record.args[0], record.arg("boundaries", 1)
    else:
        sorted_values, values = record.args[0], record.arg("self", 1)
    return _cost(record, _numel(values) * search_steps(sorted_values.shape[-1] if sorted_values.shape else 1))


@register("aten.median", "aten.nanmedian")
def median_cost(record: OpRecord) -> Cost:
    """Selection in each row (the whole tensor without dim): ~3.39 compares per element."""
    return _cost(record, MEDIAN_COMPARES_PER_ELEMENT * record.inputs[0].numel)


@register("aten.mode")
def mode_cost(record: OpRecord) -> Cost:
    x = record.inputs[0]
    row = x.shape[int(record.arg("dim", 1, -1)) % len(x.shape)] if x.shape else 1
    return _cost(record, sort_flops(x.numel, row) + x.numel)
