"""Small building blocks shared by the standard-family zoo modules.

Everything here is plain ``torch.nn`` and runs on meta tensors (no ``.item()``, no
data-dependent shapes), so full-size models can be analysed without memory.

* :func:`attention` -- fused ``scaled_dot_product_attention`` or a naive
  matmul + softmax + matmul path, chosen by name.
* :class:`SelfAttention` -- multi-head self-attention with fused or separate QKV
  projections (BERT / ViT / GPT-2 layouts).
* :class:`MLP` -- two-layer feed-forward block.
* :func:`default_device` and :func:`seeded_randint` -- reproducible random index
  tensors that also work under ``with torch.device("meta")``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ATTENTION_MODES", "attention", "SelfAttention", "MLP",
           "default_device", "seeded_randint", "check_attention_mode"]

ATTENTION_MODES = ("sdpa", "naive")


def check_attention_mode(mode: str) -> str:
    if mode not in ATTENTION_MODES:
        raise ValueError(f"attention={mode!r}: expected one of {ATTENTION_MODES}")
    return mode


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              attn_mask: torch.Tensor | None = None, is_causal: bool = False,
              mode: str = "sdpa") -> torch.Tensor:
    """Scaled dot-product attention over (batch, heads, seq, head_dim) tensors.

    ``mode="sdpa"`` calls the fused ``F.scaled_dot_product_attention``;
    ``mode="naive"`` spells it out as matmul, softmax, matmul (what eager
    implementations such as the original BERT / GPT-2 code do). ``attn_mask`` is an
    additive float mask broadcastable to (batch, heads, q_len, k_len). ``is_causal``
    uses the top-left aligned causal mask, so it is only meant for q_len == k_len.
    """
    if mode == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                              is_causal=is_causal)
    if mode != "naive":
        check_attention_mode(mode)
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if attn_mask is not None:
        scores = scores + attn_mask
    if is_causal:
        lq, lk = q.shape[-2], k.shape[-2]
        future = torch.ones(lq, lk, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return torch.matmul(probs, v)


class SelfAttention(nn.Module):
    """Multi-head self-attention with an output projection.

    ``fused_qkv=True`` uses one (dim -> 3*dim) projection (GPT-2's ``c_attn``, ViT's
    ``qkv``); otherwise separate ``query``/``key``/``value`` projections (BERT). The
    parameter count is the same either way.
    """

    def __init__(self, dim: int, heads: int, fused_qkv: bool = False,
                 attention: str = "sdpa", bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.mode = check_attention_mode(attention)
        self.fused_qkv = fused_qkv
        if fused_qkv:
            self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        else:
            self.query = nn.Linear(dim, dim, bias=bias)
            self.key = nn.Linear(dim, dim, bias=bias)
            self.value = nn.Linear(dim, dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def project_qkv(self, x: torch.Tensor):
        """Return q, k, v as (batch, heads, seq, head_dim)."""
        if self.fused_qkv:
            q, k, v = self.qkv(x).split(self.dim, dim=-1)
        else:
            q, k, v = self.query(x), self.key(x), self.value(x)
        return self._split(q), self._split(k), self._split(v)

    def merge(self, ctx: torch.Tensor) -> torch.Tensor:
        b, _, s, _ = ctx.shape
        return self.out(ctx.transpose(1, 2).reshape(b, s, self.dim))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None,
                is_causal: bool = False) -> torch.Tensor:
        q, k, v = self.project_qkv(x)
        return self.merge(attention(q, k, v, attn_mask, is_causal, self.mode))


class MLP(nn.Module):
    """Linear -> activation -> Linear feed-forward block."""

    def __init__(self, dim: int, hidden: int, activation: str = "gelu"):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        if activation == "gelu":
            self.act = nn.GELU()
        elif activation == "gelu_tanh":
            self.act = nn.GELU(approximate="tanh")
        elif activation == "relu":
            self.act = nn.ReLU()
        else:
            raise ValueError(f"activation={activation!r}: expected gelu, gelu_tanh or relu")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def default_device() -> torch.device:
    """The device factory functions use right now (honours ``with torch.device(...)``)."""
    return torch.empty(()).device


def seeded_randint(low: int, high: int, size, seed: int = 0,
                   device: torch.device | None = None) -> torch.Tensor:
    """``torch.randint`` with a fixed seed, reproducible across calls.

    The numbers are drawn on the CPU with a private generator and moved to the target
    device (default: the current default device). On meta there are no numbers to
    draw, so a meta tensor of the right shape and dtype is returned.
    """
    device = default_device() if device is None else torch.device(device)
    if device.type == "meta":
        return torch.randint(low, high, size, device=device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randint(low, high, size, generator=gen, device="cpu").to(device)
