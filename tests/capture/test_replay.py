"""Repeated layers recorded once (roofline.capture.replay): every test compares the
records of a capture with replay against the same capture without it (the peer), field
by field, and counts the calls replayed."""

import pytest
import torch
from torch import nn

from roofline.capture import capture
from roofline.capture.replay import ModuleReplay
from roofline.capture.symbolic import SizeDim, symbolic_capture
from roofline.targets import build


def _fields(records):
    return [(r.index, r.op, r.module, r.module_type, r.caller, repr(r.args), repr(r.kwargs), r.inputs, r.outputs,
             r.param_bytes) for r in records]


def _captured(model, inputs, replay):
    with torch.no_grad():
        if not replay:
            return capture(model, inputs)[0], None
        with ModuleReplay(model) as replayed:
            records, _ = capture(model, inputs)
        return records, replayed


class Block(nn.Module):
    def __init__(self, dim, twice=False):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.twice = twice

    def forward(self, x):
        y = torch.relu(self.proj(x))
        return y * 2 if self.twice else y


class Stack(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_four_identical_blocks_are_run_once_and_recorded_four_times():
    model = Stack([Block(16) for _ in range(4)]).to("meta")
    x = torch.empty(3, 16, device="meta")
    records, replayed = _captured(model, (x,), replay=True)
    reference, _ = _captured(model, (x,), replay=False)
    # each block: t (weight), addmm, relu = 3 ops; 4 blocks
    assert len(records) == 12
    assert _fields(records) == _fields(reference)
    # blocks 1-3 replayed (their Linear is inside the replayed call); block 0's Linear ran once
    assert replayed.replayed == 3
    assert [r.module for r in records[3:6]] == ["blocks.1.proj", "blocks.1.proj", "blocks.1"]


def test_a_block_that_differs_in_a_setting_is_run_not_replayed():
    model = Stack([Block(16), Block(16, twice=True), Block(16)]).to("meta")
    x = torch.empty(3, 16, device="meta")
    records, replayed = _captured(model, (x,), replay=True)
    reference, _ = _captured(model, (x,), replay=False)
    assert _fields(records) == _fields(reference)
    assert any(r.op == "aten.mul.Tensor" and r.module == "blocks.1" for r in records)
    # block 1 runs (its Linear is replayed from block 0's); block 2 is block 0 again
    assert replayed.replayed == 2


def test_other_shapes_or_a_non_tensor_argument_are_not_replayed():
    class Table:  # an object the key cannot describe (a KV cache, say)
        scale = 2.0

    class Scaled(nn.Module):
        def forward(self, x, table):
            return x * table.scale

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = Scaled(), Scaled(), nn.ReLU()

        def forward(self, x):
            table = Table()
            y = self.a(x, table) + self.b(x, table)
            return self.c(y) + self.c(y[:1])  # the second ReLU call has another shape

    x = torch.empty(4, 8, device="meta")
    records, replayed = _captured(Model(), (x,), replay=True)
    reference, _ = _captured(Model(), (x,), replay=False)
    assert _fields(records) == _fields(reference)
    assert replayed.calls == 4 and replayed.replayed == 0


def test_nothing_is_replayed_while_grad_is_on():
    model = Stack([Block(8) for _ in range(3)]).to("meta")
    x = torch.empty(2, 8, device="meta")
    with ModuleReplay(model) as replayed:
        records, _ = capture(model, (x,))
    reference, _ = capture(model, (x,))
    assert replayed.replayed == 0 and _fields(records) == _fields(reference)


def test_a_block_that_returns_its_input_returns_this_calls_input():
    class Keep(nn.Module):
        def forward(self, x, y):
            return x, y + 1

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = Keep(), Keep()

        def forward(self, x, y):
            x, y = self.first(x, y)
            x2, y = self.second(x * 3, y)
            return x2

    x, y = torch.empty(2, 4, device="meta"), torch.empty(2, 4, device="meta")
    records, replayed = _captured(Model(), (x, y), replay=True)
    reference, _ = _captured(Model(), (x, y), replay=False)
    assert replayed.replayed == 1
    assert _fields(records) == _fields(reference)


def test_patched_forwards_are_put_back():
    model = Stack([Block(4) for _ in range(2)])
    with ModuleReplay(model):
        assert "forward" in vars(model.blocks[0])
    assert all("forward" not in vars(m) for m in model.modules())


@pytest.mark.parametrize("name,options", [("llama-tiny", {"seq": 16}), ("gpt2", {"seq": 16}), ("bert-base", {"seq": 16}),
                                          ("vit-b16", {"image_size": 64})])
def test_symbolic_capture_of_zoo_models_is_the_same_with_replay(name, options):
    built = build(name, batch=2, meta=True, options=options)
    dims = [SizeDim(0, 0, "batch")] + ([SizeDim(0, 1, "seq")] if "seq" in options else [])
    with torch.no_grad():
        fast = symbolic_capture(built.model, built.inputs, dims)
        full = symbolic_capture(built.model, built.inputs, dims, replay=False)
    assert _fields(fast.records) == _fields(full.records)
    assert [str(c) for c in fast.conditions()] == [str(c) for c in full.conditions()]


def test_hugging_face_llama_is_the_same_with_replay():
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                      use_cache=False)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.zeros(2, 16, dtype=torch.long, device="meta")
    dims = [SizeDim(0, 0, "batch"), SizeDim(0, 1, "seq")]
    with torch.no_grad():
        fast = symbolic_capture(model, (ids,), dims)
        full = symbolic_capture(model, (ids,), dims, replay=False)
    assert _fields(fast.records) == _fields(full.records)
    assert [str(c) for c in fast.conditions()] == [str(c) for c in full.conditions()]
