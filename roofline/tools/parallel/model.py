"""Data, tensor and pipeline parallel training on a multi-device spec, and a planner.

Everything starts from one device's training step at one micro-batch size, predicted by
the roofline model (analyze(mode="train") on meta tensors) and summarised as a
StepProfile. The parallel models divide and add to it analytically:

Data parallel (d replicas). Gradients are all-reduced with a ring: each of the d devices
sends and receives 2(d-1)/d of the gradient bytes, in 2(d-1) steps, so

    t_allreduce = 2(d-1)/d x bytes / link_bandwidth + 2(d-1) x link_latency

on the slowest link the ring crosses (NVLink inside a node, the network across nodes).
Overlapped with backward (DDP's gradient buckets), only what backward cannot hide is
exposed, and never less than the last bucket's all-reduce; not overlapped, all of it.

Tensor parallel (t-way, Megatron column/row splits, kept inside a node). Compute per
device is divided by t; each transformer layer all-reduces its activations twice in
forward (after attention and after the MLP) and twice in backward, each a
batch x sequence x hidden tensor. The layers are found in the captured ops: one per
attention (a fused attention op, or a softmax followed by the P@V matmul); a model
without attention pairs its Linear layers (a column-split then a row-split, one
all-reduce of the second's output). A model with neither (a CNN) has no tensor split.

Pipeline parallel (p stages, m micro-batches of size b, m = global_batch / (d b)). The
layers are split evenly over the stages, the embeddings on the first, the head and loss
on the last (roofline.tools.parallel.schedule): each stage's forward and backward are
its own ops' roofline times at micro-batch size b, launch costs included, and the 1F1B
(or GPipe) schedule is played out micro-batch by micro-batch with the point-to-point
sends of boundary activations and gradients between stages; equal stages give the
textbook (m + p - 1) slots, a bubble of (p-1)/(m+p-1). With tied input and output
embeddings (GPT-2), the first and last stage all-reduce that weight's gradient after
backward; each stage then updates its own parameters, the slowest setting the step.
A profile without per-layer blocks (a hand-made one) keeps the balanced form: every
stage compute_s / p, (m + p - 1) equal slots.

The trade-off: smaller micro-batches shrink the bubble but pay the per-micro-batch
costs more often and run the device at a lower roofline efficiency (small GEMMs are
memory- or overhead-bound). The planner picks, for every (d, t, p), the micro-batch size
that minimises the step time, using the roofline-predicted stage time at each size.

Memory per device: parameters, buffers, gradients and optimizer state divided by t x p
(no ZeRO sharding across d), plus activations divided by t x p for each micro-batch in
flight (1F1B keeps up to p in flight on the first stage). A configuration whose memory
exceeds the device's DRAM does not fit, and the planner skips it.

Assumptions, all named: stages are balanced; activations split evenly under tensor
parallelism (as with sequence parallelism); the pipeline's point-to-point transfers and
the tensor-parallel all-reduces are not overlapped with compute; the host-side phase of
a step (roofline.capture.training.HOST) is left out of device time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from roofline.count.formulas.attention import SDPA_OPS
from roofline.errors import RooflineError
from roofline.hardware import HardwareSpec, Link, load_hardware
from roofline.tools.parallel.schedule import BlockCost, pipeline_blocks, pipeline_cost

#: Extra fixed cost of one micro-batch in a pipeline schedule (s), beyond what is modelled:
#: every op's launch is already in the stage times and each send pays the link latency,
#: so none by default (`roofline plan --microbatch-overhead` adds one).
DEFAULT_MICROBATCH_OVERHEAD_S = 0.0
#: DDP's default gradient bucket (bytes): the last bucket's all-reduce cannot overlap.
DEFAULT_BUCKET_BYTES = 25e6

_ATTENTION_OPS = frozenset(SDPA_OPS)
_SOFTMAX_OPS = frozenset({"aten._softmax", "aten._safe_softmax", "aten.softmax"})
_MATMUL_OPS = frozenset({"aten.bmm", "aten.matmul", "aten.mm", "aten.baddbmm"})
_LINEAR_GEMMS = frozenset({"aten.addmm", "aten.mm", "aten.linear", "aten.matmul", "aten.bmm"})


# --------------------------------------------------------------------------- collectives


def ring_allreduce_s(nbytes: float, devices: int, bandwidth: float, latency: float) -> float:
    """Seconds to all-reduce ``nbytes`` over ``devices`` with a ring:
    2(n-1)/n x bytes / bandwidth + 2(n-1) x latency (0 for one device).

    bandwidth: B/s per device and direction; latency: s per step.
    """
    if devices <= 1 or nbytes <= 0:
        return 0.0
    steps = 2 * (devices - 1)
    return steps / devices * nbytes / bandwidth + steps * latency


def point_to_point_s(nbytes: float, link: Link) -> float:
    """Seconds to send ``nbytes`` to a neighbour over ``link``: bytes / bandwidth + latency."""
    if nbytes <= 0:
        return 0.0
    return nbytes / link.bandwidth + link.latency


def group_link(hw: HardwareSpec, size: int, stride: int) -> Link:
    """The slowest link a group of ``size`` ranks ``stride`` apart crosses.

    Ranks are numbered node by node; the group holds ranks 0, stride, ..., so it leaves
    the node when (size - 1) x stride reaches devices_per_node.
    """
    system = interconnect_of(hw)
    if size > 1 and (size - 1) * stride >= system.devices_per_node:
        if system.inter_node is None:
            raise RooflineError(f"{hw.name}: a group of {size} devices {stride} apart spans nodes, but the spec has one node")
        return system.inter_node
    return system.intra_node


def interconnect_of(hw: HardwareSpec) -> Any:
    """The spec's Interconnect; a one-line error for a one-device spec."""
    if hw.interconnect is None:
        raise RooflineError(
            f"{hw.name}: one device, no interconnect: give a multi-device spec such as 8xh100-sxm "
            "(or add an interconnect block to the YAML)"
        )
    return hw.interconnect


# --------------------------------------------------------------------------- step profile


@dataclass(frozen=True)
class StepProfile:
    """One device's training step at one micro-batch size, as the parallel models need it.

    Times in seconds (roofline predictions), sizes in bytes. backward_s includes the
    recompute of activation checkpointing. tp_allreduce_bytes: the activations a
    Megatron tensor split all-reduces in one forward (as many again in backward), in
    tp_allreduces all-reduces; tensor_parallel False when the model has no such split.
    boundary_bytes: one layer-boundary activation (what a pipeline stage sends on).
    blocks: the model as a pipeline splits it (before the layers, each layer, after), at
    this micro-batch size; empty when unknown. tied_parameter_bytes: a weight shared by
    the first and last layers of the model (tied input/output embeddings).
    """

    micro_batch: int
    forward_s: float
    backward_s: float
    optimizer_s: float
    parameter_bytes: float
    buffer_bytes: float
    gradient_bytes: float
    optimizer_state_bytes: float
    activation_bytes: float
    boundary_bytes: float
    tp_allreduce_bytes: float
    tp_allreduces: int
    tensor_parallel: bool
    blocks: tuple[BlockCost, ...] = ()
    tied_parameter_bytes: float = 0.0

    @property
    def layers(self) -> int:
        """Layers a pipeline can split the model at (0 when the blocks are unknown)."""
        return sum(1 for block in self.blocks if block.layer >= 0)

    @property
    def compute_s(self) -> float:
        """Forward plus backward (recompute included) of one micro-batch on one device."""
        return self.forward_s + self.backward_s

    @classmethod
    def from_analysis(cls, analysis: Any, micro_batch: int, *, module_parameter_bytes: dict[str, float] | None = None,
                      tied_parameter_bytes: float = 0.0) -> StepProfile:
        """Summarise a training analysis (analyze(..., mode="train")) at ``micro_batch``.

        module_parameter_bytes: module path -> bytes of its parameters (B), for each
        pipeline stage's share of the optimizer; tied_parameter_bytes: see the class.
        """
        from roofline.capture.training import BACKWARD, FORWARD, OPTIMIZER, RECOMPUTE

        if analysis.memory is None:
            raise RooflineError(f"{analysis.name}: a StepProfile needs a training analysis: analyze(..., mode=\"train\")")
        times = analysis.ops.groupby("phase")["predicted_s"].sum()
        memory = analysis.memory
        sizes, tensor_parallel, boundary = megatron_allreduces(analysis)
        return cls(
            micro_batch=int(micro_batch),
            forward_s=float(times.get(FORWARD, 0.0)),
            backward_s=float(times.get(BACKWARD, 0.0) + times.get(RECOMPUTE, 0.0)),
            optimizer_s=float(times.get(OPTIMIZER, 0.0)),
            parameter_bytes=memory.parameter_bytes,
            buffer_bytes=memory.buffer_bytes,
            gradient_bytes=memory.gradient_bytes,
            optimizer_state_bytes=memory.optimizer_state_bytes,
            activation_bytes=memory.activation_bytes,
            boundary_bytes=float(boundary),
            tp_allreduce_bytes=float(sum(sizes)),
            tp_allreduces=len(sizes),
            tensor_parallel=tensor_parallel,
            blocks=pipeline_blocks(analysis.ops, module_parameter_bytes),
            tied_parameter_bytes=float(tied_parameter_bytes),
        )


def parameter_layout(model: Any) -> tuple[dict[str, float], float]:
    """(module path -> bytes of the parameters registered on it, bytes of the parameters
    registered under more than one module: tied weights, counted once). A tied weight
    is listed under every module holding it, as each pipeline stage keeps its own copy."""
    by_module: dict[str, float] = {}
    names: dict[int, int] = {}
    sizes: dict[int, float] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        module = name.rpartition(".")[0]
        nbytes = float(parameter.numel() * parameter.element_size())
        by_module[module] = by_module.get(module, 0.0) + nbytes
        names[id(parameter)] = names.get(id(parameter), 0) + 1
        sizes[id(parameter)] = nbytes
    return by_module, sum(sizes[key] for key, count in names.items() if count > 1)


def megatron_allreduces(analysis: Any) -> tuple[list[float], bool, float]:
    """The forward all-reduces of a Megatron tensor split, from a captured analysis.

    Returns (sizes in bytes, whether the model has such a split, the boundary activation
    bytes). A transformer all-reduces twice per attention layer (the attention output and
    the MLP output, both batch x seq x hidden: the attention output's size); a model
    without attention once per pair of consecutive Linear layers (the second's output).
    Sizes are in the dtype the Linear layers compute in: an attention that upcasts to
    fp32 inside (the math path torch takes on CPU and meta) still exchanges activations
    in the model's dtype.
    """
    records = analysis.records
    phases = analysis.ops["phase"].to_numpy()
    forward = [r for r, phase in zip(records, phases) if phase == "forward"]
    linear_outputs: list[float] = []
    linear_itemsizes: list[int] = []
    seen: set[str] = set()
    for record in forward:
        if record.module_type == "Linear" and record.module not in seen and record.packet in _LINEAR_GEMMS and record.outputs:
            seen.add(record.module)
            linear_outputs.append(float(record.outputs[0].nbytes))
            linear_itemsizes.append(record.outputs[0].itemsize)
    itemsize = max(set(linear_itemsizes), key=linear_itemsizes.count) if linear_itemsizes else None
    sites: list[float] = []
    for i, record in enumerate(forward):
        out = None
        if record.packet in _ATTENTION_OPS and record.outputs:
            out = record.outputs[0]
        elif record.packet in _SOFTMAX_OPS and record.inputs and len(record.inputs[0].shape) >= 3:
            following = next((r for r in forward[i + 1 :] if r.packet in _MATMUL_OPS), None)
            out = following.outputs[0] if following is not None and following.outputs else None
        if out is not None:
            sites.append(float(out.numel * (itemsize or out.itemsize)))
    if sites:
        return [size for size in sites for _ in range(2)], True, _median(sites)
    if len(linear_outputs) >= 2:
        return linear_outputs[1::2], True, _median(linear_outputs)
    boundary = _median([float(r.outputs[0].nbytes) for r in forward if r.outputs and r.packet in ("aten.convolution", "aten.addmm", "aten.mm")])
    return [], False, boundary


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class TrainingProfiler:
    """StepProfiles of a model at any micro-batch size, each from a training analysis of
    the model built at that size on meta tensors (cached: one analysis per size).

    build: micro_batch -> (model, inputs), called under torch.device("meta").
    """

    def __init__(
        self,
        build: Callable[[int], tuple[Any, Any]],
        hw: str | HardwareSpec,
        *,
        dtype: Any = None,
        optimizer: Any = "adamw",
        loss_fn: Any = None,
        name: str | None = None,
        seq: int | None = None,
        tf32: Any = None,
    ):
        self.build = build
        self.tf32 = tf32
        self.hw = load_hardware(hw)
        self.dtype = dtype
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.name = name
        self.seq = seq
        self.profiles: dict[int, StepProfile] = {}
        # What was analysed, for headers: the last analysis's, batch left out (a plan
        # names its global batch and picks the micro-batch); None before any.
        self.workload: Any = None

    def __call__(self, micro_batch: int) -> StepProfile:
        micro_batch = int(micro_batch)
        if micro_batch not in self.profiles:
            import torch

            from roofline.analysis import analyze

            with torch.device("meta"):
                model, inputs = self.build(micro_batch)
            analysis = analyze(
                model, inputs, hw=self.hw, dtype=self.dtype, meta=True, mode="train",
                optimizer=self.optimizer, loss_fn=self.loss_fn, name=self.name, batch=micro_batch, seq=self.seq,
                tf32=self.tf32,
            )
            by_module, tied = parameter_layout(model)
            self.profiles[micro_batch] = StepProfile.from_analysis(
                analysis, micro_batch, module_parameter_bytes=by_module, tied_parameter_bytes=tied
            )
            self.workload = dataclasses.replace(analysis.workload, batch=None)
        return self.profiles[micro_batch]


def profiler_for_target(target: str, hw: str | HardwareSpec, *, dtype: Any = None, optimizer: Any = "adamw", options: dict[str, Any] | None = None) -> TrainingProfiler:
    """A TrainingProfiler for a zoo name or path/to/file.py[:function] target (its seq,
    for headers: the seq option, else the build function's default)."""
    from roofline.targets import build as build_built

    profiler: TrainingProfiler

    def build(micro_batch: int) -> tuple[Any, Any]:
        built = build_built(target, batch=micro_batch, meta=True, options=options)
        profiler.seq = built.seq
        return built.model, built.inputs

    profiler = TrainingProfiler(build, hw, dtype=dtype, optimizer=optimizer, name=target)
    return profiler


# --------------------------------------------------------------------------- one configuration


@dataclass(frozen=True)
class ParallelConfig:
    """A split of the devices: data x tensor x pipeline, and the micro-batch size."""

    data: int
    tensor: int
    pipeline: int
    micro_batch: int
    global_batch: int

    @property
    def devices(self) -> int:
        return self.data * self.tensor * self.pipeline

    @property
    def micro_batches(self) -> int:
        """Micro-batches each pipeline runs per step: global_batch / (data x micro_batch)."""
        return self.global_batch // (self.data * self.micro_batch)


@dataclass(frozen=True)
class StepEstimate:
    """Predicted time (s) and memory (bytes per device) of one step of a configuration.

    Per micro-batch and stage: stage_compute_s, tp_comm_s, p2p_s, overhead_s, summing
    to microbatch_s (the slowest stage's, ``slowest_stage``, 0-based). pipeline_s: the
    schedule played out (balanced profiles: (m + p - 1) x microbatch_s). dp_allreduce_s
    is the whole gradient all-reduce, dp_exposed_s the part backward does not hide;
    embedding_sync_s the all-reduce of tied embedding gradients between the first and
    last stage. step_s = pipeline_s + dp_exposed_s + embedding_sync_s + optimizer_s.
    """

    config: ParallelConfig
    micro_batches: int
    stage_compute_s: float
    tp_comm_s: float
    p2p_s: float
    overhead_s: float
    microbatch_s: float
    bubble_fraction: float
    pipeline_s: float
    dp_allreduce_s: float
    dp_exposed_s: float
    optimizer_s: float
    step_s: float
    memory_bytes: float
    fits: bool
    embedding_sync_s: float = 0.0
    slowest_stage: int = 0

    @property
    def samples_per_s(self) -> float:
        return self.config.global_batch / self.step_s

    def row(self) -> dict[str, Any]:
        """The estimate as one flat dict (the config's fields first)."""
        values = asdict(self)
        values.pop("config")
        return {**asdict(self.config), **values, "samples_per_s": self.samples_per_s}


def estimate_step(
    profile: StepProfile,
    hw: str | HardwareSpec,
    config: ParallelConfig,
    *,
    overlap: bool = True,
    microbatch_overhead_s: float = DEFAULT_MICROBATCH_OVERHEAD_S,
    bucket_bytes: float = DEFAULT_BUCKET_BYTES,
    schedule: str = "1f1b",
    overlap_p2p: bool = False,
) -> StepEstimate:
    """Step time and memory of ``config`` from the device profile at its micro-batch size.

    overlap: the data-parallel all-reduce runs during the last micro-batch's backward;
    schedule: "1f1b" or "gpipe"; overlap_p2p: pipeline sends overlap compute (else a
    stage is held until its send is through, as with blocking send/receive).
    """
    hw = load_hardware(hw)
    d, t, p = config.data, config.tensor, config.pipeline
    _check_config(hw, config, profile)
    m = config.micro_batches
    shards = t * p

    stage_compute_s = profile.compute_s / shards
    tp_comm_s = 0.0
    if t > 1:
        link = group_link(hw, t, 1)
        per_pass = ring_allreduce_s(profile.tp_allreduce_bytes, t, link.bandwidth, 0.0)
        per_pass += profile.tp_allreduces * 2 * (t - 1) * link.latency
        tp_comm_s = 2 * per_pass / p  # forward and backward, this stage's share of the layers
    p2p_s = embedding_sync_s = 0.0
    if p > 1:
        link = group_link(hw, p, t * d)
        # One activation forward and one gradient backward per micro-batch; with a tensor
        # split each rank sends its 1/t (Megatron's scatter-gather of the boundary).
        p2p_s = 2 * point_to_point_s(profile.boundary_bytes / t, link)
    microbatch_s = stage_compute_s + tp_comm_s + p2p_s + microbatch_overhead_s
    bubble_fraction = (p - 1) / (m + p - 1)
    pipeline_s = (m + p - 1) * microbatch_s
    optimizer_share, slowest_stage = 1.0 / shards, 0
    if p > 1 and profile.blocks:
        played = _played_pipeline(profile, hw, config, tp_comm_s, p2p_s, microbatch_overhead_s, schedule, overlap_p2p)
        stage_compute_s, tp_comm_s, microbatch_s = played.stage_compute_s, played.tp_comm_s, played.microbatch_s
        bubble_fraction, pipeline_s, embedding_sync_s = played.bubble_fraction, played.pipeline_s, played.embedding_sync_s
        optimizer_share, slowest_stage = played.optimizer_share, played.slowest_stage

    dp_allreduce_s, dp_exposed_s = _data_parallel_s(profile, hw, config, overlap, bucket_bytes)
    optimizer_s = profile.optimizer_s * optimizer_share
    step_s = pipeline_s + dp_exposed_s + embedding_sync_s + optimizer_s

    static = profile.parameter_bytes + profile.buffer_bytes + profile.gradient_bytes + profile.optimizer_state_bytes
    in_flight = min(m, p)
    memory_bytes = static / shards + profile.activation_bytes / shards * in_flight
    return StepEstimate(
        config=config,
        micro_batches=m,
        stage_compute_s=stage_compute_s,
        tp_comm_s=tp_comm_s,
        p2p_s=p2p_s,
        overhead_s=microbatch_overhead_s,
        microbatch_s=microbatch_s,
        bubble_fraction=bubble_fraction,
        pipeline_s=pipeline_s,
        dp_allreduce_s=dp_allreduce_s,
        dp_exposed_s=dp_exposed_s,
        optimizer_s=optimizer_s,
        step_s=step_s,
        memory_bytes=memory_bytes,
        fits=memory_bytes <= hw.dram.capacity,
        embedding_sync_s=embedding_sync_s,
        slowest_stage=slowest_stage,
    )


def _data_parallel_s(profile: StepProfile, hw: HardwareSpec, config: ParallelConfig, overlap: bool,
                     bucket_bytes: float) -> tuple[float, float]:
    """(the whole gradient all-reduce, the part backward does not hide) in s; 0 without
    data parallelism. Overlapped, the last micro-batch's backward hides all but the last
    bucket's all-reduce."""
    d, shards = config.data, config.tensor * config.pipeline
    if d <= 1:
        return 0.0, 0.0
    gradient_bytes = profile.gradient_bytes / shards
    link = group_link(hw, d, config.tensor)
    allreduce_s = ring_allreduce_s(gradient_bytes, d, link.bandwidth, link.latency)
    if not overlap:
        return allreduce_s, allreduce_s
    hidden_s = profile.backward_s / shards  # the last micro-batch's backward
    last_bucket_s = ring_allreduce_s(min(bucket_bytes, gradient_bytes), d, link.bandwidth, link.latency)
    return allreduce_s, max(allreduce_s - hidden_s, last_bucket_s)


@dataclass(frozen=True)
class _PlayedPipeline:
    """estimate_step's pipeline terms from a schedule played out (see StepEstimate)."""

    stage_compute_s: float
    tp_comm_s: float
    microbatch_s: float
    bubble_fraction: float
    pipeline_s: float
    embedding_sync_s: float
    optimizer_share: float
    slowest_stage: int


def _played_pipeline(profile: StepProfile, hw: HardwareSpec, config: ParallelConfig, tp_comm_s: float, p2p_s: float,
                     overhead_s: float, schedule: str, overlap_p2p: bool) -> _PlayedPipeline:
    """The pipeline of ``config`` played out over the profile's blocks: tp_comm_s (s per
    micro-batch on an even stage, forward and backward) spread per layer, p2p_s (s, both
    sends of a micro-batch) split into its forward and backward send."""
    d, t, p = config.data, config.tensor, config.pipeline
    layers = profile.layers
    per_layer_pass_s = tp_comm_s * p / (2 * layers)  # one layer's all-reduces, one direction
    cost = pipeline_cost(
        profile.blocks, p, config.micro_batches, tensor=t, tp_comm_per_layer_s=per_layer_pass_s, send_s=p2p_s / 2,
        overhead_s=overhead_s, overlap_sends=overlap_p2p, schedule=schedule, parameter_bytes=profile.parameter_bytes,
    )
    slowest = cost.stages[cost.result.slowest_stage]
    stage_tp_s = 2 * slowest.layers * per_layer_pass_s
    sync_s = 0.0
    if profile.tied_parameter_bytes > 0:  # the first and last stage, (p - 1) t d ranks apart
        ends = group_link(hw, 2, (p - 1) * t * d)
        sync_s = ring_allreduce_s(profile.tied_parameter_bytes / t, 2, ends.bandwidth, ends.latency)
    return _PlayedPipeline(
        stage_compute_s=slowest.forward_s + slowest.backward_s - overhead_s - stage_tp_s,
        tp_comm_s=stage_tp_s,
        microbatch_s=slowest.forward_s + slowest.backward_s + p2p_s,
        bubble_fraction=cost.result.bubble_fraction,
        pipeline_s=cost.result.pipeline_s,
        embedding_sync_s=sync_s,
        optimizer_share=cost.parameter_share / t,
        slowest_stage=cost.result.slowest_stage,
    )


def _check_config(hw: HardwareSpec, config: ParallelConfig, profile: StepProfile) -> None:
    d, t, p, b = config.data, config.tensor, config.pipeline, config.micro_batch
    if min(d, t, p, b) < 1:
        raise RooflineError(f"parallel config {config}: every degree and the micro-batch must be at least 1")
    if config.global_batch % (d * b):
        raise RooflineError(
            f"parallel config {config}: global batch {config.global_batch} is not a multiple of data x micro_batch = {d * b}"
        )
    if profile.micro_batch != b:
        raise RooflineError(f"parallel config {config}: the profile is for micro-batch {profile.micro_batch}, not {b}")
    if config.devices > 1:
        system = interconnect_of(hw)
        if config.devices > system.devices:
            raise RooflineError(f"parallel config {config}: needs {config.devices} devices, {hw.name} has {system.devices}")
        if t > system.devices_per_node:
            raise RooflineError(f"parallel config {config}: tensor parallel {t} is wider than a node ({system.devices_per_node} devices)")
    if t > 1 and not profile.tensor_parallel:
        raise RooflineError(f"parallel config {config}: the model has no attention or Linear layers to split across devices")


# --------------------------------------------------------------------------- data-parallel scaling


def data_parallel_scaling(
    profile: StepProfile, hw: str | HardwareSpec, devices: Iterable[int] | None = None, *, overlap: bool = True
) -> pd.DataFrame:
    """Weak scaling of pure data parallelism: each device runs profile.micro_batch per
    step, n devices run n x that. One row per n: compute_s, dp_allreduce_s,
    dp_exposed_s, step_s, samples_per_s, efficiency = step_s(1) / step_s(n).
    """
    hw = load_hardware(hw)
    counts = list(devices) if devices is not None else _powers_of_two(hw.devices)
    b = profile.micro_batch
    single = estimate_step(profile, hw, ParallelConfig(1, 1, 1, b, b), overlap=overlap, microbatch_overhead_s=0.0)
    rows = []
    for n in counts:
        estimate = estimate_step(profile, hw, ParallelConfig(n, 1, 1, b, n * b), overlap=overlap, microbatch_overhead_s=0.0)
        rows.append(
            {
                "devices": n,
                "compute_s": estimate.stage_compute_s,
                "dp_allreduce_s": estimate.dp_allreduce_s,
                "dp_exposed_s": estimate.dp_exposed_s,
                "step_s": estimate.step_s,
                "samples_per_s": estimate.samples_per_s,
                "efficiency": single.step_s / estimate.step_s,
            }
        )
    return pd.DataFrame(rows).set_index("devices")


def _powers_of_two(limit: int) -> list[int]:
    found, n = [], 1
    while n <= limit:
        found.append(n)
        n *= 2
    return found
