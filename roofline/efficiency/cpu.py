"""Calibrated CPU ops: per op family, a time-vs-size curve measured by `roofline calibrate`.

An eager PyTorch op on a CPU costs a fixed dispatch (argument parsing, the dispatcher,
allocating the output) and then its work, streamed at a fraction of the roofline that
depends on the kernel (an add reaches the bandwidth roof, an exp or a max-pool a few
percent of it). Work is split over the threads only past a grain: ATen's parallel_for
gives each thread at least GRAIN_ELEMENTS elements (at::internal::GRAIN_SIZE), so an
op of fewer elements runs on one thread whatever torch.get_num_threads() says. So

    kernel_s = dispatch_s + work_s x threads / threads_used(elements) / efficiency
    threads_used(elements) = clip(elements / GRAIN_ELEMENTS, 1, threads)

where work_s is the roofline time on the measured ceilings (all threads, efficiencies 1).
dispatch_s and efficiency are fitted per family on calibrate's op-suite microbenchmarks
(roofline.calibrate.curves), never on a model. The attained bandwidth (bytes / kernel_s)
ramps with size from 0 (all dispatch) to efficiency x roof, with a step at the grain.

Beyond the curves: an op whose inner loops (roofline.count.loops) are shorter than one
vectorized step runs them element by element and pays a start per loop
(short_loop_s, measured.loop_costs); matrix products of few rows on cold weights
(few_row_gemm_s, measured.gemm_rows) or of few output columns (narrow_gemm_s,
measured.gemm_cols) run at the rates calibrate measured for them.

Everything works on numpy arrays (a whole model, or a sweep's grid, at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from roofline.count.loops import (
    LOOP_KERNELS,
    MEASURED_ONLY_KERNELS,
    REDUCTION_LOOP_OPS,
    SLICE_LOOP_OPS,
    loop_key,
    without_kernel,
)
from roofline.dtypes import item_sizes
from roofline.hardware import CalibrationRecord

__all__ = [
    "GRAIN_ELEMENTS",
    "ROOFLINE_FLOOR_KERNELS",
    "VECTORS_PER_STEP",
    "CurveTerms",
    "LoopTerms",
    "cpu_record",
    "curve_terms",
    "curve_time_s",
    "elements_of",
    "FEW_ROWS", "few_row_gemm_s",
    "loop_terms",
    "narrow_gemm_s",
    "op_elements",
    "short_loop_s",
    "thread_slowdown",
    "threads_used",
    "variant_names",
    "vector_bytes",
]

#: ATen's at::internal::GRAIN_SIZE: the fewest elements parallel_for hands one thread.
GRAIN_ELEMENTS = 32768


def cpu_record(record: CalibrationRecord) -> bool:
    """Whether ``record`` was measured on a CPU: its device "cpu", or none given (a
    calibration from before the field, all of them on a CPU)."""
    return record.device in (None, "cpu")


def threads_used(elements: np.ndarray, threads: int, grain: int = GRAIN_ELEMENTS) -> np.ndarray:
    """Threads' worth of speed-up an ATen kernel over ``elements`` gets: elements / grain,
    at least 1, at most ``threads``.

    ATen splits into ceil(elements / grain) chunks, so 32769 elements run as two halves,
    faster than 32768 on one thread; this takes the monotone envelope instead (no thread
    does less than a grain while the size would give it one), so time never falls as an
    op grows. It equals ATen's split below one grain and past threads x grain."""
    elements = np.asarray(elements, dtype=float)
    return np.clip(elements / grain, 1.0, float(max(threads, 1)))


def curve_time_s(work_s: np.ndarray, elements: np.ndarray, *, dispatch_s: np.ndarray | float,
                 efficiency: np.ndarray | float, threads: int, grain: int = GRAIN_ELEMENTS) -> np.ndarray:
    """Seconds of one op on the curve: ``dispatch_s`` (s) plus its roofline ``work_s`` (s,
    all threads, efficiency 1) slowed by the threads it cannot use and by ``efficiency``
    (the fraction of the roofline the family's kernel attains, in (0, 1])."""
    slowdown = float(max(threads, 1)) / threads_used(elements, threads, grain)
    return np.asarray(dispatch_s, dtype=float) + np.asarray(work_s, dtype=float) * slowdown / np.asarray(efficiency)


def elements_of(bytes_read: np.ndarray, bytes_written: np.ndarray, item_bytes: np.ndarray) -> np.ndarray:
    """The elements a kernel iterates over (what parallel_for splits): the larger of its
    output and half its input (bytes), in elements of ``item_bytes`` each. Exact for unary
    and binary element-wise ops and concatenations; within 2x for reductions."""
    return np.maximum(np.asarray(bytes_written, dtype=float), np.asarray(bytes_read, dtype=float) / 2.0) / item_bytes


def thread_slowdown(bytes_read: np.ndarray, bytes_written: np.ndarray, item_bytes: np.ndarray,
                    threads: int) -> np.ndarray:
    """How much slower than on all ``threads`` an op of these bytes runs (>= 1): the
    threads it cannot use below the grain. Arrays of any shape (ops x points in a sweep)."""
    used = threads_used(elements_of(bytes_read, bytes_written, item_bytes), threads)
    return float(max(threads, 1)) / used


def op_elements(ops: pd.DataFrame) -> np.ndarray:
    """Per op of a frame (columns dtype, bytes_read, bytes_written), elements_of its bytes."""
    item = item_sizes(ops["dtype"])
    return elements_of(np.nan_to_num(ops["bytes_read"].to_numpy(dtype=float)),
                       np.nan_to_num(ops["bytes_written"].to_numpy(dtype=float)), item)


@dataclass(frozen=True)
class CurveTerms:
    """Per op of a frame: ``has`` (bool, a curve applies), ``dispatch_s`` (s),
    ``base_efficiency`` (the family's fraction of the roofline on all threads; NaN where
    no curve applies) and ``threads`` (the threads its speed-up is counted against; 1 on a
    GPU record). The time model divides base_efficiency by thread_slowdown at each op's
    size (predict.time_terms), so one set of terms serves every size of a sweep."""

    has: np.ndarray
    dispatch_s: np.ndarray
    base_efficiency: np.ndarray
    threads: int = 1


def curve_terms(ops: pd.DataFrame, record: CalibrationRecord | None) -> CurveTerms:
    """The calibrated curve of every op of ``ops`` whose aten op a curve of ``record``
    stands for (``record.op_curves``, through ``record.op_suite_ops``); none elsewhere,
    nor on a record without curves (a datasheet spec, an older calibration)."""
    n = len(ops)
    none = CurveTerms(np.zeros(n, dtype=bool), np.zeros(n), np.full(n, np.nan))
    if record is None or not record.op_curves or "op" not in ops:
        return none
    families = {suite_op.name: suite_op.aten_ops for suite_op in record.op_suite_ops}
    dispatch = {op: c.dispatch_s for c in record.op_curves for op in families.get(c.op, ())}
    efficiency = {op: c.efficiency for c in record.op_curves for op in families.get(c.op, ())}
    names = variant_names(ops, dispatch)
    own_dispatch = names.map(dispatch).to_numpy(dtype=float)
    has = ~np.isnan(own_dispatch)
    if not has.any():
        return none
    # Torch's CPU threads split a CPU kernel; a GPU kernel's time does not depend on them.
    threads = (record.threads or 1) if cpu_record(record) else 1
    return CurveTerms(has, np.where(has, own_dispatch, 0.0), names.map(efficiency).to_numpy(dtype=float), threads)


def variant_names(ops: pd.DataFrame, families: dict[str, Any]) -> pd.Series:
    """Per op, the key its family is found under: ``op@kernel`` (roofline.count.loops
    .loop_key) where the op runs another kernel (column loop_kernel) and ``families`` has
    that key (GELU's tanh form: "aten.gelu@tanh"), else the op itself."""
    names = ops["op"].astype(str)
    if "loop_kernel" not in ops:
        return names
    keys = [loop_key(name, kernel) for name, kernel in zip(names, ops["loop_kernel"].fillna("").astype(str))]
    return pd.Series([key if key in families else name for key, name in zip(keys, names)], index=ops.index)


#: Rows up to which a product on cold weights takes the few-row table's rate whatever its
#: weight's size; with more rows (up to the table's largest) only a product whose own weight
#: outgrows the last cache does (an LM head: few_row_gemm_s).
FEW_ROWS = 64


def few_row_gemm_s(rows: np.ndarray, depth: np.ndarray, flops: np.ndarray, weight_bytes: np.ndarray,
                   item_bytes: np.ndarray, record: CalibrationRecord | None, weights_cold: bool,
                   last_cache_bytes: float = np.inf) -> np.ndarray:
    """The least seconds a GEMM of few ``rows`` (its M) and reduction ``depth`` (its K)
    with a weight operand takes on a calibrated CPU: ``flops`` (FLOP) at the rate
    calibrate measured for linear layers of that many rows on cold fp32 weights
    (``record.gemm_rows``), interpolated in log2 of the rows, then in log2 of the depth
    between the depths measured (clamped to them). 0 where it does not apply: no such
    table, weights that stay in cache (``weights_cold`` False), ops without weight bytes,
    other dtypes than fp32 (4-byte items), or more than FEW_ROWS rows on a weight of at
    most ``last_cache_bytes`` (the GEMM efficiency describes those); a weight larger than
    that takes the table's rate at its largest rows past them, where the table was
    measured past FEW_ROWS.

    A CPU runs a one-row product as a matrix-vector kernel near the bandwidth, a few rows
    about once per row over the weights, and a packed GEMM from about eight rows whose
    rate ramps with the rows; a short reduction (a weight row of 512) costs more per
    byte than a long one: one efficiency per spec cannot follow that. A packed GEMM of
    a hundred rows or more on a weight larger than the last cache with a short reduction
    (a language model's head: 30-50k outputs of 768) stays below the rate of the layers the
    matrix efficiency is measured on (one thread of an AVX2 EPYC, cold: 51-60 GFLOP/s at
    128-512 rows against 76-86 for 2-9 MB weights or a 4096-deep 64 MB one), so the table
    also holds such rows, measured on the same weights."""
    table = [(r.rows, r.depth, r.flops_per_s) for r in record.gemm_rows] if record is not None else []
    rows = np.asarray(rows, dtype=float)
    if not table or not weights_cold:
        return np.zeros(np.shape(rows))
    weight, largest = np.asarray(weight_bytes), max(r for r, _, _ in table)
    # a table measured past FEW_ROWS holds a packed GEMM's rate on such a weight, flat from
    # 128 rows on: past the table, its last (an older one, of few rows only, is not extended)
    large = (weight > last_cache_bytes) & (largest > FEW_ROWS)
    rate, applies = _table_rate(table, np.where(large, np.minimum(rows, largest), rows), depth)
    applies = applies & ((rows <= FEW_ROWS) | large) & (weight > 0) & (np.asarray(item_bytes) == 4)
    return np.where(applies, np.asarray(flops, dtype=float) / rate, 0.0)


def _table_rate(table: list[tuple[int, int, float]], size: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rate, applies) of a measured (size, depth, FLOP/s) table at ``size`` and
    ``depth``: interpolated in log2 of the size, then in log2 of the depth between the
    depths measured (clamped to them). applies: a finite size of at least 1 and no more
    than every depth's largest measured size."""
    safe = np.log2(np.where(np.isfinite(size) & (size >= 1), size, 1.0))
    depths = sorted({d for _, d, _ in table})
    per_depth = []  # the rate at each measured depth, at these sizes
    for measured_depth in depths:
        points = sorted((s, r) for s, d, r in table if d == measured_depth)
        per_depth.append(np.interp(safe, np.log2([p[0] for p in points]), [p[1] for p in points]))
    if len(depths) == 1:
        rate = per_depth[0]
    else:
        log_depths = np.log2(depths)
        at = np.log2(np.clip(np.nan_to_num(np.asarray(depth, dtype=float), nan=depths[0]), depths[0], depths[-1]))
        below = np.clip(np.searchsorted(log_depths, at, side="right") - 1, 0, len(depths) - 2)
        low, high = np.choose(below, per_depth), np.choose(below + 1, per_depth)
        rate = low + (at - log_depths[below]) / (log_depths[below + 1] - log_depths[below]) * (high - low)
    largest = min(max(s for s, d, _ in table if d == measured_depth) for measured_depth in depths)
    return rate, np.isfinite(size) & (size >= 1) & (size <= largest)


def narrow_gemm_s(cols: np.ndarray, rows: np.ndarray, depth: np.ndarray, flops: np.ndarray, item_bytes: np.ndarray,
                  record: CalibrationRecord | None) -> np.ndarray:
    """The least seconds a matrix product of few output ``cols`` (its N) over many
    ``rows`` (its M, more than the few-row table covers) takes on a calibrated CPU:
    ``flops`` (FLOP) at the rate calibrate measured for linear layers of that many
    out_features on a cache-resident activation (``record.gemm_cols``), interpolated as
    few_row_gemm_s does. 0 where it does not apply: no table, other dtypes than fp32,
    more columns than the table holds, or few rows (few_row_gemm_s covers those)."""
    table = [(r.cols, r.depth, r.flops_per_s) for r in record.gemm_cols] if record is not None else []
    cols = np.asarray(cols, dtype=float)
    if not table:
        return np.zeros(np.shape(cols))
    rate, applies = _table_rate(table, cols, depth)
    few_rows = min(FEW_ROWS, max((r.rows for r in record.gemm_rows), default=0))
    applies = applies & (np.asarray(rows, dtype=float) > few_rows) & (np.asarray(item_bytes) == 4)
    return np.where(applies, np.asarray(flops, dtype=float) / rate, 0.0)


#: Vectors ATen's CPU loops take per step: an element-wise loop two (Loops.h,
#: vectorized_loop), a reduction four accumulators (Reduce.h); a gather or a cat copies
#: each slice a vector at a time. Fewer elements than that run element by element; a
#: strided copy (LOOP_KERNELS) runs all of them so. A slice-by-slice copy ("copy": a cat
#: of strided inputs) costs what calibrate measured per slice and per element for all
#: of its elements, in the cache state a forward meets it in (calibrate.loops).
VECTORS_PER_STEP = {"reduction": 4, "elementwise": 2, "slice": 1, "strided": np.inf, "copy": np.inf}
#: Kernels whose calibrated costs never take an op below its roofline memory time: a
#: copy streams its bytes no faster than the memory level holding them allows, and
#: calibrate timed it on a few MB (a copy of tens of MB runs at DRAM's rate).
ROOFLINE_FLOOR_KERNELS = ("copy",)


def vector_bytes(isa: str | None) -> float:
    """Bytes of one vector register PyTorch's CPU kernels use under ``isa``
    (calibrate.machine.cpu_isa: "AVX512 (...)", "AVX2", ...): 64 on AVX-512, 32 on AVX2,
    16 otherwise (SSE, NEON)."""
    isa = (isa or "").upper()
    return 64.0 if isa.startswith("AVX512") else 32.0 if isa.startswith("AVX2") else 16.0


@dataclass(frozen=True)
class LoopTerms:
    """Per op of a frame: ``element_s`` (s per element run without vectors) and
    ``loop_s`` (s per inner loop) on one thread, 0 where no loop cost applies, and
    ``step_elements``, the elements one vectorized step takes (vectors per step x vector
    bytes / item bytes); ``roofline_floor`` (bool, None: none) where the loop costs never
    take the op below its roofline time (ROOFLINE_FLOOR_KERNELS)."""

    element_s: np.ndarray
    loop_s: np.ndarray
    step_elements: np.ndarray
    roofline_floor: np.ndarray | None = None


def loop_terms(ops: pd.DataFrame, record: CalibrationRecord | None) -> LoopTerms:
    """The short-loop costs of every op of ``ops`` on a calibrated CPU (record.loop_costs,
    per suite family through record.op_suite_ops): an op of a measured family takes its
    family's (an op running another kernel, column loop_kernel, that kernel's family
    ``op@kernel`` where calibrate measured one; otherwise its own where the kernel steps
    as the op's usual one, the element-wise median where not); any other op with a
    loop nest (roofline.count.loops) takes the median over the element-wise families.
    Zeros on a record without loop costs (a GPU, a datasheet spec, an older calibration)."""
    n = len(ops)
    zero = LoopTerms(np.zeros(n), np.zeros(n), np.ones(n))
    if record is None or not record.loop_costs or "op" not in ops or not cpu_record(record):
        return zero
    families = {suite_op.name: suite_op.aten_ops for suite_op in record.op_suite_ops}
    per_op = {op: (c.element_s, c.loop_s) for c in record.loop_costs for op in families.get(c.op, ())}
    elementwise = [(c.element_s, c.loop_s) for c in record.loop_costs
                   if not any(without_kernel(op) in REDUCTION_LOOP_OPS or without_kernel(op) in SLICE_LOOP_OPS
                              for op in families.get(c.op, ()))]
    default = tuple(np.median(np.array(elementwise), axis=0)) if elementwise else (0.0, 0.0)
    names = ops["op"].astype(str).to_numpy()
    kernels = (ops["loop_kernel"].fillna("").astype(str).to_numpy() if "loop_kernel" in ops
               else np.full(n, "", dtype=object))
    own = np.where(np.isin(names, REDUCTION_LOOP_OPS), VECTORS_PER_STEP["reduction"],
                   np.where(np.isin(names, SLICE_LOOP_OPS), VECTORS_PER_STEP["slice"], VECTORS_PER_STEP["elementwise"]))
    kind = own.astype(float)
    for kernel, steps in LOOP_KERNELS.items():  # a kernel variant steps as its own class
        kind = np.where(kernels == kernel, VECTORS_PER_STEP[steps], kind)
    keys = np.array([loop_key(name, kernel) for name, kernel in zip(names, kernels)], dtype=object)
    # A variant told apart only lately runs as the op's usual kernel on a record without its family.
    unmeasured = np.isin(kernels, MEASURED_ONLY_KERNELS) & ~np.isin(keys, list(per_op))
    kernels, kind, keys = (np.where(unmeasured, "", kernels), np.where(unmeasured, own, kind),
                           np.where(unmeasured, names, keys))
    # A variant without its own family takes the op's family where it steps the same way
    # (an outer reduction), the element-wise median where not (a strided copy's elements
    # are scalar copies, not the memcpy of a slice).
    costs = np.array([per_op.get(key, per_op.get(name, default) if same else default)
                      for key, name, same in zip(keys, names, kind == own)], dtype=float).reshape(n, 2)
    step = np.maximum(kind * vector_bytes(record.isa) / item_sizes(ops["dtype"]), 1.0)
    return LoopTerms(costs[:, 0], costs[:, 1], step, np.isin(kernels, ROOFLINE_FLOOR_KERNELS))


def short_loop_s(loops: np.ndarray, inner: np.ndarray, terms: LoopTerms, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, scalar fraction) of ops' short loops: ``loops`` inner loops of ``inner``
    elements (NaN: no loop nest). Each loop starts at ``loop_s``; its elements past the
    last whole vectorized step (all of them below one step) run at ``element_s``; split
    over the threads the op's elements can use (threads_used). The scalar fraction is
    the share of the op's elements run element by element (its vectorized time is the
    roofline's for the rest). Arrays broadcast (ops, or ops x points)."""
    loops, inner = np.asarray(loops, dtype=float), np.asarray(inner, dtype=float)
    has = np.isfinite(loops) & np.isfinite(inner) & (loops > 0) & (inner > 0)
    loops, inner = np.where(has, loops, 0.0), np.where(has, inner, 1.0)
    step = terms.step_elements.reshape(terms.step_elements.shape + (1,) * (loops.ndim - terms.step_elements.ndim))
    element_s, loop_s = (a.reshape(a.shape + (1,) * (loops.ndim - a.ndim)) for a in (terms.element_s, terms.loop_s))
    scalar_per_loop = np.where(inner < step, inner, np.mod(inner, step))
    used = threads_used(loops * inner, threads)
    seconds = (loops * loop_s + loops * scalar_per_loop * element_s) / used
    return np.where(has, seconds, 0.0), np.where(has, scalar_per_loop / inner, 0.0)
