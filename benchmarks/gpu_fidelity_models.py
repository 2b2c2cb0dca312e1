"""The whole-model half of benchmarks/gpu_fidelity.py: NeuSight's end-to-end runs read,
each model built as NeuSight ran it and predicted on meta tensors, and its published
errors set beside ours."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from gpu_fidelity_ops import GPU_SPECS, TF32_OFF, load_spec, plain_spec
from torch import nn

import roofline
from roofline._io import progress
from roofline.hardware import HardwareSpec

#: Model file name -> the name NeuSight's published tables use.
MODELS: dict[str, str] = {
    "bert_large": "BERT-Large",
    "gpt2_large": "GPT2-Large",
    "gpt3_xl": "GPT3-XL",
    "gpt3_27": "GPT3-2.7B",
    "opt_13": "OPT-1.3B",
}
#: Why the other measured models are not analysed.
SKIPPED_MODELS: dict[str, str] = {
    "switchxl4": "Switch Transformer: NeuSight replaced its MoE layer with its own routing "
    "(count_nonzero and boolean indexing, which meta tensors cannot run)",
    "switch4": "no config in DLmodel_configs/",
}
#: (model_type, mode) -> the class NeuSight's Auto class picks for the config.
HEADS: dict[tuple[str, str], str] = {
    ("bert", "inf"): "BertForSequenceClassification",  # AutoModelForSequenceClassification
    ("bert", "train"): "BertForPreTraining",  # AutoModelForPreTraining
    ("gpt2", "inf"): "GPT2LMHeadModel",  # AutoModelForCausalLM
    ("gpt2", "train"): "GPT2LMHeadModel",
    ("opt", "inf"): "OPTForCausalLM",
    ("opt", "train"): "OPTForCausalLM",
}
LABEL_NAME = re.compile(r"^(?P<model>[a-z0-9_]+)-(?P<mode>inf|train)-(?P<seq>\d+)-(?P<batch>\d+)\.json$")
LOSS_MODULE = "<loss>"


def model_runs(data: Path, gpus: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The whole-model measurements to predict (gpu, spec, model, mode, seq, batch,
    measured_s, fw_s, bw_s; seconds) and, for the others, one line each saying why not."""
    rows, skipped = [], []
    for gpu in gpus:
        for path in sorted((data / "labels" / gpu).glob("*.json")):
            match = LABEL_NAME.match(path.name)
            if match is None:
                continue  # -fusion (torch.compile) and multi-GPU runs: not this benchmark's
            model = match["model"]
            if model not in MODELS:
                reason = SKIPPED_MODELS.get(model, "not in the benchmark's model list")
                skipped.append(f"{gpu}/{path.name}: {reason}")
                continue
            label = json.loads(path.read_text(encoding="utf-8"))
            rows.append({
                "gpu": gpu, "spec": GPU_SPECS[gpu], "model": model, "mode": match["mode"],
                "seq": int(match["seq"]), "batch": int(match["batch"]),
                "measured_s": float(label["e2e_latency"]) * 1e-3,
                "fw_s": float(label["fw_latency"]) * 1e-3, "bw_s": float(label["bwall_latency"]) * 1e-3,
            })
    return pd.DataFrame(rows), skipped


def cross_entropy_on(input_ids: torch.Tensor) -> Callable[[Any], torch.Tensor]:
    """NeuSight's training loss: cross-entropy of the (prediction) logits, flattened to
    [batch * seq, vocab], against the input ids."""

    def loss(output: Any) -> torch.Tensor:
        logits = output.prediction_logits if hasattr(output, "prediction_logits") else output.logits
        return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), input_ids.reshape(-1))

    return loss


def analyze_model(data: Path, model: str, mode: str, seq: int, batch: int, spec: HardwareSpec) -> roofline.Analysis:
    """One whole model as NeuSight measured it, analysed on meta tensors in fp32."""
    from roofline.hf import build_hf, load_config

    config_path = data / "DLmodel_configs" / f"{model}.json"
    head = HEADS[(load_config(str(config_path)).model_type, mode)]
    net, inputs = build_hf(str(config_path), batch=batch, seq=seq, head=head, attn="eager", meta=True)
    name = f"{model}-{mode}-{seq}-{batch}"
    if mode == "inf":
        return roofline.analyze(net, inputs, hw=spec, tf32=TF32_OFF, name=name)
    return roofline.analyze(net, inputs, hw=spec, tf32=TF32_OFF, name=name, mode="train", optimizer=None,
                            loss_fn=cross_entropy_on(inputs["input_ids"]))


def timed_seconds(analysis: roofline.Analysis) -> tuple[float, int]:
    """Predicted seconds of what NeuSight timed (all but the loss's forward ops) and the
    number of ops with no formula."""
    ops = analysis.ops
    loss_forward = (ops["phase"] == "forward") & (ops["module"] == LOSS_MODULE)
    return float(ops.loc[~loss_forward, "predicted_s"].sum()), int((~ops["supported"]).sum())


def predict_models(data: Path, runs: pd.DataFrame, show: bool) -> pd.DataFrame:
    """``runs`` with predicted_s, plain_s and unsupported (ops) added; each model
    configuration captured once and predicted on every spec."""
    results = []
    configs = runs.groupby(["model", "mode", "seq", "batch"], sort=False)
    with progress(show, "whole models", configs.ngroups) as advance:
        for (model, mode, seq, batch), group in configs:
            advance(0, f"{model}-{mode}-{seq}-{batch}")
            analysis = analyze_model(data, model, mode, seq, batch, load_spec(group["spec"].iloc[0]))
            for index, run in group.iterrows():
                spec = load_spec(run["spec"])
                predicted, unsupported = timed_seconds(analysis.with_hw(spec))
                plain, _ = timed_seconds(analysis.with_hw(plain_spec(spec)))
                results.append({"index": index, "predicted_s": predicted, "plain_s": plain,
                                "unsupported": unsupported, "ops": len(analysis.ops)})
            advance(1)
    return runs.join(pd.DataFrame(results).set_index("index"))


def load_published(data: Path) -> pd.DataFrame:
    """NeuSight's published |error| per configuration: rows of mode (inf/train), gpu,
    model (published name), batch, method (NeuSight, Roofline, Habitat, Li et al.),
    error (a fraction)."""
    rows = []
    for mode in ("inf", "train"):
        path = data / "published_errors" / f"nvidia_{mode}.csv"
        if not path.exists():
            continue
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8").strip()):
            lines = [line.split(",") for line in block.strip().splitlines()]
            gpu, header, batches = lines[0][0].strip(), lines[1], lines[2]
            models = pd.Series([m or None for m in header[1:]]).ffill().tolist()
            for method_row in lines[3:]:
                for model, batch, value in zip(models, batches[1:], method_row[1:]):
                    if value.strip() and batch.strip():
                        rows.append({"mode": mode, "gpu": gpu, "model": model, "batch": int(batch),
                                     "method": method_row[0], "error": float(value) / 100.0})
    return pd.DataFrame(rows, columns=["mode", "gpu", "model", "batch", "method", "error"])


def with_published(runs: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with error, plain_error and NeuSight's published |errors| (neusight,
    published_roofline; NaN where none was published for the configuration)."""
    runs = runs.assign(error=runs["predicted_s"] / runs["measured_s"] - 1.0,
                       plain_error=runs["plain_s"] / runs["measured_s"] - 1.0,
                       published_model=runs["model"].map(MODELS))
    for method, column in (("NeuSight", "neusight"), ("Roofline", "published_roofline")):
        table = published[published["method"] == method].rename(columns={"error": column, "model": "published_model"})
        runs = runs.merge(table[["mode", "gpu", "published_model", "batch", column]],
                          on=["mode", "gpu", "published_model", "batch"], how="left")
    return runs


def model_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per GPU and mode: mean |error| over all runs, and over the runs NeuSight published
    (ours, plain roofline, NeuSight, NeuSight's roofline baseline)."""
    rows = []
    for (gpu, mode), group in runs.groupby(["gpu", "mode"], sort=False):
        same = group[group["neusight"].notna()]
        rows.append({
            "gpu": gpu, "mode": mode, "runs": len(group), "mean_abs": group["error"].abs().mean(),
            "published_runs": len(same), "mean_abs_same": same["error"].abs().mean(),
            "plain_same": same["plain_error"].abs().mean(), "neusight": same["neusight"].mean(),
            "published_roofline": same["published_roofline"].mean(),
        })
    return pd.DataFrame(rows)
