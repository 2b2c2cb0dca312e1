"""roofline/analysis.py: analyze() end to end on real and meta tensors."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import roofline
from roofline.analysis import COUNT_COLUMNS
from roofline.count.categories import CATEGORIES
from roofline.predict import predict_frame
from roofline.errors import UnsupportedOpError
from roofline.models.resnet import build_resnet50


@pytest.fixture(scope="module")
def resnet():
    model, inputs = build_resnet50(batch=2)
    return model, inputs


def test_resnet50_gemm_and_conv_flops_match_flop_counter_mode(resnet):
    model, inputs = resnet
    analysis = roofline.analyze(model, inputs, hw="h100-sxm")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    ours = analysis.ops.loc[analysis.ops.category.isin(["GEMM", "Conv"]), "flops"].sum()
    assert ours == pytest.approx(counter.get_total_flops(), rel=0.005)
    assert analysis.unsupported.empty


def test_meta_run_equals_real_run(resnet):
    model, inputs = resnet
    real = roofline.analyze(model, inputs, hw="a100-sxm")
    with torch.device("meta"):
        meta_model, meta_inputs = build_resnet50(batch=2)
    meta = roofline.analyze(meta_model, meta_inputs, hw="a100-sxm")
    columns = ["op", "module", "category", "flops", "bytes_read", "bytes_written", "predicted_s", "bound"]
    pd_real, pd_meta = real.ops[columns], meta.ops[columns]
    assert pd_real.equals(pd_meta)


def test_meta_flag_moves_a_real_model(resnet):
    model, inputs = resnet
    small = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    x = torch.randn(8, 16)
    real = roofline.analyze(small, (x,))
    meta = roofline.analyze(small, (x,), meta=True)
    assert real.total_flops == meta.total_flops == 2 * 8 * 16 * 32 + 8 * 32 + 8 * 32 + 2 * 8 * 32 * 4 + 8 * 4


def test_category_table_has_every_category_and_sums_to_total(resnet):
    analysis = roofline.analyze(*resnet)
    table = analysis.by_category()
    assert list(table.index) == [*CATEGORIES, "Total"]
    assert table.loc["Total", "predicted_s"] == pytest.approx(analysis.predicted_s)
    assert table.loc[list(CATEGORIES), "share"].sum() == pytest.approx(1.0)
    assert table.loc["Conv", "ops"] == 53  # 49 convs in the bottlenecks + stem + 3 downsamples


def test_by_module_and_with_hw(resnet):
    analysis = roofline.analyze(*resnet, hw="h100-sxm")
    modules = analysis.by_module(depth=1)
    assert {"layer1", "layer2", "layer3", "layer4", "fc", "conv1"} <= set(modules.index)
    assert modules["predicted_s"].sum() == pytest.approx(analysis.predicted_s)
    slower = analysis.with_hw("t4")
    assert slower.total_flops == analysis.total_flops
    assert slower.predicted_s > analysis.predicted_s
    assert slower.hw.name == "t4"


def test_dtype_cast():
    model = nn.Linear(64, 64)
    analysis = roofline.analyze(model, (torch.randn(4, 64),), dtype="bf16", meta=True)
    gemm = analysis.ops[analysis.ops.category == "GEMM"].iloc[0]
    assert gemm["dtype"] == "bf16"
    assert gemm.bytes_read == 2 * (4 * 64 + 64 * 64 + 64)


class WithMatrixExp(nn.Module):
    """Runs an op with no formula (the matrix exponential: none yet)."""

    def forward(self, x):
        return torch.linalg.matrix_exp(x[:, :4]) + x[:, :4].sum()


def test_unsupported_ops_are_listed_not_zero():
    analysis = roofline.analyze(WithMatrixExp(), (torch.randn(4, 8),))
    missing = analysis.unsupported
    assert list(missing.op) == ["aten.linalg_matrix_exp"]
    assert missing.iloc[0]["count"] == 1
    assert 0 < missing.iloc[0]["share"] < 1
    row = analysis.ops[analysis.ops.op == "aten.linalg_matrix_exp"].iloc[0]
    assert not row.supported and row.flops != row.flops  # NaN, not 0
    # Its share is the fixed overhead only, and the table says so; the estimate reads its
    # input, x[:, :4] (16 floats, 64 B), and writes the 4 x 4 result (64 B): 128 B, at the
    # spec's DRAM bandwidth on top of the overhead.
    listed = missing.iloc[0]
    assert listed["time_basis"] == "fixed overhead only"
    assert listed["predicted_s"] == pytest.approx(row.overhead_s)
    assert listed["bytes_estimate"] == 128
    assert listed["estimated_s"] == pytest.approx(row.overhead_s + 128 / analysis.hw.dram.bandwidth)
    assert listed["share"] <= listed["estimated_share"] < 1
    with pytest.raises(UnsupportedOpError, match="aten.linalg_matrix_exp"):
        roofline.analyze(WithMatrixExp(), (torch.randn(4, 8),), strict=True)


def test_json_document(resnet):
    analysis = roofline.analyze(*resnet)
    document = json.loads(analysis.to_json())
    assert document["summary"]["total_flops"] == pytest.approx(analysis.total_flops)
    assert len(document["ops"]) == len(analysis.ops)
    assert document["by_category"][-1]["category"] == "Total"


def test_model_error_names_the_model():
    with pytest.raises(roofline.RooflineError, match="Linear: the model failed"):
        roofline.analyze(nn.Linear(3, 3), (torch.randn(2, 5),))


# ------------------------------------------------------------------ re-prediction

LOCAL_CPU = Path(__file__).resolve().parents[1] / "hw_specs" / "local-cpu.yaml"


def test_repredicting_an_analysis_frame_gives_its_own_times():
    # About 1 MB of fp32 weights: on the calibrated local-cpu spec they stay in a cache
    # between forwards, so the time model needs the model's resident bytes, which a
    # frame does not carry (pd.concat dropped them when they lived in DataFrame.attrs).
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256), nn.LayerNorm(256)).eval()
    analysis = roofline.analyze(model, (torch.randn(8, 256),), hw=LOCAL_CPU)
    assert analysis.resident_bytes == 4 * sum(p.numel() for p in model.parameters())
    counts = analysis.ops[list(COUNT_COLUMNS)]
    for frame in (counts, analysis.ops, pd.concat([counts.iloc[:3], counts.iloc[3:]])):
        again = predict_frame(frame, analysis.hw, tf32=analysis.tf32, resident_bytes=analysis.resident_bytes)
        pd.testing.assert_series_equal(again["predicted_s"], analysis.ops["predicted_s"], check_exact=True)
        assert again["predicted_s"].sum() == analysis.predicted_s
    # The residence matters here: read from DRAM, the same weights take longer.
    assert predict_frame(counts, analysis.hw, tf32=analysis.tf32)["predicted_s"].sum() > analysis.predicted_s
    # with_hw keeps the resident bytes, so a round trip through another spec changes nothing.
    other = analysis.with_hw("h100-sxm")
    assert other.resident_bytes == analysis.resident_bytes
    assert other.with_hw(LOCAL_CPU).predicted_s == analysis.predicted_s


class _Tied(nn.Module):
    """Linear, batch norm (buffers, an int64 counter among them), a norm whose weight is
    the linear's bias (tied), and an LSTM (flattened weights)."""

    def __init__(self):
        super().__init__()
        self.linear, self.bn, self.norm = nn.Linear(8, 16), nn.BatchNorm1d(16), nn.LayerNorm(16)
        self.norm.weight = self.linear.bias
        self.lstm = nn.LSTM(16, 4, batch_first=True)

    def forward(self, x):  # x: [B, T, 8]
        h = self.bn(self.linear(x).transpose(1, 2)).transpose(1, 2)  # norm over the 16 channels
        return self.lstm(self.norm(h))[0]


def test_analyze_leaves_the_callers_model_as_it_was():
    torch.manual_seed(0)
    model = _Tied().eval()
    before = {name: t.clone() for name, t in model.state_dict().items()}
    params = list(model.parameters())
    x = torch.randn(2, 3, 8)
    analysis = roofline.analyze(model, (x,), meta=True, dtype="bf16")
    # The caller's model: same Parameter objects, values, device (cpu) and dtype (fp32).
    assert list(model.parameters()) == params
    for name, t in model.state_dict().items():
        assert t.device.type == "cpu" and t.dtype == before[name].dtype and torch.equal(t, before[name]), name
    assert model.norm.weight is model.linear.bias
    # The analysis ran a bf16 copy on meta, the LSTM's flattened weights included.
    assert "bf16" in set(analysis.ops["dtype"]) and analysis.total_flops > 0
    model(x)  # and the model still runs for real afterwards


def test_by_module_files_a_shared_module_by_owner_or_by_caller():
    from tests.capture.test_mode import _Shared

    analysis = roofline.analyze(_Shared(), (torch.randn(2, 4),))
    # Each call of the 4 -> 4 Linear on 2 rows: 2*2*4*4 + 2*4 bias = 72 FLOPs; called 4 times.
    by_owner = analysis.by_module(None)["flops"]
    by_caller = analysis.by_module(None, path="caller")["flops"]
    assert by_owner["shared"] == 4 * 72
    assert (by_caller["a.proj"], by_caller["b.proj"], by_caller["c.<shared>"], by_caller["shared"]) == (72, 72, 72, 72)
    assert by_caller.sum() == by_owner.sum()
    assert analysis.by_module(1, path="caller")["flops"]["a"] == 72 + 2 * 4  # its Linear and relu
    with pytest.raises(roofline.RooflineError, match="unknown path"):
        analysis.by_module(path="owner")
