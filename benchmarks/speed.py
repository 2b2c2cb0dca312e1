"""How fast and how small is the analyser, next to its peers?

Times ``roofline.analyze`` (capture + count + predict, bytes included) against torch's
``FlopCounterMode`` (FLOPs only) and fvcore's ``FlopCountAnalysis`` (FLOPs only, through
a JIT trace) on the same models, in the same process, and reports peak memory.

    python benchmarks/speed.py                       # print the table
    python benchmarks/speed.py --write docs/performance.md

How it measures (why each choice):
- Each model is timed in its own fresh subprocess, and the three tools are run
  interleaved inside it (tool A, B, C, then A, B, C again...), so all three see the same
  machine load; the ratio to FlopCounterMode is the figure to trust on a busy machine.
- Before each timed run the garbage collector runs, untimed: otherwise a tool pays for
  collecting the reference cycles the previous tool left (fvcore's traced graphs).
- Every tool runs once untimed first: one-off costs (lazy imports, the first call of
  each kernel, FlopCounterMode's first use takes seconds) are not what a sweep pays.
- torch runs on one thread by default (--threads): on a machine shared with other work,
  intra-op threads that wait on each other make the real-tensor times erratic.
- Real-tensor models really run: their times include the model's own forward, which is
  the same for every tool (the "forward" column shows it alone). Meta-tensor models run
  no arithmetic, so their times are the tools' own overhead.
- Peak RSS is measured per (model, tool) in yet another fresh subprocess that builds the
  model and runs that one tool once: resource.getrusage's ru_maxrss is a high-water mark
  of the whole process, so sharing a process would blur the tools together.
- A spec swap is ``Analysis.with_hw`` on each packaged spec, timed after one analyze.
- ``--sweep`` times the symbolic sweep instead (roofline.tools.symbolic_sweep): Llama-2-7B
  on meta over batch 1..64 x 50 sequence lengths x 3 specs (9,600 points), first in the
  process (one-off imports), cold (regions dropped, so its symbolic captures included;
  the figure the 3x target is about, as the analyze it is compared with is warm) and
  warm (regions kept: evaluation only), against one warm analyze of the model; then
  compares sampled points with a direct analyze each.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

#: (label, zoo target, build options, meta)
MODELS: tuple[tuple[str, str, dict[str, Any], bool], ...] = (
    ("ResNet-50 (batch 1, 224x224)", "resnet50", {}, False),
    ("BERT-base (128 tokens)", "bert-base", {"seq": 128}, False),
    ("GPT-2 small (1024 tokens)", "gpt2", {"seq": 1024}, False),
    ("Llama-2-7B (meta, 2048 tokens)", "llama-7b", {"seq": 2048}, True),
    ("Llama-2-70B (meta, 2048 tokens)", "llama-70b", {"seq": 2048}, True),
)
TOOLS = ("analyze", "flop_counter", "fvcore")
HW = "h100-sxm"


@dataclass
class Timing:
    """Medians (seconds) of one model's runs in one process; None where a tool failed."""

    model: str
    target: str
    meta: bool
    ops: int
    build_s: float
    forward_s: float | None
    analyze_s: float
    flop_counter_s: float
    #: meta only: FlopCounterMode on the ops analyze dispatches (see _flop_counter_same_ops)
    flop_counter_same_ops_s: float | None
    fvcore_s: float | None
    fvcore_error: str
    with_hw_s: float
    analyze_flops: float
    flop_counter_flops: float
    fvcore_flops: float | None
    repeat: int
    #: median CPU time (time.process_time) of each tool: with torch on one thread this
    #: leaves out the time spent waiting for a core on a shared machine
    cpu_s: dict[str, float]


# --- the tools, each as a zero-argument call returning total FLOPs -------------------
def _call(model: Any, inputs: Any) -> Any:
    from roofline.capture import call_model

    return call_model(model, inputs)


def _forward(model: Any, inputs: Any) -> Callable[[], float]:
    import torch

    def run() -> float:
        with torch.no_grad():
            _call(model, inputs)
        return float("nan")

    return run


def _flop_counter(model: Any, inputs: Any) -> Callable[[], float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def run() -> float:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            _call(model, inputs)
        return float(counter.get_total_flops())

    return run


def _flop_counter_same_ops(model: Any, inputs: Any) -> Callable[[], float]:
    """FlopCounterMode with the same routing analyze applies on meta tensors (SDPA to the
    fused kernel a real run uses), so both tools dispatch the same aten ops."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from roofline.capture import FusedAttentionOnMeta

    def run() -> float:
        with torch.no_grad(), FusedAttentionOnMeta(), FlopCounterMode(display=False) as counter:
            _call(model, inputs)
        return float(counter.get_total_flops())

    return run


def _analyze(model: Any, inputs: Any, name: str) -> Callable[[], float]:
    from roofline import analysis

    def run() -> float:
        return analysis.analyze(model, inputs, hw=HW, name=name).total_flops

    return run


def _fvcore(model: Any, inputs: Any) -> Callable[[], float]:
    """fvcore traces with torch.jit, which takes positional tensors: a dict of inputs
    (Hugging Face style) is passed through a wrapper that names them again."""
    import logging

    import torch
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)  # one warning per skipped op
    if isinstance(inputs, dict):
        keys = list(inputs)

        class ByName(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = model

            def forward(self, *values: Any) -> Any:
                return self.inner(**dict(zip(keys, values)))

        traced_model, args = ByName(), tuple(inputs.values())
    else:
        traced_model, args = model, tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)

    def run() -> float:
        with torch.no_grad():
            counter = FlopCountAnalysis(traced_model, args)
            counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return 2.0 * float(counter.total())  # fvcore counts MACs; FLOPs are twice that

    return run


def _build(target: str, options: dict[str, Any], meta: bool) -> tuple[Any, Any, str, float]:
    from roofline.targets import build_target

    start = time.perf_counter()
    model, inputs, name = build_target(target, batch=1, meta=meta, options=options)
    return model, inputs, name, time.perf_counter() - start


def _timed(run: Callable[[], float]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, the run's result). The garbage of the previous run
    (fvcore's traced graphs are full of reference cycles) is collected first, untimed,
    so that no tool pays for another's; the collector stays on during the run."""
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    value = run()
    return time.perf_counter() - start, time.process_time() - start_cpu, value


# --- one model in one process --------------------------------------------------------
def time_model(label: str, target: str, options: dict[str, Any], meta: bool, repeat: int) -> Timing:
    """Median wall time of each tool on one model, tools interleaved run by run."""
    from roofline import analysis
    from roofline.hardware import list_hardware

    model, inputs, name, build_s = _build(target, options, meta)
    tools: dict[str, Callable[[], float]] = {
        "analyze": _analyze(model, inputs, name),
        "flop_counter": _flop_counter(model, inputs),
    }
    if not meta:
        tools["forward"] = _forward(model, inputs)
    else:
        tools["flop_counter_same_ops"] = _flop_counter_same_ops(model, inputs)
    for run in tools.values():
        run()  # warm-up, untimed (see the module docstring)
    fvcore_error = ""
    try:
        fvcore_run = _fvcore(model, inputs)
        fvcore_run()  # does it trace at all? (also its warm-up)
        tools["fvcore"] = fvcore_run
    except Exception as exc:  # report honestly, keep timing the others
        fvcore_error = f"cannot trace: {type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    cpu_times: dict[str, list[float]] = {tool: [] for tool in tools}
    totals: dict[str, float] = {}
    for _ in range(repeat):
        for tool, run in tools.items():
            elapsed, cpu, totals[tool] = _timed(run)
            times[tool].append(elapsed)
            cpu_times[tool].append(cpu)

    result = analysis.analyze(model, inputs, hw=HW, name=name)
    swaps = []
    for spec in list_hardware()["name"]:
        start = time.perf_counter()
        result.with_hw(spec)
        swaps.append(time.perf_counter() - start)

    median = {tool: statistics.median(values) for tool, values in times.items()}
    return Timing(
        model=label,
        target=target,
        meta=meta,
        ops=len(result.ops),
        build_s=build_s,
        forward_s=median.get("forward"),
        analyze_s=median["analyze"],
        flop_counter_s=median["flop_counter"],
        flop_counter_same_ops_s=median.get("flop_counter_same_ops"),
        fvcore_s=median.get("fvcore"),
        fvcore_error=fvcore_error,
        with_hw_s=statistics.median(swaps),
        analyze_flops=totals["analyze"],
        flop_counter_flops=totals["flop_counter"],
        fvcore_flops=totals.get("fvcore"),
        repeat=repeat,
        cpu_s={tool: statistics.median(values) for tool, values in cpu_times.items()},
    )


def peak_rss(target: str, options: dict[str, Any], meta: bool, tool: str) -> dict[str, float | str]:
    """Peak resident memory (bytes) of a fresh process that builds the model and runs
    ``tool`` once; also the peak after building alone, to show what the model costs."""
    model, inputs, name, _ = _build(target, options, meta)
    built_bytes = _max_rss_bytes()
    run = {"analyze": lambda: _analyze(model, inputs, name), "flop_counter": lambda: _flop_counter(model, inputs),
           "fvcore": lambda: _fvcore(model, inputs)}[tool]
    error = ""
    try:
        run()()
    except Exception as exc:
        error = f"{type(exc).__name__}"
    return {"built_bytes": built_bytes, "peak_bytes": _max_rss_bytes(), "error": error}


def _max_rss_bytes() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; Linux: KiB


# --- where analyze's time goes --------------------------------------------------------
def _profile_group(path: str) -> str:
    import roofline

    package = str(Path(roofline.__file__).resolve().parent)
    ours = path.startswith(package)
    if "_pytree" in path:
        return "torch pytree (tree_flatten / tree_map_only)"
    if ours and path.endswith("capture.py"):
        return "roofline capture, own code"
    if ours and path.endswith("predict.py"):
        return "roofline predict"
    if ours or "pandas" in path or "numpy" in path:
        return "roofline count + frames (registry, formulas, pandas)"
    if path.replace("\\", "/").endswith("torch/nn/modules/module.py"):
        return "nn.Module calls and module-path hooks"
    return "torch ops, meta kernels, model code"


def profile(target: str, options: dict[str, Any], meta: bool, top: int = 10) -> str:
    """cProfile of one analyze (after a warm-up): own time grouped by where it went, and
    the top functions by own time, as text."""
    import cProfile
    import pstats
    from collections import Counter

    model, inputs, name, _ = _build(target, options, meta)
    run = _analyze(model, inputs, name)
    run()
    gc.collect()
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    groups: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for (path, _, function), (_, _, own_s, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        groups[_profile_group(path)] += own_s
        functions[f"{Path(path).name}:{function}"] += own_s
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = [f"analyze {target} ({'meta' if meta else 'real'}): {total:.2f} s under cProfile"]
    lines += [f"  {100 * t / total:5.1f}%  {g}" for g, t in groups.most_common()]
    lines.append("  top functions by own time:")
    lines += [f"  {100 * t / total:5.1f}%  {f}" for f, t in functions.most_common(top)]
    return "\n".join(lines)


# --- the parent: one subprocess per measurement -------------------------------------
def _child(args: list[str]) -> Any:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_all(repeat: int, selected: list[str] | None, rss: bool, threads: int) -> tuple[list[Timing], dict[str, dict[str, Any]]]:
    from rich.progress import Progress

    models = [m for m in MODELS if selected is None or m[1] in selected]
    steps = len(models) * (1 + (len(TOOLS) if rss else 0))
    timings: list[Timing] = []
    memory: dict[str, dict[str, Any]] = {}
    with Progress(transient=True) as progress:
        task = progress.add_task("benchmarking", total=steps)
        for label, target, options, meta in models:
            encoded = json.dumps([label, target, options, meta])
            progress.update(task, description=f"timing {target}")
            timings.append(Timing(**_child(["--child-time", encoded, "--repeat", str(repeat), "--threads", str(threads)])))
            progress.advance(task)
            memory[target] = {}
            if rss:
                for tool in TOOLS:
                    progress.update(task, description=f"peak RSS {target} / {tool}")
                    memory[target][tool] = _child(["--child-rss", encoded, tool, "--threads", str(threads)])
                    progress.advance(task)
    return timings, memory


# --- report ------------------------------------------------------------------------
def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.2f} s"


def _mb(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    text = f"{entry['peak_bytes'] / 1e6:,.0f}"
    return f"{text} ({entry['error']})" if entry.get("error") else text


def _gflop(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e9:,.1f}"


def _same_ops_ratio(t: Timing) -> str:
    """analyze / FlopCounterMode-on-the-same-ops, wall time (CPU time); "-" off meta."""
    if t.flop_counter_same_ops_s is None:
        return "-"
    cpu = t.cpu_s["analyze"] / t.cpu_s["flop_counter_same_ops"]
    return f"{t.analyze_s / t.flop_counter_same_ops_s:.2f}x ({cpu:.2f}x)"


def render(timings: list[Timing], memory: dict[str, dict[str, Any]]) -> str:
    """The results as Markdown tables (times, then memory and FLOP totals)."""
    lines = [
        "| model | aten ops | forward alone | analyze | FlopCounterMode | fvcore | analyze / FlopCounterMode | same, CPU time | analyze / FlopCounterMode on the same ops, wall (CPU) | fvcore / FlopCounterMode | spec swap (with_hw) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in timings:
        fv = _s(t.fvcore_s) if t.fvcore_s is not None else t.fvcore_error
        fv_ratio = f"{t.fvcore_s / t.flop_counter_s:.2f}x" if t.fvcore_s is not None else "-"
        lines.append(
            f"| {t.model} | {t.ops:,} | {_s(t.forward_s) if t.forward_s is not None else 'none (meta)'} | "
            f"{_s(t.analyze_s)} | {_s(t.flop_counter_s)} | {fv} | **{t.analyze_s / t.flop_counter_s:.2f}x** | "
            f"{t.cpu_s['analyze'] / t.cpu_s['flop_counter']:.2f}x | "
            f"{_same_ops_ratio(t)} | "
            f"{fv_ratio} | {t.with_hw_s * 1e3:.1f} ms |"
        )
    lines += [
        "",
        "| model | build | peak RSS MB: after build | analyze | FlopCounterMode | fvcore | GFLOP: analyze | FlopCounterMode | fvcore (2 x MACs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in timings:
        mem = memory.get(t.target, {})
        built = mem.get("analyze", {}).get("built_bytes") if mem else None
        lines.append(
            f"| {t.model} | {_s(t.build_s)} | {'-' if built is None else f'{built / 1e6:,.0f}'} | "
            f"{_mb(mem.get('analyze'))} | {_mb(mem.get('flop_counter'))} | {_mb(mem.get('fvcore'))} | "
            f"{_gflop(t.analyze_flops)} | {_gflop(t.flop_counter_flops)} | {_gflop(t.fvcore_flops)} |"
        )
    return "\n".join(lines) + "\n"


def machine() -> str:
    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


#: The --sweep benchmark: target, specs, batches and sequence lengths (9,600 points).
SWEEP_TARGET = "llama-7b"
SWEEP_SPECS = ("h100-sxm", "a100-sxm", "l4")
SWEEP_BATCHES = tuple(range(1, 65))
SWEEP_SEQS = tuple(round(64 + i * (4096 - 64) / 49) for i in range(50))


def _clock(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall s, CPU s, result) of one call, after an untimed garbage collection."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def sweep_benchmark(samples: int = 20) -> str:
    """Time the symbolic sweep of SWEEP_TARGET against one warm analyze, and check
    ``samples`` points spread over the grid against a direct analyze each. Returns the
    report (lines of figures)."""
    import roofline
    from roofline.targets import build
    from roofline.tools import symbolic_sweep
    from roofline.tools.sweep import sweep

    built = build(SWEEP_TARGET, batch=8, meta=True, options={"seq": 2048})
    for _ in range(2):  # warm: imports, first calls
        roofline.analyze(built.model, built.inputs, hw=SWEEP_SPECS[0])
    analyze_runs = [_clock(lambda: roofline.analyze(built.model, built.inputs, hw=SWEEP_SPECS[0]))[:2] for _ in range(3)]
    analyze_wall = statistics.median(w for w, _ in analyze_runs)
    analyze_cpu = statistics.median(c for _, c in analyze_runs)
    notes: list[str] = []

    def run() -> Any:
        return sweep(SWEEP_TARGET, list(SWEEP_SPECS), SWEEP_BATCHES, SWEEP_SEQS, meta=True, method="symbolic",
                     note=notes.append)

    symbolic_sweep.REGIONS.clear()
    first_wall, first_cpu, _ = _clock(run)  # the process's first symbolic capture: one-off imports
    colds = []
    for _ in range(3):  # regions dropped each time: every capture made again
        symbolic_sweep.REGIONS.clear()
        colds.append(_clock(run))
    cold_wall = statistics.median(c[0] for c in colds)
    cold_cpu = statistics.median(c[1] for c in colds)
    cold_spread = max(c[0] for c in colds) / min(c[0] for c in colds) - 1
    frame = colds[-1][2]
    warm_wall, warm_cpu, _ = _clock(run)
    rows = [int(i) for i in [round(k * (len(frame) - 1) / (samples - 1)) for k in range(samples)]]
    worst = {"predicted_s": 0.0, "total_flops": 0.0, "total_bytes": 0.0}
    for i in rows:
        row = frame.iloc[i]
        point = build(SWEEP_TARGET, batch=int(row["batch"]), meta=True, options={"seq": int(row["seq"])})
        direct = roofline.analyze(point.model, point.inputs, hw=row["hw"]).summary()
        worst = {column: max(value, abs(row[column] / direct[column] - 1)) for column, value in worst.items()}
    grid = (f"symbolic sweep of {SWEEP_TARGET} on meta: {len(SWEEP_BATCHES)} batches x {len(SWEEP_SEQS)} seqs x "
            f"{len(SWEEP_SPECS)} specs = {len(frame)} points; {notes[1]} (each cold run)")
    first = (f"first sweep of the process (one-off imports of the symbolic machinery included): {first_wall:.2f} s wall, "
             f"{first_cpu:.2f} s CPU = {first_wall / analyze_wall:.1f}x analyze wall")
    cold = (f"cold sweep (regions dropped: symbolic captures and builds included; median of 3, spread "
            f"{cold_spread:.0%}): {cold_wall:.2f} s wall, {cold_cpu:.2f} s CPU "
            f"= {cold_wall / analyze_wall:.1f}x analyze wall, {cold_cpu / analyze_cpu:.1f}x CPU (target 3x)")
    warm = (f"warm sweep (regions kept, evaluation only): {warm_wall:.3f} s wall, {warm_cpu:.3f} s CPU "
            f"= {warm_wall / analyze_wall:.2f}x analyze wall, {warm_cpu / analyze_cpu:.2f}x CPU")
    deviation = ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
    return "\n".join([
        grid,
        f"one warm analyze (batch 8, seq 2048): {analyze_wall:.3f} s wall, {analyze_cpu:.3f} s CPU",
        first,
        cold,
        warm,
        f"{samples} sampled points vs a direct analyze each, max relative deviation: {deviation}",
        f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}",
    ])


START = "<!-- speed.py table start -->"
END = "<!-- speed.py table end -->"


def write_table(path: Path, table: str, repeat: int, threads: int) -> None:
    """Replace the generated block of ``path`` (between START and END) with ``table``."""
    from roofline._io import write_text_atomic

    block = (
        f"{START}\n_Generated by `python benchmarks/speed.py --write docs/performance.md` "
        f"(median of {repeat} runs, torch on {threads} thread(s); {machine()})._\n\n{table}{END}"
    )
    text = path.read_text() if path.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_text_atomic(path, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per tool (median reported)")
    parser.add_argument("--models", help="comma-separated zoo targets to run (default: all)")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--write", type=Path, help="update the generated table in this Markdown file")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, see above)")
    parser.add_argument("--profile", metavar="TARGET", help="print where analyze's time goes on one model of the table")
    parser.add_argument("--sweep", action="store_true", help="time the symbolic sweep of Llama-2-7B instead (see above)")
    parser.add_argument("--child-time", help=argparse.SUPPRESS)
    parser.add_argument("--child-rss", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_time or args.child_rss or args.profile or args.sweep:
        import torch

        torch.set_num_threads(args.threads)
    if args.profile:
        found = [m for m in MODELS if m[1] == args.profile]
        if not found:
            parser.error(f"--profile {args.profile!r}: expected one of {', '.join(m[1] for m in MODELS)}")
        _, target, options, meta = found[0]
        print(profile(target, options, meta))
        return 0
    if args.sweep:
        print(sweep_benchmark())
        return 0
    if args.child_time:
        label, target, options, meta = json.loads(args.child_time)
        print(json.dumps(asdict(time_model(label, target, options, meta, args.repeat))))
        return 0
    if args.child_rss:
        encoded, tool = args.child_rss
        _, target, options, meta = json.loads(encoded)
        print(json.dumps(peak_rss(target, options, meta, tool)))
        return 0

    selected = args.models.split(",") if args.models else None
    timings, memory = run_all(args.repeat, selected, rss=not args.no_rss, threads=args.threads)
    table = render(timings, memory)
    print(table)
    if args.write:
        write_table(args.write, table, args.repeat, args.threads)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
