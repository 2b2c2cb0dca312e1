"""Per-op times from torch.profiler: each op's span in uninstrumented forwards.

    samples = profiled_op_seconds(model, inputs, names, warmup=2, repeats=7)
    samples[f][i]   # seconds of op i (names[i], analysis naming) in timed forward f; NaN if unpaired

Why a second way to time ops inline: an op timed from Python inside a dispatch mode is
called through its OpOverload, whose generic argument parsing runs inside the timed span
(on this kind of machine aten._embedding_bag costs 15 us called so against 6 us for the
whole F.embedding_bag), and the mode's own Python between ops runs the op with colder
caches. Ops of a few microseconds then measure at up to twice what they take in a forward
(the per-op sum exceeds the forward timed whole). The profiler's RecordFunction span opens
at the dispatcher, after argument parsing, in a forward with no dispatch mode in it; its
own cost per op is a fraction of a microsecond. Its spans are wall-clock times.

Each forward is profiled on its own (fresh inputs, the model's buffers put back), its ops
read by roofline.measure.trace.read_profile (the outermost op the analysis records: the
addmm inside aten::linear) and paired with the analysis' ops as a diff pairs lines
(roofline.measure.profile.join_trace), so an op the profiler does not show (a symbolic
op, whose aten ops it shows instead) is left unpaired, not shifted onto its neighbours.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Callable

from roofline.capture import call_model
from roofline.capture.inputs import clone_inputs
from roofline.measure.profile import join_trace
from roofline.measure.trace import read_profile, trace_op_name

__all__ = ["profiled_op_seconds"]


def profiled_op_seconds(model: Any, inputs: Any, names: list[str], *, warmup: int, repeats: int,
                        buffers_restored: Callable[[Any], Any], on_forward: Callable[[], None] | None = None
                        ) -> list[list[float]]:
    """Per timed forward, per op of ``names`` (analysis op names in execution order): the
    op's span in a torch.profiler trace of a forward run with no dispatch mode (seconds),
    NaN where the trace holds no op to pair with it. ``warmup`` profiled forwards come
    first and are dropped (the first starts the profiler's machinery). buffers_restored:
    a context manager factory that puts the model's buffers back after each forward.
    on_forward: called after every forward (a progress bar's hook)."""
    from torch.profiler import ProfilerActivity, profile

    recorded = {trace_op_name(name) for name in names}
    samples: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="roofline-profile-") as folder:
        for index in range(warmup + repeats):
            fresh = clone_inputs(inputs)
            with buffers_restored(model), profile(activities=[ProfilerActivity.CPU]) as prof:
                call_model(model, fresh)
            if index >= warmup:
                path = Path(folder) / f"forward-{index}.json"
                prof.export_chrome_trace(str(path))
                samples.append(_paired_seconds(names, path, recorded))
            if on_forward is not None:
                on_forward()
    return samples


def _paired_seconds(names: list[str], path: Path, recorded: set[str]) -> list[float]:
    """Seconds of each of ``names`` in one forward's trace (NaN where unpaired)."""
    ops = read_profile(path, recorded).ops
    seconds = [math.nan] * len(names)
    measured = ops["measured_s"].to_numpy(dtype=float)
    for analysis_index, trace_index in join_trace(names, list(ops["op"])):
        seconds[analysis_index] = float(measured[trace_index])
    return seconds
