"""Per-op timing: a CaptureMode that times every op it records, through capture's hooks.

run_op times the one real call (inline) or replays the op first (replay); on_record
files that timing under the record just made, so timings and records pair by index.
A roofline.symbolic_op call is one op: on_record times it by replaying it on its
recorded arguments (OpRecord.python_call) with the dispatch modes off.
"""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch.utils._python_dispatch import _disable_current_modes

from roofline.capture import CaptureMode, OpRecord
from roofline.capture.inputs import clone_inputs, tensors_in
from roofline.measure.timing import MAX_INNER, Timer, time_callable

__all__ = ["METHODS", "OpTiming", "OpTimingMode"]

#: Ways this mode times the ops (see roofline.measure.run, whose "profile" reads them from
#: torch.profiler instead: roofline.measure.profiled).
METHODS = ("inline", "replay")
#: At most this many bytes of clones held for one replay batch of an in-place op.
MAX_CLONE_BYTES = 256e6


@dataclass
class OpTiming:
    """How one op was timed (seconds per call)."""

    median_s: float  # replay: median seconds per call; inline: NaN until the mark is read
    min_s: float
    inner: int  # calls per timed batch (1 inline)
    mutates: bool  # replay: timed on clones of the arguments it writes
    mark: Any = None  # inline: a Timer.end() mark, read after the forward


class OpTimingMode(CaptureMode):
    """CaptureMode that also times each op: inline (its one real call) or by replay.

    timings[i] is the timing of records[i]; seconds() reads them after the forward.
    on_op(n), if given, is called after the n-th record (a progress bar's hook).
    """

    def __init__(self, model: Any, timer: Timer, method: str, warmup: int, repeats: int,
                 min_batch_s: float, on_op: Callable[[int], None] | None = None):
        super().__init__(model)
        self.timer = timer
        self.method = method
        self.warmup = warmup
        self.repeats = repeats
        self.min_batch_s = min_batch_s
        self.on_op = on_op
        self.timings: list[OpTiming] = []
        self._last: OpTiming | None = None  # the timing of the op run_op just ran

    def run_op(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Time ``func`` and return the output of its one real call."""
        if self.method == "replay":
            self._last = self._replay(func, args, kwargs)
            return func(*args, **kwargs)
        started = self.timer.begin()
        out = func(*args, **kwargs)
        self._last = OpTiming(math.nan, math.nan, 1, False, self.timer.end(started))
        return out

    def on_record(self, record: OpRecord, out: Any) -> None:
        """File the timing of the op just recorded (a symbolic op is timed here)."""
        if record.python_call is not None:
            timing = self._time_python_call(record.python_call)
        else:
            timing, self._last = self._last, None
        assert timing is not None, "run_op did not time this op"
        self.timings.append(timing)
        if self.on_op is not None:
            self.on_op(len(self.records))

    def seconds(self) -> list[float]:
        """Per-op seconds of this pass: inline marks read, replay medians as they are."""
        self.timer.sync()
        return [t.median_s if t.mark is None else self.timer.seconds(t.mark) for t in self.timings]

    def _time_python_call(self, python_call: Any) -> OpTiming:
        # A roofline.symbolic_op call has just run: time it as one unit by replaying it on
        # its recorded arguments, with every dispatch mode off so its aten ops run bare.
        # Each timed call gets fresh copies of the tensor arguments, so a function that
        # writes them cannot change what the model computed. Inline: one timed call per
        # forward, like the aten ops; replay: batches, like them.
        replay = self.method == "replay"
        with _disable_current_modes():
            median, fastest, inner = time_callable(
                lambda: None, self.timer, warmup=self.warmup if replay else 1,
                repeats=self.repeats if replay else 1, min_batch_s=self.min_batch_s if replay else 0.0,
                prepare=lambda k: [(clone_inputs(python_call.args), clone_inputs(python_call.kwargs)) for _ in range(k)],
                call=lambda item: python_call.fn(*item[0], **item[1]))
        return OpTiming(median, fastest, inner, False)

    def _replay(self, func: Any, args: tuple, kwargs: dict) -> OpTiming:
        """Time ``func`` on its arguments in batches, before its real call; arguments it
        writes are cloned for every call, random ops get their generator state back."""
        positions, names = _written_arguments(func)
        written = [args[i] for i in positions if i < len(args)] + [kwargs[n] for n in names if n in kwargs]
        written_bytes = _nbytes(written)
        context = _rng_restored(self.timer.device == "cuda") if _is_random(func) else nullcontext()
        with context:
            if not written_bytes:
                median, fastest, inner = time_callable(
                    lambda: func(*args, **kwargs), self.timer, warmup=self.warmup,
                    repeats=self.repeats, min_batch_s=self.min_batch_s)
            else:
                def prepare(k: int) -> list[tuple[tuple, dict]]:
                    return [_fresh_written(args, kwargs, positions, names) for _ in range(k)]

                cap = max(1, int(MAX_CLONE_BYTES // written_bytes))
                median, fastest, inner = time_callable(
                    lambda: None, self.timer, warmup=self.warmup, repeats=self.repeats,
                    min_batch_s=self.min_batch_s, max_inner=min(MAX_INNER, cap),
                    prepare=prepare, call=lambda item: func(*item[0], **item[1]))
        return OpTiming(median, fastest, inner, written_bytes > 0)


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


def _fresh_written(args: tuple, kwargs: dict, positions: set[int], names: set[str]) -> tuple[tuple, dict]:
    """The op's arguments with those it writes cloned (the others shared)."""
    new_args = tuple(clone_inputs(a) if i in positions else a for i, a in enumerate(args))
    new_kwargs = {n: (clone_inputs(v) if n in names else v) for n, v in kwargs.items()}
    return new_args, new_kwargs


def _nbytes(value: Any) -> int:
    """Bytes of the tensors in ``value`` (numel x element size)."""
    return sum(t.numel() * t.element_size() for t in tensors_in(value))


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
