"""efficiency: between count and predict. For each op, the fraction of the compute and
memory roofs it attains, the start-up its bytes pay and its floor time, from the op's
kind and shapes and the device's physical parameters (HardwareSpec.kernel_model).

Physics first: GEMMs and convolutions lose to tile, wave and reduction-depth
quantization (gemm.py); memory-bound kernels pay a start-up before their bytes stream
(memory.py); power-limited cards run below their boost clock. A spec without a kernel
model keeps one efficiency per unit and memory (the datasheet roofline), unchanged.

May import: hardware (the spec), count (constants), numpy/pandas. Never analysis or later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from roofline.efficiency.gemm import TILE_MENUS, gemm_efficiency
from roofline.hardware import HardwareSpec

__all__ = ["GEMM_COLUMNS", "OpEfficiency", "gemm_shapes", "kernel_efficiency", "kernel_efficiency_arrays"]

#: Columns of an ops frame holding each op's matrix product (NaN for other ops).
GEMM_COLUMNS: tuple[str, ...] = ("gemm_batch", "gemm_m", "gemm_n", "gemm_k")


@dataclass(frozen=True)
class OpEfficiency:
    """Per op: ``compute``, the fraction (0, 1] of the peak FLOP/s it attains;
    ``latency_s``, the start-up its bytes pay (s); ``floor_s``, the least time its kernel
    takes (s). Memory-bound ops keep the fraction of the bandwidth the spec gives them."""

    compute: np.ndarray
    latency_s: np.ndarray
    floor_s: np.ndarray


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
    shapes = gemm_shapes(ops)
    return kernel_efficiency_arrays(tuple(shapes.T) if shapes is not None else None, hw, compute=compute,
                                    on_tensor_cores=on_tensor_cores, does_work=does_work)


def kernel_efficiency_arrays(gemm: tuple[np.ndarray, ...] | None, hw: HardwareSpec, *, compute: np.ndarray,
                             on_tensor_cores: np.ndarray, does_work: np.ndarray) -> OpEfficiency:
    """kernel_efficiency on arrays of any shape that broadcast (ops, or ops x points of a
    vectorised sweep): gemm is (batch, m, n, k), NaN for non-GEMM ops, or None."""
    model = hw.kernel_model
    shape = np.broadcast_shapes(np.shape(compute), np.shape(does_work), *(np.shape(a) for a in gemm or ()))
    if model is None:
        return OpEfficiency(np.broadcast_to(compute, shape), np.zeros(shape), np.zeros(shape))
    attained = np.broadcast_to(np.asarray(compute, dtype=float), shape)
    if gemm is not None:
        is_gemm = np.isfinite(gemm[0]) & np.isfinite(gemm[1]) & np.isfinite(gemm[2]) & np.isfinite(gemm[3]) & does_work
        for tile_class, menu in TILE_MENUS.items():
            chosen = is_gemm & (on_tensor_cores if tile_class == "tensor" else ~on_tensor_cores)
            if not chosen.any():
                continue
            # NaN shapes (ops that are no GEMM) are left out by ``chosen``.
            sizes = (np.where(chosen, dim, 1.0) for dim in gemm)
            shape_fraction = gemm_efficiency(*sizes, sms=model.sms, menu=menu, k_overhead=model.k_overhead)
            # Without a fitted figure for this tile class, the unit's efficiency stands in.
            ideal = model.gemm_efficiency.get(tile_class, attained)
            attained = np.where(chosen, ideal * shape_fraction, attained)
    # A card held below its boost clock reaches every compute peak in that proportion.
    attained = attained * model.clock_ratio
    latency = np.where(does_work, model.latency_s, 0.0) + np.zeros(shape)
    floor = np.where(does_work, model.min_kernel_s, 0.0) + np.zeros(shape)
    return OpEfficiency(attained, latency, floor)
