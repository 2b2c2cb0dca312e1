"""Measure this machine the way the Empirical Roofline Toolkit does, and write a spec.

    result = roofline.calibrate.calibrate()              # CPU, about a minute
    result = roofline.calibrate.calibrate(quick=True)    # a few seconds (tests)
    result = roofline.calibrate.calibrate(device="cuda") # the current GPU
    spec = result.to_spec(name="local-cpu")              # a HardwareSpec
    roofline.calibrate.write_calibrated_spec(result, "hw_specs/local-cpu.yaml")

What is measured, all through PyTorch ops (what the predictions are for), on the threads
torch uses (torch.get_num_threads()):

* per-op overhead: tiny versions of common aten ops (one element) called through their
  OpOverloads, the path a measured run times; the median over the ops. And the same
  for ops that do no work (views, an allocation): ``measured.view_overhead_s``, which
  predictions on the spec charge each view (roofline.predict.no_work_overhead).
* bandwidth against working-set size: element-wise adds (2 reads + 1 write) over
  working sets from 16 KiB to 256 MiB (2 GiB on a GPU), repeated on the same buffers so
  each size sits in the level that holds it; bandwidth = bytes / (time - overhead).
  The same adds writing fresh outputs, as the ops of a forward do, give the page-fault
  cost of large outputs (``measured.fresh_write``; see fit_fresh_write). The cache capacities come from the operating
  system where it says (Linux sysfs: per-instance size times the instances the threads
  can use), else from the curve's plateaus (a drop of more than 30% starts a new
  level). Each level's bandwidth is the median over the sizes well inside it (above twice
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

Every timing is the best (minimum) of several repeats: a ceiling is what the machine can
do, and noise only ever slows a run down. The spec's ``measured`` record keeps the raw
curve, the GEMM and vector rates, the overhead samples, the date, torch version, thread
count and mode, and ``memory_level: working_set`` so predictions on it pick each op's
memory level by its bytes (roofline.predict.WORKING_SET).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from roofline._io import progress as progress_bar
from roofline.dtypes import USER_DTYPES
from roofline.errors import RooflineError
from roofline.hardware import SPARSE_RATIO, Efficiency, HardwareSpec, MemoryLevel, write_hardware
from roofline.measure import Timer, timer_for
from roofline.predict import WORKING_SET

__all__ = [
    "Calibration",
    "CacheLevel",
    "calibrate",
    "cpu_caches",
    "find_plateaus",
    "fit_levels",
    "write_calibrated_spec",
]

KiB, MiB = 2**10, 2**20

#: (first, last) working-set exponents of two (bytes) and points per octave, per device
#: and mode: past four times the last cache (32 MiB L3 here; up to 50 MB+ of L2 on a GPU).
SWEEP = {"cpu": {"full": (14, 28, 2), "quick": (14, 28, 1)},
         "cuda": {"full": (16, 31, 2), "quick": (16, 30, 1)}}
#: GEMM sizes (square, n x n x n) tried per dtype after the probe, per mode.
GEMM_SIZES = {"cpu": {"full": (512, 1024, 2048), "quick": (256, 512)},
              "cuda": {"full": (2048, 4096, 8192), "quick": (1024, 2048)}}
GEMM_PROBE = {"cpu": 256, "cuda": 1024}
#: A GEMM call this long (s) is far past its fixed costs: larger sizes are not tried.
LONG_CALL_S = 0.05
#: Vector kernel sizes (elements), chosen to sit in the caches.
VECTOR_ELEMENTS = {"cpu": {"full": (2**16, 2**18, 2**20), "quick": (2**16, 2**18)},
                   "cuda": {"full": (2**22, 2**24, 2**26), "quick": (2**22, 2**24)}}
#: Medium layers whose median fraction of the GEMM peak becomes efficiency.matrix:
#: ("mm", m, n, k) or ("conv", batch, in_ch, out_ch, size, kernel).
EFFICIENCY_SUITE = {
    "full": (("mm", 256, 256, 256), ("mm", 128, 768, 768), ("mm", 128, 3072, 768), ("mm", 512, 1024, 1024),
             ("mm", 64, 4096, 1024), ("conv", 1, 64, 64, 56, 3), ("conv", 1, 256, 256, 14, 3),
             ("conv", 1, 256, 64, 56, 1)),
    "quick": (("mm", 128, 768, 768), ("conv", 1, 64, 64, 28, 3)),
}
REPEATS = {"full": 9, "quick": 5}
#: Each timed sample lasts at least this long (s): well above the timer's resolution and
#: GPU launch gaps, yet short, so that on a busy machine some samples escape disturbance.
MIN_SAMPLE_S = {"full": 5e-4, "quick": 2e-4}
#: Seconds of timed samples one point may use before it stops sampling (after two).
POINT_BUDGET_S = 0.4
#: Dependent ops per timed call of the bandwidth chain.
CHAIN = 4
#: Only sizes whose time is at least this many overheads tell a bandwidth apart from it.
MIN_OVER_OVERHEAD = 3.0

_DTYPES = {key: USER_DTYPES[key] for key in ("fp32", "bf16", "fp64", "fp16")}


# --------------------------------------------------------------------------- timing


def best_time(fn: Callable[[], Any], timer: Timer, repeats: int, min_sample_s: float, max_inner: int = 10_000,
              budget_s: float = POINT_BUDGET_S) -> float:
    """Best (minimum) seconds per call of ``fn`` over up to ``repeats`` samples, each a
    batch of calls lasting at least ``min_sample_s`` (after one warm-up call). Sampling
    stops early, after at least two samples, once ``budget_s`` has been spent."""
    fn()
    single = math.inf
    for _ in range(3):  # the fastest of three, so one disturbed call does not set the batch
        with timer.span() as probe:
            fn()
        single = min(single, probe[0])
    inner = int(min(max_inner, max(1, math.ceil(min_sample_s / max(single, 1e-9)))))
    best, spent = math.inf, 0.0
    for i in range(repeats):
        with timer.span() as elapsed:
            for _ in range(inner):
                fn()
        best = min(best, elapsed[0] / inner)
        spent += elapsed[0]
        if i >= 1 and spent > budget_s:
            break
    return best


# --------------------------------------------------------------------------- caches


@dataclass(frozen=True)
class CacheLevel:
    """One data/unified cache level as the OS describes it."""

    level: int
    size_bytes: int  # one instance
    instances: int  # instances the threads can use
    capacity: int  # size_bytes x instances: what the threads together can hold


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    for suffix, factor in (("K", KiB), ("M", MiB), ("G", 2**30)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * factor)
    return int(text)


def cpu_caches(threads: int | None = None, root: str | Path = "/sys/devices/system/cpu",
               cpus: list[int] | None = None) -> list[CacheLevel]:
    """Data and unified cache levels from Linux sysfs, for ``threads`` threads (default:
    torch's) on ``cpus`` (default: the CPUs this process may use); [] where sysfs says
    nothing (other systems). A level's capacity is one instance's size times the number
    of distinct instances among those CPUs, at most one per thread."""
    root = Path(root)
    if cpus is None:
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = list(range(os.cpu_count() or 1))
    threads = threads or torch.get_num_threads()
    found: dict[int, dict[str, int]] = {}  # level -> shared_cpu_list -> size
    for cpu in cpus:
        for index in sorted((root / f"cpu{cpu}" / "cache").glob("index*")):
            try:
                kind = (index / "type").read_text().strip()
                level = int((index / "level").read_text())
                size = _parse_size((index / "size").read_text())
                shared = (index / "shared_cpu_list").read_text().strip()
            except (OSError, ValueError):
                continue
            if kind in ("Data", "Unified"):
                found.setdefault(level, {})[shared] = size
    levels = []
    for level in sorted(found):
        sizes = found[level]
        size = max(sizes.values())
        instances = min(len(sizes), max(threads, 1))
        levels.append(CacheLevel(level, size, instances, size * instances))
    return levels


def find_plateaus(sizes: Any, bandwidths: Any, drop: float = 0.7) -> list[tuple[float, float, float]]:
    """Plateaus of a bandwidth-vs-working-set curve: [(first_size, last_size, bandwidth)].

    Walking up the sizes, a point below ``drop`` times the current plateau's median
    bandwidth, followed by another such point (one outlier is not a level), starts a new
    plateau. Bandwidth is the plateau's median.
    """
    sizes = list(map(float, sizes))
    bws = list(map(float, bandwidths))
    if not sizes:
        return []
    groups: list[list[int]] = [[0]]
    i = 1
    while i < len(sizes):
        ref = statistics.median(bws[j] for j in groups[-1])
        low = bws[i] < drop * ref
        confirmed = low and (i + 1 >= len(sizes) or bws[i + 1] < drop * ref)
        if confirmed:
            groups.append([i])
        else:
            groups[-1].append(i)
        i += 1
    return [(sizes[g[0]], sizes[g[-1]], statistics.median(bws[j] for j in g)) for g in groups]


def fit_levels(curve: pd.DataFrame, caches: list[tuple[str, float]], dram_capacity: float) -> pd.DataFrame:
    """Bandwidth per memory level from a curve (working_set_bytes, bandwidth).

    caches: [(name, capacity bytes)] smallest first. A cache's bandwidth is the median of
    the points above twice the previous capacity and at most half its own (the point
    nearest half its capacity if none); DRAM's the median of the points at least four
    times the last cache (the largest point if none). Each point is already a best-of-N
    time (noise only slows a run down); the median across sizes keeps what is systematic
    about a level, such as the page faults of fresh outputs. Bandwidth is then made
    non-increasing toward DRAM by raising
    an inner level that came out below the next outer one to that level's figure (long
    runs over big working sets are the least disturbed). Returns rows level, capacity,
    bandwidth, points.
    """
    rows = []
    previous = 0.0
    xs = curve["working_set_bytes"].to_numpy(dtype=float)
    ys = curve["bandwidth"].to_numpy(dtype=float)
    for name, capacity in caches:
        inside = (xs > 2 * previous) & (xs <= capacity / 2)
        if not inside.any():
            inside = np.abs(np.log(xs) - math.log(max(capacity / 2, 1))) == np.min(np.abs(np.log(xs) - math.log(max(capacity / 2, 1))))
        rows.append({"level": name, "capacity": float(capacity), "bandwidth": float(np.median(ys[inside])),
                     "points": int(inside.sum())})
        previous = capacity
    beyond = xs >= 4 * previous
    if not beyond.any():
        beyond = xs == xs.max()
    rows.append({"level": "dram", "capacity": float(dram_capacity), "bandwidth": float(np.median(ys[beyond])),
                 "points": int(beyond.sum())})
    for i in range(len(rows) - 2, -1, -1):  # from DRAM inward: long, robust runs set the floor
        rows[i]["bandwidth"] = max(rows[i]["bandwidth"], rows[i + 1]["bandwidth"])
    return pd.DataFrame(rows)


def fit_fresh_write(curve: pd.DataFrame, drop: float = 0.7) -> dict[str, float] | None:
    """The page-fault cost of large fresh outputs, from the two add kernels of the sweep.

    From the smallest size at which the fresh-output add ("add") runs below ``drop``
    times the reused-buffer add's ("add_out") bandwidth at every size from there up (at
    least two), the output bytes W (a third of the add's traffic) and the extra time
    t_fresh - t_reuse give bandwidth = median of W / (t_fresh - t_reuse), and min_bytes =
    the smallest such W. None when fresh outputs never cost extra (a GPU's caching
    allocator, or a CPU allocator that recycles pages).
    """
    fresh = curve[(curve["kernel"] == "add") & curve["resolved"]].set_index("working_set_bytes")
    reuse = curve[(curve["kernel"] == "add_out") & curve["resolved"]].set_index("working_set_bytes")
    joined = fresh[["bytes", "seconds", "bandwidth"]].join(
        reuse[["seconds", "bandwidth"]].add_suffix("_reuse"), how="inner").sort_index()
    if len(joined) < 2:
        return None
    slow = (joined["bandwidth"] < drop * joined["bandwidth_reuse"]).to_numpy()
    start = len(slow)
    while start > 0 and slow[start - 1]:
        start -= 1
    tail = joined.iloc[start:]
    if len(tail) < 2:
        return None
    written = tail["bytes"] / 3.0
    extra = (tail["seconds"] - tail["seconds_reuse"]).clip(lower=1e-12)
    return {"min_bytes": float(written.iloc[0]), "bandwidth": float(np.median(written / extra))}


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

    def to_spec(self, name: str | None = None, display_name: str | None = None) -> HardwareSpec:
        """The measured figures as a HardwareSpec: measured ceilings (peaks, bandwidths,
        overhead) and the efficiencies the suites reached against them."""
        kind = "gpu" if self.device == "cuda" else "cpu"
        name = name or f"local-{kind}"
        levels = tuple(MemoryLevel(row.level, float(row.bandwidth), float(row.capacity)) for row in self.levels.itertuples())
        if kind == "gpu":
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
        else:
            matrix, vector = dict(self.matrix_flops), dict(self.vector_flops)
        return HardwareSpec(
            name=name,
            display_name=display_name or f"{self.device_name} ({self.threads} threads, measured)",
            kind=kind,
            vendor=self.vendor,
            source=f"measured by `roofline calibrate` on {self.started[:10]} ({self.mode} mode, "
                   f"{self.threads} threads, torch {torch.__version__})",
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
        )

    def record(self) -> dict[str, Any]:
        """The spec's ``measured`` mapping: how and when, and the raw figures behind it."""
        return {
            "tool": "roofline calibrate",
            "date": self.started,
            "mode": self.mode,
            "device": self.device,
            "device_name": self.device_name,
            "threads": self.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "duration_s": round(self.duration_s, 2),
            "memory_level": WORKING_SET,
            "timing": "best of repeated batches (CUDA events on GPU; on CPU "
                      + ("perf_counter wall time)" if self.clock == "wall" else "the thread's CPU time)"),
            "clock": self.clock,
            "overhead_s": {row.op: _sig(row.seconds) for row in self.overhead.itertuples()},
            # Ops that do no work cost this each (roofline.predict.no_work_overhead).
            "view_overhead_s": _sig(self.view_overhead_s),
            "view_ops_s": {row.op: _sig(row.seconds) for row in self.views.itertuples()},
            # Large fresh outputs pay page faults (roofline.predict.fresh_write_s).
            "fresh_write": None if self.fresh_write is None else {k: _sig(v) for k, v in self.fresh_write.items()},
            "bandwidth_curve": [
                [int(row.working_set_bytes), row.kernel, _sig(row.bandwidth)] for row in self.curve.itertuples()
            ],
            "plateaus": [[_sig(a), _sig(b), _sig(bw)] for a, b, bw in self.plateaus],
            "levels": [
                {"level": row.level, "capacity": _sig(row.capacity), "bandwidth": _sig(row.bandwidth), "points": int(row.points)}
                for row in self.levels.itertuples()
            ],
            "gemm_flops": [[row.dtype, row.shape, _sig(row.flops_per_s)] for row in self.gemm.itertuples()],
            "vector_flops": [[row.dtype, row.kernel, int(row.elements), _sig(row.flops_per_s)] for row in self.vector.itertuples()],
            "efficiency_suite": [[row.shape, _sig(row.fraction)] for row in self.efficiency.itertuples()],
            "op_suite": [[row.op, int(row.elements), row.bound, _sig(row.fraction)] for row in self.suite.itertuples()],
        }


def _sig(value: float, digits: int = 4) -> float:
    """A float rounded to ``digits`` significant digits (keeps the YAML readable)."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


# --------------------------------------------------------------------------- steps


def measure_overhead(device: str, timer: Timer, repeats: int, min_sample_s: float) -> pd.DataFrame:
    """Seconds per call of tiny (one-element) versions of common aten ops, called through
    their OpOverloads (the path a measured run times): element-wise, reductions, softmax,
    normalisation, concatenation, gathers, a matmul. Their median is the per-op overhead."""
    x = torch.ones(1, device=device)
    y = torch.ones(1, device=device)
    x2 = torch.ones(1, 1, device=device)
    mask = torch.ones(1, dtype=torch.bool, device=device)
    index = torch.zeros(1, dtype=torch.long, device=device)
    aten = torch.ops.aten
    calls = {
        "aten.add": lambda: aten.add.Tensor(x, y),
        "aten.mul": lambda: aten.mul.Tensor(x, y),
        "aten.relu": lambda: aten.relu.default(x),
        "aten.sum": lambda: aten.sum.default(x),
        "aten.clone": lambda: aten.clone.default(x),
        "aten.cat": lambda: aten.cat.default([x, y]),
        "aten.amax": lambda: aten.amax.default(x2, [1]),
        "aten._softmax": lambda: aten._softmax.default(x2, 1, False),
        "aten.where": lambda: aten.where.self(mask, x, y),
        "aten.index_select": lambda: aten.index_select.default(x, 0, index),
        "aten.mm": lambda: aten.mm.default(x2, x2),
        "aten.native_layer_norm": lambda: aten.native_layer_norm.default(x2, [1], None, None, 1e-5),
    }
    rows = [{"op": op, "seconds": best_time(fn, timer, repeats, min_sample_s)} for op, fn in calls.items()]
    return pd.DataFrame(rows)


def measure_view_overhead(device: str, timer: Timer, repeats: int, min_sample_s: float) -> pd.DataFrame:
    """Seconds per call of ops that do no work: views and an allocation, through their
    OpOverloads. On a GPU no kernel runs, so CUDA events see (almost) nothing."""
    x = torch.ones(2, device=device)
    x2 = torch.ones(2, 2, device=device)
    aten = torch.ops.aten
    calls = {
        "aten.view": lambda: aten.view.default(x2, [4]),
        "aten.select": lambda: aten.select.int(x2, 0, 0),
        "aten.slice": lambda: aten.slice.Tensor(x, 0, 0, 1),
        "aten.t": lambda: aten.t.default(x2),
        "aten.expand": lambda: aten.expand.default(x, [2, 2]),
        "aten.unsqueeze": lambda: aten.unsqueeze.default(x, 0),
        "aten.permute": lambda: aten.permute.default(x2, [1, 0]),
        "aten.empty": lambda: aten.empty.memory_format([2], device=x.device),
    }
    rows = [{"op": op, "seconds": best_time(fn, timer, repeats, min_sample_s)} for op, fn in calls.items()]
    return pd.DataFrame(rows)


def sweep_sizes(mode: str, kind: str = "cpu") -> list[int]:
    """Working-set sizes (bytes) of the bandwidth sweep."""
    first, last, per_octave = SWEEP[kind][mode]
    sizes = sorted({int(round(2 ** (e / per_octave))) for e in range(first * per_octave, last * per_octave + 1)})
    return sizes


def measure_bandwidth(device: str, timer: Timer, sizes: list[int], overhead_s: float, repeats: int,
                      min_sample_s: float, advance: Callable[[], None]) -> pd.DataFrame:
    """Bandwidth (compulsory bytes / (time - overhead)) per working set, of two kernels:

    * "add_out": ``torch.add(a, b, out=c)`` into a reused buffer: the streaming
      bandwidth. The levels are fitted to it.
    * "add": a chain of CHAIN dependent adds ``x = x + b``, each writing a fresh output,
      as ops in a forward do: on CPU, glibc maps blocks past its mmap threshold (32 MiB at
      most) fresh, and the kernel faults in and zeroes every page on first write, a cost
      a reused buffer never pays. fit_fresh_write reads that cost off the two curves.

    Rows: working_set_bytes (the size asked for), kernel, bytes (moved per op: reads +
    writes), seconds (best per op), bandwidth (B/s), resolved (time at least
    MIN_OVER_OVERHEAD overheads, so the bandwidth is not mostly the overhead's noise)."""
    rows = []
    for size in sizes:
        n = max(size // 12, 1)  # fp32 add: two reads and a write of 4 bytes each
        a = torch.rand(n, device=device)
        b = torch.rand(n, device=device)

        def chain() -> None:
            x = a
            for _ in range(CHAIN):
                x = torch.add(x, b)

        seconds = best_time(chain, timer, repeats, min_sample_s) / CHAIN
        rows.append(("add", size, 12 * n, seconds))
        c = torch.empty(n, device=device)
        seconds = best_time(lambda: torch.add(a, b, out=c), timer, repeats, min_sample_s)
        rows.append(("add_out", size, 12 * n, seconds))
        del a, b, c
        advance()
    frame = pd.DataFrame(rows, columns=["kernel", "working_set_bytes", "bytes", "seconds"])
    useful = frame["seconds"] - overhead_s
    frame["bandwidth"] = frame["bytes"] / useful.clip(lower=1e-12)
    frame["resolved"] = frame["seconds"] >= MIN_OVER_OVERHEAD * overhead_s
    return frame[["working_set_bytes", "kernel", "bytes", "seconds", "bandwidth", "resolved"]]


def _gemm_rate(n: int, dtype: torch.dtype, device: str, timer: Timer, repeats: int, min_sample_s: float) -> tuple[float, float]:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    seconds = best_time(lambda: torch.mm(a, b), timer, repeats, min_sample_s, max_inner=100)
    return seconds, 2.0 * n**3 / seconds


def measure_gemm(device: str, timer: Timer, mode: str, repeats: int, min_sample_s: float,
                 advance: Callable[[], None]) -> tuple[pd.DataFrame, dict[str, float], list[str]]:
    """Best GEMM FLOP/s per dtype: (rows, peaks, notes).

    Sizes grow from the probe through GEMM_SIZES; a dtype stops growing once one call
    lasts LONG_CALL_S (it is then well past its overheads), so a slow dtype (fp16 on a
    CPU without hardware support) costs a second, not minutes."""
    kind = "cuda" if device == "cuda" else "cpu"
    rows, peaks, notes = [], {}, []
    dtypes = dict(_DTYPES)
    if kind == "cuda":
        dtypes = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
                  "fp64": torch.float64}
    for key, dtype in dtypes.items():
        with _tf32(kind == "cuda" and key == "tf32"):
            for n in (GEMM_PROBE[kind], *GEMM_SIZES[kind][mode]):
                try:
                    seconds, rate = _gemm_rate(n, dtype, device, timer, repeats, min_sample_s)
                except RuntimeError as exc:  # a dtype this backend cannot multiply
                    notes.append(f"{key} GEMM not measured: {str(exc).splitlines()[0]}")
                    break
                rows.append({"dtype": key, "shape": f"{n}^3", "seconds": seconds, "flops_per_s": rate})
                if seconds > LONG_CALL_S:
                    break
        measured = [r["flops_per_s"] for r in rows if r["dtype"] == key]
        if measured:
            peaks[key] = max(measured)
        advance()
    return pd.DataFrame(rows, columns=["dtype", "shape", "seconds", "flops_per_s"]), peaks, notes


class _tf32:
    """Allow TF32 matmuls inside the block (CUDA), restoring the setting after."""

    def __init__(self, on: bool):
        self.on = on

    def __enter__(self) -> None:
        if self.on:
            self.saved = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = True

    def __exit__(self, *exc: Any) -> None:
        if self.on:
            torch.backends.cuda.matmul.allow_tf32 = self.saved


def measure_vector(device: str, timer: Timer, mode: str, overhead_s: float, repeats: int, min_sample_s: float,
                   advance: Callable[[], None]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Best vector-kernel FLOP/s per dtype on cache-resident data: mul (1 FLOP per element),
    addcmul (2) and sum (1), overhead taken out where the time clearly exceeds it."""
    rows = []
    dtypes = ("fp32", "fp64", "bf16", "fp16")
    for key in dtypes:
        dtype = _DTYPES[key]
        for n in VECTOR_ELEMENTS["cuda" if device == "cuda" else "cpu"][mode]:
            a = torch.rand(n, device=device).to(dtype)
            b = torch.rand(n, device=device).to(dtype)
            c = torch.rand(n, device=device).to(dtype)
            out = torch.empty_like(a)
            total = torch.empty((), device=device, dtype=dtype)
            kernels = {
                "mul": (1, lambda: torch.mul(a, b, out=out)),
                "addcmul": (2, lambda: torch.addcmul(a, b, c, out=out)),
                "sum": (1, lambda: torch.sum(a, dim=0, out=total)),
            }
            for kernel, (per_element, fn) in kernels.items():
                seconds = best_time(fn, timer, repeats, min_sample_s)
                resolved = seconds >= MIN_OVER_OVERHEAD * overhead_s
                # Take the overhead out only where the time clearly exceeds it; otherwise
                # the plain rate, a lower bound, rather than a noisy difference.
                rate = per_element * n / (seconds - overhead_s if resolved else seconds)
                rows.append({"dtype": key, "kernel": kernel, "elements": n, "seconds": seconds,
                             "flops_per_s": rate, "resolved": resolved})
        advance()
    frame = pd.DataFrame(rows)
    peaks = {key: float(frame.loc[frame["dtype"] == key, "flops_per_s"].max()) for key in dtypes}
    return frame, peaks


def cache_flusher(device: str, last_cache_bytes: float) -> Callable[[], None]:
    """A function that evicts the caches: it writes a buffer twice the last cache's size."""
    buffer = torch.empty(int(max(2 * last_cache_bytes, 8 * MiB) // 4), device=device)
    return lambda: buffer.fill_(1.0)


def best_cold_time(fn: Callable[[], Any], timer: Timer, repeats: int, flush: Callable[[], None]) -> float:
    """Best seconds of single calls of ``fn``, each after ``flush`` evicted the caches (the
    flush itself is not timed): how a layer runs in a forward, its weights cold."""
    fn()
    best = math.inf
    for _ in range(max(repeats, 3)):
        flush()
        timer.sync()
        with timer.span() as elapsed:
            fn()
        best = min(best, elapsed[0])
    return best


def measure_efficiency(device: str, timer: Timer, mode: str, peak: float, overhead_s: float, repeats: int,
                       min_sample_s: float, advance: Callable[[], None], dtype: torch.dtype = torch.float32,
                       last_cache_bytes: float = 32 * MiB) -> pd.DataFrame:
    """Fraction of ``peak`` (the GEMM peak of ``dtype``) that each layer of the suite reaches
    with cold caches, as a layer of a forward meets its weights (best of single calls,
    each after the caches were flushed)."""
    flush = cache_flusher(device, last_cache_bytes)
    rows = []
    for shape in EFFICIENCY_SUITE[mode]:
        if shape[0] == "mm":
            _, m, n, k = shape
            a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
            fn, flops, label = (lambda a=a, b=b: torch.mm(a, b)), 2.0 * m * n * k, f"mm {m}x{k}x{n}"
        else:
            _, batch, cin, cout, size, kernel = shape
            x = torch.randn(batch, cin, size, size, device=device, dtype=dtype)
            w = torch.randn(cout, cin, kernel, kernel, device=device, dtype=dtype)
            pad = kernel // 2
            fn = lambda x=x, w=w, pad=pad: torch.nn.functional.conv2d(x, w, padding=pad)  # noqa: E731
            flops = 2.0 * batch * cout * size * size * cin * kernel * kernel
            label = f"conv {batch}x{cin}x{size}x{size} k{kernel} -> {cout}"
        with torch.no_grad():
            seconds = best_cold_time(fn, timer, repeats, flush)
        fraction = flops / max(seconds - overhead_s, 1e-12) / peak
        rows.append({"shape": label, "seconds": seconds, "fraction": fraction})
        advance()
    return pd.DataFrame(rows, columns=["shape", "seconds", "fraction"])


#: Elements per tensor of the op suite, per device kind and mode (activation sizes of
#: small-batch models: the caches on a CPU; large enough to outlast a launch on a GPU).
SUITE_ELEMENTS = {"cpu": {"full": (2**16, 2**18, 2**20), "quick": (2**18,)},
                  "cuda": {"full": (2**22, 2**24), "quick": (2**22,)}}


def op_suite(device: str, n: int) -> dict[str, tuple[Callable[..., Any], tuple]]:
    """Common element-wise, normalisation, pooling and data-movement ops on ``n``-element
    fp32 tensors: name -> (function, arguments)."""
    import torch.nn.functional as F

    rows = max(n // 256, 1)
    side = max(int(round(math.sqrt(n / 64))), 2)
    x, y = torch.randn(n, device=device), torch.randn(n, device=device)
    mask = torch.rand(n, device=device) > 0.5
    x2 = torch.randn(rows, 256, device=device)
    x4 = torch.randn(1, 64, side, side, device=device)
    stats = [torch.randn(64, device=device).abs() + 0.5 for _ in range(4)]
    gamma, beta = torch.ones(256, device=device), torch.zeros(256, device=device)
    index = torch.randint(0, rows, (max(rows // 2, 1),), device=device)
    return {
        "relu": (torch.relu, (x,)),
        "gelu": (F.gelu, (x,)),
        "add": (torch.add, (x, y)),
        "mul": (torch.mul, (x, y)),
        "exp": (torch.exp, (x,)),
        "where": (torch.where, (mask, x, y)),
        "softmax": (lambda t: F.softmax(t, -1), (x2,)),
        "layer_norm": (lambda t: F.layer_norm(t, (256,), gamma, beta), (x2,)),
        "batch_norm": (lambda t: F.batch_norm(t, stats[0], stats[1], stats[2], stats[3], training=False), (x4,)),
        "max_pool2d": (lambda t: F.max_pool2d(t, 3, 2, 1), (x4,)),
        "amax": (lambda t: t.amax(-1), (x2,)),
        "sum": (lambda t: t.sum(-1), (x2,)),
        "cat": (lambda a, b: torch.cat([a, b]), (x, y)),
        "transpose": (lambda t: t.t().contiguous(), (x2,)),
        "index_select": (lambda t: t.index_select(0, index), (x2,)),
    }


def measure_op_suite(device: str, timer: Timer, mode: str, spec: HardwareSpec, repeats: int, min_sample_s: float,
                     advance: Callable[[], None]) -> pd.DataFrame:
    """How close common non-GEMM ops come to the roofline of ``spec`` (measured ceilings,
    efficiencies 1): per op and size, the roofline's work time (max of compute and memory,
    from roofline's own counts) over the measured time less the per-op overheads.

    Rows: op, elements, bound ("compute" or "memory", the larger roofline term), work_s,
    overhead_s, seconds (best measured), fraction (NaN when the time is within 1.5x the
    overheads: too little work to tell)."""
    from roofline.analysis import analyze

    kind = "cuda" if device == "cuda" else "cpu"
    rows = []
    for n in SUITE_ELEMENTS[kind][mode]:
        for name, (fn, args) in op_suite(device, n).items():
            ops = analyze(fn, args, hw=spec, name=name).ops
            ops = ops[ops["bound"] != "none"]
            compute, memory = float(ops["compute_s"].sum()), float(ops["memory_s"].sum())
            work = float(np.maximum(ops["compute_s"], ops["memory_s"]).sum())
            overhead = float(ops["overhead_s"].sum())
            seconds = best_time(lambda: fn(*args), timer, repeats, min_sample_s)
            fraction = work / (seconds - overhead) if seconds > 1.5 * overhead and work > 0 else math.nan
            rows.append({"op": name, "elements": n, "bound": "compute" if compute > memory else "memory",
                         "work_s": work, "overhead_s": overhead, "seconds": seconds, "fraction": fraction})
        advance()
    return pd.DataFrame(rows, columns=["op", "elements", "bound", "work_s", "overhead_s", "seconds", "fraction"])


def suite_efficiency(suite: pd.DataFrame, bound: str, fallback: float) -> float:
    """The median fraction of the roofline reached by the suite's ops with that bound,
    within [0.05, 1]; ``fallback`` when none of them could tell."""
    fractions = suite.loc[(suite["bound"] == bound) & suite["fraction"].notna(), "fraction"].to_numpy()
    if not len(fractions):
        return fallback
    return float(np.clip(np.median(fractions), 0.05, 1.0))


def measure_host_link(device: str, timer: Timer, mode: str, repeats: int, min_sample_s: float) -> float:
    """Pinned host -> device copy bandwidth (B/s); on CPU, the host is the device: NaN."""
    if device != "cuda":
        return math.nan
    n = (256 if mode == "full" else 32) * MiB // 4
    host = torch.empty(n, dtype=torch.float32).pin_memory()
    dev = torch.empty(n, dtype=torch.float32, device="cuda")
    seconds = best_time(lambda: dev.copy_(host, non_blocking=True), timer, repeats, min_sample_s, max_inner=20)
    return 4.0 * n / seconds


# --------------------------------------------------------------------------- machine facts


def _cpu_name_and_vendor() -> tuple[str, str]:
    name, vendor = None, "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and value and name is None:
                name = value
            elif key == "vendor_id" and value and vendor == "unknown":
                vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(value, value.lower())
    except OSError:
        pass
    if vendor == "unknown" and platform.machine().lower() in ("arm64", "aarch64"):
        vendor = "arm"
    return name or platform.processor() or platform.machine() or "CPU", vendor


def _load_average() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return math.nan


# --------------------------------------------------------------------------- calibrate()


def calibrate(device: str = "cpu", *, quick: bool = False, threads: int | None = None, clock: str = "wall",
              progress: bool = False) -> Calibration:
    """Measure overhead, bandwidth per level, GEMM and vector peaks on ``device``.

    quick: fewer sizes and repeats (seconds instead of about a minute on 2 CPU cores);
    good for tests, too coarse for a spec to publish figures with.
    threads: torch CPU threads to calibrate with (default: torch's current setting, the
    one models will run with); restored afterwards.
    clock: "wall" or "thread" (CPU time of the calling thread; with threads=1 on a busy
    machine, figures free of time spent descheduled: see roofline.measure.ThreadTimer).
    progress: show a rich progress bar.
    """
    saved_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise RooflineError(f"calibrate: threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        return _calibrate(device, quick, clock, progress)
    finally:
        torch.set_num_threads(saved_threads)


def _calibrate(device: str, quick: bool, clock: str, progress: bool) -> Calibration:
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda"):
        raise RooflineError(f"calibrate: device {device!r} is not supported (cpu or cuda)")
    timer = timer_for(kind, clock)  # raises if CUDA is asked for and absent
    device = "cuda" if kind == "cuda" else "cpu"
    mode = "quick" if quick else "full"
    repeats, min_sample = REPEATS[mode], MIN_SAMPLE_S[mode]
    started_at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    t0 = time.perf_counter()
    sizes = sweep_sizes(mode, kind)
    n_gemm = 5 if kind == "cuda" else 4
    total = 2 + len(sizes) + n_gemm + 4 + len(EFFICIENCY_SUITE[mode]) + 1 + len(SUITE_ELEMENTS[kind][mode])

    load = _load_average()
    with progress_bar(progress, "calibrating", total) as step, torch.no_grad():
        def advance(label: str | None) -> None:
            step(1, label)

        advance("per-op overhead")
        overhead = measure_overhead(device, timer, repeats, min_sample)
        overhead_s = float(overhead["seconds"].median())
        views = measure_view_overhead(device, timer, repeats, min_sample)
        advance("bandwidth sweep")
        curve = measure_bandwidth(device, timer, sizes, overhead_s, repeats, min_sample, lambda: advance(None))
        gemm, matrix_flops, notes = measure_gemm(device, timer, mode, repeats, min_sample, lambda: advance("GEMM peaks"))
        vector, vector_flops = measure_vector(device, timer, mode, overhead_s, repeats, min_sample,
                                              lambda: advance("vector peaks"))
        # The suite runs in the dtype models mostly use on the device: fp32 on a CPU, bf16
        # on a GPU's tensor cores (whose efficiency.matrix it then sets).
        suite_dtype = "fp32" if kind == "cpu" or "bf16" not in matrix_flops else "bf16"
        reference = matrix_flops.get(suite_dtype) or max(matrix_flops.values())
        if kind == "cuda":
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            last_cache = float(getattr(props, "L2_cache_size", 0) or 64 * MiB)
        else:
            last_cache = float(max((c.capacity for c in cpu_caches()), default=64 * MiB))
        efficiency = measure_efficiency(device, timer, mode, reference, overhead_s, repeats, min_sample,
                                        lambda: advance("efficiency suite"), dtype=_DTYPES[suite_dtype],
                                        last_cache_bytes=last_cache)
        host = measure_host_link(device, timer, mode, repeats, min_sample)
        advance("host link")

        resolved = curve[curve["resolved"] & (curve["kernel"] == "add_out")]
        if resolved.empty:
            raise RooflineError("calibrate: every bandwidth point was within the per-op overhead; nothing to fit")
        by_size = resolved.groupby("working_set_bytes", as_index=False)["bandwidth"].max()
        plateaus = find_plateaus(by_size["working_set_bytes"], by_size["bandwidth"])
        if kind == "cuda":
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            caches = [("l2", float(getattr(props, "L2_cache_size", 0) or 0))]
            caches = [c for c in caches if c[1] > 0] or _caches_from_plateaus(plateaus)
            dram_capacity = float(props.total_memory)
            name = props.name
            vendor = "amd" if getattr(torch.version, "hip", None) else "nvidia"
        else:
            os_caches = [c for c in cpu_caches() if c.level >= 2]
            caches = [(f"l{c.level}", float(c.capacity)) for c in os_caches] or _caches_from_plateaus(plateaus)
            if not os_caches:
                notes.append("cache capacities from the bandwidth curve's plateaus (the OS did not say)")
            dram_capacity = _physical_memory()
            if not math.isfinite(dram_capacity):
                dram_capacity = 16e9
                notes.append("DRAM capacity unknown to the OS: 16 GB assumed")
            name, vendor = _cpu_name_and_vendor()
        levels = fit_levels(by_size, caches, dram_capacity)
        if kind == "cpu":
            host = float(levels["bandwidth"].iloc[-1])  # the CPU is the host: copies run at DRAM speed
        fractions = efficiency["fraction"].to_numpy()
        matrix_efficiency = float(np.clip(np.median(fractions), 0.05, 1.0)) if len(fractions) else 1.0

        result = Calibration(
            device=device, device_name=name, vendor=vendor, threads=torch.get_num_threads(), mode=mode,
            clock=clock, started=started_at.isoformat(), duration_s=math.nan, overhead_s=overhead_s,
            overhead=overhead, curve=curve, plateaus=plateaus, levels=levels, gemm=gemm,
            matrix_flops=matrix_flops, vector=vector, vector_flops=vector_flops, efficiency=efficiency,
            matrix_efficiency=matrix_efficiency, host_link_bw=host, notes=notes, views=views,
            view_overhead_s=float(views["seconds"].median()), fresh_write=fit_fresh_write(curve))
        # The op suite is predicted on the measured ceilings alone (every efficiency 1).
        ceilings = dataclasses.replace(result.to_spec(), efficiency=Efficiency(1.0, 1.0, 1.0))
        suite = measure_op_suite(device, timer, mode, ceilings, repeats, min_sample, lambda: advance("op suite"))

    result.suite = suite
    result.memory_efficiency = suite_efficiency(suite, "memory", 1.0)
    result.vector_efficiency = suite_efficiency(suite, "compute", result.memory_efficiency)
    if load is not None and load > 0.5 * (os.cpu_count() or 1):
        notes.append(f"machine busy while calibrating (1-minute load average {load:.2f} on "
                     f"{os.cpu_count()} CPUs): figures may be low; rerun on a quiet machine")
    result.duration_s = time.perf_counter() - t0
    return result


def _caches_from_plateaus(plateaus: list[tuple[float, float, float]]) -> list[tuple[str, float]]:
    """Cache levels read off the curve: every plateau but the last, its capacity the
    geometric mean of its last size and the next plateau's first."""
    caches = []
    for i, (first, last, _bw) in enumerate(plateaus[:-1]):
        capacity = math.sqrt(last * plateaus[i + 1][0])
        caches.append((f"l{i + 1}" if i < 3 else "llc", capacity))
    return caches[:4]


def write_calibrated_spec(result: Calibration, path: str | os.PathLike, *, name: str | None = None) -> HardwareSpec:
    """Write the calibration as a spec YAML (validated first; atomic) and return the spec
    as loaded back from the file. The name defaults to the file's stem."""
    from roofline.hardware import load_hardware

    from roofline.errors import HardwareSpecError

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
