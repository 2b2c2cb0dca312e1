"""measure(): time every aten op of a real forward pass, and the forward as a whole.

    m = roofline.measure(model, inputs)                  # CPU: perf_counter
    m = roofline.measure(model, inputs, device="cuda")   # CUDA events + synchronize
    m.ops          # one row per aten op, in execution order: op, module, measured_s, ...
    m.forward_s    # median time of the whole forward, uninstrumented
    m.profiler_s   # torch.profiler's summed self time per forward (CPU, or CUDA kernels)

The forward runs under a dispatch mode (roofline.measure.per_op.OpTimingMode, a
roofline.capture.CaptureMode, so the ops and their indices are the ones analyze()
records). Two ways to time each op:

* ``method="inline"`` (default): each op is timed where it runs, on its one real call,
  in ``warmup + repeats`` forwards; the median over the timed forwards is kept. The op
  sees the cache state, allocator state and data of a real forward, so the per-op times
  add up to the forward (less the Python between ops). Nothing runs twice, so in-place
  ops need no copies; the inputs are cloned for every forward and the model's buffers
  are put back after each, so every forward starts from the same state.
* ``method="profile"``: one forward under the dispatch mode records the ops (its inline
  times kept only for ops the profiler does not show: a symbolic op); then ``warmup +
  repeats`` forwards with no dispatch mode run under torch.profiler, each op's span
  (opened at the dispatcher, after argument parsing) paired with the records as a diff
  pairs lines, the median over the timed forwards kept (roofline.measure.profiled).
  Inline timing calls each op from Python through its OpOverload, whose generic argument
  parsing lands inside the timed span: ops of a few microseconds measure up to twice
  what they take in a forward. Profiler spans are wall-clock times whatever ``clock``.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pandas as pd
import torch

from roofline._io import progress as progress_bar
from roofline.capture import OpRecord, call_model
from roofline.capture.inputs import cast_inputs, clone_inputs, tensors_in
from roofline.errors import RooflineError
from roofline.measure.per_op import METHODS as MODE_METHODS
from roofline.measure.per_op import OpTiming, OpTimingMode
from roofline.measure.profiled import profiled_op_seconds
from roofline.measure.timing import DEFAULT_REPEATS, DEFAULT_WARMUP, Timer, page_faults, timer_for

__all__ = ["Measurement", "measure", "MEASURE_COLUMNS", "METHODS"]

#: Ways measure() times the ops (see the module doc).
METHODS = (*MODE_METHODS, "profile")
#: Columns of Measurement.ops.
MEASURE_COLUMNS = ("op", "module", "measured_s", "min_s", "repeats", "inner", "mutates")
#: A replay batch lasts at least this long (s): perf_counter and CUDA events both
#: resolve well below it, and on a GPU it keeps the launch queue full.
DEFAULT_MIN_BATCH_S = {"cpu": 100e-6, "cuda": 200e-6}


@dataclass
class Measurement:
    """Measured times of one model's forward on one device.

    ops: one row per aten op in execution order, indexed by op index (the same index as
    Analysis.ops): op ("aten.mm"), module, measured_s (median seconds of the op), min_s,
    repeats (timed samples), inner (calls per sample: 1 inline), mutates (replay only:
    timed on clones of the arguments it writes).
    forward_s: median seconds of the whole forward, uninstrumented.
    page_faults: median page faults per uninstrumented forward (measure.timing.page_faults;
    NaN where the OS does not say): pages the forward wrote fresh, which glibc's allocator
    handed out anew (large blocks always, smaller ones after it trimmed its heap).
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
    page_faults: float = math.nan

    @property
    def ops_total_s(self) -> float:
        """Sum of the per-op medians (s): the forward's op time without Python in between."""
        return float(self.ops["measured_s"].sum())

    @property
    def other_s(self) -> float:
        """Seconds of the forward spent in no op (Other: Python glue, dispatch between ops,
        garbage collection): the whole forward less the sum of the per-op medians. Negative
        when the per-op times include more than the forward does (replay, instrumentation)."""
        return self.forward_s - self.ops_total_s

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
            "other_s": self.other_s,
            "profiler_s": self.profiler_s,
            "profiler_kind": self.profiler_kind,
            "page_faults": self.page_faults,
            "ops_over_forward": self.ops_total_s / self.forward_s if self.forward_s else math.nan,
            "profiler_over_forward": self.profiler_s / self.forward_s if self.forward_s else math.nan,
        }



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
    min_batch_s: replay only: the shortest timed batch in seconds (default 100 us CPU,
    200 us CUDA).
    profiler_runs: forwards run under torch.profiler for the cross-check (0 skips it).
    grad: run with autograd on (default: inference, as analyze() does).
    clock: on CPU, "wall" (perf_counter) or "thread" (the calling thread's CPU time: with
    one torch thread on a busy machine, figures free of time spent descheduled).
    progress: show a rich progress bar.
    The caller's inputs are never written and the model's buffers are put back, so a
    forward after measure() gives what it would have before.
    """
    _check_arguments(method, warmup, repeats)
    model, inputs = _move(model, inputs, None if device is None else str(device))
    where = _device_of(model, inputs)
    if where not in ("cpu", "cuda"):
        raise RooflineError(f"measure: device {where!r} is not supported (cpu or cuda)")
    if method == "profile" and where != "cpu":
        raise RooflineError("measure: method 'profile' reads CPU op spans; on a GPU time ops inline, or compare "
                            "a profiler trace of the run (validate --profile)")
    timer = timer_for(where, clock)
    min_batch = DEFAULT_MIN_BATCH_S[where] if min_batch_s is None else min_batch_s
    label = name or type(model).__name__
    passes = {"inline": warmup + repeats, "replay": 1, "profile": 1 + warmup + repeats}[method]

    with progress_bar(progress, "timing", passes) as advance, torch.set_grad_enabled(grad):
        step = advance if progress else None
        fallback = None  # profile: the recording pass's inline times, for ops the profiler does not show
        if method == "profile":
            first, (fallback,) = _timed_passes(model, inputs, label, timer, "inline", 0, 1, min_batch, step)
            samples = profiled_op_seconds(model, inputs, [r.packet for r in first[0].records], warmup=warmup,
                                          repeats=repeats, buffers_restored=_buffers_restored, on_forward=step)
        else:
            first, samples = _timed_passes(model, inputs, label, timer, method, warmup, repeats, min_batch, step)
        timer.sync()
        forward_s, faults = _time_forward(model, inputs, timer, warmup=1, repeats=forward_repeats or repeats)
        if profiler_runs > 0:
            profiler_s, profiler_kind = _profiler_total(model, inputs, where == "cuda", profiler_runs)
        else:
            profiler_s, profiler_kind = math.nan, "skipped"

    mode, output = first
    return Measurement(
        name=label,
        device=where,
        method=method,
        ops=_ops_frame(mode.records, method, samples, mode.timings, repeats, fallback),
        forward_s=forward_s,
        profiler_s=profiler_s,
        profiler_kind=profiler_kind,
        clock=clock,
        threads=torch.get_num_threads(),
        warmup=warmup,
        repeats=repeats,
        records=mode.records,
        output=output,
        page_faults=faults,
    )


def _check_arguments(method: str, warmup: int, repeats: int) -> None:
    if method not in METHODS:
        raise RooflineError(f"measure: method {method!r} is not one of {', '.join(METHODS)}")
    if warmup < 0 or repeats < 1:
        raise RooflineError(f"measure: expected warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")


# --------------------------------------------------------------------------- the model and its inputs


def _move(model: Any, inputs: Any, device: str | None) -> tuple[Any, Any]:
    """The model moved to ``device`` (in place, nn.Module.to) and its inputs with it,
    through capture's one input path; both unchanged for device None."""
    if device is None:
        return model, inputs
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
    return model, cast_inputs(inputs, None, device)


def _is_fake(t: torch.Tensor) -> bool:
    return type(t).__name__ == "FakeTensor"


def _device_of(model: Any, inputs: Any) -> str:
    """The one device type the model's parameters, buffers and inputs are on ("cpu" when
    there are no tensors); a RooflineError for meta or fake tensors, or several devices."""
    tensors = tensors_in(inputs)
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


# --------------------------------------------------------------------------- per-op passes


def _timed_pass(model: Any, inputs: Any, label: str, timer: Timer, method: str, warmup: int, repeats: int,
                min_batch_s: float, on_op: Callable[[int], None] | None) -> tuple[OpTimingMode, Any]:
    """One instrumented forward on fresh inputs, buffers put back afterwards."""
    fresh = clone_inputs(inputs)
    try:
        with _buffers_restored(model), \
                OpTimingMode(model, timer, method, warmup, repeats, min_batch_s, on_op) as mode:
            output = call_model(model, fresh)
    except RooflineError:
        raise
    except Exception as exc:
        raise RooflineError(f"{label}: the model failed while being measured: {type(exc).__name__}: {exc}") from exc
    return mode, output


def _timed_passes(model: Any, inputs: Any, label: str, timer: Timer, method: str, warmup: int, repeats: int,
                  min_batch_s: float, advance: Callable[..., None] | None
                  ) -> tuple[tuple[OpTimingMode, Any], list[list[float]]]:
    """Every instrumented forward: ((the first pass's mode, its output), per-op seconds of
    each timed pass). Inline: ``warmup + repeats`` passes, the warm-ups' times dropped;
    replay: one pass. Every pass must run the ops of the first."""
    passes = warmup + repeats if method == "inline" else 1
    samples: list[list[float]] = []
    first: tuple[OpTimingMode, Any] | None = None
    for p in range(passes):
        on_op = None
        if advance is not None:
            on_op = lambda done, p=p: advance(0, f"{label} pass {p + 1}/{passes} op {done}")  # noqa: E731
        mode, out = _timed_pass(model, inputs, label, timer, method, warmup, repeats, min_batch_s, on_op)
        if first is None:
            first = (mode, out)
        else:
            _check_same_ops(first[0].records, mode.records, label, p)
        if method == "replay" or p >= warmup:
            samples.append(mode.seconds())
        if advance is not None:
            advance()
    assert first is not None
    return first, samples


def _check_same_ops(first: list[OpRecord], again: list[OpRecord], label: str, pass_index: int) -> None:
    """A RooflineError unless a later pass ran the first pass's ops, in order."""
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


def _ops_frame(records: list[OpRecord], method: str, samples: list[list[float]], timings: list[OpTiming],
               repeats: int, fallback: list[float] | None = None) -> pd.DataFrame:
    """Measurement.ops: one row per record (MEASURE_COLUMNS), indexed by op index.

    Inline and profile: median and minimum over the timed passes' samples (NaN samples,
    ops a profile did not pair, left out; an op with none takes its ``fallback`` time, the
    recording pass's inline one); replay: the one pass's per-op batch statistics
    (``timings``)."""
    n = len(records)
    if method == "replay":
        measured = [t.median_s for t in timings]
        fastest = [t.min_s for t in timings]
        inner = [t.inner for t in timings]
        mutates = [t.mutates for t in timings]
        n_samples = [repeats] * n
    else:
        table = pd.DataFrame(samples, dtype=float).T if samples and records else pd.DataFrame(index=range(n))
        if fallback is not None:
            table[len(table.columns)] = pd.Series(fallback, index=table.index).where(table.isna().all(axis=1))
        measured = table.median(axis=1).tolist() if len(table.columns) else [math.nan] * n
        fastest = table.min(axis=1).tolist() if len(table.columns) else [math.nan] * n
        inner, mutates = [1] * n, [False] * n
        n_samples = table.notna().sum(axis=1).astype(int).tolist() if len(table.columns) else [0] * n
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
    return frame[list(MEASURE_COLUMNS)]


# --------------------------------------------------------------------------- cross-checks


def _time_forward(model: Any, inputs: Any, timer: Timer, warmup: int, repeats: int) -> tuple[float, float]:
    """Median seconds and median page faults of ``repeats`` whole forwards after ``warmup``
    (each on fresh inputs; the faults counted over the timed span only)."""
    samples, faults = [], []
    for i in range(warmup + repeats):
        fresh = clone_inputs(inputs)
        with _buffers_restored(model):
            before = page_faults()
            with timer.span() as elapsed:
                call_model(model, fresh)
            after = page_faults()
        if i >= warmup:
            samples.append(elapsed[0])
            faults.append(after - before)
    return statistics.median(samples), statistics.median(faults)


def _profiler_total(model: Any, inputs: Any, on_cuda: bool, runs: int) -> tuple[float, str]:
    """torch.profiler's summed self time per forward (s): CPU self time, or CUDA kernel time."""
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
