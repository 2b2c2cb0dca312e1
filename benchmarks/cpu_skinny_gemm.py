"""How fast does this CPU run a linear layer of few rows (LLM decode at small batch)?

A decode step multiplies each weight matrix by as many rows as the batch has sequences.
At one row PyTorch runs a matrix-vector kernel that streams the weights at close to the
memory bandwidth; at a few rows the weights may be streamed once per row, and from some
row count a packed GEMM takes over, whose FLOP rate ramps with the rows. This prints,
per weight shape and row count, the best time of a few calls on one thread (by the
thread's CPU time, so that a busy machine's descheduling is not counted; shared caches
and memory still are), the weights' streaming rate and the FLOP rate.

    python benchmarks/cpu_skinny_gemm.py                # the table
    python benchmarks/cpu_skinny_gemm.py --threads 2    # with more threads (wall time)

Each weight is larger than the last-level cache of common server CPUs, as an LLM's
layers are when the whole model streams through once per step, except the last shape
(a small layer that stays in cache when called repeatedly, shown for contrast).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

#: (out_features, in_features) of the weights timed.
SHAPES = ((4096, 4096), (32000, 512), (1408, 512))
ROWS = (1, 2, 4, 8, 16, 64, 256)


def best_seconds(fn, repeats: int, clock) -> float:
    """The fastest of ``repeats`` calls of ``fn`` (s), after one untimed call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    print(f"torch {torch.__version__}, {args.threads} thread(s), clock "
          f"{'thread CPU time' if args.threads == 1 else 'wall'}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'weight':>12} {'rows':>5} {'time':>10} {'weights GB/s':>13} {'GFLOP/s':>8} {'time / 1 row':>13}")
    for out_features, in_features in SHAPES:
        weight = torch.randn(out_features, in_features)
        one_row = None
        for rows in ROWS:
            x = torch.randn(rows, in_features)
            with torch.no_grad():
                seconds = best_seconds(lambda x=x: torch.nn.functional.linear(x, weight), args.repeats, clock)
            one_row = one_row or seconds
            print(f"{out_features:>6}x{in_features:<5} {rows:>5} {seconds * 1e3:>8.3f}ms "
                  f"{weight.numel() * weight.element_size() / seconds / 1e9:>13.2f} "
                  f"{2.0 * rows * out_features * in_features / seconds / 1e9:>8.1f} {seconds / one_row:>12.2f}x")


if __name__ == "__main__":
    main()
