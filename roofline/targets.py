"""Resolve what the user asked to analyse: a zoo name or ``path/to/file.py[:function]``.

Every zoo module in roofline.models declares ``ZOO = {name: build}``, where
``build(batch=1, **options)`` returns (model, example_inputs). A file target's function
has the same contract; ``build`` is used when no function is named.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from roofline.errors import TargetError

Builder = Callable[..., tuple[Any, Any]]


def zoo() -> dict[str, Builder]:
    """Every zoo name mapped to its build function."""
    import roofline.models as package

    found: dict[str, Builder] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"roofline.models.{info.name}")
        for name, builder in getattr(module, "ZOO", {}).items():
            found[name] = builder
    return found


def zoo_names() -> list[str]:
    return sorted(zoo())


def _load_file_builder(target: str) -> tuple[Builder, str]:
    path_text, _, function = target.partition(":")
    if ":" in target and len(path_text) == 1:  # a Windows drive letter, not a function
        path_text, function = target, ""
    path = Path(path_text)
    if not path.is_file():
        raise TargetError(f"{path_text}: no such file")
    module_name = f"_roofline_target_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"{path_text}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # SystemExit: a script's sys.exit() at import
        raise TargetError(f"{path_text}: failed to import: {type(exc).__name__}: {exc}") from exc
    function = function or "build"
    builder = getattr(module, function, None)
    if builder is None or not callable(builder):
        raise TargetError(f"{path_text}: no function {function!r} (expected a function returning (model, example_inputs))")
    return builder, f"{path.stem}:{function}"


def resolve_builder(target: str) -> tuple[Builder, str]:
    """The build function for a target and a display name for it."""
    if target.startswith("hf:"):  # a Hugging Face model from its config (roofline.hf)
        model_id = target[len("hf:"):]
        if not model_id:
            raise TargetError("hf: expected hf:MODEL_ID or hf:path/to/config.json")
        from roofline.hf import build_hf

        return functools.partial(build_hf, model_id), target
    if target.endswith(".py") or ".py:" in target or Path(target).is_file():
        return _load_file_builder(target)
    builders = zoo()
    key = target.lower().replace("_", "-")
    if key in builders:
        return builders[key], key
    raise TargetError(f"unknown target {target!r}: not a file, and not a zoo model (known: {', '.join(sorted(builders))})")


@dataclass(frozen=True)
class BuiltTarget:
    """A built target and the sizes it was built at (what headers and rows name)."""

    model: Any
    inputs: Any
    name: str
    batch: int | None  # the batch given, else the build function's default (None: unknown)
    seq: int | None  # the seq given, else the build function's default, else the inputs' (None: no seq)


def _default(parameters: Mapping[str, inspect.Parameter], key: str) -> int | None:
    """A build function's integer default for ``key`` (None when it has none)."""
    parameter = parameters.get(key)
    default = parameter.default if parameter is not None else None
    return default if isinstance(default, int) and not isinstance(default, bool) else None


def _token_count(inputs: Any) -> int | None:
    """Tokens per sample of a sequence model's inputs: the second dimension of the first
    integer tensor (token ids), None when there is none."""
    from torch.utils._pytree import tree_flatten

    for leaf in tree_flatten(inputs)[0]:
        if isinstance(leaf, torch.Tensor) and leaf.dim() >= 2 and not leaf.is_floating_point():
            return int(leaf.shape[1])
    return None


def options_at(options: dict[str, Any] | None, seq: int | None) -> dict[str, Any]:
    """A sweep point's build options: a copy of ``options`` with ``seq`` set when given."""
    return {**(options or {}), **({"seq": seq} if seq is not None else {})}


def build(target: str, *, batch: int | None = None, meta: bool = False, options: dict[str, Any] | None = None) -> BuiltTarget:
    """Build a target (as build_target) and say at which batch and seq it was built: the
    values given, else the build function's defaults; a build function with a ``seq``
    option but no default for it (sized by its config) reports the inputs' token count."""
    builder, name = resolve_builder(target)
    try:
        parameters = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    model, inputs = _call_builder(builder, name, batch=batch, meta=meta, options=options)
    seq = (options or {}).get("seq")
    if seq is None and "seq" in parameters:
        seq = _default(parameters, "seq") or _token_count(inputs)
    return BuiltTarget(model, inputs, name, batch if batch is not None else _default(parameters, "batch"), seq)


def build_target(
    target: str, *, batch: int | None = None, meta: bool = False, options: dict[str, Any] | None = None
) -> tuple[Any, Any, str]:
    """Build (model, example_inputs, name) for a target.

    meta: build under torch.device("meta") so parameters and inputs hold no data (full
    size models cost nothing to build).
    """
    builder, name = resolve_builder(target)
    model, inputs = _call_builder(builder, name, batch=batch, meta=meta, options=options)
    return model, inputs, name


def _call_builder(builder: Builder, name: str, *, batch: int | None, meta: bool, options: dict[str, Any] | None) -> tuple[Any, Any]:
    """(model, example_inputs) from a build function, every failure a TargetError."""
    kwargs = dict(options or {})
    if batch is not None:
        kwargs["batch"] = batch
    try:
        accepted = inspect.signature(builder).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
            for key in kwargs:
                if key not in accepted:
                    takes = ", ".join(accepted) or "nothing"
                    raise TargetError(f"{name}: its build function takes no {key!r} option (it takes: {takes})")
    except (TypeError, ValueError):
        pass
    context = torch.device("meta") if meta else nullcontext()
    try:
        with context:
            built = builder(**kwargs)
    except TargetError:
        raise
    except SystemExit as exc:  # a build function calling sys.exit() must not end the caller's process
        raise TargetError(f"{name}: the build function called sys.exit({exc.code!r})") from exc
    except Exception as exc:
        raise TargetError(f"{name}: building the model failed: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(built, tuple) and len(built) == 2 and callable(built[0])):
        raise TargetError(f"{name}: the build function must return (model, example_inputs), got {type(built).__name__}")
    model, inputs = built
    return model, inputs
