"""CPU scaled-dot-product attention, predicted against measured, per shape: each model's
aten._scaled_dot_product_flash_attention_for_cpu calls measured inline in a forward (one
process per model and run, runs interleaved, each op's fastest run kept, its run-to-run
spread printed as the noise floor), grouped by shape, and predicted on a calibrated spec
with its ``measured.sdpa_times`` (the block model, roofline.efficiency.cpu_sdpa) and on
the same spec without them (the model before it). None of these shapes is one the
block model's costs were fitted on (roofline.calibrate.sdpa.SDPA_PROBES).

    roofline calibrate --out one.yaml --threads 1 --clock thread
    python benchmarks/cpu_attention.py --hw one.yaml --threads 1 --clock thread [--models hf-bert-base,gpt2-decode]

Errors are (predicted - measured) / measured of the sums per shape; the whole model's line
compares op sums of the fastest run.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_convs import ModelBenchmark, run_model_benchmark
from fidelity import case

DEFAULT_MODELS = "hf-bert-base,vit-b16,llama-tiny,quweit,gpt2-decode,gpt2"
SDPA_OP = "aten._scaled_dot_product_flash_attention_for_cpu"


def _child(name: str, hw: str, threads: int, clock: str) -> None:
    """Measure one model once; print its attention calls as JSON (one object)."""
    import torch

    from roofline.hardware import load_hardware
    from roofline.targets import build_target
    from roofline.tools.validate import validate

    torch.set_num_threads(threads)
    spec = load_hardware(hw)
    without = dataclasses.replace(spec, measured=dataclasses.replace(spec.measured, sdpa_times=()))
    target, batch, options = case(name)
    options = {**options, "meta": False} if target.startswith("hf:") else options
    model, inputs, label = build_target(target, batch=batch, options=options)
    model.eval()
    analysis, _, compared = validate(model, inputs, hw=spec, device="cpu", name=label, warmup=2, repeats=7, clock=clock)
    ops = compared.ops
    plain = analysis.with_hw(without).ops["predicted_s"].reindex(ops.index)
    sdpa = ops["op"] == SDPA_OP
    print(json.dumps({"model": label, "op_sum_s": float(ops["measured_s"].sum()),
                      "predicted_sum_s": float(ops["predicted_s"].sum()), "plain_sum_s": float(plain.sum()),
                      "calls": [{"index": int(i), "shapes": str(ops.at[i, "shapes"]),
                                 "measured_s": float(ops.at[i, "measured_s"]), "predicted_s": float(ops.at[i, "predicted_s"]),
                                 "plain_s": float(plain[i])} for i in ops.index[sdpa]]}))


def _report(name: str, runs: list[dict]) -> None:
    fastest = min(runs, key=lambda run: run["op_sum_s"])
    whole = (f"whole model, fastest run's op sum {fastest['op_sum_s'] * 1e3:.2f} ms: predicted "
             f"{fastest['predicted_sum_s'] * 1e3:.2f} ms ({fastest['predicted_sum_s'] / fastest['op_sum_s'] - 1:+.1%}), "
             f"without the block model {fastest['plain_sum_s'] * 1e3:.2f} ms "
             f"({fastest['plain_sum_s'] / fastest['op_sum_s'] - 1:+.1%})")
    if not runs[0]["calls"]:
        print(f"\n{runs[0]['model']} ({name}): no {SDPA_OP} call; {whole}")
        return
    frames = [pd.DataFrame(run["calls"]).set_index("index") for run in runs]
    measured = pd.concat([f["measured_s"] for f in frames], axis=1)
    best = frames[0].assign(measured_s=measured.min(axis=1), spread=measured.max(axis=1) / measured.min(axis=1) - 1)
    print(f"\n{runs[0]['model']} ({name}): {len(best)} attention calls, {len(runs)} interleaved runs; per-call spread "
          f"(slowest run / fastest - 1) median {best['spread'].median():.1%}, largest {best['spread'].max():.1%}")
    print(f"  {'shapes':58s} {'calls':>5s} {'measured':>11s} {'spread':>7s} {'predicted':>11s} {'err':>7s} "
          f"{'without':>11s} {'err':>7s}")
    for shapes, rows in best.groupby("shapes", sort=False):
        m, p, q = (rows[c].sum() / len(rows) for c in ("measured_s", "predicted_s", "plain_s"))
        print(f"  {shapes:58s} {len(rows):5d} {m * 1e6:8.0f} us {rows['spread'].median():7.1%} {p * 1e6:8.0f} us "
              f"{p / m - 1:+7.1%} {q * 1e6:8.0f} us {q / m - 1:+7.1%}")
    print(f"  {whole}")


def _describe(spec) -> str:
    """The block model's costs fitted on the spec's probes, one line."""
    from roofline.efficiency.cpu_sdpa import sdpa_costs

    costs = sdpa_costs(spec.measured.sdpa_times)
    return (f"block model fitted on {len(spec.measured.sdpa_times)} probes (largest error {costs.fit_error:.1%}): "
            f"call {costs.call_s * 1e6:.1f} us, block {costs.block_s * 1e6:.2f} us, score {costs.score_s * 1e9:.2f} ns, "
            f"products {costs.gemm_flops_per_s / 1e9:.1f} GFLOP/s, K/V {costs.kv_bytes_per_s / 1e9:.2f} GB/s")


def main(argv: list[str] | None = None) -> int:
    return run_model_benchmark(ModelBenchmark(__file__, __doc__.splitlines()[0], "sdpa_times", DEFAULT_MODELS,
                                              "fp32, zoo batch and sequence (benchmarks/fidelity.py)", _child, _report,
                                              _describe), argv)


if __name__ == "__main__":
    raise SystemExit(main())
