"""How steady is this machine? The noise a calibration's figures inherit.

    python benchmarks/machine_noise.py                    # 150 s, one thread, thread clock
    python benchmarks/machine_noise.py --seconds 60 --threads 2 --clock wall

For the given time it alternates calibrate's reference workload (roofline.calibrate.bench
.reference_loop_s) with two products timed as calibrate times its cold GEMMs (the best of 3
calls, each after a cache flush): a layer-sized one (128x768 by 768x3072 fp32, compute-bound:
what BERT-base's prediction rests on) and a one-row one (1x4096 by 4096x4096, its 64 MB
weight streamed from DRAM: what a decode step's rests on), and prints, for each:

- the spread of single samples (fastest, median, slowest);
- how long the machine stays in one state: the lag (in samples and seconds) at which
  consecutive samples stop being correlated (autocorrelation under 0.2);
- the drift of the floor: the fastest sample of each window of consecutive samples, and
  how far those window minima lie apart (no estimator of a figure that samples one window
  does better than this);
- whether the reference workload tracks the GEMM (correlation of window minima): if it
  did, calibrate could divide the machine's speed out of every figure;
- the spread of calibrate's estimator, the fastest of R rounds spaced as a calibration
  spaces them, for R = 3 (the default) and more (`roofline calibrate --rounds R`),
  replayed over the samples taken (5th to 95th percentile of the estimates).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (M, K, N) of the products timed: BERT-base's feed-forward layer at sequence 128, and
#: one row through a 4096x4096 weight (a decode step's GEMV, DRAM-bound).
GEMMS = {"layer GEMM 128x768x3072": (128, 768, 3072), "one-row GEMM 1x4096x4096": (1, 4096, 4096)}
#: Seconds between two rounds of one figure in a full calibration (about 20 s a round).
ROUND_GAP_S = 20.0


def sample(seconds: float, clock: str) -> np.ndarray:
    """Rows (reference s, one column of seconds per GEMMS, wall time s) alternated for ``seconds``."""
    import torch

    from roofline.calibrate.bench import best_cold_time, cache_flusher, reference_loop_s
    from roofline.calibrate.machine import last_cache_bytes
    from roofline.measure import timer_for

    timer = timer_for("cpu", clock)
    flush = cache_flusher("cpu", last_cache_bytes("cpu"))
    operands = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in GEMMS.values()]
    rows = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        reference = reference_loop_s(timer)
        gemms = [best_cold_time(lambda a=a, w=w: torch.mm(a, w), timer, 3, flush) for a, w in operands]
        rows.append((reference, *gemms, time.perf_counter() - start))
    return np.array(rows)


def decorrelation_lag(values: np.ndarray, below: float = 0.2) -> int:
    """The first lag (samples) at which the autocorrelation of ``values`` falls under ``below``."""
    centred = values - values.mean()
    variance = float(centred @ centred)
    for lag in range(1, len(values) // 2):
        if variance == 0 or float(centred[:-lag] @ centred[lag:]) / variance < below:
            return lag
    return len(values) // 2


def window_minima(values: np.ndarray, window: int) -> np.ndarray:
    """The least value of each run of ``window`` consecutive samples."""
    whole = len(values) // window
    return values[: whole * window].reshape(whole, window).min(axis=1)


def fastest_of_rounds(values: np.ndarray, rounds: int, gap: int) -> np.ndarray:
    """calibrate's estimator replayed: the least of ``rounds`` samples ``gap`` apart, from
    every starting sample that leaves room."""
    span = (rounds - 1) * gap
    starts = np.arange(max(len(values) - span, 0))
    return np.array([values[s: s + span + 1: max(gap, 1)][:rounds].min() for s in starts])


def report(rows: np.ndarray, threads: int, clock: str) -> str:
    """The figures of the module doc, as Markdown lines."""
    reference, wall = rows[:, 0], rows[:, -1]
    per_sample_s = wall[-1] / len(rows)
    lines = [f"Machine noise: {len(rows)} samples over {wall[-1]:.0f} s ({threads} threads, {clock} clock), fp32 "
             "products after a cache flush (best of 3 calls a sample), the reference workload between.",
             f"- reference workload: fastest {reference.min() * 1e3:.3f} ms, median {np.median(reference) * 1e3:.3f} ms, "
             f"slowest {reference.max() * 1e3:.3f} ms"]
    for column, label in enumerate(GEMMS, start=1):
        lines.append(f"{label}:")
        lines.extend(_figure_lines(reference, rows[:, column], per_sample_s))
    return "\n".join(lines)


def _figure_lines(reference: np.ndarray, gemm: np.ndarray, per_sample_s: float) -> list[str]:
    lines = [f"- fastest {gemm.min() * 1e3:.3f} ms, median {np.median(gemm) * 1e3:.3f} ms, "
             f"slowest {gemm.max() * 1e3:.3f} ms"]
    lag = decorrelation_lag(gemm)
    lines.append(f"- samples stay correlated for {lag} samples ({lag * per_sample_s:.1f} s)")
    for window_s in (10.0, 30.0):
        window = max(int(window_s / per_sample_s), 1)
        minima = window_minima(gemm, window)
        if len(minima) >= 2:
            lines.append(f"- floor drift: the fastest sample of each {window_s:.0f} s window lies within "
                         f"{minima.max() / minima.min() - 1:.1%} ({len(minima)} windows)")
    window = max(int(10.0 / per_sample_s), 1)
    ref_minima, gemm_minima = window_minima(reference, window), window_minima(gemm, window)
    if len(gemm_minima) >= 3:
        corr = float(np.corrcoef(ref_minima, gemm_minima)[0, 1])
        lines.append(f"- reference workload vs this (10 s window minima): correlation {corr:.2f}")
    gap = max(int(ROUND_GAP_S / per_sample_s), 1)
    for rounds in (3, 6, 10):
        estimates = fastest_of_rounds(gemm, rounds, gap)
        if len(estimates) >= 5:
            lo, hi = np.percentile(estimates, [5, 95])
            lines.append(f"- fastest of {rounds} rounds {ROUND_GAP_S:.0f} s apart: estimates within {hi / lo - 1:.1%} "
                         f"(5th to 95th percentile of {len(estimates)} replays)")
        else:
            lines.append(f"- fastest of {rounds} rounds: too few samples to replay (run longer)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "thread"), default="thread")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.threads < 1:
        parser.error("--seconds must be > 0 and --threads >= 1")
    import torch

    torch.set_num_threads(args.threads)
    print(report(sample(args.seconds, args.clock), args.threads, args.clock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
