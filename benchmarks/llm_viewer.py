"""Llama-2-7B and 70B serving times from LLM-Viewer (Yuan et al., "LLM Inference Unveiled:
Survey and Roofline Model Insights", arXiv:2402.16363; github.com/hahnyuan/LLM-Viewer)
beside roofline.tools.llm's, at prompt 512, generate 128, batch 1-64.

LLM-Viewer is run from a checkout given on the command line (it is not a dependency and
none of its code is copied here): its ModelAnalyzer with its own hardware table
(nvidia_H100_SXM: 3072 GB/s, 989.5 TFLOP/s fp16; nvidia_A100_80G: 2039 GB/s, 312 TFLOP/s),
fp16 weights, activations and KV cache, FlashAttention on. It has no L4 entry. Its model
configs are read from the Hugging Face hub, so the same config objects roofline.tools.llm
uses are handed to it instead (the published config.json values).

Conventions made equal: TTFT = LLM-Viewer's prefill time of the prompt; TPOT = the mean of
its decode times over the contexts prompt, ..., prompt + generate - 2 (the generate - 1
decode steps after the first token, as roofline llm counts them). Ours are given without
launch overhead (`--op-overhead 0`, LLM-Viewer has none) and as the default eager rows.

    python benchmarks/llm_viewer.py PATH/TO/LLM-Viewer [--batches 1,4,16,64] [--out docs/llm.md]

--out rewrites the section of that page between the LLM-Viewer markers (benchmarks/llm.py
keeps it when it regenerates the page).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from pathlib import Path

import pandas as pd

PROMPT, GENERATE = 512, 128
#: our spec -> LLM-Viewer's hardware entry of the same part
HARDWARE = {"h100-sxm": "nvidia_H100_SXM", "a100-sxm": "nvidia_A100_80G"}
START, END = "<!-- LLM-Viewer: start -->", "<!-- LLM-Viewer: end -->"  # as in benchmarks/llm.py
MODELS = {"hf:llama-2-7b-hf": "meta-llama/Llama-2-7b-hf", "hf:llama-2-70b-hf": "meta-llama/Llama-2-70b-hf"}


@contextlib.contextmanager
def _inside(checkout: Path):
    """LLM-Viewer imports its configs relative to its own folder."""
    previous = os.getcwd()
    sys.path.insert(0, str(checkout))
    os.chdir(checkout)
    try:
        yield
    finally:
        os.chdir(previous)
        sys.path.remove(str(checkout))


def llm_viewer_times(checkout: Path, target: str, hardware: str, batch: int) -> tuple[float, float]:
    """(TTFT s, TPOT s) of LLM-Viewer for one model, hardware entry and batch."""
    from roofline.tools.llm import resolve_llm

    config = resolve_llm(target).config
    with _inside(checkout), contextlib.redirect_stdout(io.StringIO()):
        import model_analyzer

        model_analyzer.AutoConfig.from_pretrained = lambda *args, **kwargs: config  # no hub access
        analyzer = model_analyzer.ModelAnalyzer(MODELS[target], hardware)

        def stage(seqlen: int, name: str) -> float:
            result = analyzer.analyze(seqlen, batch, w_bit=16, a_bit=16, kv_bit=16, use_flashattention=True)
            return float(result["total_results"][name]["inference_time"])

        ttft = stage(PROMPT, "prefill")
        decode = [stage(context, "decode") for context in range(PROMPT, PROMPT + GENERATE - 1)]
    return ttft, sum(decode) / len(decode)


def ours(target: str, batches: tuple[int, ...]) -> pd.DataFrame:
    """roofline llm's rows on both specs: without launch overhead, then eager."""
    from roofline.tools.llm import llm

    shape = {"prompt": PROMPT, "generate": GENERATE, "batches": batches, "crossover": False}
    graphs = llm(target, list(HARDWARE), op_overhead_s=0.0, **shape)
    eager = llm(target, list(HARDWARE), captures=graphs.captures, **shape)
    table = graphs.table[["spec", "batch", "ttft_s", "tpot_s"]]
    return table.assign(ttft_eager_s=eager.table["ttft_s"].to_numpy(), tpot_eager_s=eager.table["tpot_s"].to_numpy())


def compare(checkout: Path, batches: tuple[int, ...]) -> pd.DataFrame:
    """One row per (model, spec, batch): LLM-Viewer's and our TTFT and TPOT, s."""
    rows = []
    for target in MODELS:
        mine = ours(target, batches)
        for row in mine.itertuples():
            ttft, tpot = llm_viewer_times(checkout, target, HARDWARE[row.spec], row.batch)
            rows.append({"model": target, "spec": row.spec, "batch": row.batch, "viewer_ttft_s": ttft,
                         "ttft_s": row.ttft_s, "ttft_eager_s": row.ttft_eager_s, "viewer_tpot_s": tpot,
                         "tpot_s": row.tpot_s, "tpot_eager_s": row.tpot_eager_s})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The comparison as Markdown, ms, with ours / LLM-Viewer - 1."""
    lines = [("| model | spec | batch | TTFT LLM-Viewer | TTFT ours, no launch cost (diff) | TTFT ours, eager | "
             "TPOT LLM-Viewer | TPOT ours, no launch cost (diff) | TPOT ours, eager |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(
            f"| {r.model} | {r.spec} | {r.batch} | {1e3 * r.viewer_ttft_s:.1f} ms | {1e3 * r.ttft_s:.1f} ms "
            f"({100 * (r.ttft_s / r.viewer_ttft_s - 1):+.0f}%) | {1e3 * r.ttft_eager_s:.1f} ms | {1e3 * r.viewer_tpot_s:.2f} ms "
            f"| {1e3 * r.tpot_s:.2f} ms ({100 * (r.tpot_s / r.viewer_tpot_s - 1):+.0f}%) | {1e3 * r.tpot_eager_s:.2f} ms |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of github.com/hahnyuan/LLM-Viewer")
    parser.add_argument("--batches", default="1,4,16,64", help="comma-separated batch sizes")
    parser.add_argument("--out", type=Path, help="a page holding the LLM-Viewer markers, to rewrite that section of")
    args = parser.parse_args(argv)
    if not (args.checkout / "model_analyzer.py").is_file():
        print(f"llm_viewer: {args.checkout} is not an LLM-Viewer checkout (no model_analyzer.py)", file=sys.stderr)
        return 2
    page = args.out.read_text(encoding="utf-8") if args.out and args.out.is_file() else ""
    if args.out and not (START in page and END in page):
        print(f"llm_viewer: --out {args.out}: no {START} ... {END} section to rewrite", file=sys.stderr)
        return 2
    batches = tuple(int(b) for b in args.batches.split(","))
    text = markdown(compare(args.checkout.resolve(), batches))
    print(text)
    if args.out:
        old = page[page.index(START):page.index(END) + len(END)]
        args.out.write_text(page.replace(old, f"{START}\n{text}{END}"), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
