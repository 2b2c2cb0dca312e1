"""Prefill and decode steps captured from the model itself, with a real KV cache.

A step is one forward of ``new_tokens`` tokens per sequence over a cache that already
holds ``context`` tokens: prefill is (context 0, new_tokens = prompt), a decode step is
(context c, new_tokens 1). The cache is transformers' own Cache object holding one
PreallocatedKVLayer per layer: K and V tensors of shape
(batch, kv_heads, context + new_tokens, head_dim) on meta, allocated up front as a
static or paged cache is. Each layer's update writes only the new tokens (index_copy_,
as transformers' StaticCache does) and hands attention the filled part, so a decode
step's attention reads exactly ``context + 1`` cached tokens and writes one: what a
serving engine (vLLM's paged attention, TensorRT-LLM) moves, not the whole-cache copy
that DynamicCache's torch.cat would add each step.

Prefill computes the logits of the last position only (``logits_to_keep=1``, as
``generate`` does). Each captured op carries two extra columns: ``kv_read_bytes`` (the
K and V operands of a fused attention op: the cache read) and ``kv_write_bytes`` (the
bytes index_copy_ writes into the cache).
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from roofline.analysis import Analysis, analyze
from roofline.count.formulas.attention import SDPA_OPS, sdpa_arguments
from roofline.errors import RooflineError
from roofline.hardware import HardwareSpec
from roofline.tools.llm.models import LlmModel

__all__ = ["KV_WRITE_OPS", "PreallocatedKVLayer", "Step", "capture_step", "kv_cache"]

#: The op a PreallocatedKVLayer writes the cache with.
KV_WRITE_OPS = frozenset({"aten.index_copy_"})
_ATTENTION_OPS = frozenset(SDPA_OPS)


def _layer_base() -> type:
    """transformers' DynamicLayer (object without transformers: resolve_llm, which runs
    first, then says how to install it)."""
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return object
    return DynamicLayer


class PreallocatedKVLayer(_layer_base()):  # type: ignore[misc]
    """One layer's KV cache: K and V of shape (batch, kv_heads, capacity, head_dim),
    ``length`` tokens of it filled. ``update`` writes the new tokens in place and returns
    the filled part (batch, kv_heads, length, head_dim)."""

    def __init__(self, shape: tuple[int, int, int, int], length: int, dtype: torch.dtype, device: str = "meta"):
        super().__init__()
        self.keys = torch.empty(shape, dtype=dtype, device=device)
        self.values = torch.empty(shape, dtype=dtype, device=device)
        self.length = length
        self.device = torch.device(device)
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Write (batch, kv_heads, n, head_dim) new keys and values at positions
        length .. length+n-1; return the filled keys and values."""
        n = key_states.shape[-2]
        if self.length + n > self.keys.shape[-2]:
            raise RooflineError(f"KV cache of {self.keys.shape[-2]} tokens cannot take {self.length} + {n}")
        positions = torch.arange(self.length, self.length + n, device=self.device)
        self.keys.index_copy_(2, positions, key_states)
        self.values.index_copy_(2, positions, value_states)
        self.length += n
        return self.keys[:, :, : self.length], self.values[:, :, : self.length]

    def get_seq_length(self) -> int:
        """Tokens held (a Python int, so no meta value is read)."""
        return self.length

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        """(kv length, kv offset) the attention mask spans: held + new tokens."""
        return self.length + query_length, 0

    def get_max_length(self) -> int:
        """Capacity in tokens."""
        return self.keys.shape[-2]


def kv_cache(model: LlmModel, batch: int, context: int, new_tokens: int, dtype: torch.dtype):
    """A transformers Cache for ``batch`` sequences holding ``context`` tokens, room for
    ``new_tokens`` more, one PreallocatedKVLayer per layer, on meta."""
    from transformers.cache_utils import Cache

    shape = (batch, model.kv_heads, context + new_tokens, model.head_dim)
    return Cache(layers=[PreallocatedKVLayer(shape, context, dtype) for _ in range(model.layers)])


@dataclass(frozen=True)
class Step:
    """One captured forward: ``new_tokens`` per sequence over ``context`` cached tokens.

    analysis: the captured ops predicted on the spec they were captured with (its
    ``counted`` frame carries kv_read_bytes and kv_write_bytes). cache_bytes: the KV
    cache this step runs with, allocated (batch x (context + new_tokens) tokens), bytes.
    """

    phase: str  # "prefill" or "decode"
    batch: int
    context: int
    new_tokens: int
    analysis: Analysis
    cache_bytes: float

    @property
    def tokens(self) -> int:
        """Tokens processed in this step, over the batch."""
        return self.batch * self.new_tokens


def _forward_kwargs(module: torch.nn.Module, ids: torch.Tensor, cache) -> dict:
    """Keyword arguments of one cached forward: the cache under the name this
    transformers version takes, and last-position logits only where supported."""
    accepted = inspect.signature(module.forward).parameters
    kwargs = {"input_ids": ids, "use_cache": True}
    kwargs["cache" if "cache" in accepted else "past_key_values"] = cache
    if "logits_to_keep" in accepted:
        kwargs["logits_to_keep"] = 1
    return kwargs


def kv_columns(analysis: Analysis) -> pd.DataFrame:
    """The counted frame with kv_read_bytes (fused attention's K and V operands) and
    kv_write_bytes (index_copy_ writes into the cache) per op, in bytes."""
    read = np.zeros(len(analysis.records))
    written = np.zeros(len(analysis.records))
    for i, record in enumerate(analysis.records):
        if record.packet in _ATTENTION_OPS:
            _, k, v, _ = sdpa_arguments(record)
            read[i] = k.footprint_bytes + v.footprint_bytes
        elif record.packet in KV_WRITE_OPS and record.outputs:
            written[i] = analysis.counted["bytes_written"].iat[i]
    return analysis.counted.assign(kv_read_bytes=read, kv_write_bytes=written)


def capture_step(
    module: torch.nn.Module, model: LlmModel, batch: int, context: int, new_tokens: int, hw: HardwareSpec
) -> Step:
    """Capture one forward of ``new_tokens`` per sequence over a ``context``-token cache."""
    dtype = next(module.parameters()).dtype
    cache = kv_cache(model, batch, context, new_tokens, dtype)
    ids = torch.zeros((batch, new_tokens), dtype=torch.long, device="meta")
    phase = "prefill" if context == 0 else "decode"
    name = f"{model.name} {phase} batch {batch} context {context}"
    with torch.inference_mode(False), _quiet_deprecations():
        analysis = analyze(module, _forward_kwargs(module, ids, cache), hw=hw, name=name)
    analysis = replace(analysis, counted=kv_columns(analysis))
    cache_bytes = sum(2 * layer.keys.nelement() * layer.keys.element_size() for layer in cache.layers)
    return Step(phase, batch, context, new_tokens, analysis, float(cache_bytes))


@contextlib.contextmanager
def _quiet_deprecations():
    """transformers' FutureWarnings about argument names, silenced for one capture."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield
