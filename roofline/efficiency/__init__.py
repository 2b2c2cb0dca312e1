"""efficiency: between count and predict. For each op, the fraction of the compute and
memory roofs it attains, the start-up its bytes pay and its floor time, from the op's
kind and shapes and the device's physical parameters (HardwareSpec.kernel_model).

Physics first: GEMMs and convolutions lose to tile, wave and reduction-depth
quantization (gemm.py); memory-bound kernels pay a start-up before their bytes stream
(memory.py); power-limited cards run below their boost clock. On a calibrated spec,
each op of a family the calibration's op suite measured follows that family's
time-vs-size curve (cpu.py: dispatch, efficiency, threads by ATen's grain). A spec without a kernel
model keeps one efficiency per unit and memory (the datasheet roofline), unchanged.

May import: hardware (the spec), count (constants), numpy/pandas. Never analysis or later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from roofline.dtypes import KEY_ITEMSIZE
from roofline.efficiency.gemm import TILE_MENUS, gemm_efficiency
from roofline.efficiency.reduction import (
    LAYER_NORM_BLOCK_THREADS,
    LAYER_NORM_OPS,
    LAYER_NORM_READS,
    SOFTMAX_OPS,
    reread_hit_fraction,
    reread_s,
    softmax_block_threads,
    softmax_reads,
)
from roofline.hardware import HardwareSpec

__all__ = ["GEMM_COLUMNS", "ROW_COLUMNS", "OpEfficiency", "kernel_efficiency", "row_reread_s"]

#: Columns of an ops frame holding each op's matrix product (NaN for other ops).
GEMM_COLUMNS: tuple[str, ...] = ("gemm_batch", "gemm_m", "gemm_n", "gemm_k")
#: Columns holding the rows a row-wise reduction reduces: how many, and their length.
ROW_COLUMNS: tuple[str, ...] = ("reduce_rows", "reduce_len")


@dataclass(frozen=True)
class OpEfficiency:
    """Per op: ``compute``, the fraction (0, 1] of the peak FLOP/s it attains;
    ``latency_s``, the start-up its bytes pay (s); ``floor_s``, the least time its kernel
    takes (s); ``reread_s``, the time a row-wise reduction spends reading its rows again
    beyond the compulsory bytes (s, 0 for other ops). Memory-bound ops keep the fraction
    of the bandwidth the spec gives them."""

    compute: np.ndarray
    latency_s: np.ndarray
    floor_s: np.ndarray
    reread_s: np.ndarray | float = 0.0


def gemm_shapes(ops: pd.DataFrame) -> np.ndarray | None:
    """(n_ops, 4) array of batch, m, n, k (NaN rows for non-GEMM ops), or None when the
    frame has no GEMM columns."""
    if not all(column in ops for column in GEMM_COLUMNS):
        return None
    return ops[list(GEMM_COLUMNS)].to_numpy(dtype=float)


def kernel_efficiency(ops: pd.DataFrame, hw: HardwareSpec, *, compute: np.ndarray,
                      on_tensor_cores: np.ndarray, does_work: np.ndarray) -> OpEfficiency:
    """The attained fractions and floors of every op of ``ops`` on ``hw``.

    compute: the fraction the spec gives each op without a kernel model (its unit's
    efficiency, or a calibrated op's own); on_tensor_cores: the
    op's FLOPs run on matrix units (its peak is a matrix peak); does_work: the op moves
    bytes or FLOPs (views and no-work ops get no floor and no start-up).
    """
    n = len(ops)
    model = hw.kernel_model
    if model is None:
        return OpEfficiency(compute, np.zeros(n), np.zeros(n))
    shapes = gemm_shapes(ops)
    attained = np.asarray(compute, dtype=float).copy()
    if shapes is not None:
        is_gemm = np.isfinite(shapes).all(axis=1) & does_work
        for tile_class, menu in TILE_MENUS.items():
            chosen = is_gemm & (on_tensor_cores if tile_class == "tensor" else ~on_tensor_cores)
            if not chosen.any():
                continue
            batch, m, n_cols, k = shapes[chosen].T
            shape_fraction = gemm_efficiency(batch, m, n_cols, k, sms=model.sms, menu=menu, k_overhead=model.k_overhead)
            # Without a fitted figure for this tile class, the unit's efficiency stands in.
            ideal = model.gemm_efficiency.get(tile_class, attained[chosen])
            attained[chosen] = ideal * shape_fraction
    # A card held below its boost clock reaches every compute peak in that proportion.
    attained = attained * model.clock_ratio
    latency = np.where(does_work, model.latency_s, 0.0)
    floor = np.where(does_work, model.min_kernel_s, 0.0)
    return OpEfficiency(attained, latency, floor, np.where(does_work, row_reread_s(ops, hw), 0.0))


def row_reread_s(ops: pd.DataFrame, hw: HardwareSpec) -> np.ndarray:
    """Per op, seconds its row-wise reduction kernel (softmax, layer norm) spends reading
    rows again (roofline.efficiency.reduction); 0 for other ops, for a frame without the
    row columns and for a spec without a kernel model or an L2."""
    n = len(ops)
    model = hw.kernel_model
    names = [level.name for level in hw.memory]
    if model is None or "l2" not in names or not all(column in ops for column in ROW_COLUMNS) or "op" not in ops:
        return np.zeros(n)
    rows, length = (ops[column].to_numpy(dtype=float) for column in ROW_COLUMNS)
    op = ops["op"].to_numpy()
    itemsize = ops["dtype"].map(KEY_ITEMSIZE).fillna(4.0).to_numpy(dtype=float) if "dtype" in ops else np.full(n, 4.0)
    softmax = np.isin(op, list(SOFTMAX_OPS))
    reads = np.where(softmax, softmax_reads(length, itemsize), np.where(np.isin(op, list(LAYER_NORM_OPS)),
                                                                        LAYER_NORM_READS, 1.0))
    threads = np.where(softmax, softmax_block_threads(length, itemsize), LAYER_NORM_BLOCK_THREADS)
    row_bytes = length * itemsize
    l2 = hw.level("l2")
    hit = reread_hit_fraction(row_bytes, threads, sms=model.sms, threads_per_sm=model.threads_per_sm,
                              l2_bytes=l2.capacity)
    extra = reread_s(rows, row_bytes, reads, hit, l2_bw=l2.bandwidth, dram_bw=hw.efficiency.memory * hw.dram.bandwidth)
    return np.where(np.isfinite(extra), extra, 0.0)
