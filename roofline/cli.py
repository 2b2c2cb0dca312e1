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

EXIT_USER_ERROR = 2


# --- formatting -------------------------------------------------------------------
def si(value: float, unit: str, digits: int = 3) -> str:
    """A number with a decimal SI prefix: si(3.35e12, "B/s") -> "3.35 TB/s"."""
    if value != value:  # NaN
        return "-"
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


def seconds(value: float) -> str:
    """A duration in s, ms, us or ns."""
    if value != value:
        return "-"
    for factor, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


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
        f"intensity {summary['intensity']:.1f} FLOP/B, predicted {seconds(summary['predicted_s'])}"
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
            seconds(row.predicted_s),
            row.bound,
        ]
        for index, row in ops.iterrows()
    ]
    console.print(_table(f"Top {len(rows)} ops by predicted time", ["#", "op", "module", "category", "FLOPs", "bytes", "FLOP/B", "time", "bound"], rows))
    categories = analysis.by_category()
    rows = [
        [name, seconds(row.predicted_s), f"{100 * row.share:.1f}%", si(row.flops, "FLOP"), si(row.bytes, "B"), int(row.ops)]
        for name, row in categories.iterrows()
    ]
    console.print(_table("Runtime by category (predicted)", ["category", "time", "share", "FLOPs", "bytes", "ops"], rows))
    bounds = analysis.ops.groupby("bound")["predicted_s"].agg(["size", "sum"])
    console.print(
        "Bound by: "
        + ", ".join(f"{name} {int(row['size'])} ops / {seconds(row['sum'])}" for name, row in bounds.iterrows())
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
    from roofline.analysis import analyze, write_text_atomic
    from roofline.hardware import load_hardware
    from roofline.targets import build_target

    hw = load_hardware(args.hw)
    model, inputs, name = build_target(args.target, batch=args.batch, meta=args.meta, options=_parse_options(args.option))
    analysis = analyze(model, inputs, hw=hw, dtype=args.dtype, name=name, strict=args.strict)
    print_analysis(analysis, console, top=args.top)
    if args.csv:
        write_text_atomic(args.csv, analysis.ops.to_csv())
        console.print(f"wrote {args.csv}")
    if args.json:
        write_text_atomic(args.json, analysis.to_json())
        console.print(f"wrote {args.json}")
    if args.plot:
        from roofline.plot import roofline, save

        save(roofline(analysis), args.plot)
        console.print(f"wrote {args.plot}")
    return 0


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
        f"{si(spec.peer_link_bw, 'B/s') if spec.peer_link_bw else 'none'}, per-op overhead {seconds(spec.overhead_s)}, "
        f"efficiency matrix {spec.efficiency.matrix:.2f} / vector {spec.efficiency.vector:.2f} / memory {spec.efficiency.memory:.2f}"
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
    analyze.add_argument("target", help="a zoo name (see `roofline zoo`) or path/to/file.py[:function]")
    analyze.add_argument("--hw", default=DEFAULT_HW, help=f"spec name or YAML path (default {DEFAULT_HW})")
    analyze.add_argument("--batch", type=int, default=None, help="batch size passed to the build function")
    analyze.add_argument("--dtype", default=None, help="cast the model and inputs (fp32, bf16, fp16, fp64)")
    analyze.add_argument("--meta", action="store_true", help="build on the meta device: no data, any size")
    analyze.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="extra build option (repeatable)")
    analyze.add_argument("--top", type=int, default=10, help="how many ops to list")
    analyze.add_argument("--csv", help="write the per-op table as CSV")
    analyze.add_argument("--json", help="write totals and per-op rows as JSON")
    analyze.add_argument("--strict", action="store_true", help="fail if any op has no formula")
    analyze.add_argument("--plot", metavar="FILE", help="draw the roofline chart to FILE (.png, .svg, .pdf)")
    analyze.set_defaults(run=cmd_analyze)

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
        print(f"roofline: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
