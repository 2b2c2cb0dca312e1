"""roofline/capture.py: op records, module paths, grad modes, dict inputs, meta tensors."""

import torch
import torch.nn as nn

from roofline.capture import capture, tensor_info
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


def test_tensor_info_footprint():
    bias = torch.randn(64)
    assert tensor_info(bias.expand(128, 64)).footprint_bytes == 64 * 4
    assert tensor_info(torch.randn(4, 6).t()).footprint_bytes == 24 * 4
    sparse = torch.eye(5).to_sparse()
    info = tensor_info(sparse)
    assert info.nnz == 5 and info.footprint_bytes == 5 * 4 + 5 * 2 * 8


def test_attention_on_meta_is_the_fused_op_a_real_run_records():
    import torch.nn.functional as F

    def attend(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    q, kv = torch.randn(1, 8, 12, 16), torch.randn(1, 2, 12, 16)
    real, _ = capture(attend, (q, kv, kv))
    kv_meta = kv.to("meta")
    meta, _ = capture(attend, (q.to("meta"), kv_meta, kv_meta))
    assert [r.packet for r in real] == [r.packet for r in meta] == ["aten._scaled_dot_product_flash_attention_for_cpu"]
    assert count(real[0]) == count(meta[0])


def test_param_bytes_are_the_weights_an_op_reads():
    layer = nn.Linear(16, 8)
    with torch.no_grad():
        records, _ = capture(layer, (torch.randn(4, 16),))
    addmm = [r for r in records if r.packet == "aten.addmm"][0]
    assert addmm.param_bytes == (16 * 8 + 8) * 4  # the transposed weight is a view of it
    assert [r.param_bytes for r in records if r.packet == "aten.t"] == [16 * 8 * 4]
