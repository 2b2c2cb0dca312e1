"""CPU data-movement ops of the zoo's small-op models, predicted vs measured one by one:
QuWeiT's index_select along the last dimension (and the cast, multiply and sum after it),
NLM's where, amax/amin over a middle dimension and concatenations along the last
dimension, at the shapes those models run them. Each op is timed alone, one torch
thread, on the clock the spec was calibrated with (--clock thread: the thread's CPU
time), as the fastest of --rounds interleaved rounds (each the best of --repeats calls);
the spread is the slowest round over the fastest. Predicted: ``roofline.analyze`` of the
same call on --hw (the op's own row: dispatch and kernel).

    roofline calibrate --out one.yaml --threads 1 --clock thread
    python benchmarks/cpu_data_movement.py --hw one.yaml [--rounds 5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from typing import Any

import torch


def _distinct_mask(n: int) -> torch.Tensor:
    """NLM's [n, n, 1] mask of pairs of distinct objects (True off the diagonal)."""
    index = torch.arange(n)
    return (index.view(n, 1) != index.view(1, n)).unsqueeze(-1)


def cases() -> list[tuple[str, str, Callable[..., Any], tuple]]:
    """(label, aten op timed, function, arguments) at the models' shapes."""
    gen = torch.Generator().manual_seed(0)
    bits = torch.rand(1, 197, 1536, generator=gen) > 0.5
    bits2 = torch.rand(1, 197, 768, generator=gen) > 0.5
    wiring = torch.randint(0, 1536, (4608,), generator=gen)
    wiring2 = torch.randint(0, 768, (4608,), generator=gen)
    picked = bits.index_select(-1, wiring).unflatten(-1, (768, 6))
    powers = 2 ** torch.arange(6)
    address = picked.to(torch.int64) * powers
    out = [
        ("quweit index_select [1,197,1536] bool, 4608 along -1", "aten.index_select",
         lambda t, i: t.index_select(-1, i), (bits, wiring)),
        ("quweit index_select [1,197,768] bool, 4608 along -1", "aten.index_select",
         lambda t, i: t.index_select(-1, i), (bits2, wiring2)),
        ("quweit _to_copy bool->int64 [1,197,768,6]", "aten._to_copy", lambda t: t.to(torch.int64), (picked,)),
        ("quweit mul int64 [1,197,768,6] x [6]", "aten.mul", torch.mul, (address, powers)),
        ("quweit sum int64 [1,197,768,6] over -1", "aten.sum", lambda t: t.sum(-1), (address,)),
    ]
    for n, c in ((50, 6), (50, 22), (102, 12), (102, 28), (102, 60)):
        x = torch.randn(1, n, n, c, generator=gen)
        mask = _distinct_mask(n)
        out += [
            (f"nlm where [{n},{n},1] x [1,{n},{n},{c}] x 0.0", "aten.where", lambda m, t: torch.where(m, t, 0.0),
             (mask, x)),
            (f"nlm amax [1,{n},{n},{c}] over dim 2", "aten.amax", lambda t: t.amax(2), (x,)),
            (f"nlm amin [1,{n},{n},{c}] over dim 2", "aten.amin", lambda t: t.amin(2), (x,)),
            (f"nlm cat [1,{n},{n},{c}] x2 along -1", "aten.cat", lambda t: torch.cat([t, t], -1), (x,)),
            (f"nlm cat [1,{n},{n},{c}] + its transpose along -1", "aten.cat",
             lambda t: torch.cat([t, t.permute(0, 2, 1, 3)], -1), (x,)),
            (f"nlm cat [1,{n},{c}] x2 along -1", "aten.cat", lambda t: torch.cat([t, t], -1), (x[:, 0],)),
        ]
    return out


def _best(call: Callable[[], Any], repeats: int, clock: Callable[[], int]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        call()
        best = min(best, clock() - start)
    return best * 1e-9


def compare_ops(chosen: list[tuple[str, str, Callable[..., Any], tuple]], argv: list[str] | None, description: str) -> int:
    """Predict each (label, aten op, function, arguments) of ``chosen`` on --hw and time it
    alone (one torch thread, under no_grad as a forward is measured; fastest of --rounds
    interleaved rounds of best-of---repeats calls); print both with the error and the
    spread. The driver of this script and of the other per-op CPU benchmarks."""
    parser = argparse.ArgumentParser(description=description)
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
    width = max(len(label) for label, *_ in chosen) + 2
    print(f"{'op':{width}s} {'predicted':>10s} {'measured':>10s} {'error':>8s} {'spread':>7s}")
    for (label, *_), pred, times in zip(chosen, predicted, samples):
        measured = min(times)
        print(f"{label:{width}s} {pred * 1e6:8.1f}us {measured * 1e6:8.1f}us {pred / measured - 1:+8.1%} "
              f"{max(times) / measured - 1:7.1%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return compare_ops(cases(), argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
