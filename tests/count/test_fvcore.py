"""roofline/count/fvcore.py: analyze(counter="fvcore") against totals worked out here,
and roofline's counts against fvcore's (x2) on traceable models."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofline
from roofline.errors import RooflineError
from roofline.count.fvcore import FvcoreCount, cross_check, fvcore_count


class Mixed(nn.Module):
    """One of each: conv, linear, fused attention, embedding bag, softmax (no biases)."""

    def __init__(self):
        super().__init__()
        self.bag = nn.EmbeddingBag(1000, 16, mode="sum")
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.proj = nn.Linear(16, 16, bias=False)

    def forward(self, indices, offsets, image, tokens):
        pooled = self.bag(indices, offsets)
        q = self.proj(tokens).unsqueeze(1)  # (2, 1, 5, 16)
        attended = F.scaled_dot_product_attention(q, q, q)
        return self.conv(image), torch.softmax(attended, -1), pooled


def mixed_inputs():
    return (torch.randint(0, 1000, (10,)), torch.tensor([0, 4]), torch.randn(1, 3, 10, 10), torch.randn(2, 5, 16))


# By hand (FLOPs, a multiply-add = 2):
CONV = 2 * 8 * 3 * 9 * (8 * 8)  # K * C * R*S taps per output pixel, 8x8 outputs
LINEAR = 2 * (2 * 5) * 16 * 16  # 10 rows x (16 x 16)
ATTENTION = 2 * 2 * (2 * 1) * 5 * 5 * 16  # QK^T and PV over 2 batch x 1 head, L = S = 5, d = 16
BAG = 10 * 16  # one add per gathered element
SOFTMAX = 5 * (2 * 1 * 5 * 16)


def test_fvcore_total_by_hand_and_cross_check_agrees():
    analysis = roofline.analyze(Mixed().eval(), mixed_inputs(), hw="h100-sxm", counter="fvcore")
    assert isinstance(analysis.peer, FvcoreCount)
    assert analysis.peer_flops == CONV + LINEAR + ATTENTION + BAG + SOFTMAX
    assert analysis.peer.by_operator["conv"] == CONV
    assert analysis.peer.by_operator["linear"] == LINEAR
    assert analysis.peer.by_operator["scaled_dot_product_attention"] == ATTENTION
    table = cross_check(analysis)
    assert (table["ratio"] == 1.0).all(), table
    assert table.loc["Total", "roofline_flops"] == CONV + LINEAR + ATTENTION + BAG + SOFTMAX
    assert set(table.index) == {"Conv", "GEMM", "Embedding", "Norm/softmax", "Total"}


def test_fvcore_by_module_uses_roofline_module_names():
    analysis = roofline.analyze(Mixed().eval(), mixed_inputs(), hw="h100-sxm", counter="fvcore")
    modules = analysis.peer.by_module
    assert modules["conv"] == CONV and modules["proj"] == LINEAR and modules["bag"] == BAG
    assert modules[""] == analysis.peer_flops
    # The peer survives re-prediction on another spec.
    assert analysis.with_hw("a100-sxm").peer_flops == analysis.peer_flops


def test_bias_adds_are_the_only_gemm_and_conv_difference():
    # fvcore counts only the multiply-adds; roofline adds one FLOP per output element
    # for a bias.
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()
    x = torch.randn(3, 2, 8, 8)
    table = cross_check(roofline.analyze(model, (x,), hw="h100-sxm", counter="fvcore"))
    conv_outputs, linear_outputs = 3 * 4 * 6 * 6, 3 * 10
    assert table.loc["Conv", "roofline_flops"] - table.loc["Conv", "fvcore_flops"] == conv_outputs
    assert table.loc["GEMM", "roofline_flops"] - table.loc["GEMM", "fvcore_flops"] == linear_outputs


def test_grouped_depthwise_dilated_convs_and_batch_norm_agree_exactly():
    model = nn.Sequential(
        nn.Conv2d(4, 16, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=2, dilation=2, groups=4, bias=False),  # grouped + dilated
        nn.BatchNorm2d(32),
        nn.Conv2d(32, 32, 5, stride=2, groups=32, bias=False),  # depthwise + strided
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10, bias=False),
    ).eval()
    table = cross_check(roofline.analyze(model, (torch.randn(2, 4, 20, 20),), hw="h100-sxm", counter="fvcore"))
    assert table.loc["Conv", "ratio"] == 1.0
    assert table.loc["GEMM", "ratio"] == 1.0
    # Batch norm in inference: 2 MACs per element for fvcore, 4 FLOPs for roofline.
    assert table.loc["Norm/softmax", "ratio"] == 1.0


def test_vit_attention_handle_and_the_layer_norm_convention():
    from roofline.models.vit import build_vit_b16

    model, inputs = build_vit_b16(batch=1, image_size=32)
    analysis = roofline.analyze(model, inputs, hw="h100-sxm", counter="fvcore")
    tokens, heads, dim = 2 * 2 + 1, 12, 768
    assert analysis.peer.by_operator["scaled_dot_product_attention"] == 12 * 4 * heads * tokens * tokens * (dim // heads)
    table = cross_check(analysis)
    # fvcore counts 5 MACs (10 FLOPs) per element of an affine layer norm; roofline 8.
    norm_ops = analysis.ops[analysis.ops["op"] == "aten.native_layer_norm"]
    norm_elements = norm_ops["flops"].sum() / 8
    assert table.loc["Norm/softmax", "fvcore_flops"] == 10 * norm_elements
    gemm = table.loc["GEMM"]
    assert gemm["roofline_flops"] > gemm["fvcore_flops"]  # bias adds only
    assert gemm["ratio"] == pytest.approx(1.0, abs=2e-3)


def test_keyword_inputs_are_traced_through_a_wrapper():
    class Keywords(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(4, 3, bias=False)

        def forward(self, x=None, scale=None):
            return self.inner(x) * scale

    count = fvcore_count(Keywords(), {"x": torch.randn(2, 4), "scale": torch.randn(2, 3)})
    assert count.by_module["inner"] == 2 * 2 * 4 * 3
    assert "" in count.by_module.index and not any(name.startswith("model") for name in count.by_module.index)


def test_untraceable_models_raise_a_roofline_error():
    class ReturnsFloats(nn.Module):
        def forward(self, x):
            return x.tolist()  # Python numbers: nothing jit can trace as an output

    with pytest.raises(RooflineError, match="ReturnsFloats: fvcore cannot count this model"):
        roofline.analyze(ReturnsFloats(), (torch.randn(2),), hw="h100-sxm", counter="fvcore")
    with pytest.raises(RooflineError, match="needs an nn.Module"):
        fvcore_count(lambda x: x, (torch.randn(2),))
    conv = nn.Conv2d(1, 1, 3)
    with pytest.raises(RooflineError, match="meta=False"):
        roofline.analyze(conv, (torch.randn(1, 1, 5, 5),), hw="h100-sxm", meta=True, counter="fvcore")


def test_unknown_counter_and_missing_peer():
    x = torch.randn(2, 2)
    with pytest.raises(RooflineError, match="unknown counter"):
        roofline.analyze(nn.Identity(), (x,), counter="ptflops")
    plain = roofline.analyze(nn.Linear(2, 2), (x,), hw="h100-sxm")
    assert plain.peer is None and plain.peer_flops != plain.peer_flops  # NaN
    with pytest.raises(RooflineError, match="counter='fvcore'"):
        cross_check(plain)
