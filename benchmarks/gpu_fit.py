"""Fit the efficiency stage's free parameters of each GPU on measured kernels.

    python benchmarks/gpu_fit.py                        # print each GPU's fitted kernel_model
    python benchmarks/gpu_fit.py --update               # and write it into hw_specs/<spec>.yaml

Physics fixes the shape of every term (roofline.efficiency: tile and wave quantization
over the architecture's tile menu, a kernel start-up before bytes stream, a minimum
kernel time); only what physics leaves open is fitted, per GPU, on the TRAIN split of
NeuSight's per-op measurements (../shared/gpu-measurements, read in place):

- gemm_efficiency.simt: the fraction of the fp32 peak a GEMM reaches on shapes with no
  tile or wave loss, at the clock the card holds (the data cannot tell a lower clock from
  a less efficient kernel, so the fit is their product, and sustained_clock_mhz is left
  at boost): the median, over linear and bmm rows long enough to be compute-bound
  (measured >= LONG_S), of the time the shape model predicts at efficiency 1 over the time
  measured; on a GPU with batched tiles (BATCHED_TILES: the few tiles its cuBLAS's
  batched SGEMM runs, read from the train rows' kernel names), over its linear rows only;
- gemm_efficiency.batched: the same median over its bmm rows, on those tiles (no split-K);
- k_overhead: the fixed cost of a GEMM tile (prologue, epilogue) in steps of its K loop,
  from the bmm rows' own kernels (fit_k_overhead: per kernel, the time of a wave of
  tiles against K is a straight line a + b x K; k_overhead = a / b);
- the memory efficiency: the slope of a straight line through the element-wise rows
  above the floor, measured = offset + bytes / (efficiency x bandwidth).

The line's offset and the floor under it (the median of the smallest rows) are not the
device's: NeuSight timed each kernel alone, from Python, with CUDA events, so every row
carries a fixed harness cost (about 13 us on top of the kernel, 26 us at least) that a
kernel among thousands in a model run does not pay (its launch overlaps the previous
kernel). They are written to benchmarks/neusight_harness.json for gpu_fidelity.py to put
back when it compares single kernels, and kept out of the specs. The spec keeps the
launch as its per-op overhead and a minimum kernel time of MIN_KERNEL_S (hw_reference.md:
a kernel launch costs a few microseconds).

The test split, the conv rows and every whole-model measurement are left for
benchmarks/gpu_fidelity.py to judge the fit on. SM counts and boost clocks come from
NeuSight's device_configs (their description of each card; datasheet values).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_fidelity import (
    DEFAULT_DATA,
    GPU_SPECS,
    BenchmarkError,
    data_root,
    load_per_op,
    load_spec,
)

from roofline.calibrate.kernels import (
    K_OVERHEAD,
    OPERANDS_BY_OP,
    fit_floor_s,
    fit_gemm_efficiency,
    fit_stream_line,
)
from roofline.efficiency.gemm import Tile

#: The shortest kernel (s) on every GPU spec: not visible under NeuSight's harness floor.
MIN_KERNEL_S = 2e-6
#: Where the harness fit goes (read by gpu_fidelity.py).
HARNESS_FILE = ROOT / "benchmarks" / "neusight_harness.json"
#: Bytes per element (fp32) and operands read and written by each element-wise op.
ITEMSIZE = 4
OPERANDS = OPERANDS_BY_OP


#: Streaming multiprocessors per GPU, from the vendors' datasheets and whitepapers
#: (NeuSight's device_configs count the P4's 20 SMs of 128 cores as 40 of 64).
DATASHEET_SMS: dict[str, int] = {
    "NVIDIA_A100-PCIE-40GB": 108, "NVIDIA_A100_80GB_PCIe": 108, "Tesla_V100-PCIE-32GB": 80, "Tesla_T4": 40,
    "Tesla_P100-PCIE-16GB": 56, "Tesla_P4": 20, "NVIDIA_L4": 58,
}
#: Resident threads per SM by architecture (CUDA programming guide, "Technical
#: Specifications per Compute Capability": 2048 for 6.0/7.0/8.0, 1024 for 7.5, 1536 for
#: 8.6/8.9); Pascal's GP104 (6.1) holds 2048 too.
THREADS_PER_SM: dict[str, int] = {"Tesla_T4": 1024, "NVIDIA_L4": 1536}
#: L2 partitions of the chips with a split L2 (the others have one): GA100's L2 is two
#: partitions (NVIDIA A100 Tensor Core GPU Architecture whitepaper, "L2 cache").
L2_PARTITIONS: dict[str, int] = {"NVIDIA_A100-PCIE-40GB": 2, "NVIDIA_A100_80GB_PCIe": 2}
L2_PARTITIONS_SOURCE = "l2_partitions: NVIDIA A100 Tensor Core GPU Architecture whitepaper (L2 cache: two partitions)"


def l2_line(gpu: str) -> str:
    """The l2_partitions line of a kernel_model block: empty for a unified L2."""
    return f"  l2_partitions: {L2_PARTITIONS[gpu]}\n" if gpu in L2_PARTITIONS else ""
#: Clocks the power-limited cards hold under a sustained load (MHz), with their source;
#: other cards are taken to hold their boost clock. The fit below is of the product
#: gemm_efficiency x sustained / boost, so a sustained clock changes how it is split, not
#: the predictions of the fitted card; it matters where the efficiency is carried over.
SUSTAINED_CLOCK_MHZ: dict[str, tuple[float, str]] = {
    "NVIDIA_L4": (795.0, ("the L4 datasheet's base clock (795 MHz; boost 2040 MHz), the clock NVIDIA specifies the "
                          "card holds within its 72 W board power under full load (figures as listed at "
                          "pcpartdb.com/gpus/view/nvidia-l4); no measured under-load clock was found")),
    "Tesla_T4": (900.0, ("about 900 MHz under a sustained MLPerf BERT run at 70 W, "
                         "github.com/mlcommons/inference_results_v0.5/issues/20 (boost 1590 MHz set with nvidia-smi -ac)")),
}
#: GPUs with no train rows at all, the fitted GPU whose GEMM efficiency they take, and why;
#: their memory efficiency stays the spec's default (nothing to fit it on), and their
#: sustained clock comes from SUSTAINED_CLOCK_MHZ.
TRANSFERRED: dict[str, tuple[str, str]] = {
    "NVIDIA_L4": ("NVIDIA_A100-PCIE-40GB", ("cuBLAS runs the same ampere_sgemm kernels on Ada (sm_89) as on A100 "
                                            "(the kernel names in NeuSight's L4 rows)")),
}
#: GPUs with no train rows that share a chip (and so its kernels and clocks) with one
#: that has: they take its fit, with their own bandwidth.
SAME_CHIP: dict[str, str] = {"NVIDIA_A100_80GB_PCIe": "NVIDIA_A100-PCIE-40GB"}
#: GPUs whose train GEMM rows do not stand for their other runs, and the GPU of the same
#: architecture whose GEMM fit they take instead. The P4's train rows ran cuBLAS's
#: maxwell_sgemm kernels at a median 1.3 TFLOP/s; its test rows and model runs ran
#: sgemm_128x128x8 at 4.3 TFLOP/s (another library or clock state): Pascal's P100 stands in.
GEMM_FROM: dict[str, str] = {"Tesla_P4": "Tesla_P100-PCIE-16GB"}
#: The tiles (tm rows x tn columns of the output) cuBLAS's batched SGEMM picks among on an
#: architecture, read from the kernel names and grids of the train bmm rows:
#: ampere_sgemm_128x128_nn on 16588 of the A100's 16661 whatever the shape (grid x =
#: N/128, y = M/128, z = batch), maxwell_sgemm_128x64_nn on 17720 of the P100's 17792 and
#: 17713 of the P4's 17776 (x = N/128, y = M/64); the A100 80GB and the L4 (no train rows)
#: run the A100's kernels (same cuBLAS, sm_80 kernels on sm_89). The T4 ran
#: volta_sgemm_64x64 (7753 rows) and 128x64 (7226; x = N/128, y = M/64) on most rows,
#: 128x32 on 2489. The V100 ran volta_sgemm 64x64, 32x128 and 128x32 on 17643 of its
#: 17694 (x = N/64, N/32, N/128; y = M/64, M/128, M/32).
#: Tiles resident per SM: the count that best fits each kernel's train rows as waves of
#: SMs x per_sm tiles, time per tile = a + b x K (median |error| of the fit at 1 / 2 / 4
#: per SM): A100 128x128 3.4% / 18% / 41% (a = 2.95 us, b = 191 ns: one per SM); P100
#: 128x64 5.1% / 7.6% / 24%; T4 128x64 21% / 22% / 24%, 64x64 20% / 22% / 21%; V100
#: 64x64 17% / 14% / 12%, 32x128 12% / 11% / 11% (at 3: 10.8%), 128x32 26% at 1, 11% at 2 and up.
BATCHED_TILES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "NVIDIA_A100-PCIE-40GB": ((128, 128, 1),), "NVIDIA_A100_80GB_PCIe": ((128, 128, 1),),
    "NVIDIA_L4": ((128, 128, 1),), "Tesla_P100-PCIE-16GB": ((64, 128, 1),), "Tesla_P4": ((64, 128, 1),),
    "Tesla_T4": ((64, 64, 1), (64, 128, 1)), "Tesla_V100-PCIE-32GB": ((64, 64, 4), (128, 32, 3), (32, 128, 2)),
}


#: The rows fit_k_overhead reads: at least this many waves of one tile per SM (the tail
#: wave's share small), K from K_RANGE's low end (shorter rows sit on the harness floor)
#: to its high end (longer rows run long enough for a power-limited card to slow its
#: clock: the T4's time per K step rises beyond), and kernels with KERNEL_ROWS rows or more.
WAVES_AT_LEAST = 4
K_RANGE = (32, 512)
KERNEL_ROWS = 500
#: A kernel's tile in its name (volta_sgemm_128x64_nn: 128 x 64 outputs per CTA).
TILE_NAME = re.compile(r"sgemm_(\d+)x(\d+)")


def fit_k_overhead(data: Path, gpu: str, sms: int, fixed_s: float) -> tuple[float, int]:
    """(k_overhead, rows): the fixed K steps a GEMM tile pays on ``gpu``, from its train
    bmm rows (batch on the grid's z, no split-K, so a row's CTAs are its tiles): per
    kernel cuBLAS ran, the kernel time (measured less ``fixed_s``, the harness and the
    launch) over its waves of ``sms`` tiles is fitted as a + b x K (least squares) and
    a / b is its fixed cost in K steps; the figure is their mean weighted by rows,
    rounded. None of the data says how many tiles an SM runs at once; a / b does not
    depend on it (both terms scale with it)."""
    frame = pd.read_csv(data / "per_op" / "train" / "bmm" / f"{gpu}.csv.gz")
    ctas = frame["Grid x"] * frame["Grid y"] * frame["Grid z"]
    waves = np.ceil(ctas / sms)
    depth = frame["N"].astype(float)  # [B, M, N] @ [B, N, K]: the reduction runs over N
    kernel = frame["Kernel Name"].str.extract(TILE_NAME.pattern).agg("x".join, axis=1)
    chosen = (waves >= WAVES_AT_LEAST) & depth.between(*K_RANGE) & kernel.notna()
    per_wave_s = (frame["Latency"] * 1e-3 - fixed_s) / waves
    steps, weights = [], []
    for _, rows in depth[chosen].groupby(kernel[chosen]):
        if len(rows) < KERNEL_ROWS:
            continue
        slope, intercept = np.polyfit(rows.to_numpy(), per_wave_s[rows.index].to_numpy(), 1)
        steps.append(intercept / slope)
        weights.append(len(rows))
    if not steps:
        raise BenchmarkError(f"{gpu}: no bmm kernel with {KERNEL_ROWS} train rows to fit k_overhead on")
    return float(max(round(np.average(steps, weights=weights)), 0)), int(sum(weights))


def gemm_dims(kind: str, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(batch, m, n, k) of a linear ([B, M, N] through Linear(N, K)) or bmm row."""
    b, m, n, k = shape
    return (1, b * m, k, n) if kind == "linear" else (b, m, k, n)


def fit_gemm(rows: pd.DataFrame, sms: int, peak: float, bandwidth: float, fixed_s: float,
             tiles: tuple[tuple[int, int, int], ...] = (), k_overhead: float = K_OVERHEAD) -> tuple[float, int]:
    """The fraction of ``peak`` (FLOP/s) long, compute-bound GEMMs with whole tiles reach,
    and how many rows it was fitted on (roofline.calibrate.kernels.fit_gemm_efficiency).
    fixed_s: the harness cost and launch in every row, taken off before comparing;
    tiles: the (tm, tn, per SM) tiles the rows ran, no split-K (batched GEMMs), or
    none for the SIMT menu; k_overhead: the tiles' fixed K steps."""
    dims = np.array([gemm_dims(kind, shape) for kind, shape in zip(rows["kind"], rows["shape"])], dtype=float)
    gemm = pd.DataFrame(dims, columns=["batch", "m", "n", "k"]).assign(measured_s=rows["measured_s"].to_numpy())
    menu = tuple(Tile(*tile) for tile in tiles) or None
    return fit_gemm_efficiency(gemm, sms=sms, peak_flops=peak, bandwidth=bandwidth, fixed_s=fixed_s, itemsize=ITEMSIZE,
                               menu=menu, split_k=not tiles, k_overhead=k_overhead)


def elementwise_bytes(rows: pd.DataFrame) -> np.ndarray:
    return np.array([ITEMSIZE * OPERANDS[op] * shape[0] * shape[1] for op, shape in zip(rows["op"], rows["shape"])],
                    dtype=float)


def stream_frame(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"bytes": elementwise_bytes(rows), "measured_s": rows["measured_s"].to_numpy()})


def fit_memory(rows: pd.DataFrame, bandwidth: float, floor_s: float) -> tuple[float, float]:
    """(efficiency, offset_s) of the line measured = offset + bytes / (efficiency x bw)."""
    efficiency, offset_s, _ = fit_stream_line(stream_frame(rows), bandwidth, floor_s)
    return efficiency, offset_s


def fit_floor(rows: pd.DataFrame) -> float:
    return fit_floor_s(stream_frame(rows))


def device_config(data: Path, gpu: str) -> dict:
    path = data / "device_configs" / f"{gpu}.json"
    return json.loads(path.read_text())


def fit_gpu(data: Path, gpu: str, rows: pd.DataFrame, gemm_rows_of: pd.DataFrame | None = None) -> dict:
    """The fitted kernel_model block of one GPU (a plain mapping, YAML-ready)."""
    # A card fitted on its sibling's rows (SAME_CHIP) is fitted against the sibling's spec.
    spec = load_spec(GPU_SPECS[SAME_CHIP.get(gpu, gpu)])
    config = device_config(data, gpu)
    sms, clock_mhz = DATASHEET_SMS[gpu], float(config["Freq"])
    gemm_source = rows if gemm_rows_of is None else gemm_rows_of
    tiles = BATCHED_TILES.get(gpu, ())
    # With a batched tile, bmm rows fit their own efficiency and the menu's is of linear rows.
    gemms = gemm_source[gemm_source["kind"].isin(["linear"] if tiles else ["linear", "bmm"])]
    elem = rows[rows["kind"] == "elem"]
    floor_s = fit_floor(elem)
    memory_efficiency, offset_s = fit_memory(elem, spec.dram.bandwidth, floor_s)
    # The harness's own cost: the line's offset less the launch predict adds per op.
    harness_s = max(offset_s - spec.overhead_s, 0.0)
    k_overhead, k_rows = fit_k_overhead(data, SAME_CHIP.get(gpu, gpu), sms, harness_s + spec.overhead_s)
    gemm_spec = spec if gemm_rows_of is None else load_spec(GPU_SPECS[GEMM_FROM[gpu]])
    gemm_sms = sms if gemm_rows_of is None else DATASHEET_SMS[GEMM_FROM[gpu]]
    simt, gemm_rows = fit_gemm(gemms, gemm_sms, gemm_spec.peak_flops("fp32", "vector"), gemm_spec.dram.bandwidth,
                               harness_s + spec.overhead_s, k_overhead=k_overhead)
    sustained_mhz = SUSTAINED_CLOCK_MHZ.get(gpu, (clock_mhz, ""))[0]
    # The timings fix efficiency x clock: at a lower clock the kernels are that much more efficient.
    simt = simt * clock_mhz / sustained_mhz
    efficiency = {"simt": round(min(simt, 1.0), 3)}
    batched_rows = 0
    if tiles:
        batched, batched_rows = fit_gemm(rows[rows["kind"] == "bmm"], sms, spec.peak_flops("fp32", "vector"),
                                         spec.dram.bandwidth, harness_s + spec.overhead_s, tiles, k_overhead)
        efficiency["batched"] = round(min(batched * clock_mhz / sustained_mhz, 1.0), 3)
    return {
        "sms": sms,
        "boost_clock_mhz": clock_mhz,
        "sustained_clock_mhz": sustained_mhz,
        "threads_per_sm": THREADS_PER_SM.get(gpu, 2048),
        "gemm_efficiency": efficiency,
        "batched_tiles": tiles,
        "k_overhead": k_overhead,
        "min_kernel": f"{MIN_KERNEL_S * 1e6:g} us",
        "memory_efficiency": round(memory_efficiency, 3),
        "harness": {"offset_s": round(harness_s, 8), "floor_s": round(floor_s, 8)},
        "rows": {"gemm": gemm_rows, "batched": batched_rows, "elementwise": len(elem), "k_overhead": k_rows},
    }


def gemm_lines(efficiency: dict[str, float], tiles: tuple[tuple[int, int, int], ...]) -> str:
    """The gemm_efficiency line of a kernel_model block, and batched_tiles where there are any."""
    classes = ", ".join(f"{name}: {value}" for name, value in efficiency.items() if tiles or name != "batched")
    lines = f"  gemm_efficiency: {{{classes}}}\n"
    listed = ", ".join(f"[{tm}, {tn}, {per_sm}]" for tm, tn, per_sm in tiles)
    return lines + (f"  batched_tiles: [{listed}]   # tm x tn x per SM of cuBLAS's batched SGEMM (bmm)\n" if tiles else "")


def conv_efficiency(gpu: str) -> float | None:
    """gemm_efficiency.conv of the GPU's spec as written (fitted on conv rows by
    benchmarks/conv_algorithms.py --fit, not here): kept when the block is rewritten."""
    model = load_spec(GPU_SPECS[gpu]).kernel_model
    return None if model is None else model.gemm_efficiency.get("conv")


def yaml_block(fit: dict, gpu: str) -> str:
    """The kernel_model block as it goes into a spec file, with its provenance."""
    conv = conv_efficiency(gpu)
    efficiency = fit["gemm_efficiency"] | ({"conv": conv} if conv is not None else {})
    source = (f"sms: datasheet; boost clock: NeuSight device_configs/{gpu}.json; gemm_efficiency and the "
              f"memory efficiency fitted on NeuSight's per-op train split ({fit['rows']['gemm']} long GEMM rows, "
              + (f"{fit['rows']['batched']} long bmm rows for the batched class on its tiles, " if fit["batched_tiles"] else "") +
              f"{fit['rows']['elementwise']} element-wise rows) by benchmarks/gpu_fit.py; k_overhead fitted there on "
              f"{fit['rows']['k_overhead']} train bmm rows (time of a wave of tiles against K); min_kernel for every "
              "GPU (hw_reference.md)")
    if gpu in SAME_CHIP:
        source += f" (on {SAME_CHIP[gpu]}, the same chip: this card has no train rows)"
    if gpu in GEMM_FROM:
        source += (f"; gemm_efficiency.simt from {GEMM_FROM[gpu]} (same architecture): this card's train linear rows "
                   "ran other cuBLAS kernels than its test rows and model runs")
    if conv is not None:
        source += ("; gemm_efficiency.conv fitted on the conv train rows whose position is not 4 mod 5 "
                   "by benchmarks/conv_algorithms.py --fit (the time of the algorithm each row ran)")
    if gpu in SUSTAINED_CLOCK_MHZ:
        source += f"; sustained clock: {SUSTAINED_CLOCK_MHZ[gpu][1]}"
        clock_note = "under load (source below); gemm_efficiency is at this clock"
    else:
        clock_note = "boost assumed held: not told apart from gemm_efficiency by timings"
    source += "; threads_per_sm: CUDA programming guide (compute capability table)"
    source += f"; {L2_PARTITIONS_SOURCE}" if gpu in L2_PARTITIONS else ""
    return (
        "kernel_model:   # physical parameters of the efficiency stage (roofline.efficiency)\n"
        f"  sms: {fit['sms']}\n"
        f"  boost_clock_mhz: {fit['boost_clock_mhz']:g}\n"
        f"  sustained_clock_mhz: {fit['sustained_clock_mhz']:g}   # {clock_note}\n"
        f"  threads_per_sm: {fit['threads_per_sm']}\n"
        + l2_line(gpu)
        + gemm_lines(efficiency, fit["batched_tiles"]) +
        f"  k_overhead: {fit['k_overhead']:g}\n"
        f"  min_kernel: {fit['min_kernel']}\n"
        f"  source: \"{source}\"\n"
    )


KERNEL_BLOCK = re.compile(r"^kernel_model:.*?(?=^\S|\Z)", re.DOTALL | re.MULTILINE)
EFFICIENCY_LINE = re.compile(r"^(efficiency: \{matrix: [0-9.]+, vector: [0-9.]+, memory: )([0-9.]+)(\})", re.MULTILINE)


def transferred_block(data: Path, gpu: str, donor_fit: dict) -> str:
    """The kernel_model block of a GPU with no train rows: its own SMs, clocks and
    threads, the donor's fitted GEMM efficiency (per clock, at the donor's sustained clock)."""
    donor, why = TRANSFERRED[gpu]
    clock_mhz = float(device_config(data, gpu)["Freq"])
    sustained_mhz, clock_source = SUSTAINED_CLOCK_MHZ.get(gpu, (clock_mhz, "boost assumed"))
    source = (f"sms: datasheet; boost clock: NeuSight device_configs/{gpu}.json; sustained clock: {clock_source}; "
              f"gemm_efficiency and k_overhead transferred from {donor} (fitted by benchmarks/gpu_fit.py on its train split): {why}; "
              f"no row of this card was fitted; threads_per_sm: CUDA programming guide (compute capability table)")
    source += f"; {L2_PARTITIONS_SOURCE}" if gpu in L2_PARTITIONS else ""
    return (
        "kernel_model:   # physical parameters of the efficiency stage (roofline.efficiency)\n"
        f"  sms: {DATASHEET_SMS[gpu]}\n"
        f"  boost_clock_mhz: {clock_mhz:g}\n"
        f"  sustained_clock_mhz: {sustained_mhz:g}   # under load (source below)\n"
        f"  threads_per_sm: {THREADS_PER_SM.get(gpu, 2048)}\n"
        + l2_line(gpu)
        + gemm_lines(donor_fit["gemm_efficiency"], BATCHED_TILES.get(gpu, ())) +
        f"  k_overhead: {donor_fit['k_overhead']:g}\n"
        f"  min_kernel: {MIN_KERNEL_S * 1e6:g} us\n"
        f"  source: \"{source}\"\n"
    )


def update_spec(path: Path, block: str, memory_efficiency: float | None) -> None:
    """Put the kernel_model block into a spec file (replacing an older one) and set its
    memory efficiency to the fitted one (None: left as written); the rest of the file
    is left as written."""
    text = KERNEL_BLOCK.sub("", path.read_text()).rstrip() + "\n"
    if memory_efficiency is not None:
        text = EFFICIENCY_LINE.sub(lambda m: f"{m.group(1)}{memory_efficiency}{m.group(3)}", text)
    path.write_text(text + block)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the gpu-measurements folder")
    parser.add_argument("--update", action="store_true", help="write the fits into hw_specs/<spec>.yaml")
    args = parser.parse_args(argv)
    try:
        data = data_root(args.data)
    except BenchmarkError as exc:
        print(f"gpu_fit: {exc}", file=sys.stderr)
        return 2
    gpus = [gpu for gpu, spec in GPU_SPECS.items() if spec is not None]
    harness: dict[str, dict] = {}
    rows = load_per_op(data, ["linear", "bmm", "elem"], gpus)
    rows = rows[rows["split"] == "train"]
    fits: dict[str, dict] = {}
    for gpu in gpus:
        mine = rows[rows["gpu"] == SAME_CHIP.get(gpu, gpu)]
        if gpu in TRANSFERRED and TRANSFERRED[gpu][0] in fits:
            block = transferred_block(data, gpu, fits[TRANSFERRED[gpu][0]])
            print(f"# {gpu} -> hw_specs/{GPU_SPECS[gpu]}.yaml (transferred: no train rows)\n{block}")
            if args.update:
                update_spec(ROOT / "hw_specs" / f"{GPU_SPECS[gpu]}.yaml", block, None)
            continue
        if mine.empty:
            print(f"# {gpu}: no train rows: nothing fitted (its spec keeps the datasheet roofline)")
            continue
        donor = rows[rows["gpu"] == GEMM_FROM[gpu]] if gpu in GEMM_FROM else None
        fit = fits[gpu] = fit_gpu(data, gpu, mine, donor)
        block = yaml_block(fit, gpu)
        print(f"# {gpu} -> hw_specs/{GPU_SPECS[gpu]}.yaml (memory efficiency {fit['memory_efficiency']})\n{block}")
        harness[gpu] = fit["harness"]
        if args.update:
            update_spec(ROOT / "hw_specs" / f"{GPU_SPECS[gpu]}.yaml", block, fit["memory_efficiency"])
    print(f"# NeuSight's harness per GPU (s): {json.dumps(harness)}")
    if args.update:
        note = "NeuSight's per-op timing harness: offset_s added to a kernel, floor_s the least a row takes; fitted on the train split by benchmarks/gpu_fit.py"
        HARNESS_FILE.write_text(json.dumps({"note": note, "gpus": harness}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
