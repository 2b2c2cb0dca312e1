"""roofline.capture.meta: attention on meta tensors records the fused op a real run records;
torch's transformer fast paths are taken as eager takes them (see also
tests/count/test_formulas_transformer.py)."""

import torch

from roofline.capture import capture
from roofline.count.registry import count


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


def test_attention_inside_another_torch_function_is_fused_on_meta_too():
    # nn.MultiheadAttention in training mode (no fast path) calls
    # F.multi_head_attention_forward, which calls scaled_dot_product_attention from
    # inside: the torch-function mode does not see that call, the patched attribute does.
    import torch.nn as nn

    attention = nn.MultiheadAttention(32, 4, batch_first=True)
    x = torch.randn(2, 8, 32)
    real, _ = capture(lambda m, t: m(t, t, t, need_weights=False), (attention, x))
    meta_model = attention.to("meta")
    meta, _ = capture(lambda m, t: m(t, t, t, need_weights=False), (meta_model, x.to("meta")))
    assert [r.packet for r in real] == [r.packet for r in meta]
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in {r.packet for r in meta}


def test_eager_paths_put_everything_back_even_when_the_model_raises():
    import pytest
    import torch.nn.functional as F
    from torch.utils import backend_registration

    from roofline.capture import EagerPaths

    before = (F.scaled_dot_product_attention, backend_registration._privateuse1_backend_name)
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True).eval()
    with pytest.raises((AssertionError, RuntimeError)):
        with EagerPaths():
            layer(torch.randn(1, 3, 7))  # wrong width: raises inside the fast-path module
    assert (F.scaled_dot_product_attention, backend_registration._privateuse1_backend_name) == before
    assert torch._C._len_torch_function_stack() == 0
