"""Fit a GPU's kernel model (roofline.efficiency) on single-kernel timings.

Physics fixes the shape of every term (tile and wave quantization over the
architecture's tile menu, a memory start-up before bytes stream, a minimum kernel
time); three figures are left open and fitted here, each on the rows that show it:

- the memory efficiency: the slope of the line ``measured = offset + bytes / (eff x bw)``
  through the streaming (element-wise) rows well above the floor; its intercept
  ``offset_s`` is the fixed cost of every timed kernel (its launch, and whatever the
  timing harness adds);
- the floor: the median of the rows moving fewer than SMALL_BYTES;
- the GEMM efficiency: the median, over long compute-bound GEMMs whose tiles cover
  them with little loss, of the time the tile model predicts at efficiency 1 over the
  time measured (less the fixed cost); divided by sustained / boost clock, since timings
  fix only the product of efficiency and clock;
- on a GPU at hand, the issue rates of the kernels that compute elements one by one
  (roofline.calibrate.issue), where they run above the memory roof.

Timings come from a folder of NeuSight-style CSV files (read_measurement_dir: one
``<op>/<gpu>.csv[.gz]`` per op kind, latency in ms) or from ``roofline calibrate
--device cuda`` (measure_cuda_kernels). Everything returns dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from roofline.calibrate.issue import ISSUE_FIELDS, fit_issue_rates, measure_cuda_issue
from roofline.efficiency.gemm import TILE_MENUS, Tile, gemm_efficiency
from roofline.errors import RooflineError
from roofline.hardware import HardwareSpec, KernelModel

__all__ = ["GEMM_OPS", "K_OVERHEAD", "OPERANDS_BY_OP", "STREAM_OPERANDS", "KernelFit", "KernelTimings", "fit_kernels", "fitted_spec", "kernel_model_of", "read_measurement_dir"]

#: Rows at least this long (s) are compute-bound GEMMs: the tile model's regime.
LONG_S = 100e-6
#: A GEMM row is compute-bound when its FLOPs at peak take this many times its bytes' time.
COMPUTE_MARGIN = 4.0
#: Shapes whose tile and wave losses leave at least this fraction: "no tile or wave loss".
WHOLE_TILES = 0.9
#: Rows moving fewer bytes than this show the floor.
SMALL_BYTES = 64e3
#: Streaming rows above this multiple of the floor fit the line.
ABOVE_FLOOR = 3.0
#: K steps of fixed cost per GEMM tile (a main loop's prologue and epilogue): not fitted by a calibration
#: (benchmarks/gpu_fit.py fits it per GPU from the kernels named in measured rows).
K_OVERHEAD = 16.0
#: GEMM op kinds of a measurement folder: linear ([B, M, N] through Linear(N, K)) and bmm.
GEMM_OPS = ("linear", "bmm")
#: Streaming op kinds of a measurement folder and the tensors of [B, H] each reads and writes.
OPERANDS_BY_OP = STREAM_OPERANDS = {"add": 3, "mul": 3, "div": 3, "pow": 3, "addu": 2, "mulu": 2, "divu": 2, "powu": 2,
                   "gelu": 2, "relu": 2, "tanh": 2}


@dataclass(frozen=True)
class KernelTimings:
    """Single kernels timed on one GPU. gemm: columns batch, m, n, k (a batch x (m x k)
    @ (k x n) product) and measured_s; stream: columns bytes (read + written) and
    measured_s. itemsize: bytes per element of the GEMMs (4: fp32 on CUDA cores).
    issue: the kernels that compute elements one by one (roofline.calibrate.issue:
    columns kind, elements, bytes, measured_s), or None where none were timed."""

    gemm: pd.DataFrame
    stream: pd.DataFrame
    itemsize: int = 4
    issue: pd.DataFrame | None = None


@dataclass(frozen=True)
class KernelFit:
    """What a fit found: gemm_efficiency (of the peak at the sustained clock, on shapes
    with no tile or wave loss), memory_efficiency (of the DRAM bandwidth), offset_s (the
    fixed cost in every timed kernel, s), floor_s (the shortest timed kernel, s), and
    the rows each figure rests on."""

    gemm_efficiency: float
    memory_efficiency: float
    offset_s: float
    floor_s: float
    gemm_rows: int
    stream_rows: int


def fit_floor_s(stream: pd.DataFrame) -> float:
    """Median time (s) of the streaming rows moving fewer than SMALL_BYTES."""
    small = stream[stream["bytes"] < SMALL_BYTES]
    if small.empty:
        raise RooflineError(f"measurements: no element-wise row moves under {SMALL_BYTES:g} bytes: the floor is not seen")
    return float(np.median(small["measured_s"]))


def fit_stream_line(stream: pd.DataFrame, bandwidth: float, floor_s: float) -> tuple[float, float, int]:
    """(efficiency, offset_s, rows) of measured = offset + bytes / (efficiency x bandwidth)
    through the rows above ABOVE_FLOOR x floor_s; bandwidth in B/s."""
    above = stream[stream["measured_s"] >= ABOVE_FLOOR * floor_s]
    if len(above) < 2:
        raise RooflineError(f"measurements: fewer than 2 element-wise rows above {ABOVE_FLOOR:g}x the floor: "
                            "no bandwidth to fit")
    slope, offset = np.polyfit(above["bytes"].to_numpy(dtype=float) / bandwidth, above["measured_s"].to_numpy(), 1)
    return float(min(1.0, 1.0 / slope)), float(max(offset, 0.0)), len(above)


def fit_gemm_efficiency(gemm: pd.DataFrame, *, sms: int, peak_flops: float, bandwidth: float, fixed_s: float,
                        itemsize: int = 4, menu: tuple[Tile, ...] | None = None,
                        split_k: bool = True, k_overhead: float = K_OVERHEAD) -> tuple[float, int]:
    """(efficiency, rows): the fraction of ``peak_flops`` (FLOP/s) long, compute-bound
    GEMMs with whole tiles reach after ``fixed_s`` (s) is taken off each; compute-bound:
    at that peak their FLOPs take COMPUTE_MARGIN times their bytes' time at ``bandwidth``.
    menu and split_k: the tiles the GEMMs run (default the SIMT menu) and whether a
    product short of tiles splits its K (roofline.efficiency.gemm.gemm_efficiency);
    k_overhead: the fixed K steps each tile pays in the shape model."""
    batch, m, n, k = (gemm[column].to_numpy(dtype=float) for column in ("batch", "m", "n", "k"))
    shape_fraction = gemm_efficiency(batch, m, n, k, sms=sms, menu=menu or TILE_MENUS["simt"], k_overhead=k_overhead,
                                     split_k=split_k)
    ideal_s = 2 * batch * m * n * k / (peak_flops * shape_fraction)
    bytes_s = itemsize * batch * (m * k + k * n + m * n) / bandwidth
    measured = gemm["measured_s"].to_numpy(dtype=float)
    # Fitted where the tiles cover the shape with little loss: the tile model's errors on
    # ragged shapes stay out of the figure.
    chosen = (measured >= LONG_S) & (ideal_s >= COMPUTE_MARGIN * bytes_s) & (shape_fraction >= WHOLE_TILES)
    if not chosen.any():
        raise RooflineError(f"measurements: no GEMM row lasts {LONG_S * 1e6:g} us, is compute-bound and tiles "
                            "whole: no GEMM efficiency to fit")
    return float(np.median(ideal_s[chosen] / (measured[chosen] - fixed_s))), int(chosen.sum())


def fit_kernels(timings: KernelTimings, hw: HardwareSpec, *, sms: int, clock_ratio: float = 1.0) -> KernelFit:
    """Fit the open figures of ``hw``'s kernel model on ``timings`` (see the module doc).

    sms: streaming multiprocessors of the GPU; clock_ratio: sustained over boost clock
    (the fitted GEMM efficiency is of the peak at the sustained clock). The fp32 vector
    peak and the DRAM bandwidth come from ``hw``; its per-op launch overhead is the least
    fixed cost taken off a GEMM row.
    """
    floor_s = fit_floor_s(timings.stream)
    memory_efficiency, offset_s, stream_rows = fit_stream_line(timings.stream, hw.dram.bandwidth, floor_s)
    efficiency, gemm_rows = fit_gemm_efficiency(
        timings.gemm, sms=sms, peak_flops=hw.peak_flops("fp32", "vector"), bandwidth=hw.dram.bandwidth,
        fixed_s=max(offset_s, hw.overhead_s), itemsize=timings.itemsize)
    return KernelFit(gemm_efficiency=min(efficiency / clock_ratio, 1.0), memory_efficiency=memory_efficiency,
                     offset_s=offset_s, floor_s=floor_s, gemm_rows=gemm_rows, stream_rows=stream_rows)


# --------------------------------------------------------------------------- measurement files


def _op_file(directory: Path, op: str, gpu: str) -> Path | None:
    for suffix in (".csv.gz", ".csv"):
        path = directory / op / f"{gpu}{suffix}"
        if path.is_file():
            return path
    return None


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, EOFError) as exc:
        raise RooflineError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [column for column in columns if column not in frame]
    if missing:
        raise RooflineError(f"{path}: missing column(s) {', '.join(missing)}")
    latency = pd.to_numeric(frame["Latency"], errors="coerce")
    if latency.isna().any() or (latency <= 0).any():
        raise RooflineError(f"{path}: column Latency: expected positive times in ms")
    return frame.assign(measured_s=latency * 1e-3)


def gemm_dims(op: str, frame: pd.DataFrame) -> pd.DataFrame:
    """(batch, m, n, k) of NeuSight's rows: linear [B, M, N] through Linear(N, K) is one
    (B x M) x N @ N x K product; bmm [B, M, N] @ [B, N, K] is B products M x N @ N x K."""
    b, m, n, k = (frame[column].to_numpy(dtype=float) for column in ("B", "M", "N", "K"))
    if op == "linear":
        dims = {"batch": np.ones_like(b), "m": b * m, "n": k, "k": n}
    else:
        dims = {"batch": b, "m": m, "n": k, "k": n}
    return pd.DataFrame({**dims, "measured_s": frame["measured_s"].to_numpy()})


def read_measurement_dir(directory: str | Path, gpu: str, itemsize: int = 4) -> KernelTimings:
    """The timings of ``gpu`` in a folder of NeuSight-style files: ``<op>/<gpu>.csv[.gz]``
    for op in GEMM_OPS (columns B, M, N, K, Latency in ms) and STREAM_OPERANDS (columns
    B, H, Latency); fp32 unless ``itemsize`` says otherwise. RooflineError naming the
    folder or file when something is missing."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RooflineError(f"--measurements {directory}: no such folder")
    gemms = [gemm_dims(op, _read_csv(path, ("B", "M", "N", "K", "Latency")))
             for op in GEMM_OPS if (path := _op_file(directory, op, gpu)) is not None]
    streams = []
    for op, operands in STREAM_OPERANDS.items():
        path = _op_file(directory, op, gpu)
        if path is not None:
            frame = _read_csv(path, ("B", "H", "Latency"))
            nbytes = itemsize * operands * frame["B"].to_numpy(dtype=float) * frame["H"].to_numpy(dtype=float)
            streams.append(pd.DataFrame({"bytes": nbytes, "measured_s": frame["measured_s"].to_numpy()}))
    if not gemms or not streams:
        kinds = "GEMM (linear, bmm)" if not gemms else "element-wise (" + ", ".join(STREAM_OPERANDS) + ")"
        raise RooflineError(f"--measurements {directory}: no {kinds} file for GPU {gpu!r} (expected <op>/{gpu}.csv.gz)")
    return KernelTimings(pd.concat(gemms, ignore_index=True), pd.concat(streams, ignore_index=True), itemsize)


# --------------------------------------------------------------------------- the spec


#: The shortest kernel (s) a fitted spec gets: launched back to back a kernel takes a few
#: microseconds (hw_reference.md); single-kernel timings only show their harness's floor.
MIN_KERNEL_S = 2e-6


def kernel_model_of(fit: KernelFit, *, sms: int, boost_clock_hz: float, sustained_clock_hz: float,
                    threads_per_sm: int, source: str, tensor_gemm_fixed_s: float = 0.0) -> KernelModel:
    """The KernelModel a fit gives (GEMM efficiency of the SIMT tile class, fp32); the
    tensor-core GEMMs' fixed time, which fp32 timings cannot show, as given."""
    return KernelModel(sms=sms, boost_clock_hz=boost_clock_hz, sustained_clock_hz=sustained_clock_hz,
                       gemm_efficiency={"simt": round(fit.gemm_efficiency, 3)}, k_overhead=K_OVERHEAD, latency_s=0.0,
                       min_kernel_s=MIN_KERNEL_S, source=source, threads_per_sm=threads_per_sm,
                       tensor_gemm_fixed_s=tensor_gemm_fixed_s)


def fitted_spec(base: HardwareSpec, timings: KernelTimings, *, name: str, sms: int | None = None,
                boost_clock_hz: float | None = None, sustained_clock_hz: float | None = None,
                where: str = "measurements") -> tuple[HardwareSpec, KernelFit]:
    """``base`` with a kernel model fitted on ``timings`` and its memory efficiency set to
    the fitted one, renamed ``name``. SMs and clocks default to base's kernel model; a
    base without one needs ``sms`` (RooflineError otherwise). ``where`` names the data
    in the model's source."""
    known = base.kernel_model
    sms = sms if sms is not None else (known.sms if known is not None else None)
    if sms is None:
        raise RooflineError(f"--sms: spec {base.name!r} has no kernel_model to take the GPU's SM count from: give --sms")
    boost = boost_clock_hz or (known.boost_clock_hz if known is not None else None)
    if boost is None:
        raise RooflineError(f"--boost-clock: spec {base.name!r} has no kernel_model to take the boost clock from: "
                            "give --boost-clock (MHz)")
    sustained = sustained_clock_hz or (known.sustained_clock_hz if known is not None and not boost_clock_hz else boost)
    if sustained > boost:
        raise RooflineError(f"--sustained-clock: {sustained / 1e6:g} MHz is above the boost clock {boost / 1e6:g} MHz")
    fit = fit_kernels(timings, base, sms=sms, clock_ratio=sustained / boost)
    source = (f"fitted by roofline fit-kernels on {where} ({fit.gemm_rows} long GEMM rows, {fit.stream_rows} "
              f"element-wise rows) over spec {base.name}; sms and clocks: "
              + ("given" if known is None else f"from {base.name}"))
    model = kernel_model_of(fit, sms=sms, boost_clock_hz=boost, sustained_clock_hz=sustained,
                            threads_per_sm=known.threads_per_sm if known is not None else 2048, source=source,
                            tensor_gemm_fixed_s=known.tensor_gemm_fixed_s if known is not None else 0.0)
    if known is not None:  # the L2's layout and the issue rates are the chip's, not this fit's
        model = replace(model, l2_partitions=known.l2_partitions, strided_elements_per_clock=known.strided_elements_per_clock,
                        gather_elements_per_clock=known.gather_elements_per_clock)
    efficiency = replace(base.efficiency, memory=round(fit.memory_efficiency, 3))
    return replace(base, name=name, display_name=f"{base.display_name} (kernels fitted)", kernel_model=model,
                   efficiency=efficiency, path=None), fit


# --------------------------------------------------------------------------- on this GPU

#: Square fp32 GEMM sizes timed by ``roofline calibrate --device cuda``: compute-bound
#: and long on any current GPU, whole tiles on most SM counts.
CUDA_GEMM_SIZES = {"quick": (2048, 4096), "full": (2048, 3072, 4096, 6144, 8192)}
#: [B, H] of the fp32 adds it times: small ones show the floor, large ones the stream line.
CUDA_ADD_SHAPES = {"quick": ((1, 256), (1, 1024), (4096, 1024), (8192, 2048)),
                   "full": ((1, 256), (1, 1024), (2, 1024), (4096, 1024), (8192, 1024), (8192, 2048), (8192, 4096),
                            (8192, 8192))}
#: Placeholder clock (MHz) when the SM clock cannot be read (no NVML): boost and sustained
#: are then equal, and only their ratio (1) is used.
UNKNOWN_CLOCK_MHZ = 1000.0


def measure_cuda_kernels(device: str, timer, mode: str, repeats: int, min_sample_s: float) -> KernelTimings:
    """Time fp32 GEMMs (TF32 off), adds and the one-by-one kernels of
    roofline.calibrate.issue on ``device`` back to back (best of ``repeats`` batches,
    roofline.calibrate.bench.best_time): the timings fit_kernels and fit_issue_rates take."""
    import torch

    from roofline.calibrate.bench import best_time

    gemm_rows, add_rows = [], []
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # the SIMT (CUDA-core) tile class is the one fitted
    try:
        for n in CUDA_GEMM_SIZES[mode]:
            a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
            gemm_rows.append((1, n, n, n, best_time(lambda a=a, b=b: torch.mm(a, b), timer, repeats, min_sample_s)))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    for rows, cols in CUDA_ADD_SHAPES[mode]:
        x, y = torch.randn(rows, cols, device=device), torch.randn(rows, cols, device=device)
        add_rows.append((12.0 * rows * cols, best_time(lambda x=x, y=y: torch.add(x, y), timer, repeats, min_sample_s)))
    return KernelTimings(pd.DataFrame(gemm_rows, columns=["batch", "m", "n", "k", "measured_s"]),
                         pd.DataFrame(add_rows, columns=["bytes", "measured_s"]),
                         issue=measure_cuda_issue(device, timer, mode, repeats, min_sample_s))


def sm_clock_mhz(device: str) -> float | None:
    """The SM clock (MHz) the GPU runs at now, from NVML through torch; None when unreadable."""
    import torch

    try:
        return float(torch.cuda.clock_rate(torch.device(device)))
    except Exception:  # noqa: BLE001 (pynvml absent, or a driver without the query)
        return None


def cuda_kernel_model(device: str, spec: HardwareSpec, timings: KernelTimings) -> KernelModel:
    """The kernel model of the GPU ``device`` fitted on ``timings`` against ``spec`` (its
    measured ceilings): SMs from the device, the clock read just after the GEMMs ran."""
    import torch

    props = torch.cuda.get_device_properties(torch.device(device))
    fit = fit_kernels(timings, spec, sms=int(props.multi_processor_count))
    clock = sm_clock_mhz(device)
    note = (f"SM clock {clock:g} MHz read under load" if clock is not None
            else f"SM clock unreadable: {UNKNOWN_CLOCK_MHZ:g} MHz placeholder")
    threads = int(getattr(props, "max_threads_per_multi_processor", 2048) or 2048)
    mhz = clock or UNKNOWN_CLOCK_MHZ
    sms = int(props.multi_processor_count)
    rates = {} if timings.issue is None else fit_issue_rates(
        timings.issue, sms=sms, clock_hz=mhz * 1e6, bandwidth=fit.memory_efficiency * spec.dram.bandwidth,
        offset_s=fit.offset_s)
    issue_note = (", ".join(f"{field} fitted on this GPU's {kind} kernels" for kind, field in ISSUE_FIELDS.items()
                            if field in rates) or "issue rates: none seen above the memory roof, defaults kept")
    source = (f"fitted by roofline calibrate on this GPU ({fit.gemm_rows} fp32 GEMMs, {fit.stream_rows} adds); "
              f"sms: the device; {note}; boost taken equal to it; {issue_note}")
    model = kernel_model_of(fit, sms=sms, boost_clock_hz=mhz * 1e6, sustained_clock_hz=mhz * 1e6,
                            threads_per_sm=threads, source=source)
    return replace(model, **rates)
