"""Terminal tables (rich) of the results the ``roofline`` command prints: an analysis, a
sweep, a comparison, a calibration, a parallel plan, the hardware specs and the zoo.

Printing only reads: every function takes a result already computed and a rich Console,
formats numbers with roofline.units and prints; none predicts, measures or loads a spec.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console

from roofline.report.layout import MISSING, is_nan, number, percent, signed_percent, table
from roofline.report.text import clean, display_op, dtype_note, header, short_shapes
from roofline.units import format_seconds, si

__all__ = [
    "MISSING", "VIEWS", "table", "signed_percent", "print_analysis", "print_view", "print_sweep", "print_comparison",
    "print_calibration", "print_plan", "print_hardware_list", "print_hardware", "print_zoo",
]

#: The breakdowns ``print_view`` draws (``roofline analyze --by``).
VIEWS = ("category", "op", "module")


def _module(name: str) -> str:
    return clean(name) or "(top)"


def _op(name: str, kind: str = "") -> str:
    return clean(display_op(name, kind).removeprefix("aten."))


# --------------------------------------------------------------------------- analyze
def print_header(analysis: Any, console: Console, how: str = "add --dtype {}") -> None:
    """What was analysed and on which spec, the totals, and the fp32-on-a-GPU note."""
    summary = analysis.summary()
    console.print(header(analysis))
    overhead = summary["predicted_s"] - summary["kernel_s"]
    console.print(f"{summary['ops']} aten ops · {si(summary['total_flops'], 'FLOP')} · {si(summary['total_bytes'], 'B')} · "
                  f"{number(summary['intensity'])} FLOP/B")
    console.print(f"predicted {format_seconds(summary['predicted_s'])}: kernels {format_seconds(summary['kernel_s'])} "
                  f"+ per-op overhead {format_seconds(overhead)}")
    if summary.get("between_ops_s"):
        console.print(f"+ Python between ops (module calls) {format_seconds(summary['between_ops_s'])}: "
                      f"a forward of {format_seconds(summary['predicted_s'] + summary['between_ops_s'])} on the host")
    note = dtype_note(analysis.workload.dtype, analysis.hw, how)
    if note:
        console.print(note, style="yellow")


def print_top(analysis: Any, console: Console, top: int = 10) -> None:
    """The costliest ops, calls of one op on the same shapes grouped with their count."""
    kind = analysis.hw.kind
    rows = [
        [_op(row.op, kind), short_shapes(row.shapes), int(row["count"]), format_seconds(row.predicted_s),
         percent(row.share), number(row.intensity), row.bound]
        for _, row in analysis.top_grouped(top).iterrows()
    ]
    console.print(table(f"Top {len(rows)} ops by predicted time (same op and shapes: one row, all calls)",
                        ["op", "input shapes", "calls", "time", "share", "FLOP/B", "bound"], rows, names=2))


def _category_rows(analysis: Any, all_categories: bool) -> list[list[Any]]:
    frame = analysis.by_category()
    return [
        [name, format_seconds(row.predicted_s), percent(row.share), si(row.flops, "FLOP"), si(row.bytes, "B"), int(row.ops)]
        for name, row in frame.iterrows() if all_categories or row.ops > 0 or name == "Total"
    ]


def print_view(analysis: Any, console: Console, by: str = "category", depth: int | None = 1, *,
               all_categories: bool = False, top: int = 10) -> None:
    """One breakdown of an Analysis: by "category" (the seed's layout; categories with
    no op only when ``all_categories``), by "op" (aten op name) or by "module" (paths
    cut to ``depth`` levels; the ``top`` costliest)."""
    if by == "category":
        rows = _category_rows(analysis, all_categories)
        console.print(table("Runtime by category (predicted)", ["category", "time", "share", "FLOPs", "bytes", "ops"], rows))
    elif by == "op":
        kind = analysis.hw.kind
        frame = analysis.by_op().head(max(top, 0))
        rows = [[_op(name, kind), row.category, int(row["count"]), format_seconds(row.predicted_s), percent(row.share),
                 si(row.flops, "FLOP"), si(row.bytes, "B")] for name, row in frame.iterrows()]
        console.print(table(f"Runtime by op (predicted, top {len(rows)})",
                            ["op", "category", "calls", "time", "share", "FLOPs", "bytes"], rows, names=2))
    elif by == "module":
        frame = analysis.by_module(depth).head(max(top, 0))
        rows = [[_module(name), int(row.ops), format_seconds(row.predicted_s), percent(row.share), si(row.flops, "FLOP"),
                 si(row.bytes, "B")] for name, row in frame.iterrows()]
        levels = "full paths" if depth is None else f"depth {depth}"
        console.print(table(f"Runtime by module ({levels}, top {len(rows)})",
                            ["module", "ops", "time", "share", "FLOPs", "bytes"], rows))
    else:
        raise ValueError(f"unknown view {by!r}: expected one of {', '.join(VIEWS)}")


def print_host(analysis: Any, console: Console) -> None:
    """A training step's host-side ops, apart from the device's time."""
    host = analysis.host_ops
    if not host.empty:
        ops = ", ".join(sorted({_op(op) for op in host["op"]}))
        console.print(
            f"host: {len(host)} op(s) run by the CPU beside the device ({ops}): "
            f"{format_seconds(analysis.host_s)} at the spec's per-op overhead, not device time and not in the totals"
        )


def print_analysis(analysis: Any, console: Console, top: int = 10, *, by: str = "category", depth: int | None = 1,
                   all_categories: bool = False, how: str = "add --dtype {}") -> None:
    """The header and totals, the top ops, one breakdown (print_view), what bounds the
    ops, the host-side ops of a training step and the unsupported ops of an Analysis."""
    print_header(analysis, console, how)
    if top > 0:
        print_top(analysis, console, top)
    if "phase" in analysis.ops and set(analysis.ops["phase"]) != {"forward"}:
        print_phases(analysis, console)
    print_view(analysis, console, by, depth, all_categories=all_categories, top=top or 10)
    bounds = analysis.device_ops.groupby("bound")["predicted_s"].agg(["size", "sum"])
    console.print(
        "Bound by: "
        + ", ".join(f"{name} {int(row['size'])} ops / {format_seconds(row['sum'])}" for name, row in bounds.iterrows())
    )
    print_host(analysis, console)
    unsupported = analysis.unsupported
    if unsupported.empty:
        console.print("Unsupported ops: none")
    else:
        rows = [[clean(row.op), clean(row.reason), row.count, f"{100 * row.share:.2f}%"] for row in unsupported.itertuples()]
        console.print(table("Unsupported ops (no formula: FLOPs and bytes not counted)",
                            ["op", "reason", "count", "share of time"], rows, names=2))


def print_phases(analysis: Any, console: Console) -> None:
    """Time per phase of a training step; the host row, apart, after the device Total."""
    rows = [[name, format_seconds(row.predicted_s), percent(row.share), si(row.flops, "FLOP"), int(row.ops)]
            for name, row in analysis.by_phase().iterrows()]
    console.print(table("Runtime by phase (host: on the CPU, apart from the device Total)",
                        ["phase", "time", "share", "FLOPs", "ops"], rows))


# --------------------------------------------------------------------------- sweep
def print_sweep(frame: pd.DataFrame, console: Console) -> None:
    """A sweep frame (roofline.tools.sweep) as one row per (batch, seq): its totals and
    the predicted time on each spec, one column per spec. The title names the model, its
    dtype and parameters (the sweep's fixed settings)."""
    specs = list(frame["hw"].drop_duplicates())
    rows = []
    for (batch, seq), group in frame.groupby(["batch", "seq"], sort=False, dropna=False):
        times = dict(zip(group["hw"], group["predicted_s"]))
        first = group.iloc[0]
        rows.append([
            MISSING if pd.isna(batch) else int(batch), MISSING if pd.isna(seq) else int(seq),
            si(first["total_flops"], "FLOP"), si(first["total_bytes"], "B"), number(first["intensity"]),
            *[format_seconds(times[spec]) for spec in specs],
        ])
    first = frame.iloc[0] if not frame.empty else {}
    settings = [str(first[c]) for c in ("dtype",) if c in frame and not is_nan(first[c])]
    if "params" in frame and not frame.empty and first["params"]:
        from roofline.workload import format_count

        settings.append(f"{format_count(first['params'])} params")
    target = clean(frame["target"].iloc[0]) if not frame.empty else "sweep"
    title = f"{target}{' · ' + ' · '.join(settings) if settings else ''}: predicted time per batch"
    console.print(table(title, ["batch", "seq", "FLOPs", "bytes", "FLOP/B", *[clean(s) for s in specs]], rows, names=0))


# --------------------------------------------------------------------------- validate
def _comparison_header(c: Any, what: str) -> str:
    """The first line of a validation: what ran where, against which spec, the totals."""
    where = f"{c.device} ({c.threads} threads)" if c.threads else c.device
    compared = "kernel time" if c.basis == "kernel" else "wall time"
    return (f"[bold]{clean(what)}[/bold] on {clean(where)} against spec [bold]{clean(c.hw_name)}[/bold]: "
            f"{len(c.ops)} aten ops ({compared}); predicted {format_seconds(c.predicted_total_s)}, measured forward "
            f"{format_seconds(c.forward_s)}, sum of measured ops {format_seconds(c.ops_total_s)}, "
            f"profiler ({c.profiler_kind}) {format_seconds(c.profiler_s)}")


def _unmatched_lines(c: Any) -> list[str]:
    """One line per side of a trace join that has ops the other lacks (the first few named)."""
    lines = []
    for frame, label, column in ((c.analysis_only, "in the analysis, not in the trace", "predicted_s"),
                                 (c.trace_only, "in the trace, not in the analysis", "measured_s")):
        if len(frame):
            names = ", ".join(f"{_op(op)} x{n}" for op, n in frame["op"].value_counts().head(6).items())
            lines.append(f"{len(frame)} ops {label} ({format_seconds(float(frame[column].sum()))}): {clean(names)}")
    return lines


def print_comparison(comparison: Any, console: Console, top: int = 10, workload: Any = None) -> None:
    """Totals, error metrics, the per-category error table (with Other, the time between
    ops) and the top ops of a Comparison; the header names the ``workload``
    (roofline.workload.Workload) if given."""
    from roofline.measure.compare import OTHER_ROW, TARGET_END_TO_END, TARGET_TIME_WEIGHTED, UNMATCHED_ROW

    c = comparison
    console.print(_comparison_header(c, workload.describe() if workload is not None else c.name))
    verdict = "[green]meets[/green]" if c.meets_targets() else "[red]misses[/red]"
    console.print(
        f"end-to-end error {signed_percent(c.end_to_end_error)} (vs the sum of ops {signed_percent(c.ops_total_error)}), "
        f"time-weighted per-op error {100 * c.time_weighted_error:.1f}%, median per-op error "
        f"{100 * c.median_op_error:.1f}%: {verdict} the targets (|end-to-end| <= {100 * TARGET_END_TO_END:.0f}%, "
        f"time-weighted <= {100 * TARGET_TIME_WEIGHTED:.0f}%)"
    )
    console.print(f"Other (the forward outside every op): measured {format_seconds(c.other_s)} "
                  f"({percent(c.other_s / c.forward_s) if c.forward_s else '-'} of it), "
                  f"predicted {format_seconds(c.other_predicted_s)}")
    if c.page_faults == c.page_faults and c.device == "cpu":  # not NaN: the OS counted them
        console.print(f"page faults per forward (pages written fresh): {c.page_faults:,.0f}")
    for line in _unmatched_lines(c):
        console.print(line, style="yellow")
    rows = [
        [name, int(row.ops), format_seconds(row.predicted_s), format_seconds(row.measured_s), percent(row.share),
         signed_percent(row.error), percent(row.time_weighted_error), percent(row.median_op_error)]
        for name, row in c.by_category().iterrows() if row.ops > 0 or name in (OTHER_ROW, UNMATCHED_ROW)
    ]
    console.print(table("Predicted vs measured by category, share of the measured forward (errors: end to end, "
                        "time-weighted, median op)",
                        ["category", "ops", "predicted", "measured", "share", "error", "weighted", "median"], rows))
    rows = [
        [_op(row.op), _module(row.module), row.bound, format_seconds(row.predicted_s), format_seconds(row.measured_s),
         number(row.ratio, 2)]
        for _, row in c.top(max(top, 0)).iterrows()
    ]
    console.print(table(f"Top {len(rows)} ops by measured time", ["op", "module", "bound", "predicted", "measured",
                                                                "pred/meas"], rows, names=2))


# --------------------------------------------------------------------------- plan
def print_plan(result: Any, target: str, hw: Any, global_batch: int, console: Console, top: int = 10,
               workload: Any = None) -> None:
    """The best split of a roofline.tools.parallel.Plan, then the best micro-batch of
    each split: its step, then where a micro-batch's time goes."""
    best = result.best
    c = best.config
    what = clean(workload.describe()) if workload is not None else clean(target)
    console.print(
        f"[bold]{what}[/bold], training on [bold]{clean(hw.display_name)}[/bold] ({clean(hw.name)}, {hw.devices} devices), "
        f"global batch {global_batch}: best [bold]data {c.data} x tensor {c.tensor} x pipeline {c.pipeline}[/bold], "
        f"micro-batch [bold]{c.micro_batch}[/bold] ({best.micro_batches} per step), predicted step "
        f"[bold]{format_seconds(best.step_s)}[/bold] ({best.samples_per_s:.4g} samples/s), "
        f"{si(best.memory_bytes, 'B')} per device of {si(hw.dram.capacity, 'B')}"
    )
    plans = result.table
    fastest = plans[plans["fits"]].drop_duplicates(["data", "tensor", "pipeline"]).head(max(top, 0))
    split = [f"{int(r.data)}x{int(r.tensor)}x{int(r.pipeline)}" for r in fastest.itertuples()]
    rows = [[name, int(r.micro_batch), int(r.micro_batches), percent(r.bubble_fraction), format_seconds(r.step_s),
             f"{r.samples_per_s:.4g}", si(r.memory_bytes, "B")] for name, r in zip(split, fastest.itertuples())]
    console.print(table("Best micro-batch per split (data x tensor x pipeline)",
                        ["split", "micro-batch", "count", "bubble", "step", "samples/s", "memory"], rows))
    rows = [[name, *[format_seconds(s) for s in (r.stage_compute_s, r.tp_comm_s, r.p2p_s, r.pipeline_s, r.dp_exposed_s,
                                                 r.embedding_sync_s, r.optimizer_s)]] for name, r in zip(split, fastest.itertuples())]
    console.print(table("Where the time goes: per micro-batch on the slowest stage, then per step (pipeline, DP, "
                        "tied-embedding sync, optimizer)",
                        ["split", "compute", "TP comm", "p2p", "pipeline", "DP exposed", "emb. sync", "optimizer"], rows))
    skipped = plans[~plans["fits"]]
    if not skipped.empty:
        console.print(f"{len(skipped)} evaluated configuration(s) did not fit in device memory and were skipped")


# The hardware, calibration and zoo tables live in hw_tables; the command imports them here.
from roofline.report.hw_tables import print_calibration, print_hardware, print_hardware_list, print_zoo  # noqa: E402
