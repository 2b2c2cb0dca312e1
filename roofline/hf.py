"""Hugging Face transformers models as analysis targets, built offline from a config.

    roofline analyze hf:bert-base-uncased --seq 128 --batch 1
    roofline analyze hf:path/to/config.json --seq 512        # or a folder holding one
    roofline analyze hf:gpt2 -o n_layer=2 -o meta=false      # config overrides, real tensors

    model, inputs = roofline.hf.build_hf("gpt2", batch=1, seq=128)
    roofline.analyze(model, inputs, hw="h100-sxm")

Nothing is downloaded and no weights are loaded: a known model id maps to its config
class with the hyper-parameters of the published checkpoint (KNOWN_MODELS), a path
names a local config.json, and any other id is looked up in the local Hugging Face
cache only. The model is built from the config on meta tensors by default, so even a
7B model costs nothing to build; ``meta=False`` builds it on real tensors instead
(random weights, for a measured run).

Needs the optional extra: ``pip install roofline[hf]``.

Meta tensors hold no values, and transformers' mask preparation asks a few questions of
the mask's values ("is every token attended to?", "are sequences packed?") to pick the
fast path. The example inputs built here have no padding and one sequence per row, so
the answer is always "yes, trivial": while the model runs, such questions asked from
transformers.masking_utils on a meta bool tensor are answered True (what a real run on
these inputs answers), and any other read of a meta tensor's value still fails.

Attention: transformers' default "sdpa" implementation calls PyTorch's
scaled_dot_product_attention, which roofline.capture records as one fused kernel on
meta tensors too (causal attention counting only the pairs the mask keeps);
``attn="eager"`` gives transformers' own matmul + softmax attention instead.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from roofline.errors import TargetError

__all__ = ["KNOWN_MODELS", "KnownModel", "build_hf", "known_model_ids", "load_config"]


@dataclass(frozen=True)
class KnownModel:
    """A published checkpoint described by its config class and the hyper-parameters
    that differ from that class's defaults (as in the checkpoint's config.json)."""

    config_class: str
    architecture: str
    overrides: dict[str, Any] = field(default_factory=dict)


#: Model id (lower case, without the organisation) -> its config. Values follow each
#: checkpoint's config.json on the Hugging Face hub.
KNOWN_MODELS: dict[str, KnownModel] = {
    "bert-base-uncased": KnownModel("BertConfig", "BertForMaskedLM"),
    "bert-base-cased": KnownModel("BertConfig", "BertForMaskedLM", {"vocab_size": 28996}),
    "bert-large-uncased": KnownModel(
        "BertConfig",
        "BertForMaskedLM",
        {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
    ),
    "distilbert-base-uncased": KnownModel("DistilBertConfig", "DistilBertForMaskedLM"),
    "roberta-base": KnownModel(
        "RobertaConfig",
        "RobertaForMaskedLM",
        {"vocab_size": 50265, "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1,
         "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5},
    ),
    "roberta-large": KnownModel(
        "RobertaConfig",
        "RobertaForMaskedLM",
        {"vocab_size": 50265, "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1,
         "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5, "hidden_size": 1024,
         "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
    ),
    "gpt2": KnownModel("GPT2Config", "GPT2LMHeadModel"),
    "distilgpt2": KnownModel("GPT2Config", "GPT2LMHeadModel", {"n_layer": 6}),
    "gpt2-medium": KnownModel("GPT2Config", "GPT2LMHeadModel", {"n_embd": 1024, "n_layer": 24, "n_head": 16}),
    "gpt2-large": KnownModel("GPT2Config", "GPT2LMHeadModel", {"n_embd": 1280, "n_layer": 36, "n_head": 20}),
    "gpt2-xl": KnownModel("GPT2Config", "GPT2LMHeadModel", {"n_embd": 1600, "n_layer": 48, "n_head": 25}),
    "opt-125m": KnownModel("OPTConfig", "OPTForCausalLM"),
    "t5-small": KnownModel("T5Config", "T5ForConditionalGeneration"),
    "t5-base": KnownModel(
        "T5Config", "T5ForConditionalGeneration", {"d_model": 768, "d_ff": 3072, "num_layers": 12, "num_heads": 12}
    ),
    "vit-base-patch16-224": KnownModel("ViTConfig", "ViTForImageClassification", {"num_labels": 1000}),
    "llama-2-7b-hf": KnownModel(
        "LlamaConfig", "LlamaForCausalLM", {"max_position_embeddings": 4096, "rms_norm_eps": 1e-5}
    ),
    "meta-llama-3-8b": KnownModel(
        "LlamaConfig",
        "LlamaForCausalLM",
        {"vocab_size": 128256, "intermediate_size": 14336, "num_key_value_heads": 8,
         "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-5},
    ),
    "mistral-7b-v0.1": KnownModel("MistralConfig", "MistralForCausalLM"),
}

#: Options build_hf takes itself; any other option must be an attribute of the config.
_OWN_OPTIONS = ("batch", "seq", "head", "attn", "meta", "seed")


def known_model_ids() -> list[str]:
    """The model ids build_hf knows without a config file (organisation prefix optional)."""
    return sorted(KNOWN_MODELS)


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise TargetError(
            "hf: targets need the transformers package: pip install 'roofline[hf]'"
        ) from None
    return transformers


def _config_from_file(path: Path, where: str, overrides: dict[str, Any]) -> Any:
    transformers = _transformers()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"{where}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise TargetError(f"{where}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise TargetError(f"{where}: expected a JSON object (a Hugging Face config), got {type(data).__name__}")
    model_type = data.get("model_type")
    if not isinstance(model_type, str):
        raise TargetError(f"{where}: model_type: missing (expected the transformers model type, e.g. \"bert\")")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        raise TargetError(
            f"{where}: model_type: {model_type!r} is not known to transformers {transformers.__version__}"
        )
    try:
        return CONFIG_MAPPING[model_type].from_dict({**data, **overrides})
    except Exception as exc:
        raise TargetError(f"{where}: not a valid {model_type} config: {type(exc).__name__}: {exc}") from exc


def load_config(name_or_path: str, **overrides: Any) -> Any:
    """A transformers config for a known model id, a config.json path (or a folder
    holding one), or a model id in the local Hugging Face cache. Never downloads.

    overrides: config fields to change. They are given to the config's constructor, so
    fields derived from them (head_dim from hidden_size) follow; each must be a field
    the config has (TargetError otherwise, naming it)."""
    transformers = _transformers()
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
        if not path.is_file():
            raise TargetError(f"hf:{name_or_path}: no config.json in this folder")
    if path.is_file():
        _check_overrides(_config_from_file(path, f"hf:{name_or_path}", {}), overrides, name_or_path)
        return _config_from_file(path, f"hf:{name_or_path}", overrides)
    if name_or_path.endswith(".json"):
        raise TargetError(f"hf:{name_or_path}: no such file")
    key = name_or_path.lower().rsplit("/", 1)[-1]
    known = KNOWN_MODELS.get(key)
    if known is not None:
        config_class = getattr(transformers, known.config_class, None)
        if config_class is None:
            raise TargetError(
                f"hf:{name_or_path}: transformers {transformers.__version__} has no {known.config_class}"
            )
        _check_overrides(config_class(**known.overrides), overrides, name_or_path)
        try:
            config = config_class(**{**known.overrides, **overrides})
        except Exception as exc:  # e.g. a hidden size the heads do not divide
            raise TargetError(f"hf:{name_or_path}: invalid config: {type(exc).__name__}: {exc}") from exc
        config.architectures = [known.architecture]
        return config
    try:  # a model id whose config is already in the local cache (offline: no download)
        cached = transformers.AutoConfig.from_pretrained(name_or_path, local_files_only=True)
    except Exception:
        cached = None
    if cached is not None:
        _check_overrides(cached, overrides, name_or_path)
        return type(cached).from_dict({**cached.to_dict(), **overrides})
    raise TargetError(
        f"hf:{name_or_path}: unknown model id and no such config file; give the path of a config.json "
        f"(nothing is downloaded) or one of: {', '.join(known_model_ids())}"
    )


def _check_overrides(config: Any, overrides: dict[str, Any], name_or_path: str) -> None:
    for key in overrides:
        if not hasattr(config, key):
            raise TargetError(
                f"hf:{name_or_path}: unknown option {key!r}: not one of {', '.join(_OWN_OPTIONS)} "
                f"and not a field of {type(config).__name__}"
            )


def _model_class(config: Any, head: str, where: str) -> Any:
    """The class to build: the config's first architecture (head="auto"), the bare
    model (head="base") or a named transformers class."""
    transformers = _transformers()
    if head == "base" or (head == "auto" and not getattr(config, "architectures", None)):
        return transformers.AutoModel
    name = config.architectures[0] if head == "auto" else head
    cls = getattr(transformers, name, None)
    if cls is None:
        raise TargetError(f"{where}: head: transformers {transformers.__version__} has no class {name!r}")
    return cls


def _example_inputs(model: Any, config: Any, batch: int, seq: int, device: Any, seed: int, where: str) -> dict:
    """Inputs for one forward pass: token ids (batch, seq) with no padding, or images
    (batch, channels, size, size); encoder-decoders get decoder ids of the same length."""
    name = getattr(model, "main_input_name", "input_ids")
    generator = torch.Generator().manual_seed(seed)
    if name == "input_ids":
        vocab = int(getattr(config, "vocab_size", 2) or 2)
        ids = torch.randint(0, vocab, (batch, seq), generator=generator).to(device)
        inputs = {"input_ids": ids}
        if getattr(config, "is_encoder_decoder", False):
            inputs["decoder_input_ids"] = ids.clone()
        return inputs
    if name == "pixel_values":
        size = getattr(config, "image_size", 224)
        size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        channels = getattr(config, "num_channels", 3)
        return {"pixel_values": torch.randn((batch, channels, *size), generator=generator).to(device)}
    raise TargetError(f"{where}: its main input {name!r} is not supported (supported: input_ids, pixel_values)")


class _TrivialMaskAnswers(TorchDispatchMode):
    """Answers True when transformers' mask preparation reads a meta bool tensor.

    Only reads made from transformers.masking_utils are answered (their questions are
    "is the mask all ones / the sequence unpacked?", true for the inputs built here);
    every other read of a meta tensor's value fails as usual. ``answered`` counts them.
    """

    answered = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if (
            func is torch.ops.aten._local_scalar_dense.default
            and args
            and isinstance(args[0], torch.Tensor)
            and args[0].is_meta
            and args[0].dtype == torch.bool
            and _called_from(_MASK_MODULES)
        ):
            type(self).answered += 1
            return True
        return func(*args, **kwargs)


#: Where transformers decides whether a mask can be skipped (masking_utils since 4.53,
#: modeling_attn_mask_utils before).
_MASK_MODULES = ("transformers.masking_utils", "transformers.modeling_attn_mask_utils")


def _called_from(module_names: tuple[str, ...]) -> bool:
    """True when a frame of one of these modules is on the Python call stack."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") in module_names:
            return True
        frame = frame.f_back
    return False


def _fake_is_eager(is_tracing: Any) -> Any:
    """transformers' is_tracing, answering False for a fake tensor when nothing else
    traces: a symbolic capture (roofline.capture.symbolic) runs the model on fake
    tensors to record what eager runs, and eager skips the causal mask of unpadded
    inputs where a trace would build it."""
    from torch._subclasses.fake_tensor import is_fake

    def eager_is_tracing(tensor: Any = None) -> bool:
        if tensor is not None and is_fake(tensor) and not is_tracing(None):
            return False
        return is_tracing(tensor)

    return eager_is_tracing


def _install_mask_answers(model: torch.nn.Module) -> None:
    """Run every forward of ``model`` under _TrivialMaskAnswers (through its own hooks,
    so the model stays a plain transformers model with its own module names)."""
    modes: list[_TrivialMaskAnswers] = []
    saved: list[tuple[Any, Any]] = []

    def enter(module: Any, args: Any, kwargs: Any) -> None:
        mode = _TrivialMaskAnswers()
        mode.__enter__()
        modes.append(mode)
        masking = sys.modules.get("transformers.masking_utils")
        original = getattr(masking, "is_tracing", None)
        saved.append((masking, original))
        if original is not None:
            masking.is_tracing = _fake_is_eager(original)

    def leave(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        if modes:
            modes.pop().__exit__(None, None, None)
        if saved:
            masking, original = saved.pop()
            if original is not None:
                masking.is_tracing = original

    model.register_forward_pre_hook(enter, with_kwargs=True)
    model.register_forward_hook(leave, with_kwargs=True, always_call=True)


def build_hf(
    name_or_path: str,
    batch: int = 1,
    seq: int = 128,
    head: str = "auto",
    attn: str = "sdpa",
    meta: bool = True,
    seed: int = 0,
    **config_overrides: Any,
) -> tuple[torch.nn.Module, dict]:
    """A transformers model and example inputs, from a config alone (no weights).

    name_or_path: a model id in KNOWN_MODELS (with or without its organisation, e.g.
    "bert-base-uncased", "meta-llama/Llama-2-7b-hf"), a config.json path or a folder
    holding one, or a model id already in the local Hugging Face cache.
    batch, seq: input shape (token ids (batch, seq); image models ignore seq).
    head: "auto" (the config's architecture, e.g. GPT2LMHeadModel), "base" (the bare
    model) or a transformers class name.
    attn: attention implementation ("sdpa" or "eager").
    meta: build on meta tensors (no memory, any size); False builds real random weights.
    config_overrides: config attributes to change, e.g. num_hidden_layers=2.
    Returns (model in eval mode, inputs as a dict of keyword arguments).
    """
    where = f"hf:{name_or_path}"
    for label, value in (("batch", batch), ("seq", seq)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TargetError(f"{where}: {label}: expected a positive integer, got {value!r}")
    transformers = _transformers()
    config = load_config(name_or_path, **config_overrides)
    # A prefill/encoder pass: no KV cache returned (it would only add copies).
    config.use_cache = False
    # Learned position tables: a longer input fails with an index error deep inside on
    # real tensors and, worse, runs silently on meta tensors. RoBERTa's first two
    # positions are reserved for padding.
    learned = {"bert": 0, "distilbert": 0, "gpt2": 0, "opt": 0, "roberta": 2}
    max_positions = getattr(config, "max_position_embeddings", None)
    model_type = getattr(config, "model_type", "")
    if isinstance(max_positions, int) and model_type in learned and seq > max_positions - learned[model_type]:
        raise TargetError(
            f"{where}: seq {seq} is longer than the {max_positions - learned[model_type]} positions "
            f"its position table holds (max_position_embeddings {max_positions})"
        )
    cls = _model_class(config, head, where)
    context = torch.device("meta") if meta else nullcontext()
    try:
        with context:
            if cls is transformers.AutoModel:
                model = cls.from_config(config, attn_implementation=attn)
            else:  # what AutoModel.from_config calls for the class it picks
                model = cls._from_config(config, attn_implementation=attn)
    except TargetError:
        raise
    except Exception as exc:
        raise TargetError(f"{where}: building {cls.__name__} failed: {type(exc).__name__}: {exc}") from exc
    model.eval()
    device = torch.device("meta") if meta else torch.device("cpu")
    inputs = _example_inputs(model, config, batch, seq, device, seed, where)
    if meta:
        _install_mask_answers(model)
    return model, inputs
