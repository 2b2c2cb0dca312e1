"""A small Hugging Face Llama run on this CPU: measured prefill and per-token decode time
beside the prediction of roofline.tools.llm on the calibrated CPU spec, with the error.

The model is transformers' LlamaForCausalLM built from a LlamaConfig with random weights
(nothing is downloaded), in fp32 (the CPU's native dtype; the spec's fp32 matrix peak).
Timing, per batch: one prefill of the prompt (last-position logits only, as generate
does, and as the prediction captures it), then generate - 1 decode steps of one token
each over transformers' DynamicCache, the real KV cache ``generate`` uses; TPOT is their
mean. Each configuration is run ``repeats`` times, interleaved with the other batches so
that a burst of load from other processes hits every configuration alike; the fastest run
is kept (the least disturbed) and the spread (slowest / fastest - 1) is printed. Threads
and clock follow the spec's calibration: a spec calibrated with `--threads 1 --clock
thread` (for a busy machine) is compared with runs on one thread timed by its CPU time.

    python benchmarks/llm.py --measure [--spec hw_specs/local-cpu.yaml] [--repeats 7]
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

#: The measured model: 8 layers of width 512 (8 heads, 4 KV heads of 64), FFN 1408,
#: vocab 32000, untied LM head: 56,369,664 parameters (parameter_count), 225 MB in fp32.
#: A decode step reads the 40M weights of the layers and the LM head, 160 MB (the input
#: embedding reads only the new tokens' rows): about 6 ms at this CPU's 36 GB/s.
SMALL_LLAMA = {
    "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 8, "num_attention_heads": 8,
    "num_key_value_heads": 4, "vocab_size": 32000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}
PROMPT, GENERATE, BATCHES, REPEATS = 128, 32, (1, 4), 7


@dataclass(frozen=True)
class Timing:
    """Fastest and spread of repeated runs of one batch: prefill and mean decode step, s."""

    batch: int
    prefill_s: float
    prefill_spread: float  # slowest / fastest - 1
    tpot_s: float
    tpot_spread: float


def write_config(fields: dict, folder: Path) -> Path:
    """A LlamaForCausalLM config.json with ``fields``, for hf:path targets."""
    path = folder / "config.json"
    payload = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], **fields}
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return path


def predict(fields: dict, spec: str, prompt: int, generate: int, batches: Sequence[int]) -> pd.DataFrame:
    """roofline.tools.llm's rows (batch, ttft_s, tpot_s, bounds) for the model of
    ``fields`` on ``spec`` (a name or YAML path), fp32, every decode step captured."""
    from roofline.tools.llm import llm

    with tempfile.TemporaryDirectory() as folder:
        config = write_config(fields, Path(folder))
        report = llm(f"hf:{config}", spec, dtype="fp32", prompt=prompt, generate=generate, batches=batches,
                     decode="each", crossover=False)
    return report.table


def build_model(fields: dict, seed: int = 0) -> torch.nn.Module:
    """The real model, random weights from ``seed``, fp32, eval mode, sdpa attention."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(**fields, attn_implementation="sdpa")
    return LlamaForCausalLM(config).eval()


#: Clocks, as the calibration names them: wall time, or the calling thread's CPU time
#: (one torch thread on a shared machine: time spent descheduled is not counted).
CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}


def run_once(model: torch.nn.Module, batch: int, prompt: int, generate: int, clock: str = "wall") -> tuple[float, float]:
    """(prefill s, mean decode step s) of one request: greedy, real KV cache."""
    from transformers import DynamicCache

    now = CLOCKS[clock]
    ids = torch.randint(0, model.config.vocab_size, (batch, prompt))
    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        started = now()
        out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        token = out.logits[:, -1:].argmax(-1)
        prefilled = now()
        for _ in range(generate - 1):
            out = model(input_ids=token, past_key_values=cache, use_cache=True, logits_to_keep=1)
            token = out.logits[:, -1:].argmax(-1)
        done = now()
    return prefilled - started, (done - prefilled) / (generate - 1)


def measure(model: torch.nn.Module, batches: Sequence[int], prompt: int, generate: int, repeats: int,
            clock: str = "wall") -> list[Timing]:
    """Fastest of ``repeats`` interleaved runs per batch (one warm-up run each first)."""
    for batch in batches:
        run_once(model, batch, prompt, min(generate, 4), clock)
    runs: dict[int, list[tuple[float, float]]] = {b: [] for b in batches}
    for _ in range(repeats):
        for batch in batches:
            runs[batch].append(run_once(model, batch, prompt, generate, clock))
    timings = []
    for batch, samples in runs.items():
        prefill = [p for p, _ in samples]
        decode = [d for _, d in samples]
        timings.append(Timing(batch, min(prefill), max(prefill) / min(prefill) - 1, min(decode), max(decode) / min(decode) - 1))
    return timings


def compare(timings: Sequence[Timing], predicted: pd.DataFrame) -> pd.DataFrame:
    """One row per batch: measured (best, spread) and predicted prefill and TPOT, and the
    error of the prediction, (predicted - measured) / measured."""
    rows = []
    for t in timings:
        p = predicted[predicted["batch"] == t.batch].iloc[0]
        rows.append({
            "batch": t.batch, "prefill_measured_s": t.prefill_s, "prefill_spread": t.prefill_spread,
            "prefill_predicted_s": float(p["ttft_s"]), "prefill_error": float(p["ttft_s"]) / t.prefill_s - 1,
            "prefill_bound": p["prefill_bound"], "tpot_measured_s": t.tpot_s, "tpot_spread": t.tpot_spread,
            "tpot_predicted_s": float(p["tpot_s"]), "tpot_error": float(p["tpot_s"]) / t.tpot_s - 1,
            "decode_bound": p["decode_bound"],
        })
    return pd.DataFrame(rows)


def parameter_count(fields: dict) -> int:
    """Parameters of a LlamaForCausalLM with ``fields`` (untied head), from the shapes:
    per layer q, o (h x h), k, v (h x kv_heads*head_dim), gate, up, down (h x ffn) and two
    norms (h); plus embedding and head (vocab x h) and the final norm (h)."""
    h, ffn = fields["hidden_size"], fields["intermediate_size"]
    kv = fields["num_key_value_heads"] * h // fields["num_attention_heads"]
    layer = 2 * h * h + 2 * h * kv + 3 * h * ffn + 2 * h
    return fields["num_hidden_layers"] * layer + 2 * fields["vocab_size"] * h + h


def markdown(table: pd.DataFrame, spec_name: str, prompt: int, generate: int, threads: int, load: tuple[float, float],
             clock: str = "wall") -> str:
    """The comparison as a Markdown table (ms, errors in %); ``load``: the 1-minute load
    average before and after the runs (other processes on the cores slow wall-clock runs)."""
    timed = "wall time" if clock == "wall" else "the thread's CPU time"
    title = (f"Small Llama ({parameter_count(SMALL_LLAMA):,} parameters, fp32), prompt {prompt}, generate {generate}, "
             f"{threads} thread{'s' if threads > 1 else ''}, timed by {timed}, predicted on {spec_name}; "
             f"load average {load[0]:.1f} before the runs, {load[1]:.1f} after:")
    lines = [title, "",
             "| batch | prefill measured (spread) | prefill predicted | error | TPOT measured (spread) | TPOT predicted | error | bounds (prefill / decode) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(
            f"| {r.batch} | {1e3 * r.prefill_measured_s:.1f} ms ({100 * r.prefill_spread:.0f}%) | {1e3 * r.prefill_predicted_s:.1f} ms "
            f"| {100 * r.prefill_error:+.0f}% | {1e3 * r.tpot_measured_s:.2f} ms ({100 * r.tpot_spread:.0f}%) "
            f"| {1e3 * r.tpot_predicted_s:.2f} ms | {100 * r.tpot_error:+.0f}% | {r.prefill_bound} / {r.decode_bound} |")
    cores = os.cpu_count() or 1
    if max(load) > cores and clock == "wall":
        lines += ["", (f"**Not a clean measurement:** the load average ({max(load):.1f}) exceeded the {cores} cores, so other "
                  "processes held the cores the runs needed (a thread of a parallel op waits for the other while it is "
                  "descheduled); the measured times are those of a shared machine, not of this CPU, and the errors "
                  "above say nothing about the model. Rerun on a quiet machine.")]
    return "\n".join(lines) + "\n"


def main(spec: str, repeats: int = REPEATS, prompt: int = PROMPT, generate: int = GENERATE,
         batches: Sequence[int] = BATCHES) -> str:
    """Measure, predict, print and return the Markdown table."""
    from roofline.hardware import load_hardware

    hw = load_hardware(spec)
    record = hw.measured
    # the thread count and clock the spec was calibrated with
    threads = int(record.threads) if record is not None and record.threads else torch.get_num_threads()
    clock = record.clock if record is not None and record.clock in CLOCKS else "wall"
    torch.set_num_threads(threads)
    predicted = predict(SMALL_LLAMA, spec, prompt, generate, batches)
    model = build_model(SMALL_LLAMA)
    before = os.getloadavg()[0]
    timings = measure(model, batches, prompt, generate, repeats, clock)
    table = compare(timings, predicted)
    text = markdown(table, hw.display_name, prompt, generate, threads, (before, os.getloadavg()[0]), clock)
    print(text)
    return text
