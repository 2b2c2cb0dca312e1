"""Timing primitives of the calibration: best-of-N batches of calls, cold single calls
after a cache flush. The timers themselves (wall clock, thread CPU time, CUDA events) are
roofline.measure's Timer; these functions take one.

Every timing is the best (minimum) of several repeats: a ceiling is what the machine can
do, and noise only ever slows a run down.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from roofline.measure import Timer

__all__ = ["best_time", "best_cold_time", "cache_flusher", "REPEATS", "MIN_SAMPLE_S", "POINT_BUDGET_S", "MiB"]

KiB, MiB = 2**10, 2**20

#: Timed samples per measurement, per mode.
REPEATS = {"full": 9, "quick": 5}
#: Each timed sample lasts at least this long (s): well above the timer's resolution and
#: GPU launch gaps, yet short, so that on a busy machine some samples escape disturbance.
MIN_SAMPLE_S = {"full": 5e-4, "quick": 2e-4}
#: Seconds of timed samples one point may use before it stops sampling (after two).
POINT_BUDGET_S = 0.4


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

