"""Tests for the standard-family workload zoo (models/resnet.py ... models/quweit.py).

Every zoo entry is built and run on real tensors at small options and on meta tensors
at full default size; parameter counts and FLOPs are checked against published
figures. FLOPs are counted with torch.utils.flop_counter.FlopCounterMode on meta
tensors (on meta, SDPA decomposes into bmm, which the counter sees; a multiply-add is
2 FLOPs, so MACs = FLOPs / 2).
"""

from __future__ import annotations

import importlib

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

MODULES = ("resnet", "mobilenetv2", "bert", "gpt2", "vit", "llama", "dlrm", "gcn", "quweit")


def _zoo() -> dict:
    zoo = {}
    for name in MODULES:
        module = importlib.import_module(f"roofline.models.{name}")
        for key, build in module.ZOO.items():
            assert key not in zoo, f"zoo name {key!r} defined twice"
            zoo[key] = build
    return zoo


ZOO = _zoo()

# Zoo name -> options small enough for a real-tensor forward on 2 CPU cores.
SMALL = {
    "resnet50": dict(batch=2, image_size=64),
    "resnext50": dict(batch=2, image_size=64),
    "mobilenetv2": dict(batch=2, image_size=64),
    "bert-base": dict(batch=2, seq=16),
    "gpt2": dict(batch=2, seq=16),
    "gpt2-decode": dict(batch=2, context=16),
    "vit-b16": dict(batch=2, image_size=64),
    "llama-tiny": dict(batch=2, seq=16),
    "dlrm": dict(batch=4, rows=1000, pooling=3),
    "gcn": dict(),
    "quweit": dict(batch=2, seq=16),
    "quweit-mlp": dict(batch=2, seq=16),
}
META_ONLY = {"llama-7b", "llama-70b"}

# Expected output shapes at full default size with batch=2 (tuple outputs: list).
FULL_SHAPES = {
    "resnet50": (2, 1000),
    "resnext50": (2, 1000),
    "mobilenetv2": (2, 1000),
    "bert-base": [(2, 128, 768), (2, 768)],
    "gpt2": (2, 1024, 50257),
    "gpt2-decode": (2, 1, 50257),
    "vit-b16": (2, 1000),
    "llama-tiny": (2, 128, 32000),
    "llama-7b": (2, 2048, 32000),
    "llama-70b": (2, 2048, 32000),
    "dlrm": (2, 1),
    "gcn": (2 * 2708, 7),
    "quweit": (2, 197, 192),
    "quweit-mlp": (2, 197, 192),
}


def _call(model, inputs):
    return model(**inputs) if isinstance(inputs, dict) else model(*inputs)


def _shapes(out):
    if isinstance(out, (tuple, list)):
        return [tuple(t.shape) for t in out]
    return tuple(out.shape)


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied weights counted once


def _meta_macs(name: str, **options) -> float:
    with torch.device("meta"):
        model, inputs = ZOO[name](**options)
        with FlopCounterMode(display=False) as counter:
            _call(model, inputs)
    return counter.get_total_flops() / 2


def test_zoo_names_and_contract():
    assert set(ZOO) == set(FULL_SHAPES)
    assert set(SMALL) | META_ONLY == set(ZOO)
    for name, build in ZOO.items():
        assert name == name.lower() and "_" not in name
        assert build.__doc__, f"{name}: build function has no docstring"
    for name in MODULES:
        assert importlib.import_module(f"roofline.models.{name}").__doc__


@pytest.mark.parametrize("name", sorted(SMALL))
def test_real_forward_small(name):
    torch.manual_seed(0)
    model, inputs = ZOO[name](**SMALL[name])
    assert not model.training
    with torch.no_grad():
        out = _call(model, inputs)
    expected = {
        "gcn": (2708, 7),
        "bert-base": [(2, 16, 768), (2, 768)],
        "gpt2": (2, 16, 50257),
        "gpt2-decode": (2, 1, 50257),
        "llama-tiny": (2, 16, 32000),
        "dlrm": (4, 1),
        "quweit": (2, 16, 192),
        "quweit-mlp": (2, 16, 192),
    }.get(name, (2, 1000))
    assert _shapes(out) == expected
    for t in out if isinstance(out, tuple) else (out,):
        assert torch.isfinite(t).all()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_meta_forward_full_size(name):
    with torch.device("meta"):
        model, inputs = ZOO[name](batch=2)
        out = _call(model, inputs)
    assert _shapes(out) == FULL_SHAPES[name]
    for t in out if isinstance(out, tuple) else (out,):
        assert t.device.type == "meta"


# Published parameter counts (torchvision / Hugging Face checkpoints, Llama papers).
PARAMS = {
    "resnet50": 25_557_032,
    "resnext50": 25_028_904,
    "mobilenetv2": 3_504_872,
    "bert-base": 109_482_240,  # BertModel with pooler
    "gpt2": 124_439_808,       # tied LM head
    "gpt2-decode": 124_439_808,
    "vit-b16": 86_567_656,     # with the 1000-class head
    "llama-7b": 6_738_415_616,
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts(name):
    with torch.device("meta"):
        model, _ = ZOO[name]()
    assert _params(model) == PARAMS[name]


def test_llama_70b_parameter_count():
    with torch.device("meta"):
        model, _ = ZOO["llama-70b"]()
    assert _params(model) == pytest.approx(68.98e9, rel=0.005)


def test_other_parameter_counts():
    from roofline.models.dlrm import MLPERF_TABLE_ROWS
    with torch.device("meta"):
        dlrm, _ = ZOO["dlrm"](config="mlperf")
        gcn, _ = ZOO["gcn"]()
        quweit, _ = ZOO["quweit"]()
    tables = sum(p.numel() for p in dlrm.embeddings.parameters())
    assert tables == 128 * sum(MLPERF_TABLE_ROWS)
    assert dlrm.top_mlp[0].in_features == 479  # 128 + 27*26/2
    assert _params(gcn) == 1433 * 16 + 16 + 16 * 7 + 7
    lut = quweit.mlp
    assert lut.hidden.table.weight.numel() + lut.output.table.weight.numel() == 98_304


# Published MACs (fvcore / ptflops-style: conv and linear multiply-adds).
# * CNNs: conv + linear MACs at 224x224.
# * ViT-B/16 17.56 G: patch-embedding conv + all linears + the two attention matmuls
#   (Q K^T and P V) over 197 tokens + head.
# * BERT-base 11.17 G at 128 tokens: encoder linears (10.87 G) + attention matmuls
#   (0.30 G) + pooler; embedding lookups and the mask are not MACs.
# * GPT-2 small 291.6 GFLOPs = 145.8 GMACs at 1024 tokens: linears (87.0 G) + tied LM
#   head (39.5 G) + attention matmuls counted in full, not halved for the causal mask
#   (19.3 G), as the published figure and FlopCounterMode both do.
PUBLISHED_MACS = {
    "resnet50": 4.09e9,
    "mobilenetv2": 0.30e9,
    "resnext50": 4.23e9,
    "vit-b16": 17.56e9,
    "bert-base": 11.17e9,
    "gpt2": 291.6e9 / 2,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_published_flops(name):
    assert _meta_macs(name) == pytest.approx(PUBLISHED_MACS[name], rel=0.01)


def test_llama_flops_closed_form():
    # 2 * params(non-embedding) * tokens + attention matmuls (full, 2 * 2 * S^2 * dim per
    # layer in FLOPs, i.e. 2 * S^2 * dim MACs).
    seq, dim, layers = 2048, 4096, 32
    linear_params = 6_738_415_616 - 32000 * 4096 - (2 * layers + 1) * dim
    expected = linear_params * seq + layers * 2 * seq * seq * dim
    assert _meta_macs("llama-7b") == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name,options", [
    ("bert-base", dict(batch=2, seq=12)),
    ("gpt2", dict(batch=2, seq=12)),
    ("vit-b16", dict(batch=1, image_size=48)),
    ("llama-tiny", dict(batch=2, seq=12)),
    ("quweit", dict(batch=2, seq=12)),
])
def test_naive_attention_matches_sdpa(name, options):
    torch.manual_seed(0)
    model, inputs = ZOO[name](**options)
    naive, _ = ZOO[name](attention="naive", **options)
    naive.load_state_dict(model.state_dict())
    if name == "quweit":  # non-persistent wiring buffers are seeded: already equal
        assert torch.equal(naive.mlp.hidden.wiring, model.mlp.hidden.wiring)
    with torch.no_grad():
        a, b = _call(model, inputs), _call(naive.eval(), inputs)
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


def test_gpt2_decode_matches_prefill():
    from roofline.models.gpt2 import GPT2Decode
    torch.manual_seed(0)
    model, (ids,) = ZOO["gpt2"](batch=2, seq=9)
    with torch.no_grad():
        full = model(ids)
        x, keys, values = model.embed(ids[:, :8], 0), [], []
        for block in model.blocks:
            _, k, v = block.attn.project_qkv(block.ln_1(x))
            keys.append(k)
            values.append(v)
            x = block(x)
        cache = torch.stack([torch.stack(kv) for kv in zip(keys, values)])
        concat = GPT2Decode(model, "concat")(ids[:, 8:], cache)
        static_cache = torch.cat((cache, torch.zeros_like(cache[:, :, :, :, :1])), dim=4)
        static = GPT2Decode(model, "static")(ids[:, 8:], static_cache)
    torch.testing.assert_close(concat[:, 0], full[:, -1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(static, concat, rtol=1e-5, atol=1e-5)


def test_gpt2_decode_static_cache_inputs():
    with torch.device("meta"):
        model, (ids, cache) = ZOO["gpt2-decode"](batch=3, context=100, cache="static")
        out = model(ids, cache)
    assert cache.shape == (12, 2, 3, 12, 101, 64)
    assert out.shape == (3, 1, 50257)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_gcn_sparse_matches_message_passing(layout):
    torch.manual_seed(0)
    model, (x, edge_index) = ZOO["gcn"]()
    sparse_model, (x2, adj) = ZOO["gcn"](sparse=True, layout=layout)
    sparse_model.load_state_dict(model.state_dict())
    assert adj.layout == (torch.sparse_coo if layout == "coo" else torch.sparse_csr)
    with torch.no_grad():
        torch.testing.assert_close(sparse_model(x, adj), model(x, edge_index),
                                   rtol=1e-4, atol=1e-5)


def test_gcn_edges_seeded_and_batched():
    _, (_, e1) = ZOO["gcn"]()
    _, (_, e2) = ZOO["gcn"]()
    assert e1.shape == (2, 10556) and torch.equal(e1, e2)
    _, (x, e3) = ZOO["gcn"](batch=2)
    assert x.shape == (2 * 2708, 1433)
    assert torch.equal(e3[:, :10556], e1) and torch.equal(e3[:, 10556:], e1 + 2708)
    with pytest.raises(ValueError, match="meta"), torch.device("meta"):
        ZOO["gcn"](sparse=True)


def test_dlrm_mlperf_on_meta_and_pooling():
    with torch.device("meta"):
        model, (dense, indices, offsets) = ZOO["dlrm"](batch=8, config="mlperf", pooling=4)
        out = model(dense, indices, offsets)
    assert out.shape == (8, 1)
    assert indices.shape == (26, 32) and offsets.shape == (26, 8)
    assert model.embeddings[0].num_embeddings == 39_884_406
    assert max(bag.num_embeddings for bag in model.embeddings) <= 40_000_000
