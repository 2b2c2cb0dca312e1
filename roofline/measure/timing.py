"""Timers: the one way roofline reads a clock, for a whole forward, one op, or a batch of calls.

    timer = timer_for("cuda")               # CUDA events; "cpu": perf_counter
    with timer.span() as elapsed: work()    # elapsed[0]: seconds, after a sync
    median_s, min_s, inner = time_callable(fn, timer)

Timer.begin()/end()/seconds() mark one call without waiting, so many marks can be taken
in a forward and read afterwards (what CUDA events need). time_callable runs batches of
calls long enough for the clock to resolve.
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch

from roofline.errors import RooflineError

__all__ = ["Timer", "CudaTimer", "ThreadTimer", "CLOCKS", "timer_for", "time_callable", "page_faults", "page_bytes",
           "DEFAULT_WARMUP", "DEFAULT_REPEATS", "MAX_INNER"]

DEFAULT_WARMUP = 2
DEFAULT_REPEATS = 7
#: At most this many calls per timed batch.
MAX_INNER = 1000


class Timer:
    """Wall-clock timer for CPU work (perf_counter): nothing is queued, nothing to wait for.

    span() times a block; begin()/end()/seconds() time one call without waiting, so many
    marks can be taken in a forward and read afterwards (what CUDA events need).
    """

    device = "cpu"

    def sync(self) -> None:
        """Wait until all queued work is done (nothing to do on CPU)."""

    def begin(self) -> Any:
        """A start mark, taken now (perf_counter seconds)."""
        return time.perf_counter()

    def end(self, started: Any) -> Any:
        """An end mark for ``started``: read it with seconds() (here the elapsed seconds)."""
        return time.perf_counter() - started

    def seconds(self, mark: Any) -> float:
        """Seconds of an end() mark (on CUDA, after the events completed)."""
        return float(mark)

    @contextmanager
    def span(self) -> Iterator[list[float]]:
        """Time the body after a sync; the elapsed seconds are appended to the yielded list."""
        out: list[float] = []
        self.sync()
        started = self.begin()
        yield out
        mark = self.end(started)
        self.sync()
        out.append(self.seconds(mark))


class CudaTimer(Timer):
    """CUDA events on the current stream: the device's time from one event to the next.

    With a full launch queue that is the kernels' time; when the host is the bottleneck
    (tiny kernels, or Python between ops) the gap includes the launch latency.
    """

    device = "cuda"

    def sync(self) -> None:
        """Wait until every queued kernel has finished."""
        torch.cuda.synchronize()

    def begin(self) -> Any:
        """A CUDA event recorded on the current stream now."""
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def end(self, started: Any) -> Any:
        """(started, an event recorded now): read it with seconds() once both completed."""
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return started, event

    def seconds(self, mark: Any) -> float:
        """Seconds between the two events of an end() mark (waits for the second)."""
        started, ended = mark
        ended.synchronize()
        return started.elapsed_time(ended) / 1e3  # elapsed_time is in ms


class ThreadTimer(Timer):
    """CPU time of the calling thread (user + system, page faults included), for CPU runs
    on ONE torch thread on a machine shared with other work: time the thread spends
    descheduled is not counted, so other processes do not inflate the figures (their
    effect on shared caches still shows). Meaningless with more threads, which the
    calling thread's clock does not see."""

    def begin(self) -> Any:
        """A start mark: the thread's CPU seconds now."""
        return time.thread_time()

    def end(self, started: Any) -> Any:
        """The thread's CPU seconds since ``started``."""
        return time.thread_time() - started


#: Clocks a CPU run can be timed with: wall time (perf_counter) or the thread's CPU time.
CLOCKS = ("wall", "thread")


def timer_for(device: str | torch.device, clock: str = "wall") -> Timer:
    """The timer for a device: CUDA events on "cuda"; on CPU perf_counter ("wall") or the
    calling thread's CPU time ("thread", needs torch.get_num_threads() == 1)."""
    kind = torch.device(device).type
    if clock not in CLOCKS:
        raise RooflineError(f"clock {clock!r}: expected one of {', '.join(CLOCKS)}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RooflineError(f"device {device!s}: CUDA is not available in this torch build or on this machine")
        if clock != "wall":
            raise RooflineError("clock 'thread' times CPU work only; CUDA runs use CUDA events")
        return CudaTimer()
    if clock == "thread":
        if torch.get_num_threads() != 1:
            raise RooflineError(
                f"clock 'thread' counts the calling thread only, but torch runs {torch.get_num_threads()} "
                "threads: set them to 1 (torch.set_num_threads(1), or --threads 1)"
            )
        return ThreadTimer()
    return Timer()


def time_callable(
    fn: Callable[[], Any],
    timer: Timer,
    *,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    min_batch_s: float = 100e-6,
    max_inner: int = MAX_INNER,
    prepare: Callable[[int], list[Any]] | None = None,
    call: Callable[[Any], Any] | None = None,
) -> tuple[float, float, int]:
    """Seconds per call of ``fn``: (median, minimum, inner) over ``repeats`` batches.

    Each batch runs ``inner`` calls back to back between two timer reads; ``inner`` is
    chosen from one probe call after the warm-up so that a batch lasts at least
    ``min_batch_s``. With ``prepare``/``call`` (for in-place ops), ``prepare(k)`` builds
    k fresh argument sets outside the timed span and ``call(item)`` runs one inside it.
    """
    if prepare is None:
        prepare = lambda k: [None] * k  # noqa: E731
        call = lambda _item: fn()  # noqa: E731
    assert call is not None
    for item in prepare(max(warmup, 1)):
        call(item)
    items = prepare(1)
    with timer.span() as probe:
        for item in items:
            call(item)
    single = max(probe[0], 1e-9)
    inner = int(min(max_inner, max(1, math.ceil(min_batch_s / single))))
    samples = []
    for _ in range(repeats):
        items = prepare(inner)
        with timer.span() as elapsed:
            for item in items:
                call(item)
        samples.append(elapsed[0] / inner)
        del items
    return statistics.median(samples), min(samples), inner


def page_faults() -> float:
    """Page faults (minor and major) this process has taken so far, all its threads; NaN
    where the OS does not say (no ``resource`` module). Differences of two readings count
    the pages a piece of work touched for the first time: on Linux a fresh page costs a
    fault and its zeroing on first write, microseconds each, which no kernel's roofline
    holds."""
    try:
        import resource
    except ImportError:  # not a Unix
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return float(usage.ru_minflt + usage.ru_majflt)


def page_bytes() -> int:
    """The operating system's page size in bytes (4096 where it does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 4096
