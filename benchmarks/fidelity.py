"""Fidelity benchmark: how right are the predictions? Every zoo model that fits this
machine is analysed on a calibrated spec, run for real with every op timed, and compared;
the results go to docs/fidelity.md.

    roofline calibrate --out hw_specs/local-cpu.yaml     # measure this machine (about a minute)
    python benchmarks/fidelity.py                        # the zoo on it -> docs/fidelity.md
    python benchmarks/fidelity.py --calibrate            # both steps in one
    python benchmarks/fidelity.py --models resnet50,gpt2 --out /tmp/f.md
    python benchmarks/fidelity.py --device cuda --hw hw_specs/local-gpu.yaml --out docs/fidelity-zoo-gpu.md

How it measures (why each choice):
- Each model runs in its own fresh subprocess: a model's allocations change the
  allocator's state (and with it the page faults the next model's ops pay), and memory
  is given back between models.
- Ops are timed inline (roofline.measure, method "inline"): each op where it runs, in
  2 warm-up and 7 timed forwards, the median kept; the forward is also timed whole, and
  torch.profiler's self-time total is read as a cross-check. --method profile takes each
  op's torch.profiler span instead, in forwards with no dispatch mode: inline timing
  calls the op through its OpOverload, whose Python argument parsing lands in the span
  (ops of a few microseconds measure up to twice their time in a forward).
- Small inputs: batch 1 and the sizes in OPTIONS, so the whole zoo runs in a few minutes
  on 2 cores. A model is skipped, with the reason listed, when its parameters would
  take more than MAX_PARAM_FRACTION of this machine's memory, or when its forward is
  predicted to take longer than MAX_FORWARD_S (too slow to time 17 times here).
- Targets (roofline.measure.compare): |end-to-end error| <= 15% against the whole forward, and
  time-weighted per-op error <= 30%.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = {"cpu": "hw_specs/local-cpu.yaml", "cuda": "hw_specs/local-gpu.yaml"}
DEFAULT_OUT = {"cpu": "docs/fidelity.md", "cuda": "docs/fidelity-zoo-gpu.md"}
#: Build options per zoo model, beyond batch=1: sizes small enough to time a forward 17
#: times on a 2-core CPU (models not listed use their zoo defaults).
OPTIONS: dict[str, dict[str, Any]] = {
    "gpt2": {"seq": 256},
    "gpt2-decode": {"context": 255},
    "bert-base": {"seq": 128},
}
#: Cases beyond the zoo: name -> (target, batch, options). Hugging Face BERT-base (built
#: offline from its known config, roofline.hf) at batch 1 and 8.
EXTRA_CASES: dict[str, tuple[str, int, dict[str, Any]]] = {
    "hf-bert-base": ("hf:bert-base-uncased", 1, {"seq": 128}),
    "hf-bert-base-b8": ("hf:bert-base-uncased", 8, {"seq": 128}),
}
#: How each --method times an op, as the report says it.
PER_OP_METHOD = {
    "inline": "inline (each op timed where it runs, from the dispatch mode that records it)",
    "profile": ("profile (each op's torch.profiler span, from the dispatcher's entry, in forwards with no dispatch "
                "mode; wall-clock spans; inline timing would add the OpOverload's Python argument parsing to every "
                "op)"),
}
#: Runs of the whole list, interleaved (every model once per run): each model's result is
#: its run with the fastest forward, the spread of its forwards the noise floor.
RUNS = 3
MAX_PARAM_FRACTION = 0.4
MAX_FORWARD_S = 3.0
EXTRA_SLACK = 4.0
WARMUP, REPEATS = 2, 7
CHILD_TIMEOUT_S = 900


# --------------------------------------------------------------------------- one model (child)


def case(name: str) -> tuple[str, int, dict[str, Any]]:
    """(target, batch, options) of a zoo model or an EXTRA_CASES name."""
    return EXTRA_CASES.get(name, (name, 1, OPTIONS.get(name, {})))


def run_one(name: str, hw: str, device: str, threads: int | None, warmup: int, repeats: int,
            clock: str = "wall", method: str = "inline") -> dict[str, Any]:
    """Analyse, measure and compare one zoo model (or extra case); a JSON-able result."""
    import torch

    from roofline.hardware import load_hardware
    from roofline.targets import build_target
    from roofline.tools.validate import validate

    if threads:
        torch.set_num_threads(threads)
    spec = load_hardware(hw)
    target, batch, options = case(name)
    # hf: targets build on meta tensors unless told otherwise; a measured run needs data.
    built_options = {**options, "meta": False} if target.startswith("hf:") else options
    model, inputs, label = build_target(target, batch=batch, options=built_options)
    if hasattr(model, "eval"):
        model.eval()
    a, m, c = validate(model, inputs, hw=spec, device=device, name=label, warmup=warmup, repeats=repeats,
                       clock=clock, method=method)
    by_category = c.by_category().reset_index().replace({math.nan: None}).to_dict(orient="records")
    ops = c.ops.assign(abs_error=(c.ops["predicted_s"] - c.ops["measured_s"]).abs())
    total = float(c.ops["measured_s"].sum())
    grouped = ops.groupby(["op", "category"]).agg(
        count=("op", "size"), predicted_s=("predicted_s", "sum"), measured_s=("measured_s", "sum"),
        abs_error=("abs_error", "sum"), bound=("bound", lambda b: b.mode().iloc[0]))
    grouped["error_share"] = grouped["abs_error"] / total if total else math.nan
    contributors = grouped.sort_values("abs_error", ascending=False).head(5).reset_index()
    return {
        "name": name,
        "options": {"batch": batch, **options},
        "summary": c.summary(),
        "faults": fresh_pages(a.ops, spec),
        "profiler_kind": m.profiler_kind,
        "by_category": by_category,
        "contributors": contributors.replace({math.nan: None}).to_dict(orient="records"),
    }


def fresh_pages(ops: Any, spec: Any) -> dict[str, float | None]:
    """The pages the model predicts a forward writes fresh (the outputs its fresh-write
    model charges, roofline.predict.fresh_write_s) and the seconds one fault costs at the
    spec's calibrated rate (page bytes / measured.fresh_write.bandwidth); None on a spec
    without that model."""
    from roofline.measure.timing import page_bytes
    from roofline.predict import fresh_write_s

    fresh = spec.measured.fresh_write if spec.measured is not None else None
    if fresh is None:
        return {"predicted": None, "fault_s": None}
    page = page_bytes()
    return {"predicted": float(fresh_write_s(ops, spec).sum() * fresh.bandwidth / page),
            "fault_s": page / fresh.bandwidth}


def _faults(r: dict[str, Any]) -> str:
    """'predicted / measured (the measured ones' time)' page faults per forward."""
    measured, faults = r["summary"].get("page_faults"), r.get("faults") or {}
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return "-"
    predicted = faults.get("predicted")
    text = f"{'-' if predicted is None else f'{predicted:,.0f}'} / {measured:,.0f}"
    return text + (f" ({_time(measured * faults['fault_s'])})" if faults.get("fault_s") and measured else "")


# --------------------------------------------------------------------------- driver


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return math.inf


def plan(names: list[str], hw: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(models to run, [(model, why skipped)]): parameter memory and predicted forward time
    are read off a meta-device build, so nothing big is allocated to decide."""
    import torch

    from roofline.analysis import analyze
    from roofline.targets import build_target

    run, skipped = [], []
    memory = _physical_memory()
    for name in names:
        try:
            target, batch, options = case(name)
            model, inputs, label = build_target(target, batch=batch, meta=True, options=options)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be built is reported, not fatal
            skipped.append((name, f"cannot be built: {exc}"))
            continue
        params = 0
        if isinstance(model, torch.nn.Module):
            params = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
        if params > MAX_PARAM_FRACTION * memory:
            skipped.append((name, f"parameters take {params / 1e9:.1f} GB, more than {MAX_PARAM_FRACTION:.0%} of "
                                  f"this machine's {memory / 1e9:.0f} GB"))
            continue
        try:
            predicted = analyze(model, inputs, hw=hw, name=label).predicted_s
        except Exception as exc:  # noqa: BLE001
            skipped.append((name, f"cannot be analysed on meta tensors: {exc}"))
            continue
        # The extra cases are the named checks: run them unless far too slow.
        if predicted > MAX_FORWARD_S * (EXTRA_SLACK if name in EXTRA_CASES else 1):
            skipped.append((name, f"forward predicted at {predicted:.1f} s, over {MAX_FORWARD_S:.0f} s: too slow to "
                                  f"time {WARMUP + REPEATS * 2 + 1} times here"))
            continue
        run.append(name)
    return run, skipped


def run_child(name: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--hw", args.hw,
                   "--device", args.device, "--json", str(out), "--warmup", str(args.warmup),
                   "--repeats", str(args.repeats)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        if args.clock != "wall":
            command += ["--clock", args.clock]
        if args.method != "inline":
            command += ["--method", args.method]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"name": name, "error": f"timed out after {CHILD_TIMEOUT_S} s"}
        if done.returncode != 0 or not out.exists():
            lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if "USDT" not in line]
            return {"name": name, "error": lines[-1] if lines else f"exit code {done.returncode}"}
        result = json.loads(out.read_text())
        result["wall_s"] = time.perf_counter() - started
        return result


def fastest_run(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Of one model's runs, the one with the fastest whole forward, with ``spread``: the
    slowest forward over the fastest, minus 1 (the run-to-run noise floor; NaN with one
    run). Failed runs are skipped; all failed, the last failure."""
    done = [p for p in parts if "summary" in p and p["summary"].get("forward_s")]
    if not done:
        return parts[-1]
    forwards = [p["summary"]["forward_s"] for p in done]
    best = dict(done[forwards.index(min(forwards))])
    best["spread"] = max(forwards) / min(forwards) - 1.0 if len(done) > 1 else math.nan
    best["runs"] = len(done)
    return best


# --------------------------------------------------------------------------- report


def _pct(value: Any, signed: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def _time(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    for factor, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"


def category_totals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per category over every model: summed predicted and measured time, the error of the
    sums, and the time-weighted per-op error (its abs error over its measured time)."""
    totals: dict[str, dict[str, float]] = {}
    for result in results:
        for row in result.get("by_category", []):
            if row["ops"] == 0:
                continue
            t = totals.setdefault(row["category"], {"ops": 0, "predicted_s": 0.0, "measured_s": 0.0, "abs_error_s": 0.0})
            t["ops"] += row["ops"]
            t["predicted_s"] += row["predicted_s"]
            t["measured_s"] += row["measured_s"]
            t["abs_error_s"] += (row["time_weighted_error"] or 0.0) * row["measured_s"]
    rows = []
    for name, t in totals.items():
        measured = t["measured_s"]
        rows.append({"category": name, **t,
                     "error": (t["predicted_s"] - measured) / measured if measured else math.nan,
                     "time_weighted_error": t["abs_error_s"] / measured if measured else math.nan})
    return rows


def _setup_lines(done: list[dict[str, Any]], spec: Any, args: argparse.Namespace, elapsed_s: float) -> list[str]:
    """The report's title, what was run on what (machine, spec, clock, runs, how each figure
    is timed) and the commands that reproduce it."""
    import torch

    flags = (f" --threads {args.threads}" if args.threads else "") + (f" --clock {args.clock}" if args.clock != "wall" else "")
    timing = flags + (f" --method {args.method}" if args.method != "inline" else "")  # the runs' flags; calibrate has no --method
    measured = spec.measured  # a roofline.hardware.CalibrationRecord; None for a datasheet spec
    return [
        "# Fidelity: predicted vs measured" + (" (GPU)" if args.device == "cuda" else ""),
        "",
        "Written by `python benchmarks/fidelity.py` on "
        f"{datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()} "
        f"in {elapsed_s / 60:.1f} min. Every number below was measured by that run; rerun it to refresh.",
        "",
        f"- Machine: {(measured.device_name if measured else None) or platform.processor() or platform.machine()}, "
        f"{done[0]['summary']['threads'] if done else '?'} torch threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}, device `{args.device}`.",
        f"- Spec: `{spec.name}` from `{args.hw}`: {spec.source}."
        + (f" Calibrated {measured.date} ({measured.mode} mode, {measured.threads} threads)."
           if measured else " A datasheet spec, not a calibrated one."),
        f"- Clock: {'wall time' if args.clock == 'wall' else 'CPU time of the one torch thread (time descheduled by other work not counted)'}."
        + ("" if args.clock == "wall" else " Used because the machine was shared with other work, where wall-clock "
           "figures of multi-threaded ops swing several-fold; on a quiet machine drop --threads/--clock to "
           "measure every core on the wall clock."),
        f"- Runs: {args.runs}, interleaved (every model once per run, each in a fresh process); each model's "
        "figures are those of its run with the fastest whole forward, and the run-to-run spread (slowest "
        "forward over fastest) is the noise floor.",
        f"- Per-op times: {PER_OP_METHOD[args.method]} (in {args.warmup} warm-up + {args.repeats} timed "
        "forwards, median); forward: the whole forward timed uninstrumented (median of "
        f"{args.repeats}); profiler: torch.profiler's summed self "
        f"{'CUDA' if args.device == 'cuda' else 'CPU'} time of one forward.",
        "- Errors are (predicted - measured) / measured. End-to-end compares the predicted total "
        "(\"predicted\": the ops and the module calls between them) with the whole forward; \"vs op "
        "sum\" the ops' predictions with the sum of the measured ops (no Python between ops). Time-weighted error = sum |predicted - measured| / sum measured over ops; median op "
        "error = median |predicted - measured| / measured over ops that do work.",
        "- Targets: |end-to-end| <= 15% and time-weighted <= 30% on every model.",
        "",
        "Reproduce:",
        "",
        "```",
        f"roofline calibrate --out {args.hw}" + (" --device cuda" if args.device == "cuda" else "") + flags,
        "python benchmarks/fidelity.py" + (" --device cuda" if args.device == "cuda" else "")
        + (f" --hw {args.hw}" if args.hw != DEFAULT_SPEC[args.device] else "")
        + (f" --out {args.out}" if args.out != DEFAULT_OUT[args.device] else "") + timing,
        f"roofline validate resnet50 --hw {args.hw} --batch 1{timing} --plot resnet50-fidelity.png   # one model, with its table",
        "```",
        "",
    ]


def _gpu_note_lines(args: argparse.Namespace) -> list[str]:
    """On a CPU report, how to write the GPU one and whether it exists."""
    if args.device != "cpu":
        return []
    gpu = ROOT / DEFAULT_OUT["cuda"]
    return [
        "On a machine with a CUDA GPU, `roofline calibrate --device cuda --out hw_specs/local-gpu.yaml` "
        "then `python benchmarks/fidelity.py --device cuda` write the same report for the GPU to "
        f"`{DEFAULT_OUT['cuda']}`" + (" (there is one beside this file)." if gpu.exists()
                                      else "; none has been run yet."),
        "",
    ]


def _per_model_lines(done: list[dict[str, Any]], runs: int) -> list[str]:
    """The per-model table, then how many models meet the targets, the noise floor over
    ``runs`` interleaved runs and the medians over models."""
    lines = [
        "## Per model",
        "",
        "| model | options | ops | predicted | forward | op sum | profiler | end-to-end | vs op sum | time-weighted | median op | run-to-run spread | page faults | targets |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in done:
        s = r["summary"]
        lines.append(
            f"| {r['name']} | {_options(r['options'])} | {s['ops']} | {_time(s['predicted_total_s'])} | "
            f"{_time(s['forward_s'])} | {_time(s['ops_total_s'])} | {_time(s['profiler_s'])} | "
            f"{_pct(s['end_to_end_error'])} | {_pct(s['ops_total_error'])} | {_pct(s['time_weighted_error'], False)} | "
            f"{_pct(s['median_op_error'], False)} | {_pct(r.get('spread'), False)} | {_faults(r)} | "
            f"{'met' if s['meets_targets'] else '**missed**'} |"
        )
    zoo = [r for r in done if r["name"] not in EXTRA_CASES]
    met = sum(1 for r in zoo if r["summary"]["meets_targets"])
    lines += ["", f"{met} of {len(zoo)} zoo models meet both targets."]
    extra = [r for r in done if r["name"] in EXTRA_CASES or r["name"] == "gpt2-decode"]
    if extra:
        lines.append("Within 15% end-to-end: " + ", ".join(
            f"{r['name']} {'yes' if abs(r['summary']['end_to_end_error']) <= 0.15 else 'no'}" for r in extra) + ".")
    spreads = sorted(r["spread"] for r in done if isinstance(r.get("spread"), float) and not math.isnan(r["spread"]))
    if spreads:
        lines.append(f"Noise floor (each model's slowest forward over its fastest, {runs} interleaved runs): "
                     f"median {_pct(spreads[len(spreads) // 2], False)}, largest {_pct(spreads[-1], False)}.")
    if done:
        e2e = sorted(abs(r["summary"]["end_to_end_error"]) for r in done)
        tw = sorted(r["summary"]["time_weighted_error"] for r in done)
        lines.append(f"Median over models: |end-to-end| {_pct(e2e[len(e2e) // 2], False)}, "
                     f"time-weighted {_pct(tw[len(tw) // 2], False)}.")
    return lines


def _category_lines(done: list[dict[str, Any]]) -> list[str]:
    """The per-category table over every model, largest measured time first."""
    lines = ["", "## Per category, all models together", "",
             "| category | ops | predicted | measured | error of the sums | time-weighted |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in sorted(category_totals(done), key=lambda r: -r["measured_s"]):
        lines.append(f"| {row['category']} | {row['ops']} | {_time(row['predicted_s'])} | {_time(row['measured_s'])} | "
                     f"{_pct(row['error'])} | {_pct(row['time_weighted_error'], False)} |")
    return lines


def _contributor_lines(done: list[dict[str, Any]]) -> list[str]:
    """Per model, the three op kinds with the largest absolute error."""
    lines = ["", "## Where the error comes from", "",
             "For each model, the op kinds with the largest absolute error (share = their "
             "|predicted - measured| over the model's measured op time; ratio = predicted / measured).", ""]
    for r in done:
        s = r["summary"]
        parts = []
        for c in r["contributors"][:3]:
            ratio = c["predicted_s"] / c["measured_s"] if c["measured_s"] else math.nan
            parts.append(f"{c['op'].removeprefix('aten.')} ({c['category']}, {c['count']} ops, mostly {c['bound']}-bound): "
                         f"share {_pct(c['error_share'], False)}, ratio {ratio:.2f}")
        lines.append(f"- **{r['name']}** ({'met' if s['meets_targets'] else 'missed'}): " + "; ".join(parts))
    return lines


def _not_run_lines(skipped: list[tuple[str, str]], failed: list[dict[str, Any]]) -> list[str]:
    """The models skipped by the plan and those whose run failed, each with why."""
    if not (skipped or failed):
        return []
    return (["## Not run", ""] + [f"- {name}: skipped: {why}" for name, why in skipped]
            + [f"- {r['name']}: failed: {r['error']}" for r in failed] + [""])


def write_report(path: Path, results: list[dict[str, Any]], skipped: list[tuple[str, str]], spec: Any,
                 args: argparse.Namespace, elapsed_s: float) -> None:
    """The Markdown report of one benchmark run (``results``: one per model, its fastest
    run; ``elapsed_s``: seconds the run took) to ``path``, written whole or not at all."""
    done = [r for r in results if "summary" in r]
    failed = [r for r in results if "error" in r]
    lines = _setup_lines(done, spec, args, elapsed_s) + _gpu_note_lines(args)
    lines += _per_model_lines(done, args.runs) + _category_lines(done) + _contributor_lines(done)
    lines += ["", "## Why predictions fall short", "", *KNOWN_CAUSES, ""]
    lines += _not_run_lines(skipped, failed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)


#: The mechanisms behind the largest errors, as observed while building the benchmark
#: (the per-model lines above show how much each weighs in this run).
KNOWN_CAUSES = [
    "- **Kernels far below the roofline.** The roofline bounds an op by its FLOPs and "
    "compulsory bytes at ceilings measured with the best simple kernels (large GEMMs, "
    "adds), scaled by the median efficiency of a suite of common ops. PyTorch on CPU runs "
    "some ops far below that: `max_pool2d_with_indices` and `_log_softmax` over a short dim "
    "at a few percent of the roofline, `gelu`, `exp`, `where` and strided copies "
    "at 4-25%, depthwise convolutions (MobileNetV2, through `_slow_conv2d_forward`) well "
    "under 1 GFLOP/s, skinny GEMMs (GCN's N=16, small LUT layers) at a fraction of the "
    "GEMM peak. One efficiency per unit cannot follow op-by-op differences that large, so a "
    "calibrated spec gives each family of its op suite (`measured.op_curves`: relu, gelu, add, "
    "mul, exp, where, softmax, norms, max-pool, reductions, cat, index_select) its own "
    "time-vs-size curve (`roofline.efficiency.cpu`: a dispatch cost, an efficiency, and one "
    "thread below ATen's 32768-element grain), fitted on the suite's sizes (4K to 1M "
    "elements), never on these models; ops outside the suite (depthwise and grouped "
    "convolutions, index_add, embedding_bag, small GEMMs) keep the spec's per-op overhead "
    "and their unit's efficiency.",
    "- **Where the bytes come from.** A calibrated spec sends an op's activation traffic to "
    "the smallest memory level that holds the op's own bytes (right for what a previous op "
    "just wrote), and its weight traffic (the bytes of parameters and buffers it reads, "
    "recorded at capture) to the level that holds all of the model's weights: a weight is "
    "read once per forward, so it stays cached only if every weight fits. This moved "
    "batch-1 GPT-2 decode (GEMVs over 7 MB weight matrices, 500 MB of weights) from L3 to "
    "DRAM and its error from -78% to about -50%; the rest is GEMV kernels reaching about "
    "half of the STREAM-like DRAM bandwidth the calibration measures. Exact cache "
    "behaviour would need reuse distances per tensor (how many bytes flow between two uses "
    "of a tensor), not only per-op sizes.",
    "- **Hot ceilings, cold weights.** The peaks and bandwidths are best-of-N times with hot "
    "operands. The matrix efficiency is measured with the caches flushed before each call, "
    "as a forward's layers meet their weights, which closes most of that gap for GEMM and "
    "Conv; layers unlike the suite's shapes (batch-1 GEMVs, grouped convolutions) still "
    "differ.",
    "- **Small ops.** Ops of the suite's families pay their family's fitted dispatch cost; "
    "the others the median of tiny common ops. Reductions, `cat`, embedding bags and index ops "
    "outside the suite's shapes cost 5-50 us in a forward (setup, parallel-for dispatch, "
    "allocation), so models made of many small ops (DLRM at batch 1, NLM, QuWeiT's LUT "
    "layers) stay optimistic where their ops fall outside the families.",
    "- **Page faults.** Every aten op allocates its output. glibc maps blocks past its mmap "
    "threshold (32 MiB at most) fresh and the kernel faults in every page on first write; "
    "the calibration measures that cost (`measured.fresh_write`) and charges it to outputs "
    "that large. Smaller outputs fault only when the allocator's history says so, which the "
    "model cannot see (MobileNetV2's 4.8 MB batch-norm outputs). The \"page faults\" column "
    "counts them per forward (getrusage, the median of the timed forwards of the fastest run) "
    "beside the pages the model charges, with what the measured ones cost at the calibrated "
    "rate: where the two differ, glibc trimmed its heap and handed the memory out again "
    "fresh; the same model in another process may fault thousands of pages more or none.",
    "- **Python between ops.** Module calls and Python glue add time between ops that no op "
    "accounts for: the gap between \"forward\" and \"op sum\" (small here). The predicted total "
    "adds each module call at the spec's measured.module_call_s (when the calibration has it); "
    "the Python inside forwards is not predicted.",
    "- **Noise.** On a machine shared with other work, multi-threaded ops wait for "
    "descheduled workers and wall-clock figures swing by several times; `--threads 1 "
    "--clock thread` (the thread's CPU time) gives stable figures on a busy machine, but "
    "for one thread only. Publish wall-clock figures from a quiet machine.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--hw", default=None, help="calibrated spec (default hw_specs/local-cpu.yaml, or local-gpu.yaml on cuda)")
    parser.add_argument("--out", default=None, help="report to write (default docs/fidelity.md, or docs/fidelity-zoo-gpu.md)")
    parser.add_argument("--models", default=None,
                        help="comma-separated zoo names or extra cases (default: the whole zoo and the extra cases)")
    parser.add_argument("--runs", type=int, default=RUNS,
                        help="interleaved runs of the list; each model keeps its fastest forward's run")
    parser.add_argument("--calibrate", action="store_true", help="run `roofline calibrate` into --hw first")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall",
                        help="CPU timing: wall time, or the thread's CPU time (needs --threads 1; for busy machines)")
    parser.add_argument("--method", choices=("inline", "profile"), default="inline",
                        help="per-op times: each op timed where it runs under a dispatch mode (inline), or its "
                             "torch.profiler span in forwards with no dispatch mode (profile)")
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.hw = args.hw or DEFAULT_SPEC[args.device]
    args.out = args.out or DEFAULT_OUT[args.device]
    os.chdir(ROOT)

    if args.child:
        result = run_one(args.child, args.hw, args.device, args.threads, args.warmup, args.repeats, args.clock,
                         args.method)
        Path(args.json).write_text(json.dumps(result, default=float))
        return 0

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from roofline.hardware import load_hardware
    from roofline.targets import zoo_names

    started = time.perf_counter()
    if args.calibrate:
        from roofline.calibrate import calibrate, write_calibrated_spec

        write_calibrated_spec(calibrate(args.device, threads=args.threads, clock=args.clock, progress=True), args.hw)
        print(f"wrote {args.hw}")
    if not Path(args.hw).exists():
        print(f"fidelity: {args.hw} not found: run `roofline calibrate --out {args.hw}` first "
              "(or pass --calibrate)", file=sys.stderr)
        return 2
    spec = load_hardware(args.hw)
    names = [n.strip() for n in args.models.split(",")] if args.models else [*zoo_names(), *EXTRA_CASES]
    run, skipped = plan(names, args.hw)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in run}
    with Progress(TextColumn("fidelity: {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as bar:
        task = bar.add_task("", total=len(run) * args.runs)
        for round_index in range(args.runs):
            for name in run:
                bar.update(task, description=f"{name} (run {round_index + 1} of {args.runs})")
                result = run_child(name, args)
                runs[name].append(result)
                if "summary" in result:
                    s = result["summary"]
                    bar.console.print(f"{name}: end-to-end {_pct(s['end_to_end_error'])}, time-weighted "
                                      f"{_pct(s['time_weighted_error'], False)} ({result['wall_s']:.0f} s)")
                else:
                    bar.console.print(f"{name}: failed: {result['error']}")
                bar.advance(task)
    results = [fastest_run(parts) for parts in runs.values()]
    for r in results:
        if "summary" in r:
            print(f"{r['name']}: end-to-end {_pct(r['summary']['end_to_end_error'])}, time-weighted "
                  f"{_pct(r['summary']['time_weighted_error'], False)}, run-to-run spread {_pct(r['spread'], False)}")
    write_report(Path(args.out), results, skipped, spec, args, time.perf_counter() - started)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
