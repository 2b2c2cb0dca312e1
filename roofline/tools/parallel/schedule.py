"""What a pipeline schedule costs: stages from the captured ops, and the schedule played out.

A pipeline splits the model's layers over p stages; the first stage also holds what
comes before the layers (the embeddings), the last what comes after (final norm, LM
head, loss), so the end stages are the heavier ones. Each stage runs every micro-batch's
forward and backward at the micro-batch's own size: its times are the roofline
predictions of its own ops from an analysis at that size (the efficiency stage sees
the micro-batch's shapes, and every op pays its launch cost), not a share of the
full-batch time.

The schedule (1F1B, as Megatron-LM runs it, or GPipe: all forwards, then all
backwards) is played out micro-batch by micro-batch: an op starts when its stage is
free and its input has arrived (a forward needs the previous stage's forward of the
same micro-batch, a backward the next stage's backward, the last stage's backward its
own forward); a point-to-point send of a boundary activation (forward) or gradient
(backward) takes bytes / link bandwidth + latency and, unless sends overlap compute,
holds the sending stage until it is through (blocking send/receive). The step's
pipeline time is when the last op ends; the bubble is the stages' idle share of it.
With equal stages, no sends and m micro-batches this is the textbook (m + p - 1)
slots of forward + backward, a bubble of (p - 1) / (m + p - 1) (the tests check it);
with unequal stages the warm-up and cool-down follow the slow stage.

Interleaved (virtual-stage) schedules are not modelled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roofline.errors import RooflineError

__all__ = [
    "SCHEDULES",
    "BlockCost",
    "PipelineCost",
    "ScheduleResult",
    "StageCost",
    "pipeline_blocks",
    "pipeline_cost",
    "play_schedule",
    "split_stages",
    "stage_order",
]

#: Pipeline schedules played out by play_schedule.
SCHEDULES = ("1f1b", "gpipe")

#: A layer of a repeated stack: the first ".<index>" of a module path
#: ("transformer.h.7.attn.c_attn" is layer 7).
_LAYER = re.compile(r"\.(\d+)(?:\.|$)")


@dataclass(frozen=True)
class BlockCost:
    """One piece of the model a pipeline keeps whole, for one micro-batch on one device:
    ``forward_s``, ``backward_s`` (s, roofline predictions with launch costs, recompute in
    backward), ``kernels`` (ops that do work, forward and backward: each one launch),
    ``parameter_bytes`` (the parameters it holds, B). ``layer`` is the layer index, -1 for
    what comes before the layers, -2 for what comes after."""

    layer: int
    forward_s: float
    backward_s: float
    kernels: int
    parameter_bytes: float


@dataclass(frozen=True)
class StageCost:
    """One pipeline stage, one micro-batch: forward_s and backward_s (s), kernels
    (launches), parameter_bytes (B) and layers (how many of the model's layers it holds)."""

    forward_s: float
    backward_s: float
    kernels: int
    parameter_bytes: float
    layers: int


def _layer_of(module: str) -> int | None:
    found = _LAYER.search(module)
    return int(found.group(1)) if found else None


def pipeline_blocks(ops: Any, module_parameter_bytes: Mapping[str, float] | None = None) -> tuple[BlockCost, ...]:
    """The model as a pipeline sees it, from a training analysis's ops frame (columns
    module, phase, predicted_s, bound): the part before the layers, each layer in order,
    the part after. Empty when the model has fewer than two layers (nothing to split).

    A module outside the layers goes before them if its first forward op runs before the
    first layer's, else after (the loss, the LM head, ops of no module). Optimizer and
    host ops are left out (a pipeline step adds them per stage). module_parameter_bytes:
    module path -> bytes of the parameters registered on it (a tied weight under every
    module that uses it, as a pipeline keeps a copy on each stage that does).
    """
    modules = ops["module"].astype(str).to_numpy()
    phases = ops["phase"].astype(str).to_numpy()
    times = ops["predicted_s"].to_numpy(dtype=float)
    works = (ops["bound"].astype(str) != "none").to_numpy()
    layer_of: dict[str, int | None] = {}
    first_layer_at, first_seen = None, {}
    for i, (module, phase) in enumerate(zip(modules, phases)):
        if module not in layer_of:
            layer_of[module] = _layer_of(module)
        if phase == "forward":
            first_seen.setdefault(module, i)
            if first_layer_at is None and layer_of[module] is not None:
                first_layer_at = i
    layers = sorted({v for v in layer_of.values() if v is not None})
    if len(layers) < 2 or first_layer_at is None:
        return ()
    position = {layer: k for k, layer in enumerate(layers)}

    def block_of(module: str) -> int:
        layer = layer_of.get(module)
        if layer is not None:
            return position[layer] + 1
        return 0 if first_seen.get(module, first_layer_at + 1) < first_layer_at else len(layers) + 1

    forward, backward = [0.0] * (len(layers) + 2), [0.0] * (len(layers) + 2)
    kernels, params = [0] * (len(layers) + 2), [0.0] * (len(layers) + 2)
    for module, phase, seconds, work in zip(modules, phases, times, works):
        if phase not in ("forward", "backward", "recompute"):
            continue
        k = block_of(module)
        if phase == "forward":
            forward[k] += seconds
        else:
            backward[k] += seconds
        kernels[k] += int(work)
    for module, nbytes in (module_parameter_bytes or {}).items():
        params[block_of(module)] += float(nbytes)
    labels = [-1, *layers, -2]
    return tuple(BlockCost(labels[k], forward[k], backward[k], kernels[k], params[k]) for k in range(len(labels)))


def split_stages(blocks: Sequence[BlockCost], stages: int) -> list[StageCost]:
    """The blocks over ``stages`` pipeline stages, as Megatron-LM splits a model: the
    layers in equal consecutive runs (stage k holds layers round(k L / p) to
    round((k+1) L / p) - 1), what precedes them on the first stage and what follows on
    the last. A one-line error when there are fewer layers than stages."""
    layers = [b for b in blocks if b.layer >= 0]
    if stages < 1 or len(layers) < stages:
        raise RooflineError(f"pipeline of {stages} stages: the model has {len(layers)} layers to split (at least one per stage)")
    bounds = [round(k * len(layers) / stages) for k in range(stages + 1)]
    groups = [list(layers[bounds[k]:bounds[k + 1]]) for k in range(stages)]
    groups[0] = [b for b in blocks if b.layer == -1] + groups[0]
    groups[-1] = groups[-1] + [b for b in blocks if b.layer == -2]
    return [
        StageCost(
            forward_s=sum(b.forward_s for b in group),
            backward_s=sum(b.backward_s for b in group),
            kernels=sum(b.kernels for b in group),
            parameter_bytes=sum(b.parameter_bytes for b in group),
            layers=sum(1 for b in group if b.layer >= 0),
        )
        for group in groups
    ]


def stage_order(stage: int, stages: int, micro_batches: int, schedule: str = "1f1b") -> list[tuple[str, int]]:
    """The order stage ``stage`` (0-based) runs its ops in: ("F", i) / ("B", i) for
    micro-batch i. 1F1B: min(p - stage - 1, m) warm-up forwards, then one forward and one
    backward in turn, then the remaining backwards; GPipe: every forward, then every backward."""
    m = micro_batches
    if schedule == "gpipe":
        return [("F", i) for i in range(m)] + [("B", i) for i in range(m)]
    if schedule != "1f1b":
        raise RooflineError(f"pipeline schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    warm = min(stages - stage - 1, m)
    order = [("F", i) for i in range(warm)]
    for i in range(m - warm):
        order += [("F", warm + i), ("B", i)]
    return order + [("B", i) for i in range(m - warm, m)]


@dataclass(frozen=True)
class ScheduleResult:
    """A schedule played out: pipeline_s (s, the last op's end), busy_s (s of compute per
    stage), bubble_fraction (the stages' idle share of p x pipeline_s, sends counted as
    idle) and slowest_stage (0-based index of the stage with the most compute)."""

    pipeline_s: float
    busy_s: tuple[float, ...]
    bubble_fraction: float
    slowest_stage: int


def play_schedule(
    forward_s: Sequence[float],
    backward_s: Sequence[float],
    micro_batches: int,
    *,
    send_forward_s: float = 0.0,
    send_backward_s: float = 0.0,
    overlap_sends: bool = False,
    schedule: str = "1f1b",
) -> ScheduleResult:
    """Play a pipeline schedule out over stages with per-micro-batch ``forward_s`` and
    ``backward_s`` (s, one entry per stage) and ``micro_batches`` micro-batches.

    send_forward_s / send_backward_s: seconds of one point-to-point send of a boundary
    activation / gradient to the neighbour stage (the receiver waits for it);
    overlap_sends False: the sender is held until its send is through.
    """
    p, m = len(forward_s), int(micro_batches)
    if p < 1 or len(backward_s) != p or m < 1:
        raise RooflineError(f"pipeline schedule: need one forward and one backward time per stage and at least one micro-batch, got {p} / {len(backward_s)} stages, {m} micro-batches")
    orders = [stage_order(s, p, m, schedule) for s in range(p)]
    done: dict[tuple[str, int, int], float] = {}
    free, busy, position = [0.0] * p, [0.0] * p, [0] * p
    remaining = p * 2 * m
    while remaining:
        progressed = False
        for s in range(p):
            while position[s] < len(orders[s]):
                kind, i = orders[s][position[s]]
                if kind == "F":
                    needs, lag = (("F", s - 1, i), send_forward_s) if s > 0 else (None, 0.0)
                    sends, duration = s < p - 1, forward_s[s]
                else:
                    needs, lag = (("F", s, i), 0.0) if s == p - 1 else (("B", s + 1, i), send_backward_s)
                    sends, duration = s > 0, backward_s[s]
                if needs is not None and needs not in done:
                    break
                ready = done[needs] + lag if needs is not None else 0.0
                end = max(free[s], ready) + duration
                done[(kind, s, i)] = end
                held = (send_forward_s if kind == "F" else send_backward_s) if sends and not overlap_sends else 0.0
                free[s] = end + held
                busy[s] += duration
                position[s] += 1
                remaining -= 1
                progressed = True
        if not progressed:  # cannot happen for the two schedules above; guards a bad order
            raise RooflineError(f"pipeline schedule {schedule!r}: deadlock with {p} stages and {m} micro-batches")
    pipeline_s = max(done.values())
    idle = 1.0 - sum(busy) / (p * pipeline_s) if pipeline_s > 0 else 0.0
    slowest = max(range(p), key=lambda s: forward_s[s] + backward_s[s])
    return ScheduleResult(pipeline_s, tuple(busy), idle, slowest)


@dataclass(frozen=True)
class PipelineCost:
    """A pipeline's step on one schedule: the stages as run (times per micro-batch with
    their tensor-parallel share and per-micro-batch overhead), the schedule played out,
    and the largest stage's share of the model's parameters (for its optimizer step)."""

    stages: tuple[StageCost, ...]
    result: ScheduleResult
    parameter_share: float


def pipeline_cost(
    blocks: Sequence[BlockCost],
    stages: int,
    micro_batches: int,
    *,
    tensor: int = 1,
    tp_comm_per_layer_s: float = 0.0,
    send_s: float = 0.0,
    overhead_s: float = 0.0,
    overlap_sends: bool = False,
    schedule: str = "1f1b",
    parameter_bytes: float = 0.0,
) -> PipelineCost:
    """Split ``blocks`` over ``stages``, divide each stage's compute over ``tensor``
    devices, add tp_comm_per_layer_s (s, one layer's tensor-parallel all-reduces in one
    pass, paid in forward and again in backward) per layer it holds and ``overhead_s``
    per micro-batch, and play the schedule with sends of ``send_s`` each way.
    parameter_bytes: the model's (B), for the parameter share (0: share 1/stages)."""
    split = split_stages(blocks, stages)
    run = tuple(
        StageCost(
            forward_s=stage.forward_s / tensor + stage.layers * tp_comm_per_layer_s + overhead_s,
            backward_s=stage.backward_s / tensor + stage.layers * tp_comm_per_layer_s,
            kernels=stage.kernels,
            parameter_bytes=stage.parameter_bytes / tensor,
            layers=stage.layers,
        )
        for stage in split
    )
    result = play_schedule(
        [s.forward_s for s in run], [s.backward_s for s in run], micro_batches,
        send_forward_s=send_s, send_backward_s=send_s, overlap_sends=overlap_sends, schedule=schedule,
    )
    largest = max(stage.parameter_bytes for stage in split)
    share = largest / parameter_bytes if parameter_bytes > 0 and largest > 0 else 1.0 / stages
    return PipelineCost(run, result, share)
