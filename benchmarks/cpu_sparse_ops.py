"""CPU embedding_bag and index_add_ predicted vs measured one by one: DLRM's lookups (one
index a bag from a [100000, 64] table, and bags of more) and GCN's aggregations (Cora's
13264 edges into 2708 nodes, slices of 1 to 64 features: both of ATen's scatter_add
kernels, and the 1-D self's own loop). Each op is timed alone, one torch thread, on the
clock the spec was calibrated with (--clock thread: the thread's CPU time), as the
fastest of --rounds interleaved rounds (each the best of --repeats calls); the spread is
the slowest round over the fastest. Predicted: ``roofline.analyze`` of the same call on
--hw (the op's own row: dispatch and kernel). Embedding tables are parameters, as a
model's, timed under no_grad, as a forward is measured.

    roofline calibrate --out one.yaml --threads 1 --clock thread
    python benchmarks/cpu_sparse_ops.py --hw one.yaml [--rounds 5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from typing import Any

import torch


def cases() -> list[tuple[str, str, Callable[..., Any], tuple]]:
    """(label, aten op timed, function, arguments) at the models' shapes."""
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    table = torch.nn.Parameter(torch.randn(100000, 64, generator=gen))
    out = []
    for bags, per_bag in ((1, 1), (64, 1), (1, 256), (256, 4)):
        index = torch.randint(0, 100000, (bags * per_bag,), generator=gen)
        offsets = torch.arange(0, bags * per_bag, per_bag)
        out.append((f"dlrm embedding_bag [100000,64], {bags} bag(s) of {per_bag}", "aten._embedding_bag",
                    lambda w, i, o: F.embedding_bag(i, w, o, mode="sum"), (table, index, offsets)))
    edges = torch.randint(0, 2708, (13264,), generator=gen)
    for cols in (0, 1, 7, 8, 16, 64):
        shape = (2708,) if cols == 0 else (2708, cols)
        source = torch.randn((13264, *shape[1:]), generator=gen)
        label = f"gcn index_add_ [{','.join(map(str, shape))}] from 13264 along 0"
        out.append((label, "aten.index_add_", lambda t, i, s: t.index_add_(0, i, s), (torch.zeros(shape), edges, source)))
    return out


def _best(call: Callable[[], Any], repeats: int, clock: Callable[[], int]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        call()
        best = min(best, clock() - start)
    return best * 1e-9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", required=True, help="a CPU spec calibrated with one thread")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clock", choices=("thread", "wall"), default="thread")
    args = parser.parse_args(argv)

    from roofline.analysis import analyze
    from roofline.errors import RooflineError
    from roofline.hardware import load_hardware

    try:
        spec = load_hardware(args.hw)
    except RooflineError as exc:
        print(f"--hw: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    clock = time.thread_time_ns if args.clock == "thread" else time.perf_counter_ns
    with torch.no_grad():
        chosen = cases()
        predicted = []
        for label, op, fn, fn_args in chosen:
            ops = analyze(fn, fn_args, hw=spec, name=label).ops
            predicted.append(float(ops.loc[ops["op"] == op, "predicted_s"].sum()))
        calls = [(lambda fn=fn, a=fn_args: fn(*a)) for _, _, fn, fn_args in chosen]
        for call in calls:  # warm-up: allocator and caches
            call()
        samples: list[list[float]] = [[] for _ in calls]
        for _, (call, times) in itertools.product(range(args.rounds), zip(calls, samples)):
            times.append(_best(call, args.repeats, clock))
    print(f"spec {spec.name} ({args.hw}); 1 torch thread, {args.clock} clock; measured: fastest of {args.rounds} "
          f"interleaved rounds of best-of-{args.repeats}; spread: slowest round / fastest - 1")
    print(f"{'op':52s} {'predicted':>10s} {'measured':>10s} {'error':>8s} {'spread':>7s}")
    for (label, *_), pred, times in zip(chosen, predicted, samples):
        measured = min(times)
        print(f"{label:52s} {pred * 1e6:8.1f}us {measured * 1e6:8.1f}us {pred / measured - 1:+8.1%} "
              f"{max(times) / measured - 1:7.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
