"""roofline.capture.mode: module paths, grad modes, dict and keyword inputs, meta tensors,
and CaptureMode's public hooks (run_op, on_record, module_path) used as a subclass would."""

import warnings

import pytest
import torch
import torch.nn as nn

from roofline.capture import CaptureMode, ModuleStack, active_capture, call_model, capture
from roofline.count.registry import count


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(Block(), Block())
        self.head = nn.Linear(8, 2)

    def forward(self, batch):  # Hugging Face style: a dict in, a dict out
        hidden = self.encoder(batch["x"])
        return {"logits": self.head(hidden), "hidden": hidden}


def _ops(records):
    return [(r.packet, r.module) for r in records if r.packet != "aten.t" and r.packet != "aten.view"]


def test_module_paths_and_dict_io():
    net = Net().eval()
    with torch.no_grad():
        records, out = capture(net, ({"x": torch.randn(3, 8)},))
    assert set(out) == {"logits", "hidden"}
    assert _ops(records) == [
        ("aten.addmm", "encoder.0.fc"),
        ("aten.relu", "encoder.0.act"),
        ("aten.addmm", "encoder.1.fc"),
        ("aten.relu", "encoder.1.act"),
        ("aten.addmm", "head"),
    ]
    assert [r.index for r in records] == list(range(len(records)))


def test_keyword_inputs():
    class KW(nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return input_ids * attention_mask

    records, _ = capture(KW(), {"input_ids": torch.ones(2, 3), "attention_mask": torch.ones(2, 3)})
    assert [r.packet for r in records] == ["aten.mul"]


def test_no_grad_inference_mode_and_grad_give_the_same_work():
    # Under inference_mode aten.linear reaches the dispatcher undecomposed; under
    # no_grad and with grad it arrives as t + addmm. Either way the FLOPs agree.
    net = Net().eval()
    inputs = ({"x": torch.randn(3, 8)},)

    def flops(records):
        return sum(c.flops for c in map(count, records))

    with torch.no_grad():
        a, _ = capture(net, inputs)
    with torch.inference_mode():
        b, _ = capture(net, inputs)
    c, _ = capture(net, inputs)
    expected = 2 * (2 * 3 * 8 * 8 + 3 * 8) + (2 * 3 * 8 * 2 + 3 * 2) + 2 * 3 * 8  # 2 hidden linears, head, 2 relus
    assert flops(a) == flops(b) == flops(c) == expected


def test_meta_tensors_record_the_same_ops_and_shapes():
    net = Net().eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        real, _ = capture(net, ({"x": x},))
        meta, _ = capture(net.to("meta"), ({"x": x.to("meta")},))
    assert [(r.op, r.module, [i.shape for i in r.inputs]) for r in real] == [
        (r.op, r.module, [i.shape for i in r.inputs]) for r in meta
    ]


def test_reused_module_keeps_its_name():
    shared = nn.Linear(4, 4)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = shared

        def forward(self, x):
            return self.shared(self.shared(x))

    with torch.no_grad():
        records, _ = capture(Twice(), (torch.randn(2, 4),))
    assert [r.module for r in records if r.packet == "aten.addmm"] == ["shared", "shared"]


# ------------------------------------------------------------------ hooks


class CountingMode(CaptureMode):
    """Counts its hook calls and what they saw, through the public hooks only."""

    def __init__(self, model=None):
        super().__init__(model)
        self.ran = []  # the func run_op got, per call
        self.seen = []  # (record, position of the record in self.records when on_record ran)
        self.paths = 0

    def run_op(self, func, args, kwargs):
        self.ran.append(func)
        return super().run_op(func, args, kwargs)

    def on_record(self, record, out):
        self.seen.append((record, len(self.records) - 1))
        assert out is not None

    def module_path(self):
        self.paths += 1
        return super().module_path()


def _signature(records):
    return [(r.op, r.module, r.module_type, [i.shape for i in r.inputs], [o.shape for o in r.outputs], r.param_bytes)
            for r in records]


def test_hooks_are_called_once_per_op_with_the_real_op_overload():
    net = Net().eval()
    inputs = ({"x": torch.randn(3, 8)},)
    with torch.no_grad():
        plain, _ = capture(net, inputs)
        with CountingMode(net) as mode:
            call_model(net, inputs)
    records = mode.records
    assert len(mode.ran) == len(mode.seen) == mode.paths == len(records) == len(plain) > 5
    for i, (record, position) in enumerate(mode.seen):
        assert record is records[i] and position == record.index == i  # appended, then on_record
        assert isinstance(record.func, torch._ops.OpOverload)  # the real op: formulas read its schema
        assert record.func is mode.ran[i]
        assert record.op == str(record.func)
    assert _signature(records) == _signature(plain)  # hooks that only look change nothing


def test_run_op_output_is_what_the_model_goes_on_with():
    class Doubling(CaptureMode):
        def run_op(self, func, args, kwargs):
            out = func(*args, **kwargs)
            return out * 2 if func is torch.ops.aten.relu.default else out

    x = torch.tensor([-1.0, 2.0])
    with Doubling() as mode:
        y = torch.relu(x) + 1
    assert torch.equal(y, torch.tensor([1.0, 5.0]))
    # ops a hook runs itself run below the mode: they are not recorded
    assert [r.packet for r in mode.records] == ["aten.relu", "aten.add"]


def test_module_path_hook_names_every_record():
    class Labelled(CaptureMode):
        def module_path(self):
            name, kind = super().module_path()
            return (f"net.{name}" if name else "net", kind)

    net = Net().eval()
    inputs = ({"x": torch.randn(3, 8)},)
    with torch.no_grad(), Labelled(net) as mode:
        call_model(net, inputs)
    with torch.no_grad():
        plain, _ = capture(net, inputs)
    assert [r.module for r in mode.records] == [f"net.{r.module}" if r.module else "net" for r in plain]


def test_symbolic_op_is_one_record_and_one_on_record_call():
    symbolic_op = pytest.importorskip("roofline.count.python_ops").symbolic_op

    @symbolic_op(flops=lambda x: x.numel())
    def double(x):
        return x * 2 + 0

    x = torch.randn(4)
    with CountingMode() as mode:
        double(x.relu())
    assert [r.op for r in mode.records] == ["aten.relu.default", "symbolic.double"]
    assert len(mode.ran) == 1  # the function's own aten ops run through no hook
    assert [record.index for record, _ in mode.seen] == [0, 1]
    assert mode.seen[1][0].python_call is not None


def test_active_capture_and_module_hooks_are_left_as_found():
    hooks = torch.nn.modules.module
    before = (len(hooks._global_forward_pre_hooks), len(hooks._global_forward_hooks))
    assert active_capture() is None

    class Broken(nn.Module):
        def forward(self, x):
            assert active_capture() is mode
            raise ValueError("boom")

    mode = CaptureMode(Broken())
    with pytest.raises(ValueError, match="boom"):
        with mode:
            Broken()(torch.ones(1))
    assert active_capture() is None
    assert (len(hooks._global_forward_pre_hooks), len(hooks._global_forward_hooks)) == before


def test_module_stack_on_its_own():
    net = Net()
    seen = []
    with ModuleStack(net) as stack:
        handle = net.head.register_forward_pre_hook(lambda module, args: seen.append((stack.current, stack.in_module)))
        net({"x": torch.randn(2, 8)})
        handle.remove()
    assert seen == [(("head", "Linear"), True)]
    assert stack.current == ("", "Net") and not stack.in_module


def test_a_jagged_nested_tensor_records_the_ops_on_its_values():
    nt = torch.nested.nested_tensor([torch.randn(3, 8), torch.randn(5, 8)], layout=torch.jagged)
    records, out = capture(torch.relu, (nt,))
    # The jagged tensor runs relu on its packed [3 + 5, 8] values: that is the op recorded.
    assert [(r.op, r.inputs[0].shape, r.inputs[0].layout) for r in records] == [("aten.relu.default", (8, 8), "strided")]
    assert out.is_nested


def test_a_strided_nested_tensor_records_its_components():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nt = torch.nested.nested_tensor([torch.randn(3, 8), torch.randn(5, 8)])
    records, _ = capture(torch.relu, (nt,))
    info = records[0].inputs[0]
    # No dense shape: the padded bound, the real elements (3*8 + 5*8) and each component.
    assert (info.layout, info.shape, info.numel, info.footprint_bytes) == ("nested", (2, 5, 8), 64, 256)
    assert info.components == ((3, 8), (5, 8))


class _Block(nn.Module):
    """A resnet basic block: two 3x3 conv-bn layers and the identity added back."""

    def __init__(self, channels):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


def _resnet_like():
    """resnet18's layer types at toy size: stem conv-bn-relu-maxpool, two basic blocks,
    adaptive average pool, flatten, linear."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        _Block(8), _Block(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    ).eval()


def test_inference_mode_records_what_no_grad_records():
    import roofline

    model, x = _resnet_like(), torch.randn(2, 3, 32, 32)
    plain = roofline.analyze(model, (x,), strict=True)
    with torch.inference_mode():
        inference = roofline.analyze(model, (x,), strict=True)
    # Under inference_mode composite ops (conv2d, linear, adaptive_avg_pool2d, einsum,
    # cross_entropy) reach the mode whole; eager runs their decomposition, so the
    # capture records that: the same ops, FLOPs and bytes as without it (the adaptive
    # pool's 2 x 8 x 8 x 8 = 1,024 adds as a mean, not a pool with a divide per window).
    assert list(inference.ops["op"]) == list(plain.ops["op"])
    assert (inference.total_flops, inference.total_bytes) == (plain.total_flops, plain.total_bytes)
    assert "aten.mean" in set(plain.ops["op"]) and "aten.adaptive_avg_pool2d" not in set(inference.ops["op"])


def test_composite_ops_under_inference_mode_decompose():
    a, b = torch.randn(4, 8), torch.randn(8, 5)
    logits, target = torch.randn(4, 10), torch.randint(0, 10, (4,))

    def run():
        torch.einsum("ij,jk->ik", a, b)
        torch.nn.functional.cross_entropy(logits, target)

    with torch.inference_mode():
        records, _ = capture(run)
    ops = [r.packet for r in records]
    assert "aten.bmm" in ops and "aten._log_softmax" in ops and "aten.nll_loss_forward" in ops
    assert "aten.einsum" not in ops and "aten.cross_entropy_loss" not in ops
    assert all(isinstance(count(r), type(count(records[ops.index("aten.bmm")]))) for r in records)


class _Holder(nn.Module):
    """Holds ``proj`` as a submodule, or (held=False) calls one it does not hold."""

    def __init__(self, proj, held=True):
        super().__init__()
        if held:
            self.proj = proj
        else:
            self._calls = [proj]  # a plain list: not a submodule

    def forward(self, x):
        proj = self.proj if hasattr(self, "proj") else self._calls[0]
        return torch.relu(proj(x))


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.a, self.b = _Holder(self.shared), _Holder(self.shared)
        self.c = _Holder(self.shared, held=False)

    def forward(self, x):
        return self.shared(self.c(self.b(self.a(x))))


def test_a_shared_module_has_one_name_and_a_call_path_per_caller():
    with torch.no_grad():
        records, _ = capture(_Shared(), (torch.randn(2, 4),))
    addmm = [(r.module, r.caller) for r in records if r.packet == "aten.addmm"]
    # One Linear, held by the root (its first name, "shared") and by blocks a and b; c
    # calls it without holding it; the root calls it last.
    assert addmm == [("shared", "a.proj"), ("shared", "b.proj"), ("shared", "c.<shared>"), ("shared", "shared")]
    relu = [(r.module, r.caller) for r in records if r.packet == "aten.relu"]
    assert relu == [("a", "a"), ("b", "b"), ("c", "c")]


def test_each_record_counts_the_module_calls_since_the_one_before():
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.tail = nn.Sequential(nn.ReLU(), nn.Identity())

        def forward(self, x):
            return self.tail(self.fc(x)).sum()

    with torch.no_grad():
        records, _ = capture(Inner().eval(), (torch.randn(2, 4),))
    calls = [(r.packet, r.module_calls) for r in records]
    # Inner and fc before fc's transpose; none before its addmm; tail and its ReLU before
    # relu; the Identity (no op of its own) before the sum.
    assert calls == [("aten.t", 2), ("aten.addmm", 0), ("aten.relu", 2), ("aten.sum", 1)]
