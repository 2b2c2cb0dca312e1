"""LLM serving estimates of Llama-2-7B and Llama-2-70B on an H100 SXM, an A100 SXM and an
L4 at batch 1-64 (roofline.tools.llm), with Llama-2-70B split over 8 H100s and in int4,
and the batch at which decoding turns compute-bound. Writes docs/llm.md and
docs/figures/llm.png. Everything runs on meta tensors: about 10 minutes on 2 cores.

    python benchmarks/llm.py
    python benchmarks/llm.py --quick --out /tmp/llm.md --figure /tmp/llm.png   # llama-tiny, seconds
    python benchmarks/llm.py --measure [--spec hw_specs/local-cpu.yaml --spec one-thread.yaml]   # this CPU

--measure runs only the CPU measurement (benchmarks/llm_cpu.py, a few minutes) and
rewrites the section of docs/llm.md between the MEASURED markers; a full run keeps
that section as it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch

from roofline.count.categories import GEMM
from roofline.hardware import load_hardware
from roofline.tools.llm import llm, markdown_table, plot_llm, resolve_llm
from roofline.tools.llm.serving import StepCache
from roofline.units import format_seconds, si

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("h100-sxm", "a100-sxm", "l4")
BATCHES = (1, 2, 4, 8, 16, 32, 64)
TABLE_BATCHES = (1, 4, 16, 64)
PROMPT, GENERATE = 512, 128
#: The CPU measurement's section of docs/llm.md lies between these lines.
MEASURED_START, MEASURED_END = "<!-- measured on CPU: start -->", "<!-- measured on CPU: end -->"
#: ... and LLM-Viewer's figures (benchmarks/llm_viewer.py --out) between these.
VIEWER_START, VIEWER_END = "<!-- LLM-Viewer: start -->", "<!-- LLM-Viewer: end -->"


def run(quick: bool) -> dict:
    """Every report the page shows, by key."""
    seven, seventy = ("llama-tiny", "llama-tiny") if quick else ("hf:llama-2-7b-hf", "hf:llama-2-70b-hf")
    shape = {"prompt": PROMPT, "generate": GENERATE, "batches": BATCHES, "progress": True}
    reports = {"7b": llm(seven, SPECS, **shape)}
    reports["7b-graphs"] = llm(seven, ("h100-sxm",), op_overhead_s=0.0, crossover=False,
                               captures=reports["7b"].captures, **shape)
    reports["70b"] = llm(seventy, (*SPECS, "8xh100-sxm"), **shape)
    reports["70b-int4"] = llm(seventy, ("h100-sxm",), weights="int4", crossover=False,
                              captures=reports["70b"].captures, **shape)
    reports["70b-graphs"] = llm(seventy, ("8xh100-sxm",), op_overhead_s=0.0, crossover=False,
                                captures=reports["70b"].captures, **shape)
    return reports


def crossover_table(reports: dict) -> str:
    """Where decode turns compute-bound, per model and spec (Markdown)."""
    lines = ["| model | spec | tp | context | weight GEMMs compute-bound from | whole step compute-bound from |",
             "|---|---|---|---|---|---|"]
    for key in ("7b", "70b"):
        for row in reports[key].crossover.itertuples():
            cells = [f"batch {value}" if value is not None and str(value) != "<NA>" else f"none up to {row.searched_up_to}"
                     for value in (row.crossover_batch, row.step_crossover_batch)]
            lines.append(f"| {row.model} | {row.spec} | {row.tp} | {row.context} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _at(report, spec: str, batch: int):
    table = report.table
    return table[(table["spec"] == spec) & (table["batch"] == batch)].iloc[0]


def weight_gemm_intensity(report, batch: int = 1) -> float:
    """FLOP/B of the weight-reading GEMMs of the first decode step at ``batch``."""
    frame = report.captures.get(batch, report.prompt, 1).analysis.counted
    rows = frame[(frame["category"] == GEMM) & (frame["param_bytes"] > 0)]
    return float(rows["flops"].sum() / rows["bytes"].sum())


def kv_bytes_per_token_13b(quick: bool) -> float:
    """One token's K and V in Llama-2-13B's (OPT-13B's shape) captured cache, bytes."""
    model = resolve_llm("llama-tiny" if quick else "hf:llama-2-13b-hf")
    step = StepCache(model, torch.bfloat16, load_hardware("h100-sxm")).get(1, 1, 1)
    return step.cache_bytes / 2  # a cache of 1 + 1 tokens


def comparison(reports: dict, quick: bool) -> str:
    """Our numbers beside the bandwidth floor and the published figures (Markdown)."""
    seven, graphs = _at(reports["7b"], "h100-sxm", 1), _at(reports["7b-graphs"], "h100-sxm", 1)
    floor_s = seven.decode_bytes / 3.35e12  # what the middle decode step moves, at the datasheet bandwidth
    seventy = _at(reports["70b"], "8xh100-sxm", 1)
    seventy_graphs = _at(reports["70b-graphs"], "8xh100-sxm", 1)
    bounds = sorted(set(reports["7b"].table.query("batch == 1")["decode_bound"]))
    return COMPARISON.format(
        seven_tpot=format_seconds(seven.tpot_s), seven_graphs=format_seconds(graphs.tpot_s),
        floor=format_seconds(floor_s), decode_bytes=si(seven.decode_bytes, "B"),
        seventy_tpot=format_seconds(seventy.tpot_s), seventy_graphs=format_seconds(seventy_graphs.tpot_s),
        allreduce=format_seconds(seventy.allreduce_s), intensity=weight_gemm_intensity(reports["7b"]),
        bounds=" and ".join(bounds), kv_13b=f"{kv_bytes_per_token_13b(quick):,.0f}",
    )


def write_page(reports: dict, out: Path, figure: Path, quick: bool) -> None:
    """docs/llm.md from the reports."""
    main_reports = [reports[k] for k in ("7b", "70b", "70b-int4")]
    old_page = out.read_text(encoding="utf-8") if out.exists() else ""  # its kept sections stay
    text = PAGE.format(
        date=dt.date.today().isoformat(), prompt=PROMPT, generate=GENERATE,
        table=markdown_table(main_reports, TABLE_BATCHES),
        graphs=markdown_table([reports["7b-graphs"], reports["70b-graphs"]], TABLE_BATCHES),
        crossover=crossover_table(reports), comparison=comparison(reports, quick),
        figure=Path("figures") / figure.name if out.parent == figure.parent.parent else figure,
        unsupported=", ".join(sorted({op for r in reports.values() for op in r.unsupported})) or "none",
        method_7b=reports["7b"].decode_method,
        measured_chapter=measured_chapter(old_page),
        viewer=kept_section(old_page, VIEWER_START, VIEWER_END, "`python benchmarks/llm_viewer.py PATH/TO/LLM-Viewer --out docs/llm.md`"),
    )
    out.write_text(text, encoding="utf-8")


#: The CPU measurement's chapter on a page that has none yet; a page's own chapter (its
#: tables and the commentary written beside them for that run) is kept as it is.
MEASURED_CHAPTER = """## Measured on this CPU

The prediction against a run: a small Llama (transformers' LlamaForCausalLM from a
LlamaConfig, random weights: 8 layers of width 512, 8 heads, 4 KV heads, FFN 1408,
vocab 32000, 56.4M parameters, fp32) timed on the CPU that `hw_specs/local-cpu.yaml`
was calibrated on, with as many threads as the calibration used. Prefill is one forward
of the prompt (last-position logits); TPOT is the mean of the generate - 1 greedy decode
steps over transformers' DynamicCache. Each batch runs `--repeats` times (default 7),
interleaved with the other batch, after a warm-up; the table keeps the fastest run and gives the spread
(slowest / fastest - 1). The prediction is `roofline llm` of the same config on the
calibrated spec, every decode step captured; error = predicted / measured - 1.
On a shared machine wall time measures the other processes as much as the model, so the
run is repeated on one thread timed by that thread's CPU time (time spent descheduled is
not counted; shared caches still are), against a spec calibrated the same way just
before (`roofline calibrate --threads 1 --clock thread --out one-thread.yaml`).
`python benchmarks/llm.py --measure --spec hw_specs/local-cpu.yaml --spec
one-thread.yaml` reruns both and rewrites this section's tables.

{measured}"""
MEASURED_HEADING, NEXT_HEADING = "## Measured on this CPU", "## Against published figures"


def measured_chapter(page: str) -> str:
    """The page's "Measured on this CPU" chapter, up to the next one (its measured tables and
    the reading of them written for that run), or the default one with the placeholder."""
    start = page.find(MEASURED_HEADING)
    end = page.find(NEXT_HEADING, start)
    if start < 0 or end < 0:
        return MEASURED_CHAPTER.format(measured=measured_section(page))
    return page[start:end].rstrip("\n")


def kept_section(page: str, start_marker: str, end_marker: str, command: str) -> str:
    """The section of a page between two markers (included), or a placeholder naming
    the ``command`` that fills it: sections another script writes survive a full run."""
    start, end = page.find(start_marker), page.find(end_marker)
    if start < 0 or end < start:
        return f"{start_marker}\n(not run yet: {command})\n{end_marker}"
    return page[start:end + len(end_marker)]


def measured_section(page: str) -> str:
    """The CPU measurement section of a page (markers included), or a placeholder."""
    return kept_section(page, MEASURED_START, MEASURED_END, "`python benchmarks/llm.py --measure`")


def _llm_cpu():
    """benchmarks/llm_cpu.py, imported by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("llm_cpu", Path(__file__).resolve().parent / "llm_cpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["llm_cpu"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def write_measurement(out: Path, specs: list[str], repeats: int) -> None:
    """Measure the small Llama on this CPU against each spec and put the tables in
    ``out``'s section."""
    cpu = _llm_cpu()
    tables = "\n".join(cpu.main(spec, repeats=repeats) for spec in specs)
    section = f"{MEASURED_START}\n{tables}{MEASURED_END}"
    page = out.read_text(encoding="utf-8")
    out.write_text(page.replace(measured_section(page), section), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="llama-tiny in place of the Llama-2 models (seconds)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "llm.md")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "llm.png")
    parser.add_argument("--measure", action="store_true", help="only time a small Llama on this CPU against --spec")
    parser.add_argument("--spec", action="append", help="calibrated CPU spec, repeatable (--measure; default "
                        "hw_specs/local-cpu.yaml); one calibrated with --threads 1 --clock thread suits a busy machine")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved runs per batch (--measure)")
    args = parser.parse_args(argv)
    if args.measure:
        write_measurement(args.out, args.spec or [str(ROOT / "hw_specs" / "local-cpu.yaml")], args.repeats)
        print(f"wrote the measured section of {args.out}", file=sys.stderr)
        return 0
    reports = run(args.quick)
    figure = plot_llm([reports["7b"], reports["70b"], reports["70b-int4"]],
                      title=f"Llama-2 in bf16 (and 70B int4), prompt {PROMPT}, generate {GENERATE}; "
                            "hollow markers: does not fit in memory")
    figure.savefig(args.figure, dpi=130)
    write_page(reports, args.out, args.figure, args.quick)
    print(f"wrote {args.out} and {args.figure}", file=sys.stderr)
    return 0


COMPARISON = """\
| what | published (source) | roofline llm |
|---|---|---|
| KV cache per token, 13B model (40 layers, hidden 5120, fp16) | "800 KB" for OPT-13B: 2 x 5120 x 40 x 2 bytes (Kwon et al., *Efficient Memory Management for Large Language Model Serving with PagedAttention*, SOSP 2023, section 3) | {kv_13b} B for hf:llama-2-13b-hf (the same shape), from the cache of a captured decode step; the closed form is checked in tests/tools/test_llm.py |
| Decode of Llama-2-7B at batch 1: intensity of the linear layers | about 1 FLOP/B in fp16, far left of the ridge: memory-bound (LLM-Viewer, Yuan et al., *LLM Inference Unveiled: Survey and Roofline Model Insights*, arXiv:2402.16363, 2024; its roofline plots of Llama-7B) | {intensity:.2f} FLOP/B for the captured decode step's weight GEMMs (2 FLOPs per 2-byte weight); the step is {bounds}-bound on all three specs |
| TPOT lower bound, Llama-2-7B on one H100 at batch 1 | bytes moved / peak bandwidth, the bound LLM-Viewer's roofline gives for a memory-bound step | {floor}: the {decode_bytes} the middle decode step moves (weights, KV cache, activations) at the datasheet 3.35 TB/s; roofline llm: {seven_graphs} with no launch overhead (the spec's 85% of the bandwidth), {seven_tpot} eager |
| Where serving time goes besides the GPU | for Llama 3 8B on one H100, vLLM v0.5 spent about 33% of the time in the HTTP server, 29% scheduling and 38% on the GPU (vLLM blog, *vLLM v0.6.0: 2.7x Throughput Improvement and 5x Latency Reduction*, 2024-09-05) | only the GPU part: a roofline predicts kernels, not the server |
| Serving engine against eager Hugging Face | up to 24x the throughput of Hugging Face Transformers, 3.5x that of TGI (vLLM blog, *vLLM: Easy, Fast, and Cheap LLM Serving with PagedAttention*, 2023-06-20; LLaMA-7B on an A10G, LLaMA-13B on an A100 40GB) | the eager rows pay the spec's 4 us per kernel launch: {seven_tpot} against {seven_graphs} without it at batch 1; most of vLLM's gain is larger batches (PagedAttention), which the batch axis here shows |
| Llama-2-70B split over 8 H100s, batch 1 | (no figure quoted here) | {seventy_graphs} without launch overhead, {seventy_tpot} eager, of which {allreduce} are the 160 all-reduces (latency-bound: 14 ring steps of 2 us each) |

The published column is quoted from memory while writing this page, offline; the
sources are named so the figures can be checked. Only the first row is a number the
code reproduces exactly; the others are bounds and shares the estimates should sit
beside, not measurements of the same setup.
"""

PAGE = """\
# LLM serving: `roofline llm`

Time to first token (TTFT), time per output token (TPOT), throughput and memory of
serving a causal LM, per batch size and per hardware spec, predicted from the model's
own prefill and decode steps captured on meta tensors (nothing runs, a 70B model costs
seconds).

    roofline llm hf:llama-2-7b-hf --hw h100-sxm,a100-sxm,l4 --prompt 512 --generate 128 --batch 1,8,64
    roofline llm llama-70b --hw 8xh100-sxm --weights int4 --kv fp8 --plot llm.png --csv llm.csv

```python
from roofline.tools.llm import llm
report = llm("hf:mixtral-8x7b-v0.1", ["h100-sxm", "8xh100-sxm"], prompt=512, generate=128, batches=(1, 8, 64))
report.table       # one row per (spec, batch): ttft_s, tpot_s, e2e_s, tokens_per_s, decode_tokens_per_s,
                   # weights_bytes, kv_bytes, activation_bytes, fits, prefill_bound, decode_bound, ...
report.crossover   # per spec: the batch at which decode turns compute-bound
report.title()     # model, dtype, formats, specs, request shape: printed above every table
```

(`roofline.llm` is not exported from the package root, whose `__init__.py` is shared;
import it from `roofline.tools.llm`.)

Targets: any Hugging Face causal LM roofline.hf builds from a config (`hf:gpt2`,
`hf:llama-2-7b-hf`, `hf:mistral-7b-v0.1`, `hf:path/to/config.json`), the serving models
whose configs `roofline.tools.llm.models.SERVING_CONFIGS` holds (`hf:llama-2-13b-hf`,
`hf:llama-2-70b-hf`, `hf:qwen2-7b`, `hf:mixtral-8x7b-v0.1`), and the zoo's `llama-tiny`,
`llama-7b`, `llama-70b` and `gpt2`. The zoo's models have no KV cache, so their shapes
run as transformers' LlamaForCausalLM / GPT2LMHeadModel (the same layers and parameter
count, 6,738,415,616 for llama-7b and 68,976,648,192 for llama-70b). Other targets are a
one-line error.

## Method

**Captured, not extrapolated.** Prefill is one forward over batch x prompt tokens;
a decode step is one forward of one new token per sequence with a KV cache already
holding the context. Both run through transformers' own cache API with a cache whose
layers hold K and V of shape (batch, kv_heads, context + new tokens, head_dim) on meta,
allocated up front as a static or paged cache is: each layer writes only the new
tokens (`index_copy_`, as transformers' StaticCache does) and attention reads the
filled part. So a decode step reads context + 1 cached tokens and writes one, as vLLM's
paged attention does, rather than the whole-cache copy DynamicCache's `torch.cat`
would add. Prefill keeps the logits of the last position only (`logits_to_keep=1`,
as `generate` does).

**Conventions (vLLM's benchmarks).** The prefill yields the first token: TTFT is its
time. Each of the other generate - 1 tokens takes one decode step over a cache of
prompt, prompt + 1, ..., prompt + generate - 2 tokens; TPOT is their mean and
e2e = TTFT + (generate - 1) x TPOT. `tokens_per_s` is batch x generate / e2e;
`decode_tokens_per_s` is batch / TPOT. TPOT is averaged by capturing the first,
middle and last decode step and integrating step time over the context with the
trapezoid rule (a step is affine in its context: one more token of K and V to read),
or every step with `--decode each` (the two agree to 0.1% in the tests). Here:
{method_7b}.

**Quantized weights** (`--weights int8|int4|fp8`, weight-only). In the captured ops,
the parameter bytes of every GEMM (Linear and expert matrices; embeddings and norms
stay in the compute dtype) are rescaled to the stored width, int8 and fp8 1 byte,
int4 0.5, before prediction. The GEMM still computes in the compute dtype (W8A16,
W4A16), and the weights are dequantized inside it: 2 vector FLOPs per weight element
read, added as a separate term (not overlapped: an upper bound). fp8 weights on a spec
with an fp8 matrix peak (H100, L4) run as fp8 GEMMs instead (W8A8) with no dequantize
term; on an A100 they are weight-only.

**Quantized KV cache** (`--kv int8|fp8`): the K and V operands fused attention reads
and the cache writes at 1 byte an element, plus the same dequantize term on the
elements read.

**Mixture of experts.** transformers runs Mixtral's experts as one grouped GEMM over
the routed (token, expert) rows, which runs on meta tensors and does only the routed
experts' FLOPs: 2 x active parameters per token, nothing scaled. The op reads every
expert's weights, though, where a kernel reads only the experts some token picked: with
T tokens each choosing k of E experts, E x (1 - (1 - k/E)^T) on average (2 of 8 for one
token, all 8 from about 16 tokens). Each grouped GEMM's weight bytes are scaled by that
over E. Two small ops of the routing (`floor_divide`, `histc`) have no formula yet and
are costed as per-op overhead only (listed under every report).

**Tensor parallel** over a multi-device spec (`--hw 8xh100-sxm`, `--tp N`): every op
inside a layer's attention or MLP block, and the LM head, is split t ways (FLOPs and
bytes / t; KV bytes over min(t, kv_heads) devices); norms, residual adds and embeddings
run replicated. Each layer all-reduces tokens x hidden activations twice, with a ring
over the spec's interconnect (roofline.tools.parallel.ring_allreduce_s), not overlapped.

**Memory and fits.** weights_bytes: parameters and buffers (quantized GEMM weights at
their width). kv_bytes: the cache at its largest, batch x (prompt + generate - 1)
tokens, as allocated in the last decode step captured. activation_bytes: the largest
working set of one op that is neither weights nor cache (its inputs and outputs, live
together), per device, times the devices: inference frees activations layer by layer,
so this is the transient peak, without the allocator's slack. `fits`: their sum is at
most the spec's DRAM capacity x the tensor-parallel devices.

**Crossover.** For the decode step at the middle context, the smallest batch at which
its weight GEMMs spend more time compute-bound than memory-bound (the classic
"decode turns compute-bound near batch = ridge point"), and the smallest at which the
whole step does. In an unfused model the norms, rotary embeddings and SiLU move bytes in
proportion to the batch, and attention reads each sequence's own cache, so the whole
step often never does: only fused kernels and short contexts get there.

**Launch overhead.** The specs charge each kernel a fixed launch overhead (4 us on
these GPUs): what eager PyTorch pays, and what the default rows show. A serving engine
replays the decode step as a CUDA graph and fuses the small ops; `--op-overhead 0`
gives that lower bound (second table).

## Llama-2-7B and Llama-2-70B, prompt {prompt}, generate {generate}, eager

Predicted on the datasheet specs ({date}; `python benchmarks/llm.py` regenerates this
page and the figure), at batch 1, 4, 16 and 64 (the figure has every power of two). TTFT and TPOT are per request; tok/s counts the batch's output
tokens over the whole request, decode tok/s the steady decode rate. 70B does not fit
in one device in bf16 on any of the three: its rows are the time the device would take
if it did, marked `fits: no` with the bytes needed.

{table}
Without launch overhead (`--op-overhead 0`: a decode step replayed as one CUDA graph,
a lower bound):

{graphs}
## Where decode turns compute-bound

{crossover}
## Figure

![TTFT and TPOT against batch for Llama-2-7B and 70B on H100, A100 and L4]({figure})

A colour per spec, a line style per model (solid 7B, dashed 70B bf16, dash-dot 70B
int4); hollow markers: the batch does not fit in the device's memory (70B in bf16
never fits one device); the dotted line marks where a model stops fitting (7B on the
24 GB L4, once the KV cache of batch x 639 tokens at 512 kB a token has grown past
what the 13.5 GB of weights leave).

{measured_chapter}

## Against published figures

{comparison}
### LLM-Viewer's own figures, run

LLM-Viewer (Yuan et al., *LLM Inference Unveiled: Survey and Roofline Model Insights*,
arXiv:2402.16363, 2024; github.com/hahnyuan/LLM-Viewer, MIT) predicts each layer of a
Llama from hand-written formulas on a roofline of its own hardware table, at 100% of the
peaks and with no launch cost. `python benchmarks/llm_viewer.py PATH/TO/LLM-Viewer --out
docs/llm.md` runs a checkout of it (commit 472f71f below; none of its code is in this project) on the same
model configs, fp16 weights, activations and KV cache, FlashAttention on, and puts its
TTFT and TPOT (mean over the same generate - 1 decode contexts) beside ours: without
launch overhead (the comparable setting; the difference in brackets) and eager. Its
table has H100 SXM (3,072 GB/s where our spec has the datasheet's 3.35 TB/s) and A100
80GB (2,039 GB/s), and no L4. Ours also apply the specs' efficiencies (85% of the
bandwidth on these GPUs, a GEMM efficiency below 1).

{viewer}

Reading it. Decode at small batch is the weights streamed once per step: LLM-Viewer
streams them at its full 3.072 TB/s (H100) and 2.039 TB/s (A100), ours at 85% of 3.35 and
of 2.039 TB/s, 8% and 18% slower (4.76 ms and 7.81 ms of streaming in the 7B step at batch
1); and each of the step's 1,334 kernels takes at least the spec's 2 us minimum kernel
time, which 1,077 of them (norms, rotary embeddings, reshapes of one token) would not
reach: 3.5 ms more, so +87% (H100) and +70% (A100) at batch 1. Prefill: LLM-Viewer assumes
the full tensor peak; ours pays the GEMMs' tile and wave quantization at 512 tokens (7B:
10.8 of the H100's 15.9 ms, 42 of the A100's 50 ms) and runs the unfused norms, rotary
embeddings and SiLU as their kernels, those on broadcast or transposed bf16 operands bound
by their issue (roofline.efficiency.elementwise): TTFT +36% to +117%. For Llama-2-70B at
batch 64 LLM-Viewer's TPOT is the larger one:
its FlashAttention decode reads K and V for every query head (`load_kv_cache = ... *
num_attention_heads * ...` in `model_analyzer.py`), 64 of them, where Llama-2-70B
stores 8 KV heads (grouped-query attention) and ours reads the 8 of the captured cache;
at batch 64 (contexts near 576) that is 97 GB of K and V per step instead of 12 GB,
31 ms of its 77 ms. The eager columns add
the 4 us launch of each of about 1,300 kernels a 7B decode step runs (5.3 ms).

## Not modelled

Continuous batching and chunked prefill (a batch here is one static batch whose
sequences share prompt and output lengths), paged-attention block waste, speculative
decoding, pipeline or expert parallelism, sliding-window caches (Mistral's window
is not applied: the cache keeps every token), the serving engine's CPU time. Ops with
no formula in the captured steps: {unsupported}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
