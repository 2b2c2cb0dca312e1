"""The calibration's microbenchmarks, all through PyTorch ops: per-op overhead (work and
views), the bandwidth sweep over working-set sizes, GEMM and vector peaks per dtype, the
matrix-efficiency suite of medium layers with cold caches, and the host link. Each
returns a DataFrame of raw timings (SI units: s, bytes, B/s, FLOP/s); roofline.calibrate.fit
turns them into a spec's figures.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd
import torch

from roofline.calibrate.bench import MiB, best_cold_time, best_time, cache_flusher
from roofline.dtypes import USER_DTYPES
from roofline.measure import Timer

__all__ = ["measure_overhead", "measure_view_overhead", "measure_module_call", "sweep_sizes", "measure_bandwidth", "measure_gemm",
           "measure_vector", "measure_efficiency", "measure_gemm_rows", "GEMM_ROWS", "measure_host_link", "EFFICIENCY_SUITE", "CALIBRATED_DTYPES"]

#: (first, last) working-set exponents of two (bytes) and points per octave, per device
#: and mode: past four times the last cache (32 MiB L3 here; up to 50 MB+ of L2 on a GPU).
SWEEP = {"cpu": {"full": (14, 28, 2), "quick": (14, 28, 1)},
         "cuda": {"full": (16, 31, 2), "quick": (16, 30, 1)}}
#: GEMM sizes (square, n x n x n) tried per dtype after the probe, per mode.
GEMM_SIZES = {"cpu": {"full": (512, 1024, 2048), "quick": (256, 512)},
              "cuda": {"full": (2048, 4096, 8192), "quick": (1024, 2048)}}
GEMM_PROBE = {"cpu": 256, "cuda": 1024}
#: A GEMM call this long (s) is far past its fixed costs: larger sizes are not tried.
LONG_CALL_S = 0.05
#: Vector kernel sizes (elements), chosen to sit in the caches.
VECTOR_ELEMENTS = {"cpu": {"full": (2**16, 2**18, 2**20), "quick": (2**16, 2**18)},
                   "cuda": {"full": (2**22, 2**24, 2**26), "quick": (2**22, 2**24)}}
#: Medium layers whose median fraction of the GEMM peak becomes efficiency.matrix:
#: ("mm", m, n, k) or ("conv", batch, in_ch, out_ch, size, kernel).
EFFICIENCY_SUITE = {
    "full": (("mm", 256, 256, 256), ("mm", 128, 768, 768), ("mm", 128, 3072, 768), ("mm", 512, 1024, 1024),
             ("mm", 64, 4096, 1024), ("conv", 1, 64, 64, 56, 3), ("conv", 1, 256, 256, 14, 3),
             ("conv", 1, 256, 64, 56, 1)),
    "quick": (("mm", 128, 768, 768), ("conv", 1, 64, 64, 28, 3)),
}
#: Dependent ops per timed call of the bandwidth chain.
CHAIN = 4
#: Only sizes whose time is at least this many overheads tell a bandwidth apart from it.
MIN_OVER_OVERHEAD = 3.0

#: The dtypes whose GEMM and vector peaks a CPU calibration measures.
CALIBRATED_DTYPES = {key: USER_DTYPES[key] for key in ("fp32", "bf16", "fp64", "fp16")}


def measure_overhead(device: str, timer: Timer, repeats: int, min_sample_s: float) -> pd.DataFrame:
    """Seconds per call of tiny (one-element) versions of common aten ops, called through
    their OpOverloads (the path a measured run times): element-wise, reductions, softmax,
    normalisation, concatenation, gathers, a matmul. Their median is the per-op overhead."""
    x = torch.ones(1, device=device)
    y = torch.ones(1, device=device)
    x2 = torch.ones(1, 1, device=device)
    mask = torch.ones(1, dtype=torch.bool, device=device)
    index = torch.zeros(1, dtype=torch.long, device=device)
    aten = torch.ops.aten
    calls = {
        "aten.add": lambda: aten.add.Tensor(x, y),
        "aten.mul": lambda: aten.mul.Tensor(x, y),
        "aten.relu": lambda: aten.relu.default(x),
        "aten.sum": lambda: aten.sum.default(x),
        "aten.clone": lambda: aten.clone.default(x),
        "aten.cat": lambda: aten.cat.default([x, y]),
        "aten.amax": lambda: aten.amax.default(x2, [1]),
        "aten._softmax": lambda: aten._softmax.default(x2, 1, False),
        "aten.where": lambda: aten.where.self(mask, x, y),
        "aten.index_select": lambda: aten.index_select.default(x, 0, index),
        "aten.mm": lambda: aten.mm.default(x2, x2),
        "aten.native_layer_norm": lambda: aten.native_layer_norm.default(x2, [1], None, None, 1e-5),
    }
    rows = [{"op": op, "seconds": best_time(fn, timer, repeats, min_sample_s)} for op, fn in calls.items()]
    return pd.DataFrame(rows)


def measure_view_overhead(device: str, timer: Timer, repeats: int, min_sample_s: float) -> pd.DataFrame:
    """Seconds per call of ops that do no work: views and an allocation, through their
    OpOverloads. On a GPU no kernel runs, so CUDA events see (almost) nothing."""
    x = torch.ones(2, device=device)
    x2 = torch.ones(2, 2, device=device)
    aten = torch.ops.aten
    calls = {
        "aten.view": lambda: aten.view.default(x2, [4]),
        "aten.select": lambda: aten.select.int(x2, 0, 0),
        "aten.slice": lambda: aten.slice.Tensor(x, 0, 0, 1),
        "aten.t": lambda: aten.t.default(x2),
        "aten.expand": lambda: aten.expand.default(x, [2, 2]),
        "aten.unsqueeze": lambda: aten.unsqueeze.default(x, 0),
        "aten.permute": lambda: aten.permute.default(x2, [1, 0]),
        "aten.empty": lambda: aten.empty.memory_format([2], device=x.device),
    }
    rows = [{"op": op, "seconds": best_time(fn, timer, repeats, min_sample_s)} for op, fn in calls.items()]
    return pd.DataFrame(rows)


class _Passthrough(torch.nn.Module):
    """A module whose forward does nothing: what calling it costs is the call itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


#: Distinct modules the module-call probe calls in turn, as a forward calls its layers.
MODULE_CHAIN = 256


def measure_module_call(timer: Timer, repeats: int, min_sample_s: float) -> pd.DataFrame:
    """Seconds of host Python one call of an nn.Module whose forward runs no op costs
    (Module.__call__'s hook checks and the call of its forward): MODULE_CHAIN distinct
    modules called in turn, less the same loop without the calls, per call (one call
    of one module again and again runs faster than a forward's calls of many, and
    swings twofold between runs). One row, op "nn.Module call", seconds (at least 0).
    Eager pays it between ops, whatever the device."""
    chain, x = [_Passthrough() for _ in range(MODULE_CHAIN)], torch.ones(1)

    def called() -> None:
        for module in chain:
            module(x)

    def looped() -> None:
        for module in chain:
            pass

    seconds = best_time(called, timer, repeats, min_sample_s) - best_time(looped, timer, repeats, min_sample_s)
    return pd.DataFrame([{"op": "nn.Module call", "seconds": max(seconds / MODULE_CHAIN, 0.0)}])


def sweep_sizes(mode: str, kind: str = "cpu") -> list[int]:
    """Working-set sizes (bytes) of the bandwidth sweep."""
    first, last, per_octave = SWEEP[kind][mode]
    sizes = sorted({int(round(2 ** (e / per_octave))) for e in range(first * per_octave, last * per_octave + 1)})
    return sizes


def measure_bandwidth(device: str, timer: Timer, sizes: list[int], overhead_s: float, repeats: int,
                      min_sample_s: float, advance: Callable[[], None]) -> pd.DataFrame:
    """Bandwidth (compulsory bytes / (time - overhead)) per working set, of two kernels:

    * "add_out": ``torch.add(a, b, out=c)`` into a reused buffer: the streaming
      bandwidth. The levels are fitted to it.
    * "add": a chain of CHAIN dependent adds ``x = x + b``, each writing a fresh output,
      as ops in a forward do: on CPU, glibc maps blocks past its mmap threshold (32 MiB at
      most) fresh, and the kernel faults in and zeroes every page on first write, a cost
      a reused buffer never pays. fit_fresh_write reads that cost off the two curves.

    Rows: working_set_bytes (the size asked for), kernel, bytes (moved per op: reads +
    writes), seconds (best per op), bandwidth (B/s), resolved (time at least
    MIN_OVER_OVERHEAD overheads, so the bandwidth is not mostly the overhead's noise)."""
    rows = []
    for size in sizes:
        n = max(size // 12, 1)  # fp32 add: two reads and a write of 4 bytes each
        a = torch.rand(n, device=device)
        b = torch.rand(n, device=device)

        def chain() -> None:
            x = a
            for _ in range(CHAIN):
                x = torch.add(x, b)

        seconds = best_time(chain, timer, repeats, min_sample_s) / CHAIN
        rows.append(("add", size, 12 * n, seconds))
        c = torch.empty(n, device=device)
        seconds = best_time(lambda: torch.add(a, b, out=c), timer, repeats, min_sample_s)
        rows.append(("add_out", size, 12 * n, seconds))
        del a, b, c
        advance()
    frame = pd.DataFrame(rows, columns=["kernel", "working_set_bytes", "bytes", "seconds"])
    useful = frame["seconds"] - overhead_s
    frame["bandwidth"] = frame["bytes"] / useful.clip(lower=1e-12)
    frame["resolved"] = frame["seconds"] >= MIN_OVER_OVERHEAD * overhead_s
    return frame[["working_set_bytes", "kernel", "bytes", "seconds", "bandwidth", "resolved"]]


def _gemm_rate(n: int, dtype: torch.dtype, device: str, timer: Timer, repeats: int, min_sample_s: float) -> tuple[float, float]:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    seconds = best_time(lambda: torch.mm(a, b), timer, repeats, min_sample_s, max_inner=100)
    return seconds, 2.0 * n**3 / seconds


def measure_gemm(device: str, timer: Timer, mode: str, repeats: int, min_sample_s: float,
                 advance: Callable[[], None]) -> tuple[pd.DataFrame, dict[str, float], list[str]]:
    """Best GEMM FLOP/s per dtype: (rows, peaks, notes).

    Sizes grow from the probe through GEMM_SIZES; a dtype stops growing once one call
    lasts LONG_CALL_S (it is then well past its overheads), so a slow dtype (fp16 on a
    CPU without hardware support) costs a second, not minutes."""
    kind = "cuda" if device == "cuda" else "cpu"
    rows, peaks, notes = [], {}, []
    dtypes = dict(CALIBRATED_DTYPES)
    if kind == "cuda":
        dtypes = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
                  "fp64": torch.float64}
    for key, dtype in dtypes.items():
        with _tf32(kind == "cuda" and key == "tf32"):
            for n in (GEMM_PROBE[kind], *GEMM_SIZES[kind][mode]):
                try:
                    seconds, rate = _gemm_rate(n, dtype, device, timer, repeats, min_sample_s)
                except RuntimeError as exc:  # a dtype this backend cannot multiply
                    notes.append(f"{key} GEMM not measured: {str(exc).splitlines()[0]}")
                    break
                rows.append({"dtype": key, "shape": f"{n}^3", "seconds": seconds, "flops_per_s": rate})
                if seconds > LONG_CALL_S:
                    break
        measured = [r["flops_per_s"] for r in rows if r["dtype"] == key]
        if measured:
            peaks[key] = max(measured)
        advance()
    return pd.DataFrame(rows, columns=["dtype", "shape", "seconds", "flops_per_s"]), peaks, notes


#: Rows of the few-row linear layers measure_gemm_rows times (an LLM decode step's batch;
#: 128 and 512: a prompt's rows through a language model's head, roofline.efficiency.cpu),
#: on weights of (out, in) = GEMM_ROWS_WEIGHTS fp32, 64 MiB each (larger than most caches):
#: a short reduction (512) and a long one (4096).
GEMM_ROWS = {"full": (1, 2, 4, 8, 16, 32, 64, 128, 512), "quick": (1, 4)}
GEMM_ROWS_WEIGHTS = ((32768, 512), (4096, 4096))


def measure_gemm_rows(device: str, timer: Timer, mode: str, repeats: int, advance: Callable[[], None],
                      last_cache_bytes: float = 32 * MiB) -> pd.DataFrame:
    """FLOP/s of ``F.linear`` on a few rows (GEMM_ROWS) with cold fp32 weights
    (GEMM_ROWS_WEIGHTS), each call after the caches were flushed, as a decode step meets
    its weights: rows rows, depth (the weight's in_features), seconds, flops_per_s. CPU
    only (a GPU's kernel model describes its GEMMs)."""
    flush = cache_flusher(device, last_cache_bytes)
    out = []
    for out_features, depth in GEMM_ROWS_WEIGHTS:
        weight = torch.randn(out_features, depth, device=device)
        for rows in GEMM_ROWS[mode]:
            x = torch.randn(rows, depth, device=device)
            with torch.no_grad():
                seconds = best_cold_time(lambda x=x, w=weight: torch.nn.functional.linear(x, w), timer, repeats, flush)
            out.append({"rows": rows, "depth": depth, "seconds": seconds,
                        "flops_per_s": 2.0 * rows * weight.numel() / seconds})
        del weight
    advance()
    return pd.DataFrame(out, columns=["rows", "depth", "seconds", "flops_per_s"])


class _tf32:
    """Allow TF32 matmuls inside the block (CUDA), restoring the setting after."""

    def __init__(self, on: bool):
        self.on = on

    def __enter__(self) -> None:
        if self.on:
            self.saved = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = True

    def __exit__(self, *exc: Any) -> None:
        if self.on:
            torch.backends.cuda.matmul.allow_tf32 = self.saved


def measure_vector(device: str, timer: Timer, mode: str, overhead_s: float, repeats: int, min_sample_s: float,
                   advance: Callable[[], None]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Best vector-kernel FLOP/s per dtype on cache-resident data: mul (1 FLOP per element),
    addcmul (2) and sum (1), overhead taken out where the time clearly exceeds it."""
    rows = []
    dtypes = ("fp32", "fp64", "bf16", "fp16")
    for key in dtypes:
        dtype = CALIBRATED_DTYPES[key]
        for n in VECTOR_ELEMENTS["cuda" if device == "cuda" else "cpu"][mode]:
            a = torch.rand(n, device=device).to(dtype)
            b = torch.rand(n, device=device).to(dtype)
            c = torch.rand(n, device=device).to(dtype)
            out = torch.empty_like(a)
            total = torch.empty((), device=device, dtype=dtype)
            kernels = {
                "mul": (1, lambda: torch.mul(a, b, out=out)),
                "addcmul": (2, lambda: torch.addcmul(a, b, c, out=out)),
                "sum": (1, lambda: torch.sum(a, dim=0, out=total)),
            }
            for kernel, (per_element, fn) in kernels.items():
                seconds = best_time(fn, timer, repeats, min_sample_s)
                resolved = seconds >= MIN_OVER_OVERHEAD * overhead_s
                # Take the overhead out only where the time clearly exceeds it; otherwise
                # the plain rate, a lower bound, rather than a noisy difference.
                rate = per_element * n / (seconds - overhead_s if resolved else seconds)
                rows.append({"dtype": key, "kernel": kernel, "elements": n, "seconds": seconds,
                             "flops_per_s": rate, "resolved": resolved})
        advance()
    frame = pd.DataFrame(rows)
    peaks = {key: float(frame.loc[frame["dtype"] == key, "flops_per_s"].max()) for key in dtypes}
    return frame, peaks



def measure_efficiency(device: str, timer: Timer, mode: str, peak: float, overhead_s: float, repeats: int,
                       min_sample_s: float, advance: Callable[[], None], dtype: torch.dtype = torch.float32,
                       last_cache_bytes: float = 32 * MiB) -> pd.DataFrame:
    """Fraction of ``peak`` (the GEMM peak of ``dtype``) that each layer of the suite reaches
    with cold caches, as a layer of a forward meets its weights (best of single calls,
    each after the caches were flushed)."""
    flush = cache_flusher(device, last_cache_bytes)
    rows = []
    for shape in EFFICIENCY_SUITE[mode]:
        if shape[0] == "mm":
            _, m, n, k = shape
            a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
            fn, flops, label = (lambda a=a, b=b: torch.mm(a, b)), 2.0 * m * n * k, f"mm {m}x{k}x{n}"
        else:
            _, batch, cin, cout, size, kernel = shape
            x = torch.randn(batch, cin, size, size, device=device, dtype=dtype)
            w = torch.randn(cout, cin, kernel, kernel, device=device, dtype=dtype)
            pad = kernel // 2
            fn = lambda x=x, w=w, pad=pad: torch.nn.functional.conv2d(x, w, padding=pad)  # noqa: E731
            flops = 2.0 * batch * cout * size * size * cin * kernel * kernel
            label = f"conv {batch}x{cin}x{size}x{size} k{kernel} -> {cout}"
        with torch.no_grad():
            seconds = best_cold_time(fn, timer, repeats, flush)
        fraction = flops / max(seconds - overhead_s, 1e-12) / peak
        rows.append({"shape": label, "seconds": seconds, "fraction": fraction})
        advance()
    return pd.DataFrame(rows, columns=["shape", "seconds", "fraction"])



def measure_host_link(device: str, timer: Timer, mode: str, repeats: int, min_sample_s: float) -> float:
    """Pinned host -> device copy bandwidth (B/s); on CPU, the host is the device: NaN."""
    if device != "cuda":
        return math.nan
    n = (256 if mode == "full" else 32) * MiB // 4
    host = torch.empty(n, dtype=torch.float32).pin_memory()
    dev = torch.empty(n, dtype=torch.float32, device="cuda")
    seconds = best_time(lambda: dev.copy_(host, non_blocking=True), timer, repeats, min_sample_s, max_inner=20)
    return 4.0 * n / seconds

