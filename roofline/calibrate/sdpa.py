"""CPU scaled-dot-product attention: ATen's flash kernel timed on shapes of its own.

aten._scaled_dot_product_flash_attention_for_cpu runs each head by blocks of queries
and keys (roofline.efficiency.cpu_sdpa): a cost per call, per (query block, key block),
per score and per FLOP of its two small products. The shapes here separate those four:
decode calls (one query over 64 to 2048 keys: a block or a few per head, few FLOPs),
short self-attention (one block per head), and long ones (many blocks, 32-, 64- and
256-query splits, one or two key blocks), at head sizes 32, 64 and 128. None is a shape
of the zoo's models, whose errors are then errors on shapes the fit never saw.

As a forward runs them: every shape is called once per cycle, round-robin, after a
buffer the size of the last cache was written (in a forward, the feed-forward layers'
weights pass through the caches between two attention calls: the kernel's buffers and
code start cold; 10-20% slower than back to back here), on q, k and v freshly written
just before and laid out as a transformer's projections leave them
([batch, tokens, heads, head_dim] viewed as [batch, heads, tokens, head_dim]: a key's
rows a head apart, 10-15% slower than contiguous heads here), each call timed alone;
each shape keeps its fastest of CYCLES. fp32, batch 1, no mask, not causal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import torch

from roofline.measure import Timer

__all__ = ["CYCLES", "SDPA_PROBES", "SDPA_TIME_COLUMNS", "measure_sdpa_times"]

#: (heads, q_len, kv_len, head_dim) of the calls timed, per mode.
SDPA_PROBES = {
    "full": ((12, 1, 64, 64), (12, 1, 512, 64), (8, 1, 1024, 64), (4, 1, 2048, 128), (4, 32, 32, 64),
             (12, 64, 64, 64), (6, 96, 96, 32), (8, 160, 160, 64), (4, 128, 128, 128), (4, 256, 256, 64),
             (12, 64, 256, 64), (2, 384, 384, 128), (2, 1024, 1024, 64)),
    "quick": ((12, 1, 512, 64), (4, 1, 2048, 128), (4, 32, 32, 64), (8, 160, 160, 64), (4, 256, 256, 64),
              (2, 1024, 1024, 64)),
}
#: Round-robin cycles over the shapes; each shape keeps its fastest call.
CYCLES = {"full": 7, "quick": 3}
#: Columns of measure_sdpa_times's frame: the shape, seconds per call (dispatch
#: included) and flops_per_s (of the two products, 4 x heads x q_len x kv_len x head_dim).
SDPA_TIME_COLUMNS = ("heads", "q_len", "kv_len", "head_dim", "seconds", "flops_per_s")


def measure_sdpa_times(device: str, timer: Timer, mode: str, advance: Callable[[], None], *,
                       last_cache_bytes: float) -> pd.DataFrame:
    """Seconds of fp32 CPU flash attention calls (see the module), SDPA_TIME_COLUMNS,
    one row per shape of SDPA_PROBES[mode]; ``last_cache_bytes`` (B) written before
    each call. CPU only (a GPU runs other kernels)."""
    probes = SDPA_PROBES[mode]
    flush = torch.empty(int(last_cache_bytes) // 4, device=device)
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    best = [math.inf] * len(probes)
    for _ in range(CYCLES[mode]):
        for i, (heads, q_len, kv_len, head_dim) in enumerate(probes):
            flush.fill_(1.0)
            q, k, v = (torch.randn(1, tokens, heads, head_dim, device=device).transpose(1, 2)
                       for tokens in (q_len, kv_len, kv_len))
            with timer.span() as elapsed:
                flash(q, k, v)
            best[i] = min(best[i], elapsed[0])
    advance()
    rows = [(*shape, seconds, 4.0 * shape[0] * shape[1] * shape[2] * shape[3] / seconds)
            for shape, seconds in zip(probes, best)]
    return pd.DataFrame(rows, columns=list(SDPA_TIME_COLUMNS))
