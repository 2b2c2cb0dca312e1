"""The per-op half of benchmarks/gpu_fidelity.py: NeuSight's kernel rows read, each
measured kernel built as a tiny module and predicted through ``roofline.analyze``, and
the errors against NeuSight's single-kernel harness (the module docstring of
gpu_fidelity.py says why each choice)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

import roofline
from roofline._io import progress
from roofline.hardware import Efficiency, HardwareSpec
from roofline.predict import Tf32Policy

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = ROOT.parent / "shared" / "gpu-measurements"

#: GPU folder name in the data -> packaged spec name (None: no single-GPU spec, why).
GPU_SPECS: dict[str, str | None] = {
    "NVIDIA_A100-PCIE-40GB": "a100-pcie",
    "NVIDIA_A100_80GB_PCIe": "a100-80gb-pcie",
    "Tesla_V100-PCIE-32GB": "v100-pcie",
    "Tesla_T4": "t4",
    "Tesla_P100-PCIE-16GB": "p100",
    "Tesla_P4": "p4",
    "NVIDIA_L4": "l4",
    "NVIDIA_A100-SXM4-40GB": None,  # only 4-GPU parallel training runs (dp4, tp4, pp4)
}

#: Op kind -> the OPName values measured for it (each a folder of per_op/train/).
OP_KINDS: dict[str, tuple[str, ...]] = {
    "linear": ("linear",),
    "bmm": ("bmm",),
    "elem": ("add", "addu", "mul", "mulu", "div", "divu", "pow", "powu", "gelu", "relu", "tanh"),
    "softmax": ("softmax",),
    "ln": ("ln",),
    "conv": ("conv",),
}

OP_KINDS_ALL = frozenset(op for ops in OP_KINDS.values() for op in ops)

#: Op kind -> the columns that give a row's shape (see the data's README).
SHAPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "linear": ("B", "M", "N", "K"),
    "bmm": ("B", "M", "N", "K"),
    "elem": ("B", "H"),
    "softmax": ("B", "H"),
    "ln": ("B", "H"),
    "conv": ("B", "Input_Channel", "Output_Channel", "Kernel_Szie", "Input_Size", "Stride", "Padding"),
}

SPLITS = ("test", "train")
#: NeuSight's "u" ops take a random Python scalar in (0, 1]; any value that is not
#: special-cased by PyTorch (0, 0.5, 1, 2 pick other kernels for pow) gives the same kernel.
SCALAR = 0.7
TF32_OFF = Tf32Policy(conv=False, matmul=False)
CHUNK_SHAPES = 1000
SPOT_CHECKS = 3
RELATIVE_TOLERANCE = 1e-9
SEED = 0


class BenchmarkError(Exception):
    """A problem with the arguments or the data: one line for the user, exit code 2."""


# --------------------------------------------------------------------------- data


def data_root(path: Path) -> Path:
    """The folder holding per_op/, labels/ and published_errors/: ``path`` itself or its
    neusight/ subfolder. BenchmarkError (one line) if neither is."""
    for candidate in (path / "neusight", path):
        if (candidate / "per_op").is_dir() and (candidate / "labels").is_dir():
            return candidate
    if not path.exists():
        raise BenchmarkError(f"--data {path}: no such folder")
    raise BenchmarkError(
        f"--data {path}: no per_op/ and labels/ in it or in its neusight/ subfolder "
        "(expected the shared gpu-measurements folder)"
    )


def read_rows(path: Path, kind: str, split: str) -> pd.DataFrame:
    """One measurement file as rows: split, gpu (folder name), kind, op, shape (tuple of
    ints, SHAPE_COLUMNS order), measured_s (seconds; the file has milliseconds)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{path}: cannot read: {exc}") from None
    missing = [c for c in ("OPName", "Latency", "Device", *SHAPE_COLUMNS[kind]) if c not in frame]
    if missing:
        raise BenchmarkError(f"{path}: missing column(s) {', '.join(missing)}")
    shapes = frame[list(SHAPE_COLUMNS[kind])].astype(int).itertuples(index=False, name=None)
    return pd.DataFrame({
        "split": split,
        "gpu": frame["Device"].str.strip().str.replace(" ", "_"),
        "kind": kind,
        "op": frame["OPName"],
        "shape": list(shapes),
        "measured_s": frame["Latency"].astype(float) * 1e-3,
        "position": np.arange(len(frame)),  # the row's place in its file (the conv harness drifts along it)
    })


def load_per_op(data: Path, kinds: list[str], gpus: list[str]) -> pd.DataFrame:
    """Every per-op measurement of these op kinds on these GPUs, both splits."""
    frames = []
    for kind in kinds:
        test_file = data / "per_op" / "test" / f"{kind}.csv.gz"
        if test_file.exists():  # conv has no test split
            frames.append(read_rows(test_file, kind, "test"))
        for op in OP_KINDS[kind]:
            for gpu in gpus:
                train_file = data / "per_op" / "train" / op / f"{gpu}.csv.gz"
                if train_file.exists():
                    frames.append(read_rows(train_file, kind, "train"))
    if not frames:
        return pd.DataFrame(columns=["split", "gpu", "kind", "op", "shape", "measured_s"])
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["gpu"].isin(gpus) & rows["op"].isin(OP_KINDS_ALL) & (rows["measured_s"] > 0)]
    return rows.assign(spec=rows["gpu"].map(GPU_SPECS)).reset_index(drop=True)


def subsample(rows: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """At most ``limit`` rows per (split, GPU, op kind), drawn at random with a fixed seed."""
    if limit is None:
        return rows
    shuffled = rows.sample(frac=1.0, random_state=SEED)
    return shuffled.groupby(["split", "gpu", "kind"], sort=False).head(limit).sort_index()


# --------------------------------------------------------------------------- specs


def load_spec(name: str) -> HardwareSpec:
    """The spec ``name`` from this checkout's hw_specs/ (see the module docstring), else
    the installed package's."""
    path = ROOT / "hw_specs" / f"{name}.yaml"
    return roofline.load_hardware(path if path.exists() else name)


def plain_spec(spec: HardwareSpec) -> HardwareSpec:
    """The datasheet roofline alone: every efficiency 1, no per-op overhead and no kernel
    model (no tile or wave losses, start-up or floor)."""
    return dataclasses.replace(spec, efficiency=Efficiency(matrix=1.0, vector=1.0, memory=1.0), overhead_s=0.0,
                               kernel_model=None)


# --------------------------------------------------------------------------- per-op prediction


class OneOp(nn.Module):
    """One measured kernel: ``layer`` (a module with weights) or ``fn`` (a function)."""

    def __init__(self, fn: Callable[..., Any] | None = None, layer: nn.Module | None = None) -> None:
        super().__init__()
        self.fn = fn
        self.layer = layer

    def forward(self, *args: torch.Tensor) -> Any:
        return self.layer(*args) if self.layer is not None else self.fn(*args)


class ShapeSuite(nn.Module):
    """Many measured kernels run one after another; op ``ops.<i>`` is shape i."""

    def __init__(self, ops: list[OneOp]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, args: list[tuple[torch.Tensor, ...]]) -> None:
        for op, op_args in zip(self.ops, args):
            op(*op_args)


_BINARY = {"add": torch.add, "mul": torch.mul, "div": torch.div, "pow": torch.pow}
_UNARY = {"gelu": nn.GELU, "relu": nn.ReLU}


def build_op(op: str, shape: tuple[int, ...]) -> tuple[OneOp, tuple[torch.Tensor, ...]]:
    """The module and fp32 meta inputs of one measured kernel, as NeuSight built it
    (neusight/Dataset/collect.py): nn.Linear(N, K, bias=True) on [B, M, N];
    bmm [B, M, N] @ [B, N, K]; element-wise ops on [B, H] (the "u" ops with a Python
    scalar); softmax over the last dim; nn.LayerNorm(H); nn.Conv2d(..., bias=False)."""
    meta = {"device": "meta", "dtype": torch.float32}
    with torch.device("meta"):
        if op == "linear":
            b, m, n, k = shape
            return OneOp(layer=nn.Linear(n, k, bias=True)), (torch.empty(b, m, n, **meta),)
        if op == "bmm":
            b, m, n, k = shape
            return OneOp(fn=torch.bmm), (torch.empty(b, m, n, **meta), torch.empty(b, n, k, **meta))
        if op == "conv":
            b, c_in, c_out, kernel, size, stride, padding = shape
            conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
            return OneOp(layer=conv), (torch.empty(b, c_in, size, size, **meta),)
        b, h = shape
        x = torch.empty(b, h, **meta)
        if op in _BINARY:
            return OneOp(fn=_BINARY[op]), (x, torch.empty(b, h, **meta))
        if op.endswith("u") and op[:-1] in _BINARY:
            scalar_op = _BINARY[op[:-1]]
            return OneOp(fn=lambda t: scalar_op(t, SCALAR)), (x,)
        if op in _UNARY:
            return OneOp(layer=_UNARY[op]()), (x,)
        if op == "tanh":
            return OneOp(fn=torch.tanh), (x,)
        if op == "softmax":
            return OneOp(layer=nn.Softmax(dim=-1)), (x,)
        if op == "ln":
            return OneOp(layer=nn.LayerNorm(h)), (x,)
    raise BenchmarkError(f"no builder for op {op!r}")


def analyze_shapes(keys: list[tuple[str, tuple[int, ...]]], spec: HardwareSpec) -> roofline.Analysis:
    """One roofline.analyze of these (op, shape) kernels on meta tensors, fp32, TF32 off."""
    ops, args = zip(*(build_op(op, shape) for op, shape in keys))
    return roofline.analyze(ShapeSuite(list(ops)), (list(args),), hw=spec, meta=True, tf32=TF32_OFF,
                            name=f"{len(keys)} kernels")


def per_shape(analysis: roofline.Analysis, count: int) -> pd.DataFrame:
    """Per shape index (0..count-1): predicted_s (the sum over its aten ops, seconds)
    and supported (False if any of its ops has no formula)."""
    ops = analysis.ops
    index = ops["module"].astype(str).str.extract(r"^ops\.(\d+)(?:\.|$)")[0]
    if index.isna().any():
        stray = ops.loc[index.isna(), "op"].unique().tolist()
        raise RuntimeError(f"ops outside any measured kernel's module: {stray}")
    grouped = ops.assign(shape_index=index.astype(int)).groupby("shape_index")
    table = pd.DataFrame({"predicted_s": grouped["predicted_s"].sum(), "supported": grouped["supported"].all()})
    return table.reindex(range(count))


def predict_chunk(keys: list, specs: dict[str, HardwareSpec]) -> pd.DataFrame:
    """Predictions of these (op, shape) kernels on every spec: rows of op, shape, spec,
    predicted_s, plain_s (the plain roofline), supported."""
    first = next(iter(specs.values()))
    analysis = analyze_shapes(keys, first)
    frames = []
    for name, spec in specs.items():
        model = per_shape(analysis.with_hw(spec), len(keys))
        plain = per_shape(analysis.with_hw(plain_spec(spec)), len(keys))
        frames.append(pd.DataFrame({
            "op": [op for op, _ in keys],
            "shape": [shape for _, shape in keys],
            "spec": name,
            "predicted_s": model["predicted_s"].to_numpy(),
            "plain_s": plain["predicted_s"].to_numpy(),
            "supported": model["supported"].to_numpy(),
        }))
    return pd.concat(frames, ignore_index=True)


def spot_check(kind: str, keys: list, predicted: pd.DataFrame, spec_name: str, spec: HardwareSpec) -> None:
    """Analyse a few shapes alone and compare with the batched prediction: a batched run
    is only valid while prediction has no state between ops (module docstring)."""
    picks = sorted({0, len(keys) // 2, len(keys) - 1})[:SPOT_CHECKS]
    on_spec = predicted[predicted["spec"] == spec_name].set_index(["op", "shape"])["predicted_s"]
    for i in picks:
        alone = float(per_shape(analyze_shapes([keys[i]], spec), 1)["predicted_s"].iloc[0])
        batched = float(on_spec.loc[keys[i]])
        if not math.isclose(alone, batched, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-15):
            raise BenchmarkError(
                f"{kind} {keys[i]} on {spec_name}: predicted {batched:.6g} s among other kernels but "
                f"{alone:.6g} s alone; prediction now depends on neighbouring ops: rerun with --isolated"
            )


def predict_rows(rows: pd.DataFrame, show: bool, isolated: bool) -> pd.DataFrame:
    """``rows`` with predicted_s, plain_s and supported added: each distinct (op, shape)
    of a kind analysed once, predicted on every spec its rows need."""
    chunk = 1 if isolated else CHUNK_SHAPES
    plans = []
    for kind, kind_rows in rows.groupby("kind", sort=False):
        keys = list(dict.fromkeys(zip(kind_rows["op"], kind_rows["shape"])))
        specs = {name: load_spec(name) for name in kind_rows["spec"].unique()}
        plans.append((kind, keys, specs))
    total = sum(math.ceil(len(keys) / chunk) for _, keys, _ in plans)
    predicted = []
    with progress(show, "per-op predictions", total) as advance:
        for kind, keys, specs in plans:
            parts = []
            for start in range(0, len(keys), chunk):
                parts.append(predict_chunk(keys[start:start + chunk], specs))
                advance(1, f"{kind} ({len(keys)} shapes)")
            kind_predicted = pd.concat(parts, ignore_index=True)
            first_name, first_spec = next(iter(specs.items()))
            spot_check(kind, keys, kind_predicted, first_name, first_spec)
            predicted.append(kind_predicted)
    table = pd.concat(predicted, ignore_index=True)
    merged = rows.merge(table, on=["op", "shape", "spec"], how="left", validate="many_to_one")
    if merged["predicted_s"].isna().any():  # a median would skip them without a word
        raise RuntimeError(f"{int(merged['predicted_s'].isna().sum())} rows got no prediction")
    return merged


# --------------------------------------------------------------------------- per-op statistics


#: NeuSight's per-op harness, fitted on the train split by benchmarks/gpu_fit.py.
HARNESS_FILE = ROOT / "benchmarks" / "neusight_harness.json"
#: Its drift on conv rows, fitted by benchmarks/conv_algorithms.py --fit.
CONV_HARNESS_FILE = ROOT / "benchmarks" / "neusight_conv_harness.json"


def harness_table(gpus: Iterable[str]) -> dict[str, tuple[float, float]]:
    """GPU -> (offset_s, floor_s) of NeuSight's single-kernel timing harness: what a row
    costs beyond the kernel and its launch, and the least a row takes. A GPU with no
    train rows (L4) takes the median over the others: the same harness code timed it.
    Empty when the fit has not been run."""
    if not HARNESS_FILE.exists():
        return {}
    fitted = {gpu: (v["offset_s"], v["floor_s"]) for gpu, v in json.loads(HARNESS_FILE.read_text())["gpus"].items()}
    median = tuple(float(np.median([v[i] for v in fitted.values()])) for i in (0, 1))
    return {gpu: fitted.get(gpu, median) for gpu in gpus}


def conv_drift(rows: pd.DataFrame) -> np.ndarray:
    """Per row, the host cost NeuSight's conv harness had gained by the row's position in
    its file (s; 0 for other kinds, for a GPU without a fit and without the file):
    drift_s_per_row x position, fitted by benchmarks/conv_algorithms.py --fit."""
    if not CONV_HARNESS_FILE.exists() or "position" not in rows or "kind" not in rows:
        return np.zeros(len(rows))
    fitted = {gpu: v["drift_s_per_row"] for gpu, v in json.loads(CONV_HARNESS_FILE.read_text())["gpus"].items()}
    slope = rows["gpu"].map(lambda gpu: fitted.get(gpu, 0.0)).to_numpy(dtype=float)
    return np.where(rows["kind"].to_numpy() == "conv", slope * rows["position"].to_numpy(dtype=float), 0.0)


def timed_by_harness(rows: pd.DataFrame) -> np.ndarray:
    """Per row, our prediction as NeuSight's harness would time it alone:
    max(floor, offset + drift + predicted_s), the drift on conv rows only (conv_drift).
    A model run pays none of this (see gpu_fit.py)."""
    harness = harness_table(rows["gpu"].unique())
    if not harness:
        return rows["predicted_s"].to_numpy()
    offset = rows["gpu"].map(lambda gpu: harness[gpu][0]).to_numpy(dtype=float)
    floor = rows["gpu"].map(lambda gpu: harness[gpu][1]).to_numpy(dtype=float)
    return np.maximum(floor, offset + conv_drift(rows) + rows["predicted_s"].to_numpy())


def with_errors(rows: pd.DataFrame) -> pd.DataFrame:
    """Adds error and plain_error: predicted / measured - 1 (dimensionless); ours as the
    harness would time the kernel alone, the plain roofline as it is."""
    return rows.assign(error=timed_by_harness(rows) / rows["measured_s"] - 1.0,
                       plain_error=rows["plain_s"] / rows["measured_s"] - 1.0)


def error_table(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: rows, median and mean |error|, median signed error, and the plain
    roofline's median |error| and median signed error (fractions, not percent)."""
    grouped = rows.assign(abs_error=rows["error"].abs(), plain_abs=rows["plain_error"].abs()).groupby(by, sort=False)
    return grouped.agg(
        rows=("error", "size"),
        median_abs=("abs_error", "median"),
        mean_abs=("abs_error", "mean"),
        median_signed=("error", "median"),
        plain_median_abs=("plain_abs", "median"),
        plain_median_signed=("plain_error", "median"),
    ).reset_index()
