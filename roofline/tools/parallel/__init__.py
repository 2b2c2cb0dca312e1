"""Data, tensor and pipeline parallel training on a multi-device spec (model: the
analytic step-time model, from one device's roofline-predicted training step), the
pipeline schedule played out stage by stage (schedule), and the planner that searches
the splits and micro-batch sizes (planner).

May import: analysis, capture.training, count, hardware, errors. Nothing imports it but
the cli and benchmarks.
"""

from roofline.tools.parallel.model import (
    DEFAULT_BUCKET_BYTES,
    DEFAULT_MICROBATCH_OVERHEAD_S,
    ParallelConfig,
    StepEstimate,
    StepProfile,
    TrainingProfiler,
    data_parallel_scaling,
    estimate_step,
    group_link,
    megatron_allreduces,
    parameter_layout,
    point_to_point_s,
    profiler_for_target,
    ring_allreduce_s,
)
from roofline.tools.parallel.planner import (
    Plan,
    balanced_micro_batch,
    best_micro_batch,
    divisors,
    microbatch_tradeoff,
    plan,
    splits,
)
from roofline.tools.parallel.schedule import (
    SCHEDULES,
    BlockCost,
    ScheduleResult,
    StageCost,
    pipeline_blocks,
    play_schedule,
    split_stages,
)

__all__ = [
    "DEFAULT_BUCKET_BYTES",
    "DEFAULT_MICROBATCH_OVERHEAD_S",
    "SCHEDULES",
    "BlockCost",
    "ParallelConfig",
    "Plan",
    "ScheduleResult",
    "StageCost",
    "StepEstimate",
    "StepProfile",
    "TrainingProfiler",
    "balanced_micro_batch",
    "best_micro_batch",
    "data_parallel_scaling",
    "divisors",
    "estimate_step",
    "group_link",
    "megatron_allreduces",
    "microbatch_tradeoff",
    "parameter_layout",
    "pipeline_blocks",
    "plan",
    "play_schedule",
    "point_to_point_s",
    "profiler_for_target",
    "ring_allreduce_s",
    "split_stages",
    "splits",
]
