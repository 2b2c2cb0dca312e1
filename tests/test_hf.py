"""roofline.hf: Hugging Face models built offline from a config, analysed on meta tensors.

Skipped when transformers is not installed (it is the optional extra roofline[hf]).
GEMM FLOPs are checked against closed forms worked by hand from each architecture, and
against torch.utils.flop_counter.FlopCounterMode, which counts 2*m*n*k per product and
leaves out bias adds.
"""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from roofline import analyze  # noqa: E402
from roofline.cli import main  # noqa: E402
from roofline.errors import TargetError  # noqa: E402
from roofline.hf import KNOWN_MODELS, _TrivialMaskAnswers, build_hf, load_config  # noqa: E402
from roofline.targets import build_target  # noqa: E402


def gemm_flops(analysis) -> float:
    return float(analysis.ops.loc[analysis.ops["category"] == "GEMM", "flops"].sum())


def linear(tokens: int, fan_in: int, fan_out: int, bias: bool = True) -> int:
    """FLOPs of a Linear over ``tokens`` rows: 2*t*i*o multiply-adds, t*o bias adds."""
    return 2 * tokens * fan_in * fan_out + (tokens * fan_out if bias else 0)


TINY_BERT = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "vocab_size": 100,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 64,
}


def tiny_bert_gemm(batch: int, seq: int, layers: int = 2, hidden: int = 64, inter: int = 128) -> int:
    """BertModel: per layer Q, K, V, O projections, the two FFN linears and the two
    attention products (QK^T and PV: 2*b*s*s*h each); then the pooler on the first token."""
    t = batch * seq
    per_layer = 4 * linear(t, hidden, hidden) + linear(t, hidden, inter) + linear(t, inter, hidden)
    per_layer += 2 * (2 * batch * seq * seq * hidden)
    return layers * per_layer + linear(batch, hidden, hidden)


@pytest.fixture(scope="module")
def bert_base():
    model, inputs = build_hf("bert-base-uncased", batch=1, seq=128)
    return model, inputs, analyze(model, inputs, hw="h100-sxm")


def test_known_model_is_built_on_meta_tensors_with_its_published_config(bert_base):
    model, inputs, _ = bert_base
    assert type(model).__name__ == "BertForMaskedLM"
    assert all(p.is_meta for p in model.parameters())
    assert set(inputs) == {"input_ids"}
    assert inputs["input_ids"].shape == (1, 128) and inputs["input_ids"].dtype == torch.int64
    config = model.config
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.vocab_size) == (768, 12, 3072, 30522)
    assert not model.training


def test_bert_base_gemm_flops_match_the_closed_form_and_flop_counter(bert_base):
    model, inputs, a = bert_base
    assert a.unsupported.empty
    b, s, h, i, layers, vocab = 1, 128, 768, 3072, 12, 30522
    t = b * s
    per_layer = 4 * linear(t, h, h) + linear(t, h, i) + linear(t, i, h) + 2 * (2 * b * s * s * h)
    head = linear(t, h, h) + linear(t, h, vocab)  # MLM transform, then the decoder to the vocabulary
    expected = layers * per_layer + head
    assert gemm_flops(a) == expected
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**inputs)
    bias_adds = layers * (4 * t * h + t * i + t * h) + t * h + t * vocab
    assert counter.get_total_flops() == expected - bias_adds


def test_gpt2_with_seq_and_batch():
    b, s = 2, 64
    model, inputs = build_hf("openai-community/gpt2", batch=b, seq=s)  # the organisation is optional
    a = analyze(model, inputs)
    assert a.unsupported.empty
    h, layers, vocab = 768, 12, 50257
    t = b * s
    projections = layers * (linear(t, h, 3 * h) + linear(t, h, h) + linear(t, h, 4 * h) + linear(t, 4 * h, h))
    lm_head = linear(t, h, vocab, bias=False)  # tied to the token embedding, no bias
    gemm = a.ops[a.ops["category"] == "GEMM"]
    attention = gemm[gemm["op"].str.contains("scaled_dot_product")]
    assert len(attention) == layers  # one fused kernel per layer, as a real run records
    assert gemm["flops"].sum() - attention["flops"].sum() == projections + lm_head
    # causal: QK^T and PV only over the s(s+1)/2 (query, key) pairs the mask keeps,
    # 2 FLOPs per multiply-add, 12 heads of 64 for both products
    heads, head_dim = 12, 64
    assert attention["flops"].sum() == layers * 2 * b * heads * (s * (s + 1) // 2) * (2 * head_dim)


def test_config_overrides_and_a_tiny_llama_with_grouped_query_attention():
    hidden, heads, kv_heads, inter, layers, vocab = 64, 4, 2, 160, 2, 100
    b, s = 1, 16
    model, inputs = build_hf(
        "llama-2-7b-hf", batch=b, seq=s, hidden_size=hidden, num_attention_heads=heads,
        num_key_value_heads=kv_heads, intermediate_size=inter, num_hidden_layers=layers, vocab_size=vocab,
    )
    assert type(model).__name__ == "LlamaForCausalLM"
    _TrivialMaskAnswers.answered = 0
    a = analyze(model, inputs)
    assert a.unsupported.empty
    # the causal mask's "is every token attended?" question was answered, nothing else
    assert _TrivialMaskAnswers.answered >= 1
    t, d = b * s, hidden // heads
    per_layer = (
        linear(t, hidden, hidden, False)  # q
        + 2 * linear(t, hidden, kv_heads * d, False)  # k and v: fewer heads
        + linear(t, hidden, hidden, False)  # o
        + 2 * linear(t, hidden, inter, False)  # gate and up
        + linear(t, inter, hidden, False)  # down
    )
    gemm = a.ops[a.ops["category"] == "GEMM"]
    projections = gemm[gemm["op"] == "aten.mm"]["flops"].sum()
    assert projections == layers * per_layer + linear(t, hidden, vocab, False)
    # the same model on real tensors counts the same projections
    real_model, real_inputs = build_hf(
        "llama-2-7b-hf", batch=b, seq=s, meta=False, hidden_size=hidden, num_attention_heads=heads,
        num_key_value_heads=kv_heads, intermediate_size=inter, num_hidden_layers=layers, vocab_size=vocab,
    )
    assert not any(p.is_meta for p in real_model.parameters())
    real = analyze(real_model, real_inputs)
    assert real.ops.loc[real.ops["op"] == "aten.mm", "flops"].sum() == projections


def test_meta_value_reads_outside_mask_preparation_still_fail():
    flags = torch.ones(3, dtype=torch.bool, device="meta")
    with _TrivialMaskAnswers():
        with pytest.raises(RuntimeError, match="meta"):
            bool(flags.all())


def test_local_config_file_and_folder(tmp_path):
    folder = tmp_path / "tiny-bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY_BERT))
    for target in (str(folder / "config.json"), str(folder)):
        model, inputs = build_hf(target, batch=2, seq=16)
        assert type(model).__name__ == "BertModel" and model.config.hidden_size == 64
        a = analyze(model, inputs)
        assert a.unsupported.empty
        assert gemm_flops(a) == tiny_bert_gemm(2, 16)


def test_head_base_and_encoder_decoder_and_image_inputs():
    model, _ = build_hf("gpt2", seq=8, head="base", n_layer=1)
    assert type(model).__name__ == "GPT2Model"
    # eager attention: transformers' own QK^T and PV matmuls over the full (masked) 16 x 16
    model, inputs = build_hf("gpt2", seq=16, attn="eager", n_layer=1)
    eager = analyze(model, inputs).ops
    assert eager.loc[eager["op"] == "aten.bmm", "flops"].sum() == 2 * (2 * 1 * 16 * 16 * 768)
    model, inputs = build_hf("t5-small", batch=1, seq=8, num_layers=1, num_decoder_layers=1)
    assert set(inputs) == {"input_ids", "decoder_input_ids"}
    assert analyze(model, inputs).unsupported.empty
    model, inputs = build_hf("google/vit-base-patch16-224", batch=2, num_hidden_layers=1)
    assert inputs["pixel_values"].shape == (2, 3, 224, 224)
    a = analyze(model, inputs)
    assert a.unsupported.empty
    # the patch embedding: a 16x16 stride-16 conv, 3 -> 768 channels, over 14 x 14 patches
    conv = a.ops[a.ops["category"] == "Conv"]
    assert conv["flops"].sum() == 2 * 2 * 196 * 768 * (3 * 16 * 16) + 2 * 196 * 768


def test_every_known_model_id_has_a_config():
    for name, known in KNOWN_MODELS.items():
        config = load_config(name)
        assert type(config).__name__ == known.config_class
        assert config.architectures == [known.architecture]
        for key, value in known.overrides.items():
            # transformers 5 keeps rope_theta inside rope_parameters
            found = getattr(config, key, None)
            if found is None and key == "rope_theta":
                found = config.rope_parameters["rope_theta"]
            assert found == value, (name, key)


# --------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "target,options,message",
    [
        ("no-such-model-xyz", {}, "unknown model id and no such config file"),
        ("missing/config.json", {}, "no such file"),
        ("bert-base-uncased", {"hidden_sizes": 3}, "unknown option 'hidden_sizes'"),
        ("bert-base-uncased", {"seq": 1024}, "seq 1024 is longer than the 512 positions"),
        ("roberta-base", {"seq": 513}, "seq 513 is longer than the 512 positions"),
        ("bert-base-uncased", {"num_attention_heads": 5}, "building BertForMaskedLM failed: ValueError: The hidden size"),
        ("bert-base-uncased", {"seq": 0}, "seq: expected a positive integer"),
        ("bert-base-uncased", {"head": "BertForNothing"}, "has no class 'BertForNothing'"),
    ],
)
def test_bad_hf_targets(target, options, message):
    with pytest.raises(TargetError, match=message.replace("(", r"\(")):
        build_target(f"hf:{target}", options=options)


@pytest.mark.parametrize(
    "text,message",
    [
        ("{not json", "not valid JSON: line 1"),
        ("[1, 2]", "expected a JSON object"),
        ('{"hidden_size": 3}', "model_type: missing"),
        ('{"model_type": "no-such-type"}', "'no-such-type' is not known to transformers"),
    ],
)
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(TargetError, match=message):
        build_hf(str(path))


def test_folder_without_a_config(tmp_path):
    with pytest.raises(TargetError, match="no config.json in this folder"):
        build_hf(str(tmp_path))


# ------------------------------------------------------------------------ CLI


def test_cli_analyses_an_hf_target_with_seq_and_batch(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_BERT))
    out = tmp_path / "out.json"
    assert main(["analyze", f"hf:{config}", "--seq", "16", "--batch", "2", "--json", str(out)]) == 0
    assert f"hf:{config}" in capsys.readouterr().out
    document = json.loads(out.read_text())
    gemm = sum(row["flops"] for row in document["ops"] if row["category"] == "GEMM")
    assert gemm == tiny_bert_gemm(2, 16)


def test_cli_hf_errors_are_one_line(capsys):
    assert main(["analyze", "hf:no-such-model-xyz"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bert-base-uncased" in err  # lists the known ids
