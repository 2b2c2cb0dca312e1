"""Short inner loops: what an op family's loops of a few elements cost on a CPU.

A CPU kernel streams a long inner loop a vector at a time; a loop of a few elements
(a broadcast over a short last dimension, a reduction over a short row, a gather of
single elements, a cat of short rows) runs element by element and pays a start per loop
(roofline.count.loops says which loops an op runs). Each family of the op suite is
timed here on SHORT_LOOP_ELEMENTS elements laid out as loops of two lengths, both below
a vector's worth, and

    seconds = dispatch_s + (loops x loop_s + elements x element_s) / threads_used

solved for loop_s and element_s (one thread's costs; dispatch_s is the family's curve,
roofline.calibrate.curves). Only these microbenchmarks are fitted, never a model.

Kernel variants (roofline.count.loops.LOOP_KERNELS) are families of their own, keyed
``op@kernel``: index_select along the last of three dimensions (one strided copy per
index; its inner loop is the slice, timed at two slice lengths on a source of a few
hundred kB, rows not a power of two apart so that a column does not fall into one cache
set), amax and sum over a middle dimension (column by column), and index_add_ along dim 0
of a 2-D self as ATen's scatter_add runs it: element by element below 16 elements a
slice ("index_add@scatter", slices of 2 and 6), the indices sorted and whole rows added
from 16 ("index_add@sorted", slices of 16 and 64); 1 MB of messages into 128 kB of
target rows, as a graph layer's.

A cat of strided inputs ("cat@copy": ATen copies input by input into the output's
narrowed slices, roofline.count.loops._cat) is timed as NLM's Permute runs it,
cat([x, x.permute(0, 2, 1, 3)], -1) on a square [1, S, S, C] source of about
COPY_SOURCE_ELEMENTS fp32 (4 MB; with its output 12 MB, past a level-2 cache and most
of one thread's share of a level-3 one), at slices of C = 16 and 64,
and in the cache state a forward meets it in: its source just written (in cache) and
its output not (a forward's outputs of a few MB come from the allocator's free lists,
last written many ops before). Timed one call at a time after a flush of the caches and
a rewrite of the source; the same cat in a forward, repeated at once on its own inputs,
takes as long as the first call: the output's misses, not the source's, set its time.
Its cost per element grows with the footprint (measured here 0.41, 0.54 and 0.63 ns at
6, 12 and 24 MB): the fit holds at a few MB, and the roofline's memory time bounds the
copy from below past that (roofline.efficiency.cpu.ROOFLINE_FLOOR_KERNELS).

A where's mask is structured, not random: masks of models (attention, padding, distinct
indices) come in runs, and ATen's element-wise where branches on each element, so a
random mask mispredicts half of them (about 5x slower per element).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from roofline.calibrate.bench import best_cold_time, best_time, cache_flusher
from roofline.calibrate.machine import last_cache_bytes
from roofline.count.loops import without_kernel
from roofline.efficiency.cpu import threads_used
from roofline.measure import Timer

__all__ = ["COPY_SOURCE_ELEMENTS", "KERNEL_FAMILY_OPS", "LOOP_LENGTHS", "SCATTER_SCALE", "SHORT_LOOP_ELEMENTS", "STRIDED_SOURCE_COLUMNS", "fit_loop_costs", "loop_cases", "loop_suite",
           "measure_short_loops", "structured_mask"]

#: Elements of every short-loop case (a few times a thread's grain: the loops dominate).
SHORT_LOOP_ELEMENTS = 2**16
#: The two inner-loop lengths each family is timed at: slice copies from one element,
#: element-wise ops and reductions from two (one-element loops merge away there). Both
#: stay below one vectorized step of fp32 on any instruction set (8 elements on AVX2).
LOOP_LENGTHS = {"slice": (1, 4), "other": (2, 6), "strided": (32, 96), "scatter": (2, 6), "sorted": (16, 64),
                "copy": (16, 64)}
_SLICE_FAMILIES = ("cat", "index_select")
_STRIDED_FAMILIES = ("index_select@strided",)
#: Families of a slice-by-slice copy (count.loops "copy"), timed with a cold output.
_COPY_FAMILIES = ("cat@copy",)
#: Elements of the cat@copy case's source (4 MB of fp32, its output 8 MB: a footprint of
#: a few MB, past a level-2 cache).
COPY_SOURCE_ELEMENTS = 2**20
#: index_add_ as ATen's scatter_add (roofline.count.loops._index_add): element by element
#: below SORTED_SCATTER_MIN_SLICE elements a slice, sorted indices and whole rows from it.
_SCATTER_FAMILIES = {"index_add@scatter": "scatter", "index_add@sorted": "sorted"}
#: How many times SHORT_LOOP_ELEMENTS the index_add cases move: 2**18 fp32 (1 MB of
#: messages, past a 512 kB level-2 cache, as a graph layer's: Cora's 13264 x 16 is 0.85 MB);
#: the sorted path gathers them in index order, so their cache level sets its cost.
SCATTER_SCALE = 4
#: Elements of the index_add cases' self (the target rows: 128 kB of fp32, in a level-2
#: cache, as a small graph's node features: Cora's 2708 x 16 is 173 kB); the element-by-
#: element kernel updates them in index order, so their cache level sets its cost.
_TARGET_ELEMENTS = 2**15
#: Columns of the strided index_select's source: rows 4000 B apart (fp32), not a power of
#: two, and 32 to 96 rows take 128 to 384 kB (a level-2 cache's worth).
STRIDED_SOURCE_COLUMNS = 1000
#: The kernel-variant families this suite times -> the keys (roofline.count.loops.loop_key)
#: of the aten ops running that kernel they stand for in predictions.
KERNEL_FAMILY_OPS: dict[str, tuple[str, ...]] = {
    "index_select@strided": ("aten.index_select@strided",),
    "amax@outer": ("aten.amax@outer", "aten.amin@outer"),
    "sum@outer": ("aten.sum@outer", "aten.mean@outer"),
    "index_add@scatter": ("aten.index_add_@scatter", "aten.index_add@scatter"),
    "index_add@sorted": ("aten.index_add_@sorted", "aten.index_add@sorted"),
    # A copy of a permuted or expanded tensor into a contiguous one runs the same
    # slice-by-slice TensorIterator copy as each input of such a cat.
    "cat@copy": ("aten.cat@copy", "aten.clone@copy", "aten.copy_@copy"),
}
#: Rows of the middle dimension the outer reductions reduce.
_OUTER_ROWS = 64


def structured_mask(shape: tuple[int, ...], device: str) -> torch.Tensor:
    """A boolean mask in runs (three of every four 64-element blocks True), as models'
    masks are: a where's branch predicts it, where a random mask would mispredict."""
    n = math.prod(shape)
    return ((torch.arange(n, device=device) // 64) % 4 != 3).reshape(shape)


def loop_suite(device: str, n: int, inner: int) -> dict[str, tuple[Callable[..., Any], tuple, int]]:
    """The op-suite families on ``n`` fp32 elements as loops of ``inner`` elements:
    name -> (function, arguments, inner loops it runs)."""
    import torch.nn.functional as F

    rows = max(n // inner, 1)
    x, y = torch.randn(rows, inner, device=device), torch.randn(inner, device=device)
    mask = structured_mask((rows, inner), device)
    strided = torch.randn(rows, 2 * inner, device=device)[:, :inner]  # rows apart: no merging
    index = torch.randint(0, rows, (rows,), device=device)
    columns = torch.randn(1, inner, STRIDED_SOURCE_COLUMNS, device=device)  # index_select's slice: inner rows
    picks = torch.randint(0, STRIDED_SOURCE_COLUMNS, (rows,), device=device)
    middle = torch.randn(max(rows // _OUTER_ROWS, 1), _OUTER_ROWS, inner, device=device)
    outer_loops = middle.shape[0] * _OUTER_ROWS
    targets = torch.zeros(max(_TARGET_ELEMENTS // inner, 1), inner, device=device)
    spread = torch.randint(0, targets.shape[0], (rows,), device=device)
    return {
        "relu": (torch.relu, (strided,), rows),
        "gelu": (F.gelu, (strided,), rows),
        "add": (torch.add, (x, y), rows),
        "mul": (torch.mul, (x, y), rows),
        "exp": (torch.exp, (strided,), rows),
        "where": (torch.where, (mask, x, y), rows),
        "softmax": (lambda t: F.softmax(t, -1), (x,), rows),
        "amax": (lambda t: t.amax(-1), (x,), rows),
        "sum": (lambda t: t.sum(-1), (x,), rows),
        "cat": (lambda a: torch.cat([a, a], -1), (x,), 2 * rows),
        "index_select": (lambda t, i: t.index_select(0, i), (x, index), rows),
        "index_select@strided": (lambda t, i: t.index_select(-1, i), (columns, picks), rows),
        "amax@outer": (lambda t: t.amax(1), (middle,), outer_loops),
        "sum@outer": (lambda t: t.sum(1), (middle,), outer_loops),
        "index_add@scatter": (lambda t, i, s: t.index_add_(0, i, s), (targets, spread, x), rows),
        "index_add@sorted": (lambda t, i, s: t.index_add_(0, i, s), (targets, spread, x), rows),
        **_copy_case(device, inner),
    }


def _copy_case(device: str, inner: int) -> dict[str, tuple[Callable[..., Any], tuple, int]]:
    """The cat@copy case at slices of ``inner``: cat([x, x.permute(0, 2, 1, 3)], -1) on a
    [1, S, S, inner] source of about COPY_SOURCE_ELEMENTS, S x S slices per input."""
    side = max(round(math.sqrt(COPY_SOURCE_ELEMENTS / inner)), 1)
    x = torch.randn(1, side, side, inner, device=device)
    return {"cat@copy": (lambda t: torch.cat([t, t.permute(0, 2, 1, 3)], -1), (x,), 2 * side * side)}


def loop_cases(device: str, n: int = SHORT_LOOP_ELEMENTS) -> list[tuple[str, int, Callable[..., Any], tuple, int]]:
    """The cases calibrate times: each family at its two loop lengths (LOOP_LENGTHS), as
    (name, inner, function, arguments, inner loops)."""
    cases = []
    for kind, lengths in LOOP_LENGTHS.items():
        size = n * SCATTER_SCALE if kind in _SCATTER_FAMILIES.values() else n
        for inner in lengths:
            for name, (fn, args, loops) in loop_suite(device, size, inner).items():
                if _kind(name) == kind:
                    cases.append((name, inner, fn, args, loops))
    return cases


def _kind(family: str) -> str:
    if family in _SCATTER_FAMILIES:
        return _SCATTER_FAMILIES[family]
    if family in _COPY_FAMILIES:
        return "copy"
    return "strided" if family in _STRIDED_FAMILIES else "slice" if family in _SLICE_FAMILIES else "other"


def measure_short_loops(device: str, timer: Timer, repeats: int, min_sample_s: float, advance: Callable[[], None],
                        rounds: int = 1) -> pd.DataFrame:
    """Each family timed at both of its loop lengths, the rounds interleaved, the fastest
    round kept. Rows: op, inner, loops, elements, seconds, spread (slowest round over
    the fastest, minus 1)."""
    cases = [{"op": name, "inner": inner, "loops": loops, "elements": loops * inner,
              "call": (lambda fn=fn, args=args: fn(*args)), "source": args[0]}
             for name, inner, fn, args, loops in loop_cases(device)]
    flush = cache_flusher(device, last_cache_bytes("cpu")) if any(c["op"] in _COPY_FAMILIES for c in cases) else None
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(max(rounds, 1)):
        for case, times in zip(cases, samples):
            if case["op"] in _COPY_FAMILIES and flush is not None:
                source = case["source"]
                times.append(best_cold_time(case["call"], timer, 3 * repeats, lambda s=source: (flush(), s.mul_(1.0))))
            else:
                times.append(best_time(case["call"], timer, repeats, min_sample_s))
        advance()
    rows = [{**{k: v for k, v in case.items() if k not in ("call", "source")}, "seconds": min(times),
             "spread": max(times) / min(times) - 1.0} for case, times in zip(cases, samples)]
    return pd.DataFrame(rows, columns=["op", "inner", "loops", "elements", "seconds", "spread"])


def fit_loop_costs(loops: pd.DataFrame, curves: pd.DataFrame, threads: int) -> pd.DataFrame:
    """Per family, (element_s, loop_s) on one thread from its two loop lengths, less the
    family's dispatch_s (curves: fit_curves's rows; 0 for a family without one). Both are
    held to >= 0 (the other refitted when one is held). Columns op, element_s, loop_s."""
    dispatch = dict(zip(curves["op"], curves["dispatch_s"])) if not curves.empty else {}
    dispatch.update({op: dispatch[without_kernel(op)] for op in loops["op"].unique() if without_kernel(op) in dispatch})
    rows = []
    for op, points in loops.groupby("op", sort=False):
        if len(points) < 2:
            continue
        points = points.sort_values("inner")
        used = threads_used(points["elements"].to_numpy(dtype=float), threads)
        work = (points["seconds"].to_numpy(dtype=float) - dispatch.get(op, 0.0)) * used  # one thread's seconds
        n_loops, elements = points["loops"].to_numpy(dtype=float), points["elements"].to_numpy(dtype=float)
        (loop_s, element_s), *_ = np.linalg.lstsq(np.column_stack([n_loops, elements]), work, rcond=None)
        if loop_s < 0:  # no cost per loop: the elements alone
            loop_s, element_s = 0.0, float(np.sum(work * elements) / np.sum(elements**2))
        if element_s < 0:  # no cost per element: the loops alone
            element_s, loop_s = 0.0, float(np.sum(work * n_loops) / np.sum(n_loops**2))
        rows.append({"op": op, "element_s": max(float(element_s), 0.0), "loop_s": max(float(loop_s), 0.0)})
    frame = pd.DataFrame(rows, columns=["op", "element_s", "loop_s"])
    return frame[np.isfinite(frame["element_s"]) & np.isfinite(frame["loop_s"])] if not frame.empty else frame
