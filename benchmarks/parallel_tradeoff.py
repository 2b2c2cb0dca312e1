"""The pipeline micro-batch trade-off curve of docs/parallelism.md, as a figure and a table.

GPT-2 small (1024 tokens, bf16, AdamW) trained on one node of 8 H100 SXM (8xh100-sxm)
at a global batch of 512 sequences. Each micro-batch size is one roofline analysis of a
training step on meta tensors (nothing is computed), so rerunning gives the same figure.

Left: predicted step time against micro-batch size for three pipeline depths, each
pipeline's best size marked (what `roofline plan` picks for that split). Right: the
8-stage pipeline's step split into the slowest stage's compute, the time it waits
(warm-up, cool-down) and its stage-to-stage sends, which trade against each other.

    python benchmarks/parallel_tradeoff.py [--out docs/figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from roofline.hardware import load_hardware  # noqa: E402
from roofline.tools.parallel import microbatch_tradeoff, profiler_for_target  # noqa: E402

TARGET, HW, DTYPE, GLOBAL_BATCH = "gpt2", "8xh100-sxm", "bf16", 512
#: (data, tensor, pipeline) splits drawn, all on the 8 devices.
SPLITS = [(4, 1, 2), (2, 1, 4), (1, 1, 8)]


def curves() -> dict[tuple[int, int, int], pd.DataFrame]:
    """The trade-off table of each split: one row per micro-batch size."""
    profiler = profiler_for_target(TARGET, HW, dtype=DTYPE)
    return {split: microbatch_tradeoff(profiler, HW, GLOBAL_BATCH, data=split[0], tensor=split[1], pipeline=split[2]) for split in SPLITS}


def figure(tables: dict[tuple[int, int, int], pd.DataFrame]) -> plt.Figure:
    hw = load_hardware(HW)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for (d, t, p), table in tables.items():
        fits = table[table.fits]
        line = left.plot(fits.index, fits.step_s * 1e3, marker="o", ms=3, label=f"data {d} x pipeline {p}")[0]
        best = fits.step_s.idxmin()
        left.plot([best], [fits.step_s[best] * 1e3], marker="*", ms=14, color=line.get_color())
        if (~table.fits).any():
            left.plot(table[~table.fits].index, table[~table.fits].step_s * 1e3, "x", color=line.get_color())
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xlabel("micro-batch size (sequences)")
    left.set_ylabel("predicted step time (ms)")
    left.set_title(f"GPT-2 small, global batch {GLOBAL_BATCH}, {hw.name}: step time (* best, x does not fit)", fontsize=9)
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)

    d, t, p = SPLITS[-1]
    table = tables[SPLITS[-1]]
    m = table.micro_batches
    # The slowest stage's own work and sends, m times; the rest of the played-out
    # pipeline is time it waits (warm-up, cool-down, and on faster stages' schedule).
    compute = m * (table.stage_compute_s + table.tp_comm_s)
    per_microbatch = m * (table.overhead_s + table.p2p_s)
    bubble = table.pipeline_s - compute - per_microbatch
    rest = table.dp_exposed_s + table.embedding_sync_s + table.optimizer_s
    x = [str(b) for b in table.index]
    bottom = 0 * compute
    for values, label in ((compute, "slowest stage's compute, m micro-batches (launches included)"),
                          (bubble, "waiting: warm-up, cool-down"),
                          (per_microbatch, "its sends (+ any fixed overhead)"), (rest, "all-reduces + optimizer")):
        right.bar(x, values * 1e3, bottom=bottom * 1e3, label=label)
        bottom = bottom + values
    right.set_xlabel("micro-batch size (sequences)")
    right.set_ylabel("ms per step")
    right.set_title(f"data {d} x pipeline {p}: where the step goes", fontsize=9)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "figures"), help="output folder")
    args = parser.parse_args()
    started = time.perf_counter()
    tables = curves()
    for (d, t, p), table in tables.items():
        print(f"data {d} x tensor {t} x pipeline {p}")
        columns = ["micro_batches", "bubble_fraction", "microbatch_s", "pipeline_s", "step_s", "memory_bytes", "fits"]
        print(table[columns].to_string(float_format=lambda v: f"{v:.4g}"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "microbatch_tradeoff.png"
    figure(tables).savefig(path, dpi=110)
    print(f"wrote {path} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
