"""Convolutions a CPU runs outside its GEMM: depthwise and grouped ones.

oneDNN runs a depthwise convolution (one input channel per group) with a direct kernel
over channel blocks of one vector, and reorders its NCHW input and output to and from
that blocked layout on every eager call: a few FLOPs per byte and a fixed cost per call,
nothing like a GEMM rate. A grouped convolution (ResNeXt's 32 groups of a few channels)
runs one small product per group whose reduction is the channels per group x the taps:
the fewer channels, the further below the GEMM peak. Calibrate times both, fp32, one
call after another as a forward runs them:

- depthwise, per kernel size and stride: a pyramid of shapes whose channels double as
  the output plane halves (DEPTHWISE_PYRAMID), the rate against output elements;
- grouped 3x3 (GROUPED_GROUPS groups, stride 1), per reduction each output sums over
  (channels per group x 9, the GEMM's K): the rate against output elements, over
  output planes GROUPED_PLANES.

Predictions on the spec take these rates (roofline.efficiency.cpu_conv).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch

from roofline.calibrate.bench import best_time
from roofline.hardware import ConvRate
from roofline.measure import Timer

__all__ = ["CONV_RATE_COLUMNS", "DEPTHWISE_KERNELS", "DEPTHWISE_PYRAMID", "GROUPED_CHANNELS", "GROUPED_GROUPS",
           "GROUPED_PLANES", "conv_rate_record", "measure_conv_rates"]

#: (kernel side, stride) pairs of the depthwise convolutions timed, per mode.
DEPTHWISE_KERNELS = {"full": ((3, 1), (3, 2), (5, 1), (5, 2)), "quick": ((3, 1), (3, 2))}
#: (channels, output side) of the depthwise shapes: channels double as the plane halves.
DEPTHWISE_PYRAMID = {"full": ((32, 112), (64, 56), (128, 28), (256, 14), (512, 7)),
                     "quick": ((32, 112), (128, 28), (512, 7))}
#: Input channels per group of the grouped 3x3 convolutions timed, per mode.
GROUPED_CHANNELS = {"full": (2, 4, 8, 16, 32), "quick": (4, 32)}
#: Groups of the grouped convolutions, and their output sides per mode.
GROUPED_GROUPS = 32
GROUPED_PLANES = {"full": (7, 14, 28, 56), "quick": (14, 56)}
#: Columns of measure_conv_rates's frame: kind ("depthwise" or "grouped"), stride,
#: reduction (what each output sums over: the taps of a depthwise kernel, channels per
#: group x taps of a grouped one), out_elements (channels x output plane), seconds (per
#: call, dispatch included) and flops_per_s.
CONV_RATE_COLUMNS = ("kind", "stride", "reduction", "out_elements", "seconds", "flops_per_s")
#: Fresh inputs each grouped shape is timed on, the fastest kept: oneDNN's im2col path
#: for a few channels per group ran 2x slower on some placements of the same tensors
#: in one process (3.5 against 7.6 ms for 128 channels in 32 groups at 56x56), the
#: slow placement sometimes for every round; a forward measured the fast one.
PLACEMENTS = 2
#: Bytes of a block allocated and freed before timing: glibc then serves blocks up to
#: that size from its heap, as it does in a forward after the first large outputs were
#: freed (without it, each call's outputs would be mapped fresh and page-faulted in).
_ALLOCATOR_WARMUP_BYTES = 30 * 2**20


def _row(kind: str, stride: int, reduction: int, out_elements: int, seconds: float) -> dict:
    return {"kind": kind, "stride": stride, "reduction": reduction, "out_elements": out_elements, "seconds": seconds,
            "flops_per_s": 2.0 * out_elements * reduction / seconds}


def measure_conv_rates(device: str, timer: Timer, mode: str, repeats: int, min_sample_s: float,
                       advance: Callable[[], None]) -> pd.DataFrame:
    """FLOP/s of fp32 depthwise and grouped 2-D convolutions (batch 1, 'same' padding,
    no bias): CONV_RATE_COLUMNS, one row per shape. CPU only (a GPU's convolutions are
    modelled by roofline.efficiency.conv)."""
    torch.empty(_ALLOCATOR_WARMUP_BYTES // 4).fill_(0.0)  # freed at once: the allocator now keeps such blocks
    conv, out = torch.nn.functional.conv2d, []
    for side, stride in DEPTHWISE_KERNELS[mode]:
        for channels, plane in DEPTHWISE_PYRAMID[mode]:
            x = torch.randn(1, channels, plane * stride, plane * stride, device=device)
            weight = torch.randn(channels, 1, side, side, device=device)
            seconds = best_time(lambda x=x, w=weight, s=stride, p=side // 2, g=channels: conv(x, w, None, s, p, 1, g),
                                timer, repeats, min_sample_s)
            out.append(_row("depthwise", stride, side * side, channels * plane * plane, seconds))
    for per_group in GROUPED_CHANNELS[mode]:
        channels = GROUPED_GROUPS * per_group
        weight = torch.randn(channels, per_group, 3, 3, device=device)
        for plane in GROUPED_PLANES[mode]:
            seconds = min(best_time(lambda x=x, w=weight: conv(x, w, None, 1, 1, 1, GROUPED_GROUPS), timer, repeats,
                                    min_sample_s)
                          for x in (torch.randn(1, channels, plane, plane, device=device) for _ in range(PLACEMENTS)))
            out.append(_row("grouped", 1, per_group * 9, channels * plane * plane, seconds))
    advance()
    return pd.DataFrame(out, columns=list(CONV_RATE_COLUMNS))


def conv_rate_record(frame: pd.DataFrame) -> tuple[ConvRate, ...]:
    """The measured.conv_rates rows of a measure_conv_rates frame (rates to 4 significant
    digits); none for an empty frame (a GPU calibration)."""
    if frame.empty:
        return ()
    return tuple(ConvRate(str(r.kind), int(r.stride), int(r.reduction), int(r.out_elements), float(f"{r.flops_per_s:.4g}"))
                 for r in frame.itertuples())
