"""What an Analysis says it analysed (its Workload), its views (grouped top ops, a short
repr, HTML for notebooks, JSON without NaN) and device time kept apart from host time."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

import roofline
from roofline.workload import Workload, compute_dtype, count_params, format_count


class Blocks(nn.Module):
    """Three identical linear layers (nine identical-shape ops in all), one shared."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(32, 32), nn.Linear(32, 32)
        self.c = self.a  # shared: its parameters count once

    def forward(self, x):
        return self.c(self.b(self.a(x)).relu()).relu()


@pytest.fixture(scope="module")
def blocks():
    return roofline.analyze(Blocks(), (torch.randn(4, 32),), hw="h100-sxm", batch=4, name="blocks")


def test_workload_is_typed_and_read_from_the_model(blocks):
    assert blocks.workload == Workload("blocks", "fp32", batch=4, seq=None, params=2 * (32 * 32 + 32))
    assert blocks.params == 2112
    half = roofline.analyze(Blocks(), (torch.randn(4, 32),), dtype="bf16", meta=True, seq=7)
    assert (half.workload.dtype, half.workload.seq, half.workload.batch) == ("bf16", 7, None)
    assert half.workload.model == "Blocks"
    assert half.with_hw("t4").workload == half.workload  # the same ops on another spec: the same workload


def test_workload_helpers():
    assert format_count(25_557_032) == "25.6M" and format_count(6.74e9) == "6.74B" and format_count(950) == "950"
    assert count_params(nn.Linear(3, 2)) == 8 and count_params(lambda x: x) == 0
    assert compute_dtype(nn.Linear(2, 2).half(), ()) == "fp16"
    assert compute_dtype(lambda x: x, (torch.ones(2, dtype=torch.bfloat16),)) == "bf16"
    assert compute_dtype(lambda x: x, (torch.ones(2, dtype=torch.int64),)) == "fp32"
    described = Workload("gpt2", "bf16", batch=8, seq=1024, params=124_439_808).describe()
    assert described == "gpt2 · bf16 · batch 8 · seq 1024 · 124M params"
    assert Workload("m", "fp32").describe() == "m · fp32"  # what is unknown is left out, never guessed


def test_summary_and_json_name_the_workload(blocks):
    summary = blocks.summary()
    assert {k: summary[k] for k in ("model", "dtype", "batch", "seq", "params", "hw")} == {
        "model": "blocks", "dtype": "fp32", "batch": 4, "seq": None, "params": 2112, "hw": "h100-sxm"}
    assert summary["kernel_s"] < summary["predicted_s"]

    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")

    document = json.loads(blocks.to_json(), parse_constant=refuse)
    assert document["summary"]["params"] == 2112


def test_json_writes_null_for_nan():
    a = roofline.analyze(lambda x: x.view(-1), (torch.randn(2, 3),), name="view")
    document = json.loads(a.to_json(), parse_constant=lambda c: pytest.fail(c))
    assert document["ops"][0]["intensity"] is None
    assert document["summary"]["intensity"] is None  # no bytes at all


def test_top_grouped_counts_identical_calls(blocks):
    top = blocks.top_grouped(3)
    first = top.iloc[0]
    assert first.op == "aten.addmm" and first["count"] == 3 and first.shapes == "[32]x[4,32]x[32,32]"
    assert first.predicted_s == pytest.approx(blocks.ops[blocks.ops.op == "aten.addmm"].predicted_s.sum())
    assert top["share"].iloc[0] == pytest.approx(first.predicted_s / blocks.predicted_s)
    assert len(blocks.top_grouped(0)) == 0 and len(blocks.top(2)) == 2


def test_repr_is_short_and_html_is_formatted(blocks):
    text = repr(blocks)
    assert text.startswith("<Analysis blocks · fp32 · batch 4 · 2.11k params on h100-sxm: ") and len(text) < 160
    assert "peak" not in text and "kernel_model" not in text  # no spec dump
    html = blocks._repr_html_()
    assert "blocks · fp32 · batch 4 · 2.11k params on NVIDIA H100 SXM5 80GB" in html
    assert "Runtime by category" in html and "<table" in html and "GEMM" in html and "Sparse MM" not in html
    assert "add dtype" not in html and 'dtype=&quot;bf16&quot;' in html  # the fp32-on-a-GPU note, for Python


def test_host_side_ops_are_apart_from_device_time():
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    a = roofline.analyze(model, (torch.randn(8, 16),), hw="h100-sxm", mode="train", optimizer="adam", meta=True, foreach=True)
    host = a.ops[a.ops.phase == "host"]
    assert not host.empty and a.host_s == pytest.approx(host.predicted_s.sum())
    assert a.predicted_s == pytest.approx(a.ops[a.ops.phase != "host"].predicted_s.sum())
    phases = a.by_phase()
    assert list(phases.index) == ["forward", "backward", "optimizer", "Total", "host"]
    assert phases.loc["Total", "predicted_s"] == pytest.approx(a.predicted_s)
    assert phases.loc["host", "ops"] == len(host)
    assert a.by_category().loc["Total", "predicted_s"] == pytest.approx(a.predicted_s)
    assert a.summary()["host_ops"] == len(host) and a.summary()["ops"] == len(a.ops) - len(host)
    assert set(a.top(1000).phase) <= {"forward", "backward", "optimizer"}


def test_a_model_that_exits_or_yields_is_a_user_error():
    class Exits(nn.Module):
        def forward(self, x):
            raise SystemExit(4)

    class Yields(nn.Module):
        def forward(self, x):
            yield x

    with pytest.raises(roofline.RooflineError, match=r"Exits: the model called sys.exit\(4\)"):
        roofline.analyze(Exits(), (torch.randn(2),))
    with pytest.raises(roofline.RooflineError, match="forward returned a generator"):
        roofline.analyze(Yields(), (torch.randn(2),))
