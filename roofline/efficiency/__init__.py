"""efficiency: between count and predict. For each op, the fraction of the compute and
memory roofs it attains, the start-up its bytes pay and its floor time, from the op's
kind and shapes and the device's physical parameters (HardwareSpec.kernel_model).

Physics first: GEMMs and convolutions lose to tile, wave and reduction-depth
quantization (gemm.py); a convolution takes the fastest of cuDNN's algorithms for its
shape (conv.py: implicit or explicit GEMM, or Winograd); memory-bound kernels pay a start-up before
their bytes stream (memory.py); element-wise kernels whose operands walk no one
contiguous loop, and index gathers, are bound by the SMs' issue of their per-element
index arithmetic (elementwise.py); power-limited cards run below their boost clock. On a calibrated spec,
each op of a family the calibration's op suite measured follows that family's
time-vs-size curve (cpu.py: dispatch, efficiency, threads by ATen's grain), its loops
shorter than a vectorized step run element by element at the costs calibrate measured
for them, products of few rows or few columns run at their measured rates, and depthwise
and grouped convolutions take the times measured for them (cpu_conv.py). A spec
without a kernel model keeps one efficiency per unit and memory (the datasheet
roofline), unchanged.

May import: hardware (the spec), count (constants), numpy/pandas. Never analysis or later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from roofline.efficiency.conv import conv_s
from roofline.efficiency.elementwise import issue_s
from roofline.efficiency.gemm import TILE_MENUS, Tile, gemm_efficiency
from roofline.efficiency.reduction import (
    private_l2_capacity,
    reread_hit_fraction,
    reread_plan,
    reread_s,
    whole_pass_s,
)
from roofline.hardware import HardwareSpec, KernelModel

__all__ = ["GATHER_COLUMN", "GEMM_COLUMNS", "LOOP_COLUMNS", "LOOP_KERNEL_COLUMN", "ROW_COLUMNS", "STRIDED_COLUMN", "WINOGRAD_COLUMNS", "OpEfficiency", "conv_arrays", "gemm_shapes", "kernel_efficiency_arrays",
           "row_reread_arrays"]

#: Columns of an ops frame holding each op's matrix product (NaN for other ops).
GEMM_COLUMNS: tuple[str, ...] = ("gemm_batch", "gemm_m", "gemm_n", "gemm_k")
#: Columns holding the rows a row-wise reduction reduces: how many, and their length.
ROW_COLUMNS: tuple[str, ...] = ("reduce_rows", "reduce_len")
#: Columns holding the loops of an op's CPU kernel: how many inner loops, and their
#: average length (roofline.count.loops; NaN for ops without such a loop nest).
LOOP_COLUMNS: tuple[str, ...] = ("loop_count", "loop_inner")
#: Column naming the kernel variant an op's loops run ("" for its usual one; LoopShape.kernel).
LOOP_KERNEL_COLUMN = "loop_kernel"
#: Column holding the elements an element-wise GPU kernel computes one by one with index
#: arithmetic (roofline.count.loops.strided_elements; 0 where its operands walk one
#: contiguous loop, NaN for other ops).
STRIDED_COLUMN = "strided_elements"
#: Column holding the elements a GPU gather kernel (index_select, embedding) computes one by
#: one (roofline.count.loops.gathered_elements; NaN for other ops).
GATHER_COLUMN = "gathered_elements"
#: Columns of a convolution Winograd can run: images, output height and width (NaN for
#: other ops); roofline.efficiency.conv times its algorithms.
WINOGRAD_COLUMNS: tuple[str, ...] = ("winograd_n", "winograd_p", "winograd_q")


@dataclass(frozen=True)
class OpEfficiency:
    """Per op: ``compute``, the fraction (0, 1] of the peak FLOP/s it attains;
    ``latency_s``, the start-up its bytes pay (s); ``floor_s``, the least time its kernel
    takes (s); ``reread_s``, the time a row-wise reduction spends reading its rows again
    beyond the compulsory bytes (s, 0 for other ops); ``fixed_s``, time its kernel takes
    beyond its compute or memory time (s: a tensor-core GEMM's setup, pipeline fill and
    drain, KernelModel.tensor_gemm_fixed_s; 0 for other ops); ``issue_s``, the least time
    the SMs take to issue the per-element index arithmetic of an unvectorised element-wise
    kernel or a gather (s, roofline.efficiency.elementwise; 0 for other ops). Memory-bound ops keep the
    fraction of the bandwidth the spec gives them."""

    compute: np.ndarray
    latency_s: np.ndarray
    floor_s: np.ndarray
    reread_s: np.ndarray | float = 0.0
    fixed_s: np.ndarray | float = 0.0
    issue_s: np.ndarray | float = 0.0


def gemm_shapes(ops: pd.DataFrame) -> np.ndarray | None:
    """(n_ops, 4) array of batch, m, n, k (NaN rows for non-GEMM ops), or None when the
    frame has no GEMM columns."""
    if not all(column in ops for column in GEMM_COLUMNS):
        return None
    return ops[list(GEMM_COLUMNS)].to_numpy(dtype=float)


def kernel_efficiency_arrays(gemm: tuple[np.ndarray, ...] | None, hw: HardwareSpec, *, compute: np.ndarray,
                             on_tensor_cores: np.ndarray, does_work: np.ndarray,
                             reread_s: np.ndarray | float = 0.0,
                             strided_elements: np.ndarray | None = None,
                             gathered_elements: np.ndarray | None = None) -> OpEfficiency:
    """The attained fractions and floors of every op on ``hw``, on arrays of any shape that
    broadcast (ops, or ops x points of a vectorised sweep). compute: the fraction the spec
    gives each op without a kernel model (its unit's efficiency, or a calibrated op's own);
    on_tensor_cores: the op's FLOPs run on matrix units (its peak is a matrix peak);
    does_work: the op moves bytes or FLOPs (views and no-work ops get no floor and no
    start-up); gemm is (batch, m, n, k), NaN for non-GEMM ops, or None; reread_s
    the row-wise reductions' extra reads (row_reread_arrays); strided_elements the
    elements each element-wise kernel computes one by one (STRIDED_COLUMN), gathered_elements
    those of each gather kernel (GATHER_COLUMN), or None."""
    model = hw.kernel_model
    shape = np.broadcast_shapes(np.shape(compute), np.shape(does_work), *(np.shape(a) for a in gemm or ()))
    if model is None:
        return OpEfficiency(np.broadcast_to(compute, shape), np.zeros(shape), np.zeros(shape))
    attained = np.broadcast_to(np.asarray(compute, dtype=float), shape)
    fixed = np.zeros(shape)
    if gemm is not None:
        is_gemm = np.isfinite(gemm[0]) & np.isfinite(gemm[1]) & np.isfinite(gemm[2]) & np.isfinite(gemm[3]) & does_work
        for tile_class, menu in TILE_MENUS.items():
            chosen = is_gemm & (on_tensor_cores if tile_class == "tensor" else ~on_tensor_cores)
            if not chosen.any():
                continue
            # NaN shapes (ops that are no GEMM) are left out by ``chosen``.
            sizes = tuple(np.where(chosen, dim, 1.0) for dim in gemm)
            shape_fraction = gemm_efficiency(*sizes, sms=model.sms, menu=menu, k_overhead=model.k_overhead)
            # Without a fitted figure for this tile class, the unit's efficiency stands in.
            ideal = model.gemm_efficiency.get(tile_class, attained)
            if tile_class == "simt" and model.batched_tiles:
                shape_fraction, ideal = _batched(sizes, model, shape_fraction, ideal)
            attained = np.where(chosen, ideal * shape_fraction, attained)
            if tile_class == "tensor":
                fixed = np.where(chosen, model.tensor_gemm_fixed_s, fixed)
    # A card held below its boost clock reaches every compute peak in that proportion.
    attained = attained * model.clock_ratio
    latency = np.where(does_work, model.latency_s, 0.0) + np.zeros(shape)
    floor = np.where(does_work, model.min_kernel_s, 0.0) + np.zeros(shape)
    issue = sum(issue_s(elements, sms=model.sms, clock_hz=model.sustained_clock_hz, per_sm_clock=rate)
                for elements, rate in ((strided_elements, model.strided_elements_per_clock),
                                       (gathered_elements, model.gather_elements_per_clock)) if elements is not None)
    return OpEfficiency(attained, latency, floor, np.where(does_work, reread_s, 0.0), fixed, np.where(does_work, issue, 0.0))


def _batched(sizes: tuple[np.ndarray, ...], model: KernelModel, shape_fraction: np.ndarray,
             ideal: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Shape fraction and whole-tile efficiency of fp32 GEMMs where the batched ones
    (batch > 1) run the best of the architecture's batched tiles (model.batched_tiles, the
    batch on the grid's third axis: no split-K) at the batched class's efficiency; single
    GEMMs keep ``shape_fraction`` and ``ideal`` from the menu."""
    menu = tuple(Tile(*tile) for tile in model.batched_tiles)
    fixed = gemm_efficiency(*sizes, sms=model.sms, menu=menu, k_overhead=model.k_overhead, split_k=False)
    batched = sizes[0] > 1
    batched_ideal = model.gemm_efficiency.get("batched", ideal)
    return np.where(batched, fixed, shape_fraction), np.where(batched, batched_ideal, ideal)


def row_reread_arrays(rows: np.ndarray, length: np.ndarray, op: np.ndarray, itemsize: np.ndarray,
                      hw: HardwareSpec) -> np.ndarray:
    """Per op, seconds its row-wise reduction kernel (softmax, layer norm) spends reading
    rows again (roofline.efficiency.reduction), on arrays that broadcast (ops, or ops x
    points): rows and length of each reduction (NaN for other ops), op names and bytes per
    element per op; 0 for other ops and for a spec without a kernel model or an L2."""
    model = hw.kernel_model
    names = [level.name for level in hw.memory]
    if model is None or "l2" not in names:
        return np.zeros(np.broadcast_shapes(np.shape(rows), np.shape(op)))
    reads, tensors, threads, passes = reread_plan(op, length, itemsize)
    row_bytes = length * itemsize * tensors
    l2 = hw.level("l2")
    l2_bytes = private_l2_capacity(l2.capacity, model.l2_partitions)
    dram_bw = hw.efficiency.memory * hw.dram.bandwidth
    hit = reread_hit_fraction(row_bytes, threads, sms=model.sms, threads_per_sm=model.threads_per_sm, l2_bytes=l2_bytes)
    with np.errstate(invalid="ignore"):
        extra = (reread_s(rows, row_bytes, reads, hit, l2_bw=l2.bandwidth, dram_bw=dram_bw)
                 + whole_pass_s(rows, row_bytes, passes, l2_bytes=l2_bytes, l2_bw=l2.bandwidth, dram_bw=dram_bw))
    return np.where(np.isfinite(extra), extra, 0.0)


def conv_arrays(winograd: tuple[np.ndarray, ...] | None, gemm: tuple[np.ndarray, ...] | None, hw: HardwareSpec, *,
                peak_flops: np.ndarray, on_tensor_cores: np.ndarray, itemsize: np.ndarray) -> np.ndarray | float:
    """Per op, seconds of a convolution cuDNN can run Winograd on (3x3, stride 1, fp32 on
    CUDA cores) as its benchmark mode runs it: the fastest of the implicit GEMM, the
    explicit GEMM and both Winograd algorithms (roofline.efficiency.conv); +inf for every
    other op, for ops on tensor cores (cuDNN runs implicit GEMMs there, timed as GEMMs)
    and on a spec without a kernel model. winograd: (n, p, q) arrays (WINOGRAD_COLUMNS),
    gemm: (batch, m, n, k), whose n is the output channels and k the input channels x 9;
    arrays broadcast."""
    if winograd is None or gemm is None or hw.kernel_model is None:
        return np.inf
    n, p, q = winograd
    simt = ~np.asarray(on_tensor_cores, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.where(simt, conv_s(n, p, q, gemm[3] / 9.0, gemm[2], hw=hw, peak_flops=peak_flops,
                                     itemsize=itemsize), np.inf)
