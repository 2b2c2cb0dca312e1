"""The ``roofline`` subcommands: ``cmd_<name>(args, console) -> exit code``.

Each command checks what can fail early (spec, figure path, trace file) before building
a model, asks the library for the result, prints it with roofline.report.tables and
writes the files asked for. All numbers come from the library; nothing is computed here.
Heavy modules are imported inside the command that needs them, so ``roofline --help``
stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from roofline.errors import RooflineError
from roofline.report import tables

#: The breakdowns ``analyze --by`` takes (the parser checks its value against them).
VIEWS = tables.VIEWS


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


def spec_names(text: str) -> list[str]:
    """--hw's comma-separated spec names or YAML paths; one line naming it if one is empty."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise RooflineError(f"--hw {text!r}: expected spec names or YAML paths separated by commas")
    return names


def time_option(text: str, flag: str, *, allow_zero: bool = False) -> float:
    """A time option (``flag``, e.g. "50 us") in seconds; one line naming the flag if not one.
    allow_zero: "0" (with or without a unit) means no time at all, which parse_quantity,
    made for spec figures, refuses."""
    from roofline.units import parse_quantity

    if allow_zero and text.split() and text.split()[0] in ("0", "0.0"):
        return 0.0
    try:
        return parse_quantity(text, "time", where=flag)
    except ValueError as exc:
        raise RooflineError(str(exc)) from None


def interactive() -> bool:
    """Show progress bars only on a terminal: a bar drawn into a file or a pipe leaves a
    blank line behind, before any error message."""
    return sys.stderr.isatty()


def _first_existing(path: Path) -> Path:
    """The nearest ancestor of ``path`` (itself excluded) that exists."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_outputs(outputs: Sequence[tuple[str, str | None]], figures: Sequence[str] = ()) -> None:
    """Every file a command will write, checked before any work, so a bad path fails at
    once and nothing is half-written: (flag, path) pairs (path None: not asked for). A
    path must not be a directory, its directory must exist, be a directory and be
    writable, and two flags must not name one file. ``figures``: flags whose path is a
    figure (the format is checked from the suffix too)."""
    seen: dict[Path, str] = {}
    for flag, text in outputs:
        if text is None:
            continue
        path = Path(text)
        parent = path.parent
        if path.is_dir():
            raise RooflineError(f"{flag} {text}: is a directory; give a file path")
        if not parent.is_dir():
            existing = _first_existing(path)
            if existing.exists() and not existing.is_dir():
                raise RooflineError(f"{flag} {text}: {existing} is a file, not a directory")
            raise RooflineError(f"{flag} {text}: no such directory {str(parent)!r}")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RooflineError(f"{flag} {text}: cannot write in {str(parent)!r} (permission denied)")
        key = path.resolve()
        if key in seen:
            raise RooflineError(f"{flag} {text}: {seen[key]} writes the same file; give each output its own path")
        seen[key] = flag
        if flag in figures:
            from roofline.report.plot import check_figure_path

            check_figure_path(path)


def _write_outputs(files: Sequence[tuple[str, Any]], console: Console) -> None:
    """Write (path, text or matplotlib Figure) pairs, each atomically, once everything
    they hold has been made (a failure while making one leaves no file behind)."""
    from roofline._io import write_text_atomic

    for path, content in files:
        if isinstance(content, str):
            write_text_atomic(path, content)
        else:
            from roofline.report.plot import save

            save(content, path)
        console.print(f"wrote {path}")


# --------------------------------------------------------------------------- analyze
def _check_trace_args(args: argparse.Namespace) -> None:
    """A bad measured trace, or one without --trace to merge into, fails before the model is built."""
    if args.trace_measured:
        from roofline.report.trace import load_trace

        if not args.trace:
            raise RooflineError("--trace-measured: give --trace FILE too (the merged trace is written there)")
        load_trace(args.trace_measured)


def ops_csv(ops: Any, workload: Any, hw: Any) -> str:
    """A per-op table as CSV, each row led by what was analysed (model, the dtype it
    computes in as model_dtype beside each op's own dtype, batch, seq, params) and the
    spec, so the file says what it is without the command line."""
    described = workload.as_dict()
    columns = {"model": described.pop("model"), "model_dtype": described.pop("dtype"), **described, "hw": hw.name}
    front = ops.assign(**columns)[list(columns)]
    return front.join(ops.drop(columns=[c for c in columns if c in ops.columns])).to_csv()


def _analysis_files(args: argparse.Namespace, analysis: Any) -> list[tuple[str, Any]]:
    """The files analyze was asked for, made in memory: (path, text or Figure)."""
    files: list[tuple[str, Any]] = []
    if args.csv:
        files.append((args.csv, ops_csv(analysis.ops, analysis.workload, analysis.hw)))
    if args.json:
        files.append((args.json, analysis.to_json()))
    if args.trace:
        from roofline.report.trace import trace_text

        files.append((args.trace, trace_text(analysis, measured=args.trace_measured)))
    if args.plot:
        from roofline.report.plot import roofline

        files.append((args.plot, roofline(analysis)))
    return files


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    """Count, place and predict every op of a model; print it and write the files asked for."""
    from roofline.analysis import analyze
    from roofline.hardware import load_hardware
    from roofline.targets import build

    hw = load_hardware(args.hw)
    check_outputs([("--csv", args.csv), ("--json", args.json), ("--trace", args.trace), ("--plot", args.plot)],
                  figures=("--plot",))
    _check_trace_args(args)
    options = parse_options(args.option)
    if args.seq is not None:
        options["seq"] = args.seq
    target = build(args.target, batch=args.batch, meta=args.meta, options=options)
    train = {"mode": "train", "optimizer": None if args.optimizer == "none" else args.optimizer} if args.train else {}
    analysis = analyze(target.model, target.inputs, hw=hw, dtype=args.dtype, name=target.name, strict=args.strict,
                       batch=target.batch, seq=target.seq, **train)
    files = _analysis_files(args, analysis)
    view, depth = args.by
    tables.print_analysis(analysis, console, top=args.top, by=view, depth=depth, all_categories=args.all_categories)
    if args.trace:
        console.print(f"{args.trace}: open it in https://ui.perfetto.dev")
    _write_outputs(files, console)
    return 0


# --------------------------------------------------------------------------- sweep
def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    """Predict one model over a grid of batch sizes, seqs and specs; print, write CSV and plot."""
    from roofline.report.text import dtype_note
    from roofline.tools.sweep import sweep, sweep_csv

    names = spec_names(args.hw)
    batches = size_list(args.batch, "--batch")
    seqs = size_list(args.seq, "--seq")
    check_outputs([("--out", args.out), ("--plot", args.plot)], figures=("--plot",))
    frame = sweep(
        args.target, names, batches or [None], seqs, meta=args.meta, dtype=args.dtype,
        options=parse_options(args.option), strict=args.strict, progress=interactive(), method=args.method,
        note=lambda line: console.print(line, style="dim", markup=False, highlight=False),
    )
    files: list[tuple[str, Any]] = [(args.out, sweep_csv(frame))] if args.out else []
    if args.plot:
        from roofline.report.plot import plot_sweep

        files.append((args.plot, plot_sweep(frame)))
    tables.print_sweep(frame, console)
    from roofline.hardware import load_hardware

    gpu = next((h for h in (load_hardware(n) for n in names) if h.kind == "gpu"), None)
    note = dtype_note(str(frame["dtype"].iloc[0]), gpu) if gpu is not None and not frame.empty else None
    if note:
        console.print(note, style="yellow")
    _write_outputs(files, console)
    return 0


# --------------------------------------------------------------------------- validate
def _set_threads(threads: int | None) -> None:
    """torch's CPU thread count, when --threads is given."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _warn_other_machine(hw: Any, device: str | None) -> None:
    """One line on stderr when a CPU spec was calibrated on another machine (another CPU
    model, other instruction sets, or another thread count) than the one the validation
    measures on."""
    record = hw.measured
    if record is None or record.device != "cpu" or (device or "cpu").split(":")[0] != "cpu":
        return
    import torch

    from roofline.calibrate.machine import cpu_isa, cpu_name_and_vendor

    here, threads, isa = cpu_name_and_vendor()[0], torch.get_num_threads(), cpu_isa()
    if ((record.device_name and record.device_name != here) or (record.threads and record.threads != threads)
            or (record.isa and record.isa != isa)):
        print(f"roofline: warning: spec {hw.name!r} was calibrated on {record.device_name!r} "
              f"({record.isa or 'instruction sets not recorded'}) with {record.threads} threads; this machine is "
              f"{here!r} ({isa}) with {threads}: calibrate here (roofline calibrate --out FILE) for predictions "
              "of this machine", file=sys.stderr)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    """Run a model for real (or read a profiler trace of it), compare measured op times
    with the predictions, print and write them."""
    from roofline.hardware import load_hardware
    from roofline.targets import build

    hw = load_hardware(args.hw)
    check_outputs([("--csv", args.csv), ("--plot", args.plot)], figures=("--plot",))
    if args.profile is not None:
        return _validate_profile(args, hw, console)
    if args.meta:
        raise RooflineError("--meta: only with --profile; a run here needs real tensors")
    from roofline.tools.validate import validate

    _set_threads(args.threads)
    _warn_other_machine(hw, args.device)
    options = parse_options(args.option)
    if args.target.startswith("hf:"):
        options.setdefault("meta", False)  # hf: targets build on meta unless told; timing needs real tensors
    target = build(args.target, batch=args.batch, options=options)
    if hasattr(target.model, "eval"):
        target.model.eval()
    analysis, _, comparison = validate(target.model, target.inputs, hw=hw, device=args.device, dtype=args.dtype,
                                       name=target.name, method=args.method, warmup=args.warmup, repeats=args.repeats,
                                       clock=args.clock, progress=interactive())
    return _report_validation(args, analysis, comparison, target, hw, console, "measured here")


def _validate_profile(args: argparse.Namespace, hw: Any, console: Console) -> int:
    """validate --profile: analyse the model and join it with the trace, no run here."""
    from roofline.analysis import analyze
    from roofline.measure.trace import read_profile
    from roofline.targets import build
    from roofline.tools.validate import validate_trace

    if args.device is not None:
        raise RooflineError("--device: not with --profile; the trace says where the model ran")
    read_profile(args.profile)  # a missing or malformed trace fails before the model is built
    target = build(args.target, batch=args.batch, meta=args.meta, options=parse_options(args.option))
    if hasattr(target.model, "eval"):
        target.model.eval()
    analysis = analyze(target.model, target.inputs, hw=hw, dtype=args.dtype, name=target.name,
                       batch=target.batch, seq=target.seq)
    comparison = validate_trace(analysis, args.profile)
    traced_on = "gpu" if comparison.basis == "kernel" else "cpu"
    if hw.kind != traced_on:
        print(f"roofline: warning: {args.profile} is a {traced_on} trace but spec {hw.name!r} is a {hw.kind}: "
              "the errors compare two different machines", file=sys.stderr)
    return _report_validation(args, analysis, comparison, target, hw, console, f"traced ({Path(args.profile).name})")


def _report_validation(args: argparse.Namespace, analysis: Any, comparison: Any, target: Any, hw: Any,
                       console: Console, measured: str) -> int:
    """Print a Comparison and write the CSV and figure validate was asked for."""
    workload = dataclasses.replace(analysis.workload, batch=target.batch, seq=target.seq)
    files: list[tuple[str, Any]] = [(args.csv, ops_csv(comparison.ops, workload, hw))] if args.csv else []
    if args.plot:
        from roofline.report.plot import predicted_vs_measured

        title = f"{workload.describe()}: {measured} vs {hw.display_name}"
        files.append((args.plot, predicted_vs_measured(comparison, title=title)))
    tables.print_comparison(comparison, console, top=args.top, workload=workload)
    _write_outputs(files, console)
    return 0


# --------------------------------------------------------------------------- calibrate and plan
def cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    """Measure this machine, print the figures and write them as a hardware spec."""
    from roofline.calibrate import calibrate, write_calibrated_spec

    check_outputs([("--out", args.out)])
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RooflineError(f"--device {args.device}: CUDA is not available on this machine or in this torch build")
    result = calibrate(args.device, quick=args.quick, threads=args.threads, clock=args.clock, progress=interactive(),
                       rounds=args.rounds)
    tables.print_calibration(result, console)
    spec = write_calibrated_spec(result, args.out, name=args.name)
    console.print(f"wrote {args.out} (spec {spec.name!r}; use it with --hw {args.out})")
    return 0


def cmd_fit_kernels(args: argparse.Namespace, console: Console) -> int:
    """Fit a GPU's kernel model on timing files and write the spec with it."""
    from roofline.calibrate.kernels import fitted_spec, read_measurement_dir
    from roofline.hardware import load_hardware, write_hardware

    check_outputs([("--out", args.out)])
    for flag, mhz in (("--boost-clock", args.boost_clock), ("--sustained-clock", args.sustained_clock)):
        if mhz is not None and not 100 <= mhz <= 5000:
            raise RooflineError(f"{flag} {mhz:g}: expected a clock from 100 to 5000 MHz")
    base = load_hardware(args.hw)
    if base.kind != "gpu":
        raise RooflineError(f"--hw {args.hw}: a {base.kind} spec; fit-kernels fits GPU kernels")
    timings = read_measurement_dir(args.measurements, args.gpu)
    name = args.name or Path(args.out).stem
    mhz = {flag: value * 1e6 if value is not None else None
           for flag, value in (("boost", args.boost_clock), ("sustained", args.sustained_clock))}
    spec, fit = fitted_spec(base, timings, name=name, sms=args.sms, boost_clock_hz=mhz["boost"],
                            sustained_clock_hz=mhz["sustained"], where=f"{args.gpu} in {Path(args.measurements).name}/")
    write_hardware(spec, args.out)
    console.print(f"{args.gpu}: gemm_efficiency {fit.gemm_efficiency:.3f} ({fit.gemm_rows} GEMM rows), memory efficiency "
                  f"{fit.memory_efficiency:.3f}, fixed cost per timed kernel {fit.offset_s * 1e6:.1f} us, floor "
                  f"{fit.floor_s * 1e6:.1f} us ({fit.stream_rows} element-wise rows over the floor)")
    console.print(f"wrote {args.out} (spec {spec.name!r} from {base.name}; use it with --hw {args.out})")
    return 0


#: The largest fixed cost per micro-batch plan takes: more is a unit mistake (5 for 5 us).
MAX_MICROBATCH_OVERHEAD_S = 1.0


def microbatch_overhead(text: str) -> float:
    """--microbatch-overhead in seconds: a time with its unit ("50 us"), up to 1 s."""
    if not any(char.isalpha() for char in text):
        raise RooflineError(f"--microbatch-overhead {text!r}: give a unit, e.g. '50 us' or '0.2 ms'")
    seconds = time_option(text, "--microbatch-overhead", allow_zero=True)
    if not 0 <= seconds <= MAX_MICROBATCH_OVERHEAD_S:
        raise RooflineError(f"--microbatch-overhead {text!r}: expected 0 to 1 s per micro-batch")
    return seconds


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    """The best data/tensor/pipeline split and micro-batch for training on a multi-device spec."""
    from roofline._io import progress
    from roofline.hardware import load_hardware
    from roofline.report.text import dtype_note
    from roofline.tools.parallel import plan, profiler_for_target, splits

    hw = load_hardware(args.hw)
    overhead_s = microbatch_overhead(args.microbatch_overhead)
    optimizer = None if args.optimizer == "none" else args.optimizer
    profiler = profiler_for_target(args.target, hw, dtype=args.dtype, optimizer=optimizer, options=parse_options(args.option))
    total = len(splits(hw, args.global_batch)) if hw.interconnect is not None else 0
    with progress(interactive(), "planning", total) as advance:
        result = plan(profiler, hw, args.global_batch, overlap=not args.no_overlap, microbatch_overhead_s=overhead_s,
                      progress=lambda text: advance(1, text))
    tables.print_plan(result, args.target, hw, args.global_batch, console, top=args.top, workload=profiler.workload)
    note = dtype_note(profiler.workload.dtype if profiler.workload else None, hw)
    if note:
        console.print(note, style="yellow")
    return 0


# --------------------------------------------------------------------------- llm
def cmd_llm(args: argparse.Namespace, console: Console) -> int:
    """LLM serving estimates per batch and spec (roofline.tools.llm); print, write CSV and plot."""
    from roofline.tools.llm import llm, plot_llm, print_llm

    names = spec_names(args.hw)
    batches = size_list(args.batch, "--batch")
    check_outputs([("--csv", args.csv), ("--plot", args.plot)], figures=("--plot",))
    overhead_s = None if args.op_overhead is None else time_option(args.op_overhead, "--op-overhead", allow_zero=True)
    report = llm(args.target, names, dtype=args.dtype, weights=args.weights, kv=args.kv, prompt=args.prompt,
                 generate=args.generate, batches=batches, tp=args.tp, op_overhead_s=overhead_s, decode=args.decode,
                 crossover=not args.no_crossover, progress=interactive())
    files: list[tuple[str, Any]] = [(args.csv, report.table.to_csv(index=False))] if args.csv else []
    if args.plot:
        files.append((args.plot, plot_llm([report])))
    print_llm(report, console)
    _write_outputs(files, console)
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

    from roofline.hardware.io import spec_caveats

    spec = load_hardware(args.name)
    tables.print_hardware(spec, console, caveats=spec_caveats(spec))
    return 0


def cmd_zoo(args: argparse.Namespace, console: Console) -> int:
    """List the zoo models."""
    from roofline.targets import zoo

    tables.print_zoo(zoo(), console)
    return 0
