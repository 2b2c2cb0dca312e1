"""The ``roofline`` subcommands: ``cmd_<name>(args, console) -> exit code``.

Each command checks what can fail early (spec, figure path, trace file) before building
a model, asks the library for the result, prints it with roofline.report.tables and
writes the files asked for. All numbers come from the library; nothing is computed here.
Heavy modules are imported inside the command that needs them, so ``roofline --help``
stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.console import Console

from roofline.errors import RooflineError
from roofline.report import tables


# --------------------------------------------------------------------------- argument values
def _literal(text: str) -> Any:
    """A --option value as an int, a float, a bool ("true"/"false") or the text itself."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """["seq=128", "sparse=true"] -> {"seq": 128, "sparse": True}; RooflineError for a pair without "="."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RooflineError(f"--option {pair!r}: expected KEY=VALUE")
        options[key] = _literal(value)
    return options


def size_list(text: str | None, flag: str) -> list[int | None] | None:
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


def _check_plot_path(path: str | None) -> None:
    """A bad --plot path fails before any model is built."""
    if path:
        from roofline.report.plot import check_figure_path

        check_figure_path(path)


def _save_figure(figure: Any, path: str, console: Console) -> None:
    from roofline.report.plot import save

    save(figure, path)
    console.print(f"wrote {path}")


def _write_text(path: str, text: str, console: Console, note: str = "") -> None:
    from roofline._io import write_text_atomic

    write_text_atomic(path, text)
    console.print(f"wrote {path}{note}")


# --------------------------------------------------------------------------- analyze
def _check_trace_args(args: argparse.Namespace) -> None:
    """A bad measured trace, or one without --trace to merge into, fails before the model is built."""
    if args.trace_measured:
        from roofline.report.trace import load_trace

        if not args.trace:
            raise RooflineError("--trace-measured: give --trace FILE too (the merged trace is written there)")
        load_trace(args.trace_measured)


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    """Count, place and predict every op of a model; print it and write the files asked for."""
    from roofline.analysis import analyze
    from roofline.hardware import load_hardware
    from roofline.targets import build_target

    hw = load_hardware(args.hw)
    _check_plot_path(args.plot)
    _check_trace_args(args)
    options = parse_options(args.option)
    if args.seq is not None:
        options["seq"] = args.seq
    model, inputs, name = build_target(args.target, batch=args.batch, meta=args.meta, options=options)
    analysis = analyze(model, inputs, hw=hw, dtype=args.dtype, name=name, strict=args.strict)
    tables.print_analysis(analysis, console, top=args.top)
    if args.csv:
        _write_text(args.csv, analysis.ops.to_csv(), console)
    if args.json:
        _write_text(args.json, analysis.to_json(), console)
    if args.trace:
        from roofline.report.trace import write_trace

        write_trace(analysis, args.trace, measured=args.trace_measured)
        console.print(f"wrote {args.trace} (open it in https://ui.perfetto.dev)")
    if args.plot:
        from roofline.report.plot import roofline

        _save_figure(roofline(analysis), args.plot, console)
    return 0


# --------------------------------------------------------------------------- sweep
def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    """Predict one model over a grid of batch sizes, seqs and specs; print, write CSV and plot."""
    from roofline.tools.sweep import sweep, write_sweep_csv

    names = [name.strip() for name in args.hw.split(",")]
    if not all(names):
        raise RooflineError(f"--hw {args.hw!r}: expected spec names or YAML paths separated by commas")
    batches = size_list(args.batch, "--batch")
    seqs = size_list(args.seq, "--seq")
    _check_plot_path(args.plot)
    frame = sweep(
        args.target, names, batches or [None], seqs, meta=args.meta, dtype=args.dtype,
        options=parse_options(args.option), strict=args.strict, progress=True,
    )
    tables.print_sweep(frame, console)
    if args.out:
        write_sweep_csv(frame, args.out)
        console.print(f"wrote {args.out}")
    if args.plot:
        from roofline.report.plot import plot_sweep

        _save_figure(plot_sweep(frame), args.plot, console)
    return 0


# --------------------------------------------------------------------------- validate
def _set_threads(threads: int | None) -> None:
    """torch's CPU thread count, when --threads is given."""
    if threads is not None:
        import torch

        if threads < 1:
            raise RooflineError(f"--threads {threads}: expected a positive integer")
        torch.set_num_threads(threads)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    """Run a model for real, compare measured op times with the predictions, print and write them."""
    from roofline.hardware import load_hardware
    from roofline.targets import build_target
    from roofline.tools.validate import validate

    hw = load_hardware(args.hw)
    _check_plot_path(args.plot)
    _set_threads(args.threads)
    model, inputs, name = build_target(args.target, batch=args.batch, options=parse_options(args.option))
    if hasattr(model, "eval"):
        model.eval()
    _, _, comparison = validate(model, inputs, hw=hw, device=args.device, dtype=args.dtype, name=name,
                                method=args.method, warmup=args.warmup, repeats=args.repeats, clock=args.clock,
                                progress=True)
    tables.print_comparison(comparison, console, top=args.top)
    if args.csv:
        _write_text(args.csv, comparison.ops.to_csv(), console)
    if args.plot:
        from roofline.report.plot import predicted_vs_measured

        _save_figure(predicted_vs_measured(comparison, title=f"{comparison.name} on {hw.display_name}"), args.plot, console)
    return 0


# --------------------------------------------------------------------------- calibrate and plan
def cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    """Measure this machine, print the figures and write them as a hardware spec."""
    from roofline.calibrate import calibrate, write_calibrated_spec

    result = calibrate(args.device, quick=args.quick, threads=args.threads, clock=args.clock, progress=True)
    tables.print_calibration(result, console)
    spec = write_calibrated_spec(result, args.out, name=args.name)
    console.print(f"wrote {args.out} (spec {spec.name!r}; use it with --hw {args.out})")
    return 0


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    """The best data/tensor/pipeline split and micro-batch for training on a multi-device spec."""
    from roofline._io import progress
    from roofline.hardware import load_hardware
    from roofline.tools.parallel import plan, profiler_for_target, splits
    from roofline.units import parse_quantity

    hw = load_hardware(args.hw)
    try:
        overhead_s = parse_quantity(args.microbatch_overhead, "time", where="--microbatch-overhead")
    except ValueError as exc:
        raise RooflineError(str(exc)) from None
    optimizer = None if args.optimizer == "none" else args.optimizer
    profiler = profiler_for_target(args.target, hw, dtype=args.dtype, optimizer=optimizer, options=parse_options(args.option))
    total = len(splits(hw, args.global_batch)) if hw.interconnect is not None and args.global_batch > 0 else 0
    with progress(True, "planning", total) as advance:
        result = plan(profiler, hw, args.global_batch, overlap=not args.no_overlap, microbatch_overhead_s=overhead_s,
                      progress=lambda text: advance(1, text))
    tables.print_plan(result, args.target, hw, args.global_batch, console, top=args.top)
    return 0


# --------------------------------------------------------------------------- llm
def cmd_llm(args: argparse.Namespace, console: Console) -> int:
    """LLM serving estimates per batch and spec (roofline.tools.llm); print, write CSV and plot."""
    from roofline.tools.llm import llm, plot_llm, print_llm
    from roofline.units import parse_quantity

    names = [name.strip() for name in args.hw.split(",")]
    if not all(names):
        raise RooflineError(f"--hw {args.hw!r}: expected spec names or YAML paths separated by commas")
    batches = size_list(args.batch, "--batch")
    _check_plot_path(args.plot)
    overhead_s = None
    if args.op_overhead is not None:
        try:
            overhead_s = parse_quantity(args.op_overhead, "time", where="--op-overhead")
        except ValueError as exc:
            raise RooflineError(str(exc)) from None
    report = llm(args.target, names, dtype=args.dtype, weights=args.weights, kv=args.kv, prompt=args.prompt,
                 generate=args.generate, batches=batches, tp=args.tp, op_overhead_s=overhead_s, decode=args.decode,
                 crossover=not args.no_crossover, progress=True)
    print_llm(report, console)
    if args.csv:
        _write_text(args.csv, report.table.to_csv(index=False), console)
    if args.plot:
        _save_figure(plot_llm([report]), args.plot, console)
    return 0


# --------------------------------------------------------------------------- hw and zoo
def cmd_hw_list(args: argparse.Namespace, console: Console) -> int:
    """List the packaged hardware specs."""
    from roofline.hardware import list_hardware

    tables.print_hardware_list(list_hardware(), console)
    return 0


def cmd_hw_show(args: argparse.Namespace, console: Console) -> int:
    """Peaks, memory levels, links and ridge points of one spec."""
    from roofline.hardware import load_hardware

    tables.print_hardware(load_hardware(args.name), console)
    return 0


def cmd_zoo(args: argparse.Namespace, console: Console) -> int:
    """List the zoo models."""
    from roofline.targets import zoo

    tables.print_zoo(zoo(), console)
    return 0
