"""BERT-base encoder (Devlin et al., "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", NAACL 2019), in the Hugging Face
``BertModel`` layout: word + position + token-type embeddings, LayerNorm, 12 post-norm
encoder layers (hidden 768, 12 heads, FFN 3072, GELU), and the tanh pooler over the
[CLS] token. 109,482,240 parameters with the pooler.

Inputs are a dict like Hugging Face's: ``{"input_ids", "attention_mask"}`` (and
optionally ``token_type_ids``), so call it as ``model(**inputs)``. The output is the
tuple ``(last_hidden_state, pooler_output)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import MLP, SelfAttention

__all__ = ["BertModel", "build_bert_base", "ZOO"]


class BertLayer(nn.Module):
    """Post-norm encoder layer: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, dim: int, heads: int, ffn: int, attention: str, eps: float):
        super().__init__()
        self.attention = SelfAttention(dim, heads, fused_qkv=False, attention=attention)
        self.attention_norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, ffn, activation="gelu")
        self.output_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attention_norm(x + self.attention(x, attn_mask))
        return self.output_norm(x + self.mlp(x))


class BertModel(nn.Module):
    def __init__(self, vocab: int = 30522, dim: int = 768, layers: int = 12,
                 heads: int = 12, ffn: int = 3072, max_positions: int = 512,
                 type_vocab: int = 2, attention: str = "sdpa", eps: float = 1e-12):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(max_positions, dim)
        self.token_type_embeddings = nn.Embedding(type_vocab, dim)
        self.embedding_norm = nn.LayerNorm(dim, eps=eps)
        self.layers = nn.ModuleList(BertLayer(dim, heads, ffn, attention, eps)
                                    for _ in range(layers))
        self.pooler = nn.Linear(dim, dim)
        self.pooler_act = nn.Tanh()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None):
        batch, seq = input_ids.shape
        positions = torch.arange(seq, device=input_ids.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
             + self.token_type_embeddings(token_type_ids))
        x = self.embedding_norm(x)
        mask = None
        if attention_mask is not None:
            # Hugging Face's extended mask: 0 where attended, a large negative elsewhere.
            keep = attention_mask[:, None, None, :].to(x.dtype)
            mask = (1.0 - keep) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask)
        pooled = self.pooler_act(self.pooler(x[:, 0]))
        return x, pooled


def build_bert_base(batch: int = 1, seq: int = 128, attention: str = "sdpa",
                    attention_mask: bool = True):
    """BERT-base (uncased) encoder with pooler, 109,482,240 parameters.

    Options: ``seq`` (tokens per sequence, default 128, at most 512),
    ``attention`` ("sdpa" fused, or "naive" matmul + softmax), ``attention_mask``
    (include an all-ones mask in the inputs, default True).
    Returns ``(model, {"input_ids": (batch, seq) int64, "attention_mask": ...})``.
    """
    if not 1 <= seq <= 512:
        raise ValueError(f"seq={seq}: BERT-base has 512 positions, expected 1..512")
    model = BertModel(attention=attention).eval()
    inputs = {"input_ids": torch.randint(0, 30522, (batch, seq))}
    if attention_mask:
        inputs["attention_mask"] = torch.ones(batch, seq, dtype=torch.int64)
    return model, inputs


ZOO = {"bert-base": build_bert_base}
