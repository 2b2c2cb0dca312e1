"""GPT-2 small (Radford et al., "Language Models are Unsupervised Multitask Learners",
2019; layout of OpenAI's released checkpoint / Hugging Face ``GPT2LMHeadModel``):
12 pre-norm decoder layers, hidden 768, 12 heads, FFN 3072 (tanh GELU), vocab 50257,
1024 learned positions, final LayerNorm and an LM head tied to the token embedding.
124,439,808 parameters.

Two workloads:

* ``gpt2``: prefill / full forward over ``seq`` tokens (default 1024) with causal
  attention. Input ``(input_ids,)``, output logits (batch, seq, 50257).
* ``gpt2-decode``: one new token per sequence attending to a KV cache of ``context``
  tokens (default 1023, so the new token is position 1023, the last one). Inputs
  ``(input_ids (batch, 1), kv_cache)`` with ``kv_cache`` of shape
  (layers, 2, batch, heads, context, head_dim). Output logits (batch, 1, 50257).
  ``cache="concat"`` (default) appends with ``torch.cat`` as Hugging Face's dynamic
  cache does (the whole cache is read and rewritten each step); ``cache="static"``
  passes a preallocated cache of length ``context + 1`` and writes the new key/value
  in place at position ``context`` (as static-cache / paged decoders do).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import MLP, SelfAttention, attention

__all__ = ["GPT2", "build_gpt2", "build_gpt2_decode", "ZOO"]

VOCAB, POSITIONS, DIM, LAYERS, HEADS = 50257, 1024, 768, 12, 12


class GPT2Block(nn.Module):
    """Pre-norm block: x += Attn(LN(x)); x += MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, attention: str):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = SelfAttention(dim, heads, fused_qkv=True, attention=attention)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = MLP(dim, 4 * dim, activation="gelu_tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), is_causal=True)
        return x + self.mlp(self.ln_2(x))

    def forward_decode(self, x: torch.Tensor, past: torch.Tensor, cache: str,
                       position: int) -> torch.Tensor:
        """One decode step. ``past`` is (2, batch, heads, length, head_dim)."""
        q, k, v = self.attn.project_qkv(self.ln_1(x))
        if cache == "concat":
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        else:  # static: write the new entry in place, attend over positions 0..position
            past[0, :, :, position:position + 1].copy_(k)
            past[1, :, :, position:position + 1].copy_(v)
            k, v = past[0, :, :, :position + 1], past[1, :, :, :position + 1]
        # A single query attends to every cached key: no causal mask is needed.
        ctx = attention(q, k, v, mode=self.attn.mode)
        x = x + self.attn.merge(ctx)
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, vocab: int = VOCAB, positions: int = POSITIONS, dim: int = DIM,
                 layers: int = LAYERS, heads: int = HEADS, attention: str = "sdpa"):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(positions, dim)
        self.blocks = nn.ModuleList(GPT2Block(dim, heads, attention) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim, eps=1e-5)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def embed(self, input_ids: torch.Tensor, start: int) -> torch.Tensor:
        seq = input_ids.shape[1]
        positions = torch.arange(start, start + seq, device=input_ids.device).unsqueeze(0)
        return self.wte(input_ids) + self.wpe(positions)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids, 0)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class GPT2Decode(nn.Module):
    """GPT-2 decode step over an external KV cache (shares the weights of a ``GPT2``)."""

    def __init__(self, gpt2: GPT2, cache: str = "concat"):
        super().__init__()
        if cache not in ("concat", "static"):
            raise ValueError(f"cache={cache!r}: expected 'concat' or 'static'")
        self.gpt2, self.cache = gpt2, cache

    def forward(self, input_ids: torch.Tensor, kv_cache: torch.Tensor) -> torch.Tensor:
        length = kv_cache.shape[4]
        position = length if self.cache == "concat" else length - 1
        x = self.gpt2.embed(input_ids, position)
        for i, block in enumerate(self.gpt2.blocks):
            x = block.forward_decode(x, kv_cache[i], self.cache, position)
        return self.gpt2.lm_head(self.gpt2.ln_f(x))


def build_gpt2(batch: int = 1, seq: int = 1024, attention: str = "sdpa"):
    """GPT-2 small, full causal forward (prefill) over ``seq`` tokens.

    Options: ``seq`` (default 1024, at most 1024), ``attention`` ("sdpa" or "naive").
    Returns ``(model, (input_ids,))``; the model returns logits (batch, seq, 50257).
    """
    if not 1 <= seq <= POSITIONS:
        raise ValueError(f"seq={seq}: GPT-2 has {POSITIONS} positions, expected 1..{POSITIONS}")
    model = GPT2(attention=attention).eval()
    return model, (torch.randint(0, VOCAB, (batch, seq)),)


def build_gpt2_decode(batch: int = 1, context: int = 1023, attention: str = "sdpa",
                      cache: str = "concat"):
    """GPT-2 small, one decode step: one new token per sequence, KV cache of ``context``.

    Options: ``context`` (cached tokens, default 1023, at most 1023), ``attention``
    ("sdpa" or "naive"), ``cache`` ("concat": HF-style ``torch.cat`` on a cache of
    length ``context``; "static": preallocated cache of length ``context + 1`` updated
    in place). Returns ``(model, (input_ids, kv_cache))``.
    """
    if not 0 <= context <= POSITIONS - 1:
        raise ValueError(f"context={context}: expected 0..{POSITIONS - 1}")
    model = GPT2Decode(GPT2(attention=attention), cache=cache).eval()
    length = context if cache == "concat" else context + 1
    kv_cache = torch.randn(LAYERS, 2, batch, HEADS, length, DIM // HEADS)
    return model, (torch.randint(0, VOCAB, (batch, 1)), kv_cache)


ZOO = {"gpt2": build_gpt2, "gpt2-decode": build_gpt2_decode}
