"""roofline/training.py and roofline/formulas/backward.py: a training step's phases, the
real backward's FLOPs and bytes against closed forms worked by hand, optimizer steps,
activation checkpointing as recompute, and the memory footprint."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

import roofline
from roofline.capture import capture
from roofline.errors import RooflineError
from roofline.count.registry import Cost, count
from roofline.targets import build_target
from roofline.capture.training import capture_train_step


def train(model, inputs, **kwargs):
    kwargs.setdefault("hw", "h100-sxm")
    kwargs.setdefault("optimizer", None)
    return roofline.analyze(model, inputs, mode="train", **kwargs)


def phase_flops(analysis, phase, category=None):
    ops = analysis.ops[analysis.ops.phase == phase]
    if category is not None:
        ops = ops[ops.category == category]
    return ops.flops.sum()


# ------------------------------------------------------------------ linear and conv: backward = 2 x forward


M, K, N = 8, 16, 32


def test_linear_backward_is_twice_forward_less_the_bias():
    x = torch.randn(M, K, requires_grad=True)  # an input that needs its gradient, as inside a network
    a = train(nn.Linear(K, N), (x,))
    # forward addmm: 2*M*N*K multiply-adds + M*N bias adds = 8192 + 256
    assert phase_flops(a, "forward", "GEMM") == 2 * 8 * 32 * 16 + 8 * 32 == 8448
    # backward: grad_input = dy @ W (2*M*N*K), grad_weight = dy^T @ x (2*M*N*K), grad_bias = sum_rows dy (M*N)
    assert phase_flops(a, "backward", "GEMM") == 2 * (8448 - 8 * 32) == 16384
    assert phase_flops(a, "backward") == 16384 + 8 * 32
    assert a.unsupported.empty


def test_first_linear_layer_needs_no_input_gradient():
    a = train(nn.Linear(K, N), (torch.randn(M, K),))
    assert phase_flops(a, "backward", "GEMM") == 2 * M * N * K  # only the weight gradient


CONV_CASES = [
    # (conv, input shape, forward multiply-add FLOPs by hand, bias adds by hand)
    # 3->8 channels, 3x3, pad 1 on 2x3x8x8: P=Q=8; 2*N*K*C*R*S*P*Q = 2*2*8*3*9*64
    (lambda: nn.Conv2d(3, 8, 3, padding=1), (2, 3, 8, 8), 2 * 2 * 8 * 3 * 9 * 64, 2 * 8 * 64),
    # grouped, strided: 4->8, groups 2, 3x3, stride 2, no pad on 1x4x9x9: P=Q=4; C/G = 2
    (lambda: nn.Conv2d(4, 8, 3, stride=2, groups=2), (1, 4, 9, 9), 2 * 1 * 8 * 2 * 9 * 16, 1 * 8 * 16),
    # transposed 4->6, 3x3, stride 2 on 1x4x5x5: every input position meets K*R*S taps;
    # output 11x11 gets the bias
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2), (1, 4, 5, 5), 2 * 1 * 4 * 6 * 9 * 25, 1 * 6 * 121),
    # 1-d, no bias: 2->4 channels, kernel 5 on 3x2x20: P = 16
    (lambda: nn.Conv1d(2, 4, 5, bias=False), (3, 2, 20), 2 * 3 * 4 * 2 * 5 * 16, 0),
]


@pytest.mark.parametrize("make, shape, macs, bias_adds", CONV_CASES)
def test_conv_backward_is_twice_forward_less_the_bias(make, shape, macs, bias_adds):
    torch.manual_seed(0)
    conv = make()
    x = torch.randn(*shape, requires_grad=True)
    a = train(conv, (x,))
    assert phase_flops(a, "forward", "Conv") == macs + bias_adds
    assert phase_flops(a, "backward", "Conv") == 2 * macs + bias_adds
    # The peer counts the same two gradient convolutions (it leaves bias terms out). For
    # grouped convolutions its weight gradient ignores the groups (torch 2.13 counts a
    # groups=2 backward as 3x the forward), so it is a peer for ungrouped ones only.
    if conv.groups == 1:
        with FlopCounterMode(display=False) as counter:
            conv(x).sum().backward()
        assert 3 * macs == counter.get_total_flops()


def test_conv_backward_reads_only_what_each_gradient_needs():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 8, 8)  # no input gradient: the weight is not read, the input is
    # A squared loss gives a dense output gradient (a plain sum's is a broadcast scalar).
    a = train(conv, (x,), loss_fn=lambda y: y.square().sum())
    row = a.ops[(a.ops.phase == "backward") & (a.ops.op == "aten.convolution_backward")].iloc[0]
    grad_out, inp, weight = 2 * 8 * 8 * 8 * 4, 2 * 3 * 8 * 8 * 4, 8 * 3 * 9 * 4
    assert row.bytes_read == grad_out + inp
    assert row.bytes_written == weight
    assert row.flops == 2 * 2 * 8 * 3 * 9 * 64


def test_meta_training_step_equals_real():
    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 3 * 3, 10))

    x = torch.randn(4, 3, 8, 8)
    real = train(build(), (x,), optimizer="adamw", foreach=True)
    meta = train(build(), (x,), optimizer="adamw", foreach=True, meta=True)
    columns = ["op", "module", "category", "flops", "bytes_read", "bytes_written"]
    assert real.ops[columns].equals(meta.ops[columns])
    # On meta the optimizer's step counters stay on the CPU, apart from the model: host work.
    assert real.ops.phase.equals(meta.ops.phase.replace("host", "optimizer"))
    assert "host" in set(meta.ops.phase) and "host" not in set(real.ops.phase)
    assert real.memory == meta.memory
    assert real.unsupported.empty


# ------------------------------------------------------------------ phases and modules


def test_phases_and_backward_module_paths():
    model = nn.Sequential(nn.Linear(K, N), nn.ReLU(), nn.Linear(N, 4))
    a = train(model, (torch.randn(M, K),), optimizer="sgd", foreach=True)
    table = a.by_phase()
    assert list(table.index) == ["forward", "backward", "optimizer", "Total"]
    assert table.loc["Total", "predicted_s"] == pytest.approx(a.predicted_s)
    backward = a.ops[a.ops.phase == "backward"]
    # The gradient matmuls of layer 2 are attributed to module "2", of layer 0 to "0".
    gemm_modules = backward[backward.category == "GEMM"].module.tolist()
    assert gemm_modules == ["2", "2", "0"]
    assert set(a.ops[a.ops.phase == "optimizer"].module) == {"<optimizer>"}
    assert "<loss>" in set(a.ops[a.ops.phase == "forward"].module)


def test_another_spec_keeps_phases_and_memory():
    a = train(nn.Linear(K, N), (torch.randn(M, K),), optimizer="sgd")
    b = a.with_hw("a100-sxm")
    assert b.memory == a.memory and b.ops.phase.equals(a.ops.phase)
    assert b.by_phase().loc["Total", "predicted_s"] == pytest.approx(b.predicted_s)


def test_inference_analysis_is_all_forward():
    a = roofline.analyze(nn.Linear(4, 4), (torch.randn(2, 4),))
    assert set(a.ops.phase) == {"forward"}
    assert a.memory is None


def test_the_callers_model_is_left_alone():
    model = nn.Linear(K, N)
    before = model.weight.detach().clone()
    train(model, (torch.randn(M, K),), optimizer="adamw")
    assert model.weight.grad is None
    assert torch.equal(model.weight, before)


def test_bad_arguments_are_user_errors():
    with pytest.raises(RooflineError, match="mode"):
        roofline.analyze(nn.Linear(2, 2), (torch.randn(1, 2),), mode="training")
    with pytest.raises(RooflineError, match="optimizer 'lion'"):
        train(nn.Linear(2, 2), (torch.randn(1, 2),), optimizer="lion")
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(RooflineError, match="trainable"):
        train(frozen, (torch.randn(1, 2),))


# ------------------------------------------------------------------ optimizers


def test_sgd_step_reads_params_and_grads_and_writes_params():
    params = K * N + N
    a = train(nn.Linear(K, N), (torch.randn(M, K),), optimizer=lambda p: torch.optim.SGD(p, lr=0.1, foreach=True))
    step = a.ops[a.ops.phase == "optimizer"]
    work = step[step.unit != "none"]
    # p -= lr * g over every element: one multiply-add, read p and g, write p (fp32)
    assert work.op.tolist() == ["aten._foreach_add_"]
    assert work.flops.sum() == params
    assert work.bytes_read.sum() == 2 * 4 * params
    assert work.bytes_written.sum() == 4 * params


def test_adamw_foreach_flops_per_element():
    params = K * N + N
    a = train(nn.Linear(K, N), (torch.randn(M, K),), optimizer="adamw", foreach=True)
    device = a.ops[a.ops.phase == "optimizer"]
    # AdamW per element: decay p *= 1 - lr*wd (1); m = lerp(m, g, 1 - b1) (2); v *= b2 (1);
    # v += (1 - b2) g*g (2); sqrt(v) (1); / sqrt(bias correction) (1); + eps (1);
    # p -= step * m / denom (2): 11. Plus one add per step counter (2 tensors).
    assert device.flops.sum() == 11 * params + 2
    assert a.unsupported.empty


def test_fused_adamw_and_host_side_step_counters():
    params = K * N + N
    a = train(nn.Linear(K, N), (torch.randn(M, K),), optimizer=lambda p: torch.optim.AdamW(p, fused=True))
    fused = a.ops[a.ops.op == "aten._fused_adamw_"]
    assert len(fused) == 1
    # reads p, g, m, v (fp32) and the step counters; writes p, m, v
    assert fused.bytes_written.iloc[0] == 3 * 4 * params
    assert fused.bytes_read.iloc[0] == 4 * 4 * params + 2 * 4
    # On meta the step counters stay on the CPU: their bookkeeping is host work.
    meta = train(nn.Linear(K, N), (torch.randn(M, K),), optimizer="adam", foreach=True, meta=True)
    host = meta.ops[meta.ops.phase == "host"]
    assert not host.empty and set(host.module) == {"<optimizer>"}
    assert "aten._foreach_sqrt" in set(meta.ops[meta.ops.phase == "optimizer"].op)


def test_fused_sgd_with_momentum():
    params = K * N + N
    a = train(nn.Linear(K, N), (torch.randn(M, K),), optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, fused=True))
    fused = a.ops[a.ops.op == "aten._fused_sgd_"].iloc[0]
    # buf = 0.9 buf + g (2), p -= lr buf (2); reads p, g, buf; writes p and buf (fp32)
    assert fused.flops == 4 * params
    assert (fused.bytes_read, fused.bytes_written) == (3 * 4 * params, 2 * 4 * params)


# ------------------------------------------------------------------ activation checkpointing


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Checkpointed(nn.Module):
    def __init__(self, width, mode):
        super().__init__()
        self.first, self.block, self.head = nn.Linear(width, width), Block(width), nn.Linear(width, 1)
        self.mode = mode

    def forward(self, x):
        x = torch.relu(self.first(x))
        if self.mode is None:
            x = self.block(x)
        else:
            x = checkpoint(self.block, x, use_reentrant=self.mode == "reentrant")
        return self.head(x)


@pytest.mark.parametrize("mode", ["non-reentrant", "reentrant"])
def test_checkpointed_block_is_recomputed(mode):
    width, batch = 32, 16
    plain = train(Checkpointed(width, None), (torch.randn(batch, width, requires_grad=True),))
    ckpt = train(Checkpointed(width, mode), (torch.randn(batch, width, requires_grad=True),))
    # The block's forward runs again in backward. fc1: 2*B*W*W + B*W, relu: B*W, fc2 as
    # fc1. Reentrant checkpointing reruns the whole block; non-reentrant stops as soon as
    # every tensor backward needs is rebuilt (torch's early stop): fc2's output is not
    # one (fc2 saved its input, the relu output), so fc2 is not rerun.
    linear = 2 * batch * width * width + batch * width
    expected = 2 * linear + batch * width if mode == "reentrant" else linear + batch * width
    assert phase_flops(ckpt, "recompute") == expected
    assert set(ckpt.ops[ckpt.ops.phase == "recompute"].module) <= {"block.fc1", "block.fc2", "block"}
    assert phase_flops(ckpt, "backward") == phase_flops(plain, "backward")
    assert phase_flops(ckpt, "forward") == phase_flops(plain, "forward")
    # The block's inner activations are not kept: fc1's input to fc2 (relu output) and
    # fc1's output are two B x W fp32 tensors fewer alive at the start of backward.
    assert plain.memory.activation_bytes - ckpt.memory.activation_bytes >= batch * width * 4


# ------------------------------------------------------------------ memory


def test_memory_footprint_of_an_mlp_by_hand():
    batch, d_in, hidden, d_out = 16, 32, 64, 8
    model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    a = train(model, (torch.randn(batch, d_in),), optimizer="adamw", foreach=True)
    params = d_in * hidden + hidden + hidden * d_out + d_out
    memory = a.memory
    assert memory.parameter_bytes == 4 * params
    assert memory.gradient_bytes == 4 * params
    # exp_avg and exp_avg_sq per parameter, plus a float32 step counter per parameter tensor (4)
    assert memory.optimizer_state_bytes == 2 * 4 * params + 4 * 4
    assert memory.input_bytes == 4 * batch * d_in
    # alive when backward starts: relu's output (saved by it and by the second linear),
    # the model output and the scalar loss; the first linear's output was freed.
    assert memory.activation_bytes == 4 * (batch * hidden + batch * d_out + 1)
    static = memory.parameter_bytes + memory.optimizer_state_bytes + memory.input_bytes
    assert static + memory.gradient_bytes <= memory.peak_bytes
    from roofline.hardware import load_hardware

    assert memory.fits(load_hardware("h100-sxm")) and not memory.fits(1000)
    assert memory.table().loc["peak", "bytes"] == memory.peak_bytes


def test_activation_memory_grows_with_batch_on_meta():
    small = train(*build_target("resnet50", batch=1, meta=True)[:2], optimizer="sgd")
    large = train(*build_target("resnet50", batch=2, meta=True)[:2], optimizer="sgd")
    assert large.memory.parameter_bytes == small.memory.parameter_bytes
    assert large.memory.activation_bytes == pytest.approx(2 * small.memory.activation_bytes, rel=0.02)


# ------------------------------------------------------------------ zoo models: every backward op counted


@pytest.mark.parametrize(
    "name, low",
    # Backward of GEMM/conv work is 2x the forward, element-wise work 1-2x, attention 2.5x;
    # a first layer needs no input gradient, and GCN's first layer is most of its work.
    [("gpt2", 1.5), ("dlrm", 1.5), ("mobilenetv2", 1.5), ("llama-tiny", 1.5), ("vit-b16", 1.5), ("gcn", 0.8)],
)
def test_zoo_training_steps_are_fully_counted(name, low):
    model, inputs, _ = build_target(name, batch=1, meta=True, options={"seq": 64} if name == "gpt2" else None)
    a = train(model, inputs, optimizer="adamw")
    assert a.unsupported.empty, a.unsupported
    forward, backward = phase_flops(a, "forward"), phase_flops(a, "backward")
    assert low * forward < backward < 2.6 * forward


# ------------------------------------------------------------------ backward formulas one by one


def backward_cost(fn, *inputs, op):
    """The Cost of the backward op ``op`` that backpropagating a dense random gradient
    through fn(*inputs) runs."""

    def step():
        out = fn(*inputs)
        out.backward(torch.randn_like(out))

    records, _ = capture(step)
    found = [count(r) for r in records if r.packet == op]
    assert len(found) == 1 and isinstance(found[0], Cost), found
    return found[0]


def test_softmax_and_log_softmax_backward():
    x = torch.randn(4, 10, requires_grad=True)
    cost = backward_cost(lambda t: torch.softmax(t, -1), x, op="aten._softmax_backward_data")
    # dx = y * (dy - sum(dy * y)): 4 FLOPs per element; reads dy and y, writes dx
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (4 * 40, 2 * 160, 160)
    cost = backward_cost(lambda t: torch.log_softmax(t, -1), x, op="aten._log_softmax_backward_data")
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (4 * 40, 2 * 160, 160)


def test_max_pool_backward_reads_grad_and_indices_not_the_input():
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    cost = backward_cost(lambda t: F.max_pool2d(t, 2), x, op="aten.max_pool2d_with_indices_backward")
    out = 1 * 2 * 4 * 4
    assert cost.flops == out  # one add per output gradient
    assert cost.bytes_read == out * 4 + out * 8  # fp32 gradient, int64 indices
    assert cost.bytes_written == 2 * 8 * 8 * 4


def test_avg_pool_backward():
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    cost = backward_cost(lambda t: F.avg_pool2d(t, 2), x, op="aten.avg_pool2d_backward")
    assert cost.flops == 32 * (4 + 1)  # per output gradient: a divide and 4 adds
    assert cost.bytes_written == 2 * 8 * 8 * 4


def test_embedding_backward_writes_the_whole_table():
    table = nn.Embedding(100, 16)
    ids = torch.tensor([[1, 5, 5, 7]])
    cost = backward_cost(table, ids, op="aten.embedding_dense_backward")
    assert cost.flops == 4 * 16
    assert cost.bytes_read == 4 * 16 * 4 + 4 * 8
    assert cost.bytes_written == 100 * 16 * 4


def test_layer_and_batch_norm_backward():
    x = torch.randn(4, 6, 10, requires_grad=True)
    cost = backward_cost(nn.LayerNorm(10), x, op="aten.native_layer_norm_backward")
    # 13 FLOPs per element (x_hat 2, dy*w 1, two row sums 3, dx 4, weight/bias sums 3)
    assert cost.flops == 13 * 240
    assert cost.bytes_written == 240 * 4 + 2 * 10 * 4  # dx, dweight, dbias
    bn = nn.BatchNorm2d(3)
    y = torch.randn(2, 3, 4, 4, requires_grad=True)
    cost = backward_cost(bn, y, op="aten.native_batch_norm_backward")
    # batch statistics: x_hat 2, sum dy 1, sum dy*x_hat 2, dx 4
    assert cost.flops == 9 * 96


def test_fused_attention_backward_is_five_matmuls():
    b, h, seq, e = 2, 4, 16, 8
    q = torch.randn(b, h, seq, e, requires_grad=True)
    k, v = torch.randn(b, h, seq, e), torch.randn(b, h, seq, e)
    records, _ = capture(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    backward = [count(r) for r in records if r.packet.endswith("attention_for_cpu_backward")]
    assert len(backward) == 1
    # recompute Q K^T, then dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q
    assert backward[0].flops == 5 * (2 * b * h * seq * seq * e)


def test_cross_entropy_and_mse_losses_are_counted():
    logits = torch.randn(8, 10, requires_grad=True)
    target = torch.randint(0, 10, (8,))
    records, _ = capture(lambda: (F.cross_entropy(logits, target) + F.mse_loss(logits, torch.zeros(8, 10))).backward())
    costs = {r.packet: count(r) for r in records}
    assert all(isinstance(c, Cost) for c in costs.values())
    assert costs["aten.nll_loss_forward"].flops == 8  # one picked value per row, summed
    assert costs["aten.nll_loss_backward"].bytes_written == 8 * 10 * 4  # a full-size gradient
    assert costs["aten.mse_loss"].flops == 3 * 80  # subtract, square, sum


def test_custom_loss_and_dict_outputs():
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 2)

        def forward(self, x):
            return {"a": self.a(x), "b": self.b(x)}

    step = capture_train_step(Heads(), (torch.randn(5, 4),), optimizer=None)
    assert step.loss.shape == ()
    step = capture_train_step(Heads(), (torch.randn(5, 4),), optimizer=None, loss_fn=lambda out: out["a"].pow(2).mean())
    assert not any(r.module == "b" for r, phase in zip(step.records, step.phases) if phase == "backward")
    with pytest.raises(RooflineError, match="scalar"):
        capture_train_step(Heads(), (torch.randn(5, 4),), optimizer=None, loss_fn=lambda out: out["a"])


# ------------------------------------------------------------------ phases and module paths, op by op


def test_mlp_step_phases_and_module_paths_op_by_op():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    step = capture_train_step(model, (torch.randn(5, 4),), optimizer="sgd", foreach=False)
    assert len(step.phases) == len(step.records)
    work = {"aten.addmm", "aten.relu", "aten.sum", "aten.mm", "aten.threshold_backward"}
    got = [(p, r.packet, r.module) for p, r in zip(step.phases, step.records) if r.packet in work]
    assert got == [
        ("forward", "aten.addmm", "0"),
        ("forward", "aten.relu", "1"),
        ("forward", "aten.addmm", "2"),
        ("forward", "aten.sum", "<loss>"),
        # backward runs outside every forward: each op is named by the node that runs it
        ("backward", "aten.mm", "2"),
        ("backward", "aten.mm", "2"),
        ("backward", "aten.sum", "2"),
        ("backward", "aten.threshold_backward", "1"),
        ("backward", "aten.mm", "0"),  # the first layer needs no input gradient
        ("backward", "aten.sum", "0"),
    ]
    # the phases run in order, each once, and every update op is the optimizer's
    order = [p for i, p in enumerate(step.phases) if i == 0 or step.phases[i - 1] != p]
    assert order == ["forward", "backward", "optimizer"]
    update = [r for p, r in zip(step.phases, step.records) if p == "optimizer"]
    assert {(r.module, r.module_type) for r in update} == {("<optimizer>", "SGD")}
    assert {r.packet for r in update} >= {"aten.mul_", "aten.add_"}
    assert all(isinstance(r.func, torch._ops.OpOverload) for r in step.records)


def test_training_forward_records_are_a_plain_captures():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    step = capture_train_step(model, (x,), optimizer=None)
    plain, _ = capture(model, (x,))  # with grad on, as the training step runs
    forward = [r for p, r in zip(step.phases, step.records) if p == "forward" and r.module != "<loss>"]
    assert [(r.op, r.module, [i.shape for i in r.inputs]) for r in forward] == [
        (r.op, r.module, [i.shape for i in r.inputs]) for r in plain
    ]
