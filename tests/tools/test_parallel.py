"""roofline/parallel.py and the multi-device specs: the all-reduce and pipeline models
against their formulas worked by hand, tensor-parallel layers found in captured
models, the planner's micro-batch against brute force, and `roofline plan`."""

import math
import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

import roofline
from roofline.cli import main
from roofline.errors import HardwareSpecError, RooflineError
from roofline.hardware import load_hardware
from roofline.tools.parallel import (
    DEFAULT_BUCKET_BYTES,
    ParallelConfig,
    StepProfile,
    TrainingProfiler,
    balanced_micro_batch,
    best_micro_batch,
    data_parallel_scaling,
    divisors,
    estimate_step,
    group_link,
    megatron_allreduces,
    microbatch_tradeoff,
    plan,
    point_to_point_s,
    ring_allreduce_s,
    splits,
)


# ------------------------------------------------------------------ a tiny transformer


class Layer(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv, self.proj = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.fc1, self.fc2 = nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)

    def forward(self, x):
        b, s, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, s, h))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class TinyGPT(nn.Module):
    def __init__(self, vocab=64, hidden=32, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(Layer(hidden, heads) for _ in range(layers))
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


SEQ, HIDDEN = 16, 32


def build_tiny(batch):
    return TinyGPT(hidden=HIDDEN), (torch.zeros(batch, SEQ, dtype=torch.long),)


# ------------------------------------------------------------------ the multi-device specs


def test_multi_device_specs():
    one, node, two = load_hardware("h100-sxm"), load_hardware("8xh100-sxm"), load_hardware("2x8xh100-sxm")
    for spec in (node, two):  # the same device as h100-sxm
        assert spec.matrix_flops == one.matrix_flops and spec.vector_flops == one.vector_flops
        assert spec.memory == one.memory and spec.efficiency == one.efficiency and spec.overhead_s == one.overhead_s
    assert (one.devices, node.devices, two.devices) == (1, 8, 16)
    assert node.interconnect.intra_node.bandwidth == 450e9  # 900 GB/s NVLink 4 counts both directions
    assert node.interconnect.inter_node is None
    assert two.interconnect.inter_node.bandwidth == 400e9 / 8  # 400 Gb/s per GPU, in bytes
    assert load_hardware("dgx-h100") == node


def spec_with(tmp_path, interconnect):
    data = yaml.safe_load(open(load_hardware("8xh100-sxm").path))
    data["interconnect"] = interconnect
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    "interconnect, message",
    [
        ({"devices_per_node": 8, "nodes": 2, "intra_node": {"bandwidth": "450 GB/s", "latency": "2 us"}},
         "interconnect.inter_node: missing required field"),
        ({"devices_per_node": 8, "intra_node": {"bandwidth": "450 GB/s", "latency": "2 s"}},
         "interconnect.intra_node.latency: 2 s is above 1 ms"),
        ({"devices_per_node": 8, "intra_node": {"bandwidth": "fast", "latency": "2 us"}},
         "interconnect.intra_node.bandwidth: expected a bandwidth"),
        ({"devices_per_node": 8, "intra_node": {"bw": "450 GB/s", "latency": "2 us"}},
         "interconnect.intra_node.bw: unknown key; expected one of: name, bandwidth, latency"),
        ({"devices_per_node": 0, "intra_node": {"bandwidth": "450 GB/s", "latency": "2 us"}},
         "interconnect.devices_per_node: expected a whole number of at least 1"),
        ({"devices_per_node": "8", "intra_node": {"bandwidth": "450 GB/s", "latency": "2 us"}},
         "interconnect.devices_per_node: expected an integer"),
    ],
)
def test_bad_interconnects_name_file_and_field(tmp_path, interconnect, message):
    with pytest.raises(HardwareSpecError) as error:
        load_hardware(spec_with(tmp_path, interconnect))
    assert str(error.value).startswith(str(tmp_path / "system.yaml"))
    assert message in str(error.value)


# ------------------------------------------------------------------ collectives by hand


def test_ring_allreduce_formula():
    # 1 GB over 8 devices on 450 GB/s links with 2 us steps:
    # 2*7/8 * 1e9 / 450e9 = 3.8889 ms of transfer, 14 steps x 2 us = 28 us
    assert ring_allreduce_s(1e9, 8, 450e9, 2e-6) == pytest.approx(1.75e9 / 450e9 + 28e-6, rel=1e-12)
    assert ring_allreduce_s(1e9, 8, 450e9, 2e-6) == pytest.approx(3.916889e-3, rel=1e-6)
    assert ring_allreduce_s(1e9, 1, 450e9, 2e-6) == 0.0
    # two devices exchange half each way: 2*1/2 * bytes / bw + 2 steps
    assert ring_allreduce_s(9e8, 2, 450e9, 1e-6) == pytest.approx(2e-3 + 2e-6, rel=1e-12)


def test_links_inside_and_across_nodes():
    two = load_hardware("2x8xh100-sxm")
    nvlink, network = two.interconnect.intra_node, two.interconnect.inter_node
    assert group_link(two, 8, 1) is nvlink  # ranks 0..7: one node
    assert group_link(two, 16, 1) is network  # 0..15: two nodes
    assert group_link(two, 2, 8) is network  # 0 and 8: one per node
    assert group_link(two, 2, 4) is nvlink  # 0 and 4
    assert point_to_point_s(1e9, network) == pytest.approx(1e9 / 50e9 + 5e-6)
    with pytest.raises(RooflineError, match="one device"):
        group_link(load_hardware("h100-sxm"), 2, 1)


# ------------------------------------------------------------------ one configuration by hand


def profile(micro_batch=4, **changes):
    values = dict(
        micro_batch=micro_batch, forward_s=1e-3, backward_s=2.4e-3, optimizer_s=0.5e-3,
        parameter_bytes=1e9, buffer_bytes=0.0, gradient_bytes=1e9, optimizer_state_bytes=2e9,
        activation_bytes=4e9, boundary_bytes=8e6, tp_allreduce_bytes=96e6, tp_allreduces=12, tensor_parallel=True,
    )
    values.update(changes)
    return StepProfile(**values)


@pytest.mark.parametrize("overlap", [True, False])
def test_estimate_step_by_hand(overlap):
    hw = load_hardware("8xh100-sxm")
    config = ParallelConfig(data=2, tensor=2, pipeline=2, micro_batch=4, global_batch=64)
    e = estimate_step(profile(), hw, config, overlap=overlap, microbatch_overhead_s=50e-6)
    bw, lat = 450e9, 2e-6
    m = 64 // (2 * 4)  # 8 micro-batches per pipeline
    compute = (1e-3 + 2.4e-3) / 4  # divided over tensor x pipeline
    # tensor parallel: 12 all-reduces of 8 MB each way (96 MB), forward and backward, half
    # the layers on this stage: 2 * (2*1/2 * 96e6 / bw + 12 * 2 * 1 * lat) / 2
    tp = 2 * (96e6 / bw + 12 * 2 * lat) / 2
    # pipeline neighbours are 4 ranks apart, inside the node: send 8 MB / 2 each way
    p2p = 2 * (4e6 / bw + lat)
    slot = compute + tp + p2p + 50e-6
    assert e.micro_batches == m
    assert e.tp_comm_s == pytest.approx(tp)
    assert e.p2p_s == pytest.approx(p2p)
    assert e.microbatch_s == pytest.approx(slot)
    assert e.bubble_fraction == pytest.approx(1 / 9)
    assert e.pipeline_s == pytest.approx(9 * slot)
    # data parallel: 1 GB of gradients / 4 shards, all-reduced over 2 replicas (ranks 0, 2)
    allreduce = 2 * 1 / 2 * 2.5e8 / bw + 2 * lat
    assert e.dp_allreduce_s == pytest.approx(allreduce)
    if overlap:  # backward of the last micro-batch (2.4 ms / 4 = 0.6 ms) hides it all but the last bucket
        assert e.dp_exposed_s == pytest.approx(DEFAULT_BUCKET_BYTES / bw + 2 * lat)
    else:
        assert e.dp_exposed_s == pytest.approx(allreduce)
    assert e.optimizer_s == pytest.approx(0.5e-3 / 4)
    assert e.step_s == pytest.approx(9 * slot + e.dp_exposed_s + 0.5e-3 / 4)
    # memory: (1 + 1 + 2) GB / 4 static, 4 GB / 4 activations x 2 micro-batches in flight
    assert e.memory_bytes == pytest.approx(1e9 + 2e9)
    assert e.fits
    assert e.samples_per_s == pytest.approx(64 / e.step_s)


def test_bubble_fraction_and_memory_limit():
    hw = load_hardware("8xh100-sxm")
    e = estimate_step(profile(micro_batch=2, activation_bytes=100e9), hw, ParallelConfig(1, 1, 4, 2, 16))
    assert e.micro_batches == 8 and e.bubble_fraction == pytest.approx(3 / 11)
    assert not e.fits  # 100 GB of activations / 4 stages x 4 in flight


def test_configs_that_cannot_run_are_errors():
    hw = load_hardware("8xh100-sxm")
    with pytest.raises(RooflineError, match="not a multiple"):
        estimate_step(profile(micro_batch=3), hw, ParallelConfig(2, 1, 1, 3, 16))
    with pytest.raises(RooflineError, match="wider than a node"):
        estimate_step(profile(), load_hardware("2x8xh100-sxm"), ParallelConfig(1, 16, 1, 4, 16))
    with pytest.raises(RooflineError, match="no attention or Linear"):
        estimate_step(profile(tensor_parallel=False), hw, ParallelConfig(1, 2, 1, 4, 16))
    with pytest.raises(RooflineError, match="one device"):
        estimate_step(profile(), "h100-sxm", ParallelConfig(2, 1, 1, 4, 16))


def test_data_parallel_scaling():
    p = profile(micro_batch=4)
    table = data_parallel_scaling(p, "2x8xh100-sxm", overlap=False)
    assert list(table.index) == [1, 2, 4, 8, 16]
    assert table.loc[1, "efficiency"] == 1.0
    # n = 8 without overlap: compute + ring over NVLink + optimizer
    step8 = 3.4e-3 + (2 * 7 / 8 * 1e9 / 450e9 + 14 * 2e-6) + 0.5e-3
    assert table.loc[8, "step_s"] == pytest.approx(step8)
    assert table.loc[8, "efficiency"] == pytest.approx((3.4e-3 + 0.5e-3) / step8)
    # n = 16 crosses the 50 GB/s network
    step16 = 3.4e-3 + (2 * 15 / 16 * 1e9 / 50e9 + 30 * 5e-6) + 0.5e-3
    assert table.loc[16, "step_s"] == pytest.approx(step16)
    assert list(table.efficiency) == sorted(table.efficiency, reverse=True)
    overlapped = data_parallel_scaling(p, "2x8xh100-sxm", overlap=True)
    assert (overlapped.efficiency >= table.efficiency).all()


# ------------------------------------------------------------------ tensor-parallel layers found in captures


@pytest.mark.parametrize("meta", [False, True])
def test_two_allreduces_per_transformer_layer(meta):
    batch = 2
    model, inputs = build_tiny(batch)
    a = roofline.analyze(model, inputs, mode="train", meta=meta, optimizer=None)
    sizes, splittable, boundary = megatron_allreduces(a)
    one = batch * SEQ * HIDDEN * 4  # batch x seq x hidden, fp32
    assert splittable and sizes == [one] * 4  # 2 layers x (attention, MLP)
    assert boundary == one


def test_mlp_pairs_linears_and_cnn_has_no_tensor_split():
    mlp = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 8))
    a = roofline.analyze(mlp, (torch.randn(4, 8),), mode="train", optimizer=None)
    sizes, splittable, _ = megatron_allreduces(a)
    assert splittable and sizes == [4 * 8 * 4, 4 * 8 * 4]  # the row-split layers' outputs
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    a = roofline.analyze(cnn, (torch.randn(1, 3, 8, 8),), mode="train", optimizer=None)
    assert megatron_allreduces(a)[:2] == ([], False)


# ------------------------------------------------------------------ the planner against brute force


def test_divisors_and_splits():
    assert divisors(12) == [1, 2, 3, 4, 6, 12]
    found = splits(load_hardware("2x8xh100-sxm"), 48)
    assert all(d * t * p == 16 and t <= 8 and 48 % d == 0 for d, t, p in found)
    assert (16, 1, 1) in found and (1, 8, 2) in found and (1, 16, 1) not in found


def test_balanced_micro_batch_closed_form():
    # slot time a + c b with a = 1, c = 1 (from b=1: 2 and b=3: 4); M = 64, p = 5:
    # b* = sqrt(64 * 1 / (4 * 1)) = 4
    assert balanced_micro_batch((1, 2.0), (3, 4.0), 64, 5) == pytest.approx(4.0)
    assert balanced_micro_batch((1, 2.0), (3, 4.0), 64, 1) == 64  # no pipeline: largest


def test_descent_finds_the_minimum_from_anywhere():
    values = {1: 9.0, 2: 5.0, 4: 3.0, 8: 2.5, 16: 4.0, 32: math.inf}
    for start in [None, 1, 4, 16, 32]:
        assert best_micro_batch(values.__getitem__, list(values), start) == 8


class Synthetic:
    """Device profiles with a roofline shape: a step is overhead-bound (flat) up to
    b = 8, then grows with b; activations grow with b until they do not fit."""

    def __init__(self):
        self.calls: set[int] = set()

    def __call__(self, b):
        self.calls.add(b)
        forward = max(8, b) * 2e-4 + 3e-4
        return profile(micro_batch=b, forward_s=forward, backward_s=2 * forward, activation_bytes=b * 2e9, boundary_bytes=b * 1e6,
                       tp_allreduce_bytes=b * 24e6, tp_allreduces=24)


def brute_force(profile_at, hw, global_batch, d, t, p, overhead_s=0.0):
    """The fastest fitting micro-batch of one split, trying every divisor."""
    best = None
    for b in divisors(global_batch // d):
        e = estimate_step(profile_at(b), hw, ParallelConfig(d, t, p, b, global_batch), microbatch_overhead_s=overhead_s)
        if e.fits and (best is None or e.step_s < best.step_s):
            best = e
    return best


@pytest.mark.parametrize("hw_name, global_batch", [("8xh100-sxm", 256), ("2x8xh100-sxm", 512), ("8xh100-sxm", 96)])
def test_planner_optimum_equals_brute_force_synthetic(hw_name, global_batch):
    hw = load_hardware(hw_name)
    profiles = Synthetic()
    result = plan(profiles, hw, global_batch)
    table = result.table[result.table.fits]
    for d, t, p in splits(hw, global_batch):
        expected = brute_force(Synthetic(), hw, global_batch, d, t, p)
        rows = table[(table.data == d) & (table.tensor == t) & (table.pipeline == p)]
        if expected is None:
            assert rows.empty
            continue
        found = rows.sort_values("step_s").iloc[0]
        assert int(found.micro_batch) == expected.config.micro_batch, (d, t, p)
        assert found.step_s == pytest.approx(expected.step_s)
    every = [brute_force(Synthetic(), hw, global_batch, *split) for split in splits(hw, global_batch)]
    best = min((e for e in every if e is not None), key=lambda e: e.step_s)
    assert result.best.config == best.config
    # The descent profiles fewer sizes than there are candidates.
    assert len(profiles.calls) < len(divisors(global_batch))


def test_planner_optimum_equals_brute_force_on_a_captured_model():
    hw = load_hardware("8xh100-sxm")
    profiler = TrainingProfiler(build_tiny, hw, optimizer="adamw")
    result = plan(profiler, hw, 32, microbatch_overhead_s=20e-6)
    layers = profiler(1).layers
    assert layers == 2  # TinyGPT's two layers: pipelines of 4 and 8 stages are not planned
    for d, t, p in splits(hw, 32):
        rows = result.table[(result.table.data == d) & (result.table.tensor == t) & (result.table.pipeline == p) & result.table.fits]
        if p > layers:
            assert rows.empty
            continue
        expected = brute_force(profiler, hw, 32, d, t, p, overhead_s=20e-6)
        found = rows.sort_values("step_s").iloc[0]
        assert int(found.micro_batch) == expected.config.micro_batch, (d, t, p)
    assert result.best.step_s == min(brute_force(profiler, hw, 32, *s, overhead_s=20e-6).step_s for s in splits(hw, 32) if s[2] <= layers)
    # The profile's memory comes from the captured step, its times from the roofline.
    small = profiler(1)
    assert small.parameter_bytes == 4 * sum(p.numel() for p in build_tiny(1)[0].parameters())
    assert small.forward_s > 0 and small.backward_s > small.forward_s


def test_microbatch_tradeoff_curve():
    curve = microbatch_tradeoff(Synthetic(), "8xh100-sxm", 256, data=1, tensor=1, pipeline=8)
    assert list(curve.index) == divisors(256)
    # the bubble shrinks as micro-batches get smaller
    assert list(curve.bubble_fraction) == sorted(curve.bubble_fraction)
    assert curve.loc[1, "bubble_fraction"] == pytest.approx(7 / (256 + 7))


# ------------------------------------------------------------------ roofline plan


TARGET = textwrap.dedent(
    """
    import torch
    import torch.nn as nn

    def build(batch=1):
        model = nn.Sequential(nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 32), nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 32))
        return model, (torch.randn(batch, 32),)
    """
)


def test_cli_plan(tmp_path, capsys):
    path = tmp_path / "mlp.py"
    path.write_text(TARGET)
    assert main(["plan", str(path), "--hw", "8xh100-sxm", "--global-batch", "64", "--dtype", "bf16"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # undo the console's line wrapping
    assert "8xh100-sxm, 8 devices), global batch 64: best data" in out
    assert "micro-batch" in out and "predicted step" in out
    assert main(["plan", str(path), "--hw", "h100-sxm", "--global-batch", "64"]) == 2
    err = capsys.readouterr().err
    assert "one device" in err and len(err.strip().splitlines()) == 1
    assert main(["plan", str(path), "--hw", "8xh100-sxm", "--global-batch", "64", "--microbatch-overhead", "soon"]) == 2
    assert "--microbatch-overhead" in capsys.readouterr().err


def test_cli_hw_show_lists_the_interconnect(capsys):
    assert main(["hw", "show", "2x8xh100-sxm"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "16 devices (2 node(s) x 8)" in out
    assert "450 GB/s per device each way" in out and "50 GB/s per device each way" in out
