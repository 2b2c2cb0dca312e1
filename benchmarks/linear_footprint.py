"""Linear layers' errors by the size of their input activation, per GPU and split.

    python benchmarks/linear_footprint.py                         # T4, P100, P4, V100, A100 40GB
    python benchmarks/linear_footprint.py --gpus Tesla_P100-PCIE-16GB

Predicts NeuSight's linear rows as benchmarks/gpu_fidelity.py does (with its harness) and
prints the median signed error by input activation bytes (B x M x N x 4: the [B, M, N]
input of nn.Linear(N, K)), over rows of at least 256 rows and 256 outputs (the products
whose time is the main loop's, not their tiles' fixed cost), and the attained TFLOP/s of
the rows with an input row over 64 KiB (N > 16384) and the rest, per kernel cuBLAS ran.
Nothing is fitted; it is the evidence for the linear paragraph of docs/fidelity-gpu.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_fidelity import (
    DEFAULT_DATA,
    GPU_SPECS,
    BenchmarkError,
    data_root,
    load_per_op,
    predict_rows,
    with_errors,
)

DEFAULT_GPUS = ("Tesla_T4", "Tesla_P100-PCIE-16GB", "Tesla_P4", "Tesla_V100-PCIE-32GB", "NVIDIA_A100-PCIE-40GB")
#: Input activation buckets (MiB).
BUCKETS_MIB = (0, 64, 128, 256, 512, 1024, 2048, np.inf)
#: Least rows (B x M) and outputs (K) of a row counted in the size table.
LEAST = 256


def kernel_names(data: Path, gpus: list[str]) -> pd.Series:
    """cuBLAS kernel of every linear row, in load_per_op's order (test file, then each
    GPU's train file), the argument list cut off."""
    frames = [pd.read_csv(data / "per_op" / "test" / "linear.csv.gz")]
    frames += [pd.read_csv(f) for g in gpus if (f := data / "per_op" / "train" / "linear" / f"{g}.csv.gz").exists()]
    raw = pd.concat(frames, ignore_index=True)
    gpu = raw["Device"].str.strip().str.replace(" ", "_")
    raw = raw[gpu.isin(gpus) & (raw["Latency"] > 0)].reset_index(drop=True)
    return raw["Kernel Name"].str.replace(r"\(.*", "", regex=True)


def size_tables(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(median signed error by GPU, split and input-activation bucket; median TFLOP/s by
    GPU, split, kernel and whether the input row exceeds 64 KiB)."""
    b, m, n, k = (rows["shape"].map(lambda s, i=i: s[i]).astype(float) for i in range(4))
    rows = rows.assign(input_mib=b * m * n * 4 / 2**20, tflops=2 * b * m * n * k / rows["measured_s"] / 1e12,
                       long_rows=n > 16384)
    big = rows[(b * m >= LEAST) & (k >= LEAST)]
    bucket = pd.cut(big["input_mib"], list(BUCKETS_MIB))
    errors = big.assign(input_mib=bucket).pivot_table(index=["gpu", "split"], columns="input_mib", values="error",
                                                      aggfunc="median", observed=True)
    rates = rows.pivot_table(index=["gpu", "split", "kernel"], columns="long_rows", values="tflops",
                             aggfunc="median")
    return errors, rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared gpu-measurements folder")
    parser.add_argument("--gpus", help=f"comma-separated data folders (default: {','.join(DEFAULT_GPUS)})")
    args = parser.parse_args(argv)
    known = [gpu for gpu, spec in GPU_SPECS.items() if spec]
    try:
        data = data_root(args.data)
        gpus = args.gpus.split(",") if args.gpus else list(DEFAULT_GPUS)
        unknown = [g for g in gpus if g not in known]
        if unknown:
            raise BenchmarkError(f"--gpus: unknown {', '.join(unknown)} (known: {', '.join(known)})")
        rows = load_per_op(data, ["linear"], gpus)
        if rows.empty:
            raise BenchmarkError(f"--data {args.data}: no linear rows for {', '.join(gpus)}")
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = with_errors(predict_rows(rows, show=False, isolated=False)).assign(kernel=kernel_names(data, gpus))
    errors, rates = size_tables(rows)
    print("Linear, fp32, NeuSight's rows: median signed error (predicted / measured - 1) by input activation "
          f"(MiB), rows of at least {LEAST} rows and {LEAST} outputs\n")
    print(errors.round(3).to_markdown())
    print("\nMedian attained TFLOP/s per kernel: input rows over 64 KiB (N > 16384) or not\n")
    print(rates.round(2).to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
