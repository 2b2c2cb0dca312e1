"""Every zoo model through roofline.analyze: real tensors at small size, meta tensors at
full size, no unsupported op, and FLOP totals against the published figures.

The published figures count conv and linear multiply-adds (and, for the transformers,
the attention matmuls), so they are compared with the GEMM + Conv categories. MACs are
FLOPs / 2.
"""

import pytest

import roofline
from roofline.targets import build_target, zoo
from tests.models.test_models_neurosymbolic import SMALL as NS_SMALL
from tests.models.test_models_zoo import SMALL as STANDARD_SMALL

SMALL = {**STANDARD_SMALL, **{name: options for name, (options, _) in NS_SMALL.items()}}


def test_every_zoo_model_has_small_options():
    assert set(zoo()) - {"llama-7b", "llama-70b"} == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_real_tensors_small_no_unsupported_op(name):
    options = dict(SMALL[name])
    model, inputs, label = build_target(name, options=options)
    analysis = roofline.analyze(model, inputs, hw="a100-sxm", name=label, strict=True)
    assert analysis.total_flops > 0 and analysis.predicted_s > 0
    assert analysis.unsupported.empty


@pytest.mark.parametrize("name", sorted(zoo()))
def test_meta_tensors_full_size_no_unsupported_op(name):
    model, inputs, label = build_target(name, meta=True)
    analysis = roofline.analyze(model, inputs, hw="h100-sxm", name=label, strict=True)
    assert analysis.unsupported.empty
    table = analysis.by_category()
    assert table.loc["Total", "predicted_s"] == pytest.approx(analysis.predicted_s)


def matrix_macs(name, **options):
    model, inputs, _ = build_target(name, meta=True, options=options)
    ops = roofline.analyze(model, inputs).ops
    return ops.loc[ops.category.isin(["GEMM", "Conv"]), "flops"].sum() / 2


@pytest.mark.parametrize(
    "name,published_gmacs",
    [("resnet50", 4.09), ("mobilenetv2", 0.30), ("resnext50", 4.23), ("vit-b16", 17.56), ("bert-base", 11.17)],
)
def test_published_macs_within_one_percent(name, published_gmacs):
    assert matrix_macs(name) / 1e9 == pytest.approx(published_gmacs, rel=0.01)


def test_gpt2_published_flops_count_attention_in_full():
    # The published 291.6 GFLOPs (1024 tokens, LM head included) counts the attention
    # matmuls over all 1024 x 1024 (query, key) pairs; roofline counts the causal work
    # actually done (1024 * 1025 / 2 pairs). Add back the skipped pairs, in closed form:
    # 12 layers x 12 heads x 2 matmuls x 2 FLOPs x 64 head dim x skipped pairs.
    skipped_pairs = 1024 * 1024 - 1024 * 1025 // 2
    skipped_flops = 12 * 12 * 2 * 2 * 64 * skipped_pairs
    ours = 2 * matrix_macs("gpt2")
    assert (ours + skipped_flops) / 1e9 == pytest.approx(291.6, rel=0.01)


def test_llama_7b_meta_at_2048_tokens():
    # 2 FLOPs per parameter per token for the matmul weights (6.74B params less the
    # 131M-parameter input embedding, which is a lookup), plus causal attention:
    # 32 layers x 32 heads x 2 matmuls x 2 x 128 head dim x 2048*2049/2 pairs.
    weights = 6_738_415_616 - 32000 * 4096
    attention = 32 * 32 * 2 * 2 * 128 * (2048 * 2049 // 2)
    ours = 2 * matrix_macs("llama-7b", seq=2048)
    assert ours == pytest.approx(2 * weights * 2048 + attention, rel=0.001)
