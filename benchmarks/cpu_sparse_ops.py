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

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_data_movement import compare_ops  # noqa: E402  (benchmarks/ is not a package)


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


def main(argv: list[str] | None = None) -> int:
    return compare_ops(cases(), argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
