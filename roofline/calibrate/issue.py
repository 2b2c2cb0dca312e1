"""The issue rates of a GPU's kernels that compute their elements one by one
(roofline.efficiency.elementwise), timed and fitted by ``roofline calibrate --device cuda``.

Two kernels are timed at sizes where they run for milliseconds: a bf16 product of the
two strided halves of one tensor (Megatron's chunked SwiGLU: PyTorch's unvectorised
element-wise path) and an fp32 embedding lookup (index_select's gather). Each rate is

    elements / ((measured_s - offset_s) x sms x clock_hz)

in elements per SM per clock, taken only from rows whose time is at least ISSUE_MARGIN
times what their bytes take at the fitted bandwidth: a kernel held at the memory roof
shows no issue rate (its rate is only bounded below), and the spec keeps its default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ISSUE_FIELDS", "ISSUE_MARGIN", "ISSUE_SHAPES", "fit_issue_rates", "measure_cuda_issue"]

#: Kind of kernel timed -> the KernelModel field its rate sets.
ISSUE_FIELDS = {"strided": "strided_elements_per_clock", "gather": "gather_elements_per_clock"}
#: A row shows its issue rate when it takes at least this many times its bytes' time.
ISSUE_MARGIN = 1.2
#: (rows, columns) of the strided halves and of the lookup (ids, row width), per mode.
ISSUE_SHAPES = {"quick": ((8192, 4096),), "full": ((8192, 4096), (16384, 4096), (16384, 8192))}


def measure_cuda_issue(device: str, timer, mode: str, repeats: int, min_sample_s: float) -> pd.DataFrame:
    """Time the strided bf16 product and the fp32 lookup of ISSUE_SHAPES on ``device``
    (best of ``repeats`` batches): columns kind, elements, bytes (read + written), measured_s."""
    import torch

    from roofline.calibrate.bench import best_time

    rows = []
    for count, width in ISSUE_SHAPES[mode]:
        halves = torch.randn(count, 2 * width, device=device, dtype=torch.bfloat16)
        gate, up = halves[:, :width], halves[:, width:]
        rows.append(("strided", count * width, 3 * 2 * count * width,
                     best_time(lambda g=gate, u=up: torch.mul(g, u), timer, repeats, min_sample_s)))
        table = torch.randn(2 * count, width, device=device)
        ids = torch.randint(0, 2 * count, (count,), device=device)
        rows.append(("gather", count * width, 2 * 4 * count * width + 8 * count,
                     best_time(lambda t=table, i=ids: torch.embedding(t, i), timer, repeats, min_sample_s)))
        del halves, gate, up, table, ids
    return pd.DataFrame(rows, columns=["kind", "elements", "bytes", "measured_s"])


def fit_issue_rates(rows: pd.DataFrame, *, sms: int, clock_hz: float, bandwidth: float,
                    offset_s: float = 0.0) -> dict[str, float]:
    """The KernelModel fields (ISSUE_FIELDS) each kind of ``rows`` fixes: the median rate,
    elements per SM per clock, of its rows that take at least ISSUE_MARGIN x their bytes
    at ``bandwidth`` (B/s, the fitted one) after ``offset_s`` (s); kinds with no such row
    are left out (held at the memory roof: no rate seen)."""
    rates = {}
    for kind, field in ISSUE_FIELDS.items():
        chosen = rows[rows["kind"] == kind]
        busy_s = chosen["measured_s"].to_numpy(dtype=float) - offset_s
        bound = busy_s >= ISSUE_MARGIN * chosen["bytes"].to_numpy(dtype=float) / bandwidth
        if bound.any():
            per_clock = chosen["elements"].to_numpy(dtype=float)[bound] / (busy_s[bound] * sms * clock_hz)
            rates[field] = round(float(np.median(per_clock)), 3)
    return rates
