"""roofline.measure.per_op: OpTimingMode times every op through capture's public hooks,
one timing per record, and leaves the records as a plain capture makes them."""

import math

import pytest
import torch

from roofline.capture import CaptureMode, call_model
from roofline.measure import OpTimingMode, Timer
from roofline.measure.per_op import METHODS
from tests.measure.conftest import InPlaceNet


def _run(mode_factory, model, x):
    with torch.no_grad(), mode_factory(model) as mode:
        out = call_model(model, (x.clone(),))
    return mode, out


@pytest.mark.parametrize("method", METHODS)
def test_one_timing_per_record_and_the_real_ops(method):
    torch.manual_seed(0)
    model, x = InPlaceNet().eval(), torch.randn(4, 16)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    plain, expected = _run(CaptureMode, model, x)
    model.load_state_dict(state)
    progress = []
    timed, out = _run(lambda m: OpTimingMode(m, Timer(), method, 1, 2, 1e-5, progress.append), model, x)
    assert torch.equal(out, expected)  # the one real call's output is what the model went on with
    assert len(timed.timings) == len(timed.records) == len(plain.records)
    assert progress == list(range(1, len(plain.records) + 1))
    assert [(r.op, r.module, r.inputs, r.outputs) for r in timed.records] == [
        (r.op, r.module, r.inputs, r.outputs) for r in plain.records
    ]
    assert [r.func for r in timed.records] == [r.func for r in plain.records]
    seconds = timed.seconds()
    assert len(seconds) == len(timed.records) and all(s > 0 and math.isfinite(s) for s in seconds)
    if method == "inline":
        assert all(t.inner == 1 and t.mark is not None for t in timed.timings)
    else:
        mutating = {r.packet for r, t in zip(timed.records, timed.timings) if t.mutates}
        assert {"aten.mul_", "aten.add_", "aten.sigmoid_"} <= mutating
