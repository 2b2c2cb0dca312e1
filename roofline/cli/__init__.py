"""The ``roofline`` command. It only reads results; all numbers come from the library.

User errors (bad spec, bad target, unsupported op under --strict, bad arguments) print
one line on stderr and exit with 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import pandas as pd
from rich.console import Console
from rich.table import Table

from roofline.errors import RooflineError
from roofline.units import format_seconds, si

EXIT_USER_ERROR = 2


# --- formatting -------------------------------------------------------------------
def _table(title: str, columns: Sequence[str], rows: list[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[str(cell) for cell in row])
    return table


# --- commands ---------------------------------------------------------------------
def print_analysis(analysis: Any, console: Console, top: int = 10) -> None:
    """Totals, the top ops, the category table and the unsupported ops of an Analysis."""
    summary = analysis.summary()
    console.print(
        f"[bold]{summary['model']}[/bold] on [bold]{analysis.hw.display_name}[/bold] ({analysis.hw.name}): "
        f"{summary['ops']} aten ops, {si(summary['total_flops'], 'FLOP')}, {si(summary['total_bytes'], 'B')}, "
        f"intensity {summary['intensity']:.1f} FLOP/B, predicted {format_seconds(summary['predicted_s'])}"
    )
    ops = analysis.top(top)
    rows = [
        [
            index,
            row.op.removeprefix("aten."),
            row.module or "(top)",
            row.category,
            si(row.flops, "FLOP"),
            si(row.bytes, "B"),
            f"{row.intensity:.1f}" if row.intensity == row.intensity else "-",
            format_seconds(row.predicted_s),
            row.bound,
        ]
        for index, row in ops.iterrows()
    ]
    console.print(_table(f"Top {len(rows)} ops by predicted time", ["#", "op", "module", "category", "FLOPs", "bytes", "FLOP/B", "time", "bound"], rows))
    categories = analysis.by_category()
    rows = [
        [name, format_seconds(row.predicted_s), f"{100 * row.share:.1f}%", si(row.flops, "FLOP"), si(row.bytes, "B"), int(row.ops)]
        for name, row in categories.iterrows()
    ]
    console.print(_table("Runtime by category (predicted)", ["category", "time", "share", "FLOPs", "bytes", "ops"], rows))
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
        console.print(_table("Unsupported ops (no formula: FLOPs and bytes not counted)", ["op", "count", "share of time", "reason"], rows))


def _parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RooflineError(f"--option {pair!r}: expected KEY=VALUE")
        options[key] = _literal(value)
    return options


def _literal(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    from roofline._io import write_text_atomic
    from roofline.analysis import analyze
    from roofline.hardware import load_hardware
    from roofline.targets import build_target

    hw = load_hardware(args.hw)
    if args.plot:  # a bad figure path fails before the model is built
        from roofline.report.plot import check_figure_path

        check_figure_path(args.plot)
    if args.trace_measured:  # a bad measured trace fails before the model is built
        from roofline.report.trace import load_trace

        if not args.trace:
            raise RooflineError("--trace-measured: give --trace FILE too (the merged trace is written there)")
        load_trace(args.trace_measured)
    options = _parse_options(args.option)
    if args.seq is not None:
        options["seq"] = args.seq
    model, inputs, name = build_target(args.target, batch=args.batch, meta=args.meta, options=options)
    analysis = analyze(model, inputs, hw=hw, dtype=args.dtype, name=name, strict=args.strict)
    print_analysis(analysis, console, top=args.top)
    if args.csv:
        write_text_atomic(args.csv, analysis.ops.to_csv())
        console.print(f"wrote {args.csv}")
    if args.json:
        write_text_atomic(args.json, analysis.to_json())
        console.print(f"wrote {args.json}")
    if args.trace:
        from roofline.report.trace import write_trace

        write_trace(analysis, args.trace, measured=args.trace_measured)
        console.print(f"wrote {args.trace} (open it in https://ui.perfetto.dev)")
    if args.plot:
        from roofline.report.plot import roofline, save

        save(roofline(analysis), args.plot)
        console.print(f"wrote {args.plot}")
    return 0


def _size_list(text: str | None, flag: str) -> list[int | None] | None:
    """"1,8,64" -> [1, 8, 64]; RooflineError naming the flag for anything else."""
    if text is None:
        return None
    values: list[int | None] = []
    for part in text.split(","):
        try:
            value = int(part)
        except ValueError:
            value = 0
        if value < 1:
            raise RooflineError(f"{flag} {text!r}: expected positive integers separated by commas, e.g. 1,8,64")
        values.append(value)
    return values


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from roofline.tools.sweep import plot_sweep, sweep, write_sweep_csv

    names = [name.strip() for name in args.hw.split(",")]
    if not all(names):
        raise RooflineError(f"--hw {args.hw!r}: expected spec names or YAML paths separated by commas")
    batches = _size_list(args.batch, "--batch")
    seqs = _size_list(args.seq, "--seq")
    if args.plot:  # a bad figure path fails before any model is built
        from roofline.report.plot import check_figure_path

        check_figure_path(args.plot)
    frame = sweep(
        args.target, names, batches or [None], seqs, meta=args.meta, dtype=args.dtype,
        options=_parse_options(args.option), strict=args.strict, progress=True,
    )
    specs = list(frame["hw"].drop_duplicates())
    rows = []
    for (batch, seq), group in frame.groupby(["batch", "seq"], sort=False, dropna=False):
        times = dict(zip(group["hw"], group["predicted_s"]))
        first = group.iloc[0]
        rows.append([
            "-" if pd.isna(batch) else int(batch), "-" if pd.isna(seq) else int(seq),
            si(first["total_flops"], "FLOP"), si(first["total_bytes"], "B"), f"{first['intensity']:.1f}",
            *[format_seconds(times[spec]) for spec in specs],
        ])
    title = f"{frame['target'].iloc[0]}: predicted time per batch"
    console.print(_table(title, ["batch", "seq", "FLOPs", "bytes", "FLOP/B", *specs], rows))
    if args.out:
        write_sweep_csv(frame, args.out)
        console.print(f"wrote {args.out}")
    if args.plot:
        from roofline.report.plot import save

        save(plot_sweep(frame), args.plot)
        console.print(f"wrote {args.plot}")
    return 0


def _percent(value: float) -> str:
    return "-" if value != value else f"{100 * value:+.1f}%"


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
        f"end-to-end error {_percent(c.end_to_end_error)} (vs the sum of ops {_percent(c.ops_total_error)}), "
        f"time-weighted per-op error {100 * c.time_weighted_error:.1f}%, median per-op error "
        f"{100 * c.median_op_error:.1f}%: {verdict} the targets (|end-to-end| <= {100 * TARGET_END_TO_END:.0f}%, "
        f"time-weighted <= {100 * TARGET_TIME_WEIGHTED:.0f}%)"
    )
    table = c.by_category()
    rows = [
        [name, int(row.ops), format_seconds(row.predicted_s), format_seconds(row.measured_s), f"{100 * row.share:.1f}%",
         _percent(row.error),
         "-" if row.time_weighted_error != row.time_weighted_error else f"{100 * row.time_weighted_error:.1f}%",
         "-" if row.median_op_error != row.median_op_error else f"{100 * row.median_op_error:.1f}%"]
        for name, row in table.iterrows() if row.ops > 0
    ]
    console.print(_table("Predicted vs measured by category", ["category", "ops", "predicted", "measured", "share",
                                                              "error", "time-weighted", "median op"], rows))
    rows = [
        [index, row.op.removeprefix("aten."), row.module or "(top)", row.category, row.bound,
         format_seconds(row.predicted_s), format_seconds(row.measured_s), f"{row.ratio:.2f}" if row.ratio == row.ratio else "-"]
        for index, row in c.top(top).iterrows()
    ]
    console.print(_table(f"Top {len(rows)} ops by measured time", ["#", "op", "module", "category", "bound",
                                                                 "predicted", "measured", "pred/meas"], rows))


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from roofline._io import write_text_atomic
    from roofline.hardware import load_hardware
    from roofline.targets import build_target
    from roofline.tools.validate import validate

    hw = load_hardware(args.hw)
    if args.plot:  # a bad figure path fails before the model is built
        from roofline.report.plot import check_figure_path

        check_figure_path(args.plot)
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise RooflineError(f"--threads {args.threads}: expected a positive integer")
        torch.set_num_threads(args.threads)
    model, inputs, name = build_target(args.target, batch=args.batch, options=_parse_options(args.option))
    if hasattr(model, "eval"):
        model.eval()
    _, _, comparison = validate(model, inputs, hw=hw, device=args.device, dtype=args.dtype, name=name,
                                method=args.method, warmup=args.warmup, repeats=args.repeats, clock=args.clock,
                                progress=True)
    print_comparison(comparison, console, top=args.top)
    if args.csv:
        write_text_atomic(args.csv, comparison.ops.to_csv())
        console.print(f"wrote {args.csv}")
    if args.plot:
        from roofline.report.plot import predicted_vs_measured, save

        figure = predicted_vs_measured(comparison.ops, title=f"{comparison.name} on {hw.display_name}")
        save(figure, args.plot)
        console.print(f"wrote {args.plot}")
    return 0


def print_calibration(result: Any, console: Console) -> None:
    """The figures a calibration measured."""
    console.print(
        f"[bold]{result.device_name}[/bold] ({result.device}, {result.threads} threads, {result.mode} mode): "
        f"measured in {result.duration_s:.1f} s; per-op overhead {format_seconds(result.overhead_s)}"
    )
    rows = [[row.level, si(row.capacity, "B"), si(row.bandwidth, "B/s"), int(row.points)] for row in result.levels.itertuples()]
    console.print(_table("Memory levels (bandwidth: median of the points inside the level)", ["level", "capacity", "bandwidth", "points"], rows))
    rows = [["matrix (GEMM)", dtype, si(peak, "FLOP/s")] for dtype, peak in result.matrix_flops.items()]
    rows += [["vector", dtype, si(peak, "FLOP/s")] for dtype, peak in result.vector_flops.items()]
    console.print(_table("Peaks", ["kernels", "dtype", "best"], rows))
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


def cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    from roofline.calibrate import calibrate, write_calibrated_spec

    result = calibrate(args.device, quick=args.quick, threads=args.threads, clock=args.clock, progress=True)
    print_calibration(result, console)
    spec = write_calibrated_spec(result, args.out, name=args.name)
    console.print(f"wrote {args.out} (spec {spec.name!r}; use it with --hw {args.out})")
    return 0


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from roofline.hardware import load_hardware
    from roofline.tools.parallel import plan, profiler_for_target, splits
    from roofline.units import parse_quantity

    hw = load_hardware(args.hw)
    try:
        overhead_s = parse_quantity(args.microbatch_overhead, "time", where="--microbatch-overhead")
    except ValueError as exc:
        raise RooflineError(str(exc)) from None
    optimizer = None if args.optimizer == "none" else args.optimizer
    profiler = profiler_for_target(args.target, hw, dtype=args.dtype, optimizer=optimizer, options=_parse_options(args.option))
    total = len(splits(hw, args.global_batch)) if hw.interconnect is not None and args.global_batch > 0 else 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("planning", total=total)

        def progress(text: str) -> None:
            bar.update(task, description=text, advance=1)

        result = plan(profiler, hw, args.global_batch, overlap=not args.no_overlap, microbatch_overhead_s=overhead_s, progress=progress)
    print_plan(result, args.target, hw, args.global_batch, console, top=args.top)
    return 0


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
    table = result.table
    fastest = table[table["fits"]].drop_duplicates(["data", "tensor", "pipeline"]).head(top)
    rows = [
        [f"{int(r.data)} x {int(r.tensor)} x {int(r.pipeline)}", int(r.micro_batch), int(r.micro_batches), f"{100 * r.bubble_fraction:.1f}%",
         format_seconds(r.stage_compute_s), format_seconds(r.tp_comm_s), format_seconds(r.p2p_s), format_seconds(r.pipeline_s), format_seconds(r.dp_exposed_s),
         format_seconds(r.optimizer_s), format_seconds(r.step_s), f"{r.samples_per_s:.4g}", si(r.memory_bytes, "B")]
        for r in fastest.itertuples()
    ]
    console.print(_table(
        "Best micro-batch per split (data x tensor x pipeline); times per micro-batch and stage, then per step",
        ["split", "micro-batch", "micro-batches", "bubble", "compute", "TP comm", "p2p", "pipeline", "DP exposed",
         "optimizer", "step", "samples/s", "memory"], rows))
    skipped = table[~table["fits"]]
    if not skipped.empty:
        console.print(f"{len(skipped)} evaluated configuration(s) did not fit in device memory and were skipped")


def cmd_hw_list(args: argparse.Namespace, console: Console) -> int:
    from roofline.hardware import list_hardware

    frame = list_hardware()
    rows = [
        [
            row.name,
            row.display_name,
            row.kind,
            si(row.dram_bandwidth, "B/s"),
            si(row.dram_capacity, "B"),
            si(row.peak_bf16_matrix, "FLOP/s"),
            si(row.peak_fp32_vector, "FLOP/s"),
        ]
        for row in frame.itertuples()
    ]
    columns = ["name", "device", "kind", "DRAM bandwidth", "DRAM capacity", "bf16 matrix peak", "fp32 vector peak"]
    console.print(_table("Hardware specs (dense peaks)", columns, rows))
    return 0


def cmd_hw_show(args: argparse.Namespace, console: Console) -> int:
    from roofline.hardware import load_hardware

    spec = load_hardware(args.name)
    console.print(f"[bold]{spec.display_name}[/bold] ({spec.name}, {spec.kind}, {spec.vendor})")
    console.print(f"source: {spec.source}")
    rows = [[unit, dtype, si(peak, "FLOP/s")] for unit, peaks in (("matrix", spec.matrix_flops), ("vector", spec.vector_flops)) for dtype, peak in peaks.items()]
    console.print(_table("Dense peaks", ["unit", "dtype", "peak"], rows))
    rows = [[level.name, si(level.bandwidth, "B/s"), si(level.capacity, "B")] for level in spec.memory]
    console.print(_table("Memory levels", ["level", "bandwidth", "capacity"], rows))
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
    ridges = spec.ridge_points()
    pivot = ridges.pivot_table(index=["unit", "dtype"], columns="level", values="ridge_intensity", sort=False)
    levels = [level.name for level in spec.memory]
    pivot = pivot[[level for level in levels if level in pivot.columns]]
    rows = [[f"{unit} {dtype}", *[f"{value:.1f}" for value in row]] for (unit, dtype), row in pivot.iterrows()]
    console.print(_table("Ridge points (FLOP/byte) per dtype and memory level", ["peak", *pivot.columns], rows))
    return 0


def cmd_zoo(args: argparse.Namespace, console: Console) -> int:
    from roofline.targets import zoo

    rows = []
    for name, builder in sorted(zoo().items()):
        doc = (builder.__doc__ or "").strip().splitlines()
        rows.append([name, doc[0] if doc else ""])
    console.print(_table("Zoo models", ["name", "description"], rows))
    return 0


# --- parser -----------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits with 2 already; keep it one line
        self.print_usage(sys.stderr)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from roofline.analysis import DEFAULT_HW

    parser = _Parser(prog="roofline", description="Roofline and operational-intensity modeling for PyTorch workloads.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    analyze = commands.add_parser("analyze", help="count, place and predict every op of a model")
    analyze.add_argument("target", help="a zoo name (see `roofline zoo`), path/to/file.py[:function], or hf:MODEL_ID / hf:path/to/config.json")
    analyze.add_argument("--hw", default=DEFAULT_HW, help=f"spec name or YAML path (default {DEFAULT_HW})")
    analyze.add_argument("--batch", type=int, default=None, help="batch size passed to the build function")
    analyze.add_argument("--seq", type=int, default=None, help="sequence length passed to the build function (hf: targets, transformers)")
    analyze.add_argument("--dtype", default=None, help="cast the model and inputs (fp32, bf16, fp16, fp64)")
    analyze.add_argument("--meta", action="store_true", help="build on the meta device: no data, any size")
    analyze.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="extra build option (repeatable)")
    analyze.add_argument("--top", type=int, default=10, help="how many ops to list")
    analyze.add_argument("--csv", help="write the per-op table as CSV")
    analyze.add_argument("--json", help="write totals and per-op rows as JSON")
    analyze.add_argument("--strict", action="store_true", help="fail if any op has no formula")
    analyze.add_argument("--plot", metavar="FILE", help="draw the roofline chart to FILE (.png, .svg, .pdf)")
    analyze.add_argument("--trace", metavar="FILE", help="write the predicted per-op timeline as a Chrome/Perfetto trace (JSON)")
    analyze.add_argument(
        "--trace-measured", metavar="FILE", help="a torch.profiler Chrome trace of the measured run, merged into --trace and lined up with it"
    )
    analyze.set_defaults(run=cmd_analyze)

    sweep = commands.add_parser("sweep", help="predict one model over a grid of batch sizes, seqs and specs")
    sweep.add_argument("target", help="a zoo name (see `roofline zoo`) or path/to/file.py[:function]")
    sweep.add_argument("--hw", required=True, help="spec names or YAML paths, comma-separated (e.g. h100-sxm,a100-sxm)")
    sweep.add_argument("--batch", default=None, help="batch sizes, comma-separated (e.g. 1,8,64,512)")
    sweep.add_argument("--seq", default=None, help="sequence lengths, comma-separated (build option 'seq')")
    sweep.add_argument("--dtype", default=None, help="cast the model and inputs (fp32, bf16, fp16, fp64)")
    sweep.add_argument("--meta", action="store_true", help="build on the meta device: no data, any size")
    sweep.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="extra build option (repeatable)")
    sweep.add_argument("--strict", action="store_true", help="fail if any op has no formula")
    sweep.add_argument("--out", metavar="CSV", help="write the tidy results table (one row per shape and spec)")
    sweep.add_argument("--plot", metavar="FILE", help="draw predicted time per batch per spec to FILE (.png, .svg, .pdf)")
    sweep.set_defaults(run=cmd_sweep)

    validate = commands.add_parser("validate", help="run a model for real and compare measured op times with the predictions")
    validate.add_argument("target", help="a zoo name (see `roofline zoo`) or path/to/file.py[:function]")
    validate.add_argument("--hw", required=True, help="spec name or YAML path (a calibrated one: `roofline calibrate`)")
    validate.add_argument("--batch", type=int, default=None, help="batch size passed to the build function")
    validate.add_argument("--dtype", default=None, help="cast the model and inputs (fp32, bf16, fp16, fp64)")
    validate.add_argument("--device", default=None, help="run on this device (cpu, cuda); default: where the model is built")
    validate.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="extra build option (repeatable)")
    validate.add_argument("--method", choices=("inline", "replay"), default="inline", help="time ops in real forwards (inline) or re-run each in isolation (replay)")
    validate.add_argument("--warmup", type=int, default=2, help="warm-up forwards (inline) or calls (replay)")
    validate.add_argument("--repeats", type=int, default=7, help="timed forwards (inline) or batches (replay); the median is kept")
    validate.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    validate.add_argument("--clock", choices=("wall", "thread"), default="wall", help="CPU timing: wall time, or the thread's CPU time (with --threads 1 on a busy machine)")
    validate.add_argument("--top", type=int, default=10, help="how many ops to list")
    validate.add_argument("--csv", help="write the per-op predicted vs measured table as CSV")
    validate.add_argument("--plot", metavar="FILE", help="draw predicted vs measured per op to FILE (.png, .svg, .pdf)")
    validate.set_defaults(run=cmd_validate)

    calibrate = commands.add_parser("calibrate", help="measure this machine and write a hardware spec")
    calibrate.add_argument("--out", required=True, help="YAML file to write (e.g. hw_specs/local-cpu.yaml)")
    calibrate.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    calibrate.add_argument("--quick", action="store_true", help="a few seconds, coarse figures (for tests)")
    calibrate.add_argument("--threads", type=int, default=None, help="torch CPU threads to measure with (default: torch's)")
    calibrate.add_argument("--clock", choices=("wall", "thread"), default="wall", help="CPU timing: wall time, or the thread's CPU time (with --threads 1 on a busy machine)")
    calibrate.add_argument("--name", default=None, help="spec name (default: the file's stem)")
    calibrate.set_defaults(run=cmd_calibrate)

    plan = commands.add_parser("plan", help="best data/tensor/pipeline split and micro-batch for training on a multi-device spec")
    plan.add_argument("target", help="a zoo name (see `roofline zoo`) or path/to/file.py[:function]")
    plan.add_argument("--hw", required=True, help="a multi-device spec name or YAML path (e.g. 8xh100-sxm, 2x8xh100-sxm)")
    plan.add_argument("--global-batch", type=int, required=True, help="samples per training step, over all devices")
    plan.add_argument("--dtype", default=None, help="cast the model and inputs (fp32, bf16, fp16, fp64)")
    plan.add_argument("--optimizer", default="adamw", choices=("adamw", "adam", "sgd", "none"), help="optimizer step to include (default adamw)")
    plan.add_argument("--microbatch-overhead", default="50 us", help="fixed cost per micro-batch in a pipeline (default 50 us)")
    plan.add_argument("--no-overlap", action="store_true", help="do not overlap the gradient all-reduce with backward")
    plan.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="extra build option (repeatable)")
    plan.add_argument("--top", type=int, default=10, help="how many splits to list")
    plan.set_defaults(run=cmd_plan)

    hw = commands.add_parser("hw", help="hardware specs")
    hw_commands = hw.add_subparsers(dest="hw_command", required=True, parser_class=_Parser)
    hw_list = hw_commands.add_parser("list", help="list the packaged specs")
    hw_list.set_defaults(run=cmd_hw_list)
    hw_show = hw_commands.add_parser("show", help="peaks, memory levels and ridge points of one spec")
    hw_show.add_argument("name", help="spec name or YAML path")
    hw_show.set_defaults(run=cmd_hw_show)

    zoo = commands.add_parser("zoo", help="list the zoo models")
    zoo.set_defaults(run=cmd_zoo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 140))
    try:
        return args.run(args, console)
    except RooflineError as exc:
        # One line even when the message quotes a multi-line error from inside the model.
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"roofline: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
