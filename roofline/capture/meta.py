"""Meta tensors record what a real run records: fused attention routed to its fused kernel.

On meta tensors PyTorch has no device to choose a kernel for, so a few composite ops
fall back to a path no real run takes. FusedAttentionOnMeta puts
scaled_dot_product_attention back on the fused kernel, so its FLOPs and bytes are the
ones being predicted.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["FusedAttentionOnMeta"]


class FusedAttentionOnMeta(torch.overrides.TorchFunctionMode):
    """Route scaled_dot_product_attention on meta tensors to the fused kernel.

    On real CPU and GPU tensors PyTorch picks a fused kernel (flash, memory-efficient,
    cuDNN or CPU flash) for the common cases. On meta tensors it has no device to pick
    for and falls back to the math path: separate matmuls over a materialised score
    matrix, with the causal mask applied as data, so the FLOPs and bytes would not be
    those of the run being predicted. Calling the CPU flash kernel, whose meta
    implementation exists and takes the same arguments (grouped-query included),
    records the one fused op a real run records.
    """

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:  # noqa: D105
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention:
            fused = _fused_meta_attention(*args, **kwargs)
            if fused is not None:
                return fused
        return func(*args, **kwargs)


def _fused_meta_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor | None:
    """The fused CPU-flash call for attention on 4-d meta tensors; None where the caller
    should run torch's own path (real tensors, other ranks, or an invalid combination)."""
    if not (isinstance(query, torch.Tensor) and query.device.type == "meta" and query.dim() == 4):
        return None
    if is_causal and attn_mask is not None:
        return None  # torch rejects this combination: let it say so
    out, _ = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale
    )
    return out
