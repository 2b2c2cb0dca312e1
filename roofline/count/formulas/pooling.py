"""Pooling and resampling (Regional): max, average and adaptive pooling in 1d/2d/3d,
upsampling and grid sampling (the RoIAlign-style crop-and-resize).

FLOPs are output elements x window size (one compare or add per tap; average pooling
adds one divide per output). Adaptive pooling's windows differ in size: output i of a
dimension covers inputs floor(i*in/out) to ceil((i+1)*in/out), and the taps are the
sum of those window sizes (a product over dimensions). Bytes are compulsory: input once, outputs (and max-pool indices) once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roofline.capture import OpRecord
from roofline.count.categories import REGIONAL
from roofline.count.formulas._common import (
    as_int_list,
    distinct_bytes,
    gcd,
    inputs_read,
    prod,
    read_bytes,
    written_bytes,
)
from roofline.count.registry import Cost, register


def pool_flops(out_elements: Any, window: Sequence[Any], average: bool = False) -> Any:
    """FLOPs of a pooling op: one compare/add per window tap, plus a divide when averaging."""
    flops = out_elements * prod(window)
    if average:
        flops = flops + out_elements
    return flops


def adaptive_window_sum(size_in: Any, size_out: Any) -> Any:
    """Taps of adaptive pooling along one dimension: the sum over outputs i of
    ceil((i+1)*in/out) - floor(i*in/out), which is in + out - gcd(in, out) (the window
    ends j*in/out for j = 1..out-1 are fractional, adding one tap each, except the
    gcd - 1 that are whole). E.g. 32 -> 7: 5+6+5+6+5+6+5 = 38 = 32 + 7 - 1."""
    return size_in + size_out - gcd(size_in, size_out)


def adaptive_pool_flops(planes: Any, in_spatial: Sequence[Any], out_spatial: Sequence[Any], average: bool = False) -> Any:
    """FLOPs of adaptive pooling over ``planes`` (N x C) planes: one compare/add per
    tap of every window, plus a divide per output when averaging."""
    flops = planes * prod(adaptive_window_sum(i, o) for i, o in zip(in_spatial, out_spatial))
    if average:
        flops = flops + planes * prod(out_spatial)
    return flops


def _spatial_ndim(op: str) -> int:
    for ndim in (3, 2, 1):
        if f"{ndim}d" in op:
            return ndim
    return 2


@register(
    "aten.max_pool1d",
    "aten.max_pool2d",
    "aten.max_pool3d",
    "aten.max_pool1d_with_indices",
    "aten.max_pool2d_with_indices",
    "aten.max_pool3d_with_indices",
    "aten.mkldnn_max_pool2d",
    "aten.quantized_max_pool2d",
    "aten.avg_pool1d",
    "aten.avg_pool2d",
    "aten.avg_pool3d",
)
def pool_cost(record: OpRecord) -> Cost:
    ndim = _spatial_ndim(record.op)
    window = as_int_list(record.arg("kernel_size", 1), ndim, 1)
    out = record.outputs[0]
    average = "avg" in record.op
    return Cost(pool_flops(out.numel, window, average), read_bytes(record), written_bytes(record), REGIONAL)


@register(
    "aten.adaptive_avg_pool1d",
    "aten.adaptive_avg_pool2d",
    "aten.adaptive_avg_pool3d",
    "aten._adaptive_avg_pool2d",
    "aten._adaptive_avg_pool3d",
    "aten.adaptive_max_pool1d",
    "aten.adaptive_max_pool2d",
    "aten.adaptive_max_pool3d",
    "aten.mkldnn_adaptive_avg_pool2d",
)
def adaptive_pool_cost(record: OpRecord) -> Cost:
    ndim = _spatial_ndim(record.op)
    x, out = record.args[0], record.outputs[0]
    flops = adaptive_pool_flops(x.numel // prod(x.shape[-ndim:]), x.shape[-ndim:], out.shape[-ndim:], "avg" in record.op)
    return Cost(flops, read_bytes(record), written_bytes(record), REGIONAL)


#: Taps per output element of each interpolation mode, and FLOPs per tap (a weight
#: multiply and an add; nearest only copies).
INTERPOLATION_TAPS = {"nearest": 1, "bilinear": 4, "bicubic": 16, "linear": 2, "trilinear": 8}


def interpolation_flops(out_elements: Any, mode: str) -> Any:
    """FLOPs of resampling to ``out_elements`` outputs: 2 per tap (multiply-add) except
    nearest, which copies."""
    if mode == "nearest":
        return 0
    return out_elements * 2 * INTERPOLATION_TAPS[mode]


def _gathered_read(record: OpRecord, source_bytes: int, out_elements: int, taps: int, itemsize: int) -> int:
    """Bytes read by a resampling gather: at most the taps it fetches, at most the whole source."""
    others = sum(distinct_bytes(t) for t in inputs_read(record)[1:])
    return min(source_bytes, out_elements * taps * itemsize) + others


@register(
    "aten.upsample_nearest1d",
    "aten.upsample_nearest2d",
    "aten.upsample_nearest3d",
    "aten._upsample_nearest_exact1d",
    "aten._upsample_nearest_exact2d",
    "aten._upsample_nearest_exact3d",
    "aten.upsample_linear1d",
    "aten.upsample_bilinear2d",
    "aten._upsample_bilinear2d_aa",
    "aten.upsample_bicubic2d",
    "aten._upsample_bicubic2d_aa",
    "aten.upsample_trilinear3d",
)
def upsample_cost(record: OpRecord) -> Cost:
    mode = next((m for m in ("trilinear", "bilinear", "bicubic", "linear") if m in record.op), "nearest")
    out = record.outputs[0]
    return Cost(interpolation_flops(out.numel, mode), read_bytes(record), written_bytes(record), REGIONAL)


@register("aten.grid_sampler_2d", "aten.grid_sampler_3d", "aten.cudnn_grid_sampler", "aten.grid_sampler")
def grid_sample_cost(record: OpRecord) -> Cost:
    source = record.args[0]
    mode_code = record.arg("interpolation_mode", default=0)
    three_d = "3d" in record.op
    mode = {0: "trilinear" if three_d else "bilinear", 1: "nearest", 2: "bicubic"}.get(mode_code, "bilinear")
    out = record.outputs[0]
    taps = INTERPOLATION_TAPS[mode]
    bytes_read = _gathered_read(record, distinct_bytes(source), out.numel, taps, source.itemsize)
    return Cost(interpolation_flops(out.numel, mode), bytes_read, written_bytes(record), REGIONAL)
