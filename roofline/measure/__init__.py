"""Measured runs: time every aten op of a real forward pass, and the forward as a whole.

    m = roofline.measure(model, inputs)                  # CPU: perf_counter
    m = roofline.measure(model, inputs, device="cuda")   # CUDA events + synchronize
    m.ops          # one row per aten op, in execution order: op, module, measured_s, ...
    m.forward_s    # median time of the whole forward, uninstrumented
    m.profiler_s   # torch.profiler's summed self time per forward (CPU, or CUDA kernels)

The forward runs under a dispatch mode (a roofline.capture.CaptureMode, so the ops and
their indices are the ones analyze() records). Two ways to time each op:

* ``method="inline"`` (default): each op is timed where it runs, on its one real call,
  in ``warmup + repeats`` forwards; the median over the timed forwards is kept. The op
  sees the cache state, allocator state and data of a real forward, so the per-op times
  add up to the forward (less the Python between ops). Nothing runs twice, so in-place
  ops need no copies; the inputs are cloned for every forward and the model's buffers
  are put back after each, so every forward starts from the same state.
* ``method="replay"``: one forward; at each op, before its real call, the op is called
  again and again on the same arguments: warm-up calls, then ``repeats`` batches of
  ``inner`` calls (``inner`` grows until a batch lasts ``min_batch_s``), the median batch
  time per call kept. Arguments the op writes (in-place ops, ``out=`` tensors, per its
  schema) are cloned before every timed call; random ops get their generator state
  back. This isolates the op (hot caches, a full GPU launch queue): a lower bound that
  is useful for comparing kernels, and typically well under the in-forward time on CPU.

A ``roofline.symbolic_op`` call is one op: it is timed by replaying it on its recorded
arguments (OpRecord.python_call) with the dispatch modes off.

The rows join Analysis rows by op index (Analysis.compare checks that the op names agree
index by index). Two cross-checks come with them: the forward timed whole, and
torch.profiler's self-time totals. Their differences are reported, not hidden: the sum of
per-op times leaves out the Python between ops; the profiler adds its own cost per op.
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pandas as pd
import torch
from torch.utils._pytree import tree_flatten, tree_map_only

from roofline.capture import CaptureMode, OpRecord, _ModuleStack, call_model
from roofline.capture.inputs import cast_inputs, clone_inputs
from roofline._io import progress as progress_bar
from roofline.errors import RooflineError

try:  # capture's cache of op names (absent in older captures: then nothing to warm)
    from roofline.capture import _op_name
except ImportError:  # pragma: no cover
    _op_name = None

__all__ = ["Measurement", "measure", "Timer", "CudaTimer", "ThreadTimer", "CLOCKS", "timer_for", "time_callable", "MEASURE_COLUMNS", "METHODS"]

#: Columns of Measurement.ops.
MEASURE_COLUMNS = ("op", "module", "measured_s", "min_s", "repeats", "inner", "mutates")
#: Ways to time the ops (see the module docstring).
METHODS = ("inline", "replay")

DEFAULT_WARMUP = 2
DEFAULT_REPEATS = 7
#: A replay batch lasts at least this long (s): perf_counter and CUDA events both
#: resolve well below it, and on a GPU it keeps the launch queue full.
DEFAULT_MIN_BATCH_S = {"cpu": 100e-6, "cuda": 200e-6}
#: At most this many calls per replay batch.
MAX_INNER = 1000
#: At most this many bytes of clones held for one replay batch of an in-place op.
MAX_CLONE_BYTES = 256e6


# --------------------------------------------------------------------------- timers


class Timer:
    """Wall-clock timer for CPU work (perf_counter): nothing is queued, nothing to wait for.

    span() times a block; begin()/end()/seconds() time one call without waiting, so many
    marks can be taken in a forward and read afterwards (what CUDA events need).
    """

    device = "cpu"

    def sync(self) -> None:
        """Wait until all queued work is done (nothing to do on CPU)."""

    def begin(self) -> Any:
        return time.perf_counter()

    def end(self, started: Any) -> Any:
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
        torch.cuda.synchronize()

    def begin(self) -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def end(self, started: Any) -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return started, event

    def seconds(self, mark: Any) -> float:
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
        return time.thread_time()

    def end(self, started: Any) -> Any:
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


# --------------------------------------------------------------------------- per-op timing


def _written_arguments(func: Any) -> tuple[set[int], set[str]]:
    """Positions and names of the arguments an op writes to (per its schema)."""
    positions: set[int] = set()
    names: set[str] = set()
    try:
        arguments = func._schema.arguments
    except AttributeError:
        return positions, names
    for i, argument in enumerate(arguments):
        alias = argument.alias_info
        if alias is not None and alias.is_write:
            names.add(argument.name)
            if not argument.kwarg_only:
                positions.add(i)
    return positions, names


def _clone(value: Any) -> Any:
    return tree_map_only(torch.Tensor, lambda t: t.clone(), value)


def _nbytes(value: Any) -> int:
    flat, _ = tree_flatten(value)
    return sum(t.numel() * t.element_size() for t in flat if isinstance(t, torch.Tensor))


def _is_random(func: Any) -> bool:
    try:
        return torch.Tag.nondeterministic_seeded in func.tags
    except AttributeError:
        return False


@contextmanager
def _rng_restored(on_cuda: bool) -> Iterator[None]:
    """Put the generators back as they were, so timed calls leave no trace in them."""
    cpu_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if on_cuda else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


@dataclass
class _OpTiming:
    median_s: float  # replay: median seconds per call; inline: NaN until the mark is read
    min_s: float
    inner: int
    mutates: bool
    mark: Any = None  # inline: a Timer.end() mark, read after the forward


class _TimedCall:
    """Stands in for an OpOverload in CaptureMode.__torch_dispatch__ so that the one real
    call is timed and nothing else is: CaptureMode calls it, then records it under the real
    op's name (hash, equality and str are the op's; the record's func is set back)."""

    __slots__ = ("func", "timer", "mark")

    def __init__(self, func: Any, timer: Timer):
        self.func = func
        self.timer = timer
        self.mark = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = self.timer.begin()
        out = self.func(*args, **kwargs)
        self.mark = self.timer.end(started)
        return out

    def __hash__(self) -> int:
        return hash(self.func)

    def __eq__(self, other: Any) -> bool:
        return self.func == (other.func if isinstance(other, _TimedCall) else other)

    def __str__(self) -> str:
        return str(self.func)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.func, name)


class _TimingMode(CaptureMode):
    """CaptureMode that also times each op: inline (its one real call) or by replay."""

    def __init__(self, modules: _ModuleStack, timer: Timer, method: str, warmup: int, repeats: int,
                 min_batch_s: float, on_op: Callable[[int], None] | None = None):
        super().__init__(modules)
        self.timer = timer
        self.method = method
        self.warmup = warmup
        self.repeats = repeats
        self.min_batch_s = min_batch_s
        self.timings: list[_OpTiming] = []
        self.on_op = on_op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if getattr(self, "opaque_depth", 0):  # inside a symbolic_op: timed as one op by its record
            return func(*args, **kwargs)
        if self.method == "replay":
            self.timings.append(self._replay(func, args, kwargs))
            out = super().__torch_dispatch__(func, types, args, kwargs)
        else:
            if _op_name is not None:
                _op_name(func)  # cache the name under the real op, not under its stand-in
            timed = _TimedCall(func, self.timer)
            out = super().__torch_dispatch__(timed, types, args, kwargs)
            self.records[-1].func = func
            self.timings.append(_OpTiming(math.nan, math.nan, 1, False, timed.mark))
        self._advance()
        return out

    def record_python_call(self, name, fn, args, kwargs, out, python_call):  # noqa: D102
        # A roofline.symbolic_op call has just run: time it as one unit by replaying it on
        # its recorded arguments, with every dispatch mode off so its aten ops run bare.
        from torch.utils._python_dispatch import _disable_current_modes

        # Each timed call gets fresh copies of the tensor arguments, so a function that
        # writes them cannot change what the model computed. Inline: one timed call per
        # forward, like the aten ops; replay: batches, like them.
        replay = self.method == "replay"
        with _disable_current_modes():
            median, fastest, inner = time_callable(
                lambda: None, self.timer, warmup=self.warmup if replay else 1,
                repeats=self.repeats if replay else 1, min_batch_s=self.min_batch_s if replay else 0.0,
                prepare=lambda k: [(_clone(python_call.args), _clone(python_call.kwargs)) for _ in range(k)],
                call=lambda item: python_call.fn(*item[0], **item[1]))
        self.timings.append(_OpTiming(median, fastest, inner, False))
        record = super().record_python_call(name, fn, args, kwargs, out, python_call)
        self._advance()
        return record

    def _advance(self) -> None:
        if self.on_op is not None:
            self.on_op(len(self.records))

    def _replay(self, func: Any, args: tuple, kwargs: dict) -> _OpTiming:
        positions, names = _written_arguments(func)
        written = [args[i] for i in positions if i < len(args)] + [kwargs[n] for n in names if n in kwargs]
        mutates = _nbytes(written) > 0
        context = _rng_restored(self.timer.device == "cuda") if _is_random(func) else nullcontext()
        with context:
            if not mutates:
                median, fastest, inner = time_callable(
                    lambda: func(*args, **kwargs), self.timer, warmup=self.warmup,
                    repeats=self.repeats, min_batch_s=self.min_batch_s)
            else:
                def prepare(k: int) -> list[tuple[tuple, dict]]:
                    sets = []
                    for _ in range(k):
                        new_args = tuple(_clone(a) if i in positions else a for i, a in enumerate(args))
                        new_kwargs = {n: (_clone(v) if n in names else v) for n, v in kwargs.items()}
                        sets.append((new_args, new_kwargs))
                    return sets

                cap = max(1, int(MAX_CLONE_BYTES // max(_nbytes(written), 1)))
                median, fastest, inner = time_callable(
                    lambda: None, self.timer, warmup=self.warmup, repeats=self.repeats,
                    min_batch_s=self.min_batch_s, max_inner=min(MAX_INNER, cap),
                    prepare=prepare, call=lambda item: func(*item[0], **item[1]))
        return _OpTiming(median, fastest, inner, mutates)

    def seconds(self) -> list[float]:
        """Per-op seconds of this pass: inline marks read, replay medians as they are."""
        self.timer.sync()
        return [t.median_s if t.mark is None else self.timer.seconds(t.mark) for t in self.timings]


# --------------------------------------------------------------------------- result


@dataclass
class Measurement:
    """Measured times of one model's forward on one device.

    ops: one row per aten op in execution order, indexed by op index (the same index as
    Analysis.ops): op ("aten.mm"), module, measured_s (median seconds of the op), min_s,
    repeats (timed samples), inner (calls per sample: 1 inline), mutates (replay only:
    timed on clones of the arguments it writes).
    forward_s: median seconds of the whole forward, uninstrumented.
    profiler_s: torch.profiler's summed self time per forward (s): self CPU time on CPU,
    self CUDA (kernel) time on a GPU; NaN if the profiler could not run.
    """

    name: str
    device: str
    method: str
    ops: pd.DataFrame = field(repr=False)
    forward_s: float
    profiler_s: float
    profiler_kind: str
    clock: str
    threads: int
    warmup: int
    repeats: int
    records: list[OpRecord] = field(repr=False, default_factory=list)
    output: Any = field(repr=False, default=None)

    @property
    def ops_total_s(self) -> float:
        """Sum of the per-op medians (s): the forward's op time without Python in between."""
        return float(self.ops["measured_s"].sum())

    def summary(self) -> dict[str, Any]:
        """The three totals and how they relate, as plain numbers (seconds)."""
        return {
            "model": self.name,
            "device": self.device,
            "method": self.method,
            "clock": self.clock,
            "ops": int(len(self.ops)),
            "threads": self.threads,
            "ops_total_s": self.ops_total_s,
            "forward_s": self.forward_s,
            "profiler_s": self.profiler_s,
            "profiler_kind": self.profiler_kind,
            "ops_over_forward": self.ops_total_s / self.forward_s if self.forward_s else math.nan,
            "profiler_over_forward": self.profiler_s / self.forward_s if self.forward_s else math.nan,
        }


# --------------------------------------------------------------------------- measure()


def _move(model: Any, inputs: Any, device: str | None) -> tuple[Any, Any]:
    if device is None:
        return model, inputs
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
    inputs = cast_inputs(inputs, None, device)
    return model, inputs


def _is_fake(t: torch.Tensor) -> bool:
    return type(t).__name__ == "FakeTensor"


def _device_of(model: Any, inputs: Any) -> str:
    tensors = [t for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)]
    if isinstance(model, torch.nn.Module):
        tensors += list(model.parameters()) + list(model.buffers())
    kinds = {t.device.type for t in tensors}
    if "meta" in kinds or any(_is_fake(t) for t in tensors):
        raise RooflineError(
            "measure: the model or its inputs are on the meta device (or fake); timing needs real "
            "tensors: build the model without --meta"
        )
    if len(kinds) > 1:
        raise RooflineError(f"measure: the model and inputs are spread over devices {sorted(kinds)}; pass device=")
    return kinds.pop() if kinds else "cpu"


@contextmanager
def _buffers_restored(model: Any) -> Iterator[None]:
    """Put the model's buffers (running stats, caches) back as they were afterwards."""
    if not isinstance(model, torch.nn.Module):
        yield
        return
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, copy in saved:
                buffer.copy_(copy)


def _time_forward(model: Any, inputs: Any, timer: Timer, warmup: int, repeats: int) -> float:
    """Median seconds of ``repeats`` whole forwards after ``warmup`` (each on fresh inputs)."""
    samples = []
    for i in range(warmup + repeats):
        fresh = clone_inputs(inputs)
        with _buffers_restored(model), timer.span() as elapsed:
            call_model(model, fresh)
        if i >= warmup:
            samples.append(elapsed[0])
    return statistics.median(samples)


def _profiler_total(model: Any, inputs: Any, on_cuda: bool, runs: int) -> tuple[float, str]:
    """torch.profiler's summed self time per forward: CPU self time, or CUDA kernel time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    fresh = [clone_inputs(inputs) for _ in range(runs)]
    try:
        with _buffers_restored(model), profile(activities=activities) as prof:
            for batch in fresh:
                call_model(model, batch)
            if on_cuda:
                torch.cuda.synchronize()
        events = prof.key_averages()
    except Exception:  # the profiler is a cross-check only; its absence must not stop a run
        return math.nan, "unavailable"
    if on_cuda:
        total_us = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0)) for e in events)
        return total_us / 1e6 / runs, "self_cuda"
    total_us = sum(e.self_cpu_time_total for e in events)
    return total_us / 1e6 / runs, "self_cpu"


def _timed_pass(model: Any, inputs: Any, label: str, timer: Timer, method: str, warmup: int, repeats: int,
                min_batch_s: float, on_op: Callable[[int], None] | None) -> tuple[_TimingMode, Any]:
    """One instrumented forward on fresh inputs, buffers put back afterwards."""
    root = model if isinstance(model, torch.nn.Module) else None
    fresh = clone_inputs(inputs)
    try:
        with _buffers_restored(model), _ModuleStack(root) as modules, \
                _TimingMode(modules, timer, method, warmup, repeats, min_batch_s, on_op) as mode:
            output = call_model(model, fresh)
    except RooflineError:
        raise
    except Exception as exc:
        raise RooflineError(f"{label}: the model failed while being measured: {type(exc).__name__}: {exc}") from exc
    return mode, output


def measure(
    model: Any,
    inputs: Any = (),
    *,
    device: str | torch.device | None = None,
    method: str = "inline",
    name: str | None = None,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    forward_repeats: int | None = None,
    min_batch_s: float | None = None,
    profiler_runs: int = 1,
    grad: bool = False,
    clock: str = "wall",
    progress: bool = False,
) -> Measurement:
    """Time every aten op of ``model(*inputs)`` and the whole forward, on real tensors.

    device: move the model (nn.Module.to, in place) and the inputs there first; None
    keeps them where they are. Timing uses CUDA events on a GPU, perf_counter on CPU.
    method: "inline" (each op timed in ``warmup + repeats`` real forwards, median kept)
    or "replay" (each op re-run in isolation during one forward; see the module doc).
    warmup / repeats: warm-up and timed forwards (inline) or calls and batches (replay).
    forward_repeats: timed whole forwards for forward_s (default: ``repeats``).
    min_batch_s: replay only: the shortest timed batch (default 100 us CPU, 200 us CUDA).
    profiler_runs: forwards run under torch.profiler for the cross-check (0 skips it).
    grad: run with autograd on (default: inference, as analyze() does).
    clock: on CPU, "wall" (perf_counter) or "thread" (the calling thread's CPU time: with
    one torch thread on a busy machine, figures free of time spent descheduled).
    progress: show a rich progress bar.
    The caller's inputs are never written and the model's buffers are put back, so a
    forward after measure() gives what it would have before.
    """
    if method not in METHODS:
        raise RooflineError(f"measure: method {method!r} is not one of {', '.join(METHODS)}")
    if warmup < 0 or repeats < 1:
        raise RooflineError(f"measure: expected warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    model, inputs = _move(model, inputs, None if device is None else str(device))
    where = _device_of(model, inputs)
    if where not in ("cpu", "cuda"):
        raise RooflineError(f"measure: device {where!r} is not supported (cpu or cuda)")
    timer = timer_for(where, clock)
    min_batch = DEFAULT_MIN_BATCH_S[where] if min_batch_s is None else min_batch_s
    label = name or type(model).__name__
    passes = warmup + repeats if method == "inline" else 1

    samples: list[list[float]] = []
    first: _TimingMode | None = None
    output = None
    replay_timings: list[_OpTiming] = []
    with progress_bar(progress, "timing", passes) as advance, torch.set_grad_enabled(grad):
        for p in range(passes):
            on_op = (lambda done: advance(0, f"{label} pass {p + 1}/{passes} op {done}")) if progress else None
            mode, out = _timed_pass(model, inputs, label, timer, method, warmup, repeats, min_batch, on_op)
            if first is None:
                first, output = mode, out
            else:
                _check_same_ops(first.records, mode.records, label, p)
            if method == "replay":
                replay_timings = mode.timings
                samples.append(mode.seconds())
            elif p >= warmup:
                samples.append(mode.seconds())
            advance()
        timer.sync()
        forward_s = _time_forward(model, inputs, timer, warmup=1, repeats=forward_repeats or repeats)
        if profiler_runs > 0:
            profiler_s, profiler_kind = _profiler_total(model, inputs, where == "cuda", profiler_runs)
        else:
            profiler_s, profiler_kind = math.nan, "skipped"

    assert first is not None
    records = first.records
    table = pd.DataFrame(samples).T if samples and records else pd.DataFrame(index=range(len(records)))
    if method == "replay":
        measured = [t.median_s for t in replay_timings]
        fastest = [t.min_s for t in replay_timings]
        inner = [t.inner for t in replay_timings]
        mutates = [t.mutates for t in replay_timings]
        n_samples = [repeats] * len(records)
    else:
        measured = table.median(axis=1).tolist() if len(table.columns) else [math.nan] * len(records)
        fastest = table.min(axis=1).tolist() if len(table.columns) else [math.nan] * len(records)
        inner = [1] * len(records)
        mutates = [False] * len(records)
        n_samples = [len(samples)] * len(records)
    frame = pd.DataFrame(
        {
            "op": [r.packet for r in records],
            "module": [r.module for r in records],
            "measured_s": measured,
            "min_s": fastest,
            "repeats": n_samples,
            "inner": inner,
            "mutates": mutates,
        }
    )
    frame.index.name = "index"
    return Measurement(
        name=label,
        device=where,
        method=method,
        ops=frame[list(MEASURE_COLUMNS)],
        forward_s=forward_s,
        profiler_s=profiler_s,
        profiler_kind=profiler_kind,
        clock=clock,
        threads=torch.get_num_threads(),
        warmup=warmup,
        repeats=repeats,
        records=records,
        output=output,
    )


def _check_same_ops(first: list[OpRecord], again: list[OpRecord], label: str, pass_index: int) -> None:
    names = [r.op for r in first]
    later = [r.op for r in again]
    if names == later:
        return
    at = next((i for i, (a, b) in enumerate(zip(names, later)) if a != b), min(len(names), len(later)))
    got = later[at] if at < len(later) else "the end of the forward"
    want = names[at] if at < len(names) else "the end of the forward"
    raise RooflineError(
        f"{label}: forward {pass_index + 1} ran {got} at op {at} where the first ran {want}; "
        "per-op timing needs the same ops every forward (data-dependent control flow?)"
    )
