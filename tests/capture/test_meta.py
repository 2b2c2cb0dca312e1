"""roofline.capture.meta: attention on meta tensors records the fused op a real run records."""

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
