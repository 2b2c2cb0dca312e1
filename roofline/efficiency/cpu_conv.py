"""CPU convolutions outside the GEMM path: depthwise and grouped ones, at rates calibrate
measured (roofline.calibrate.convs, measured.conv_rates).

oneDNN runs a depthwise convolution with a direct kernel over blocks of one vector of
channels and, called eagerly on NCHW tensors, reorders its input and output to and from
that blocked layout on every call: a fixed cost per call (a hundred microseconds or so)
plus a few nanoseconds per output element, far from any GEMM rate. A grouped
convolution runs one small product per group over a reduction of channels per group x
taps: a reduction of a few dozen leaves the product's register tile mostly idle. Both
are measured, not derived: for each series of the table (a depthwise kernel's taps and
stride; a grouped reduction) the time of a convolution of so many output elements, and
predictions interpolate between those points:

- along one series, log time against log output elements (a piecewise power law
  through the points); below the smallest point the time stays the smallest point's (the
  fixed cost dominates there), above the largest the rate stays the largest point's;
- a grouped convolution between two measured reductions: log rate against log reduction
  (clamped to the reductions measured).

A convolution takes these rates only where the table has them: a depthwise one whose
taps and stride were measured, any grouped one (more than one group, more than one
channel per group); others keep the GEMM efficiency. The measured times are made
non-decreasing in size per series first (a noisy point never makes a larger
convolution faster). Everything works on numpy arrays of any shape (ops, or ops x
points of a sweep).

The geometry comes from the op's counts: output elements from the bytes written; a
depthwise kernel's taps from FLOPs = 2 x output elements x taps (+ one add per output
for a bias); its stride from the input's elements per output element (stride^2 with
'same' padding); a grouped one's groups and reduction from its implicit GEMM (batch =
groups, k = channels per group x taps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roofline.efficiency.cpu import cpu_record
from roofline.hardware import CalibrationRecord, ConvRate

__all__ = ["ConvShape", "conv_rate_s", "conv_shape", "series_seconds"]


@dataclass(frozen=True)
class ConvShape:
    """Per convolution (arrays that broadcast): ``depthwise`` and ``grouped`` (bool: which
    table applies, neither for a dense one), ``stride``, ``reduction`` (taps of a
    depthwise kernel; channels per group x taps of a grouped one) and ``out_elements``."""

    depthwise: np.ndarray
    grouped: np.ndarray
    stride: np.ndarray
    reduction: np.ndarray
    out_elements: np.ndarray


def conv_shape(conv: np.ndarray, flops: np.ndarray, bytes_read: np.ndarray, bytes_written: np.ndarray,
               param_bytes: np.ndarray, item_bytes: np.ndarray,
               gemm: tuple[np.ndarray, ...] | None) -> ConvShape:
    """The ConvShape of ops from their counts: ``conv`` (bool, a convolution), ``flops``
    (FLOP), ``bytes_read``, ``bytes_written``, ``param_bytes`` (B: weights and bias),
    ``item_bytes`` (B per element) and their implicit GEMM (batch, m, n, k; NaN for a
    depthwise convolution, which has none), or None (a frame without GEMM columns: no
    convolution is classified)."""
    conv = np.asarray(conv, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(bytes_written, dtype=float) / item_bytes
        inputs = (np.asarray(bytes_read, dtype=float) - param_bytes) / item_bytes
        taps = np.floor(np.asarray(flops, dtype=float) / (2.0 * out) + 1e-6)
        stride = np.maximum(np.round(np.sqrt(inputs / out)), 1.0)
    if gemm is None:
        none = np.zeros(np.broadcast_shapes(conv.shape, out.shape), dtype=bool)
        return ConvShape(none, none, np.ones_like(out), np.ones_like(out), out)
    batch, _, _, depth = (np.asarray(a, dtype=float) for a in gemm)
    usable = conv & np.isfinite(out) & (out >= 1) & np.isfinite(stride)
    depthwise = usable & ~np.isfinite(depth) & (taps >= 1)
    grouped = usable & np.isfinite(batch) & (batch > 1) & (depth > 1)
    reduction = np.where(depthwise, taps, np.where(grouped, depth, 1.0))
    return ConvShape(depthwise, grouped, np.where(np.isfinite(stride), stride, 1.0), reduction,
                     np.where(np.isfinite(out) & (out >= 1), out, 1.0))


def series_seconds(points: list[tuple[float, float]], out_elements: np.ndarray) -> np.ndarray:
    """Seconds of a convolution of ``out_elements`` on one measured series, ``points``
    (out_elements, seconds) in any order: log seconds interpolated in log elements,
    the seconds made non-decreasing in size first; the smallest point's seconds below
    it, the largest point's rate (seconds per element) above it."""
    sizes, seconds = (np.array(column, dtype=float) for column in zip(*sorted(points)))
    seconds = np.maximum.accumulate(seconds)
    at = np.log(np.clip(np.asarray(out_elements, dtype=float), sizes[0], None))
    inside = np.exp(np.interp(at, np.log(sizes), np.log(seconds)))
    beyond = seconds[-1] * np.asarray(out_elements, dtype=float) / sizes[-1]
    return np.where(np.asarray(out_elements) > sizes[-1], beyond, inside)


def _probe_point(r: ConvRate) -> tuple[float, float]:
    """(out_elements, seconds) of a measured convolution: 2 x elements x reduction FLOPs at its rate."""
    return r.out_elements, 2.0 * r.out_elements * r.reduction / r.flops_per_s


def _depthwise_s(shape: ConvShape, record: CalibrationRecord) -> np.ndarray:
    series: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for r in record.conv_rates:
        if r.kind == "depthwise":
            series.setdefault((r.reduction, r.stride), []).append(_probe_point(r))
    seconds = np.full(np.shape(shape.out_elements), np.nan)
    for (taps, stride), points in series.items():
        chosen = shape.depthwise & (shape.reduction == taps) & (shape.stride == stride)
        if np.any(chosen):
            seconds = np.where(chosen, series_seconds(points, shape.out_elements), seconds)
    return seconds


def _grouped_s(shape: ConvShape, record: CalibrationRecord) -> np.ndarray:
    series: dict[int, list[tuple[float, float]]] = {}
    for r in record.conv_rates:
        if r.kind == "grouped":
            series.setdefault(r.reduction, []).append(_probe_point(r))
    if not series or not np.any(shape.grouped):
        return np.full(np.shape(shape.out_elements), np.nan)
    reductions = sorted(series)
    # Each series' rate at these sizes (FLOP per second of 2 x elements x its reduction).
    log_rates = np.stack([np.log(2.0 * shape.out_elements * k / series_seconds(series[k], shape.out_elements))
                          for k in reductions])
    at = np.log(np.clip(shape.reduction, reductions[0], reductions[-1]))
    log_k = np.log(np.array(reductions, dtype=float))
    if len(reductions) == 1:
        log_rate = log_rates[0]
    else:
        below = np.clip(np.searchsorted(log_k, at, side="right") - 1, 0, len(reductions) - 2)
        low, high = np.choose(below, log_rates), np.choose(below + 1, log_rates)
        log_rate = low + (at - log_k[below]) / (log_k[below + 1] - log_k[below]) * (high - low)
    seconds = 2.0 * shape.out_elements * shape.reduction / np.exp(log_rate)
    return np.where(shape.grouped, seconds, np.nan)


def conv_rate_s(shape: ConvShape, record: CalibrationRecord | None) -> np.ndarray:
    """Seconds (dispatch included) of each convolution of ``shape`` at the rates
    ``record.conv_rates`` measured; NaN where none applies: no table (a GPU, a datasheet
    spec, an older calibration), a dense convolution, a depthwise kernel whose taps and
    stride were not measured."""
    if record is None or not record.conv_rates or not cpu_record(record):
        return np.full(np.shape(shape.out_elements), np.nan)
    return np.where(shape.depthwise, _depthwise_s(shape, record), _grouped_s(shape, record))
