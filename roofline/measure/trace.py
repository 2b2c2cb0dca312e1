"""Per-op times read from a torch.profiler (Kineto) Chrome trace of a run anywhere.

    run = read_profile("trace.json", recorded={"aten::addmm", "aten::relu", ...})
    run.ops        # one row per aten op of the trace, in start order: op, measured_s, ...
    run.device     # "cuda" when the trace holds device kernels, else "cpu"
    run.forward_s  # the span the ops cover (device kernels on a GPU, the ops on CPU)

The trace is what ``torch.profiler.profile(...).export_chrome_trace(path)`` writes:
complete events ("ph": "X") of category "cpu_op" (aten ops, nested: aten::linear holds
aten::t and aten::addmm), "cuda_runtime"/"cuda_driver" (the launches, on the thread of
the op that launched them) and "kernel"/"gpu_memcpy"/"gpu_memset" (device work). A
launch and the device work it started share ``args.correlation``.

Which aten op a kernel belongs to: the outermost op on the launching thread whose name
is one the analysis records (``recorded``), so composite ops that the capture sees only
through their parts (aten::linear, aten::layer_norm) are split the same way the
analysis counts them. Outermost ops with no recorded op inside are kept under their
own name (the join reports them as ops the analysis does not have). An op's device
time is the sum of the durations of the device events of every launch inside it; on a
CPU-only trace it is the op's own duration.
"""

from __future__ import annotations

import bisect
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from roofline.errors import RooflineError

__all__ = ["TRACE_COLUMNS", "TraceRun", "analysis_op_name", "read_profile", "trace_op_name"]

#: Columns of TraceRun.ops.
TRACE_COLUMNS = ("op", "measured_s", "start_us", "host_s", "kernels")
#: Event categories (lower case; Kineto's, and the capitalised ones of older torch).
OP_CATEGORIES = {"cpu_op", "operator"}
LAUNCH_CATEGORIES = {"cuda_runtime", "cuda_driver", "runtime", "driver"}
DEVICE_CATEGORIES = {"kernel", "gpu_memcpy", "gpu_memset", "memcpy", "memset"}


def trace_op_name(op: str) -> str:
    """The profiler's name of an analysis op: "aten.mm" -> "aten::mm"."""
    namespace, sep, rest = op.partition(".")
    return f"{namespace}::{rest}" if sep else op


def analysis_op_name(name: str) -> str:
    """The analysis' name of a profiler op: "aten::mm" -> "aten.mm"."""
    return name.replace("::", ".", 1)


@dataclass
class TraceRun:
    """The aten ops of one profiled run and their measured times.

    ops: one row per op in start order (TRACE_COLUMNS): op (analysis naming, "aten.mm"),
    measured_s (device seconds on a GPU trace, the op's duration on CPU), start_us (trace
    clock), host_s (the op's duration on its CPU thread), kernels (device events in it).
    forward_s: seconds from the first aten op's start to the last one's end (on a GPU
    trace, from the first device event launched inside an aten op to the end of the last).
    """

    path: str
    device: str
    ops: pd.DataFrame = field(repr=False)
    forward_s: float


def _load_events(path: str | Path) -> list[dict[str, Any]]:
    """The trace's event list; one-line RooflineErrors naming the file otherwise."""
    path = Path(path)
    try:
        if path.suffix == ".gz":  # torch.profiler.tensorboard_trace_handler writes .json.gz
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                document = json.load(handle)
        else:
            document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RooflineError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RooflineError(f"{path}: is a directory; give a torch.profiler trace (JSON)") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise RooflineError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RooflineError(f"{path}: not a JSON trace: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    events = document.get("traceEvents") if isinstance(document, dict) else document
    if not isinstance(events, list):
        raise RooflineError(f"{path}: expected a Chrome trace (a traceEvents list), as torch.profiler's export_chrome_trace writes")
    return [e for e in events if isinstance(e, dict) and e.get("ph") == "X" and _has_span(e)]


def _has_span(event: dict[str, Any]) -> bool:
    return isinstance(event.get("ts"), (int, float)) and isinstance(event.get("dur"), (int, float))


def _category(event: dict[str, Any]) -> str:
    return str(event.get("cat", "")).lower()


def _correlation(event: dict[str, Any]) -> Any:
    args = event.get("args")
    return args.get("correlation") if isinstance(args, dict) else None


@dataclass
class _Open:
    """An aten op whose span the walk is inside."""

    event: dict[str, Any]
    end_us: float
    chosen: bool
    chosen_inside: bool = False


def _outermost(ops: list[dict[str, Any]], recorded: set[str] | None) -> list[dict[str, Any]]:
    """The ops of one thread the kernels are attributed to (see the module doc): the
    outermost recorded ones, and outermost ops with no recorded op inside."""
    picked: list[dict[str, Any]] = []
    stack: list[_Open] = []

    def close(entry: _Open) -> None:
        if stack:
            stack[-1].chosen_inside |= entry.chosen or entry.chosen_inside
        elif not entry.chosen and not entry.chosen_inside:
            picked.append(entry.event)

    for event in sorted(ops, key=lambda e: (float(e["ts"]), -float(e["dur"]))):
        start = float(event["ts"])
        while stack and stack[-1].end_us <= start:
            close(stack.pop())
        inside_chosen = any(entry.chosen for entry in stack)
        chosen = not inside_chosen and (recorded is None or event["name"] in recorded)
        if chosen:
            picked.append(event)
        stack.append(_Open(event, start + float(event["dur"]), chosen))
    while stack:
        close(stack.pop())
    return sorted(picked, key=lambda e: float(e["ts"]))


def _external_id(event: dict[str, Any]) -> Any:
    args = event.get("args")
    return args.get("External id") if isinstance(args, dict) else None


class _Owners:
    """Which picked op covers a moment of a thread: picked ops of one thread never overlap."""

    def __init__(self, picked: dict[Any, list[tuple[int, dict[str, Any]]]]):
        self._spans = {thread: ([float(e["ts"]) for _, e in ops], [float(e["ts"]) + float(e["dur"]) for _, e in ops],
                                [i for i, _ in ops]) for thread, ops in picked.items()}

    def at(self, thread: Any, ts_us: float) -> int | None:
        """The index of the picked op of ``thread`` running at ``ts_us``, or None."""
        if thread not in self._spans:
            return None
        starts, ends, index = self._spans[thread]
        at = bisect.bisect_right(starts, ts_us) - 1
        return index[at] if at >= 0 and ts_us <= ends[at] else None


def _attribute(owners: _Owners, ops: dict[Any, list[dict[str, Any]]], launches: dict[Any, list[dict[str, Any]]],
               device: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Device events per picked op: through the launch with the event's correlation id on
    the op's thread inside its span; failing that (a trace without launch events, or
    with them on another thread), through the External id of the aten op that launched it."""
    by_correlation: dict[Any, list[dict[str, Any]]] = {}
    for k in device:
        by_correlation.setdefault(_correlation(k), []).append(k)
    owned: dict[int, list[dict[str, Any]]] = {}
    taken: set[int] = set()
    for thread, calls in launches.items():
        for launch in calls:
            index = owners.at(thread, float(launch["ts"]))
            for k in by_correlation.get(_correlation(launch), []) if index is not None else []:
                if id(k) not in taken:
                    taken.add(id(k))
                    owned.setdefault(index, []).append(k)
    by_external = {_external_id(e): owners.at(thread, float(e["ts"]))
                   for thread, events in ops.items() for e in events if _external_id(e) is not None}
    for k in device:
        index = by_external.get(_external_id(k)) if id(k) not in taken else None
        if index is not None:
            taken.add(id(k))
            owned.setdefault(index, []).append(k)
    return owned


def read_profile(path: str | Path, recorded: set[str] | None = None) -> TraceRun:
    """The aten ops of a torch.profiler Chrome trace and their times (see the module doc).

    recorded: profiler names ("aten::addmm") of the ops the analysis records; kernels go
    to the outermost op so named. None: every outermost aten op. A RooflineError naming
    the file when it is missing, not JSON, not a trace, or holds no aten op.
    """
    ops, launches, device = _classify(_load_events(path))
    if not ops:
        raise RooflineError(f"{path}: no aten ops (cpu_op events named aten::...); record the run with "
                            "torch.profiler.profile(activities=[ProfilerActivity.CPU, ...]) and export_chrome_trace")
    picked = sorted(((thread, e) for thread, events in ops.items() for e in _outermost(events, recorded)),
                    key=lambda item: float(item[1]["ts"]))
    by_thread: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
    for index, (thread, e) in enumerate(picked):
        by_thread.setdefault(thread, []).append((index, e))
    owned = _attribute(_Owners(by_thread), ops, launches, device) if device else {}
    rows = [_row(e, owned.get(index, []) if device else None) for index, (_, e) in enumerate(picked)]
    frame = pd.DataFrame(rows)
    if device:
        work = [k for events in owned.values() for k in events] + _launched_inside(ops, launches, device)
        span_s = _span_s(work)
    else:
        span_s = _span_s([e for events in ops.values() for e in events])
    return TraceRun(str(path), "cuda" if device else "cpu", frame[list(TRACE_COLUMNS)], span_s)


def _classify(events: list[dict[str, Any]]) -> tuple[dict[Any, list[dict[str, Any]]], dict[Any, list[dict[str, Any]]],
                                                       list[dict[str, Any]]]:
    """(aten ops by thread, launches by thread, device events) of a trace's events."""
    ops: dict[Any, list[dict[str, Any]]] = {}
    launches: dict[Any, list[dict[str, Any]]] = {}
    device: list[dict[str, Any]] = []
    for e in events:
        category, thread = _category(e), (e.get("pid"), e.get("tid"))
        if category in OP_CATEGORIES and str(e.get("name", "")).startswith("aten::"):
            ops.setdefault(thread, []).append(e)
        elif category in LAUNCH_CATEGORIES and _correlation(e) is not None:
            launches.setdefault(thread, []).append(e)
        elif category in DEVICE_CATEGORIES:
            device.append(e)
    return ops, launches, device


def _row(op: dict[str, Any], work: list[dict[str, Any]] | None) -> dict[str, Any]:
    """One TraceRun.ops row: on a GPU trace (``work``: its device events) their summed
    time, else the op's own duration."""
    host_us = float(op["dur"])
    device_us = host_us if work is None else sum(float(k["dur"]) for k in work)
    return {"op": analysis_op_name(str(op["name"])), "measured_s": device_us / 1e6, "start_us": float(op["ts"]),
            "host_s": host_us / 1e6, "kernels": 0 if work is None else len(work)}


def _span_s(events: list[dict[str, Any]]) -> float:
    """Seconds from the first event's start to the last one's end (NaN for none)."""
    if not events:
        return float("nan")
    return (max(float(e["ts"]) + float(e["dur"]) for e in events) - min(float(e["ts"]) for e in events)) / 1e6


def _merged_spans(ops: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Starts and ends (us) of the disjoint spans the ops of one thread cover."""
    starts: list[float] = []
    ends: list[float] = []
    for e in sorted(ops, key=lambda e: float(e["ts"])):
        start, end = float(e["ts"]), float(e["ts"]) + float(e["dur"])
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _launched_inside(ops: dict[Any, list[dict[str, Any]]], launches: dict[Any, list[dict[str, Any]]],
                     device: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Device events launched inside any aten op (a composite's own kernels included):
    with the picked ops' events, they set the forward's span on the device."""
    by_correlation: dict[Any, list[dict[str, Any]]] = {}
    for k in device:
        by_correlation.setdefault(_correlation(k), []).append(k)
    work = []
    for thread, events in ops.items():
        starts, ends = _merged_spans(events)
        for launch in launches.get(thread, []):
            at = bisect.bisect_right(starts, float(launch["ts"])) - 1
            if at >= 0 and float(launch["ts"]) <= ends[at]:
                work.extend(by_correlation.get(_correlation(launch), []))
    return work
