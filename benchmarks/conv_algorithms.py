"""GPU convolutions: cuDNN's algorithm choice (roofline.efficiency.conv) against NeuSight's
conv measurements.

    python benchmarks/conv_algorithms.py                 # errors before/after, per GPU
    python benchmarks/conv_algorithms.py --fit           # and the grid the two constants came from

NeuSight timed nn.Conv2d (3x3, stride 1, padding 1, no bias, fp32, TF32 off, cuDNN
benchmark mode) over about 5000 shapes per GPU (A100 80GB PCIe, V100, T4, P100, P4),
train split only; each row names the kernels cuDNN ran. The data stays in the shared
gpu-measurements folder.

Split: within each GPU's file, rows whose position is 4 mod 5 are held out; the two
constants of roofline.efficiency.conv were chosen on the other rows (``--fit`` shows the
grid), each on the rows whose kernels ran its algorithm. Kernel names are read only to
fit and to score the choice; prediction never sees them.

"before" is the implicit GEMM alone (the Winograd columns dropped), "after" the fastest
of implicit GEMM and Winograd, both through roofline.analyze on meta tensors and each
GPU's spec; errors compare max(floor, offset + predicted_s) with the measurement, as
benchmarks/gpu_fidelity.py does (NeuSight's single-kernel harness, fitted by gpu_fit.py).
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
    SHAPE_COLUMNS,
    TF32_OFF,
    BenchmarkError,
    analyze_shapes,
    data_root,
    load_spec,
    timed_by_harness,
)

from roofline.efficiency import WINOGRAD_COLUMNS
from roofline.efficiency.conv import (
    FUSED_GEMM_FRACTION,
    TRANSFORM_ELEMENTS_PER_SM_CYCLE,
    winograd_fused_s,
    winograd_nonfused_s,
)
from roofline.predict import predict_frame

CHUNK = 1000
HOLD_OUT_EVERY = 5
IMPLICIT, NONFUSED, FUSED, FFT = "implicit GEMM", "Winograd 4x4 non-fused", "Winograd fused", "FFT"
ALGORITHMS = (IMPLICIT, NONFUSED, FUSED, FFT)
RATE_GRID = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4)
FUSED_GRID = (0.5, 0.6, 0.7, 0.85, 1.0)


def algorithm_of(kernels: str) -> str:
    """The cuDNN algorithm a row's kernel list shows."""
    names = str(kernels).lower()
    if "winograd_nonfused" in names:
        return NONFUSED
    if "winograd" in names:
        return FUSED
    if "fft" in names or "gcgemm" in names:
        return FFT
    return IMPLICIT


def read_conv(data: Path, gpu: str) -> pd.DataFrame:
    """One GPU's conv rows: shape (SHAPE_COLUMNS order), measured_s, algorithm, held_out."""
    path = data / "per_op" / "train" / "conv" / f"{gpu}.csv.gz"
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{path}: cannot read: {exc}") from None
    columns = SHAPE_COLUMNS["conv"]
    missing = [c for c in ("Latency", "Kernels", *columns) if c not in frame]
    if missing:
        raise BenchmarkError(f"{path}: missing column(s) {', '.join(missing)}")
    if not ((frame["Kernel_Szie"] == 3) & (frame["Stride"] == 1) & (frame["Padding"] == 1)).all():
        raise BenchmarkError(f"{path}: rows other than 3x3 stride-1 padding-1 (this benchmark assumes them)")
    return pd.DataFrame({
        "gpu": gpu, "spec": GPU_SPECS[gpu],
        "shape": list(frame[list(columns)].astype(int).itertuples(index=False, name=None)),
        "measured_s": frame["Latency"].astype(float) * 1e-3,
        "algorithm": frame["Kernels"].map(algorithm_of),
        "held_out": np.arange(len(frame)) % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1,
    })


def _per_shape(predicted: pd.Series, modules: pd.Series, count: int) -> np.ndarray:
    index = modules.astype(str).str.extract(r"^ops\.(\d+)(?:\.|$)")[0].astype(int)
    return predicted.groupby(index.to_numpy()).sum().reindex(range(count)).to_numpy()


def predict(rows: pd.DataFrame) -> pd.DataFrame:
    """rows with before_s (implicit GEMM only) and after_s (fastest algorithm), predicted_s
    summed over each shape's aten ops on its GPU's spec."""
    spec = load_spec(rows["spec"].iloc[0])
    keys = list(dict.fromkeys(rows["shape"]))
    before, after = [], []
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        counted = analyze_shapes([("conv", shape) for shape in chunk], spec).counted
        without = counted.assign(**dict.fromkeys(WINOGRAD_COLUMNS, np.nan))
        for frame, out in ((without, before), (counted, after)):
            predicted = predict_frame(frame, spec, tf32=TF32_OFF)["predicted_s"]
            out.extend(_per_shape(predicted, counted["module"], len(chunk)))
    table = pd.DataFrame({"shape": keys, "before_s": before, "after_s": after})
    return rows.merge(table, on="shape", how="left", validate="many_to_one")


def sizes(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """n, c, k, h (= w) and p (= q) of each row (3x3, stride 1, padding 1: p = h)."""
    b, c_in, c_out, _, size, _, _ = (np.array(v, dtype=float) for v in zip(*rows["shape"]))
    return {"n": b, "c": c_in, "k": c_out, "h": size, "p": size}


def algorithm_times(rows: pd.DataFrame, rate: float, fused: float) -> pd.DataFrame:
    """Per row, each algorithm's predicted seconds on its spec, with the spec's per-op
    overhead as predicted_s has it (implicit GEMM: before_s)."""
    spec = load_spec(rows["spec"].iloc[0])
    s = sizes(rows)
    args = {"hw": spec, "peak_flops": spec.peak_flops("fp32", "vector")}
    geometry = (s["n"], s["h"], s["h"], s["p"], s["p"], s["c"], s["k"])
    return pd.DataFrame({
        IMPLICIT: rows["before_s"].to_numpy(),
        NONFUSED: winograd_nonfused_s(*geometry, transform_rate=rate, **args) + spec.overhead_s,
        FUSED: winograd_fused_s(*geometry, fused_fraction=fused, **args) + spec.overhead_s,
    }, index=rows.index)


def errors(rows: pd.DataFrame, predicted_s: np.ndarray) -> np.ndarray:
    """predicted / measured - 1 with NeuSight's harness around the prediction."""
    return timed_by_harness(rows.assign(predicted_s=predicted_s)) / rows["measured_s"].to_numpy() - 1.0


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per GPU and split: median |error| and median signed error, before and after."""
    out = []
    for (gpu, held), group in rows.groupby(["gpu", "held_out"], sort=False):
        line = {"gpu": gpu, "rows": "held out" if held else "fit", "n": len(group)}
        for name in ("before", "after"):
            err = errors(group, group[f"{name}_s"].to_numpy())
            line[f"{name} median |err|"] = f"{np.median(np.abs(err)):.1%}"
            line[f"{name} signed"] = f"{np.median(err):+.1%}"
        out.append(line)
    return pd.DataFrame(out).sort_values(["rows", "gpu"])


def choice_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per GPU: the share of rows whose predicted fastest algorithm is the one cuDNN ran."""
    out = []
    for gpu, group in rows.groupby("gpu", sort=False):
        times = algorithm_times(group, TRANSFORM_ELEMENTS_PER_SM_CYCLE, FUSED_GEMM_FRACTION)
        chosen = times.idxmin(axis=1)
        ran = group["algorithm"]
        line = {"gpu": gpu, "agree": f"{(chosen == ran).mean():.0%}"}
        for algorithm in ALGORITHMS:
            line[f"ran {algorithm}"] = f"{(ran == algorithm).mean():.0%}"
        for algorithm in ALGORITHMS[:3]:
            line[f"chose {algorithm}"] = f"{(chosen == algorithm).mean():.0%}"
        out.append(line)
    return pd.DataFrame(out)


def fit_grid(rows: pd.DataFrame) -> pd.DataFrame:
    """On the fit rows only: per candidate constant, the mean over GPUs of the median
    |error| of its algorithm on the rows that ran it."""
    fit = rows[~rows["held_out"]]
    out = []
    for name, grid, algorithm in (("transform_rate", RATE_GRID, NONFUSED), ("fused_fraction", FUSED_GRID, FUSED)):
        for value in grid:
            medians = []
            for _, group in fit[fit["algorithm"] == algorithm].groupby("gpu"):
                rate = value if name == "transform_rate" else TRANSFORM_ELEMENTS_PER_SM_CYCLE
                fused = value if name == "fused_fraction" else FUSED_GEMM_FRACTION
                seconds = algorithm_times(group, rate, fused)[algorithm].to_numpy()
                medians.append(np.median(np.abs(errors(group, seconds))))
            out.append({"constant": name, "value": value, "mean of per-GPU median |err|": f"{np.mean(medians):.1%}"})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared gpu-measurements folder")
    parser.add_argument("--fit", action="store_true", help="also print the grid the constants were chosen on")
    args = parser.parse_args(argv)
    try:
        data = data_root(args.data)
        gpus = [gpu for gpu, spec in GPU_SPECS.items()
                if spec and (data / "per_op" / "train" / "conv" / f"{gpu}.csv.gz").exists()]
        if not gpus:
            raise BenchmarkError(f"--data {args.data}: no per_op/train/conv/<GPU>.csv.gz for a GPU with a spec")
        rows = pd.concat([predict(read_conv(data, gpu)) for gpu in gpus], ignore_index=True)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("conv (nn.Conv2d 3x3, stride 1, padding 1, fp32, TF32 off), NeuSight per-op train split; "
          f"held out: rows at position 4 mod {HOLD_OUT_EVERY} of each GPU's file\n")
    print("Median error per GPU, before (implicit GEMM only) and after (fastest of implicit GEMM and Winograd):")
    print(summary(rows).to_markdown(index=False))
    print("\nAlgorithm cuDNN ran (kernel names) against the one predicted fastest, all rows:")
    print(choice_table(rows).to_markdown(index=False))
    if args.fit:
        print("\nConstants of roofline.efficiency.conv, fit rows only "
              f"(in use: transform_rate {TRANSFORM_ELEMENTS_PER_SM_CYCLE}, fused_fraction {FUSED_GEMM_FRACTION}):")
        print(fit_grid(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
