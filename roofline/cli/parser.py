"""The ``roofline`` command line: one small function per subcommand adds its parser and
binds it to its cmd_* function (``args.run``). Bad arguments exit with EXIT_USER_ERROR
and one line on stderr, as every user error of the command does."""

from __future__ import annotations

import argparse
from typing import Any

from roofline.cli import commands

#: Exit status of a user error (bad spec, target, argument, unsupported op under --strict).
EXIT_USER_ERROR = 2

_TARGET_HELP = "a zoo name (see `roofline zoo`) or path/to/file.py[:function]"
_DTYPE_HELP = "cast the model and inputs (fp32, bf16, fp16, fp64; default: the model's own, fp32 for the zoo)"
_META_HELP = "build on the meta device: no data, any size"
_BATCH_HELP = "batch size passed to the build function (default: the build function's, see `roofline zoo`)"
_STRICT_HELP = "fail if any op has no formula"
_CLOCK_HELP = "CPU timing: wall time, or the thread's CPU time (with --threads 1 on a busy machine)"
_FIGURE_SUFFIXES = "(.png, .svg, .pdf)"
_Subparsers = Any  # argparse's _SubParsersAction, private in typeshed


#: The largest batch, micro-batch or count the command takes: a tensor dimension torch
#: indexes with 32-bit kernels on most devices; beyond it shapes overflow, not models.
MAX_SIZE = 2**31 - 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        """One line on stderr (the error and where help is), exit status EXIT_USER_ERROR
        (argparse also uses 2); no usage block, as every user error of the command."""
        self.exit(EXIT_USER_ERROR, f"roofline: error: {message} (see {self.prog} --help)\n")


def count(minimum: int) -> Any:
    """An argparse type: an integer from ``minimum`` to MAX_SIZE, a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not minimum <= value <= MAX_SIZE:
            raise argparse.ArgumentTypeError(f"expected an integer from {minimum} to {MAX_SIZE}, got {text}")
        return value

    return parse


def device(text: str) -> str:
    """An argparse type for --device: cpu, cuda or cuda:N (what roofline can time)."""
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    return text


def output_path(text: str) -> str:
    """An argparse type: a file path to write, never empty (an empty --csv would be
    silently ignored). Where it lives is checked before any work (commands.check_outputs)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    return text


def view(text: str) -> tuple[str, int | None]:
    """An argparse type for --by: "category", "op", "module" or "module:DEPTH" (DEPTH a
    positive integer, or "all" for full paths) -> (view, depth)."""
    name, _, depth = text.partition(":")
    if name not in commands.VIEWS or (depth and name != "module"):
        raise argparse.ArgumentTypeError(f"expected category, op, module or module:DEPTH, got {text!r}")
    if not depth:
        return name, 1
    if depth == "all":
        return name, None
    if not depth.isdigit() or int(depth) < 1:
        raise argparse.ArgumentTypeError(f"module:DEPTH takes a positive integer or 'all', got {depth!r}")
    return name, int(depth)


def _add_build_option(parser: argparse.ArgumentParser) -> None:
    """--option KEY=VALUE (repeatable): extra arguments of the model's build function."""
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="extra build option (repeatable)")


def _add_analyze(commands_: _Subparsers) -> None:
    from roofline.analysis import DEFAULT_HW

    p = commands_.add_parser("analyze", help="count, place and predict every op of a model")
    p.add_argument("target", help="a zoo name (see `roofline zoo`), path/to/file.py[:function], or hf:MODEL_ID / hf:path/to/config.json")
    p.add_argument("--hw", default=DEFAULT_HW, help=f"spec name or YAML path (default {DEFAULT_HW})")
    p.add_argument("--batch", type=count(1), default=None, help=_BATCH_HELP)
    p.add_argument("--seq", type=count(1), default=None, help="sequence length passed to the build function (hf: targets, transformers)")
    p.add_argument("--dtype", default=None, help=_DTYPE_HELP)
    p.add_argument("--meta", action="store_true", help=_META_HELP)
    _add_build_option(p)
    p.add_argument("--train", action="store_true", help="one training step (forward, backward, --optimizer update), not inference")
    p.add_argument("--optimizer", default="adamw", choices=("adamw", "adam", "sgd", "none"), help="with --train: the update (default adamw)")
    p.add_argument("--top", type=count(0), default=10, help="how many op groups to list (0: none)")
    p.add_argument("--by", type=view, default=("category", 1), metavar="VIEW",
                   help="breakdown: category (default), op, module or module:DEPTH (e.g. module:2, module:all)")
    p.add_argument("--all-categories", action="store_true", help="list every category, those with no op too")
    p.add_argument("--csv", type=output_path, help="write the per-op table as CSV")
    p.add_argument("--json", type=output_path, help="write totals and per-op rows as JSON")
    p.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    p.add_argument("--plot", type=output_path, metavar="FILE", help=f"draw the roofline chart to FILE {_FIGURE_SUFFIXES}")
    p.add_argument("--trace", type=output_path, metavar="FILE", help="write the predicted per-op timeline as a Chrome/Perfetto trace (JSON)")
    p.add_argument(
        "--trace-measured", metavar="FILE", help="a torch.profiler Chrome trace of the measured run, merged into --trace and lined up with it"
    )
    p.set_defaults(run=commands.cmd_analyze)


def _add_sweep(commands_: _Subparsers) -> None:
    p = commands_.add_parser("sweep", help="predict one model over a grid of batch sizes, seqs and specs")
    p.add_argument("target", help=_TARGET_HELP)
    p.add_argument("--hw", required=True, help="spec names or YAML paths, comma-separated (e.g. h100-sxm,a100-sxm)")
    p.add_argument("--batch", default=None, help="batch sizes, comma-separated (e.g. 1,8,64,512)")
    p.add_argument("--seq", default=None, help="sequence lengths, comma-separated (build option 'seq')")
    p.add_argument("--dtype", default=None, help=_DTYPE_HELP)
    p.add_argument("--meta", action="store_true", help=_META_HELP)
    _add_build_option(p)
    p.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    p.add_argument("--out", type=output_path, metavar="CSV", help="write the tidy results table (one row per shape and spec)")
    p.add_argument("--plot", type=output_path, metavar="FILE", help=f"draw predicted time and throughput per spec to FILE {_FIGURE_SUFFIXES}")
    p.add_argument("--method", choices=("auto", "symbolic", "capture"), default="auto",
                   help="symbolic: capture once with symbolic batch/seq and evaluate the grid at once (falls back where "
                        "the model does not allow it); capture: one capture per shape; auto (default): symbolic from 16 shapes")
    p.set_defaults(run=commands.cmd_sweep)


def _add_validate(commands_: _Subparsers) -> None:
    p = commands_.add_parser("validate", help="run a model for real (or read a profiler trace of it) and compare measured op times with the predictions")
    p.add_argument("target", help=_TARGET_HELP)
    p.add_argument("--hw", required=True, help="spec name or YAML path (a calibrated one: `roofline calibrate`)")
    p.add_argument("--batch", type=count(1), default=None, help=_BATCH_HELP)
    p.add_argument("--dtype", default=None, help=_DTYPE_HELP)
    p.add_argument("--device", default=None, type=device, help="run on this device (cpu, cuda, cuda:N); default: where the model is built")
    _add_build_option(p)
    p.add_argument("--profile", metavar="TRACE", default=None,
                   help="compare with this torch.profiler Chrome trace (export_chrome_trace) of the model, "
                        "taken on any device, instead of running it here")
    p.add_argument("--meta", action="store_true",
                   help="with --profile: build the model on the meta device (it is only analysed, never run here)")
    p.add_argument("--method", choices=("inline", "profile", "replay"), default="inline",
                   help="time ops in real forwards (inline), from torch.profiler spans of forwards with no dispatch mode (profile: no Python argument parsing inside an op's time), or re-run each in isolation (replay)")
    p.add_argument("--warmup", type=count(0), default=2, help="warm-up forwards (inline, profile) or calls (replay)")
    p.add_argument("--repeats", type=count(1), default=7, help="timed forwards (inline) or batches (replay); the median is kept")
    p.add_argument("--threads", type=count(1), default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--clock", choices=("wall", "thread"), default="wall", help=_CLOCK_HELP)
    p.add_argument("--top", type=count(0), default=10, help="how many ops to list")
    p.add_argument("--csv", type=output_path, help="write the per-op predicted vs measured table as CSV")
    p.add_argument("--plot", type=output_path, metavar="FILE", help=f"draw predicted vs measured per op to FILE {_FIGURE_SUFFIXES}")
    p.set_defaults(run=commands.cmd_validate)


def _add_calibrate(commands_: _Subparsers) -> None:
    p = commands_.add_parser("calibrate", help="measure this machine and write a hardware spec")
    p.add_argument("--out", type=output_path, required=True, help="YAML file to write (e.g. my-machine.yaml)")
    p.add_argument("--device", default="cpu", type=device, help="cpu (default), cuda or cuda:N")
    p.add_argument("--quick", action="store_true", help="a few seconds, coarse figures (for tests)")
    p.add_argument("--threads", type=count(1), default=None, help="torch CPU threads to measure with (default: torch's)")
    p.add_argument("--clock", choices=("wall", "thread"), default="wall", help=_CLOCK_HELP)
    p.add_argument("--name", default=None, help="spec name (default: the file's stem)")
    p.add_argument("--rounds", type=count(1), default=None,
                   help="interleaved rounds of every probe, each figure its fastest (default 3, quick 1): "
                        "more take longer and give steadier figures on a noisy machine")
    p.set_defaults(run=commands.cmd_calibrate)


def _add_fit_kernels(commands_: _Subparsers) -> None:
    p = commands_.add_parser("fit-kernels", help="fit a GPU spec's kernel model on single-kernel timing files")
    p.add_argument("--measurements", required=True, help="folder of <op>/<GPU>.csv[.gz] timing files (NeuSight's layout)")
    p.add_argument("--gpu", required=True, help="the GPU's file stem in that folder (e.g. Tesla_T4)")
    p.add_argument("--hw", required=True, help="spec (name or YAML path) giving the GPU's peaks and bandwidth")
    p.add_argument("--out", type=output_path, required=True, help="YAML file to write (the spec with the fitted kernel_model)")
    p.add_argument("--sms", type=count(1), default=None, help="streaming multiprocessors (default: the spec's kernel_model)")
    p.add_argument("--boost-clock", type=float, default=None, metavar="MHZ", help="clock the spec's peaks are quoted at")
    p.add_argument("--sustained-clock", type=float, default=None, metavar="MHZ", help="clock the card holds under load")
    p.add_argument("--name", default=None, help="spec name (default: the file's stem)")
    p.set_defaults(run=commands.cmd_fit_kernels)


def _add_plan(commands_: _Subparsers) -> None:
    p = commands_.add_parser("plan", help="best data/tensor/pipeline split and micro-batch for training on a multi-device spec")
    p.add_argument("target", help=_TARGET_HELP)
    p.add_argument("--hw", required=True, help="a multi-device spec name or YAML path (e.g. 8xh100-sxm, 2x8xh100-sxm)")
    p.add_argument("--global-batch", type=count(1), required=True, help="samples per training step, over all devices")
    p.add_argument("--dtype", default=None, help=_DTYPE_HELP)
    p.add_argument("--optimizer", default="adamw", choices=("adamw", "adam", "sgd", "none"), help="optimizer step to include (default adamw)")
    p.add_argument("--microbatch-overhead", default="0 us",
                   help="extra fixed cost per micro-batch in a pipeline, beyond the kernel launches and sends the "
                        "model counts, with its unit (default 0 us; at most 1 s)")
    p.add_argument("--no-overlap", action="store_true", help="do not overlap the gradient all-reduce with backward")
    _add_build_option(p)
    p.add_argument("--top", type=count(0), default=10, help="how many splits to list")
    p.set_defaults(run=commands.cmd_plan)


def _add_llm(commands_: _Subparsers) -> None:
    p = commands_.add_parser("llm", help="LLM serving: TTFT, TPOT, tokens/s and memory per batch, from captured prefill and decode")
    p.add_argument("target", help="hf:MODEL_ID, hf:path/to/config.json, or the zoo's llama-tiny, llama-7b, llama-70b, gpt2")
    p.add_argument("--hw", required=True, help="spec names or YAML paths, comma-separated (a multi-device spec splits tensor-parallel)")
    p.add_argument("--dtype", default="bf16", help="compute dtype (default bf16)")
    p.add_argument("--weights", default=None, help="stored weight format: int8, int4 or fp8 (default: the dtype)")
    p.add_argument("--kv", default=None, help="stored KV-cache format: int8 or fp8 (default: the dtype)")
    p.add_argument("--prompt", type=int, default=512, help="prompt tokens per request (default 512)")
    p.add_argument("--generate", type=int, default=128, help="output tokens per request (default 128)")
    p.add_argument("--batch", default="1,8,64", help="batch sizes, comma-separated (default 1,8,64)")
    p.add_argument("--tp", type=int, default=None, help="tensor-parallel devices (default: all of the spec's)")
    p.add_argument("--op-overhead", default=None, metavar="TIME", help="per-op launch overhead, e.g. '0 us' for CUDA graphs (default: the spec's)")
    p.add_argument("--decode", default="trapezoid", help="trapezoid (3 decode captures, default) or each (one per token)")
    p.add_argument("--no-crossover", action="store_true", help="skip the search for the batch where decode turns compute-bound")
    p.add_argument("--csv", help="write the table as CSV")
    p.add_argument("--plot", metavar="FILE", help=f"draw TTFT and TPOT per batch to FILE {_FIGURE_SUFFIXES}")
    p.set_defaults(run=commands.cmd_llm)


def _add_hw(commands_: _Subparsers) -> None:
    hw = commands_.add_parser("hw", help="hardware specs")
    hw_commands = hw.add_subparsers(dest="hw_command", required=True, parser_class=_Parser)
    hw_list = hw_commands.add_parser("list", help="list the packaged specs")
    hw_list.set_defaults(run=commands.cmd_hw_list)
    hw_show = hw_commands.add_parser("show", help="peaks, memory levels and ridge points of one spec")
    hw_show.add_argument("name", help="spec name or YAML path")
    hw_show.set_defaults(run=commands.cmd_hw_show)


def _add_zoo(commands_: _Subparsers) -> None:
    zoo = commands_.add_parser("zoo", help="list the zoo models")
    zoo.set_defaults(run=commands.cmd_zoo)


#: Adds each subcommand, in the order ``roofline --help`` lists them.
SUBCOMMANDS = (_add_analyze, _add_sweep, _add_validate, _add_calibrate, _add_fit_kernels, _add_plan, _add_llm, _add_hw, _add_zoo)


def build_parser() -> argparse.ArgumentParser:
    """The ``roofline`` parser: every subcommand, each bound to its cmd_* function as ``args.run``."""
    parser = _Parser(prog="roofline", description="Roofline and operational-intensity modeling for PyTorch workloads.")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in SUBCOMMANDS:
        add(subcommands)
    return parser
