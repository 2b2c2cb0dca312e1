"""Predicted against measured multi-GPU training steps (the parallel models of `roofline plan`).

The runs: NeuSight's (ASPLOS'25, MIT licence) training steps of Hugging Face model
configs on 4 A100 SXM4 40GB over NVLink, through Megatron-LM (accelerate's plugin),
fp32, one run per label file `labels/NVIDIA_A100-SXM4-40GB/<model>-train-<seq>-<batch>-
<option>.json`, option `dpN` (N-way data parallel), `tpN` (tensor parallel) or `ppN_M`
(N pipeline stages, M micro-batches: NeuSight's collection script names its runs
`pp{degree}_{num_microbatch}`, and its own pipeline predictor accepts only one micro-
batch, so `pp4_1` is one micro-batch of 4 sequences). What was timed (CUDA events on
rank 0, the mean of the 10 fastest of 50 steps): accelerate's `model(**batch)`, which
runs Megatron's whole train step (forward, loss, backward, gradient all-reduce, the
optimizer step); `e2e_latency` in ms.

The prediction: the model built from its config on meta tensors (attention "eager",
fp32, TF32 off), trained with a cross-entropy loss and a fused AdamW (Megatron's fused
Adam), analysed at the micro-batch size of each run on `4xa100-sxm` (whose kernel model
was fitted on single-GPU per-op data only), then estimate_step. Nothing is fitted here.
Rows "before" repeat the model this replaces (balanced stages, a fixed 50 us per
micro-batch); "reading M x b" rows show what the other reading of `pp4_1` would predict.

    python benchmarks/parallel_fidelity.py DATA [--doc docs/parallelism.md]

DATA: the neusight folder of the shared GPU measurements (labels/, DLmodel_configs/).
--doc: the markdown file whose block between the parallel-fidelity markers is rewritten.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from roofline.errors import RooflineError
from roofline.hardware import load_hardware
from roofline.predict import Tf32Policy
from roofline.tools.parallel import ParallelConfig, TrainingProfiler, estimate_step
from roofline.tools.parallel.schedule import split_stages

#: GPU folder of the labels -> the packaged multi-device spec of that system.
SYSTEMS = {"NVIDIA_A100-SXM4-40GB": "4xa100-sxm"}
RUN = re.compile(r"^(?P<model>[a-z0-9_]+)-train-(?P<seq>\d+)-(?P<batch>\d+)-(?P<option>(?:dp|tp)\d+|pp\d+_\d+)\.json$")
#: model_type of the config -> the Hugging Face class NeuSight trained (AutoModelForCausalLM).
HEADS = {"gpt2": "GPT2LMHeadModel", "opt": "OPTForCausalLM"}
BEGIN, END = "<!-- parallel-fidelity: begin -->", "<!-- parallel-fidelity: end -->"
BEFORE_OVERHEAD_S = 50e-6


def parse_option(option: str, batch: int) -> tuple[ParallelConfig, str]:
    """(config, description) of a label's option: dpN, tpN or ppN_M (M micro-batches)."""
    degree = int(re.match(r"[a-z]+(\d+)", option).group(1))
    if option.startswith("dp"):
        return ParallelConfig(degree, 1, 1, batch // degree, batch), f"data {degree}, {batch // degree} per device"
    if option.startswith("tp"):
        return ParallelConfig(1, degree, 1, batch, batch), f"tensor {degree}"
    micro_batches = int(option.split("_")[1])
    b = batch // micro_batches
    return ParallelConfig(1, 1, degree, b, batch), f"pipeline {degree}, {micro_batches} micro-batch(es) of {b}"


def find_runs(data: Path) -> pd.DataFrame:
    """One row per multi-GPU label: gpu, spec, model, seq, batch, option, measured_s."""
    rows = []
    for gpu, spec in SYSTEMS.items():
        for path in sorted((data / "labels" / gpu).glob("*.json")):
            found = RUN.match(path.name)
            if found is None:
                continue
            measured_ms = json.loads(path.read_text())["e2e_latency"]
            rows.append({"gpu": gpu, "spec": spec, "model": found["model"], "seq": int(found["seq"]),
                         "batch": int(found["batch"]), "option": found["option"], "measured_s": measured_ms / 1e3})
    if not rows:
        raise RooflineError(f"{data}: no multi-GPU training labels (labels/<GPU>/<model>-train-<seq>-<batch>-<dpN|tpN|ppN_M>.json)")
    return pd.DataFrame(rows)


def language_model_loss(output: Any) -> torch.Tensor:
    """Cross-entropy of the logits over the vocabulary against token labels (Megatron's
    LM loss), labels shaped like the tokens."""
    logits = output.logits
    labels = torch.zeros(logits.shape[:-1].numel(), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels)


class FusedAdamW(torch.optim.Optimizer):
    """Megatron's optimizer: Adam with decoupled weight decay in one fused pass over
    parameters, gradients and both moments (apex's FusedAdam), as torch._fused_adamw_
    (torch.optim.AdamW(fused=True) refuses meta tensors, which the kernel itself takes)."""

    def __init__(self, params: Any, lr: float = 5e-5, weight_decay: float = 0.01):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if not self.state[p]:
                    self.state[p].update(m=torch.zeros_like(p), v=torch.zeros_like(p),
                                         step=torch.zeros((), dtype=torch.float32, device=p.device))
            states = [self.state[p] for p in params]
            torch._fused_adamw_(params, [p.grad for p in params], [s["m"] for s in states], [s["v"] for s in states], [],
                                [s["step"] for s in states], lr=group["lr"], beta1=0.9, beta2=0.999,
                                weight_decay=group["weight_decay"], eps=1e-8, amsgrad=False, maximize=False)


def profiler_for(data: Path, model: str, seq: int, spec: str) -> TrainingProfiler:
    """Training profiles of ``model`` (a DLmodel_configs name) at any micro-batch size."""
    from roofline.hf import build_hf, load_config

    config_path = str(data / "DLmodel_configs" / f"{model}.json")
    head = HEADS[load_config(config_path).model_type]

    def build(micro_batch: int) -> tuple[Any, Any]:
        return build_hf(config_path, batch=micro_batch, seq=seq, head=head, attn="eager", meta=True)

    return TrainingProfiler(build, spec, optimizer=FusedAdamW, loss_fn=language_model_loss, name=model, seq=seq,
                            tf32=Tf32Policy(conv=False, matmul=False))


def stage_rows(run: Any, variant: str, profile: Any, config: ParallelConfig, per_op_s: float) -> list[dict[str, Any]]:
    """Each pipeline stage at the run's micro-batch: layers, forward and backward (s),
    kernels launched per micro-batch and their launch time at the spec's per-op cost."""
    return [{"run": f"{run.model}-{run.seq}-{run.batch} {run.option}", "variant": variant, "stage": k,
             "micro_batch": config.micro_batch, "layers": stage.layers, "forward_s": stage.forward_s,
             "backward_s": stage.backward_s, "kernels": stage.kernels, "launch_s": stage.kernels * per_op_s}
            for k, stage in enumerate(split_stages(profile.blocks, config.pipeline))]


def predictions(data: Path, runs: pd.DataFrame, show: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (run, model variant): predicted step and its parts, with the error;
    and one row per pipeline stage of the pipelined runs."""
    rows, stages, profilers = [], [], {}
    for run in runs.itertuples():
        key = (run.model, run.seq, run.spec)
        if key not in profilers:
            profilers[key] = profiler_for(data, run.model, run.seq, run.spec)
        profiler, hw = profilers[key], load_hardware(run.spec)
        config, described = parse_option(run.option, run.batch)
        variants = [("this model", config, {}), ("before", config, {"before": True})]
        if config.pipeline > 1:  # the other reading of ppN_M: M micro-batches ... of 1
            other = ParallelConfig(1, 1, config.pipeline, 1, run.batch)
            variants += [(f"reading {run.batch} x 1", other, {}), (f"reading {run.batch} x 1, before", other, {"before": True})]
        for variant, cfg, how in variants:
            if show:
                print(f"  {run.model} {run.option}: {variant} (analysing micro-batch {cfg.micro_batch})", flush=True)
            profile = profiler(cfg.micro_batch)
            if how.get("before"):
                e = estimate_step(dataclasses.replace(profile, blocks=(), tied_parameter_bytes=0.0), hw, cfg,
                                  microbatch_overhead_s=BEFORE_OVERHEAD_S)
            else:
                e = estimate_step(profile, hw, cfg)
                if cfg.pipeline > 1:
                    stages += stage_rows(run, variant, profile, cfg, hw.overhead_s)
            rows.append({"model": run.model, "seq": run.seq, "batch": run.batch, "option": run.option, "spec": run.spec,
                         "variant": variant, "split": described if cfg == config else f"pipeline {cfg.pipeline}, "
                         f"{cfg.micro_batches} micro-batch(es) of {cfg.micro_batch}",
                         "measured_s": run.measured_s, "predicted_s": e.step_s, "pipeline_s": e.pipeline_s,
                         "bubble": e.bubble_fraction, "dp_exposed_s": e.dp_exposed_s, "tp_comm_s": e.tp_comm_s,
                         "p2p_s": e.p2p_s, "sync_s": e.embedding_sync_s, "optimizer_s": e.optimizer_s,
                         "slowest_stage": e.slowest_stage if cfg.pipeline > 1 else None})
    table = pd.DataFrame(rows)
    table["error"] = table["predicted_s"] / table["measured_s"] - 1
    return table, pd.DataFrame(stages)


def ms(seconds: float) -> str:
    return "" if math.isnan(seconds) else f"{seconds * 1e3:.1f} ms"


def stage_markdown(stages: pd.DataFrame) -> str:
    """The pipeline stages of the pipelined runs, one row each."""
    lines = ["| run | variant | stage | micro-batch | layers | forward | backward | kernels | launches |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in stages.itertuples():
        lines.append(f"| {r.run} | {r.variant} | {r.stage} | {r.micro_batch} | {r.layers} | {ms(r.forward_s)} "
                     f"| {ms(r.backward_s)} | {r.kernels} | {ms(r.launch_s)} |")
    return "\n".join(lines) + "\n"


def markdown(table: pd.DataFrame, elapsed_s: float) -> str:
    """The report block: one row per run and variant, with what each prediction is made of."""
    head = ("| run | variant | split | measured | predicted | error | pipeline (bubble) | DP exposed | TP comm "
            "| sends | embedding sync | optimizer |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in table.itertuples():
        bubble = f" ({r.bubble:.0%})" if r.option.startswith("pp") else ""
        lines.append(f"| {r.model}-{r.seq}-{r.batch} {r.option} | {r.variant} | {r.split} | {ms(r.measured_s)} "
                     f"| {ms(r.predicted_s)} | {r.error:+.1%} | {ms(r.pipeline_s)}{bubble} | {ms(r.dp_exposed_s)} "
                     f"| {ms(r.tp_comm_s)} | {ms(r.p2p_s)} | {ms(r.sync_s)} | {ms(r.optimizer_s)} |")
    main = table[table.variant == "this model"]
    summary = (f"Mean absolute error of this model over the {len(main)} runs: {main.error.abs().mean():.1%} "
               f"(before: {table[table.variant == 'before'].error.abs().mean():.1%}). Spec "
               f"`{', '.join(sorted(set(table.spec)))}`, fp32, TF32 off; generated by "
               f"`python benchmarks/parallel_fidelity.py DATA` in {elapsed_s:.0f} s.")
    return "\n".join(lines) + "\n\n" + summary + "\n"


def rewrite_block(doc: Path, block: str) -> None:
    text = doc.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(text[:start] + "\n" + block + text[end:])


def check_paths(data: Path, doc: Path | None) -> None:
    """One-line errors, before any work, for a missing data folder or a doc without markers."""
    if not (data / "labels").is_dir() or not (data / "DLmodel_configs").is_dir():
        raise RooflineError(f"{data}: not the neusight folder (expected labels/ and DLmodel_configs/ in it)")
    if doc is not None:
        if not doc.is_file():
            raise RooflineError(f"--doc {doc}: no such file")
        text = doc.read_text()
        if BEGIN not in text or END not in text or text.index(BEGIN) > text.index(END):
            raise RooflineError(f"--doc {doc}: needs the lines {BEGIN} and {END} (in that order) around the block to rewrite")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the neusight folder (labels/, DLmodel_configs/)")
    parser.add_argument("--doc", type=Path, default=None, help="markdown file whose parallel-fidelity block is rewritten")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        check_paths(args.data, args.doc)
        table, stages = predictions(args.data, find_runs(args.data), show=not args.quiet)
    except RooflineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    block = markdown(table, time.perf_counter() - started)
    if not stages.empty:
        block += "\nThe pipelines' stages (per micro-batch, on one device; launches: kernels x the spec's per-op cost, " \
                 "already inside forward and backward):\n\n" + stage_markdown(stages)
    print(block)
    if args.doc is not None:
        rewrite_block(args.doc, block)
        print(f"wrote the parallel-fidelity block of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
