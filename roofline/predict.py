"""The roofline time model.

    kernel_s    = max(flops / (eta_c * peak[dtype, unit]), latency + bytes / (eta_m * bw[level]), floor)
    predicted_s = kernel_s + overhead          (dispatch and launch: eager wall time)

eta_c, eta_m, latency and floor come from the efficiency stage (roofline.efficiency):
one efficiency per unit and no latency or floor on a datasheet spec; tile and wave
quantization, sustained clocks, kernel start-up and minimum time on a spec with a
kernel model.

peak is chosen by dtype and by whether the op runs on matrix (tensor) units or vector
units; fp32 matrix work uses the TF32 peak where the spec has one and PyTorch would use
it (convolutions by default, matmuls only when allowed). Bytes of a host-device
transfer go over the host link instead of device memory. Views do no work and take no
time. ``bound`` is whichever term is largest: compute ("issue" where that is a GPU kernel's
issue of elements, roofline.efficiency.elementwise), memory or the fixed overhead; ops
that do no work at all (views, allocations) are bound by "none".

A calibrated spec (``hw.measured``, a roofline.hardware.CalibrationRecord) refines four
terms: the memory level by working set, the cost of views and of large fresh outputs,
and, for each op of a family its op suite measured, the family's time-vs-size curve
(roofline.efficiency.cpu: its own dispatch cost in place of the spec's overhead, its
own efficiency, one thread below ATen's grain); its depthwise and grouped fp32
convolutions take the times measured for them (roofline.efficiency.cpu_conv), and its
fp32 flash attention the time of its blocks at costs measured for them
(roofline.efficiency.cpu_sdpa).

Everything here works on whole columns at once (numpy), so predicting a captured model
on another spec is a few vector operations, not a re-capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from roofline.count.categories import CONV
from roofline.count.formulas.attention import SDPA_OPS
from roofline.count.formulas.backward import SDPA_BACKWARD_OPS
from roofline.count.registry import HOST_LINK, MATRIX, NO_UNIT, VECTOR
from roofline.dtypes import item_sizes
from roofline.efficiency import (GATHER_COLUMN, LOOP_COLUMNS, ROW_COLUMNS, STRIDED_COLUMN, WINOGRAD_COLUMNS, conv_arrays, gemm_shapes,
                                  kernel_efficiency_arrays, row_reread_arrays)
from roofline.efficiency.cpu import (CurveTerms, LoopTerms, curve_terms, few_row_gemm_s, loop_terms, narrow_gemm_s,
                                    short_loop_s, thread_slowdown)
from roofline.efficiency.cpu_conv import conv_rate_s, conv_shape
from roofline.efficiency.attention import BACKWARD_PRODUCTS, SPECIAL_PER_SM_CLOCK, causal_mask, gpu_attention_s
from roofline.efficiency.cpu_sdpa import ATTENTION_COLUMNS, SDPA_OP, sdpa_s
from roofline.hardware import DRAM, WORKING_SET, HardwareSpec

__all__ = [
    "BOUNDS", "COMPUTE_BOUND", "MEMORY_BOUND", "OVERHEAD_BOUND", "ISSUE_BOUND", "NO_WORK", "PREDICTION_COLUMNS",
    "DEFAULT_LEVEL", "WORKING_SET", "Tf32Policy", "predict_frame", "default_level", "no_work_overhead", "between_ops_s", "MODULE_CALLS_COLUMN",
    "fresh_write_s", "fresh_write_array", "in_place_ops", "working_set_bandwidth", "resident_bandwidth", "op_efficiency", "compute_dtype",
    "OpTraits", "OpSizes", "TimeTerms", "op_traits", "op_sizes", "time_terms",
]

#: What bounds an op (the ``bound`` column): the largest term of the time model; ISSUE_BOUND
#: where that is the compute term set by the SMs' issue of elements computed one by one
#: (roofline.efficiency.elementwise), not by FLOPs; NO_WORK for ops that do no work (views).
COMPUTE_BOUND, MEMORY_BOUND, OVERHEAD_BOUND, ISSUE_BOUND, NO_WORK = "compute", "memory", "overhead", "issue", "none"
BOUNDS: tuple[str, ...] = (COMPUTE_BOUND, MEMORY_BOUND, OVERHEAD_BOUND, ISSUE_BOUND, NO_WORK)

#: Names of the prediction columns added to an ops frame.
PREDICTION_COLUMNS = (
    "peak_flops",
    "attainable_flops",
    "bandwidth",
    "compute_s",
    "memory_s",
    "kernel_s",
    "overhead_s",
    "predicted_s",
    "bound",
)

#: The memory level every op's traffic goes to unless the caller (or the spec) names another.
DEFAULT_LEVEL = DRAM
# WORKING_SET (from roofline.hardware): level= value that sends each op's traffic to the
# smallest memory level whose capacity holds the op's bytes (read + written). A calibrated
# spec opts in with ``measured: {memory_level: working_set}``.


# --------------------------------------------------------------------------- calibrated terms


def default_level(hw: HardwareSpec) -> str:
    """The spec's choice of memory level: WORKING_SET when its calibration record asks
    for it (calibrated specs), else DEFAULT_LEVEL (datasheet specs: everything from DRAM)."""
    record = hw.measured
    return WORKING_SET if record is not None and record.memory_level == WORKING_SET else DEFAULT_LEVEL


def no_work_overhead(hw: HardwareSpec) -> float:
    """Seconds an op that does no work (a view, an allocation) takes: 0 unless a calibrated
    spec measured it (``measured.view_overhead_s``): on a CPU, eager PyTorch spends a
    microsecond or two dispatching each view; on a GPU no kernel runs for one."""
    return hw.measured.view_overhead_s if hw.measured is not None else 0.0


#: nn.Module calls entered before each op, since the one before (OpRecord.module_calls):
#: the Python between ops that between_ops_s charges. roofline.analysis.count_frame
#: writes it from the capture's records.
MODULE_CALLS_COLUMN = "module_calls"


def between_ops_s(counted: pd.DataFrame, hw: HardwareSpec) -> float:
    """Seconds the host spends between a model's ops in Python: its nn.Module calls (the
    MODULE_CALLS_COLUMN of ``counted``, from roofline.capture) times the measured cost of
    one (``measured.module_call_s``). 0 on a spec that did not measure it. Eager runs each
    module's __call__ (hook checks, the forward's lookup) outside every op; the Python in
    the forwards themselves (argument handling, the op's own binding) is in the ops'
    calibrated dispatch."""
    per_call = hw.measured.module_call_s if hw.measured is not None else None
    if not per_call or MODULE_CALLS_COLUMN not in counted:
        return 0.0
    return float(counted[MODULE_CALLS_COLUMN].sum()) * per_call


def fresh_write_s(ops: pd.DataFrame, hw: HardwareSpec) -> np.ndarray:
    """Per op, seconds spent faulting in the fresh pages of a large new output: 0 unless a
    calibrated spec measured it (``measured.fresh_write``: min_bytes, bandwidth in B/s).

    On Linux, glibc hands out blocks past its mmap threshold (32 MiB at most) as fresh
    pages, which the kernel faults in and zeroes on first write: an op whose output is
    that large pays bytes_written / bandwidth on top of its traffic. In-place ops (names
    ending in "_") allocate nothing. Needs the columns op and bytes_written (else 0).
    """
    if "bytes_written" not in ops or "op" not in ops:
        return np.zeros(len(ops))
    written = np.nan_to_num(ops["bytes_written"].to_numpy(dtype=float))
    return fresh_write_array(written, in_place_ops(ops), hw)


def in_place_ops(ops: pd.DataFrame) -> np.ndarray:
    """Per op, True for an in-place op (name ending in "_": it allocates no output)."""
    if "op" not in ops:
        return np.zeros(len(ops), dtype=bool)
    return ops["op"].astype(str).str.endswith("_").to_numpy()


def fresh_write_array(bytes_written: np.ndarray, in_place: np.ndarray, hw: HardwareSpec) -> np.ndarray:
    """fresh_write_s on arrays (any shape that broadcasts): seconds faulting in the fresh
    pages of outputs of ``bytes_written`` bytes; 0 for in-place ops and uncalibrated specs."""
    fresh = hw.measured.fresh_write if hw.measured is not None else None
    if fresh is None:
        return np.zeros(np.shape(bytes_written))
    return np.where((bytes_written >= fresh.min_bytes) & ~in_place, bytes_written / fresh.bandwidth, 0.0)


def working_set_bandwidth(nbytes: np.ndarray, hw: HardwareSpec) -> np.ndarray:
    """Per op, the bandwidth (B/s) of the smallest level whose capacity >= its bytes
    (DRAM for anything larger than every cache)."""
    capacities = np.array([lvl.capacity for lvl in hw.memory])
    bandwidths = np.array([lvl.bandwidth for lvl in hw.memory])
    where = np.searchsorted(capacities, np.nan_to_num(nbytes), side="left")
    return bandwidths[np.minimum(where, len(capacities) - 1)]


def op_efficiency(hw: HardwareSpec) -> dict[str, float]:
    """aten op -> the fraction of the roofline (efficiencies 1) it reaches on this
    machine, from a calibrated spec's op suite (``measured.op_suite`` rows, and
    ``measured.op_suite_ops``: the aten ops each suite op stands for): the median over
    the sizes measured. Empty for datasheet specs, which use one efficiency per unit.

    One efficiency per unit cannot follow kernels that differ tenfold (an eager exp or
    max-pool on CPU reaches a few percent of the roofline where add reaches all of it).
    """
    record = hw.measured
    if record is None:
        return {}
    fractions: dict[str, list[float]] = {}
    for row in record.op_suite:
        if row.fraction is not None:  # None: the op was all overhead at that size
            fractions.setdefault(row.op, []).append(row.fraction)
    aten_ops = {suite_op.name: suite_op.aten_ops for suite_op in record.op_suite_ops}
    return {op: float(np.median(values)) for name, values in fractions.items() for op in aten_ops[name]}


def resident_bandwidth(resident_bytes: float, hw: HardwareSpec) -> float:
    """Bandwidth (B/s) at which an op reads the model's weights in WORKING_SET mode.

    Weights are read once per forward, so between two reads of one weight every other
    weight passes through the caches too: they stay cached only if all of them fit. The
    level is the smallest whose capacity holds ``resident_bytes`` (the model's distinct
    parameter and buffer bytes), DRAM when none does (or when the size is unknown, 0).
    """
    if resident_bytes <= 0:
        return hw.dram.bandwidth
    return float(working_set_bandwidth(np.array([resident_bytes]), hw)[0])


# --------------------------------------------------------------------------- peaks


@dataclass(frozen=True)
class Tf32Policy:
    """Whether fp32 matrix work runs as TF32 on specs that have TF32 units.

    PyTorch's defaults: cuDNN convolutions allow TF32, matmuls do not.
    """

    conv: bool = True
    matmul: bool = False

    @classmethod
    def from_torch(cls) -> "Tf32Policy":
        import torch

        return cls(conv=bool(torch.backends.cudnn.allow_tf32), matmul=bool(torch.backends.cuda.matmul.allow_tf32))


def compute_dtype(dtype: str, unit: str, category: str, hw: HardwareSpec, tf32: Tf32Policy) -> str:
    """The dtype key whose peak applies to an op (fp32 becomes tf32 where TF32 would be used)."""
    if dtype == "fp32" and unit == MATRIX and "tf32" in hw.matrix_flops:
        uses_tf32 = tf32.conv if category == CONV else tf32.matmul
        if uses_tf32:
            return "tf32"
    return dtype


def _peak_and_efficiency(unit: str, dtype: str, category: str, hw: HardwareSpec, tf32: Tf32Policy) -> tuple[float, float, float]:
    """Peak FLOP/s of one (unit, dtype, category), the spec's compute efficiency for it
    (matrix where the op really runs on matrix units, else vector) and 1.0 when it runs
    on matrix units (0.0 otherwise)."""
    lookup_unit = unit if unit in (MATRIX, VECTOR) else VECTOR
    key = compute_dtype(dtype, lookup_unit, category, hw, tf32)
    on_matrix = lookup_unit == MATRIX and key in hw.matrix_flops
    efficiency = hw.efficiency.matrix if on_matrix else hw.efficiency.vector
    return hw.peak_flops(key, lookup_unit), efficiency, float(on_matrix)


def peak_lookup(ops: pd.DataFrame, hw: HardwareSpec, tf32: Tf32Policy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per op, the peak FLOP/s, the spec's compute efficiency for its unit and dtype, and
    whether it runs on matrix (tensor) units (bool).

    One lookup per distinct (unit, dtype, category), not one per op: a Python loop over
    the ops was most of a spec swap's time (docs/performance.md).
    """
    columns = [ops[name].to_numpy() for name in ("unit", "dtype", "category")]
    codes, values = zip(*(pd.factorize(column, use_na_sentinel=False) for column in columns))
    combined = (codes[0] * len(values[1]) + codes[1]) * len(values[2]) + codes[2]
    distinct, inverse = np.unique(combined, return_inverse=True)
    table = np.empty((len(distinct), 3))
    for j, code in enumerate(distinct.tolist()):
        rest, category_code = divmod(code, len(values[2]))
        unit_code, dtype_code = divmod(rest, len(values[1]))
        table[j] = _peak_and_efficiency(values[0][unit_code], values[1][dtype_code], values[2][category_code], hw, tf32)
    per_op = table[inverse.reshape(-1)]
    return per_op[:, 0], per_op[:, 1], per_op[:, 2] > 0


# --------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class Traffic:
    """Where each op's bytes go: ``bandwidth`` (B/s) for its activations (or the host
    link), ``weight_bandwidth`` for its ``weight_bytes`` (parameters and buffers)."""

    bandwidth: np.ndarray
    weight_bytes: np.ndarray
    weight_bandwidth: float  # one level holds all the weights (resident_bandwidth)
    host: np.ndarray  # bool: bytes cross the host link


def memory_traffic(nbytes: np.ndarray, param_bytes: np.ndarray, host: np.ndarray, hw: HardwareSpec, level: str,
                   resident_bytes: float) -> Traffic:
    """The bandwidth each op's bytes see (see predict_frame's ``level``). Arrays of any
    shape that broadcast (ops x sizes in a vectorised sweep); param_bytes: the bytes of
    the op's weights (0 where unsupported)."""
    weight_bytes = np.zeros(np.shape(nbytes))
    if level == WORKING_SET:
        memory_bw = working_set_bandwidth(nbytes, hw)
        weight_bytes = np.minimum(param_bytes, nbytes)
        weight_bw = resident_bandwidth(resident_bytes, hw)
    else:
        memory_bw = weight_bw = hw.level(level).bandwidth
    return Traffic(
        bandwidth=np.where(host, hw.host_link_bw, memory_bw),
        weight_bytes=np.where(host, 0.0, weight_bytes),
        weight_bandwidth=weight_bw,
        host=host,
    )


@dataclass(frozen=True)
class Efficiencies:
    """Per op, the fraction of each roof it attains: compute, activation bytes, weights."""

    compute: np.ndarray
    memory: np.ndarray
    weights: np.ndarray


def efficiencies(ops: pd.DataFrame, hw: HardwareSpec, compute: np.ndarray, host: np.ndarray,
                 curves: CurveTerms) -> Efficiencies:
    """The spec's efficiencies per op (a host copy runs at the link's full rate), except
    that ops the calibration measured one by one reach their own fraction of the roofline
    instead of the unit's and memory's defaults: their family's curve (ramped by the
    threads their size uses), or on an older calibration without curves the op suite's
    median fraction."""
    suite = {} if hw.measured is not None and hw.measured.op_curves else op_efficiency(hw)
    if suite and "op" in ops:
        own = ops["op"].map(suite).to_numpy(dtype=float)
    else:
        own = np.full(len(ops), np.nan)
    # The family's efficiency on all threads: time_terms ramps it by the op's size.
    own = np.where(curves.has, curves.base_efficiency, own)
    has_own = ~np.isnan(own) & ~host
    return Efficiencies(
        compute=np.where(has_own, own, compute),
        memory=np.where(has_own, own, np.where(host, 1.0, hw.efficiency.memory)),
        weights=np.where(has_own, own, hw.efficiency.memory),
    )


# --------------------------------------------------------------------------- the model


def bounds(compute_s: np.ndarray, memory_s: np.ndarray, overhead_s: np.ndarray, no_work: np.ndarray,
           issue_bound: np.ndarray) -> np.ndarray:
    """Per op, the term that wins: COMPUTE_BOUND (ISSUE_BOUND where ``issue_bound``: the
    compute term is the kernel's issue time), MEMORY_BOUND, OVERHEAD_BOUND (the fixed
    per-op costs: dispatch, launch, the minimum kernel time) or NO_WORK."""
    bound = np.full(len(compute_s), MEMORY_BOUND, dtype=object)
    compute = compute_s >= memory_s
    bound[compute] = COMPUTE_BOUND
    bound[compute & issue_bound] = ISSUE_BOUND
    bound[overhead_s > np.maximum(compute_s, memory_s)] = OVERHEAD_BOUND
    bound[no_work] = NO_WORK
    return bound


def predict_frame(
    ops: pd.DataFrame,
    hw: HardwareSpec,
    *,
    tf32: Tf32Policy | None = None,
    level: str | None = None,
    resident_bytes: float = 0.0,
) -> pd.DataFrame:
    """Prediction columns (PREDICTION_COLUMNS) for an ops frame, indexed like it.

    level: the memory level all traffic goes to ("dram", "l2", ...), or WORKING_SET to
    pick one per op by its bytes; None takes the spec's choice (default_level). With
    WORKING_SET, the op's weight bytes (column param_bytes, when present) are read at
    the bandwidth of the level that holds all the model's weights (resident_bandwidth of
    ``resident_bytes``: the model's distinct parameter and buffer bytes, Analysis.resident_bytes;
    0, unknown, reads them from DRAM) and only its other bytes by working set.

    ``ops`` needs the columns flops, bytes, unit, dtype, category, traffic, supported.
    Times are in seconds, peaks in FLOP/s, bandwidths in byte/s. Unsupported ops get the
    fixed overhead only (they are listed separately, never treated as free work).
    """
    traits = op_traits(ops, hw, tf32 or Tf32Policy())
    terms = time_terms(op_sizes(ops), traits, hw, level or default_level(hw), resident_bytes)
    columns = {"peak_flops": traits.peak, "attainable_flops": terms.attainable, "bandwidth": terms.bandwidth,
               "compute_s": terms.compute_s, "memory_s": terms.memory_s, "kernel_s": terms.kernel_s,
               "overhead_s": terms.overhead_s, "predicted_s": terms.predicted_s,
               "bound": bounds(terms.compute_s, terms.memory_s, terms.fixed_s, traits.no_work, terms.issue_bound)}
    return pd.DataFrame(columns, index=ops.index)


# --------------------------------------------------------------------------- on arrays


@dataclass(frozen=True)
class OpTraits:
    """Per op, what the time model needs that does not depend on its sizes (1-D arrays,
    one entry per op): peak FLOP/s, the attained fractions of the spec's roofs, and the
    op's kind. A vectorised sweep computes them once per spec for a whole grid."""

    peak: np.ndarray
    efficiency: Efficiencies
    on_matrix: np.ndarray
    host: np.ndarray
    no_work: np.ndarray
    supported: np.ndarray
    in_place: np.ndarray
    op: np.ndarray  # the op's name (row-wise reductions reread their rows by kind)
    itemsize: np.ndarray  # bytes per element of the dtype it computes in
    curves: CurveTerms  # calibrated CPU families: dispatch_s and efficiency before the thread ramp
    loops: LoopTerms | None = None  # a calibrated CPU's short-loop costs (None: none)
    conv: np.ndarray | None = None  # bool: a convolution (None: no category known)


@dataclass(frozen=True)
class OpSizes:
    """Per op, the size-dependent counts: flops (FLOP), bytes and bytes_written (B),
    param_bytes (B of weights) and the GEMM (batch, m, n, k) or None. Arrays of shape
    (ops,) or (ops, points): a vectorised sweep evaluates every point at once."""

    flops: np.ndarray
    bytes: np.ndarray
    bytes_written: np.ndarray
    param_bytes: np.ndarray
    gemm: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
    rows: tuple[np.ndarray, np.ndarray] | None = None  # a row-wise reduction's rows and length (NaN: none)
    winograd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # a 3x3 conv's n, p, q (NaN: none)
    loops: tuple[np.ndarray, np.ndarray] | None = None  # a CPU kernel's inner loops and their length (NaN: none)
    attention: tuple[np.ndarray, ...] | None = None  # a fused attention's heads, q_len, kv_len, head_dim (NaN: none)
    strided: np.ndarray | None = None  # elements an element-wise GPU kernel computes one by one (0: none)
    gathered: np.ndarray | None = None  # elements a GPU gather kernel computes one by one (0: none)


@dataclass(frozen=True)
class TimeTerms:
    """The time model's terms per op (seconds; FLOP/s; B/s), shaped like OpSizes's arrays. fixed_s: the fixed
    per-op cost (overhead, and the kernel floor where it wins); issue_bound: compute_s is the issue time."""

    attainable: np.ndarray
    bandwidth: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    kernel_s: np.ndarray
    overhead_s: np.ndarray
    predicted_s: np.ndarray
    fixed_s: np.ndarray
    issue_bound: np.ndarray


def op_traits(ops: pd.DataFrame, hw: HardwareSpec, tf32: Tf32Policy) -> OpTraits:
    """The size-independent traits of every op of ``ops`` on ``hw`` (columns unit, dtype,
    category, traffic, supported and, when present, op)."""
    peak, compute_efficiency, on_matrix = peak_lookup(ops, hw, tf32)
    host = ops["traffic"].to_numpy() == HOST_LINK
    curves = curve_terms(ops, hw.measured)
    return OpTraits(peak=peak, efficiency=efficiencies(ops, hw, compute_efficiency, host, curves), on_matrix=on_matrix,
                    host=host, no_work=ops["unit"].to_numpy() == NO_UNIT,
                    supported=ops["supported"].to_numpy(dtype=bool), in_place=in_place_ops(ops),
                    op=ops["op"].to_numpy() if "op" in ops else np.full(len(ops), ""),
                    itemsize=item_sizes(ops["dtype"]), curves=curves, loops=loop_terms(ops, hw.measured),
                    conv=ops["category"].to_numpy() == CONV)


def op_sizes(ops: pd.DataFrame) -> OpSizes:
    """The size-dependent counts of an ops frame (NaN counts of unsupported ops as 0)."""
    supported = ops["supported"].to_numpy(dtype=bool)

    def column(name: str) -> np.ndarray:
        values = ops[name].to_numpy(dtype=float) if name in ops else np.zeros(len(ops))
        return np.where(supported, np.nan_to_num(values), 0.0)

    shapes = gemm_shapes(ops)
    return OpSizes(flops=column("flops"), bytes=column("bytes"), bytes_written=column("bytes_written"),
                   param_bytes=column("param_bytes"), gemm=tuple(shapes.T) if shapes is not None else None,
                   rows=_columns(ops, ROW_COLUMNS), winograd=_columns(ops, WINOGRAD_COLUMNS), loops=_columns(ops, LOOP_COLUMNS),
                   attention=_columns(ops, ATTENTION_COLUMNS), strided=column(STRIDED_COLUMN), gathered=column(GATHER_COLUMN))


def _columns(ops: pd.DataFrame, names: tuple[str, ...]) -> tuple[np.ndarray, ...] | None:
    """The float arrays of columns ``names`` of ``ops``, or None where one is missing."""
    return tuple(ops[c].to_numpy(dtype=float) for c in names) if all(c in ops for c in names) else None


def _per_op(values: np.ndarray, ndim: int) -> np.ndarray:
    """A per-op trait (ops,) shaped to broadcast against sizes of ``ndim`` dimensions."""
    values = np.asarray(values)
    return values.reshape(values.shape + (1,) * (ndim - values.ndim)) if values.ndim else values


def _ramped(eff: Efficiencies, traits: OpTraits, sizes: OpSizes, ndim: int) -> Efficiencies:
    """Efficiencies with calibrated CPU families slowed by the threads their size leaves
    idle (roofline.efficiency.cpu): the one size-dependent part of an op's efficiency."""
    has = _per_op(traits.curves.has & ~traits.host, ndim)
    if not np.any(has):
        return eff
    slowdown = thread_slowdown(sizes.bytes - sizes.bytes_written, sizes.bytes_written,
                               _per_op(traits.itemsize, ndim), traits.curves.threads)
    return Efficiencies(*(np.where(has, e / slowdown, e) for e in (eff.compute, eff.memory, eff.weights)))


#: Ops whose few-row rate a calibration measures (a linear layer's product; convolutions
#: run other kernels).
_ROW_RATE_OPS = ("aten.mm", "aten.addmm", "aten.linear", "aten.matmul", "aten.bmm", "aten.baddbmm")
#: Fused attention kernels a GPU runs by tiles (the math variant runs unfused products instead).
_TILED_ATTENTION_OPS = tuple(op for op in SDPA_OPS if op != "aten._scaled_dot_product_attention_math")


def _gpu_attention(attention: tuple[np.ndarray, ...], flops: np.ndarray, compute_s: np.ndarray, attainable: np.ndarray,
                   traits: OpTraits, hw: HardwareSpec, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """(compute_s, attainable) with a GPU's fused attentions timed by their tiles: products
    at the rate attained on the matrix units, exponentials on the special function units
    at SPECIAL_PER_SM_CLOCK x SMs x the sustained clock (roofline.efficiency.attention)."""
    backward = np.isin(traits.op, SDPA_BACKWARD_OPS)
    applies = _per_op((np.isin(traits.op, _TILED_ATTENTION_OPS) | backward) & traits.supported & ~traits.host, ndim)
    products = _per_op(np.where(backward, BACKWARD_PRODUCTS, 1.0), ndim)
    model = hw.kernel_model
    l2_bw = next((level.bandwidth for level in hw.memory if level.name == "l2"), np.inf)
    with np.errstate(invalid="ignore"):
        seconds = gpu_attention_s(attention, causal_mask(flops, attention, products), matrix_flops=attainable,
                                  products=products, special_per_s=SPECIAL_PER_SM_CLOCK * model.sms * model.sustained_clock_hz,
                                  l2_bw=l2_bw)
    return _rated(applies & np.isfinite(seconds) & (seconds > 0), seconds, compute_s, attainable, flops)


def _looped_work_s(work_s: np.ndarray, fresh_s: np.ndarray, loops: tuple[np.ndarray, np.ndarray], traits: OpTraits,
                   ndim: int) -> np.ndarray:
    """Seconds of ops' work (``work_s``, the roofline's, with ``fresh_s`` of page faults in
    it) on a calibrated CPU whose short loops run element by element: the scalar share of
    the work at the loop costs (roofline.efficiency.cpu.short_loop_s). Where the loop costs
    stand for all of the work, the pages a fresh output faults in stay (calibrate's outputs
    were mapped before it timed them), and a copy is never faster than the roofline."""
    loop_s, scalar = short_loop_s(*loops, traits.loops, traits.curves.threads)
    kept_s = np.where(scalar >= 1.0, np.minimum(fresh_s, work_s), 0.0)
    looped_s = work_s * (1.0 - scalar) + loop_s + kept_s
    if traits.loops.roofline_floor is not None:
        looped_s = np.where(_per_op(traits.loops.roofline_floor, ndim), np.maximum(looped_s, work_s), looped_s)
    return looped_s


def _rated(rated: np.ndarray, seconds: np.ndarray | float, compute_s: np.ndarray, attainable: np.ndarray,
           flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(compute_s, attainable) with the ops of ``rated`` taking ``seconds`` (s), their
    attained rate flops / seconds (FLOP/s)."""
    return np.where(rated, seconds, compute_s), np.where(rated, flops / np.where(rated, seconds, 1.0), attainable)


def time_terms(sizes: OpSizes, traits: OpTraits, hw: HardwareSpec, level: str, resident_bytes: float) -> TimeTerms:
    """The time model on arrays: every op (rows) at every point (columns, when the sizes
    have them), with the traits of one spec. The one implementation predict_frame and the
    vectorised sweep share."""
    ndim = np.ndim(sizes.flops)
    peak, on_matrix, host, no_work, supported, in_place = (
        _per_op(a, ndim) for a in (traits.peak, traits.on_matrix, traits.host, traits.no_work, traits.supported,
                                    traits.in_place))
    eff = Efficiencies(*(_per_op(a, ndim) for a in (traits.efficiency.compute, traits.efficiency.memory,
                                                     traits.efficiency.weights)))
    flops, nbytes, itemsize = sizes.flops, sizes.bytes, _per_op(traits.itemsize, ndim)
    eff = _ramped(eff, traits, sizes, ndim)
    curve_has, curve_dispatch = _per_op(traits.curves.has, ndim), _per_op(traits.curves.dispatch_s, ndim)
    traffic = memory_traffic(nbytes, sizes.param_bytes, host, hw, level, resident_bytes)
    reread = (row_reread_arrays(*sizes.rows, _per_op(traits.op, ndim), itemsize, hw)
              if sizes.rows is not None else 0.0)
    kernel = kernel_efficiency_arrays(sizes.gemm, hw, compute=eff.compute, on_tensor_cores=on_matrix,
                                      does_work=supported & ~no_work & ~host, reread_s=reread,
                                      strided_elements=sizes.strided, gathered_elements=sizes.gathered)

    # The time model: the larger of compute and memory time (no less than the shortest
    # kernel), plus the fixed per-op overhead (dispatch and launch).
    attainable = kernel.compute * peak
    compute_s = flops / attainable
    # An element-wise kernel computing elements one by one is bound by their issue (efficiency.elementwise).
    compute_s, attainable = _rated(kernel.issue_s > compute_s, kernel.issue_s, compute_s, attainable, flops)
    # cuDNN's benchmark mode runs a convolution's fastest algorithm, each timed as the kernels
    # it launches (roofline.efficiency.conv); its attained rate counts the direct FLOPs.
    cudnn_s = conv_arrays(sizes.winograd, sizes.gemm, hw, peak_flops=peak, on_tensor_cores=on_matrix,
                          itemsize=itemsize)
    compute_s, attainable = _rated(np.isfinite(cudnn_s) & supported & ~no_work, cudnn_s, compute_s, attainable, flops)
    row_rate_op = _per_op(np.isin(traits.op, _ROW_RATE_OPS), ndim)  # matrix products a CPU calibration rates
    if sizes.gemm is not None and hw.measured is not None and hw.measured.gemm_cols:
        # A calibrated CPU's products of few output columns run at the rate measured for them.
        narrow = narrow_gemm_s(sizes.gemm[2], sizes.gemm[1], sizes.gemm[3], flops, itemsize, hw.measured)
        compute_s = np.where(row_rate_op, np.maximum(compute_s, narrow), compute_s)
    activation_bytes = nbytes - traffic.weight_bytes
    fresh_s = np.where(host | ~supported, 0.0, fresh_write_array(sizes.bytes_written, in_place, hw))
    memory_s = (activation_bytes / (eff.memory * traffic.bandwidth)
                + traffic.weight_bytes / (eff.weights * traffic.weight_bandwidth)
                + fresh_s
                + np.where(nbytes > 0, kernel.latency_s, 0.0)
                + kernel.reread_s)
    if sizes.gemm is not None:  # a calibrated CPU's few-row GEMMs stream their cold weights at the rate measured
        weights_cold = level == WORKING_SET and traffic.weight_bandwidth <= hw.dram.bandwidth
        matmul_weight = row_rate_op * traffic.weight_bytes
        memory_s = np.maximum(memory_s, few_row_gemm_s(sizes.gemm[1], sizes.gemm[3], flops, matmul_weight, itemsize,
                                                       hw.measured, weights_cold, hw.last_cache_bytes))
    if traits.conv is not None and hw.measured is not None and hw.measured.conv_rates:
        # A calibrated CPU's depthwise and grouped fp32 convolutions take the time measured for them,
        # their traffic included (roofline.efficiency.cpu_conv); the spec's per-op overhead is the dispatch in it.
        shape = conv_shape(_per_op(traits.conv, ndim) & supported & (itemsize == 4), flops, nbytes - sizes.bytes_written,
                           sizes.bytes_written, sizes.param_bytes, itemsize, sizes.gemm)
        conv_s = np.maximum(conv_rate_s(shape, hw.measured) - hw.overhead_s, 1e-12)
        rated = np.isfinite(conv_s)
        memory_s = np.where(rated, np.minimum(memory_s, conv_s), memory_s)
        compute_s, attainable = _rated(rated, conv_s, compute_s, attainable, flops)
    if sizes.attention is not None and hw.measured is not None and hw.measured.sdpa_times:
        # A calibrated CPU's fp32 flash attention runs by blocks of queries and keys (roofline.efficiency.cpu_sdpa);
        # never faster than its FLOPs at the peak; its K/V bytes keep the memory term.
        applies = _per_op((traits.op == SDPA_OP) & (traits.itemsize == 4), ndim) & supported
        sdpa = sdpa_s(sizes.attention, flops, applies, hw.measured) - hw.overhead_s
        compute_s, attainable = _rated(np.isfinite(sdpa), np.maximum(sdpa, flops / peak), compute_s, attainable, flops)
    if sizes.attention is not None and hw.kernel_model is not None:
        compute_s, attainable = _gpu_attention(sizes.attention, flops, compute_s, attainable, traits, hw, ndim)
    # A tensor-core GEMM's setup, pipeline fill and drain come on top of its math or its
    # stream, once per kernel (KernelModel.tensor_gemm_fixed_s).
    work_s = np.maximum(compute_s, memory_s) + kernel.fixed_s
    if sizes.loops is not None and traits.loops is not None and np.any(traits.loops.loop_s + traits.loops.element_s > 0):
        # A calibrated CPU runs short inner loops element by element (roofline.efficiency.cpu).
        work_s = np.where(supported & ~no_work & ~host, _looped_work_s(work_s, fresh_s, sizes.loops, traits, ndim), work_s)
    kernel_s = np.maximum(work_s, kernel.floor_s)
    overhead_s = np.where(no_work, no_work_overhead(hw), np.where(curve_has, curve_dispatch, hw.overhead_s))
    # The fixed per-op costs: dispatch and launch, and the kernel's fixed time (its floor
    # where that wins, else a tensor-core GEMM's setup and drain).
    fixed_s = overhead_s + np.where(kernel.floor_s > work_s, kernel.floor_s, kernel.fixed_s)
    return TimeTerms(attainable=attainable, bandwidth=traffic.bandwidth, compute_s=compute_s, memory_s=memory_s, kernel_s=kernel_s, overhead_s=overhead_s,
                     predicted_s=kernel_s + overhead_s, fixed_s=fixed_s,
                     issue_bound=(kernel.issue_s > 0) & (kernel.issue_s >= compute_s))
