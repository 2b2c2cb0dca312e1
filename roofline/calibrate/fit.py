"""Fits of calibration measurements: plateaus and per-level bandwidths of the bandwidth
curve, the page-fault cost of fresh outputs, and the efficiencies the suites reach.
Pure functions of frames and lists (SI units: bytes, B/s, s), testable on hand-made
curves.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["find_plateaus", "fit_levels", "fit_fresh_write", "suite_efficiency", "curve_efficiency", "matrix_efficiency",
           "caches_from_plateaus", "effective_caches", "fallback_efficiencies"]

#: Efficiencies fitted from a suite are kept within [MIN_EFFICIENCY, 1]: a suite that
#: reached less than 5% of the roofline measured overheads, not kernels.
MIN_EFFICIENCY = 0.05


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
    """Bandwidth per memory level from a curve (working_set_bytes, bandwidth), each cache
    level at its effective capacity (effective_caches: never above ``caches``'s); see
    _level_rows for how each bandwidth is read. Returns rows level, capacity, bandwidth,
    points."""
    first = _level_rows(curve, caches, dram_capacity)
    effective = effective_caches(curve, caches, first)
    return first if effective == caches else _level_rows(curve, effective, dram_capacity)


def effective_caches(curve: pd.DataFrame, caches: list[tuple[str, float]], levels: pd.DataFrame,
                     drop: float = 0.7) -> list[tuple[str, float]]:
    """The capacity each cache level holds for one stream here: where the measured curve
    falls to the geometric mean of the level's bandwidth and the next level's (two points
    in a row below it; log-log interpolated between the last point above and the first
    below), never above the capacity ``caches`` gives. The operating system reports a
    cache's full size; a virtual machine's share of a shared last-level cache, or the
    part of it a stream keeps after other tenants' lines, is less, and an op of that
    working set streams at the next level's speed. Only where the next level is a real
    step down (its bandwidth below ``drop`` times this one's). ``levels``: fit_levels
    rows at the ``caches`` capacities (the level bandwidths)."""
    xs = curve["working_set_bytes"].to_numpy(dtype=float)
    ys = curve["bandwidth"].to_numpy(dtype=float)
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    bandwidths = levels["bandwidth"].to_numpy(dtype=float)
    result, previous = [], 0.0
    for i, (name, capacity) in enumerate(caches):
        here, below = bandwidths[i], bandwidths[i + 1]
        knee = capacity
        if below < drop * here:
            threshold = math.sqrt(here * below)
            low = (ys < threshold) & (xs > previous)
            for j in range(1, len(xs)):
                if low[j] and (j + 1 >= len(xs) or low[j + 1]) and not low[j - 1]:
                    fraction = math.log(ys[j - 1] / threshold) / math.log(ys[j - 1] / ys[j])
                    knee = min(capacity, math.exp(math.log(xs[j - 1]) + fraction * math.log(xs[j] / xs[j - 1])))
                    break
        result.append((name, float(knee)))
        previous = capacity
    return result


def _level_rows(curve: pd.DataFrame, caches: list[tuple[str, float]], dram_capacity: float) -> pd.DataFrame:
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


def suite_efficiency(suite: pd.DataFrame, bound: str, fallback: float) -> float:
    """The median fraction of the roofline reached by the suite's ops with that bound,
    within [MIN_EFFICIENCY, 1]; ``fallback`` when none of them could tell."""
    fractions = suite.loc[(suite["bound"] == bound) & suite["fraction"].notna(), "fraction"].to_numpy()
    if not len(fractions):
        return fallback
    return float(np.clip(np.median(fractions), MIN_EFFICIENCY, 1.0))


def curve_efficiency(curves: pd.DataFrame, suite: pd.DataFrame, bound: str, fallback: float) -> float:
    """The median efficiency of the fitted curves (roofline.calibrate.curves) of the suite
    ops with that bound at their largest size, within [MIN_EFFICIENCY, 1]; ``fallback``
    when there is none. Steadier than the median of per-point fractions: a small size's
    fraction is the difference of two close times, a curve's efficiency a fit over all."""
    if curves.empty or suite.empty:
        return fallback
    largest = suite.sort_values("elements").groupby("op", sort=False).tail(1)
    ops = set(largest.loc[largest["bound"] == bound, "op"])
    values = curves.loc[curves["op"].isin(ops), "efficiency"].to_numpy()
    return float(np.clip(np.median(values), MIN_EFFICIENCY, 1.0)) if len(values) else fallback


def fallback_efficiencies(curves: pd.DataFrame, suite: pd.DataFrame, own_rate: Any = ()) -> tuple[float, float]:
    """(memory, vector) efficiencies of ops outside the suite's families: the medians of
    the families' curves by bound (curve_efficiency; the per-point fractions where no
    curve says), leaving out the ``own_rate`` families (kernels with a cost per element of
    their own, such as transcendental functions, which would stand for the streaming ops
    that make up most ops without a family)."""
    typical = suite[~suite["op"].isin(list(own_rate))]
    memory = curve_efficiency(curves, typical, "memory", suite_efficiency(typical, "memory", 1.0))
    vector = curve_efficiency(curves, typical, "compute", suite_efficiency(typical, "compute", memory))
    return memory, vector


def matrix_efficiency(layers: pd.DataFrame) -> float:
    """The median fraction of the GEMM peak the matrix-efficiency suite's layers reached
    (column fraction), within [MIN_EFFICIENCY, 1]; 1 when the suite is empty."""
    fractions = layers["fraction"].to_numpy()
    return float(np.clip(np.median(fractions), MIN_EFFICIENCY, 1.0)) if len(fractions) else 1.0


def caches_from_plateaus(plateaus: list[tuple[float, float, float]]) -> list[tuple[str, float]]:
    """Cache levels read off the curve: every plateau but the last, its capacity the
    geometric mean of its last size and the next plateau's first."""
    caches = []
    for i, (first, last, _bw) in enumerate(plateaus[:-1]):
        capacity = math.sqrt(last * plateaus[i + 1][0])
        caches.append((f"l{i + 1}" if i < 3 else "llc", capacity))
    return caches[:4]

