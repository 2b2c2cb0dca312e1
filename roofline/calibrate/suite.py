"""The op suite: common non-GEMM ops (element-wise, normalisation, pooling, reductions,
data movement) timed at activation sizes against roofline's own prediction on the
measured ceilings. Each op's fraction of the roofline becomes its own efficiency in
predictions on the calibrated spec (roofline.predict.op_efficiency), for the aten ops it
stands for (SUITE_OPS), written into the spec's record (measured.op_suite_ops) so that
predictions need not know this suite.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from roofline.calibrate.bench import best_time
from roofline.calibrate.loops import KERNEL_FAMILY_OPS, structured_mask
from roofline.efficiency.cpu import op_elements
from roofline.hardware import HardwareSpec, SuiteOp
from roofline.measure import Timer
from roofline.predict import COMPUTE_BOUND, MEMORY_BOUND, NO_WORK

__all__ = ["OWN_RATE_FAMILIES", "SUITE_ELEMENTS", "SUITE_OPS", "op_suite", "suite_ops", "measure_op_suite"]

#: Elements per tensor of the op suite, per device kind and mode (activation sizes of
#: small-batch models: the caches on a CPU, from one thread's grain to all threads busy;
#: large enough to outlast a launch on a GPU).
SUITE_ELEMENTS = {"cpu": {"full": (2**12, 2**14, 2**16, 2**18, 2**20), "quick": (2**12, 2**18)},
                  "cuda": {"full": (2**22, 2**24), "quick": (2**22,)}}


#: The embedding_bag case: rows of 64 fp32 (DLRM's), bags of 4 lookups, from a table of
#: 2**18 rows (64 MB: out of every cache, as recommendation tables are, so each lookup
#: pays the DRAM latency a model's does), a parameter as a model's (so the op is
#: aten._embedding_bag, as in a forward).
_EMBEDDING_DIM, _BAG_SIZE, _EMBEDDING_ROWS = 64, 4, 2**18


def op_suite(device: str, n: int) -> dict[str, tuple[Callable[..., Any], tuple]]:
    """Common element-wise, normalisation, pooling and data-movement ops on ``n``-element
    fp32 tensors: name -> (function, arguments)."""
    import torch.nn.functional as F

    rows = max(n // 256, 1)
    side = max(int(round(math.sqrt(n / 64))), 2)
    x, y = torch.randn(n, device=device), torch.randn(n, device=device)
    mask = structured_mask((n,), device)  # in runs, as models' masks (calibrate.loops.structured_mask)
    x2 = torch.randn(rows, 256, device=device)
    x4 = torch.randn(1, 64, side, side, device=device)
    stats = [torch.randn(64, device=device).abs() + 0.5 for _ in range(4)]
    gamma, beta = torch.ones(256, device=device), torch.zeros(256, device=device)
    index = torch.randint(0, rows, (max(rows // 2, 1),), device=device)
    lookups = max(n // _EMBEDDING_DIM, 1)  # rows gathered: n elements in all
    table = torch.nn.Parameter(torch.randn(_EMBEDDING_ROWS, _EMBEDDING_DIM, device=device))
    picks = torch.randint(0, table.shape[0], (lookups,), device=device)
    bags = torch.arange(0, lookups, _BAG_SIZE, device=device)
    return {
        "relu": (torch.relu, (x,)),
        "gelu": (F.gelu, (x,)),
        "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), (x,)),
        "add": (torch.add, (x, y)),
        "mul": (torch.mul, (x, y)),
        "exp": (torch.exp, (x,)),
        "sigmoid": (torch.sigmoid, (x,)),
        "tanh": (torch.tanh, (x,)),
        "silu": (F.silu, (x,)),
        "log": (torch.log, (x.abs() + 1.0,)),
        "compare": (torch.gt, (x, y)),
        "where": (torch.where, (mask, x, y)),
        "softmax": (lambda t: F.softmax(t, -1), (x2,)),
        "layer_norm": (lambda t: F.layer_norm(t, (256,), gamma, beta), (x2,)),
        "batch_norm": (lambda t: F.batch_norm(t, stats[0], stats[1], stats[2], stats[3], training=False), (x4,)),
        "max_pool2d": (lambda t: F.max_pool2d(t, 3, 2, 1), (x4,)),
        "amax": (lambda t: t.amax(-1), (x2,)),
        "sum": (lambda t: t.sum(-1), (x2,)),
        "cat": (lambda a, b: torch.cat([a, b]), (x, y)),
        "transpose": (lambda t: t.t().contiguous(), (x2,)),
        "index_select": (lambda t: t.index_select(0, index), (x2,)),
        "embedding_bag": (lambda w, i, o: F.embedding_bag(i, w, o, mode="sum"), (table, picks, bags)),
    }


#: Families whose time per element is their kernel's own (transcendental functions,
#: comparisons writing bools: 5-20x an add's here): left out of the medians that set the
#: efficiencies of ops without a family, which are mostly streaming copies and arithmetic.
OWN_RATE_FAMILIES = ("exp", "gelu", "gelu_tanh", "sigmoid", "tanh", "silu", "log", "compare")

#: The aten ops each op of the suite (op_suite) stands for in predictions.
SUITE_OPS: dict[str, tuple[str, ...]] = {
    "relu": ("aten.relu", "aten.relu_"),
    "gelu": ("aten.gelu", "aten.gelu_"),
    # GELU's tanh form (GPT-2's) runs another CPU kernel, about four times the erf form's
    # time an element on one AVX2 core (3.3 against 0.85 ns): a family of its own, keyed
    # by the kernel variant roofline.count.loops names.
    "gelu_tanh": ("aten.gelu@tanh", "aten.gelu_@tanh"),
    "add": ("aten.add", "aten.add_", "aten.sub", "aten.sub_"),
    "mul": ("aten.mul", "aten.mul_", "aten.div", "aten.div_"),
    "exp": ("aten.exp", "aten.exp_"),
    # Transcendental kernels (Sleef's vectorized sigmoid, tanh, log; silu = x sigmoid(x))
    # run 1.3-4.5 ns an element on one AVX2 core against 0.2 for an add: compute-bound on
    # a CPU, each at its own rate.
    "sigmoid": ("aten.sigmoid", "aten.sigmoid_"),
    "tanh": ("aten.tanh", "aten.tanh_"),
    "silu": ("aten.silu", "aten.silu_"),
    "log": ("aten.log", "aten.log_"),
    # Comparisons write one-byte bools from fp32 pairs: 0.8-1.2 ns an element here, four
    # times an add's.
    "compare": ("aten.gt", "aten.lt", "aten.ge", "aten.le", "aten.eq", "aten.ne"),
    "where": ("aten.where",),
    "softmax": ("aten._softmax", "aten._log_softmax", "aten._safe_softmax"),
    "layer_norm": ("aten.native_layer_norm",),
    "batch_norm": ("aten.native_batch_norm", "aten._native_batch_norm_legit_no_training"),
    "max_pool2d": ("aten.max_pool2d_with_indices",),
    "amax": ("aten.amax", "aten.amin"),
    "sum": ("aten.sum", "aten.mean"),
    "cat": ("aten.cat",),
    "transpose": (),  # a transposing copy is aten.clone/copy_ of a strided view: not told apart by name
    "index_select": ("aten.index_select", "aten.embedding"),  # a CPU embedding is an index_select of rows
    # Setup before the gather (checks, offset2bag, bag sizes, max indices) is its dispatch.
    "embedding_bag": ("aten._embedding_bag", "aten._embedding_bag_forward_only", "aten.embedding_bag"),
}


def suite_ops(names: Any) -> tuple[SuiteOp, ...]:
    """The record's op_suite_ops for the suite ops ``names`` (in order, each once): the
    aten ops each stands for (a kernel variant the short-loop suite times: its keys,
    calibrate.loops.KERNEL_FAMILY_OPS)."""
    known = {**SUITE_OPS, **KERNEL_FAMILY_OPS}
    return tuple(SuiteOp(name, known[name]) for name in dict.fromkeys(names))


def measure_op_suite(device: str, timer: Timer, mode: str, spec: HardwareSpec, repeats: int, min_sample_s: float,
                     advance: Callable[[], None], rounds: int = 1) -> pd.DataFrame:
    """How close common non-GEMM ops come to the roofline of ``spec`` (measured ceilings,
    efficiencies 1): per op and size, the roofline's work time (max of compute and memory,
    from roofline's own counts) over the measured time less the per-op overheads. Each
    op is timed once per round, the rounds interleaved (roofline.calibrate.bench), its
    fastest round kept.

    Rows: op, elements, bound ("compute" or "memory", the larger roofline term), work_s,
    overhead_s, seconds (best measured), fraction (NaN when the time is within 1.5x the
    overheads: too little work to tell), kernel_elements (what its kernel iterates over,
    roofline.efficiency.cpu.op_elements: what sets the threads it runs on), spread (the
    slowest round over the fastest, minus 1)."""
    from roofline.analysis import analyze

    kind = "cuda" if device == "cuda" else "cpu"
    cases = []
    for n in SUITE_ELEMENTS[kind][mode]:
        for name, (fn, args) in op_suite(device, n).items():
            ops = analyze(fn, args, hw=spec, name=name).ops
            ops = ops[ops["bound"] != NO_WORK]
            compute, memory = float(ops["compute_s"].sum()), float(ops["memory_s"].sum())
            cases.append({"op": name, "elements": n, "bound": COMPUTE_BOUND if compute > memory else MEMORY_BOUND,
                          "work_s": float(np.maximum(ops["compute_s"], ops["memory_s"]).sum()),
                          "overhead_s": float(ops["overhead_s"].sum()),
                          "kernel_elements": float(op_elements(ops).max()) if len(ops) else float(n),
                          "call": (lambda fn=fn, args=args: fn(*args))})
    samples = [[] for _ in cases]
    for _ in range(max(rounds, 1)):
        for case, times in zip(cases, samples):
            times.append(best_time(case["call"], timer, repeats, min_sample_s))
        advance()
    rows = []
    for case, times in zip(cases, samples):
        seconds, work, overhead = min(times), case["work_s"], case["overhead_s"]
        fraction = work / (seconds - overhead) if seconds > 1.5 * overhead and work > 0 else math.nan
        rows.append({**{k: v for k, v in case.items() if k != "call"}, "seconds": seconds, "fraction": fraction,
                     "spread": max(times) / seconds - 1.0})
    return pd.DataFrame(rows, columns=["op", "elements", "bound", "work_s", "overhead_s", "seconds", "fraction",
                                       "kernel_elements", "spread"])
