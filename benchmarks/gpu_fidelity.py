"""GPU fidelity benchmark: roofline's predictions against public GPU measurements.

The measurements are NeuSight's (ASPLOS 2025, github.com/sitar-lab/NeuSight, MIT): kernel
latencies of linear, bmm, element-wise, softmax, layer norm and conv over thousands of
shapes on seven NVIDIA GPUs, and whole Hugging Face models (BERT-Large, GPT2-Large,
GPT3-XL, GPT3-2.7B, OPT-1.3B), fp32 with TF32 off, in milliseconds. The data stays where
it is (the shared gpu-measurements folder); this script reads it and writes a report.

    python benchmarks/gpu_fidelity.py                          # everything, printed
    python benchmarks/gpu_fidelity.py --write docs/fidelity-gpu.md
    python benchmarks/gpu_fidelity.py --limit 200 --no-models  # a quick look
    python benchmarks/gpu_fidelity.py --gpus t4,p4 --ops linear,conv

How it predicts (why each choice):
- Through the public path only: every measured shape is built as a tiny nn.Module on
  meta tensors in fp32 and given to ``roofline.analyze`` with TF32 off for matmuls and
  convolutions (as measured), on the GPU's spec by name; the prediction of a kernel is the
  sum of ``predicted_s`` over the aten ops the module runs (a linear layer is views and
  one addmm). Whatever changes in prediction (an efficiency stage, new spec figures)
  shows up here with no change to this script.
- Distinct shapes are analysed together, CHUNK_SHAPES at a time, each in its own
  submodule (the ``module`` column says which shape an op belongs to): one capture and
  one vectorised prediction per chunk instead of thousands. Ops are predicted one by one
  with no state between them, so this gives the numbers a shape analysed alone gives; a
  spot check per op kind compares a few shapes analysed alone and stops the run if they
  differ (then ``--isolated`` analyses every shape alone, slowly).
- Each GPU's spec file is read from this checkout's hw_specs/ (the file
  ``load_hardware(name)`` reads once the package is installed from it): an editable
  install of another checkout would otherwise hide the specs being measured here.
- The plain roofline is the same ops on the same spec with every efficiency 1 and no
  per-op overhead: max(FLOPs / datasheet peak, bytes / datasheet DRAM bandwidth).
- Whole models are analysed as NeuSight ran them: inference in eval mode under no_grad;
  training in train mode, forward, cross-entropy of the logits against the input ids,
  backward, no optimizer. NeuSight times the forward and the backward but not the loss
  between them, so the loss's forward ops are left out of the predicted sum (its
  backward ops are in: backward() runs them).
- Errors are predicted / measured - 1. ``train`` files are the split an efficiency fit
  may use; ``test`` files are held out, and the report's headline numbers are on them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `python benchmarks/gpu_fidelity.py` puts benchmarks/ first on sys.path, not the
# checkout: without this an installed roofline from elsewhere would be measured. Its
# parts (gpu_fidelity_ops, _models, _report) are imported from benchmarks/ also when
# this file is loaded by path.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pandas as pd

# The names other benchmarks and the tests take from here, wherever they now live.
from gpu_fidelity_models import (  # noqa: F401
    HEADS,
    LABEL_NAME,
    LOSS_MODULE,
    MODELS,
    SKIPPED_MODELS,
    analyze_model,
    cross_entropy_on,
    load_published,
    model_runs,
    model_summary,
    predict_models,
    timed_seconds,
    with_published,
)
from gpu_fidelity_ops import (  # noqa: F401
    CHUNK_SHAPES,
    CONV_HARNESS_FILE,
    DEFAULT_DATA,
    GPU_SPECS,
    HARNESS_FILE,
    OP_KINDS,
    OP_KINDS_ALL,
    SCALAR,
    SEED,
    SHAPE_COLUMNS,
    SPLITS,
    TF32_OFF,
    BenchmarkError,
    OneOp,
    ShapeSuite,
    analyze_shapes,
    build_op,
    conv_drift,
    data_root,
    error_table,
    harness_table,
    load_per_op,
    load_spec,
    per_shape,
    plain_spec,
    predict_chunk,
    predict_rows,
    read_rows,
    spot_check,
    subsample,
    timed_by_harness,
    with_errors,
)
from gpu_fidelity_report import ordered, render  # noqa: F401

import roofline
from roofline._io import write_text_atomic

# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="the gpu-measurements folder (or its neusight/ subfolder); default %(default)s")
    parser.add_argument("--gpus", help="comma-separated data folders or spec names (default: every GPU with a spec)")
    parser.add_argument("--ops", help=f"comma-separated op kinds, of {', '.join(OP_KINDS)} (default: all)")
    parser.add_argument("--limit", type=int, help="at most N rows per split, GPU and op kind (random, fixed seed)")
    parser.add_argument("--models", action=argparse.BooleanOptionalAction, default=True,
                        help="predict the whole models too (default: yes)")
    parser.add_argument("--isolated", action="store_true", help="analyse every shape alone (slow; exact by construction)")
    parser.add_argument("--write", type=Path, help="write the markdown report here instead of printing it")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise BenchmarkError(f"--limit: expected a positive number of rows, got {args.limit}")
    return args


def pick(option: str | None, known: dict[str, str], what: str) -> list[str]:
    """The values named by a comma-separated option (by key or by value of ``known``),
    in ``known``'s order; all of them when the option is absent."""
    if not option:
        return list(known)
    wanted = [w.strip() for w in option.split(",") if w.strip()]
    chosen = [key for key, value in known.items() if key in wanted or value in wanted]
    unknown = [w for w in wanted if w not in known and w not in known.values()]
    if unknown:
        raise BenchmarkError(f"{what}: unknown {', '.join(unknown)}; expected some of {', '.join(known)}")
    return chosen


def run(args: argparse.Namespace, command: str) -> str:
    """Load, predict and render; the report as markdown."""
    started = time.perf_counter()
    data = data_root(args.data)
    gpus = pick(args.gpus, {g: s for g, s in GPU_SPECS.items() if s is not None}, "--gpus")
    kinds = pick(args.ops, {k: k for k in OP_KINDS}, "--ops")
    show = sys.stderr.isatty()
    available = load_per_op(data, kinds, gpus)
    rows = subsample(available, args.limit)
    if len(rows):
        rows = with_errors(predict_rows(rows, show, args.isolated))
    runs, skipped = (model_runs(data, gpus) if args.models else (pd.DataFrame(), []))
    if len(runs):
        runs = with_published(predict_models(data, runs, show), load_published(data))
    info = {"command": command, "data": os.path.relpath(args.data.resolve(), ROOT), "gpus": gpus, "limit": args.limit,
            "available": len(available), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": git_commit(), "transformers": transformers_version(),
            "elapsed_s": time.perf_counter() - started}
    return render(info, rows, runs, skipped)


def transformers_version() -> str:
    """The installed transformers' version, or "not installed" (only whole models need it)."""
    try:
        import transformers
    except ImportError:
        return "not installed"
    return transformers.__version__


def git_commit() -> str:
    """This checkout's commit (short), marked when the working tree has changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"`{commit}`" + (" with uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        command = "python benchmarks/gpu_fidelity.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
        report = run(args, command)
    except BenchmarkError as exc:
        print(f"gpu_fidelity: {exc}", file=sys.stderr)
        return 2
    if not args.write:
        print(report)
        return 0
    try:
        write_text_atomic(args.write, report)
    except roofline.RooflineError as exc:  # already one line naming the path
        print(f"gpu_fidelity: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())