"""The predicted per-op timeline as a Chrome / Perfetto trace (JSON trace event format).

    doc = roofline.report.trace.chrome_trace(analysis)            # a dict, json-ready
    roofline.report.trace.write_trace(analysis, "predicted.json")
    roofline analyze gpt2 --trace predicted.json            # the same from the CLI

Ops run one after another (as the time model assumes): op i starts where op i-1 ends.
Each op is one complete ("ph": "X") event named as torch.profiler names it
("aten::mm"), with ``ts`` and ``dur`` in microseconds and ``args`` holding its FLOPs,
bytes, intensity, bound, module, shapes and the parts of its predicted time. Tracks
(threads of one process, "roofline predicted: <model> on <spec>"):

    ops       every op, in order (layout="single", the default), or one track per
              category (layout="category"): GEMM, Conv, Element-wise, ...
    modules   one span per run of consecutive ops inside the same module, nested by
              module path (the model's structure over time)
    counters  the predicted FLOP/s and byte/s of the op running at each moment

Side by side with a measured run: record it with torch.profiler and export its trace,

    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:  # + CUDA on a GPU
        model(*inputs)
    prof.export_chrome_trace("measured.json")

then either open both files in https://ui.perfetto.dev (one tab each, or "Open trace
file" twice; the op names match), or merge them into one file in which the predicted
process starts at the measured run's first aten op and sits under the measured one:

    roofline analyze model.py --trace both.json --trace-measured measured.json
    roofline.report.trace.write_trace(analysis, "both.json", measured="measured.json")

torch.profiler also records composite ops (aten::linear around aten::t and
aten::addmm); the predicted track holds the ops that ran below them, which are the
ones whose names and order match (see ``profiler_ops``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from roofline.count.categories import CATEGORIES
from roofline.errors import RooflineError
from roofline.report.text import display_op, title

__all__ = ["LAYOUTS", "chrome_trace", "load_trace", "merge_traces", "profiler_ops", "trace_name", "trace_text", "write_trace"]

#: Track layouts of the ops: one track for all, or one per category.
LAYOUTS = ("single", "category")
#: pid of the predicted process when the trace stands alone.
PREDICTED_PID = 1
_OPS_TID = 1
_MODULES_TID = 2
_FIRST_CATEGORY_TID = 10


def trace_name(op: str) -> str:
    """The name torch.profiler gives an op: "aten.mm" -> "aten::mm" (the namespace
    separator only; "symbolic.unify" -> "symbolic::unify")."""
    namespace, sep, rest = op.partition(".")
    return f"{namespace}::{rest}" if sep else op


def _boundaries_us(predicted_s: np.ndarray, start_us: float) -> np.ndarray:
    """Start of each op and end of the last, in microseconds rounded to the nanosecond,
    so that consecutive events (and the spans around them) share exact endpoints."""
    ends = np.concatenate([[0.0], np.cumsum(predicted_s)]) * 1e6
    return np.round(start_us + ends, 3)


def _number(value: Any) -> Any:
    """A JSON-safe number: NaN and infinities (unsupported ops' FLOPs) become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _op_args(row: Any) -> dict[str, Any]:
    args = {
        "index": int(row.Index),
        "module": row.module or "(top)",
        "module_type": row.module_type,
        "category": row.category,
        "dtype": row.dtype,
        "shapes": row.shapes,
        "flops": _number(row.flops),
        "bytes_read": _number(row.bytes_read),
        "bytes_written": _number(row.bytes_written),
        "intensity": _number(row.intensity),
        "bound": row.bound,
        "unit": row.unit,
        "predicted_us": _number(row.predicted_s * 1e6),
        "kernel_us": _number(row.kernel_s * 1e6),
        "compute_us": _number(row.compute_s * 1e6),
        "memory_us": _number(row.memory_s * 1e6),
        "overhead_us": _number(row.overhead_s * 1e6),
    }
    if not row.supported:
        args["unsupported"] = row.reason
    return args


def _metadata(pid: int, tid: int | None, kind: str, value: Any) -> dict[str, Any]:
    """A metadata event: kind "process_name"/"thread_name" (value: a label) or
    "process_sort_index"/"thread_sort_index" (value: an int)."""
    key = "name" if kind.endswith("_name") else "sort_index"
    event: dict[str, Any] = {"ph": "M", "pid": pid, "name": kind, "args": {key: value}}
    if tid is not None:
        event["tid"] = tid
    return event


def _module_spans(modules: list[str], module_types: list[str], bounds: np.ndarray, pid: int) -> list[dict[str, Any]]:
    """One "X" span per maximal run of consecutive ops whose module path starts with the
    same prefix, for every prefix depth: spans nest exactly as the module tree does."""
    paths = [m.split(".") if m else [] for m in modules]
    types = dict(zip(modules, module_types))
    depth = max((len(p) for p in paths), default=0)
    events = []
    for level in range(1, depth + 1):
        run_start, run_key = 0, None
        for i in range(len(paths) + 1):
            key = tuple(paths[i][:level]) if i < len(paths) and len(paths[i]) >= level else None
            if key != run_key:
                if run_key is not None:
                    ts, end = bounds[run_start], bounds[i]
                    events.append({
                        "ph": "X", "cat": "module", "name": ".".join(run_key), "pid": pid, "tid": _MODULES_TID,
                        "ts": float(ts), "dur": float(round(end - ts, 3)),
                        "args": {"module_type": types.get(".".join(run_key), ""), "ops": i - run_start},
                    })
                run_start, run_key = i, key
    return events


def chrome_trace(
    analysis: Any,
    *,
    layout: str = "single",
    start_us: float = 0.0,
    pid: int = PREDICTED_PID,
    modules: bool = True,
    counters: bool = True,
) -> dict[str, Any]:
    """The predicted timeline of ``analysis`` (a roofline.Analysis) as a Chrome trace.

    layout: "single" (every op on one track) or "category" (one track per category).
    start_us: timestamp of the first op, microseconds (0, or the measured run's start
    to line the two up). pid: the process id the predicted tracks belong to.
    modules / counters: add the module-span track / the FLOP/s and byte/s counters.
    Returns {"traceEvents": [...], "displayTimeUnit": "ns", "roofline": summary}.
    """
    if layout not in LAYOUTS:
        raise RooflineError(f"trace layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    ops = analysis.ops
    bounds = _boundaries_us(ops["predicted_s"].to_numpy(dtype=float), start_us)
    label = f"roofline predicted: {title(analysis)}"
    events: list[dict[str, Any]] = [
        _metadata(pid, None, "process_name", label),
        _metadata(pid, None, "process_sort_index", pid),
    ]
    category_tid = {name: _FIRST_CATEGORY_TID + i for i, name in enumerate(CATEGORIES)}
    if layout == "single":
        events.append(_metadata(pid, _OPS_TID, "thread_name", "ops (predicted)"))
        events.append(_metadata(pid, _OPS_TID, "thread_sort_index", _OPS_TID))
    else:
        for name in dict.fromkeys(ops["category"]):
            tid = category_tid.setdefault(name, _FIRST_CATEGORY_TID + len(category_tid))
            events.append(_metadata(pid, tid, "thread_name", f"{name} (predicted)"))
            events.append(_metadata(pid, tid, "thread_sort_index", tid))
    for position, row in enumerate(ops.itertuples()):
        ts, end = bounds[position], bounds[position + 1]
        events.append({
            "ph": "X",
            "cat": row.category,
            "name": trace_name(display_op(row.op, analysis.hw.kind)),  # as the spec's device runs it
            "pid": pid,
            "tid": _OPS_TID if layout == "single" else category_tid[row.category],
            "ts": float(ts),
            "dur": float(round(end - ts, 3)),
            "args": _op_args(row),
        })
    if modules and len(ops):
        events.append(_metadata(pid, _MODULES_TID, "thread_name", "modules (predicted)"))
        events.append(_metadata(pid, _MODULES_TID, "thread_sort_index", _MODULES_TID))
        events.extend(_module_spans(list(ops["module"].fillna("")), list(ops["module_type"].fillna("")), bounds, pid))
    if counters and len(ops):
        events.extend(_counter_events(ops, bounds, pid))
    summary = {key: _number(value) if isinstance(value, float) else value for key, value in analysis.summary().items()}
    return {"traceEvents": events, "displayTimeUnit": "ns", "roofline": summary}


def _counter_events(ops: Any, bounds: np.ndarray, pid: int) -> list[dict[str, Any]]:
    """Predicted FLOP/s and byte/s over time: each op's work over its predicted time."""
    seconds = ops["predicted_s"].to_numpy(dtype=float)
    flops = np.nan_to_num(ops["flops"].to_numpy(dtype=float))
    nbytes = np.nan_to_num(ops["bytes"].to_numpy(dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        flop_rate = np.where(seconds > 0, flops / seconds, 0.0)
        byte_rate = np.where(seconds > 0, nbytes / seconds, 0.0)
    events = []
    for i in range(len(ops)):
        if seconds[i] <= 0:  # a view: takes no time, so it never holds the counter
            continue
        events.append({"ph": "C", "name": "predicted FLOP/s", "pid": pid, "ts": float(bounds[i]),
                       "args": {"FLOP/s": float(flop_rate[i])}})
        events.append({"ph": "C", "name": "predicted B/s", "pid": pid, "ts": float(bounds[i]),
                       "args": {"B/s": float(byte_rate[i])}})
    for name, key in (("predicted FLOP/s", "FLOP/s"), ("predicted B/s", "B/s")):
        events.append({"ph": "C", "name": name, "pid": pid, "ts": float(bounds[-1]), "args": {key: 0.0}})
    return events


def load_trace(trace: Any) -> dict[str, Any]:
    """A Chrome trace given as a dict, a list of events, or the path of a JSON file."""
    if isinstance(trace, dict):
        document = trace
    elif isinstance(trace, list):
        document = {"traceEvents": trace}
    else:
        path = Path(trace)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RooflineError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RooflineError(f"{path}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise RooflineError(f"{path}: not a JSON trace: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        if isinstance(document, list):  # the trace event format allows a bare array
            document = {"traceEvents": document}
    if not isinstance(document, dict) or not isinstance(document.get("traceEvents"), list):
        raise RooflineError(f"{trace if not isinstance(trace, (dict, list)) else 'trace'}: expected a Chrome trace with a traceEvents list")
    return document


def profiler_ops(trace: Any) -> list[dict[str, Any]]:
    """The aten op events of a torch.profiler Chrome trace (dict or path), by start time.

    These are the complete events of category "cpu_op" whose name starts with "aten::";
    composite ops and the ops they call both appear (they nest in time).
    """
    events = load_trace(trace)["traceEvents"]
    found = [
        e for e in events
        if e.get("ph") == "X" and e.get("cat") == "cpu_op" and str(e.get("name", "")).startswith("aten::")
    ]
    return sorted(found, key=lambda e: float(e["ts"]))


def merge_traces(predicted: Any, measured: Any) -> dict[str, Any]:
    """One trace holding a measured run (torch.profiler's trace) and the predicted
    timeline, shifted so the first predicted op starts with the first measured aten op.

    predicted: a document from chrome_trace (or its path); measured: a torch.profiler
    trace (dict or path). The predicted events move to a pid the measured trace does not
    use. Returns the measured document with the predicted events appended.
    """
    predicted_doc = load_trace(predicted)
    measured_doc = load_trace(measured)
    measured_events = measured_doc["traceEvents"]
    aten = profiler_ops(measured_doc)
    if not aten:
        raise RooflineError("measured trace: no aten ops (cpu_op events named aten::...) to line up with")
    start_us = float(aten[0]["ts"])
    used = [e["pid"] for e in measured_events if isinstance(e.get("pid"), int) and not isinstance(e.get("pid"), bool)]
    pid = max(used, default=0) + 1
    own_ops = [e for e in predicted_doc["traceEvents"] if e.get("ph") in ("X", "C")]
    offset = start_us - min((float(e["ts"]) for e in own_ops), default=0.0)
    merged_events = list(measured_events)
    for event in predicted_doc["traceEvents"]:
        event = dict(event)
        event["pid"] = pid
        if "ts" in event:
            event["ts"] = round(float(event["ts"]) + offset, 3)
        if event.get("name") == "process_sort_index":
            event["args"] = {"sort_index": pid}
        merged_events.append(event)
    merged = {key: value for key, value in measured_doc.items() if key != "traceEvents"}
    merged["traceEvents"] = merged_events
    if "roofline" in predicted_doc:
        merged["roofline"] = predicted_doc["roofline"]
    return merged


def trace_text(analysis: Any, *, measured: Any = None, layout: str = "single") -> str:
    """The predicted timeline of ``analysis`` as Chrome trace JSON text, merged with a
    torch.profiler trace of the measured run when ``measured`` is given (merge_traces)."""
    document = chrome_trace(analysis, layout=layout)
    if measured is not None:
        document = merge_traces(document, measured)
    return json.dumps(document, allow_nan=False, separators=(",", ":"))


def write_trace(analysis: Any, path: str | Path, *, measured: Any = None, layout: str = "single") -> Path:
    """Write trace_text(analysis, ...) to ``path``; the file is complete or absent.
    Returns the path."""
    from roofline._io import write_text_atomic

    write_text_atomic(path, trace_text(analysis, measured=measured, layout=layout))
    return Path(path)
