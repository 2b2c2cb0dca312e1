"""roofline.measure.timing: the timers against a known sleep, batching of short calls,
and the clock and device checks."""

import time

import pytest
import torch
from torch import nn

from roofline.errors import RooflineError
from roofline.measure import Timer, measure, time_callable, timer_for


def test_timer_against_a_known_sleep():
    seconds, fastest, inner = time_callable(lambda: time.sleep(0.002), Timer(), warmup=1, repeats=3, min_batch_s=0)
    assert inner == 1
    assert 0.002 <= fastest <= seconds < 0.05


def test_replay_batches_short_ops():
    x = torch.ones(4)
    _, _, inner = time_callable(lambda: x + 1, Timer(), warmup=1, repeats=2, min_batch_s=1e-3)
    assert inner > 1  # a microsecond op is batched until a sample lasts a millisecond


def test_thread_clock_needs_one_thread():
    torch.set_num_threads(2)
    with pytest.raises(RooflineError, match="set them to 1"):
        measure(nn.Linear(4, 4), (torch.ones(1, 4),), clock="thread")
    with pytest.raises(RooflineError, match="clock"):
        timer_for("cpu", clock="sundial")


def test_cuda_without_a_gpu_is_a_roofline_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RooflineError, match="CUDA is not available"):
        timer_for("cuda")
