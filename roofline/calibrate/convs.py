"""Convolutions a CPU runs outside its GEMM: depthwise and grouped ones.

oneDNN runs a depthwise convolution (one input channel per group) with a direct kernel
over channel blocks of one vector, and reorders its NCHW input and output to and from
that blocked layout on every eager call: a few FLOPs per byte and a fixed cost per call,
nothing like a GEMM rate. A grouped convolution (ResNeXt's 32 groups of a few channels)
runs one small product per group whose reduction is the channels per group x the taps:
the fewer channels, the further below the GEMM peak. Calibrate times both, fp32, batch 1:

- depthwise, per kernel size and stride: a pyramid of shapes whose channels double as
  the output plane halves (DEPTHWISE_PYRAMID), the rate against output elements;
- grouped 3x3 (GROUPED_GROUPS groups, stride 1), per reduction each output sums over
  (channels per group x 9, the GEMM's K): the rate against output elements, over
  output planes GROUPED_PLANES.

As a forward runs them, not back to back on one tensor: every shape is called once per
cycle, round-robin, on an input freshly written just before (as the previous op writes
it in a forward), so its weights, code and buffers were last touched a cycle ago; each
call is timed alone and each shape keeps its fastest of CYCLES. Called back to back on
one tensor the same convolutions ran 1.2-2x faster than this, and a forward measured
them near the cycled time. Predictions on the spec take these rates
(roofline.efficiency.cpu_conv).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch

from roofline.measure import Timer

__all__ = ["CONV_RATE_COLUMNS", "CYCLES", "DEPTHWISE_KERNELS", "DEPTHWISE_PYRAMID", "GROUPED_CHANNELS",
           "GROUPED_GROUPS", "GROUPED_PLANES", "measure_conv_rates"]

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
#: Round-robin cycles over the shapes; each shape keeps its fastest call.
CYCLES = {"full": 7, "quick": 3}
#: Columns of measure_conv_rates's frame: kind ("depthwise" or "grouped"), stride,
#: reduction (what each output sums over: the taps of a depthwise kernel, channels per
#: group x taps of a grouped one), out_elements (channels x output plane), seconds (per
#: call, dispatch included) and flops_per_s.
CONV_RATE_COLUMNS = ("kind", "stride", "reduction", "out_elements", "seconds", "flops_per_s")
#: Bytes of a block allocated and freed before timing: glibc then serves blocks up to
#: that size from its heap, as it does in a forward after the first large outputs were
#: freed (without it, each call's outputs would be mapped fresh and page-faulted in).
_ALLOCATOR_WARMUP_BYTES = 30 * 2**20


@dataclass(frozen=True)
class _Probe:
    """One convolution timed: (1, channels, side, side) input, kernel side x side."""

    kind: str
    channels: int
    side: int
    kernel: int
    stride: int
    groups: int

    @property
    def reduction(self) -> int:
        return self.channels // self.groups * self.kernel**2

    @property
    def out_elements(self) -> int:
        return self.channels * (self.side // self.stride) ** 2


def _probes(mode: str) -> list[_Probe]:
    depthwise = [_Probe("depthwise", channels, plane * stride, side, stride, channels)
                 for side, stride in DEPTHWISE_KERNELS[mode] for channels, plane in DEPTHWISE_PYRAMID[mode]]
    grouped = [_Probe("grouped", GROUPED_GROUPS * per_group, plane, 3, 1, GROUPED_GROUPS)
               for per_group in GROUPED_CHANNELS[mode] for plane in GROUPED_PLANES[mode]]
    return depthwise + grouped


def measure_conv_rates(device: str, timer: Timer, mode: str, advance: Callable[[], None]) -> pd.DataFrame:
    """FLOP/s of fp32 depthwise and grouped 2-D convolutions (batch 1, 'same' padding,
    no bias), timed in round-robin cycles (see the module): CONV_RATE_COLUMNS, one row
    per shape. CPU only (a GPU's convolutions are modelled by roofline.efficiency.conv)."""
    torch.empty(_ALLOCATOR_WARMUP_BYTES // 4).fill_(0.0)  # freed at once: the allocator now keeps such blocks
    probes = _probes(mode)
    weights = [torch.randn(p.channels, p.channels // p.groups, p.kernel, p.kernel, device=device) for p in probes]
    best = [math.inf] * len(probes)
    conv = torch.nn.functional.conv2d
    for _ in range(CYCLES[mode]):
        for i, (probe, weight) in enumerate(zip(probes, weights)):
            x = torch.randn(1, probe.channels, probe.side, probe.side, device=device)
            with timer.span() as elapsed:
                conv(x, weight, None, probe.stride, probe.kernel // 2, 1, probe.groups)
            best[i] = min(best[i], elapsed[0])
    advance()
    rows = [(p.kind, p.stride, p.reduction, p.out_elements, seconds, 2.0 * p.out_elements * p.reduction / seconds)
            for p, seconds in zip(probes, best)]
    return pd.DataFrame(rows, columns=list(CONV_RATE_COLUMNS))
