"""Which model an LLM-serving estimate runs: a transformers causal LM built from its
config on meta tensors (no weights), with the facts the serving model needs (layers,
heads, KV heads, head size, experts) read from that config.

Targets:

* ``hf:NAME`` or ``hf:path/to/config.json``: anything roofline.hf builds (its
  KNOWN_MODELS, a config file, the local Hugging Face cache), plus the serving models
  listed in SERVING_CONFIGS (Llama-2 13B/70B, Qwen2-7B, Mixtral-8x7B), whose published
  config.json values are kept here.
* the zoo's ``llama-tiny``, ``llama-7b``, ``llama-70b`` and ``gpt2``: the zoo's models have
  no KV cache, so their shapes are run through transformers' own LlamaForCausalLM /
  GPT2LMHeadModel, which has the same layers and the same parameter count (checked in
  tests/tools/test_llm.py).

Decoding needs the model's own KV-cache path, which only these causal LMs have; any
other target is a one-line error.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from roofline.errors import TargetError

__all__ = ["LlmModel", "SERVING_CONFIGS", "ZOO_ALIASES", "resolve_llm"]

#: Serving models roofline.hf does not know, as (model_type, architecture, config fields),
#: values from each checkpoint's config.json on the Hugging Face hub (rope_theta left out:
#: it changes no FLOP or byte).
SERVING_CONFIGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "llama-2-13b-hf": ("llama", "LlamaForCausalLM", {
        "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40, "num_attention_heads": 40,
        "num_key_value_heads": 40, "vocab_size": 32000, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}),
    "llama-2-70b-hf": ("llama", "LlamaForCausalLM", {
        "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64,
        "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}),
    "qwen2-7b": ("qwen2", "Qwen2ForCausalLM", {
        "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
        "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": False}),
    "mixtral-8x7b-v0.1": ("mixtral", "MixtralForCausalLM", {
        "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 32768,
        "num_local_experts": 8, "num_experts_per_tok": 2, "rms_norm_eps": 1e-5}),
}

#: Zoo names run through transformers: zoo name -> (roofline.hf model id, config overrides).
#: The llama shapes are those of roofline.models.llama.CONFIGS.
ZOO_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {"gpt2": ("gpt2", {})}

#: Model types whose positions come from a learned table: a context longer than the
#: table would run silently on meta tensors, so it is refused.
_LEARNED_POSITIONS = ("gpt2", "opt")


def _zoo_llama(name: str) -> tuple[str, dict[str, Any]]:
    """The transformers Llama config with the zoo's llama shapes (models/llama.py)."""
    from roofline.models.llama import CONFIGS

    cfg = CONFIGS[name]
    return "llama-2-7b-hf", {
        "hidden_size": cfg.dim, "num_hidden_layers": cfg.layers, "num_attention_heads": cfg.heads,
        "num_key_value_heads": cfg.kv_heads, "intermediate_size": cfg.ffn, "vocab_size": cfg.vocab,
        "rms_norm_eps": cfg.norm_eps,
    }


@dataclass(frozen=True)
class LlmModel:
    """A causal LM to serve: its name, its transformers config and the shape facts the
    serving model reads (counts, not bytes). experts is 0 for a dense model."""

    name: str
    config: Any
    source: str  # how it is built, in words
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    experts: int
    top_k: int
    max_positions: int | None
    learned_positions: bool

    def build(self, dtype: torch.dtype) -> torch.nn.Module:
        """The model on meta tensors in ``dtype`` (eval mode, sdpa attention)."""
        from roofline.hf import build_hf

        if self.experts and dtype != torch.bfloat16:
            raise TargetError(f"{self.name}: its experts run as grouped GEMMs, which PyTorch runs in bf16 only "
                              f"(give --dtype bf16)")

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "config.json"
            path.write_text(self.config.to_json_string(), encoding="utf-8")
            model, _ = build_hf(str(path), batch=1, seq=1, meta=True)
        if self.experts and hasattr(model, "set_experts_implementation"):
            # One grouped GEMM over the routed tokens: runs on meta tensors and does only
            # the routed experts' work (the eager loop asks which experts were hit).
            model.set_experts_implementation("grouped_mm")
        return model.to(dtype)

    def kv_bytes_per_token(self, bytes_per_element: float) -> float:
        """KV-cache bytes one token adds: 2 (K and V) x layers x kv_heads x head_dim x
        bytes per element."""
        return 2 * self.layers * self.kv_heads * self.head_dim * bytes_per_element


def _config_for(target: str) -> tuple[Any, str, str]:
    """(transformers config, display name, source) for a target."""
    from roofline import hf

    key = target.lower().replace("_", "-")
    if key in ("llama-tiny", "llama-7b", "llama-70b"):
        base, overrides = _zoo_llama(key)
        config = hf.load_config(base, **overrides)
        return config, key, f"the zoo's {key} shapes run as transformers LlamaForCausalLM"
    if key in ZOO_ALIASES:
        base, overrides = ZOO_ALIASES[key]
        return hf.load_config(base, **overrides), key, f"the zoo's {key} run as transformers GPT2LMHeadModel"
    if not target.startswith("hf:"):
        raise TargetError(
            f"llm: {target!r} has no KV-cache decode path; give a Hugging Face causal LM (hf:NAME or "
            f"hf:path/to/config.json) or one of the zoo's llama-tiny, llama-7b, llama-70b, gpt2"
        )
    name = target[len("hf:"):]
    short = name.lower().rsplit("/", 1)[-1]
    if short in SERVING_CONFIGS and short not in hf.KNOWN_MODELS and not Path(name).exists():
        model_type, architecture, fields = SERVING_CONFIGS[short]
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

        config = CONFIG_MAPPING[model_type](**fields)
        config.architectures = [architecture]
        return config, target, f"transformers {architecture} from its published config"
    try:
        config = hf.load_config(name)
    except TargetError as exc:
        raise TargetError(f"{exc} (or, for llm, one of: {', '.join(sorted(SERVING_CONFIGS))})") from None
    architecture = (getattr(config, "architectures", None) or ["?"])[0]
    return config, target, f"transformers {architecture} from its config"


def resolve_llm(target: str) -> LlmModel:
    """The causal LM a target names (see the module docstring); TargetError otherwise."""
    config, name, source = _config_for(target)
    architecture = (getattr(config, "architectures", None) or [""])[0]
    if not architecture.endswith(("ForCausalLM", "LMHeadModel")):
        raise TargetError(f"llm: {name} is a {architecture or type(config).__name__}, not a causal LM (…ForCausalLM)")
    heads = int(config.num_attention_heads)
    hidden = int(config.hidden_size)
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    max_positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return LlmModel(
        name=name, config=config, source=source,
        layers=int(config.num_hidden_layers), hidden=hidden, heads=heads,
        kv_heads=int(getattr(config, "num_key_value_heads", None) or heads), head_dim=int(head_dim),
        vocab=int(config.vocab_size), experts=int(getattr(config, "num_local_experts", 0) or 0),
        top_k=int(getattr(config, "num_experts_per_tok", 0) or 0),
        max_positions=int(max_positions) if max_positions else None,
        learned_positions=getattr(config, "model_type", "") in _LEARNED_POSITIONS,
    )
