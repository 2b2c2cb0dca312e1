"""Measured Other: the forward's time outside every op (Python between ops), against the
gap measured independently with perf_counter around the Python part of the forward."""

import statistics
import time

import pytest
import torch
from torch import nn

from roofline.analysis import analyze
from roofline.measure import measure
from roofline.measure.compare import OTHER_ROW

from .conftest import HW


class PythonBetweenOps(nn.Module):
    """Two ops with deliberate Python work between them; each gap is timed and kept."""

    def __init__(self, items=300_000):
        super().__init__()
        self.items = items
        self.gaps_s: list[float] = []

    def forward(self, x):
        y = x + 1
        started = time.perf_counter()
        squares = [i * i for i in range(self.items)]  # Python only: no aten op
        scale = float(len(squares) > 0)
        del squares  # freeing the list is Python work too: inside the timed gap
        self.gaps_s.append(time.perf_counter() - started)
        return y * scale


def test_other_is_the_python_gap_between_ops():
    model, x = PythonBetweenOps().eval(), torch.randn(4, 4)
    m = measure(model, (x,), warmup=1, repeats=5, profiler_runs=0)
    # The whole-forward timings are the last 1 + 5 forwards (one warm-up): their gaps.
    gap_s = statistics.median(model.gaps_s[-5:])
    assert m.other_s > 0
    # Other holds the gap plus the little Python around the two ops (module call, the
    # float and len): within 20% of the gap, measured on a machine other work shares.
    assert m.other_s == pytest.approx(gap_s, rel=0.2)
    assert m.summary()["other_s"] == m.other_s

    c = analyze(model, (x,), hw=HW).compare(m)
    table = c.by_category()
    assert table.loc[OTHER_ROW, "measured_s"] == pytest.approx(m.forward_s - m.ops_total_s)
    assert table.loc[OTHER_ROW, "share"] == pytest.approx(m.other_s / m.forward_s)
    # The two ops take microseconds; the gap, milliseconds: Other is most of the forward.
    assert table.loc[OTHER_ROW, "share"] > 0.5
