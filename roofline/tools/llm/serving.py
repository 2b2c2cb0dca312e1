"""llm(): time to first token, time per output token, throughput and memory of serving
a causal LM, per batch size and per spec, from steps captured on the model itself.

Conventions (those of vLLM's benchmarks): a request of ``prompt`` tokens asks for
``generate`` output tokens. The prefill (one forward over batch x prompt tokens, writing
the KV cache) yields the first token: ttft_s is its time. Each of the other
generate - 1 tokens takes one decode step, one new token per sequence over a cache of
prompt, prompt + 1, ..., prompt + generate - 2 tokens; tpot_s is their mean, and
e2e_s = ttft_s + (generate - 1) x tpot_s. tokens_per_s is the output tokens of the batch
over e2e_s; decode_tokens_per_s is batch / tpot_s (steady-state decoding).

TPOT is averaged by capturing decode steps at the first, middle and last context and
integrating step time over the context with the trapezoid rule (a step's time is
affine in its context: the KV read grows by one token a step), or at every context
(``decode="each"``, and always when there are at most 3 steps).

Memory: weights_bytes (parameters and buffers, quantized GEMM weights at their stored
width), kv_bytes (the cache at its largest, batch x (prompt + generate - 1) tokens, as
allocated in the last decode step captured), activation_bytes (the largest working set
of one op, per device, times the devices). fits: their sum is at most the spec's DRAM
capacity x the tensor-parallel devices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from roofline.count.categories import GEMM
from roofline.dtypes import KEY_ITEMSIZE, dtype_key, parse_dtype
from roofline.errors import RooflineError
from roofline.hardware import HardwareSpec, load_hardware
from roofline.predict import COMPUTE_BOUND
from roofline.tools.llm.capture import Step, capture_step
from roofline.tools.llm.costing import KV_FORMATS, WEIGHT_FORMATS, Serving, StepTime, step_time
from roofline.tools.llm.models import LlmModel, resolve_llm

__all__ = ["DEFAULT_BATCHES", "LlmReport", "StepCache", "decode_contexts", "llm", "mean_over_contexts"]

DEFAULT_BATCHES = (1, 8, 64)
#: The largest batch the crossover search tries, sequences.
DEFAULT_MAX_BATCH = 4096
#: Columns of LlmReport.crossover.
CROSSOVER_COLUMNS = ("model", "spec", "dtype", "tp", "context", "crossover_batch", "step_crossover_batch",
                     "searched_up_to")


@dataclass
class LlmReport:
    """Serving estimates of one model, in one dtype, on one or more specs.

    table: one row per (spec, batch): model, spec, dtype, weights, kv, tp, batch,
    prompt, generate, ttft_s, tpot_s, e2e_s, tokens_per_s, decode_tokens_per_s,
    weights_bytes, kv_bytes, activation_bytes, memory_bytes, capacity_bytes, fits,
    prefill_bound, decode_bound, decode_compute_share, allreduce_s (per decode step),
    prefill_flops, decode_flops and decode_bytes (of the middle decode step, per device).
    crossover: one row per spec, for the decode step at the middle context:
    crossover_batch, the smallest batch at which its weight GEMMs turn compute-bound (they
    spend more time compute- than memory-bound), and step_crossover_batch, the smallest
    at which the whole step does (its element-wise ops and the attention's KV reads grow
    with the batch too, so it may never); <NA> when none up to searched_up_to.
    unsupported: ops with no formula in the captured steps (costed as overhead only).
    captures: the captured steps (a StepCache), to pass to another llm() call.
    """

    model: str
    source: str
    dtype: str
    weights: str | None
    kv: str | None
    prompt: int
    generate: int
    decode_method: str
    table: pd.DataFrame
    crossover: pd.DataFrame
    unsupported: list[str] = field(default_factory=list)
    captures: "StepCache | None" = field(default=None, repr=False, compare=False)

    @property
    def specs(self) -> list[str]:
        """The specs in the table, in order."""
        return list(dict.fromkeys(self.table["spec"]))

    def title(self) -> str:
        """One line naming the model, dtype, formats, specs and request shape."""
        formats = f"weights {self.weights or self.dtype}, KV {self.kv or self.dtype}"
        return (f"{self.model} in {self.dtype} ({formats}) on {', '.join(self.specs)}: "
                f"prompt {self.prompt}, generate {self.generate}")


def decode_contexts(prompt: int, generate: int, method: str) -> list[int]:
    """Cache lengths of the decode steps to capture: every one of prompt .. prompt +
    generate - 2 ("each", or when there are at most 3), else the first, middle and last."""
    first, last = prompt, prompt + generate - 2
    if method not in ("trapezoid", "each"):
        raise RooflineError(f"decode {method!r}: expected 'trapezoid' or 'each'")
    if method == "each" or last - first < 3:
        return list(range(first, last + 1))
    return [first, (first + last) // 2, last]


def mean_over_contexts(contexts: Sequence[int], seconds: Sequence[float]) -> float:
    """Mean step time over every context from the first to the last: the captured
    values when they are all the contexts, else the trapezoid integral over the span."""
    if len(contexts) == 1:
        return float(seconds[0])
    if contexts[-1] - contexts[0] + 1 == len(contexts):
        return float(np.mean(seconds))
    return float(np.trapezoid(seconds, contexts) / (contexts[-1] - contexts[0]))


class StepCache:
    """Captured steps of one model, by (batch, context, new tokens): each captured once
    and predicted on every spec (capture is the costly part; prediction is not)."""

    def __init__(self, model: LlmModel, dtype: torch.dtype, hw: HardwareSpec,
                 advance: Callable[..., None] = lambda *a, **k: None):
        self.model, self.hw, self.advance = model, hw, advance
        self.module = model.build(dtype)
        self.steps: dict[tuple[int, int, int], Step] = {}

    def get(self, batch: int, context: int, new_tokens: int) -> Step:
        """The step, captured on first use."""
        key = (batch, context, new_tokens)
        if key not in self.steps:
            phase = "prefill" if context == 0 else "decode"
            self.advance(1, f"{phase} batch {batch} context {context}")
            self.steps[key] = capture_step(self.module, self.model, batch, context, new_tokens, self.hw)
        return self.steps[key]


def _weights_bytes(step: Step, weights: str | None, dtype: str) -> float:
    """The model's parameter and buffer bytes, GEMM weights at the stored width."""
    resident = float(step.analysis.resident_bytes)
    if weights is None:
        return resident
    frame = step.analysis.counted
    gemm = (frame["category"] == GEMM) & (frame["param_bytes"].fillna(0) > 0)
    gemm_bytes = float(frame.loc[gemm, "param_bytes"].sum())
    return resident - gemm_bytes * (1 - WEIGHT_FORMATS[weights] / KEY_ITEMSIZE[dtype])


@dataclass(frozen=True)
class _Request:
    """What every row shares: the request shape, formats and decode contexts."""

    prompt: int
    generate: int
    dtype: str
    weights: str | None
    kv: str | None
    contexts: tuple[int, ...]
    op_overhead_s: float | None


def _row(cache: StepCache, hw: HardwareSpec, tp: int, batch: int, request: _Request) -> dict:
    """One table row: one spec, one batch."""
    serving = Serving(request.weights, request.kv, tp, request.op_overhead_s)
    model = cache.model
    prefill = cache.get(batch, 0, request.prompt)
    first = step_time(prefill, model, hw, serving, request.dtype)
    decodes = [step_time(cache.get(batch, c, 1), model, hw, serving, request.dtype) for c in request.contexts]
    middle = decodes[len(decodes) // 2]
    tpot = mean_over_contexts(request.contexts, [d.seconds for d in decodes])
    e2e = first.seconds + (request.generate - 1) * tpot
    kv_ratio = KV_FORMATS[request.kv] / KEY_ITEMSIZE[request.dtype] if request.kv else 1.0
    weights_bytes = _weights_bytes(prefill, request.weights, request.dtype)
    kv_bytes = cache.get(batch, request.contexts[-1], 1).cache_bytes * kv_ratio
    activation_bytes = max(first.activation_bytes, middle.activation_bytes) * tp
    memory = weights_bytes + kv_bytes + activation_bytes
    return {
        "model": model.name, "spec": hw.name, "dtype": request.dtype, "weights": request.weights or request.dtype,
        "kv": request.kv or request.dtype, "tp": tp, "batch": batch, "prompt": request.prompt,
        "generate": request.generate, "ttft_s": first.seconds, "tpot_s": tpot, "e2e_s": e2e,
        "tokens_per_s": batch * request.generate / e2e, "decode_tokens_per_s": batch / tpot,
        "weights_bytes": weights_bytes, "kv_bytes": kv_bytes, "activation_bytes": activation_bytes,
        "memory_bytes": memory, "capacity_bytes": hw.dram.capacity * tp, "fits": bool(memory <= hw.dram.capacity * tp),
        "prefill_bound": first.bound, "decode_bound": middle.bound, "decode_compute_share": middle.compute_share,
        "allreduce_s": middle.allreduce_s, "prefill_flops": float(first.analysis.total_flops),
        "decode_flops": float(middle.analysis.total_flops), "decode_bytes": float(middle.analysis.total_bytes),
    }


def weight_gemms_compute_bound(step: StepTime) -> bool:
    """True when the GEMMs that read weights spend more time compute-bound than not."""
    ops = step.analysis.ops
    weights = ops[(ops["category"] == GEMM) & (ops["param_bytes"].fillna(0) > 0)]
    compute = weights["bound"] == COMPUTE_BOUND
    return bool(weights.loc[compute, "predicted_s"].sum() > weights.loc[~compute, "predicted_s"].sum())


def step_compute_bound(step: StepTime) -> bool:
    """True when the whole step is compute-bound (its largest term)."""
    return step.bound == COMPUTE_BOUND


def find_crossover(cache: StepCache, hw: HardwareSpec, tp: int, request: _Request, max_batch: int,
                   test: Callable[[StepTime], bool]) -> int | None:
    """The smallest batch whose decode step at the middle context passes ``test``
    (weight_gemms_compute_bound or step_compute_bound): doubling from 1, then bisecting
    (assumes compute-boundness grows with the batch); None if it fails at ``max_batch``."""
    context = request.contexts[len(request.contexts) // 2]
    serving = Serving(request.weights, request.kv, tp, request.op_overhead_s)

    def passes(batch: int) -> bool:
        return test(step_time(cache.get(batch, context, 1), cache.model, hw, serving, request.dtype))

    low, high = 0, 1
    while not passes(high):
        if high >= max_batch:
            return None
        low, high = high, min(2 * high, max_batch)
    while high - low > 1:
        middle = (low + high) // 2
        if passes(middle):
            high = middle
        else:
            low = middle
    return high


def _crossover_row(cache: StepCache, spec: HardwareSpec, tp: int, request: _Request, max_batch: int) -> dict:
    """One crossover row: where the weight GEMMs, and where the whole step, turn compute-bound."""
    return {"model": cache.model.name, "spec": spec.name, "dtype": request.dtype, "tp": tp,
            "context": request.contexts[len(request.contexts) // 2],
            "crossover_batch": find_crossover(cache, spec, tp, request, max_batch, weight_gemms_compute_bound),
            "step_crossover_batch": find_crossover(cache, spec, tp, request, max_batch, step_compute_bound),
            "searched_up_to": max_batch}


def _captures(captures: StepCache | None, model: LlmModel, dtype: torch.dtype, hw: HardwareSpec,
              advance: Callable[..., None]) -> StepCache:
    """A new StepCache, or the one given when it holds the same model in the same dtype."""
    if captures is None:
        return StepCache(model, dtype, hw, advance)
    built = next(captures.module.parameters()).dtype
    if captures.model.name != model.name or built != dtype:
        raise RooflineError(f"captures: they hold {captures.model.name} in {built}, not {model.name} in {dtype}")
    captures.advance = advance
    return captures


def _check_request(model: LlmModel, prompt: int, generate: int, batches: Sequence[int]) -> None:
    """One-line errors for a request the model cannot serve."""
    for label, value, least in (("prompt", prompt, 1), ("generate", generate, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise RooflineError(f"{label} {value!r}: expected an integer >= {least}")
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batches):
        raise RooflineError(f"batch {list(batches)!r}: expected positive integers")
    longest = prompt + generate - 1
    if model.learned_positions and model.max_positions and longest > model.max_positions:
        raise RooflineError(f"{model.name}: prompt + generate - 1 = {longest} tokens is longer than the "
                            f"{model.max_positions} positions its position table holds")


def _unsupported(cache: StepCache) -> list[str]:
    """Ops with no formula in any captured step, with how many a step has."""
    found: dict[str, int] = {}
    for step in cache.steps.values():
        for row in step.analysis.unsupported.itertuples():
            found[row.op] = max(found.get(row.op, 0), int(row.count))
    return [f"{op} x{count}" for op, count in sorted(found.items())]


def llm(
    target: str,
    hw: str | HardwareSpec | Sequence[str | HardwareSpec] = "h100-sxm",
    *,
    dtype: str = "bf16",
    weights: str | None = None,
    kv: str | None = None,
    prompt: int = 512,
    generate: int = 128,
    batches: Sequence[int] = DEFAULT_BATCHES,
    tp: int | None = None,
    op_overhead_s: float | None = None,
    decode: str = "trapezoid",
    crossover: bool = True,
    max_batch: int = DEFAULT_MAX_BATCH,
    progress: bool = False,
    captures: StepCache | None = None,
) -> LlmReport:
    """Serving estimates of a causal LM (see the module docstring for the conventions).

    target: hf:NAME, hf:path/to/config.json, or the zoo's llama-tiny/llama-7b/llama-70b/gpt2.
    hw: a spec (name, YAML path or HardwareSpec) or several. dtype: compute dtype.
    weights: None, "int8", "int4" or "fp8"; kv: None, "int8" or "fp8" (stored formats).
    prompt, generate: tokens per request. batches: sequences served together.
    tp: tensor-parallel devices (default: every device of the spec).
    op_overhead_s: per-op launch overhead, s (None: the spec's, eager PyTorch).
    decode: "trapezoid" (3 decode captures) or "each" (one per output token).
    crossover: search each spec for the batch at which decode turns compute-bound.
    captures: the StepCache of an earlier report (``report.captures``) of the same target
    and dtype, whose captured steps are reused (only the serving setup differs).
    """
    from roofline._io import progress as progress_bar

    torch_dtype = parse_dtype(dtype)
    if torch_dtype is None:
        raise RooflineError("dtype: expected a compute dtype such as bf16")
    key = dtype_key(torch_dtype)
    Serving(weights, kv)  # a bad format fails before anything is built
    specs = [load_hardware(h) for h in ([hw] if isinstance(hw, (str, HardwareSpec)) else hw)]
    model = resolve_llm(target)
    _check_request(model, prompt, generate, batches)
    contexts = tuple(decode_contexts(prompt, generate, decode))
    request = _Request(prompt, generate, key, weights, kv, contexts, op_overhead_s)
    with progress_bar(progress, f"llm {model.name}", None) as advance:
        cache = _captures(captures, model, torch_dtype, specs[0], advance)
        rows, crossings = [], []
        for spec in specs:
            devices = tp or spec.devices
            rows += [_row(cache, spec, devices, batch, request) for batch in batches]
            if crossover:
                crossings.append(_crossover_row(cache, spec, devices, request, max_batch))
    method = ("every decode step captured" if len(contexts) == generate - 1
              else f"decode captured at contexts {', '.join(map(str, contexts))}, trapezoid mean")
    crossover_frame = pd.DataFrame(crossings, columns=list(CROSSOVER_COLUMNS))
    for column in ("crossover_batch", "step_crossover_batch"):
        crossover_frame[column] = crossover_frame[column].astype("Int64")
    return LlmReport(model.name, model.source, key, weights, kv, prompt, generate, method, pd.DataFrame(rows),
                     crossover_frame, _unsupported(cache), cache)
