"""The parallel planner: every (data, tensor, pipeline) split of a multi-device spec and,
for each, the micro-batch size that minimises the step time (see roofline.tools.parallel.model
for the cost model it searches over).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pandas as pd

from roofline.errors import RooflineError
from roofline.hardware import HardwareSpec, load_hardware
from roofline.tools.parallel.model import (
    DEFAULT_MICROBATCH_OVERHEAD_S,
    ParallelConfig,
    StepEstimate,
    StepProfile,
    interconnect_of,
    estimate_step,
)


def divisors(n: int) -> list[int]:
    """The positive divisors of ``n``, ascending."""
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return sorted(set(small + [n // k for k in small]))


def splits(hw: HardwareSpec, global_batch: int) -> list[tuple[int, int, int]]:
    """Every (data, tensor, pipeline) using all of ``hw``'s devices, with the tensor split
    inside a node and the global batch divisible by data."""
    system = interconnect_of(hw)
    found = []
    for t in divisors(system.devices):
        if t > system.devices_per_node:
            continue
        for p in divisors(system.devices // t):
            d = system.devices // (t * p)
            if global_batch % d == 0:
                found.append((d, t, p))
    return found


@dataclass
class Plan:
    """What plan() found: the best estimate, every estimate it evaluated (a DataFrame,
    fastest first) and the device profiles it used, by micro-batch size."""

    best: StepEstimate
    table: pd.DataFrame = field(repr=False)
    profiles: dict[int, StepProfile] = field(repr=False, default_factory=dict)


def best_micro_batch(step_s_at: Callable[[int], float], candidates: list[int], start: int | None = None) -> int:
    """The candidate micro-batch with the least step time, by descent from ``start``.

    step_s_at(b) is the step time at b (inf where b does not fit). From ``start`` (the
    nearest candidate to it; default the smallest), move to the better neighbour in the
    sorted candidates until neither is better. Exact when the step time falls then rises
    over the candidates (tests check it against brute force); it evaluates few sizes.
    """
    ordered = sorted(candidates)
    if start is None:
        i = 0
    else:
        i = min(range(len(ordered)), key=lambda k: abs(math.log(ordered[k]) - math.log(max(start, 1e-9))))
    best = step_s_at(ordered[i])
    while True:
        moves = [(step_s_at(ordered[j]), j) for j in (i - 1, i + 1) if 0 <= j < len(ordered)]
        better = [(s, j) for s, j in moves if s < best]
        if not better:
            return ordered[i]
        best, i = min(better)


def balanced_micro_batch(small: tuple[int, float], large: tuple[int, float], samples: int, pipeline: int) -> float:
    """Where the bubble and the per-micro-batch cost balance.

    small, large: (micro_batch, microbatch_s) at two sizes, through which the slot time
    is fitted as a + c x b. With M = samples per pipeline (global_batch / data) the step
    (M / b + p - 1)(a + c b) is least at b* = sqrt(M a / ((p - 1) c)). Without a pipeline
    (p = 1) or when the slot time does not grow with b there is no bubble to balance:
    returns M (the largest size); returns 1 when the fit has no fixed part (a <= 0).
    """
    (b0, s0), (b1, s1) = small, large
    if pipeline <= 1 or b1 == b0:
        return float(samples)
    c = (s1 - s0) / (b1 - b0)
    a = s0 - c * b0
    if c <= 0:
        return float(samples)
    if a <= 0:
        return 1.0
    return math.sqrt(samples * a / ((pipeline - 1) * c))


def plan(
    profile_at: Callable[[int], StepProfile],
    hw: str | HardwareSpec,
    global_batch: int,
    *,
    overlap: bool = True,
    microbatch_overhead_s: float = DEFAULT_MICROBATCH_OVERHEAD_S,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """The fastest (data, tensor, pipeline, micro-batch) split of ``hw``'s devices for a
    step of ``global_batch`` samples.

    profile_at(b) gives the device profile at micro-batch b (a TrainingProfiler: one
    roofline analysis per size, cached). For each split the micro-batch is found by
    best_micro_batch, starting where balanced_micro_batch puts the balance of bubble
    and per-micro-batch cost; configurations that do not fit in memory are skipped.
    """
    hw = load_hardware(hw)
    if global_batch < 1:
        raise RooflineError(f"global batch must be at least 1, got {global_batch}")
    options = splits(hw, global_batch)
    if not options:
        raise RooflineError(f"{hw.name}: no split of {hw.devices} devices divides the global batch {global_batch}")
    evaluated: dict[tuple[int, int, int, int], StepEstimate] = {}
    for d, t, p in options:
        if progress is not None:
            progress(f"data {d} x tensor {t} x pipeline {p}")
        candidates = divisors(global_batch // d)
        first = profile_at(candidates[0])
        if t > 1 and not first.tensor_parallel:
            continue
        if first.blocks and p > first.layers:  # a stage needs at least one layer
            continue

        def step_s_at(b: int, d: int = d, t: int = t, p: int = p) -> float:
            key = (d, t, p, b)
            if key not in evaluated:
                config = ParallelConfig(d, t, p, b, global_batch)
                evaluated[key] = estimate_step(
                    profile_at(b), hw, config, overlap=overlap, microbatch_overhead_s=microbatch_overhead_s
                )
            estimate = evaluated[key]
            return estimate.step_s if estimate.fits else math.inf

        start = None
        if len(candidates) > 1:
            step_s_at(candidates[0]), step_s_at(candidates[-1])
            small, large = evaluated[(d, t, p, candidates[0])], evaluated[(d, t, p, candidates[-1])]
            start = balanced_micro_batch(
                (candidates[0], small.microbatch_s), (candidates[-1], large.microbatch_s), global_batch // d, p
            )
        best_micro_batch(step_s_at, candidates, start)
    feasible = [e for e in evaluated.values() if e.fits]
    if not feasible:
        raise RooflineError(f"{hw.name}: no split fits in {hw.dram.capacity / 1e9:.0f} GB per device at global batch {global_batch}")
    table = pd.DataFrame([e.row() for e in evaluated.values()]).sort_values(["fits", "step_s"], ascending=[False, True])
    best = min(feasible, key=lambda e: e.step_s)
    profiles = dict(getattr(profile_at, "profiles", {}))
    return Plan(best=best, table=table.reset_index(drop=True), profiles=profiles)


def microbatch_tradeoff(
    profile_at: Callable[[int], StepProfile],
    hw: str | HardwareSpec,
    global_batch: int,
    *,
    data: int = 1,
    tensor: int = 1,
    pipeline: int = 1,
    micro_batches: Iterable[int] | None = None,
    overlap: bool = True,
    microbatch_overhead_s: float = DEFAULT_MICROBATCH_OVERHEAD_S,
) -> pd.DataFrame:
    """Step time of one split at every micro-batch size (default: every divisor of
    global_batch / data): the bubble-against-overhead curve, one row per size."""
    hw = load_hardware(hw)
    sizes = list(micro_batches) if micro_batches is not None else divisors(global_batch // data)
    rows = []
    for b in sizes:
        config = ParallelConfig(data, tensor, pipeline, b, global_batch)
        estimate = estimate_step(profile_at(b), hw, config, overlap=overlap, microbatch_overhead_s=microbatch_overhead_s)
        rows.append(estimate.row())
    return pd.DataFrame(rows).set_index("micro_batch")
