"""Timing primitives of the calibration: best-of-N batches of calls, cold single calls
after a cache flush. The timers themselves (wall clock, thread CPU time, CUDA events) are
roofline.measure's Timer; these functions take one.

Every timing is the best (minimum) of several repeats: a ceiling is what the machine can
do, and noise only ever slows a run down.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd
import torch

from roofline.measure import Timer

__all__ = ["best_time", "best_cold_time", "cache_flusher", "interleaved_rounds", "fastest_rows", "reference_loop_s", "ROUNDS", "REPEATS", "MIN_SAMPLE_S", "POINT_BUDGET_S", "MiB"]

KiB, MiB = 2**10, 2**20

#: Timed samples per measurement and round (ROUNDS), per mode.
REPEATS = {"full": 3, "quick": 3}
#: Each timed sample lasts at least this long (s): well above the timer's resolution and
#: GPU launch gaps, yet short, so that on a busy machine some samples escape disturbance.
MIN_SAMPLE_S = {"full": 5e-4, "quick": 2e-4}
#: Seconds of timed samples one point may use before it stops sampling (after two).
POINT_BUDGET_S = 0.4


#: Two samples within this fraction of each other end a measurement early: the best
#: is then confirmed by a second, undisturbed sample, not one lucky one.
AGREE = 0.05


def best_time(fn: Callable[[], Any], timer: Timer, repeats: int, min_sample_s: float, max_inner: int = 10_000,
              budget_s: float = POINT_BUDGET_S) -> float:
    """Best (minimum) seconds per call of ``fn`` over at least ``repeats`` samples, each a
    batch of calls lasting at least ``min_sample_s`` (after one warm-up call).

    Sampling goes on past ``repeats`` until the two fastest samples agree within AGREE,
    or ``budget_s`` of samples was spent (after at least two): on a machine where other
    processes take the cores now and then, it waits for two quiet samples instead of
    keeping a disturbed one."""
    fn()
    single = math.inf
    for _ in range(3):  # the fastest of three, so one disturbed call does not set the batch
        with timer.span() as probe:
            fn()
        single = min(single, probe[0])
    inner = int(min(max_inner, max(1, math.ceil(min_sample_s / max(single, 1e-9)))))
    samples: list[float] = []
    spent = 0.0
    while True:
        with timer.span() as elapsed:
            for _ in range(inner):
                fn()
        samples.append(elapsed[0] / inner)
        spent += elapsed[0]
        if len(samples) >= 2 and spent > budget_s:
            break
        if len(samples) >= repeats:
            first, second = sorted(samples)[:2]
            if second <= first * (1.0 + AGREE):
                break
    return min(samples)


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



#: Rounds of the interleaved measurements (every figure of a round taken once before
#: the next round starts), per mode.
ROUNDS = {"full": 3, "quick": 1}


def interleaved_rounds(probes: dict[str, Callable[[], pd.DataFrame]], keys: dict[str, list[str]],
                       rounds: int) -> dict[str, pd.DataFrame]:
    """Run every probe once per round, the rounds one after the other, and keep per row
    (the probe's ``keys`` columns) the fastest round's row, with a column ``spread``: the
    slowest round's seconds over the fastest's, minus 1 (0.05: the rounds differed by 5%).

    A disturbance (another process taking a core for a few seconds) then lands on one
    round of every figure instead of on all the samples of one figure; each probe
    returns a frame with a ``seconds`` column and the columns derived from it."""
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in probes}
    for _ in range(max(rounds, 1)):
        for name, probe in probes.items():
            frames[name].append(probe())
    return {name: fastest_rows(pd.concat(parts, ignore_index=True), keys[name]) for name, parts in frames.items()}


def fastest_rows(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per distinct ``keys``, the row with the least ``seconds``, plus ``spread`` (slowest
    over fastest seconds, minus 1), in first-seen order."""
    if frame.empty:
        return frame.assign(spread=pd.Series(dtype=float))
    grouped = frame.groupby(keys, sort=False)["seconds"]
    spread = (grouped.transform("max") / grouped.transform("min") - 1.0).fillna(0.0)
    best = frame.assign(spread=spread).loc[grouped.idxmin().to_numpy()]
    return best.reset_index(drop=True)


def reference_loop_s(timer: Timer, repeats: int = 5) -> float:
    """Best seconds of a fixed reference workload (a 128x128x128 fp32 matmul chain and an
    add over 1 MiB, on torch's threads), timed before and after a calibration: if the
    two differ, the machine's speed changed while it ran (another load came or went)."""
    a = torch.full((128, 128), 1.0 / 128)
    x = torch.ones(2**18)

    def work() -> None:
        b = a
        for _ in range(8):
            b = torch.mm(b, a)
        torch.add(x, x)

    return best_time(work, timer, repeats, 2e-3, budget_s=0.2)
