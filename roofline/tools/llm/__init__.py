"""LLM serving: time to first token, time per output token, throughput and memory of a
causal LM per batch size and spec, from prefill and decode steps captured on the model
itself (meta tensors, a real KV cache), with quantized weights or KV cache, tensor
parallelism and the batch at which decoding turns compute-bound.

    from roofline.tools.llm import llm
    report = llm("hf:llama-2-7b-hf", "h100-sxm", prompt=512, generate=128, batches=(1, 8, 64))
    report.table        # one row per (spec, batch): ttft_s, tpot_s, tokens_per_s, fits, ...
    report.crossover    # per spec: the batch at which decode turns compute-bound

models (which LM, its shape facts), capture (the KV cache and one captured step),
costing (quantization, routed experts, tensor split, a step's time), serving (llm() and
LlmReport), display (terminal and Markdown tables, the figure). See docs/llm.md.

May import: analysis, capture, count, efficiency (column names), hardware, predict, report,
hf, models, errors, dtypes, units, _io and roofline.tools.parallel; only the cli and
benchmarks import it.
"""

from roofline.tools.llm.costing import KV_FORMATS, WEIGHT_FORMATS, Serving, StepTime, expected_experts_hit
from roofline.tools.llm.display import markdown_table, plot_llm, print_llm
from roofline.tools.llm.models import LlmModel, resolve_llm
from roofline.tools.llm.serving import DEFAULT_BATCHES, LlmReport, llm

__all__ = [
    "DEFAULT_BATCHES", "KV_FORMATS", "LlmModel", "LlmReport", "Serving", "StepTime", "WEIGHT_FORMATS",
    "expected_experts_hit", "llm", "markdown_table", "plot_llm", "print_llm", "resolve_llm",
]
