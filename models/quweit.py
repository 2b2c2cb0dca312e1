"""Quasi-weightless transformer block, after QuWeiT (Nag et al., "Shrinking the Giant:
Quasi-Weightless Transformers for Low Energy Inference", arXiv:2411.01818, 2024), which
replaces a transformer's MLP with lookup-table (LUT) layers in the style of
Differentiable Weightless Neural Networks (Bacellar et al., ICML 2024). Written from
the papers' description; the sizes below are this module's own choices.

Two zoo entries with the same attention so the MLP can be compared with its LUT
replacement:

* ``quweit-mlp``: pre-norm block, x += Attn(LN(x)); x += MLP(LN(x)) with a GELU MLP
  dim -> 4*dim -> dim.
* ``quweit``: the same block with the MLP replaced by :class:`LUTMLP`:

  1. thermometer encoding: each of the ``dim`` features is compared with ``levels``
     fixed thresholds (evenly spaced in [-2, 2], the range of LayerNorm outputs),
     giving ``dim * levels`` bits;
  2. hidden LUT layer: ``hidden_luts`` LUTs, each reading ``lut_inputs`` (n) bits
     chosen by a fixed random wiring; the n bits form an address into the LUT's
     2**n-entry table (all tables live in one ``nn.Embedding``); each entry is a
     learned value, binarised (> 0) to a bit for the next layer;
  3. output LUT layer: ``dim * luts_per_output`` LUTs over the hidden bits, their
     looked-up values summed in groups of ``luts_per_output`` to give ``dim`` outputs.

Default sizes (ViT-Tiny-like, as the paper's I-ViT-T experiments): dim 192, 3 heads,
seq 197 tokens. LUT-MLP: levels 8 (1,536 input bits), n = 6 (64-entry tables),
hidden_luts = 4*dim = 768, luts_per_output = 4 (768 output LUTs): 1,536 tables,
98,304 table entries, versus 295,872 weights in the dim->4dim->dim MLP. The forward
has no multiplications in the LUT-MLP apart from the address arithmetic.

Inputs ``(x,)`` with x of shape (batch, seq, dim); output the same shape.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import MLP, SelfAttention, seeded_randint

__all__ = ["Thermometer", "LUTLayer", "LUTMLP", "TransformerBlock",
           "build_quweit", "build_quweit_mlp", "ZOO"]


class Thermometer(nn.Module):
    """x (..., dim) -> bits (..., dim * levels): bit j of feature i is x_i > t_j."""

    def __init__(self, levels: int, low: float = -2.0, high: float = 2.0):
        super().__init__()
        self.register_buffer("thresholds", torch.linspace(low, high, levels + 2)[1:-1],
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(-1) > self.thresholds).flatten(-2)


class LUTLayer(nn.Module):
    """``luts`` lookup tables of 2**n learned values, each addressed by n input bits.

    ``wiring`` (luts, n) fixes which input bits feed each LUT (random, seeded). The
    address of LUT l is sum_i bit[wiring[l, i]] * 2**i; the value read is
    ``table.weight[l * 2**n + address]``. Returns values of shape (..., luts).
    """

    def __init__(self, in_bits: int, luts: int, n: int, seed: int):
        super().__init__()
        self.luts, self.n = luts, n
        self.register_buffer("wiring", seeded_randint(0, in_bits, (luts * n,), seed=seed),
                             persistent=False)
        self.register_buffer("powers", 2 ** torch.arange(n), persistent=False)
        self.register_buffer("base", torch.arange(luts) * 2 ** n, persistent=False)
        self.table = nn.Embedding(luts * 2 ** n, 1)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        picked = bits.index_select(-1, self.wiring)
        picked = picked.unflatten(-1, (self.luts, self.n)).to(torch.int64)
        address = (picked * self.powers).sum(-1) + self.base
        return self.table(address).squeeze(-1)


class LUTMLP(nn.Module):
    """Thermometer -> hidden LUT layer (binarised) -> output LUT layer -> group sum."""

    def __init__(self, dim: int, levels: int = 8, lut_inputs: int = 6,
                 hidden_luts: int | None = None, luts_per_output: int = 4, seed: int = 0):
        super().__init__()
        hidden_luts = 4 * dim if hidden_luts is None else hidden_luts
        self.dim, self.luts_per_output = dim, luts_per_output
        self.encode = Thermometer(levels)
        self.hidden = LUTLayer(dim * levels, hidden_luts, lut_inputs, seed)
        self.output = LUTLayer(hidden_luts, dim * luts_per_output, lut_inputs, seed + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden_bits = self.hidden(self.encode(x)) > 0
        values = self.output(hidden_bits)
        return values.unflatten(-1, (self.dim, self.luts_per_output)).sum(-1)


class TransformerBlock(nn.Module):
    """Pre-norm encoder block; ``mlp="lut"`` swaps the MLP for a :class:`LUTMLP`."""

    def __init__(self, dim: int = 192, heads: int = 3, mlp: str = "lut",
                 attention: str = "sdpa", **lut_options):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, fused_qkv=True, attention=attention)
        self.norm2 = nn.LayerNorm(dim)
        if mlp == "lut":
            self.mlp = LUTMLP(dim, **lut_options)
        elif mlp == "mlp":
            if lut_options:
                raise ValueError(f"LUT options {sorted(lut_options)} given with mlp='mlp'")
            self.mlp = MLP(dim, 4 * dim, activation="gelu")
        else:
            raise ValueError(f"mlp={mlp!r}: expected 'lut' or 'mlp'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def build_quweit(batch: int = 1, seq: int = 197, dim: int = 192, heads: int = 3,
                 attention: str = "sdpa", levels: int = 8, lut_inputs: int = 6,
                 hidden_luts: int | None = None, luts_per_output: int = 4, seed: int = 0):
    """Quasi-weightless block (QuWeiT-style, Nag et al. 2024): LUT layers for the MLP.

    Options: ``seq`` (197), ``dim`` (192), ``heads`` (3), ``attention`` ("sdpa" or
    "naive"), ``levels`` (thermometer bits per feature, 8), ``lut_inputs`` (address
    bits per LUT, 6), ``hidden_luts`` (default 4*dim), ``luts_per_output`` (4), ``seed``
    (LUT wiring). Returns ``(model, (x,))`` with x of shape (batch, seq, dim).
    """
    model = TransformerBlock(dim, heads, "lut", attention, levels=levels,
                             lut_inputs=lut_inputs, hidden_luts=hidden_luts,
                             luts_per_output=luts_per_output, seed=seed).eval()
    return model, (torch.randn(batch, seq, dim),)


def build_quweit_mlp(batch: int = 1, seq: int = 197, dim: int = 192, heads: int = 3,
                     attention: str = "sdpa"):
    """The same block as ``quweit`` with its standard GELU MLP (dim -> 4*dim -> dim).

    Options: ``seq`` (197), ``dim`` (192), ``heads`` (3), ``attention``.
    Returns ``(model, (x,))``.
    """
    model = TransformerBlock(dim, heads, "mlp", attention).eval()
    return model, (torch.randn(batch, seq, dim),)


ZOO = {"quweit": build_quweit, "quweit-mlp": build_quweit_mlp}
