"""Products of few output columns on a CPU: a linear layer of a few out_features over
many rows (an NLM predicate layer of 8, a graph layer of 16 hidden units).

A CPU GEMM kernel fills a register tile several vectors wide with output columns and
packs the activation for each product; with a few columns most of the tile idles and
the packing is paid for few FLOPs, so such a product runs far below the GEMM peak and
below what one efficiency per spec says. Calibrate times F.linear on GEMM_COLS_ROWS
cache-resident rows at each column count and depth (FLOP/s, fp32), and predictions on
the spec take that rate for such products (roofline.efficiency.cpu.narrow_gemm_s).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch

from roofline.calibrate.bench import best_time
from roofline.measure import Timer

__all__ = ["GEMM_COLS", "GEMM_COLS_DEPTHS", "GEMM_COLS_ROWS", "measure_gemm_cols"]

#: Output columns (out_features) timed, per mode.
GEMM_COLS = {"full": (1, 2, 4, 8, 16, 32, 64), "quick": (1, 8, 64)}
#: Reduction depths (in_features): a short one and a long one.
GEMM_COLS_DEPTHS = (64, 1024)
#: Rows of the activation (its M): many, as the products this describes have.
GEMM_COLS_ROWS = 4096


def measure_gemm_cols(device: str, timer: Timer, mode: str, repeats: int, min_sample_s: float,
                      advance: Callable[[], None]) -> pd.DataFrame:
    """FLOP/s of ``F.linear`` of GEMM_COLS_ROWS fp32 rows onto a few columns: cols,
    depth, seconds, flops_per_s. CPU only (a GPU's kernel model tiles its GEMMs)."""
    out = []
    for depth in GEMM_COLS_DEPTHS:
        x = torch.randn(GEMM_COLS_ROWS, depth, device=device)
        for cols in GEMM_COLS[mode]:
            weight, bias = torch.randn(cols, depth, device=device), torch.randn(cols, device=device)
            with torch.no_grad():
                seconds = best_time(lambda x=x, w=weight, b=bias: torch.nn.functional.linear(x, w, b), timer, repeats,
                                    min_sample_s)
            out.append({"cols": cols, "depth": depth, "seconds": seconds,
                        "flops_per_s": 2.0 * GEMM_COLS_ROWS * cols * depth / seconds})
    advance()
    return pd.DataFrame(out, columns=["cols", "depth", "seconds", "flops_per_s"])
