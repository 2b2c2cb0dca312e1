"""Runtime breakdown of the zoo's workloads in the seed paper's table layout.

For each workload: the share of time per category (GEMM, Sparse MM, Conv, Element-wise,
Regional, Embedding, Data Move, Data Transform, Other) and the total, predicted at the
workload's full size on two datasheet specs (a GPU and a CPU), and, at a size this
machine runs in seconds, predicted on the calibrated local spec beside what this CPU
measures (roofline.measure, inline per-op timing). Writes docs/workloads.md.

    python benchmarks/workloads.py                 # all workloads, about 5-10 minutes on 2 cores
    python benchmarks/workloads.py --only nscl nlm-path --out /tmp/w.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
from pathlib import Path

import pandas as pd
import torch
from rich.progress import Progress

import roofline
from roofline.count.categories import CATEGORIES
from roofline.measure import measure
from roofline.targets import build_target

ROOT = Path(__file__).resolve().parent.parent

#: (zoo name, options at which this CPU measures it in seconds). Full size is the default.
WORKLOADS = {
    "nscl": dict(),
    "nsdr": dict(frames=4, rollout_steps=2),
    "nlm-path": dict(n_objects=20),
    "nlm-sort": dict(n_objects=20),
    "nlm-blocks": dict(n_objects=12),
    "dlrm": dict(batch=64),
    "gcn": dict(),
    "resnet50": dict(batch=1),
    "bert-base": dict(batch=1),
    "quweit": dict(batch=1),
    "quweit-mlp": dict(batch=1),
}
SEED_WORKLOADS = ("nscl", "nsdr", "nlm-path", "nlm-sort", "nlm-blocks")

#: What bounds each workload: a reading of the tables below, written by hand (the numbers
#: under each table are regenerated; these sentences say what they show).
READINGS = {
    "nscl": "On a GPU at batch 1 NSCL is launch-bound: its conv trunk is small and the question "
    "parser's GRU runs as hundreds of tiny per-step ops (on meta tensors the recurrent layer is "
    "unrolled; a cuDNN run fuses it, so the GPU rows overstate its Element-wise share). The "
    "symbolic executor is a few dozen tiny Element-wise and Data Transform ops: negligible time on "
    "every spec. On the Xeon the conv trunk (compute-bound) and the parser's element-wise ops split the "
    "time; on this CPU the conv trunk takes most of it.",
    "nsdr": "The frame parser's ResNet-50 trunk over 32 frames dominates the FLOPs, and on CPUs the "
    "time (Conv, compute-bound). On the H100 the same convs take a fraction of a millisecond and "
    "the PropNet dynamics predictor (many small MLP and aggregation ops per rollout step) plus "
    "the symbolic executor make the run overhead- and memory-bound.",
    "nlm-path": "Neural Logic Machines are data-movement programs: expand, reduce and permute between "
    "arities (Data Transform: concatenations and permuted copies of N^3-sized predicate tensors) "
    "around small Linear layers, at about 1 FLOP per byte: at full size memory-bound on both "
    "datasheet specs (with launch overhead on the GPU), the kind of workload the seed paper singles "
    "out as dominated by non-GEMM ops.",
    "nlm-sort": "Breadth 2 on 50 objects is tiny work: every op is far below a microsecond of "
    "traffic, so per-op overhead bounds the whole run (launch-bound on the GPU, dispatch-bound on CPUs).",
    "nlm-blocks": "As nlm-path at breadth 2: Data Transform and Element-wise ops dominate; per-op "
    "overhead on the GPU, memory on the Xeon.",
    "dlrm": "Batch 1 is overhead-bound everywhere; at larger batches the 26 embedding-bag lookups "
    "(Embedding, about 0.1 FLOP/byte) are the memory-bound part and the MLPs the compute-bound part.",
    "gcn": "Two sparse aggregations (index_add: Sparse MM) and two dense feature transforms (GEMM) on "
    "a Cora-sized graph: memory- and overhead-bound; the 1,433-wide input features make the first "
    "GEMM the largest op.",
    "resnet50": "Convolutions are compute-bound at 19 FLOP/byte on CPUs; at batch 1 on the H100 "
    "every op is shorter than its launch, so the run is overhead-bound.",
    "bert-base": "GEMM-dominated (linear layers) and compute-bound on CPUs; on the H100 at batch 1 "
    "the element-wise and norm ops between GEMMs add a launch each.",
    "quweit": "The lookup-table MLP replaces GEMMs by gathers (Embedding / Data Transform) at about "
    "1 FLOP per byte: memory-bound on the Xeon (launch-bound at batch 1 on the H100), where the same "
    "block with its MLP (quweit-mlp) is compute-bound there.",
    "quweit-mlp": "The baseline block: its MLP GEMMs make it compute-bound on CPUs.",
}
DATASHEET_SPECS = ("h100-sxm", "xeon-8480")
LOCAL_SPEC = ROOT / "hw_specs" / "local-cpu.yaml"


def shares(times: pd.Series) -> dict[str, float]:
    """Category -> share of the total (in %), every category, plus Total in seconds."""
    total = float(times.sum())
    row = {name: 100 * float(times.get(name, 0.0)) / total if total else 0.0 for name in CATEGORIES}
    row["Total"] = total
    return row


def predicted_row(analysis: roofline.Analysis) -> dict[str, float]:
    table = analysis.by_category()
    return shares(table.loc[list(CATEGORIES), "predicted_s"])


def bound_summary(analysis: roofline.Analysis) -> str:
    """Share of predicted time by bound, e.g. "memory 62%, compute 30%, overhead 8%"."""
    by_bound = analysis.ops.groupby("bound")["predicted_s"].sum()
    by_bound = by_bound[by_bound.index != "none"].sort_values(ascending=False)
    total = by_bound.sum()
    return ", ".join(f"{name} {100 * value / total:.0f}%" for name, value in by_bound.items())


def run(names: list[str], local_spec: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(breakdown rows, notes rows) for each workload."""
    rows, notes = [], []
    with Progress() as progress:
        task = progress.add_task("workloads", total=len(names))
        for name in names:
            progress.update(task, description=name)
            model, inputs, _ = build_target(name, meta=True)
            full = roofline.analyze(model, inputs, hw=DATASHEET_SPECS[0], name=name, strict=True)
            for spec in DATASHEET_SPECS:
                analysis = full if spec == full.hw.name else full.with_hw(spec)
                rows.append({"workload": name, "source": f"predicted, {spec}, full size", **predicted_row(analysis)})
                notes.append({"workload": name, "spec": spec, "size": "full", "bound": bound_summary(analysis),
                              "gflop": analysis.total_flops / 1e9, "intensity": analysis.intensity})
            options = dict(WORKLOADS[name])
            model, inputs, _ = build_target(name, options=options)
            small = roofline.analyze(model, inputs, hw=local_spec, name=name, strict=True)
            measured = measure(model, inputs, name=name)
            comparison = small.compare(measured)
            size = ", ".join(f"{k}={v}" for k, v in options.items()) or "full size"
            rows.append({"workload": name, "source": f"predicted, {small.hw.name}, {size}", **predicted_row(small)})
            by_category = comparison.by_category()
            rows.append({"workload": name, "source": f"measured, this CPU, {size}",
                         **shares(by_category.loc[list(CATEGORIES), "measured_s"])})
            summary = comparison.summary()
            notes.append({"workload": name, "spec": small.hw.name, "size": size, "bound": bound_summary(small),
                          "gflop": small.total_flops / 1e9, "intensity": small.intensity,
                          "end_to_end_error": summary.get("end_to_end_error"),
                          "time_weighted_error": summary.get("time_weighted_error")})
            progress.advance(task)
    return pd.DataFrame(rows), pd.DataFrame(notes)


def seconds(value: float) -> str:
    for factor, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def markdown_table(rows: pd.DataFrame) -> str:
    header = "| source | " + " | ".join(CATEGORIES) + " | Total |"
    rule = "|---|" + "---:|" * (len(CATEGORIES) + 1)
    lines = [header, rule]
    for values in rows.to_dict(orient="records"):
        cells = [f"{values[name]:.1f}" for name in CATEGORIES]
        lines.append(f"| {values['source']} | " + " | ".join(cells) + f" | {seconds(values['Total'])} |")
    return "\n".join(lines)


def write_markdown(rows: pd.DataFrame, notes: pd.DataFrame, path: Path, command: str) -> None:
    parts = [
        "# Workloads: where the time goes",
        "",
        "Share of runtime per operator category (%, the seed paper's Table III layout) and",
        "the total time per forward pass. Full-size rows are predictions on datasheet specs",
        "from meta tensors; the last two rows of each table are, at a size this CPU runs in",
        "seconds, the prediction on the calibrated spec of this machine and what this",
        "machine measured (every aten op timed inside real forwards, median of 7).",
        "",
        f"Generated {dt.date.today().isoformat()} on {platform.machine()} ({torch.get_num_threads()} threads,"
        f" torch {torch.__version__}) by `{command}`.",
        "",
    ]
    order = [name for name in WORKLOADS if name in set(rows["workload"])]
    for name in order:
        parts += [f"## {name}" + (" (seed workload)" if name in SEED_WORKLOADS else ""), ""]
        parts += [markdown_table(rows[rows["workload"] == name].drop(columns=["workload"])), ""]
        if name in READINGS:
            parts += [f"Reading: {READINGS[name]}", ""]
        for note in notes[notes["workload"] == name].itertuples(index=False):
            line = (f"- {note.spec}, {note.size}: {note.gflop:.3g} GFLOP, intensity {note.intensity:.1f} FLOP/B;"
                    f" time bound by {note.bound}")
            error = getattr(note, "end_to_end_error", None)
            if error is not None and error == error:
                line += f"; end-to-end error {100 * error:+.0f}%, time-weighted per-op error {100 * note.time_weighted_error:.0f}%"
            parts.append(line)
        parts.append("")
    path.write_text("\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="workloads to run (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "workloads.md"))
    parser.add_argument("--hw", default=str(LOCAL_SPEC), help="spec of this machine (default hw_specs/local-cpu.yaml)")
    args = parser.parse_args(argv)
    names = args.only or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    if not Path(args.hw).exists():
        print(f"{args.hw}: no such spec; run `roofline calibrate --out {args.hw}` first", file=sys.stderr)
        return 2
    rows, notes = run(names, Path(args.hw))
    command = ("python benchmarks/workloads.py" + (f" --only {' '.join(names)}" if args.only else "")
               + (f" --hw {args.hw}" if Path(args.hw).resolve() != LOCAL_SPEC.resolve() else ""))
    write_markdown(rows, notes, Path(args.out), command)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
