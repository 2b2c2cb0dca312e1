"""Whole-model training runs split into forward and backward, predicted against measured.

    python benchmarks/train_phases.py                                  # every GPU with training labels
    python benchmarks/train_phases.py --gpus NVIDIA_A100_80GB_PCIe

NeuSight's training labels time the forward (fw_latency) and the backward (bwall_latency)
apart. Each run is analysed as benchmarks/gpu_fidelity.py does (meta tensors, fp32, TF32
off, the loss's forward left out) and its predicted_s summed over the forward ops and over
the backward ops, so a whole-model miss can be placed in one phase. Nothing is fitted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_fidelity import (
    DEFAULT_DATA,
    GPU_SPECS,
    LOSS_MODULE,
    BenchmarkError,
    analyze_model,
    data_root,
    load_spec,
    model_runs,
)


def phase_seconds(ops: pd.DataFrame) -> tuple[float, float]:
    """Predicted seconds of the forward (without the loss's forward ops, which NeuSight
    did not time) and of everything after it (the backward)."""
    forward = ops["phase"] == "forward"
    loss_forward = forward & (ops["module"] == LOSS_MODULE)
    return float(ops.loc[forward & ~loss_forward, "predicted_s"].sum()), float(ops.loc[~forward, "predicted_s"].sum())


def phase_table(data: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """Per training run: forward and backward errors and backward/forward ratios."""
    out = []
    for (model, seq, batch), group in runs.groupby(["model", "seq", "batch"], sort=False):
        analysis = analyze_model(data, model, "train", seq, batch, load_spec(group["spec"].iloc[0]))
        for _, run in group.iterrows():
            fw_s, bw_s = phase_seconds(analysis.with_hw(load_spec(run["spec"])).ops)
            out.append({
                "gpu": run["gpu"], "run": f"{model}-train-{seq}-{batch}",
                "forward error": f"{fw_s / run['fw_s'] - 1:+.1%}", "backward error": f"{bw_s / run['bw_s'] - 1:+.1%}",
                "e2e error": f"{(fw_s + bw_s) / run['measured_s'] - 1:+.1%}",
                "measured bw/fw": f"{run['bw_s'] / run['fw_s']:.2f}", "predicted bw/fw": f"{bw_s / fw_s:.2f}",
            })
    return pd.DataFrame(out).sort_values(["gpu", "run"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared gpu-measurements folder")
    parser.add_argument("--gpus", help="comma-separated data folders (default: every GPU with a spec)")
    args = parser.parse_args(argv)
    try:
        data = data_root(args.data)
        gpus = [gpu for gpu, spec in GPU_SPECS.items() if spec]
        if args.gpus:
            unknown = [g for g in args.gpus.split(",") if g not in gpus]
            if unknown:
                raise BenchmarkError(f"--gpus: unknown {', '.join(unknown)} (known: {', '.join(gpus)})")
            gpus = args.gpus.split(",")
        runs, _ = model_runs(data, gpus)
        runs = runs[runs["mode"] == "train"] if not runs.empty else runs
        if runs.empty:
            raise BenchmarkError(f"--data {args.data}: no training labels for {', '.join(gpus)}")
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("Training runs (fp32, TF32 off, NeuSight's labels): predicted / measured - 1 per phase\n")
    print(phase_table(data, runs).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
