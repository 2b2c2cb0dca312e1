"""Softmax's block kernel, pass by pass: what its loads per row say about the measured times.

    python benchmarks/softmax_passes.py                       # every GPU with a spec
    python benchmarks/softmax_passes.py --gpus Tesla_T4,NVIDIA_A100-PCIE-40GB

PyTorch's cunn_SoftMaxForward (aten/src/ATen/native/cuda/SoftMax.cu, the kernel NeuSight's
softmax rows over 1024 elements ran: its name is in every row) gives each row one block of
SoftMax_getBlockSize threads and reads the row three times (maximum, sum of exponentials,
the written result). Each of those passes over the row (ilpReduce, then
WriteFpropResultsVectorized) has every thread load, in turn:

- a head of one scalar element, when the row does not start on a 16-byte boundary
  (shift = row start mod the vector width, in elements; the head covers block - shift);
- ``floor(rest / (ILP x block))`` 16-byte vectors (ILP = 16 / itemsize elements each);
- a tail of ``ceil((rest mod ILP x block) / block)`` scalar elements.

Row b of a contiguous [B, H] tensor whose base is 16-byte aligned starts at shift
b x H mod ILP, so the shifts are the multiples of gcd(H, ILP), equally often.

The script prints, per GPU and row length, that pass structure beside the measured
kernel's time over its compulsory stream (one read and one write of every row at the
spec's attained DRAM bandwidth, after its start-up: NeuSight's harness offset taken off
the measurement), on the held-out test rows of at least 16384 rows (many waves, so the
ratio is the kernel's steady rate). Then three ways of timing the kernel, each row's
median |error| per GPU and split:

- ``sum``: the packaged model (roofline.efficiency.reduction): compulsory stream plus the
  re-reads, from L2 where the rows in flight fit, else DRAM, one after the other;
- ``overlap``: the re-reads of some rows served by L2 while other rows stream from DRAM,
  the kernel as long as the busier of the two;
- ``chain``: ``overlap`` plus, for each round of rows (rows / rows in flight, rounded
  up), the part of a row's serial chain no other row hides: 3 x loads per thread x a
  load's latency plus a fixed cost per row (its two block reductions), both in clocks at
  the boost clock (a memory-bound kernel draws little power: the power-capped cards'
  sustained clocks are for GEMMs), fitted here on the train rows of every GPU together
  (one pair for all, by grid search); the test rows are held out. A ``max(overlap,
  chain)`` form (the chain hidden entirely while bandwidth binds) and the sustained clock
  did worse on the train rows.

Nothing here changes a prediction; it is the evidence for docs/fidelity-gpu.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
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
    HARNESS_FILE,
    BenchmarkError,
    data_root,
    load_per_op,
    load_spec,
)

from roofline.efficiency.reduction import (
    BLOCK_SOFTMAX_READS,
    VECTOR_BYTES,
    private_l2_capacity,
    reread_hit_fraction,
    softmax_block_threads,
    softmax_reads,
)
from roofline.hardware import HardwareSpec

#: Bytes of an fp32 element (NeuSight's rows are fp32).
ITEMSIZE = 4.0
#: Rows per measurement at or above which the test rows are in steady state (many waves).
STEADY_ROWS = 16384
#: Grid searched for the chain variant: a load's latency and a row's fixed cost (clocks).
LATENCY_CLOCKS = (0, 100, 200, 300, 400, 600)
ROW_CLOCKS = (0, 500, 1000, 2000, 3000, 4000, 6000)


def block_passes(length: int, block: int, ilp: int) -> tuple[float, float, float]:
    """Loads per thread in one pass of cunn_SoftMaxForward over a row of ``length``
    elements with ``block`` threads and ``ilp`` elements per vector: (head scalars,
    vectors, tail scalars), each averaged over the row start shifts that rows of this
    length take (multiples of gcd(length, ilp), equally often; module docstring)."""
    step = math.gcd(length, ilp)
    counts = []
    for shift in range(0, ilp, step):
        rest, head = length, 0
        if shift > 0:  # one scalar element per thread brings the rest onto a vector boundary
            rest, head = max(length + shift - block, 0), 1
        tail = rest % (ilp * block)
        counts.append((head, (rest - tail) // (ilp * block), math.ceil(tail / block)))
    return tuple(float(np.mean(column)) for column in zip(*counts))


def pass_table(lengths: np.ndarray) -> pd.DataFrame:
    """Per row length of the block kernel (fp32): block threads and the loads per thread
    of one pass (head, vectors, tail) and their sum, ``loads``."""
    ilp = int(VECTOR_BYTES // ITEMSIZE)
    rows = []
    for length in sorted({int(v) for v in lengths}):
        block = int(softmax_block_threads(np.array(length), ITEMSIZE))
        head, vectors, tail = block_passes(length, block, ilp)
        rows.append({"H": length, "block": block, "head": head, "vectors": vectors, "tail": tail,
                     "loads": head + vectors + tail})
    return pd.DataFrame(rows)


def harness_offsets(gpus: list[str]) -> dict[str, float]:
    """GPU -> NeuSight's harness offset (s) from benchmarks/neusight_harness.json; the
    median over the fitted GPUs for one without train rows (as gpu_fidelity.py does)."""
    fitted = {gpu: v["offset_s"] for gpu, v in json.loads(HARNESS_FILE.read_text())["gpus"].items()}
    median = float(np.median(list(fitted.values())))
    return {gpu: fitted.get(gpu, median) for gpu in gpus}


def kernel_times(rows: pd.DataFrame, spec: HardwareSpec, latency_clocks: float, row_clocks: float) -> dict[str, np.ndarray]:
    """Per row of one GPU (columns B, H, block, loads), seconds of the block kernel by
    the module docstring's variants: compulsory, sum, overlap and chain."""
    model, l2 = spec.kernel_model, spec.level("l2")
    rows_n, row_bytes = rows["B"].to_numpy(float), rows["H"].to_numpy(float) * ITEMSIZE
    block = rows["block"].to_numpy(float)
    hit = reread_hit_fraction(row_bytes, block, sms=model.sms, threads_per_sm=model.threads_per_sm,
                              l2_bytes=private_l2_capacity(l2.capacity, model.l2_partitions))
    dram_bw = spec.efficiency.memory * spec.dram.bandwidth
    compulsory = 2.0 * rows_n * row_bytes
    reread = (BLOCK_SOFTMAX_READS - 1.0) * rows_n * row_bytes
    summed = compulsory / dram_bw + reread * (hit / l2.bandwidth + (1.0 - hit) / dram_bw)
    overlap = np.maximum((compulsory + (1.0 - hit) * reread) / dram_bw, (compulsory + reread) / l2.bandwidth)
    in_flight = model.sms * np.maximum(np.floor(model.threads_per_sm / block), 1.0)
    chain = (np.ceil(rows_n / in_flight) * (BLOCK_SOFTMAX_READS * rows["loads"].to_numpy(float) * latency_clocks
                                             + row_clocks) / model.boost_clock_hz)
    start = model.latency_s
    return {"compulsory": compulsory / dram_bw + start, "sum": summed + start, "overlap": overlap + start,
            "chain": overlap + start + chain}


def block_rows(data: Path, gpus: list[str]) -> pd.DataFrame:
    """NeuSight's softmax rows (both splits) that ran the block kernel, with B, H, the
    pass structure and the harness offset (s)."""
    rows = load_per_op(data, ["softmax"], gpus)
    if rows.empty:
        return rows
    rows = rows.assign(B=rows["shape"].map(lambda s: s[0]), H=rows["shape"].map(lambda s: s[1]))
    rows = rows[softmax_reads(rows["H"].to_numpy(float), ITEMSIZE) == BLOCK_SOFTMAX_READS]
    rows = rows.merge(pass_table(rows["H"].to_numpy()), on="H", how="left")
    return rows.assign(offset_s=rows["gpu"].map(harness_offsets(gpus)))


def with_variants(rows: pd.DataFrame, latency_clocks: float, row_clocks: float) -> pd.DataFrame:
    """``rows`` with one time column per variant (as NeuSight's harness would time it:
    offset added) and ``ratio``, the measured kernel over its compulsory stream."""
    parts = []
    for gpu, group in rows.groupby("gpu", sort=False):
        times = kernel_times(group, load_spec(GPU_SPECS[gpu]), latency_clocks, row_clocks)
        timed = {name: t + group["offset_s"].to_numpy() for name, t in times.items()}
        parts.append(group.assign(**timed, ratio=(group["measured_s"] - group["offset_s"]) / times["compulsory"]))
    return pd.concat(parts)


def median_errors(rows: pd.DataFrame, variants: tuple[str, ...]) -> pd.DataFrame:
    """Median |predicted / measured - 1| per GPU and split for each variant."""
    errors = {v: (rows[v] / rows["measured_s"] - 1.0).abs() for v in variants}
    return rows.assign(**errors).groupby(["gpu", "split"])[list(variants)].median()


def fit_chain(rows: pd.DataFrame) -> tuple[float, float]:
    """(latency clocks, row clocks) of the grid minimising the mean over GPUs of the
    train rows' median |error| of the chain variant."""
    train = rows[rows["split"] == "train"]
    scores = {}
    for latency, fixed in itertools.product(LATENCY_CLOCKS, ROW_CLOCKS):
        scores[(latency, fixed)] = float(median_errors(with_variants(train, latency, fixed), ("chain",)).mean().iloc[0])
    return min(scores, key=scores.get)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared gpu-measurements folder")
    parser.add_argument("--gpus", help="comma-separated data folders (default: every GPU with a spec)")
    args = parser.parse_args(argv)
    known = [gpu for gpu, spec in GPU_SPECS.items() if spec]
    try:
        data = data_root(args.data)
        gpus = args.gpus.split(",") if args.gpus else known
        unknown = [g for g in gpus if g not in known]
        if unknown:
            raise BenchmarkError(f"--gpus: unknown {', '.join(unknown)} (known: {', '.join(known)})")
        rows = block_rows(data, gpus)
        if rows.empty:
            raise BenchmarkError(f"--data {args.data}: no softmax rows of the block kernel for {', '.join(gpus)}")
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    latency, fixed = fit_chain(rows)
    rows = with_variants(rows, latency, fixed)
    steady = rows[(rows["split"] == "test") & (rows["B"] >= STEADY_ROWS)]
    print("softmax block kernel (cunn_SoftMaxForward), fp32, NeuSight's rows\n")
    if not steady.empty:
        print(f"Test rows with B >= {STEADY_ROWS}: measured kernel / compulsory stream (median), by row length H;"
              " loads per thread per pass: head + vectors + tail\n")
        ratio = steady.pivot_table(index="H", columns="gpu", values="ratio", aggfunc="median").round(2)
        print(pass_table(ratio.index.to_numpy()).set_index("H").join(ratio).to_markdown())
    print(f"\nMedian |error| per variant (chain: {latency} clocks a load, {fixed} clocks a row, fitted on the"
          " train rows of every GPU together)\n")
    print(median_errors(rows, ("sum", "overlap", "chain")).round(3).to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
