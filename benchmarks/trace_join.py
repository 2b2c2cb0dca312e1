"""How well a torch.profiler trace joins the analysis, and how much of the forward is
Other, on zoo models: prints one line per model.

    python benchmarks/trace_join.py                       # the default models, CPU traces
    python benchmarks/trace_join.py gpt2 nlm --threads 1

For each model: one warm-up forward, one forward under torch.profiler (CPU), the trace
exported to a temporary file and joined with the model's analysis by
roofline.compare_trace. Printed: the analysis' ops, how many the join matched, the ops
only one side has (names and counts), the trace's Other (the forward's time in no aten
op) as a share of its forward, and the seconds the join took. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

import roofline
from roofline.targets import build

#: Zoo models and the options that keep one forward short on a CPU.
MODELS = {"gpt2": {"seq": 32}, "bert-base": {"seq": 32}, "resnet50": {}, "nlm": {}, "llama-tiny": {}, "mobilenetv2": {},
          "dlrm": {}, "gcn": {}}


def call(model, inputs):
    return model(**inputs) if isinstance(inputs, dict) else model(*inputs)


def join_one(name: str, options: dict, hw: str, folder: Path) -> str:
    target = build(name, options=options)
    model = target.model.eval() if hasattr(target.model, "eval") else target.model
    analysis = roofline.analyze(model, target.inputs, hw=hw, name=name)
    with torch.no_grad():
        call(model, target.inputs)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            call(model, target.inputs)
    path = folder / f"{name}.json"
    prof.export_chrome_trace(str(path))
    started = time.perf_counter()
    c = roofline.compare_trace(analysis, path)
    join_s = time.perf_counter() - started
    only_a = {op: int(n) for op, n in c.analysis_only["op"].value_counts().head(4).items()}
    only_t = {op: int(n) for op, n in c.trace_only["op"].value_counts().head(4).items()}
    return (f"{name:12s} ops {len(analysis.ops):5d} matched {len(c.ops):5d}  analysis only {only_a or '-'}  "
            f"trace only {only_t or '-'}  Other {100 * c.other_s / c.forward_s:5.1f}% of {c.forward_s * 1e3:.3g} ms  "
            f"join {join_s:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(MODELS))
    parser.add_argument("--hw", default="epyc-9654", help="spec to analyse on (the join does not depend on it)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU traces, spec {args.hw}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            print(join_one(name, MODELS.get(name, {}), args.hw, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
