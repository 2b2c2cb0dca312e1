"""ViT-B/16 (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021), in the
layout of the released ImageNet checkpoints: 16x16 patch embedding (a strided conv),
a class token, learned position embeddings for 197 tokens, 12 pre-norm encoder layers
(hidden 768, 12 heads, MLP 3072, GELU), final LayerNorm and a linear head on the class
token. 86,567,656 parameters with a 1000-class head, 224x224 input.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import MLP, SelfAttention

__all__ = ["VisionTransformer", "build_vit_b16", "ZOO"]


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, attention: str):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, fused_qkv=True, attention=attention)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, mlp_dim, activation="gelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, image_size: int = 224, patch: int = 16, dim: int = 768,
                 layers: int = 12, heads: int = 12, mlp_dim: int = 3072,
                 num_classes: int = 1000, attention: str = "sdpa"):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size={image_size} is not a multiple of patch={patch}")
        tokens = (image_size // patch) ** 2 + 1
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_dim, attention)
                                      for _ in range(layers)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, 196, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build_vit_b16(batch: int = 1, image_size: int = 224, num_classes: int = 1000,
                  attention: str = "sdpa"):
    """ViT-B/16: 12 layers, hidden 768, 12 heads, MLP 3072, patch 16.

    Options: ``image_size`` (default 224; a multiple of 16), ``num_classes`` (1000),
    ``attention`` ("sdpa" or "naive"). Returns ``(model, (images,))``.
    """
    model = VisionTransformer(image_size=image_size, num_classes=num_classes,
                              attention=attention).eval()
    return model, (torch.randn(batch, 3, image_size, image_size),)


ZOO = {"vit-b16": build_vit_b16}
