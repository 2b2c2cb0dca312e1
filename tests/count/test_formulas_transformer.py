"""Torch's transformer fast paths (_native_multi_head_attention,
_transformer_encoder_layer_fwd): recorded as eager runs them, on real and meta tensors,
and counted as the sum of the kernels they run (values worked out by hand below)."""

import copy

import pytest
import torch

import roofline
from roofline.measure import measure


def encoder_layer():
    torch.manual_seed(0)
    return torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True).eval()


def mha():
    torch.manual_seed(0)
    return torch.nn.MultiheadAttention(64, 4, batch_first=True).eval()


# Encoder layer, B=1, T=16, D=64, H=4 (head 16, a multiple of 8: fused attention), F=128,
# relu, fp32. FLOPs, kernel by kernel:
#   in-projection  2*16*64*192 + 16*192 bias = 396,288
#   attention      2*1*4*16*16*(16+16)       =  65,536
#   out-projection 2*16*64*64 + 16*64        = 132,096
#   residual add 1,024; layer norm 8*1,024 = 8,192
#   linear1        2*16*64*128 + 16*128      = 264,192
#   relu 2,048; linear2 2*16*128*64 + 16*64 = 263,168; add 1,024; layer norm 8,192
#   total 1,141,760
ENCODER_FLOPS = 1_141_760
# Bytes (4 each): reads in-proj (1,024 + 12,288 + 192)*4 = 54,016, attention q,k,v
# 3,072*4 = 12,288, out-proj (1,024 + 4,096 + 64)*4 = 20,736, add 8,192, norm
# (1,024 + 128)*4 = 4,608, linear1 (1,024 + 8,192 + 128)*4 = 37,376, relu 8,192, linear2
# (2,048 + 8,192 + 64)*4 = 41,216, add 8,192, norm 4,608: 199,424. Writes 12,288 (qkv),
# 4,096 + 256 (output, fp32 log-sum-exp), 4,096, 4,096, 4,224 (norm + mean/rstd),
# 8,192, 8,192, 4,096, 4,096, 4,224: 57,856.
ENCODER_BYTES = (199_424, 57_856)


@pytest.mark.parametrize("meta", [False, True])
def test_encoder_layer_is_the_fused_op_eager_runs_on_real_and_meta(meta):
    a = roofline.analyze(encoder_layer(), (torch.randn(1, 16, 64),), meta=meta, strict=True)
    assert list(a.ops["op"]) == ["aten._transformer_encoder_layer_fwd"]
    assert a.total_flops == ENCODER_FLOPS
    assert (a.ops["bytes_read"].sum(), a.ops["bytes_written"].sum()) == ENCODER_BYTES


def test_encoder_layer_fast_path_counts_the_flops_of_its_slow_path():
    layer, x = encoder_layer(), torch.randn(1, 16, 64)
    fast = roofline.analyze(layer, (x,))
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        slow = roofline.analyze(layer, (x,))
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    assert len(slow.ops) > 1 and slow.total_flops == fast.total_flops == ENCODER_FLOPS


@pytest.mark.parametrize("meta", [False, True])
def test_multi_head_attention_returning_weights_runs_the_math_path(meta):
    x = torch.randn(2, 16, 64)
    a = roofline.analyze(mha(), (x, x, x), meta=meta, strict=True)  # one tensor: self-attention
    assert list(a.ops["op"]) == ["aten._native_multi_head_attention"]
    # B=2, T=16, D=64, H=4 (head 16); need_weights (the default) takes the math path.
    # scores 2*4*16*16 = 2,048; q, k, v rows 2*48*64 = 6,144 elements.
    # projection 2*6,144*64 = 786,432; bias + q scale 6,144 + 2,048 = 8,192;
    # Q K^T 2*2,048*16 = 65,536; softmax 5*2,048 = 10,240; P V 65,536;
    # out-projection 2*32*64*64 + 32*64 = 264,192; weights summed over heads 2,048,
    # divided 2*16*16 = 512. Total 1,202,688.
    assert a.total_flops == 1_202_688


def test_validate_joins_the_fast_path_model_without_a_mismatch():
    layer, x = encoder_layer(), torch.randn(1, 16, 64)
    analysis = roofline.analyze(layer, (x,))
    measured = measure(layer, (x,), warmup=1, repeats=1, profiler_runs=0)
    comparison = analysis.compare(measured)  # raises on an op count or name mismatch
    assert len(comparison.ops) == 1


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype")
def test_padding_mask_runs_the_real_tokens_on_real_and_a_bound_on_meta():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).eval()
    x, pad = torch.randn(2, 16, 64), torch.zeros(2, 16, dtype=torch.bool)
    pad[0, 10:] = True  # the first sequence has 10 tokens, the second 16
    real = roofline.analyze(copy.deepcopy(encoder), (x, None, pad), strict=True)
    meta = roofline.analyze(copy.deepcopy(encoder), (x, None, pad), meta=True, strict=True)
    unpadded = roofline.analyze(copy.deepcopy(encoder), (x,), strict=True)
    # Real: the nested path runs 10 + 16 tokens; meta cannot read the mask and runs all
    # 2 x 16, masked: at least the unpadded count.
    assert "aten._nested_tensor_from_mask" in set(real.ops["op"])
    assert real.total_flops < unpadded.total_flops <= meta.total_flops
    assert encoder.use_nested_tensor  # turned off on meta only while it ran
