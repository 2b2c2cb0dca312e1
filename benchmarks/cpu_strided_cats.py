"""CPU cats of strided inputs as a forward runs them: predicted vs measured, op by op.

A cat whose inputs are not all contiguous (NLM's cat of a predicate and its transpose,
of an expanded and a contiguous tensor; an integer cat) runs ATen's copy path: one
TensorIterator copy per input into the output's narrowed slices (the "copy" loop
kernel, the calibrate family cat@copy). This times every torch.cat of the zoo models
given inside their own uninstrumented forward (a wrapper around torch.cat, the
thread's CPU time, one torch thread): per cat, the fastest of --forwards forwards and
the spread (slowest over fastest, minus 1), with the 4 KiB pages it faulted in (first
writes to fresh memory, which no cat model charges). Predicted: ``roofline.analyze`` of
the same cat on tensors of the same shapes, strides and dtypes, on --hw and, with
--before, on a spec without the family.

    roofline calibrate --out one.yaml --threads 1 --clock thread
    python benchmarks/cpu_strided_cats.py --hw one.yaml [--before old.yaml] [--models nlm-blocks,nlm-sort]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

DEFAULT_MODELS = "nlm-blocks,nlm-sort,nscl"


def time_cats(name: str, forwards: int) -> list[dict[str, Any]]:
    """Every torch.cat of one forward of zoo model ``name``: its inputs' (shape, stride,
    dtype), dim, and per forward its thread seconds and page faults (the first forward
    is a warm-up, not kept)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fidelity import case

    from roofline.measure.timing import page_faults
    from roofline.targets import build_target

    target, batch, options = case(name)
    model, inputs, _ = build_target(target, batch=batch, options=options)
    model.eval()
    original = torch.cat
    calls: list[dict[str, Any]] = []

    def timed_cat(tensors: Any, dim: int = 0, **kw: Any) -> torch.Tensor:
        faults, start = page_faults(), time.thread_time_ns()
        out = original(tensors, dim, **kw)
        seconds, faulted = (time.thread_time_ns() - start) * 1e-9, int(page_faults() - faults)
        calls.append({"inputs": [(tuple(t.shape), tuple(t.stride()), t.dtype) for t in tensors], "dim": dim,
                      "seconds": seconds, "faults": faulted})
        return out

    per_forward = []
    torch.cat = timed_cat
    try:
        with torch.no_grad():
            for _ in range(forwards + 1):
                calls.clear()
                model(*inputs)
                per_forward.append(list(calls))
    finally:
        torch.cat = original
    kept = per_forward[1:]
    return [{**first, "seconds": [f[i]["seconds"] for f in kept], "faults": [f[i]["faults"] for f in kept]}
            for i, first in enumerate(kept[0])]


def predict_cat(call: dict[str, Any], spec: Any) -> tuple[float, str]:
    """(predicted seconds, loop kernel) of one recorded cat on ``spec``."""
    from roofline.analysis import analyze

    tensors = [torch.empty_strided(shape, stride, dtype=dtype) for shape, stride, dtype in call["inputs"]]
    ops = analyze(lambda *t: torch.cat(t, call["dim"]), tuple(tensors), hw=spec, name="cat").ops
    row = ops[ops["op"] == "aten.cat"]
    return float(row["predicted_s"].sum()), str(row["loop_kernel"].iloc[0]) if len(row) else ""


def _shape(call: dict[str, Any]) -> str:
    parts = []
    for shape, stride, _ in call["inputs"]:
        contiguous = torch.empty_strided(shape, stride).is_contiguous()
        parts.append("[" + ",".join(map(str, shape)) + "]" + ("" if contiguous else "*"))
    return "x".join(parts) + f" dim {call['dim']}"


def report(name: str, calls: list[dict[str, Any]], specs: list[tuple[str, Any]]) -> None:
    """Print the model's cats of the copy kernel one by one and the totals per kernel."""
    rows = []
    for call in calls:
        predicted = [predict_cat(call, spec) for _, spec in specs]
        measured = min(call["seconds"])
        rows.append((call, [p for p, _ in predicted], predicted[0][1], measured, max(call["seconds"]) / measured - 1))
    print(f"\n{name}: {len(calls)} cats per forward ('*': a strided input); measured: fastest of "
          f"{len(calls[0]['seconds'])} forwards, spread slowest/fastest - 1; faults: 4 KiB pages, min-max")
    heads = " ".join(f"{label:>11s}" for label, _ in specs)
    print(f"{'cat (copy kernel)':58s} {heads} {'measured':>10s} {'ratio':>6s} {'spread':>7s} {'faults':>9s}")
    for call, predicted, kernel, measured, spread in sorted(rows, key=lambda r: -r[3]):
        if kernel != "copy":
            continue
        values = " ".join(f"{p * 1e6:9.1f}us" for p in predicted)
        print(f"{_shape(call)[:58]:58s} {values} {measured * 1e6:8.1f}us {predicted[0] / measured:6.2f} "
              f"{spread:7.1%} {min(call['faults']):>4d}-{max(call['faults'])}")
    for kernel in ("copy", ""):
        chosen = [r for r in rows if r[2] == kernel]
        if not chosen:
            continue
        measured = sum(r[3] for r in chosen)
        sums = " ".join(f"{label} {sum(r[1][i] for r in chosen) * 1e3:.2f} ms "
                        f"({sum(r[1][i] for r in chosen) / measured:.2f}x)" for i, (label, _) in enumerate(specs))
        print(f"  {len(chosen)} cats of the {kernel or 'serial'} kernel: measured {measured * 1e3:.2f} ms "
              f"(sum of per-cat fastest); predicted: {sums}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", required=True, help="a CPU spec calibrated with one thread")
    parser.add_argument("--before", help="a second spec to compare with (one without the cat@copy family)")
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated zoo names (default {DEFAULT_MODELS})")
    parser.add_argument("--forwards", type=int, default=7)
    args = parser.parse_args(argv)

    from roofline.errors import RooflineError
    from roofline.hardware import load_hardware
    from roofline.targets import zoo_names

    try:
        specs = [("predicted", load_hardware(args.hw))]
        if args.before:
            specs.append(("before", load_hardware(args.before)))
    except RooflineError as exc:
        print(f"--hw/--before: {exc}", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in zoo_names()]
    if unknown:
        print(f"--models: not zoo models: {', '.join(unknown)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    print(f"spec {specs[0][1].name} ({args.hw})" + (f", before: {specs[1][1].name} ({args.before})" if args.before else "")
          + "; 1 torch thread, thread clock, batch 1, each model's fidelity-benchmark options")
    for name in names:
        report(name, time_cats(name, args.forwards), specs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
