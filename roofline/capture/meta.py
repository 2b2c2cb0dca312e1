"""Captures record what eager runs: fused attention and torch's transformer fast paths
taken as a real run takes them, on real and meta tensors alike.

Two run-time choices of PyTorch would otherwise differ between a capture and eager:

- scaled_dot_product_attention on meta tensors: PyTorch has no device to choose a
  kernel for and falls back to the math path (separate matmuls over a materialised
  score matrix). FusedAttentionOnMeta puts it back on the fused kernel.
- the fast paths of nn.MultiheadAttention, nn.TransformerEncoderLayer and
  nn.TransformerEncoder in inference (one ``_native_multi_head_attention`` or
  ``_transformer_encoder_layer_fwd`` op): torch takes them only when no torch-function
  mode is active (``torch.overrides.has_torch_function``) and the tensors are on cpu,
  cuda, xpu or the privateuse1 backend. FusedAttentionOnMeta is a torch-function mode,
  so it would block them on real tensors, and meta is not in that list, so meta would
  count the unfused slow path where a real run counts one fused op.

EagerPaths, which every capture enters, makes both choices as eager does: it routes
attention on meta tensors to the fused kernel (the torch-function mode, plus
torch.nn.functional's own attribute for calls the mode cannot see, made from inside
another overridable function such as F.multi_head_attention_forward); it steps the mode
aside while one of those modules runs, so torch's own fast-path test decides; and it
names meta as the privateuse1 backend (when no real one is registered) so that test
treats meta as the device it stands in for. One difference stays: with a padding mask,
nn.TransformerEncoder turns its input into a nested tensor of the real tokens, which
needs the mask's values; on meta its nested path is turned off while it runs, so it
runs the padded tokens (a bound).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils import backend_registration

__all__ = ["EagerPaths", "FusedAttentionOnMeta"]

#: torch's own attention function (F.scaled_dot_product_attention is patched in EagerPaths).
_SDPA = F.scaled_dot_product_attention
#: Modules whose forward tests for torch's fused inference fast path.
_FAST_PATH_MODULES = (torch.nn.MultiheadAttention, torch.nn.TransformerEncoderLayer, torch.nn.TransformerEncoder)
#: The privateuse1 name while no such backend is registered.
_NO_PRIVATEUSE1 = "privateuseone"


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
        if func is _SDPA:
            return routed_attention(*args, **kwargs)
        return func(*args, **kwargs)


def routed_attention(*args: Any, **kwargs: Any) -> Any:
    """scaled_dot_product_attention, on the fused kernel for meta tensors."""
    fused = _fused_meta_attention(*args, **kwargs)
    return fused if fused is not None else _SDPA(*args, **kwargs)


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
    should run torch's own path (real or nested tensors, other ranks, or an invalid
    combination)."""
    if not (isinstance(query, torch.Tensor) and query.device.type == "meta" and query.dim() == 4) or query.is_nested:
        return None
    if is_causal and attn_mask is not None:
        return None  # torch rejects this combination: let it say so
    out, _ = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale
    )
    return out


class EagerPaths:
    """Context entered around every capture: attention and the transformer fast paths
    decided as eager decides them (see the module docstring). Re-entrant use is not
    supported; enter one per capture."""

    def __init__(self) -> None:
        self._mode = FusedAttentionOnMeta()
        self._depth = 0  # fast-path modules running, nested
        self._stepped_aside = False
        self._unnested: list[torch.nn.Module] = []  # encoders whose nested path is off on meta
        self._saved: tuple[Any, str] | None = None
        self._handles: list[Any] = []

    def _pre(self, module: torch.nn.Module, args: Any) -> None:
        if not isinstance(module, _FAST_PATH_MODULES):
            return
        self._depth += 1
        if _pads_on_meta(module, args):
            module.use_nested_tensor = False  # put back by _post
            self._unnested.append(module)
        if self._depth == 1 and _top_function_mode() is self._mode:
            torch._C._pop_torch_function_stack()  # torch's fast-path test must see no mode
            self._stepped_aside = True

    def _post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if not isinstance(module, _FAST_PATH_MODULES) or self._depth == 0:
            return
        self._depth -= 1
        if self._unnested and self._unnested[-1] is module:
            self._unnested.pop().use_nested_tensor = True
        if self._depth == 0 and self._stepped_aside:
            torch._C._push_on_torch_function_stack(self._mode)
            self._stepped_aside = False

    def __enter__(self) -> "EagerPaths":
        self._saved = (F.scaled_dot_product_attention, backend_registration._privateuse1_backend_name)
        F.scaled_dot_product_attention = routed_attention
        if backend_registration._privateuse1_backend_name == _NO_PRIVATEUSE1:
            backend_registration._privateuse1_backend_name = "meta"
        hooks = torch.nn.modules.module
        self._handles = [
            hooks.register_module_forward_pre_hook(self._pre),
            hooks.register_module_forward_hook(self._post, always_call=True),
        ]
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._stepped_aside:  # a fast-path module raised before its post hook ran
                torch._C._push_on_torch_function_stack(self._mode)
                self._stepped_aside = False
            self._mode.__exit__(*exc)
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles = []
            F.scaled_dot_product_attention, backend_registration._privateuse1_backend_name = self._saved
            while self._unnested:  # an encoder raised before its post hook ran
                self._unnested.pop().use_nested_tensor = True
            self._depth = 0


def _top_function_mode() -> Any:
    """The innermost torch-function mode, or None."""
    depth = torch._C._len_torch_function_stack()
    return torch._C._get_function_stack_at(depth - 1) if depth else None


def _pads_on_meta(module: torch.nn.Module, args: Any) -> bool:
    """True for an nn.TransformerEncoder that would turn meta tensors into a nested tensor:
    that needs the padding mask's values, which meta tensors do not have (torch has no
    meta kernel for it), so its nested path is turned off while it runs and it takes its
    padded path (its layers still take theirs)."""
    if not isinstance(module, torch.nn.TransformerEncoder) or not getattr(module, "use_nested_tensor", False):
        return False
    src = args[0] if args else None
    return isinstance(src, torch.Tensor) and src.device.type == "meta"
