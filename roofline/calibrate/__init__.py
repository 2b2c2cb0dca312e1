"""Measure this machine the way the Empirical Roofline Toolkit does, and write a spec.

    result = roofline.calibrate.calibrate()              # CPU, about a minute
    result = roofline.calibrate.calibrate(quick=True)    # a few seconds (tests)
    result = roofline.calibrate.calibrate(device="cuda") # the current GPU
    spec = result.to_spec(name="local-cpu")              # a HardwareSpec
    roofline.calibrate.write_calibrated_spec(result, "hw_specs/local-cpu.yaml")

The package is the last stage of the pipeline: it runs microbenchmarks (probes.py, timed
by bench.py on roofline.measure's timers), reads facts about the machine (machine.py),
fits a spec's figures to them (fit.py) and times the op suite against roofline's own
predictions (suite.py, through roofline.analysis). It may import any earlier stage
(errors, units, dtypes, _io, hardware, efficiency, predict, analysis, measure); nothing imports it
but the CLI. Its result is a Calibration, whose spec carries a typed
roofline.hardware.CalibrationRecord (``measured:`` in the YAML).

What is measured, all through PyTorch ops (what the predictions are for), on the threads
torch uses (torch.get_num_threads()):

* per-op overhead: tiny versions of common aten ops (one element) called through their
  OpOverloads, the path a measured run times; the median over the ops. And the same
  for ops that do no work (views, an allocation): ``measured.view_overhead_s``, which
  predictions on the spec charge each view (roofline.predict.no_work_overhead). And one
  nn.Module call's own Python (``measured.module_call_s``), charged between ops.
* bandwidth against working-set size: element-wise adds (2 reads + 1 write) over
  working sets from 16 KiB to 256 MiB (2 GiB on a GPU), repeated on the same buffers so
  each size sits in the level that holds it; bandwidth = bytes / (time - overhead).
  The same adds writing fresh outputs, as the ops of a forward do, give the page-fault
  cost of large outputs (``measured.fresh_write``; see fit_fresh_write). The cache capacities come from the operating
  system where it says (Linux sysfs: per-instance size times the instances the threads
  can use), else from the curve's plateaus (a drop of more than 30% starts a new
  level), each lowered to where the curve falls halfway (geometric mean) to the next
  level when it does so sooner (fit.effective_caches: a virtual machine's share of a
  shared cache). Each level's bandwidth is the median over the sizes well inside it (above twice
  the previous capacity, below half its own); DRAM's over sizes at least four times the
  last cache. L1 is not listed on CPU: an L1-sized op is overhead-bound in eager
  PyTorch, its bandwidth cannot be seen through torch ops.
* peak FLOP/s per dtype: the best of large GEMMs (matrix units on a GPU; on a CPU the
  vector units running a blocked GEMM) for fp32, bf16, fp64 and fp16, sizes growing
  until one call lasts 50 ms, so a slow dtype (fp16 without hardware support) stays cheap;
  and the best of vector kernels (mul, addcmul) on cache-resident data, per dtype.
* matrix efficiency: the median fraction of the GEMM peak that a fixed suite of
  medium GEMMs and convolutions reaches (compute-bound shapes typical of DL layers; fp32
  on a CPU, bf16 on a GPU), each call after the caches were flushed, as a layer of a
  forward meets its weights; so predictions of ordinary layers are not held to the best
  hot GEMM's rate.
* vector and memory efficiency: the same for everything else. A suite of common ops
  (relu, gelu, add, mul, exp, where, softmax, layer and batch norm, max-pool, amax, sum,
  cat, transpose, index_select) at a few activation sizes is counted and predicted by
  roofline itself on the measured ceilings, and timed; each op's fraction is its
  roofline work time over its measured time less the overheads. The median over the
  memory-bound ones is efficiency.memory, over the compute-bound ones efficiency.vector:
  the simple kernels the ceilings come from (add, mul) reach the roofline, most others
  do not.

On a GPU (``device="cuda"``, CUDA events): the caches are L2 (capacity from the device
properties) and DRAM; matrix peaks are TF32 / bf16 / fp16 GEMMs (fp64 too where fast),
the vector peaks SGEMM and DGEMM with TF32 off (the CUDA cores' ceiling); the host link
is a pinned host-to-device copy. Sizes that a kernel launch outlasts (an L2-sized add on
a large GPU) cannot show a bandwidth through eager ops; such a level gets the next outer
level's figure, as on CPU.

Every timing is the best (minimum) of several samples: a ceiling is what the machine can
do, and noise only ever slows a run down. Sampling goes on until the two fastest samples
agree (bench.best_time), and every probe runs once per round (ROUNDS, interleaved:
bench.interleaved_rounds), each figure its fastest round's, so another process taking a
core for a while lands on one round of every figure, not on every sample of one. How
much the rounds differed is kept per figure (``measured.stability``), and a fixed
reference workload is timed before and after (``measured.quiet``): a calibration whose
machine changed speed says so in the spec's notes. The spec's ``measured`` record keeps
the raw curve, the GEMM and vector rates, the overhead samples, the date, torch version,
thread count, mode and load, ``memory_level: working_set`` so predictions on it pick each
op's memory level by its bytes (roofline.predict.WORKING_SET), the op suite's points with
the aten ops each suite op stands for (``op_suite_ops``), and per suite op its time-vs-size
curve (``op_curves``: dispatch seconds, efficiency, fit spread; roofline.efficiency.cpu),
fitted on the suite's sizes from 4K to 1M elements (curves.py): predictions on the spec
charge each op of a family its family's dispatch and its work at the family's efficiency,
on the threads its size can use.

The package: bench.py (timing loops over measure's timers, interleaved rounds, the
reference workload), machine.py (what the OS says of this machine), probes.py (the
microbenchmarks), fit.py (plateaus, levels, efficiencies), suite.py (the op suite and the
aten ops each stands for), curves.py (each suite op's time-vs-size curve), loops.py (each suite op's short inner loops:
``loop_costs``), narrow.py (few-column GEMMs: ``gemm_cols``), convs.py (depthwise and grouped convolutions:
``conv_rates``), sdpa.py (CPU flash attention: ``sdpa_times``), kernels.py and issue.py (a GPU's
``kernel_model``: fitted on its own kernels, or on measurement files). May import: errors, units,
dtypes, _io, hardware, efficiency (the CPU curve), measure (timers), predict and analysis (to score
the op suite);
never report, tools or cli.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from roofline._io import progress as progress_bar
from roofline.calibrate.bench import (MIN_SAMPLE_S, REPEATS, ROUNDS, best_cold_time, best_time, cache_flusher,
                                      interleaved_rounds, reference_loop_s)
from roofline.calibrate.fit import (fallback_efficiencies, find_plateaus, fit_fresh_write,
                                    fit_levels, matrix_efficiency, suite_efficiency)
from roofline.calibrate.kernels import cuda_kernel_model, measure_cuda_kernels
from roofline.calibrate.loops import fit_loop_costs, measure_short_loops
from roofline.calibrate.machine import CacheLevel, cpu_caches, cpu_isa, device_facts, last_cache_bytes, load_average
from roofline.calibrate.narrow import measure_gemm_cols
from roofline.calibrate.convs import measure_conv_rates
from roofline.calibrate.sdpa import measure_sdpa_times
from roofline.calibrate.probes import (
    CALIBRATED_DTYPES,
    EFFICIENCY_SUITE,
    measure_bandwidth,
    measure_efficiency,
    measure_gemm,
    measure_gemm_rows,
    measure_host_link,
    measure_module_call,
    measure_overhead,
    measure_vector,
    measure_view_overhead,
    sweep_sizes,
)
from roofline.calibrate.curves import fit_curves
from roofline.calibrate.suite import OWN_RATE_FAMILIES, SUITE_ELEMENTS, SUITE_OPS, measure_op_suite, op_suite, suite_ops
from roofline.errors import HardwareSpecError, RooflineError
from roofline.hardware import (
    SPARSE_RATIO, CalibrationRecord, ColsRate, ConvRate, CurvePoint, SdpaTime, Efficiency, FigureSpread, FreshWrite, GemmRate,
    HardwareSpec, KernelModel, LayerFraction, LevelFit, MemoryLevel, LoopCost, OpCurve, OpSeconds, Plateau,
    QuietCheck, RowsRate, SuiteRow, VectorRate, load_hardware, write_hardware,
)
from roofline.measure import Timer, timer_for
from roofline.predict import WORKING_SET

__all__ = [
    "Calibration",
    "CacheLevel",
    "calibrate",
    "cpu_caches",
    "find_plateaus",
    "fit_fresh_write",
    "fit_levels",
    "write_calibrated_spec",
    # the steps, for callers that run one alone
    "best_time",
    "best_cold_time",
    "cache_flusher",
    "measure_overhead",
    "measure_view_overhead",
    "measure_bandwidth",
    "measure_gemm",
    "measure_vector",
    "measure_efficiency",
    "measure_host_link",
    "measure_op_suite",
    "op_suite",
    "suite_efficiency",
    "sweep_sizes",
    "SUITE_ELEMENTS",
    "SUITE_OPS",
]


# --------------------------------------------------------------------------- result


@dataclass
class Calibration:
    """What calibrate() measured (SI units: s, B/s, FLOP/s, bytes).

    curve: working_set_bytes, kernel, seconds, bandwidth (overhead taken out).
    levels: level, capacity, bandwidth, points (from fit_levels).
    gemm: dtype, shape, seconds, flops_per_s. vector: dtype, kernel, elements, seconds,
    flops_per_s. overhead: op, seconds. efficiency: the GEMM/conv suite (shape, seconds,
    fraction of the GEMM peak). suite: the non-GEMM op suite (measure_op_suite).
    matrix/vector/memory_efficiency: the spec's efficiencies, medians of the suites.
    """

    device: str
    device_name: str
    vendor: str
    threads: int
    mode: str
    clock: str  # "wall" or "thread" (see roofline.measure.ThreadTimer)
    started: str  # ISO 8601, UTC
    duration_s: float
    overhead_s: float
    overhead: pd.DataFrame
    curve: pd.DataFrame
    plateaus: list[tuple[float, float, float]]
    levels: pd.DataFrame
    gemm: pd.DataFrame
    matrix_flops: dict[str, float]
    vector: pd.DataFrame
    vector_flops: dict[str, float]
    efficiency: pd.DataFrame
    matrix_efficiency: float
    host_link_bw: float
    notes: list[str] = field(default_factory=list)
    suite: pd.DataFrame = field(default_factory=pd.DataFrame)
    views: pd.DataFrame = field(default_factory=pd.DataFrame)
    view_overhead_s: float = 0.0
    fresh_write: dict[str, float] | None = None  # fit_fresh_write
    vector_efficiency: float = 1.0
    memory_efficiency: float = 1.0
    load_average: float | None = None  # 1-minute load average when it started
    kernel_model: KernelModel | None = None  # a GPU's, fitted by calibrate.kernels
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)  # fit_curves: op, dispatch_s, efficiency, spread
    quiet: tuple[float, float] | None = None  # reference workload (s) before and after
    gemm_rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # measure_gemm_rows (CPU)
    loop_costs: pd.DataFrame = field(default_factory=pd.DataFrame)  # fit_loop_costs (CPU): op, element_s, loop_s
    gemm_cols: pd.DataFrame = field(default_factory=pd.DataFrame)  # measure_gemm_cols (CPU)
    conv_rates: pd.DataFrame = field(default_factory=pd.DataFrame)  # measure_conv_rates (CPU)
    sdpa_times: pd.DataFrame = field(default_factory=pd.DataFrame)  # measure_sdpa_times (CPU)
    module_call_s: float | None = None  # measure_module_call: Python of one nn.Module call
    rounds: int = 0  # interleaved rounds each figure is the fastest of (0: not said)

    def stability(self) -> dict[str, float]:
        """Per figure, how much its rounds differed (slowest over fastest, minus 1; the
        figure is the fastest's): the overhead, each peak, each level's bandwidth, the
        matrix efficiency and the op suite (medians over the rows behind each)."""
        out: dict[str, float] = {}
        if "spread" not in self.gemm:  # a Calibration put together by hand
            return out
        out["overhead"] = float(self.overhead["spread"].median())
        for label, frame in (("matrix", self.gemm), ("vector", self.vector)):
            for dtype, rows in frame.groupby("dtype", sort=False):
                out[f"peak {dtype} {label}"] = float(rows.loc[rows["flops_per_s"].idxmax(), "spread"])
        streaming = self.curve[self.curve["kernel"] == "add_out"]
        lower = 0.0
        for row in self.levels.itertuples():
            inside = streaming[(streaming["working_set_bytes"] > lower) & (streaming["working_set_bytes"] <= row.capacity)]
            if not inside.empty:
                out[f"{row.level} bandwidth"] = float(inside["spread"].median())
            lower = row.capacity
        out["matrix efficiency"] = float(self.efficiency["spread"].median())
        for label, frame in (("few-row GEMMs", self.gemm_rows), ("few-column GEMMs", self.gemm_cols)):
            if "spread" in frame:
                out[label] = float(frame["spread"].median())
        if "spread" in self.suite:
            out["op suite"] = float(self.suite["spread"].median())
        return {figure: _sig(spread, 2) for figure, spread in out.items()}

    def to_spec(self, name: str | None = None, display_name: str | None = None) -> HardwareSpec:
        """The measured figures as a HardwareSpec: measured ceilings (peaks, bandwidths,
        overhead) and the efficiencies the suites reached against them."""
        kind = "gpu" if self.device == "cuda" else "cpu"
        name = name or f"local-{kind}"
        levels = tuple(MemoryLevel(row.level, float(row.bandwidth), float(row.capacity)) for row in self.levels.itertuples())
        matrix, vector = self._peaks(kind)
        return HardwareSpec(
            name=name,
            display_name=display_name or f"{self.device_name} ({self.threads} threads, measured)",
            kind=kind,
            vendor=self.vendor,
            source=f"measured by `roofline calibrate` on {self.started[:10]} ({self.mode} mode, "
                   + (f"{self.rounds} rounds, " if self.rounds else "") + f"{self.threads} threads, torch {torch.__version__})",
            matrix_flops=matrix,
            vector_flops=vector,
            memory=levels,
            host_link_bw=self.host_link_bw,
            peer_link_bw=None,
            overhead_s=self.overhead_s,
            efficiency=Efficiency(matrix=self.matrix_efficiency, vector=self.vector_efficiency,
                                  memory=self.memory_efficiency),
            measured=self.record(),
            notes="; ".join(self.notes) or None,
            kernel_model=self.kernel_model,
        )

    def _peaks(self, kind: str) -> tuple[dict[str, float], dict[str, float]]:
        """The spec's matrix and vector peaks (FLOP/s per dtype key)."""
        if kind != "gpu":
            return dict(self.matrix_flops), dict(self.vector_flops)
        matrix = {k: v for k, v in self.matrix_flops.items() if k not in ("fp32", "fp64")}
        half = max((matrix[k] for k in ("fp16", "bf16") if k in matrix), default=0.0)
        if "tf32" in matrix and half > SPARSE_RATIO * matrix["tf32"]:
            # The loader refuses a half-precision peak over ~2x TF32's (the sign of a
            # sparse datasheet figure); a measured TF32 that low is left out instead.
            del matrix["tf32"]
        # The CUDA cores' ceiling is SGEMM's (DGEMM's) rate with TF32 off; element-wise
        # kernels on a GPU are launch- or memory-bound, never near it. Other dtypes
        # fall back to the fp32 vector peak (HardwareSpec.peak_flops).
        vector = {k: v for k, v in self.matrix_flops.items() if k in ("fp32", "fp64")}
        return matrix, vector

    def record(self) -> CalibrationRecord:
        """The spec's ``measured`` record: how and when, and the raw figures behind it
        (rounded to 4 significant digits, to keep the YAML readable)."""
        timing = "best of repeated batches (CUDA events on GPU; on CPU " + (
            "perf_counter wall time)" if self.clock == "wall" else "the thread's CPU time)")
        return CalibrationRecord(
            tool="roofline calibrate", date=self.started, mode=self.mode, device=self.device,
            device_name=self.device_name, threads=self.threads, torch=torch.__version__,
            python=platform.python_version(), isa=cpu_isa() if self.device == "cpu" else None,
            duration_s=round(self.duration_s, 2) if math.isfinite(self.duration_s) else None,
            load_average=None if self.load_average is None else round(self.load_average, 2),
            memory_level=WORKING_SET, timing=timing, clock=self.clock,
            overhead_s=tuple(OpSeconds(str(row.op), _sig(row.seconds)) for row in self.overhead.itertuples()),
            # Ops that do no work cost this each (roofline.predict.no_work_overhead).
            view_overhead_s=_sig(self.view_overhead_s),
            view_ops_s=tuple(OpSeconds(str(row.op), _sig(row.seconds)) for row in self.views.itertuples()),
            # Eager runs each module call's Python between ops (roofline.predict.between_ops_s).
            module_call_s=None if self.module_call_s is None else _sig(self.module_call_s),
            # Large fresh outputs pay page faults (roofline.predict.fresh_write_s).
            fresh_write=None if self.fresh_write is None else FreshWrite(
                _sig(self.fresh_write["min_bytes"]), _sig(self.fresh_write["bandwidth"])),
            bandwidth_curve=tuple(CurvePoint(int(row.working_set_bytes), str(row.kernel), _sig(row.bandwidth))
                                  for row in self.curve.itertuples()),
            plateaus=tuple(Plateau(_sig(a), _sig(b), _sig(bw)) for a, b, bw in self.plateaus),
            levels=tuple(LevelFit(str(row.level), _sig(row.capacity), _sig(row.bandwidth), int(row.points))
                         for row in self.levels.itertuples()),
            gemm_flops=tuple(GemmRate(str(row.dtype), str(row.shape), _sig(row.flops_per_s))
                             for row in self.gemm.itertuples()),
            gemm_rows=tuple(RowsRate(int(row.rows), int(row.depth), _sig(row.flops_per_s))
                            for row in self.gemm_rows.sort_values(["depth", "rows"]).itertuples())
            if not self.gemm_rows.empty else (),
            gemm_cols=tuple(ColsRate(int(r.cols), int(r.depth), _sig(r.flops_per_s)) for r in self.gemm_cols.itertuples()),
            conv_rates=tuple(ConvRate(str(r.kind), int(r.stride), int(r.reduction), int(r.out_elements), _sig(r.flops_per_s))
                             for r in self.conv_rates.itertuples()),
            sdpa_times=tuple(SdpaTime(int(r.heads), int(r.q_len), int(r.kv_len), int(r.head_dim), _sig(r.seconds))
                             for r in self.sdpa_times.itertuples()),
            vector_flops=tuple(VectorRate(str(row.dtype), str(row.kernel), int(row.elements), _sig(row.flops_per_s))
                               for row in self.vector.itertuples()),
            efficiency_suite=tuple(LayerFraction(str(row.shape), _sig(row.fraction))
                                   for row in self.efficiency.itertuples()),
            **self._suite_record(),
            op_curves=tuple(OpCurve(str(row.op), _sig(row.dispatch_s), _sig(row.efficiency), _sig(row.spread, 2))
                            for row in self.curves.itertuples()),
            loop_costs=tuple(LoopCost(str(r.op), _sig(r.element_s), _sig(r.loop_s)) for r in self.loop_costs.itertuples()),
            stability=tuple(FigureSpread(figure, spread) for figure, spread in self.stability().items()),
            quiet=None if self.quiet is None else QuietCheck(_sig(self.quiet[0]), _sig(self.quiet[1])),
        )

    def _suite_record(self) -> dict[str, tuple]:
        """The op suite's rows (a fraction the suite could not tell is None) and the aten
        ops each suite op stands for, resolved here so predictions need not know the suite."""
        if self.suite.empty:  # the ceilings spec, predicted before the suite has run
            return {"op_suite": (), "op_suite_ops": ()}
        rows = tuple(SuiteRow(str(row.op), int(row.elements), str(row.bound),
                              _sig(row.fraction) if math.isfinite(row.fraction) else None)
                     for row in self.suite.itertuples())
        return {"op_suite": rows, "op_suite_ops": suite_ops([*(r.op for r in rows), *self.loop_costs.get("op", ())])}


def _sig(value: float, digits: int = 4) -> float:
    """A float rounded to ``digits`` significant digits (keeps the YAML readable)."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


# --------------------------------------------------------------------------- calibrate()


def calibrate(device: str = "cpu", *, quick: bool = False, threads: int | None = None, clock: str = "wall",
              progress: bool = False, rounds: int | None = None) -> Calibration:
    """Measure overhead, bandwidth per level, GEMM and vector peaks on ``device``.

    quick: fewer sizes and repeats (seconds instead of about a minute on 2 CPU cores);
    good for tests, too coarse for a spec to publish figures with.
    threads: torch CPU threads to calibrate with (default: torch's current setting, the
    one models will run with); restored afterwards.
    clock: "wall" or "thread" (CPU time of the calling thread; with threads=1 on a busy
    machine, figures free of time spent descheduled: see roofline.measure.ThreadTimer).
    progress: show a rich progress bar.
    rounds: interleaved rounds of every probe, each figure its fastest round's (default
    bench.ROUNDS: 3, quick 1); more rounds take proportionally longer and sample more of
    a noisy machine's states (docs/calibration.md: how much steadier).
    """
    saved_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise RooflineError(f"calibrate: threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    if rounds is not None and rounds < 1:
        raise RooflineError(f"calibrate: rounds must be >= 1, got {rounds}")
    try:
        return _calibrate(device, quick, clock, progress, rounds)
    finally:
        torch.set_num_threads(saved_threads)


@dataclass(frozen=True)
class _Run:
    """How this calibration runs: device, mode ("full" or "quick"), timer and sampling."""

    device: str  # "cpu" or "cuda" (the device kind: any CUDA device is the current one)
    mode: str
    clock: str
    timer: Timer
    repeats: int
    min_sample_s: float
    rounds: int  # interleaved rounds of every probe (bench.interleaved_rounds)


def _plan(device: str, quick: bool, clock: str, rounds: int | None = None) -> _Run:
    """The run's settings; RooflineError for a device other than cpu or cuda."""
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda"):
        raise RooflineError(f"calibrate: device {device!r} is not supported (cpu or cuda)")
    timer = timer_for(kind, clock)  # raises if CUDA is asked for and absent
    mode = "quick" if quick else "full"
    return _Run(kind, mode, clock, timer, REPEATS[mode], MIN_SAMPLE_S[mode], rounds or ROUNDS[mode])


def _steps(run: _Run) -> int:
    """Progress-bar steps of a calibration."""
    n_gemm = 5  # on CUDA five dtypes' peaks; on a CPU four, and the few-row GEMMs
    return (2 + len(sweep_sizes(run.mode, run.device)) + n_gemm + 4 + len(EFFICIENCY_SUITE[run.mode]) + 1
            + 4 * (run.device == "cpu")) * run.rounds + run.rounds


def _calibrate(device: str, quick: bool, clock: str, progress: bool, rounds: int | None) -> Calibration:
    run = _plan(device, quick, clock, rounds)
    started_at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    t0 = time.perf_counter()
    load = load_average()
    before_s = reference_loop_s(run.timer) if run.device == "cpu" else None
    with progress_bar(progress, "calibrating", _steps(run)) as step, torch.no_grad():
        def advance(label: str | None) -> None:
            step(1, label)

        result = _measure_ceilings(run, started_at.isoformat(), advance)
        # The op suite is predicted on the measured ceilings alone (every efficiency 1).
        ceilings = dataclasses.replace(result.to_spec(), efficiency=Efficiency(1.0, 1.0, 1.0))
        suite = measure_op_suite(run.device, run.timer, run.mode, ceilings, run.repeats, run.min_sample_s,
                                 lambda: advance("op suite"), rounds=run.rounds)
        loops = (measure_short_loops(device, run.timer, run.repeats, run.min_sample_s, lambda: advance("short loops"),
                                     rounds=run.rounds) if run.device == "cpu" else pd.DataFrame())
        after_s = reference_loop_s(run.timer) if before_s is not None else None
        if run.device == "cuda":  # the efficiency stage's kernel model, as fit-kernels fits it
            timings = measure_cuda_kernels(device, run.timer, run.mode, run.repeats, run.min_sample_s)
            result.kernel_model = cuda_kernel_model(device, ceilings, timings)

    result.suite = suite
    result.curves = fit_curves(suite, torch.get_num_threads() if run.device == "cpu" else 1)
    if not loops.empty:
        result.loop_costs = fit_loop_costs(loops, result.curves, torch.get_num_threads())
    result.memory_efficiency, result.vector_efficiency = fallback_efficiencies(result.curves, suite, OWN_RATE_FAMILIES)
    result.load_average = load
    result.quiet = None if before_s is None else (before_s, after_s)
    _quiet_note(result)
    if load is not None and load > 0.5 * (os.cpu_count() or 1):
        result.notes.append(f"machine busy while calibrating (1-minute load average {load:.2f} on "
                            f"{os.cpu_count()} CPUs): figures may be low; rerun on a quiet machine")
    result.duration_s = time.perf_counter() - t0
    return result


#: The reference workload may differ by this much before and after (fastest of its
#: samples) on a machine that stayed quiet.
QUIET_TOLERANCE = 0.15


def _quiet_note(result: Calibration) -> None:
    """A note when the reference workload's before and after times differ by more than
    QUIET_TOLERANCE, or when a figure's rounds did (the machine's speed changed)."""
    if result.quiet is not None:
        before, after = result.quiet
        if abs(after / before - 1.0) > QUIET_TOLERANCE:
            result.notes.append(f"machine speed changed while calibrating: the reference workload took "
                                f"{before * 1e3:.3g} ms before and {after * 1e3:.3g} ms after; rerun on a quiet machine")
    unstable = [figure for figure, spread in result.stability().items() if spread > 2 * QUIET_TOLERANCE]
    if unstable:
        result.notes.append(f"rounds differed by more than {2 * QUIET_TOLERANCE:.0%} on {', '.join(unstable)} "
                            "(each figure is its fastest round)")


def _measure_ceilings(run: _Run, started: str, advance: Callable[[str | None], None]) -> Calibration:
    """Every measurement but the op suite, fitted into a Calibration (efficiencies of the
    vector and memory roofs still 1: the suite sets them). Each probe runs once per round
    (interleaved_rounds), each figure the fastest round's, with its spread."""
    device, timer, repeats, min_sample = run.device, run.timer, run.repeats, run.min_sample_s
    rounds = run.rounds
    advance("per-op overhead")
    first = interleaved_rounds(
        {"overhead": lambda: measure_overhead(device, timer, repeats, min_sample),
         "views": lambda: measure_view_overhead(device, timer, repeats, min_sample),
         "module": lambda: measure_module_call(timer, repeats, min_sample)},
        {"overhead": ["op"], "views": ["op"], "module": ["op"]}, rounds)
    overhead, views = first["overhead"], first["views"]
    overhead_s = float(overhead["seconds"].median())
    notes: list[str] = []
    # The suite runs in the dtype models mostly use on the device: fp32 on a CPU, bf16
    # on a GPU's tensor cores (whose efficiency.matrix it then sets).
    suite_dtype = "fp32" if run.device == "cpu" else "bf16"

    def gemm_probe() -> pd.DataFrame:
        frame, _peaks, gemm_notes = measure_gemm(device, timer, run.mode, repeats, min_sample,
                                                 lambda: advance("GEMM peaks"))
        notes.extend(note for note in gemm_notes if note not in notes)
        return frame

    second = interleaved_rounds(
        {"curve": lambda: measure_bandwidth(device, timer, sweep_sizes(run.mode, run.device), overhead_s, repeats,
                                            min_sample, lambda: advance(None)),
         "gemm": gemm_probe,
         "vector": lambda: measure_vector(device, timer, run.mode, overhead_s, repeats, min_sample,
                                          lambda: advance("vector peaks"))[0],
         **({"rows": lambda: measure_gemm_rows(device, timer, run.mode, repeats, lambda: advance("few-row GEMMs"),
                                               last_cache_bytes=last_cache_bytes("cpu")),
             "cols": lambda: measure_gemm_cols(device, timer, run.mode, repeats, min_sample,
                                               lambda: advance("few-column GEMMs")),
             "convs": lambda: measure_conv_rates(device, timer, run.mode, lambda: advance("convolutions")),
             "sdpa": lambda: measure_sdpa_times(device, timer, run.mode, lambda: advance("attention"),
                                                last_cache_bytes=last_cache_bytes("cpu"))}
            if run.device == "cpu" else {}),
         "efficiency": lambda: measure_efficiency(device, timer, run.mode, 1.0, overhead_s, repeats, min_sample,
                                                  lambda: advance("efficiency suite"),
                                                  dtype=CALIBRATED_DTYPES.get(suite_dtype, torch.bfloat16),
                                                  last_cache_bytes=last_cache_bytes(run.device))},
        {"curve": ["working_set_bytes", "kernel"], "gemm": ["dtype", "shape"], "vector": ["dtype", "kernel", "elements"],
         "rows": ["rows", "depth"], "cols": ["cols", "depth"], "efficiency": ["shape"],
         "convs": ["kind", "stride", "reduction", "out_elements"], "sdpa": ["heads", "q_len", "kv_len", "head_dim"]},
        rounds)
    curve, gemm, vector, efficiency = second["curve"], second["gemm"], second["vector"], second["efficiency"]
    matrix_flops = {key: float(rows["flops_per_s"].max()) for key, rows in gemm.groupby("dtype", sort=False)}
    vector_flops = {key: float(rows["flops_per_s"].max()) for key, rows in vector.groupby("dtype", sort=False)}
    if suite_dtype not in matrix_flops:
        suite_dtype = max(matrix_flops, key=matrix_flops.get)
    # measure_efficiency ran against a peak of 1 FLOP/s: its fractions are rates until here.
    efficiency = efficiency.assign(fraction=efficiency["fraction"] / matrix_flops[suite_dtype])
    host = measure_host_link(device, timer, run.mode, repeats, min_sample)
    advance("host link")

    resolved = curve[curve["resolved"] & (curve["kernel"] == "add_out")]
    if resolved.empty:
        raise RooflineError("calibrate: every bandwidth point was within the per-op overhead; nothing to fit")
    by_size = resolved.groupby("working_set_bytes", as_index=False)["bandwidth"].max()
    plateaus = find_plateaus(by_size["working_set_bytes"], by_size["bandwidth"])
    caches, dram_capacity, name, vendor = device_facts(run.device, plateaus, notes)
    levels = fit_levels(by_size, caches, dram_capacity)
    notes.extend(f"{name}: {row.capacity / 1e6:.3g} MB effective (the OS says {capacity / 1e6:.3g} MB): the bandwidth "
                 "curve falls halfway to the next level there" for (name, capacity), row
                 in zip(caches, levels.itertuples()) if row.capacity < capacity)
    if run.device == "cpu":
        host = float(levels["bandwidth"].iloc[-1])  # the CPU is the host: copies run at DRAM speed
    return Calibration(
        device=device, device_name=name, vendor=vendor, threads=torch.get_num_threads(), mode=run.mode, rounds=run.rounds,
        clock=run.clock, started=started, duration_s=math.nan, overhead_s=overhead_s,
        overhead=overhead, curve=curve, plateaus=plateaus, levels=levels, gemm=gemm,
        matrix_flops=matrix_flops, vector=vector, vector_flops=vector_flops, efficiency=efficiency,
        matrix_efficiency=matrix_efficiency(efficiency), host_link_bw=host, notes=notes, views=views,
        view_overhead_s=float(views["seconds"].median()), fresh_write=fit_fresh_write(curve),
        gemm_rows=second.get("rows", pd.DataFrame()), gemm_cols=second.get("cols", pd.DataFrame()),
        conv_rates=second.get("convs", pd.DataFrame()), sdpa_times=second.get("sdpa", pd.DataFrame()),
        module_call_s=float(first["module"]["seconds"].iloc[0]))


def write_calibrated_spec(result: Calibration, path: str | os.PathLike, *, name: str | None = None) -> HardwareSpec:
    """Write the calibration as a spec YAML (validated first; atomic) and return the spec
    as loaded back from the file. The name defaults to the file's stem."""
    path = Path(path)
    spec = result.to_spec(name=name or path.stem)
    try:
        write_hardware(spec, path)
    except HardwareSpecError as exc:
        raise RooflineError(
            f"calibrate: the measured figures do not make a plausible spec ({exc}); was the machine "
            "busy? rerun on a quiet machine"
        ) from exc
    return load_hardware(path)
