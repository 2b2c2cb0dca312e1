"""CPU convolutions, predicted against measured, op by op: each model's convolutions
(depthwise, grouped, dense) measured inline in a forward (one process per model and run,
runs interleaved, each op's fastest run kept, its run-to-run spread printed as the
noise floor) and predicted on a calibrated spec with its ``measured.conv_rates`` and on
the same spec without them (the model before the table).

    roofline calibrate --out one.yaml --threads 1 --clock thread
    python benchmarks/cpu_convs.py --hw one.yaml --threads 1 --clock thread [--models mobilenetv2,resnext50,resnet50]

Errors are (predicted - measured) / measured of the sums; time-weighted = sum |predicted -
measured| / sum measured over the ops of a kind.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity import case

DEFAULT_MODELS = "mobilenetv2,resnext50,resnet50"


def _kinds(ops: pd.DataFrame) -> np.ndarray:
    """Per op: "depthwise", "grouped" or "dense" for convolutions (the table's own
    classification, roofline.efficiency.cpu_conv.conv_shape), "" for other ops."""
    from roofline.dtypes import item_sizes
    from roofline.efficiency import gemm_shapes
    from roofline.efficiency.cpu_conv import conv_shape

    shapes = gemm_shapes(ops)
    column = {name: np.nan_to_num(ops[name].to_numpy(dtype=float)) for name in ("flops", "bytes", "bytes_written",
                                                                                 "param_bytes")}
    conv = (ops["category"] == "Conv").to_numpy()
    shape = conv_shape(conv, column["flops"], column["bytes"] - column["bytes_written"], column["bytes_written"],
                       column["param_bytes"], item_sizes(ops["dtype"]), tuple(shapes.T) if shapes is not None else None)
    return np.where(shape.depthwise, "depthwise", np.where(shape.grouped, "grouped", np.where(conv, "dense", "")))


def _child(name: str, hw: str, threads: int, clock: str) -> None:
    """Measure one model once; print its convolutions as JSON (one object)."""
    import torch

    from roofline.hardware import load_hardware
    from roofline.targets import build_target
    from roofline.tools.validate import validate

    torch.set_num_threads(threads)
    spec = load_hardware(hw)
    without = dataclasses.replace(spec, measured=dataclasses.replace(spec.measured, conv_rates=()))
    target, batch, options = case(name)
    model, inputs, label = build_target(target, batch=batch, options=options)
    model.eval()
    analysis, _, compared = validate(model, inputs, hw=spec, device="cpu", name=label, warmup=2, repeats=7, clock=clock)
    ops = compared.ops
    plain = analysis.with_hw(without).ops["predicted_s"].reindex(ops.index)
    kinds = pd.Series(_kinds(analysis.ops), index=analysis.ops.index).reindex(ops.index)
    conv = kinds.fillna("") != ""
    print(json.dumps({"model": label, "op_sum_s": float(ops["measured_s"].sum()),
                      "predicted_sum_s": float(ops["predicted_s"].sum()), "plain_sum_s": float(plain.sum()),
                      "convs": [{"index": int(i), "kind": kinds[i], "shapes": str(ops.at[i, "shapes"]),
                                 "measured_s": float(ops.at[i, "measured_s"]), "predicted_s": float(ops.at[i, "predicted_s"]),
                                 "plain_s": float(plain[i])} for i in ops.index[conv]]}))


def _report(name: str, runs: list[dict]) -> None:
    frames = [pd.DataFrame(run["convs"]).set_index("index") for run in runs]
    measured = pd.concat([f["measured_s"] for f in frames], axis=1)
    best = frames[0].assign(measured_s=measured.min(axis=1), spread=measured.max(axis=1) / measured.min(axis=1) - 1)
    fastest = min(runs, key=lambda run: run["op_sum_s"])
    print(f"\n{runs[0]['model']} ({name}): {len(best)} convolutions, {len(runs)} interleaved runs; "
          f"per-op spread (slowest run / fastest - 1) median {best['spread'].median():.1%}, "
          f"largest {best['spread'].max():.1%}")
    print(f"{'kind':10s} {'ops':>4s} {'measured':>10s} {'with table':>11s} {'err':>7s} {'tw':>6s} "
          f"{'without':>9s} {'err':>7s} {'tw':>6s}")
    for kind, rows in [*best.groupby("kind"), ("all", best)]:
        m, p, q = (rows[c].sum() for c in ("measured_s", "predicted_s", "plain_s"))
        tw_p = (rows["predicted_s"] - rows["measured_s"]).abs().sum() / m
        tw_q = (rows["plain_s"] - rows["measured_s"]).abs().sum() / m
        print(f"{kind:10s} {len(rows):4d} {m * 1e3:8.2f}ms {p * 1e3:9.2f}ms {p / m - 1:+7.1%} {tw_p:6.1%} "
              f"{q * 1e3:7.2f}ms {q / m - 1:+7.1%} {tw_q:6.1%}")
    print(f"whole model, fastest run's op sum {fastest['op_sum_s'] * 1e3:.2f} ms: predicted with the table "
          f"{fastest['predicted_sum_s'] * 1e3:.2f} ms ({fastest['predicted_sum_s'] / fastest['op_sum_s'] - 1:+.1%}), "
          f"without {fastest['plain_sum_s'] * 1e3:.2f} ms ({fastest['plain_sum_s'] / fastest['op_sum_s'] - 1:+.1%})")
    for row in best.sort_values("measured_s", ascending=False).itertuples():
        print(f"  {row.kind:9s} {row.shapes:34s} measured {row.measured_s * 1e6:8.0f} us (spread {row.spread:5.1%})  "
              f"with {row.predicted_s * 1e6:8.0f} us ({row.predicted_s / row.measured_s - 1:+6.1%})  "
              f"without {row.plain_s * 1e6:8.0f} us ({row.plain_s / row.measured_s - 1:+6.1%})")


def parse_model_args(description: str, hw_help: str, default_models: str, argv: list[str] | None) -> argparse.Namespace:
    """The options of the per-model CPU benchmarks (this one, benchmarks/cpu_attention.py):
    --hw, --models, --runs, --threads, --clock and the hidden --child."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--hw", required=True, help=hw_help)
    parser.add_argument("--models", default=default_models, help=f"comma-separated zoo names (default {default_models})")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (each model once per run)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "thread"), default="thread")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def load_measured_spec(path: str, field: str) -> Any:
    """The spec at ``path`` if its calibration has ``measured.<field>``; else None, the
    reason printed on one line (a missing or bad file, an older calibration)."""
    from roofline.errors import RooflineError
    from roofline.hardware import load_hardware

    try:
        spec = load_hardware(path)
    except RooflineError as error:
        print(error, file=sys.stderr)
        return None
    if spec.measured is None or not getattr(spec.measured, field):
        print(f"{path}: no measured.{field} (calibrate again)", file=sys.stderr)
        return None
    return spec


def run_children(script: str, names: list[str], args: argparse.Namespace) -> dict[str, list[dict]]:
    """Per model, the JSON line ``script --child NAME`` printed in each of ``args.runs``
    rounds: every model in a fresh process once a round, the rounds interleaved (this
    script's and benchmarks/cpu_attention.py's measurements)."""
    results: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.runs):
        for name in names:
            out = subprocess.run([sys.executable, script, "--child", name, "--hw", args.hw, "--threads",
                                  str(args.threads), "--clock", args.clock], capture_output=True, text=True, check=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


@dataclasses.dataclass(frozen=True)
class ModelBenchmark:
    """A per-model CPU benchmark (this one, benchmarks/cpu_attention.py): its ``script``
    (run again as ``--child NAME``), ``description`` (the --help line), the calibrated
    ``field`` it needs (``measured.<field>``), ``default_models`` (comma-separated zoo
    names), ``workload`` (what the header says of batch and dtype), ``child(name, hw,
    threads, clock)`` (measures one model once and prints one JSON line), ``report(name,
    runs)`` (prints one model's table from its runs' JSON) and ``describe(spec)`` (a line
    printed under the header, if given)."""

    script: str
    description: str
    field: str
    default_models: str
    workload: str
    child: Callable[[str, str, int, str], None]
    report: Callable[[str, list[dict]], None]
    describe: Callable[[Any], str] | None = None


def run_model_benchmark(bench: ModelBenchmark, argv: list[str] | None) -> int:
    """``bench`` run as its command line ``argv``: as a child, one model measured once;
    else the spec checked (exit 2 when it lacks ``measured.<field>``), every model run in
    interleaved rounds of fresh processes and each one's report printed. The exit code."""
    args = parse_model_args(bench.description, f"a CPU spec calibrated with measured.{bench.field}",
                            bench.default_models, argv)
    if args.child:
        bench.child(args.child, args.hw, args.threads, args.clock)
        return 0
    spec = load_measured_spec(args.hw, bench.field)
    if spec is None:
        return 2
    names = args.models.split(",")
    print(f"spec {spec.name} ({args.hw}), {args.threads} thread(s), {args.clock} clock, isa {spec.measured.isa}; "
          f"{bench.workload}")
    if bench.describe is not None:
        print(bench.describe(spec))
    results = run_children(bench.script, names, args)
    for name in names:
        bench.report(name, results[name])
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_model_benchmark(ModelBenchmark(__file__, __doc__.splitlines()[0], "conv_rates", DEFAULT_MODELS,
                                              "batch 1, fp32", _child, _report), argv)


if __name__ == "__main__":
    raise SystemExit(main())
