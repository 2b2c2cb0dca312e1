"""Is the calibration reproducible? Three back-to-back `roofline calibrate` runs, each
predicting Hugging Face BERT-base (batch 1, sequence 128, built offline from its known
config on the meta device) and GPT-2 decode; prints the predictions, their spread and
each run's quiet check. Target: the three BERT-base predictions within 5% of each other.

    python benchmarks/calibrate_repro.py                 # 3 full calibrations (about 1.5 min quiet)
    python benchmarks/calibrate_repro.py --runs 2 --quick
    python benchmarks/calibrate_repro.py --out docs/calibrate-repro.md

Each calibration runs in its own process, as a user would run it; the specs are
written to a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: (label, target, batch, options) predicted on every calibrated spec.
CASES = (("HF BERT-base 1x128", "hf:bert-base-uncased", 1, {"seq": 128}),
         ("GPT-2 decode (context 255)", "gpt2-decode", 1, {"context": 255}))
TARGET_SPREAD = 0.05


def predict_cases(spec_path: Path) -> dict[str, float]:
    """Predicted seconds of every case on the spec at ``spec_path``."""
    from roofline.analysis import analyze
    from roofline.hardware import load_hardware
    from roofline.targets import build_target

    spec = load_hardware(spec_path)
    out = {}
    for label, target, batch, options in CASES:
        model, inputs, name = build_target(target, batch=batch, meta=True, options=options)
        out[label] = analyze(model, inputs, hw=spec, name=name).predicted_s
    return out


def calibrate_once(path: Path, quick: bool, extra: list[str]) -> float:
    """Run `roofline calibrate --out path [extra]` in a fresh process; its wall seconds."""
    command = [sys.executable, "-m", "roofline.cli", "calibrate", "--out", str(path), *extra] + (["--quick"] if quick else [])
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"calibrate_repro: roofline calibrate failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return time.perf_counter() - started


def describe(spec_path: Path) -> dict[str, Any]:
    """The figures of one calibrated spec that BERT-base's prediction rests on."""
    from roofline.hardware import load_hardware

    spec = load_hardware(spec_path)
    record = spec.measured
    return {"peak_fp32": spec.matrix_flops.get("fp32", float("nan")), "matrix_eff": spec.efficiency.matrix,
            "dram_bw": spec.dram.bandwidth, "overhead_s": spec.overhead_s,
            "quiet": record.quiet if record is not None else None,
            "load": record.load_average if record is not None else None,
            "spreads": {f.figure: f.spread for f in record.stability} if record is not None else {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="calibrate --quick (coarser; for a smoke test)")
    parser.add_argument("--out", default=None, help="also write the table as Markdown to this file")
    parser.add_argument("--threads", type=int, default=None, help="calibrate --threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall", help="calibrate --clock")
    parser.add_argument("--rounds", type=int, default=None, help="calibrate --rounds (default: calibrate's)")
    parser.add_argument("--keep", default=None, help="also copy each run's spec into this folder (run1.yaml, ...)")
    args = parser.parse_args(argv)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)  # checked before the work
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            path = Path(tmp) / f"run{i + 1}.yaml"
            extra = ([f"--threads={args.threads}"] if args.threads else []) + [f"--clock={args.clock}"] + (
                [f"--rounds={args.rounds}"] if args.rounds else [])
            wall = calibrate_once(path, args.quick, extra)
            rows.append({"run": i + 1, "wall_s": wall, **describe(path), **predict_cases(path)})
            if args.keep:
                shutil.copy(path, Path(args.keep) / path.name)
            print(f"run {i + 1}: calibrated in {wall:.0f} s; " + ", ".join(
                f"{label} {rows[-1][label] * 1e3:.1f} ms" for label, *_ in CASES), flush=True)
    flags = (" --quick" if args.quick else "") + (f" --threads {args.threads}" if args.threads else "") + (
        f" --clock {args.clock}" if args.clock != "wall" else "") + (f" --rounds {args.rounds}" if args.rounds else "")
    when = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    lines = [(f"Calibration reproducibility: {args.runs} back-to-back `roofline calibrate{flags}` runs on {when} "
              f"(`python benchmarks/calibrate_repro.py{flags}`)."), "",
             "| run | calibrate (s) | load avg | reference before/after (ms) | fp32 GEMM peak | matrix eff. | DRAM | "
             + " | ".join(label for label, *_ in CASES) + " |",
             "|---:|---:|---:|---|---:|---:|---:|" + "---:|" * len(CASES)]
    for r in rows:
        quiet = f"{r['quiet'].before_s * 1e3:.3g} / {r['quiet'].after_s * 1e3:.3g}" if r["quiet"] else "-"
        lines.append(f"| {r['run']} | {r['wall_s']:.0f} | {r['load'] if r['load'] is not None else '-'} | {quiet} | "
                     f"{r['peak_fp32'] / 1e9:.0f} GFLOP/s | {r['matrix_eff']:.2f} | {r['dram_bw'] / 1e9:.1f} GB/s | "
                     + " | ".join(f"{r[label] * 1e3:.1f} ms" for label, *_ in CASES) + " |")
    lines.append("")
    for label, *_ in CASES:
        values = [r[label] for r in rows]
        spread = max(values) / min(values) - 1.0
        verdict = "within" if spread <= TARGET_SPREAD else "NOT within"
        lines.append(f"- {label}: {min(values) * 1e3:.1f} to {max(values) * 1e3:.1f} ms, spread {spread:.1%} "
                     f"({verdict} the {TARGET_SPREAD:.0%} target).")
    worst = {}
    for r in rows:
        for figure, spread in r["spreads"].items():
            worst[figure] = max(worst.get(figure, 0.0), spread)
    if worst:
        lines.append("- Largest round-to-round spread per figure over the runs (measured.stability): "
                     + ", ".join(f"{figure} {spread:.0%}" for figure, spread in worst.items()) + ".")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
