"""What was analysed: the model, the dtype it computes in, its batch and sequence length
and its parameter count, as one small typed value (Workload) that travels with every
result (Analysis.workload, sweep rows, plan headers, figure titles).

    Workload("gpt2", "bf16", batch=8, seq=1024, params=124_439_808).describe()
    # 'gpt2 · bf16 · batch 8 · seq 1024 · 124M params'

A number the caller did not give and the model cannot tell (a batch size, a sequence
length) is None and left out of the description, never guessed.

Imports only the shared basics (dtypes); analysis, report and tools read it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from roofline.dtypes import dtype_key

__all__ = ["Workload", "count_params", "compute_dtype", "format_count"]


@dataclass(frozen=True)
class Workload:
    """The configuration an analysis ran: what a header, a title or a CSV row names."""

    model: str  # the target's name: a zoo name, file:function, hf:id, or the module's class
    dtype: str  # dtype key the model computes in ("fp32", "bf16", ...: roofline.dtypes)
    batch: int | None = None  # samples per step (None: not given, unknown)
    seq: int | None = None  # tokens per sample, for sequence models (None: none or unknown)
    params: int = 0  # parameter elements, each shared tensor once (0: none or unknown)

    def describe(self) -> str:
        """'gpt2 · bf16 · batch 8 · seq 1024 · 124M params': the fields that are known."""
        return " · ".join([self.model, *self.settings()])

    def settings(self) -> list[str]:
        """The known settings without the model's name: ['bf16', 'batch 8', ...]."""
        parts = [self.dtype]
        if self.batch is not None:
            parts.append(f"batch {self.batch}")
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.params:
            parts.append(f"{format_count(self.params)} params")
        return parts

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain values (for JSON documents and CSV rows)."""
        return {"model": self.model, "dtype": self.dtype, "batch": self.batch, "seq": self.seq, "params": self.params}


def format_count(n: float) -> str:
    """A count with a short suffix: 25557032 -> '25.6M', 6738415616 -> '6.74B', 950 -> '950'."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.0f}"


def count_params(model: Any) -> int:
    """Parameter elements of a torch module (a parameter shared by two layers counts once,
    as Module.parameters() yields it once); 0 for anything that is not a module."""
    model = getattr(model, "_orig_mod", model)  # a torch.compile'd module's original
    if not isinstance(model, torch.nn.Module):
        return 0
    return int(sum(p.numel() for p in model.parameters()))


def compute_dtype(model: Any, inputs: Any, cast: torch.dtype | None = None) -> str:
    """The dtype key the model computes in: the dtype it was cast to, else the floating
    dtype holding most parameter elements, else that of most floating input elements,
    else "fp32" (a model of integer ops runs at the fp32 vector rate)."""
    if cast is not None:
        return dtype_key(cast)
    model = getattr(model, "_orig_mod", model)
    tensors = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    if not any(t.is_floating_point() for t in tensors):
        tensors = [t for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)]
    weights: Counter[str] = Counter()
    for t in tensors:
        if t.is_floating_point():
            weights[dtype_key(t.dtype)] += t.numel()
    return weights.most_common(1)[0][0] if weights else "fp32"
