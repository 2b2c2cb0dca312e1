"""What the CPU's short-loop costs and few-column GEMM rates change: every zoo model (and
the fidelity benchmark's extra cases) predicted on a calibrated spec as it is, and on the
same spec without ``measured.loop_costs`` and ``measured.gemm_cols`` (the model before
them). Analysis only (no model runs); pair the totals with a fidelity run's measured
forwards on the same spec.

    roofline calibrate --out one.yaml --threads 1 --clock thread
    python benchmarks/fidelity.py --hw one.yaml --threads 1 --clock thread --out f.md
    python benchmarks/cpu_small_ops.py --hw one.yaml [--top 3]

--top N also lists, per model, the N op kinds whose prediction the two tables moved most.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity import EXTRA_CASES, case


def _predicted(name: str, spec, without) -> tuple[float, float, list[tuple[str, float]]]:
    from roofline.analysis import analyze
    from roofline.targets import build_target

    target, batch, options = case(name)
    model, inputs, label = build_target(target, batch=batch, options=options)
    if hasattr(model, "eval"):
        model.eval()
    analysis = analyze(model, inputs, hw=spec, name=label)
    plain = analysis.with_hw(without)
    moved = (analysis.ops.groupby("op")["predicted_s"].sum() - plain.ops.groupby("op")["predicted_s"].sum())
    top = [(op, float(moved[op])) for op in moved.abs().sort_values(ascending=False).index if moved[op] != 0]
    return float(analysis.ops["predicted_s"].sum()), float(plain.ops["predicted_s"].sum()), top


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", required=True, help="a CPU spec calibrated with loop costs and few-column rates")
    parser.add_argument("--models", help="comma-separated zoo names or extra cases (default: all)")
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # a child: no header
    args = parser.parse_args(argv)

    from roofline.hardware import load_hardware
    from roofline.targets import zoo_names

    spec = load_hardware(args.hw)
    if spec.measured is None or not (spec.measured.loop_costs or spec.measured.gemm_cols):
        print(f"{args.hw}: no measured.loop_costs or measured.gemm_cols (calibrate again)", file=sys.stderr)
        return 2
    without = dataclasses.replace(spec, measured=dataclasses.replace(spec.measured, loop_costs=(), gemm_cols=()))
    names = args.models.split(",") if args.models else [*zoo_names(), *EXTRA_CASES]
    if len(names) > 1:  # one process per model: every model's memory is given back
        print(f"spec {spec.name} ({args.hw}), {spec.measured.threads} thread(s), isa {spec.measured.isa}")
        print(f"{'model':18s} {'with (ms)':>11s} {'without (ms)':>13s} {'ratio':>7s}", flush=True)
        for name in names:
            subprocess.run([sys.executable, __file__, "--hw", args.hw, "--models", name, "--top", str(args.top),
                            "--quiet"], check=True)
        return 0
    if not args.quiet:
        print(f"spec {spec.name} ({args.hw}), {spec.measured.threads} thread(s), isa {spec.measured.isa}")
        print(f"{'model':18s} {'with (ms)':>11s} {'without (ms)':>13s} {'ratio':>7s}")
    for name in names:
        with_s, without_s, top = _predicted(name, spec, without)
        print(f"{name:18s} {with_s * 1e3:11.3f} {without_s * 1e3:13.3f} {with_s / without_s:7.2f}", flush=True)
        for op, moved_s in top[:args.top]:
            print(f"{'':18s}   {op}: {moved_s * 1e3:+.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
