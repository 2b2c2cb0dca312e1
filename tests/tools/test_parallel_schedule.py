"""roofline/tools/parallel/schedule.py: pipeline schedules played out against cases
worked by hand, the textbook bubble, properties (more micro-batches never grow the
bubble; the step never shrinks when a stage slows), stages split from a captured model,
and the schedule inside estimate_step (tied-embedding sync, per-stage optimizer)."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from roofline.errors import RooflineError
from roofline.hardware import load_hardware
from roofline.tools.parallel import (
    ParallelConfig,
    StepProfile,
    TrainingProfiler,
    estimate_step,
    point_to_point_s,
    ring_allreduce_s,
)
from roofline.tools.parallel.schedule import (
    BlockCost,
    pipeline_blocks,
    play_schedule,
    split_stages,
    stage_order,
)

# ------------------------------------------------------------------ schedules by hand


def test_one_f_one_b_order():
    # p = 4, m = 6: stage 0 warms up with 3 forwards, stage 3 (the last) with none.
    assert stage_order(0, 4, 6) == [("F", 0), ("F", 1), ("F", 2), ("F", 3), ("B", 0), ("F", 4), ("B", 1), ("F", 5),
                                    ("B", 2), ("B", 3), ("B", 4), ("B", 5)]
    assert stage_order(3, 4, 2) == [("F", 0), ("B", 0), ("F", 1), ("B", 1)]
    assert stage_order(1, 4, 1) == [("F", 0), ("B", 0)]  # fewer micro-batches than warm-up slots
    assert stage_order(0, 2, 2, "gpipe") == [("F", 0), ("F", 1), ("B", 0), ("B", 1)]
    with pytest.raises(RooflineError, match="expected one of"):
        stage_order(0, 2, 2, "zero-bubble")


@pytest.mark.parametrize("schedule", ["1f1b", "gpipe"])
def test_four_stages_four_micro_batches_unit_stages(schedule):
    # Forward 1, backward 2 on every stage (a slot of 3), no sends: the last forward of
    # the first micro-batch ends at 4, every stage then needs its 4 slots and the
    # backward wave takes 3 more stages: (m + p - 1) x 3 = 7 x 3 = 21. Each stage
    # computes 4 x 3 = 12 of the 21: the bubble is 1 - 4 x 12 / (4 x 21) = 3/7.
    result = play_schedule([1.0] * 4, [2.0] * 4, 4, schedule=schedule)
    assert result.pipeline_s == pytest.approx(21.0)
    assert result.busy_s == (12.0, 12.0, 12.0, 12.0)
    assert result.bubble_fraction == pytest.approx(3 / 7)


@pytest.mark.parametrize("stages", [1, 2, 3, 5])
@pytest.mark.parametrize("micro_batches", [1, 2, 4, 7])
def test_equal_stages_give_the_textbook_bubble(stages, micro_batches):
    # Equal stages, no sends: (m + p - 1)(f + b), bubble (p - 1) / (m + p - 1).
    f, b = 0.5, 1.25
    for schedule in ("1f1b", "gpipe"):
        result = play_schedule([f] * stages, [b] * stages, micro_batches, schedule=schedule)
        assert result.pipeline_s == pytest.approx((micro_batches + stages - 1) * (f + b))
        assert result.bubble_fraction == pytest.approx((stages - 1) / (micro_batches + stages - 1))


def test_blocking_and_overlapped_sends_by_hand():
    # Two stages, two micro-batches, forward 1, backward 2, every send 0.5.
    # Blocking (a stage is held until its send is through):
    #   stage 0: F0 0-1 (held to 1.5), F1 1.5-2.5 (held to 3)
    #   stage 1: F0 1.5-2.5, B0 2.5-4.5 (held to 5), F1 (arrived 3) 5-6, B1 6-8
    #   stage 0: B0 (arrived 5) 5-7, B1 (arrived 8.5) 8.5-10.5          -> 10.5
    blocking = play_schedule([1.0, 1.0], [2.0, 2.0], 2, send_forward_s=0.5, send_backward_s=0.5)
    assert blocking.pipeline_s == pytest.approx(10.5)
    assert blocking.bubble_fraction == pytest.approx(1 - 12 / 21)
    # Overlapped: stage 0 runs F1 at 1-2; stage 1: F0 1.5-2.5, B0 2.5-4.5, F1 4.5-5.5,
    # B1 5.5-7.5; stage 0: B0 (arrived 5) 5-7, B1 (arrived 8) 8-10     -> 10
    overlapped = play_schedule([1.0, 1.0], [2.0, 2.0], 2, send_forward_s=0.5, send_backward_s=0.5, overlap_sends=True)
    assert overlapped.pipeline_s == pytest.approx(10.0)


def test_unequal_stages_follow_the_slow_one():
    # Stage 0: forward 3, backward 6; stage 1 (the head): forward 5, backward 10; m = 2.
    #   stage 0: F0 0-3, F1 3-6;  stage 1: F0 3-8, B0 8-18, F1 18-23, B1 23-33
    #   stage 0: B0 18-24, B1 33-39                                           -> 39
    result = play_schedule([3.0, 5.0], [6.0, 10.0], 2)
    assert result.pipeline_s == pytest.approx(39.0)
    assert result.slowest_stage == 1
    assert result.busy_s == (18.0, 30.0)


def test_transfer_of_a_gpt2_large_boundary_over_nvlink3():
    # One micro-batch of GPT-2 Large (1 x 1024 tokens x 1280 hidden, fp32): 5,242,880 B.
    # 4xa100-sxm: NVLink 3 at 300 GB/s each way, 3 us a message:
    # 5242880 / 300e9 = 17.476 us, + 3 us = 20.476 us.
    link = load_hardware("4xa100-sxm").interconnect.intra_node
    assert point_to_point_s(1 * 1024 * 1280 * 4, link) == pytest.approx(20.476e-6, rel=1e-4)


def test_bad_schedules_are_refused():
    with pytest.raises(RooflineError, match="one forward and one backward time per stage"):
        play_schedule([1.0, 1.0], [1.0], 2)
    with pytest.raises(RooflineError, match="at least one micro-batch"):
        play_schedule([1.0], [1.0], 0)


# ------------------------------------------------------------------ properties

stage_times = st.lists(st.floats(0.01, 10.0), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(stage_times, st.floats(0.0, 0.1), st.booleans(), st.sampled_from(["1f1b", "gpipe"]))
def test_more_micro_batches_never_grow_the_bubble(forward, send_fraction, overlap, schedule):
    # Sends up to a tenth of the fastest stage's forward (NVLink sends of a boundary take
    # well under 1% of a stage's time). Not a law for slower links: with sends as long as
    # a forward, 1F1B's p - s - 1 warm-up forwards cannot cover the round trip and the
    # step grows unevenly with m.
    send_s = send_fraction * min(forward)
    backward = [2 * f for f in forward]
    fractions = [play_schedule(forward, backward, m, send_forward_s=send_s, send_backward_s=send_s,
                               overlap_sends=overlap, schedule=schedule).bubble_fraction for m in range(1, 9)]
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(fractions))


@settings(max_examples=60, deadline=None)
@given(stage_times, st.integers(1, 6), st.integers(0, 5), st.floats(0.0, 5.0), st.floats(0.0, 0.5))
def test_step_is_monotone_in_stage_time(forward, micro_batches, which, extra, send_s):
    backward = [1.5 * f for f in forward]
    base = play_schedule(forward, backward, micro_batches, send_forward_s=send_s, send_backward_s=send_s).pipeline_s
    slower = list(forward)
    slower[which % len(forward)] += extra
    grown = play_schedule(slower, backward, micro_batches, send_forward_s=send_s, send_backward_s=send_s).pipeline_s
    assert grown >= base - 1e-12
    # and never faster than the slowest stage's own work
    assert base >= max(micro_batches * (f + b) for f, b in zip(forward, backward)) - 1e-9


# ------------------------------------------------------------------ stages from blocks


def blocks(pre=(1.0, 2.0), layer=(1.0, 2.0), post=(3.0, 6.0), layers=4):
    return (BlockCost(-1, *pre, 2, 100.0), *(BlockCost(i, *layer, 10, 50.0) for i in range(layers)), BlockCost(-2, *post, 3, 100.0))


def test_split_stages_puts_embedding_first_and_head_last():
    # 4 layers over 2 stages: stage 0 = embedding + layers 0, 1: forward 1 + 2 x 1 = 3,
    # backward 2 + 2 x 2 = 6; stage 1 = layers 2, 3 + head: forward 2 + 3 = 5, backward 4 + 6 = 10.
    first, last = split_stages(blocks(), 2)
    assert (first.forward_s, first.backward_s, first.layers, first.kernels, first.parameter_bytes) == (3.0, 6.0, 2, 22, 200.0)
    assert (last.forward_s, last.backward_s, last.layers, last.kernels, last.parameter_bytes) == (5.0, 10.0, 2, 23, 200.0)
    # 4 layers over 3 stages: round(4/3) = 1 and round(8/3) = 3: layers 1 | 2 | 1
    assert [s.layers for s in split_stages(blocks(), 3)] == [1, 2, 1]
    with pytest.raises(RooflineError, match="4 layers to split"):
        split_stages(blocks(), 5)


def profile_with(blocks_, **changes):
    values = {"micro_batch": 1, "forward_s": 9e-3, "backward_s": 18e-3, "optimizer_s": 4e-3, "parameter_bytes": 400.0,
              "buffer_bytes": 0.0, "gradient_bytes": 400.0, "optimizer_state_bytes": 800.0, "activation_bytes": 1e3,
              "boundary_bytes": 0.0, "tp_allreduce_bytes": 0.0, "tp_allreduces": 0, "tensor_parallel": True, "blocks": blocks_}
    return StepProfile(**{**values, **changes})


def test_estimate_step_plays_the_schedule_by_hand():
    # Blocks in ms; 2 stages as in test_split_stages...: forward 3 / 5, backward 6 / 10 ms;
    # m = 2 micro-batches of 1, no boundary bytes (no sends): 39 ms, as in
    # test_unequal_stages_follow_the_slow_one. The optimizer of the largest stage: 200 of
    # the 400 parameter bytes, half of 4 ms.
    ms_blocks = tuple(BlockCost(b.layer, b.forward_s * 1e-3, b.backward_s * 1e-3, b.kernels, b.parameter_bytes) for b in blocks())
    e = estimate_step(profile_with(ms_blocks), "8xh100-sxm", ParallelConfig(1, 1, 2, 1, 2))
    assert e.pipeline_s == pytest.approx(39e-3)
    assert e.slowest_stage == 1
    assert e.stage_compute_s == pytest.approx(15e-3)
    assert e.optimizer_s == pytest.approx(2e-3)
    assert e.embedding_sync_s == 0.0
    assert e.step_s == pytest.approx(41e-3)
    assert e.bubble_fraction == pytest.approx(1 - (18 + 30) / (2 * 39))
    # Tied embeddings (1 MB): the first and last stage all-reduce its gradient over
    # NVLink 4 (450 GB/s, 2 us): 2 x 1/2 x 1e6 / 450e9 + 2 x 2 us.
    tied = estimate_step(profile_with(ms_blocks, tied_parameter_bytes=1e6), "8xh100-sxm", ParallelConfig(1, 1, 2, 1, 2))
    assert tied.embedding_sync_s == pytest.approx(1e6 / 450e9 + 4e-6)
    assert tied.embedding_sync_s == pytest.approx(ring_allreduce_s(1e6, 2, 450e9, 2e-6))
    assert tied.step_s == pytest.approx(41e-3 + tied.embedding_sync_s)


# ------------------------------------------------------------------ blocks of a captured model


class Tied(nn.Module):
    """Embedding, two layers, an output head sharing the embedding's weight (as GPT-2)."""

    def __init__(self, vocab=64, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))
                                    for _ in range(2))
        self.head = nn.Linear(hidden, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = x + layer(x)
        return self.head(x)


def test_blocks_of_a_captured_model_keep_every_forward_and_backward_op():
    profiler = TrainingProfiler(lambda b: (Tied(), (torch.zeros(b, 16, dtype=torch.long),)), "8xh100-sxm", optimizer="sgd")
    profile = profiler(2)
    assert profile.layers == 2
    assert [b.layer for b in profile.blocks] == [-1, 0, 1, -2]
    # Every forward and backward second lands in exactly one block (a peer: the profile's
    # own phase sums from the same analysis).
    assert sum(b.forward_s for b in profile.blocks) == pytest.approx(profile.forward_s)
    assert sum(b.backward_s for b in profile.blocks) == pytest.approx(profile.backward_s)
    # Parameters by hand (fp32): embedding 64 x 32 = 2048 -> 8192 B, and the head's
    # copy of it on the last block; a layer 32 x 128 + 128 + 128 x 32 + 32 = 8352 -> 33408 B.
    assert [b.parameter_bytes for b in profile.blocks] == [8192.0, 33408.0, 33408.0, 8192.0]
    assert profile.tied_parameter_bytes == 8192.0
    # Pipelines deeper than the model's layers are refused with one line.
    with pytest.raises(RooflineError, match="2 layers to split"):
        estimate_step(profile, "8xh100-sxm", ParallelConfig(1, 1, 4, 2, 8))


def test_pipeline_blocks_without_layers_is_empty():
    import pandas as pd

    ops = pd.DataFrame({"module": ["fc", "fc"], "phase": ["forward", "backward"], "predicted_s": [1.0, 2.0], "bound": ["compute"] * 2})
    assert pipeline_blocks(ops) == ()
