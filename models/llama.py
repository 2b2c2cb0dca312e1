"""Llama-style decoder (Touvron et al., "LLaMA: Open and Efficient Foundation Language
Models", 2023, and "Llama 2", 2023): pre-norm RMSNorm, rotary position embeddings
(rotate-half form), SwiGLU MLP (``down(silu(gate(x)) * up(x))``), grouped-query
attention (key/value heads repeated to the query heads), causal attention, no biases,
an untied LM head.

Configurations:

* ``llama-tiny``: dim 256, 4 layers, 8 heads (2 kv heads), FFN 688, vocab 32000,
  default seq 128. Small enough to run for real in tests.
* ``llama-7b``: dim 4096, 32 layers, 32 heads (MHA), FFN 11008, vocab 32000,
  default seq 2048. 6,738,415,616 parameters.
* ``llama-70b``: dim 8192, 80 layers, 64 heads with 8 kv heads (GQA), FFN 28672,
  vocab 32000, default seq 2048 (Llama 2 70B). 68,976,648,192 parameters.

Build the big ones on meta: ``with torch.device("meta"): build_llama_70b()``.
Input ``(input_ids,)``; output logits (batch, seq, vocab).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .common import attention, check_attention_mode

__all__ = ["LlamaConfig", "Llama", "CONFIGS", "build_llama", "build_llama_tiny",
           "build_llama_7b", "build_llama_70b", "ZOO"]


@dataclass(frozen=True)
class LlamaConfig:
    dim: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int = 32000
    default_seq: int = 2048
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0


CONFIGS = {
    "llama-tiny": LlamaConfig(dim=256, layers=4, heads=8, kv_heads=2, ffn=688,
                              default_seq=128),
    "llama-7b": LlamaConfig(dim=4096, layers=32, heads=32, kv_heads=32, ffn=11008,
                            norm_eps=1e-6),
    "llama-70b": LlamaConfig(dim=8192, layers=80, heads=64, kv_heads=8, ffn=28672),
}


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotary_tables(seq: int, head_dim: int, theta: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables of shape (seq, head_dim) for rotate-half RoPE."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device,
                                            dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig, mode: str):
        super().__init__()
        self.heads, self.kv_heads = cfg.heads, cfg.kv_heads
        self.head_dim = cfg.dim // cfg.heads
        self.mode = check_attention_mode(mode)
        self.q_proj = nn.Linear(cfg.dim, cfg.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.dim, cfg.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.dim, cfg.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.heads * self.head_dim, cfg.dim, bias=False)

    def _repeat_kv(self, x: torch.Tensor) -> torch.Tensor:
        """(B, kv_heads, S, D) -> (B, heads, S, D) by repeating each kv head."""
        groups = self.heads // self.kv_heads
        if groups == 1:
            return x
        b, h, s, d = x.shape
        return x[:, :, None].expand(b, h, groups, s, d).reshape(b, h * groups, s, d)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        k, v = self._repeat_kv(k), self._repeat_kv(v)
        ctx = attention(q, k, v, is_causal=True, mode=self.mode)
        return self.o_proj(ctx.transpose(1, 2).reshape(b, s, -1))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig, mode: str):
        super().__init__()
        self.input_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg, mode)
        self.post_attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = SwiGLU(cfg.dim, cfg.ffn)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.input_norm(x), cos, sin)
        return x + self.mlp(self.post_attention_norm(x))


class Llama(nn.Module):
    def __init__(self, cfg: LlamaConfig, attention: str = "sdpa"):
        super().__init__()
        if cfg.dim % cfg.heads or cfg.heads % cfg.kv_heads:
            raise ValueError(f"{cfg}: dim must divide by heads and heads by kv_heads")
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab, cfg.dim)
        self.layers = nn.ModuleList(DecoderLayer(cfg, attention) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        seq = input_ids.shape[1]
        cos, sin = rotary_tables(seq, self.cfg.dim // self.cfg.heads,
                                 self.cfg.rope_theta, input_ids.device)
        x = self.embed_tokens(input_ids)
        # Tables are built in fp32 for accuracy, then applied in the model's dtype (as
        # Hugging Face's Llama does), so bf16 attention stays bf16.
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))


def build_llama(config: str = "llama-tiny", batch: int = 1, seq: int | None = None,
                attention: str = "sdpa"):
    """Llama-style decoder, full causal forward (prefill).

    Options: ``config`` (one of ``CONFIGS``), ``seq`` (tokens; default 128 for
    llama-tiny, 2048 for llama-7b / llama-70b), ``attention`` ("sdpa" or "naive").
    Returns ``(model, (input_ids,))``.
    """
    if config not in CONFIGS:
        raise ValueError(f"config={config!r}: expected one of {sorted(CONFIGS)}")
    cfg = CONFIGS[config]
    seq = cfg.default_seq if seq is None else seq
    model = Llama(cfg, attention=attention).eval()
    return model, (torch.randint(0, cfg.vocab, (batch, seq)),)


def build_llama_tiny(batch: int = 1, seq: int | None = None, attention: str = "sdpa"):
    """Tiny Llama-style test config (dim 256, 4 layers, GQA 8/2 heads). See ``build_llama``."""
    return build_llama("llama-tiny", batch, seq, attention)


def build_llama_7b(batch: int = 1, seq: int | None = None, attention: str = "sdpa"):
    """LLaMA-7B shapes (Touvron et al. 2023), 6.74B parameters. See ``build_llama``."""
    return build_llama("llama-7b", batch, seq, attention)


def build_llama_70b(batch: int = 1, seq: int | None = None, attention: str = "sdpa"):
    """Llama-2-70B shapes (GQA, 8 kv heads), 68.98B parameters. See ``build_llama``."""
    return build_llama("llama-70b", batch, seq, attention)


ZOO = {"llama-tiny": build_llama_tiny, "llama-7b": build_llama_7b,
       "llama-70b": build_llama_70b}
