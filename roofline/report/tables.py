"""Terminal tables (rich) of the results the ``roofline`` command prints: an analysis, a
sweep, a comparison, a calibration, a parallel plan, the hardware specs and the zoo.

Printing only reads: every function takes a result already computed and a rich Console,
formats numbers with roofline.units and prints; none predicts, measures or loads a spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from roofline.count.registry import MATRIX, VECTOR
from roofline.units import format_seconds, si

#: What a missing number prints as.
MISSING = "-"


def table(title: str, columns: Sequence[str], rows: list[Sequence[Any]]) -> Table:
    """A rich Table: the first column left-aligned (names), the others right-aligned (numbers)."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for i, column in enumerate(columns):
        out.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        out.add_row(*[str(cell) for cell in row])
    return out


def _is_nan(value: float) -> bool:
    return bool(pd.isna(value))


def signed_percent(value: float) -> str:
    """A fraction as a signed percentage, "+12.3%"; MISSING for NaN."""
    return MISSING if _is_nan(value) else f"{100 * value:+.1f}%"


def _percent(value: float) -> str:
    """A fraction as a percentage, "12.3%"; MISSING for NaN."""
    return MISSING if _is_nan(value) else f"{100 * value:.1f}%"


def _module(name: str) -> str:
    return name or "(top)"


def _op(name: str) -> str:
    return name.removeprefix("aten.")


# --------------------------------------------------------------------------- analyze
def print_analysis(analysis: Any, console: Console, top: int = 10) -> None:
    """Totals, the top ops, the category table and the unsupported ops of an Analysis."""
    summary = analysis.summary()
    console.print(
        f"[bold]{summary['model']}[/bold] on [bold]{analysis.hw.display_name}[/bold] ({analysis.hw.name}): "
        f"{summary['ops']} aten ops, {si(summary['total_flops'], 'FLOP')}, {si(summary['total_bytes'], 'B')}, "
        f"intensity {summary['intensity']:.1f} FLOP/B, predicted {format_seconds(summary['predicted_s'])}"
    )
    rows = [
        [index, _op(row.op), _module(row.module), row.category, si(row.flops, "FLOP"), si(row.bytes, "B"),
         MISSING if _is_nan(row.intensity) else f"{row.intensity:.1f}", format_seconds(row.predicted_s), row.bound]
        for index, row in analysis.top(top).iterrows()
    ]
    console.print(table(f"Top {len(rows)} ops by predicted time", ["#", "op", "module", "category", "FLOPs", "bytes", "FLOP/B", "time", "bound"], rows))
    rows = [
        [name, format_seconds(row.predicted_s), f"{100 * row.share:.1f}%", si(row.flops, "FLOP"), si(row.bytes, "B"), int(row.ops)]
        for name, row in analysis.by_category().iterrows()
    ]
    console.print(table("Runtime by category (predicted)", ["category", "time", "share", "FLOPs", "bytes", "ops"], rows))
    bounds = analysis.ops.groupby("bound")["predicted_s"].agg(["size", "sum"])
    console.print(
        "Bound by: "
        + ", ".join(f"{name} {int(row['size'])} ops / {format_seconds(row['sum'])}" for name, row in bounds.iterrows())
    )
    unsupported = analysis.unsupported
    if unsupported.empty:
        console.print("Unsupported ops: none")
    else:
        rows = [[row.op, row.count, f"{100 * row.share:.2f}%", row.reason] for row in unsupported.itertuples()]
        console.print(table("Unsupported ops (no formula: FLOPs and bytes not counted)", ["op", "count", "share of time", "reason"], rows))


# --------------------------------------------------------------------------- sweep
def print_sweep(frame: pd.DataFrame, console: Console) -> None:
    """A sweep frame (roofline.tools.sweep) as one row per (batch, seq): its totals and
    the predicted time on each spec, one column per spec."""
    specs = list(frame["hw"].drop_duplicates())
    rows = []
    for (batch, seq), group in frame.groupby(["batch", "seq"], sort=False, dropna=False):
        times = dict(zip(group["hw"], group["predicted_s"]))
        first = group.iloc[0]
        rows.append([
            MISSING if pd.isna(batch) else int(batch), MISSING if pd.isna(seq) else int(seq),
            si(first["total_flops"], "FLOP"), si(first["total_bytes"], "B"), f"{first['intensity']:.1f}",
            *[format_seconds(times[spec]) for spec in specs],
        ])
    title = f"{frame['target'].iloc[0]}: predicted time per batch"
    console.print(table(title, ["batch", "seq", "FLOPs", "bytes", "FLOP/B", *specs], rows))


# --------------------------------------------------------------------------- validate
def print_comparison(comparison: Any, console: Console, top: int = 10) -> None:
    """Totals, error metrics, the per-category error table and the top ops of a Comparison."""
    from roofline.measure.compare import TARGET_END_TO_END, TARGET_TIME_WEIGHTED

    c = comparison
    console.print(
        f"[bold]{c.name}[/bold] on {c.device} ({c.threads} threads) against spec [bold]{c.hw_name}[/bold]: "
        f"{len(c.ops)} aten ops; predicted {format_seconds(c.predicted_s)}, measured forward {format_seconds(c.forward_s)}, "
        f"sum of measured ops {format_seconds(c.ops_total_s)}, profiler ({c.profiler_kind}) {format_seconds(c.profiler_s)}"
    )
    verdict = "[green]meets[/green]" if c.meets_targets() else "[red]misses[/red]"
    console.print(
        f"end-to-end error {signed_percent(c.end_to_end_error)} (vs the sum of ops {signed_percent(c.ops_total_error)}), "
        f"time-weighted per-op error {100 * c.time_weighted_error:.1f}%, median per-op error "
        f"{100 * c.median_op_error:.1f}%: {verdict} the targets (|end-to-end| <= {100 * TARGET_END_TO_END:.0f}%, "
        f"time-weighted <= {100 * TARGET_TIME_WEIGHTED:.0f}%)"
    )
    rows = [
        [name, int(row.ops), format_seconds(row.predicted_s), format_seconds(row.measured_s), f"{100 * row.share:.1f}%",
         signed_percent(row.error), _percent(row.time_weighted_error), _percent(row.median_op_error)]
        for name, row in c.by_category().iterrows() if row.ops > 0
    ]
    console.print(table("Predicted vs measured by category", ["category", "ops", "predicted", "measured", "share",
                                                             "error", "time-weighted", "median op"], rows))
    rows = [
        [index, _op(row.op), _module(row.module), row.category, row.bound,
         format_seconds(row.predicted_s), format_seconds(row.measured_s), MISSING if _is_nan(row.ratio) else f"{row.ratio:.2f}"]
        for index, row in c.top(top).iterrows()
    ]
    console.print(table(f"Top {len(rows)} ops by measured time", ["#", "op", "module", "category", "bound",
                                                                "predicted", "measured", "pred/meas"], rows))


# --------------------------------------------------------------------------- calibrate
def print_calibration(result: Any, console: Console) -> None:
    """The figures a calibration measured."""
    console.print(
        f"[bold]{result.device_name}[/bold] ({result.device}, {result.threads} threads, {result.mode} mode): "
        f"measured in {result.duration_s:.1f} s; per-op overhead {format_seconds(result.overhead_s)}"
    )
    rows = [[row.level, si(row.capacity, "B"), si(row.bandwidth, "B/s"), int(row.points)] for row in result.levels.itertuples()]
    console.print(table("Memory levels (bandwidth: median of the points inside the level)", ["level", "capacity", "bandwidth", "points"], rows))
    rows = [["matrix (GEMM)", dtype, si(peak, "FLOP/s")] for dtype, peak in result.matrix_flops.items()]
    rows += [["vector", dtype, si(peak, "FLOP/s")] for dtype, peak in result.vector_flops.items()]
    console.print(table("Peaks", ["kernels", "dtype", "best"], rows))
    console.print(
        f"efficiency (median fraction of the roofline the suites reach): matrix {result.matrix_efficiency:.2f}, "
        f"vector {result.vector_efficiency:.2f}, memory {result.memory_efficiency:.2f}; views cost "
        f"{format_seconds(result.view_overhead_s)} each"
    )
    if result.fresh_write:
        console.print(
            f"fresh outputs of {si(result.fresh_write['min_bytes'], 'B')} or more pay page faults at "
            f"{si(result.fresh_write['bandwidth'], 'B/s')}"
        )
    for note in result.notes:
        console.print(f"note: {note}")


# --------------------------------------------------------------------------- plan
def print_plan(result: Any, target: str, hw: Any, global_batch: int, console: Console, top: int = 10) -> None:
    """The best split of a roofline.tools.parallel.Plan, then the best micro-batch of each split."""
    best = result.best
    c = best.config
    console.print(
        f"[bold]{target}[/bold] on [bold]{hw.display_name}[/bold] ({hw.name}, {hw.devices} devices), global batch {global_batch}: "
        f"best [bold]data {c.data} x tensor {c.tensor} x pipeline {c.pipeline}[/bold], micro-batch [bold]{c.micro_batch}[/bold] "
        f"({best.micro_batches} per step), predicted step [bold]{format_seconds(best.step_s)}[/bold] ({best.samples_per_s:.4g} samples/s), "
        f"{si(best.memory_bytes, 'B')} per device of {si(hw.dram.capacity, 'B')}"
    )
    plans = result.table
    fastest = plans[plans["fits"]].drop_duplicates(["data", "tensor", "pipeline"]).head(top)
    rows = [
        [f"{int(r.data)} x {int(r.tensor)} x {int(r.pipeline)}", int(r.micro_batch), int(r.micro_batches), f"{100 * r.bubble_fraction:.1f}%",
         *[format_seconds(s) for s in (r.stage_compute_s, r.tp_comm_s, r.p2p_s, r.pipeline_s, r.dp_exposed_s, r.optimizer_s, r.step_s)],
         f"{r.samples_per_s:.4g}", si(r.memory_bytes, "B")]
        for r in fastest.itertuples()
    ]
    console.print(table(
        "Best micro-batch per split (data x tensor x pipeline); times per micro-batch and stage, then per step",
        ["split", "micro-batch", "micro-batches", "bubble", "compute", "TP comm", "p2p", "pipeline", "DP exposed",
         "optimizer", "step", "samples/s", "memory"], rows))
    skipped = plans[~plans["fits"]]
    if not skipped.empty:
        console.print(f"{len(skipped)} evaluated configuration(s) did not fit in device memory and were skipped")


# --------------------------------------------------------------------------- hardware and zoo
def print_hardware_list(frame: pd.DataFrame, console: Console) -> None:
    """The specs of roofline.hardware.list_hardware(), one row each, dense peaks."""
    rows = [
        [row.name, row.display_name, row.kind, si(row.dram_bandwidth, "B/s"), si(row.dram_capacity, "B"),
         si(row.peak_bf16_matrix, "FLOP/s"), si(row.peak_fp32_vector, "FLOP/s")]
        for row in frame.itertuples()
    ]
    columns = ["name", "device", "kind", "DRAM bandwidth", "DRAM capacity", "bf16 matrix peak", "fp32 vector peak"]
    console.print(table("Hardware specs (dense peaks)", columns, rows))


def _print_links(spec: Any, console: Console) -> None:
    """The host and peer links, per-op overhead and efficiencies; the interconnect if any."""
    console.print(
        f"host link {si(spec.host_link_bw, 'B/s')}, peer link "
        f"{si(spec.peer_link_bw, 'B/s') if spec.peer_link_bw else 'none'}, per-op overhead {format_seconds(spec.overhead_s)}, "
        f"efficiency matrix {spec.efficiency.matrix:.2f} / vector {spec.efficiency.vector:.2f} / memory {spec.efficiency.memory:.2f}"
    )
    if spec.interconnect is not None:
        ic = spec.interconnect
        links = [("inside a node", ic.intra_node), ("between nodes", ic.inter_node)]
        console.print(
            f"{ic.devices} devices ({ic.nodes} node(s) x {ic.devices_per_node}); "
            + "; ".join(f"{where}: {link.name}, {si(link.bandwidth, 'B/s')} per device each way, {format_seconds(link.latency)} a step"
                        for where, link in links if link is not None)
        )


def print_hardware(spec: Any, console: Console) -> None:
    """One HardwareSpec: peaks, memory levels, links and the ridge point of every peak at every level."""
    console.print(f"[bold]{spec.display_name}[/bold] ({spec.name}, {spec.kind}, {spec.vendor})")
    console.print(f"source: {spec.source}")
    rows = [[unit, dtype, si(peak, "FLOP/s")] for unit, peaks in ((MATRIX, spec.matrix_flops), (VECTOR, spec.vector_flops)) for dtype, peak in peaks.items()]
    console.print(table("Dense peaks", ["unit", "dtype", "peak"], rows))
    rows = [[level.name, si(level.bandwidth, "B/s"), si(level.capacity, "B")] for level in spec.memory]
    console.print(table("Memory levels", ["level", "bandwidth", "capacity"], rows))
    _print_links(spec, console)
    pivot = spec.ridge_points().pivot_table(index=["unit", "dtype"], columns="level", values="ridge_intensity", sort=False)
    levels = [level.name for level in spec.memory]
    pivot = pivot[[level for level in levels if level in pivot.columns]]
    rows = [[f"{unit} {dtype}", *[f"{value:.1f}" for value in row]] for (unit, dtype), row in pivot.iterrows()]
    console.print(table("Ridge points (FLOP/byte) per dtype and memory level", ["peak", *pivot.columns], rows))


def print_zoo(builders: Mapping[str, Callable[..., Any]], console: Console) -> None:
    """The zoo's models by name, each with the first line of its build function's docstring."""
    rows = []
    for name, builder in sorted(builders.items()):
        doc = (builder.__doc__ or "").strip().splitlines()
        rows.append([name, doc[0] if doc else ""])
    console.print(table("Zoo models", ["name", "description"], rows))
