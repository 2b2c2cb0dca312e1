"""Tensor-core GEMMs against published timings: how right are the half-precision GEMM
predictions on A100, H100 and H200, whose tensor-core path no measurement in
../shared/gpu-measurements covers (NeuSight's runs are fp32)?

    python benchmarks/tensor_gemm_published.py                                    # to stdout
    python benchmarks/tensor_gemm_published.py --write docs/fidelity-tensor-gemm.md

Each figure below is a published measurement, cited by its URL (numbers copied from the
page, nothing else): cuBLAS / torch.matmul / torch.bmm / F.linear in bf16 or fp16, the
time of one GEMM kernel. The prediction is ``kernel_s`` of roofline.analyze on meta
tensors (``a @ b``; linear as ``nn.Linear(K, N, bias=False)`` on ``[M, K]``) on the spec
named beside the figure (the form factor the source states or its figures imply).

What a fit saw: kernel_model.tensor_gemm_fixed (6 us on h100-sxm, transferred to the
other tensor-core specs) is the median, over the 125 single-batch points of XLA's H100
bf16 table, of measured time less the model's tile and wave time; XLA_H100 below lists
those of its points the other figures of this script are set beside (fit: batch 1;
held out: batch 2 and 4). Every other figure here is held out from every fit.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: openxla/xla, xla/service/gpu/model/matmul_interpolator_data.h (commit b2766086ec,
#: 2025-08-12): XLA's measured H100 ("NVIDIA H100 80GB HBM3") bf16 dot timings, by trace.
XLA_URL = "https://github.com/openxla/xla/blob/main/xla/service/gpu/model/matmul_interpolator_data.h"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One published GEMM timing: source, GPU as the source names it, the spec it is
    compared on, dtype, op ("mm", "bmm" or "linear"), batch, M, N, K, microseconds."""

    source: str
    url: str
    gpu: str
    spec: str
    dtype: str
    op: str
    batch: int
    m: int
    n: int
    k: int
    measured_us: float
    fitted: bool = False  # a point the fixed time was fitted on


FIGURES = [
    Figure('ml-engineering MAMF table', 'https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md#maximum-achievable-matmul-flops-comparison-table',
           'A100 SXM', 'a100-sxm', 'bf16', 'mm', 1, 1024, 10240, 5120, 395.9),
    Figure('ml-engineering MAMF table', 'https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md#maximum-achievable-matmul-flops-comparison-table',
           'A100 PCIe', 'a100-pcie', 'bf16', 'mm', 1, 2048, 5120, 6144, 509.5),
    Figure('ml-engineering MAMF table', 'https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md#maximum-achievable-matmul-flops-comparison-table',
           'H100 SXM', 'h100-sxm', 'bf16', 'mm', 1, 2048, 2048, 13312, 140.6),
    Figure('ml-engineering MAMF table, 2024-08-07 version', 'https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md#maximum-achievable-matmul-flops-comparison-table',
           'A100 SXM', 'a100-sxm', 'bf16', 'mm', 1, 6912, 16384, 2048, 1731.5),
    Figure('ml-engineering MAMF table, 2024-08-07 version', 'https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md#maximum-achievable-matmul-flops-comparison-table',
           'A100 PCIe', 'a100-pcie', 'bf16', 'mm', 1, 2304, 5120, 1536, 141.3),
    Figure('ml-engineering MAMF table, 2024-08-07 version', 'https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md#maximum-achievable-matmul-flops-comparison-table',
           'H100 SXM', 'h100-sxm', 'bf16', 'mm', 1, 6144, 17920, 2816, 782.8),
    Figure('pranjalssh/fast.cu README', 'https://github.com/pranjalssh/fast.cu',
           'H100 (SXM inferred)', 'h100-sxm', 'bf16', 'mm', 1, 4096, 4096, 4096, 192.0),
    Figure('pranjalssh/fast.cu README', 'https://github.com/pranjalssh/fast.cu',
           'H100 (SXM inferred)', 'h100-sxm', 'bf16', 'mm', 1, 8192, 8192, 8192, 1383.0),
    Figure('pyptx docs/performance.md', 'https://github.com/patrick-toulme/pyptx/blob/main/docs/performance.md',
           'H100 SXM5', 'h100-sxm', 'bf16', 'mm', 1, 4096, 4096, 4096, 175.5),
    Figure('pyptx docs/performance.md', 'https://github.com/patrick-toulme/pyptx/blob/main/docs/performance.md',
           'H100 SXM5', 'h100-sxm', 'bf16', 'mm', 1, 6144, 6144, 6144, 636.2),
    Figure('pyptx docs/performance.md', 'https://github.com/patrick-toulme/pyptx/blob/main/docs/performance.md',
           'H100 SXM5', 'h100-sxm', 'bf16', 'mm', 1, 8192, 8192, 8192, 1484.0),
    Figure('inclusionAI/humming PR #2', 'https://github.com/inclusionAI/humming/pull/2',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 1, 8192, 8192, 58.4),
    Figure('inclusionAI/humming PR #2', 'https://github.com/inclusionAI/humming/pull/2',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 2, 8192, 8192, 58.0),
    Figure('inclusionAI/humming PR #2', 'https://github.com/inclusionAI/humming/pull/2',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 4, 8192, 8192, 58.0),
    Figure('tile-ai/TileOPs PR #2148', 'https://github.com/tile-ai/TileOPs/pull/2148',
           'H200', 'h200', 'fp16', 'bmm', 8, 128, 128, 128, 3.2),
    Figure('tile-ai/TileOPs PR #2148', 'https://github.com/tile-ai/TileOPs/pull/2148',
           'H200', 'h200', 'bf16', 'bmm', 8, 128, 128, 128, 3.2),
    Figure('tile-ai/TileOPs PR #2148', 'https://github.com/tile-ai/TileOPs/pull/2148',
           'H200', 'h200', 'fp16', 'bmm', 16, 512, 512, 512, 12.0),
    Figure('tile-ai/TileOPs PR #2148', 'https://github.com/tile-ai/TileOPs/pull/2148',
           'H200', 'h200', 'bf16', 'bmm', 16, 512, 512, 512, 11.9),
    Figure('tile-ai/TileOPs PR #2148', 'https://github.com/tile-ai/TileOPs/pull/2148',
           'H200', 'h200', 'fp16', 'bmm', 8, 1024, 1024, 1024, 31.0),
    Figure('tile-ai/TileOPs PR #2148', 'https://github.com/tile-ai/TileOPs/pull/2148',
           'H200', 'h200', 'bf16', 'bmm', 8, 1024, 1024, 1024, 30.7),
    Figure("thonking.ai, 'Strangely, matrix multiplications...'", 'https://www.thonking.ai/p/strangely-matrix-multiplications',
           'A100 (SXM inferred: 400 W, 83% of 312)', 'a100-sxm', 'bf16', 'mm', 1, 8192, 8192, 8192, 4261.7),
    Figure('ml-explore/mlx PR #3160', 'https://github.com/ml-explore/mlx/pull/3160',
           'H100 (SXM inferred: 2.8 TB/s at M=1)', 'h100-sxm', 'fp16', 'linear', 1, 1, 16384, 16384, 191.7),
    Figure('ml-explore/mlx PR #3160', 'https://github.com/ml-explore/mlx/pull/3160',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 2, 16384, 16384, 191.7),
    Figure('ml-explore/mlx PR #3160', 'https://github.com/ml-explore/mlx/pull/3160',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 4, 16384, 16384, 188.4),
    Figure('ml-explore/mlx PR #3160', 'https://github.com/ml-explore/mlx/pull/3160',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 8, 16384, 16384, 197.0),
    Figure('ml-explore/mlx PR #3160', 'https://github.com/ml-explore/mlx/pull/3160',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 16, 16384, 16384, 179.7),
    Figure('ml-explore/mlx PR #3160', 'https://github.com/ml-explore/mlx/pull/3160',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 32, 16384, 16384, 197.7),
    Figure('ml-explore/mlx PR #3160', 'https://github.com/ml-explore/mlx/pull/3160',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 64, 16384, 16384, 192.8),
    Figure('ml-explore/mlx PR #3173', 'https://github.com/ml-explore/mlx/pull/3173',
           'H100 (SXM inferred)', 'h100-sxm', 'fp16', 'linear', 1, 128, 16384, 16384, 202.5),
    Figure('ml-explore/mlx PR #3255', 'https://github.com/ml-explore/mlx/pull/3255',
           'A100 80GB (form not stated)', 'a100-sxm', 'fp16', 'linear', 1, 16, 4096, 4096, 24.1),
    Figure('ml-explore/mlx PR #3255', 'https://github.com/ml-explore/mlx/pull/3255',
           'A100 80GB (form not stated)', 'a100-sxm', 'fp16', 'linear', 1, 64, 4096, 4096, 27.0),
    Figure('ml-explore/mlx PR #3255', 'https://github.com/ml-explore/mlx/pull/3255',
           'A100 80GB (form not stated)', 'a100-sxm', 'fp16', 'linear', 1, 16, 16384, 16384, 323.9),
    Figure('ml-explore/mlx PR #3255', 'https://github.com/ml-explore/mlx/pull/3255',
           'A100 80GB (form not stated)', 'a100-sxm', 'fp16', 'linear', 1, 64, 16384, 16384, 343.1),
    Figure('ml-explore/mlx PR #3180', 'https://github.com/ml-explore/mlx/pull/3180',
           'A100 (form not stated)', 'a100-sxm', 'fp16', 'linear', 1, 1, 4096, 4096, 22.8),
    Figure('ml-explore/mlx PR #3180', 'https://github.com/ml-explore/mlx/pull/3180',
           'A100 (form not stated)', 'a100-sxm', 'fp16', 'linear', 1, 1, 8192, 8192, 90.1),]

#: (batch, M, N, K, microseconds) of XLA's H100 bf16 table: squares and a few LLM-like shapes.
XLA_H100 = [
    (1, 256, 256, 256, 5.2), (2, 256, 256, 256, 5.8), (4, 256, 256, 256, 6.0), (1, 256, 2048, 256, 6.4),
    (1, 512, 512, 512, 6.6), (1, 256, 256, 4096, 6.4), (2, 512, 512, 512, 6.6), (4, 512, 512, 512, 7.6),
    (1, 4096, 512, 512, 9.0), (1, 1024, 1024, 1024, 9.1), (2, 1024, 1024, 1024, 11.5), (1, 4096, 4096, 256, 21.9),
    (1, 256, 4096, 4096, 20.8), (1, 4096, 256, 4096, 22.8), (4, 1024, 1024, 1024, 17.5), (1, 2048, 2048, 2048, 27.2),
    (1, 512, 4096, 4096, 26.7), (1, 1024, 4096, 4096, 46.5), (1, 4096, 4096, 1024, 50.7), (2, 2048, 2048, 2048, 47.9),
    (1, 2048, 4096, 4096, 91.2), (4, 2048, 2048, 2048, 94.7), (1, 4096, 4096, 4096, 175.5),
    (2, 4096, 4096, 4096, 340.3), (4, 4096, 4096, 4096, 693.1),
]
FIGURES += [Figure("XLA H100 bf16 table", XLA_URL, "H100 80GB HBM3", "h100-sxm", "bf16", "bmm" if b > 1 else "mm",
                   b, m, n, k, us, fitted=b == 1) for b, m, n, k, us in XLA_H100]


def predicted_s(figure: Figure, spec: object) -> float:
    """kernel_s (s) of the figure's GEMM on ``spec``, from meta tensors."""
    import torch
    from torch import nn

    from roofline.analysis import analyze

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[figure.dtype]

    def meta(*shape: int) -> torch.Tensor:
        return torch.empty(shape, dtype=dtype, device="meta")

    if figure.op == "linear":
        model, inputs = nn.Linear(figure.k, figure.n, bias=False, device="meta", dtype=dtype), (meta(figure.m, figure.k),)
    else:
        lead = (figure.batch,) if figure.batch > 1 else ()
        model, inputs = _MatMul(), (meta(*lead, figure.m, figure.k), meta(*lead, figure.k, figure.n))
    return float(analyze(model, inputs, hw=spec).ops["kernel_s"].sum())


class _MatMul:
    def __call__(self, a, b):
        return a @ b


def band(figure: Figure) -> str:
    """Size band by FLOPs; linear layers of at most 128 rows are weight streams ("skinny")."""
    if figure.op == "linear" and figure.m <= 128:
        return "skinny"
    flops = 2.0 * figure.batch * figure.m * figure.n * figure.k
    return "tiny <1 GF" if flops < 1e9 else "small 1-10 GF" if flops < 1e10 else "medium 10-100 GF" if flops < 1e11 else "large >100 GF"


def without_fixed_time(spec: object) -> object:
    """The spec with kernel_model.tensor_gemm_fixed taken out (the model before it)."""
    model = dataclasses.replace(spec.kernel_model, tensor_gemm_fixed_s=0.0)
    return dataclasses.replace(spec, kernel_model=model)


def errors(specs: dict[str, object]) -> list[tuple[Figure, float, float]]:
    """(figure, predicted microseconds, predicted / measured - 1) for every figure."""
    rows = []
    for figure in FIGURES:
        predicted_us = predicted_s(figure, specs[figure.spec]) * 1e6
        rows.append((figure, predicted_us, predicted_us / figure.measured_us - 1))
    return rows


def summary_lines(rows: list[tuple[Figure, float, float]], before: list[tuple[Figure, float, float]]) -> list[str]:
    """Markdown table: median |error| (median signed) per set, spec and band, with and
    without the fixed time."""
    groups: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for (figure, _, error), (_, _, old) in zip(rows, before):
        groups.setdefault(("fit" if figure.fitted else "held out", figure.spec, band(figure)), []).append((error, old))
    lines = ["| set | spec | band | figures | median \\|error\\| (signed) | without tensor_gemm_fixed |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    for (kind, spec, size), pairs in sorted(groups.items()):
        now, old = [p[0] for p in pairs], [p[1] for p in pairs]
        lines.append(f"| {kind} | {spec} | {size} | {len(pairs)} | {statistics.median(abs(e) for e in now):.1%} "
                     f"({statistics.median(now):+.1%}) | {statistics.median(abs(e) for e in old):.1%} "
                     f"({statistics.median(old):+.1%}) |")
    held_now = [abs(e) for f, _, e in rows if not f.fitted]
    held_old = [abs(e) for f, _, e in before if not f.fitted]
    lines += ["", f"All held-out figures ({len(held_now)}): median |error| {statistics.median(held_now):.1%}, largest "
              f"{max(held_now):.1%} (without the fixed time: {statistics.median(held_old):.1%}, largest {max(held_old):.1%})."]
    return lines


def figure_lines(rows: list[tuple[Figure, float, float]]) -> list[str]:
    """Markdown table of every figure, its source, prediction and error."""
    lines = ["| source | GPU (spec) | dtype | op | B x M x N x K | measured | predicted | error | set |",
             "| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- |"]
    for figure, predicted_us, error in rows:
        lines.append(f"| [{figure.source}]({figure.url}) | {figure.gpu} ({figure.spec}) | {figure.dtype} | {figure.op} | "
                     f"{figure.batch}x{figure.m}x{figure.n}x{figure.k} | {figure.measured_us:.1f} us | "
                     f"{predicted_us:.1f} us | {error:+.1%} | {'fit' if figure.fitted else 'held out'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="MD", help="also write the tables as Markdown to this file")
    args = parser.parse_args(argv)
    from roofline.hardware import load_hardware

    specs = {name: load_hardware(name) for name in sorted({f.spec for f in FIGURES})}
    rows = errors(specs)
    before = errors({name: without_fixed_time(spec) for name, spec in specs.items()})
    text = "\n".join(["## By set, spec and size band", "", *summary_lines(rows, before), "",
                      "## Every figure", "", *figure_lines(rows)])
    print(text)
    if args.write:
        header = ("# Tensor-core GEMMs against published timings\n\nWritten by `python benchmarks/tensor_gemm_published.py "
                  f"--write {args.write}`. Each measured figure is a published cuBLAS / torch half-precision GEMM "
                  "timing, cited by its source; the prediction is kernel_s on meta tensors (see the script's "
                  "docstring). `fit`: XLA's single-batch H100 points, on which kernel_model.tensor_gemm_fixed (6 us) "
                  "was fitted; every other figure is held out. Errors: predicted / measured - 1.\n\n")
        Path(args.write).write_text(header + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
