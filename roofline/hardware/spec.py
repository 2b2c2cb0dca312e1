"""The typed hardware spec: frozen dataclasses, in SI base units (FLOP/s, B/s, bytes, s).

    spec.peak_flops("bf16", "matrix")         # 9.89e14 FLOP/s on an H100 SXM
    spec.dram.bandwidth                        # 3.35e12 B/s
    spec.ridge_points()                        # DataFrame: one row per (unit, dtype) x level
    spec.measured                              # a CalibrationRecord, or None (datasheet)

Peak fallback (HardwareSpec.peak_flops): the matrix peak when the op runs on matrix units
and the spec lists one for the dtype; else the vector peak for the dtype; else the vector
fp32 peak. So integer, bool and other unlisted dtypes run at the fp32 vector rate, and a
matmul in a dtype without a matrix peak (fp32 on an H100 with TF32 off) runs at the vector
rate.

A calibrated spec carries what `roofline calibrate` measured as a CalibrationRecord:
provenance (date, device, threads, clock, load), the figures predictions read (memory
mode, view overhead, fresh-write cost, the op suite's fractions and the aten ops each
suite op stands for) and the raw curves the ceilings were fitted to. Every field is
typed and was validated when the file was loaded (roofline.hardware.checks).
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from roofline.dtypes import DTYPES, OTHER_DTYPE, dtype_key

#: memory level keys a spec may use; "dram" (HBM or DDR: main memory) is required and last.
MEMORY_LEVELS: tuple[str, ...] = ("l1", "l2", "l3", "llc", "infinity_cache", "dram")
#: Main memory's level key.
DRAM: str = MEMORY_LEVELS[-1]
#: The compute units a peak is listed for: matrix (tensor) units and vector units. The
#: same values as roofline.count.registry's MATRIX and VECTOR, which hardware may not import.
MATRIX, VECTOR = "matrix", "vector"
UNITS: tuple[str, ...] = (MATRIX, VECTOR)
#: CalibrationRecord.memory_level value that sends each op's traffic to the smallest memory
#: level whose capacity holds the op's bytes (on a CPU, a small model's activations live
#: in the caches; DRAM bandwidth would overpredict them several times over).
WORKING_SET: str = "working_set"
#: The memory modes a calibration record may ask for: by working set, or all from DRAM.
MEMORY_MODES: tuple[str, ...] = (WORKING_SET, DRAM)


# --------------------------------------------------------------------------- device


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy (a cache or DRAM)."""

    name: str
    bandwidth: float  # B/s
    capacity: float  # bytes


@dataclass(frozen=True)
class Efficiency:
    """Default achievable fractions of the peaks, each in (0, 1]."""

    matrix: float
    vector: float
    memory: float


@dataclass(frozen=True)
class Link:
    """A link between devices: bandwidth per device and direction (B/s), latency per
    message step (s)."""

    name: str
    bandwidth: float
    latency: float


@dataclass(frozen=True)
class Interconnect:
    """How many devices a system has and how they talk: inside a node (NVLink, Infinity
    Fabric, PCIe) and between nodes (the network); inter_node is None for one node."""

    devices_per_node: int
    nodes: int
    intra_node: Link
    inter_node: Link | None = None

    @property
    def devices(self) -> int:
        """Devices in the system."""
        return self.devices_per_node * self.nodes


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class OpSeconds:
    """Seconds per call of one aten op (a calibration's overhead samples)."""

    op: str  # "aten.add"
    seconds: float


@dataclass(frozen=True)
class FreshWrite:
    """The page-fault cost of large fresh outputs: an op whose output is at least
    ``min_bytes`` pays bytes_written / ``bandwidth`` on top of its traffic."""

    min_bytes: float  # bytes
    bandwidth: float  # B/s


@dataclass(frozen=True)
class SuiteRow:
    """One op of the calibration's op suite at one size: the fraction of the roofline
    (efficiencies 1, measured ceilings) it reached."""

    op: str  # suite op name, "exp"; SuiteOp says which aten ops it stands for
    elements: int  # elements per tensor
    bound: str  # the larger roofline term: roofline.predict.COMPUTE_BOUND or MEMORY_BOUND
    fraction: float | None  # roofline work time / (measured - overheads); None: too little work to tell


@dataclass(frozen=True)
class SuiteOp:
    """The aten ops one suite op stands for in predictions (resolved at calibration time,
    so predictions need not know the suite)."""

    name: str  # "add"
    aten_ops: tuple[str, ...]  # ("aten.add", "aten.add_", "aten.sub", "aten.sub_")


@dataclass(frozen=True)
class CurvePoint:
    """One point of the bandwidth sweep."""

    working_set_bytes: int
    kernel: str  # "add" (fresh outputs) or "add_out" (a reused buffer)
    bandwidth: float  # B/s, overhead taken out


@dataclass(frozen=True)
class Plateau:
    """A flat stretch of the bandwidth curve (roofline.calibrate.fit.find_plateaus)."""

    first_bytes: float
    last_bytes: float
    bandwidth: float  # B/s, the stretch's median


@dataclass(frozen=True)
class LevelFit:
    """A memory level's fitted bandwidth and the curve points it is the median of."""

    level: str
    capacity: float  # bytes
    bandwidth: float  # B/s
    points: int


@dataclass(frozen=True)
class GemmRate:
    """The rate of one square GEMM."""

    dtype: str  # dtype key
    shape: str  # "1024^3"
    flops_per_s: float


@dataclass(frozen=True)
class RowsRate:
    """The rate of a linear layer of few rows on a weight larger than the caches (an LLM
    decode step's GEMMs): ``rows`` rows (the GEMM's M) at ``flops_per_s``, fp32, the
    weights read cold. On a CPU the kernel changes with the rows (a matrix-vector kernel
    at one row, the weights streamed about once per row at a few, a packed GEMM from
    about eight), so one GEMM efficiency cannot describe it (roofline.efficiency.cpu); nor
    a language model head's hundreds of rows on a weight of short rows larger than the last
    cache (a full calibration also measures 128 and 512 rows). ``depth``: the reduction depth (K, the weight's in_features) it was measured at: a
    short row of the weight costs more per byte than a long one."""

    rows: int
    depth: int
    flops_per_s: float


@dataclass(frozen=True)
class VectorRate:
    """The rate of one vector kernel on cache-resident data."""

    dtype: str  # dtype key
    kernel: str  # "mul", "addcmul", "sum"
    elements: int
    flops_per_s: float


@dataclass(frozen=True)
class LayerFraction:
    """The fraction of the GEMM peak one layer of the matrix-efficiency suite reached."""

    shape: str  # "mm 256x256x256", "conv 1x64x56x56 k3 -> 64"
    fraction: float


@dataclass(frozen=True)
class OpCurve:
    """One op family's time-vs-size curve (roofline.efficiency.cpu): a call costs
    ``dispatch_s`` plus its roofline work time over ``efficiency``, on the threads its
    size can use. Fitted by calibrate on its op-suite microbenchmarks (suite op ``op``,
    whose aten ops op_suite_ops lists); ``spread``: the fit's largest relative residual."""

    op: str  # suite op name, "add"
    dispatch_s: float  # s per call, the size-independent part
    efficiency: float  # fraction of the roofline in (0, 1]
    spread: float  # largest |measured - curve| / measured over the sizes fitted


@dataclass(frozen=True)
class ColsRate:
    """The rate of a matrix product with few output columns (the GEMM's N: a linear layer
    of a few out_features, a graph layer's hidden size) on a cache-resident activation of
    many rows, fp32: ``cols`` columns at ``flops_per_s``, ``depth`` the reduction (K) it
    was measured at. A CPU's GEMM kernel fills a register tile of several vectors of
    columns per step and packs the activation for each product: a product of a few
    columns leaves most of the tile idle and pays the packing for few FLOPs."""

    cols: int
    depth: int
    flops_per_s: float


@dataclass(frozen=True)
class ConvRate:
    """The rate of one CPU convolution outside the GEMM path, fp32, batch 1: ``kind``
    "depthwise" (one input channel per group) or "grouped" (a few channels per group),
    ``stride``, ``reduction`` (what each output sums over: the kernel's taps for a
    depthwise one, input channels per group x taps for a grouped one), ``out_elements``
    (output channels x output plane) and the ``flops_per_s`` measured there, dispatch
    included (roofline.calibrate.convs; used by roofline.efficiency.cpu_conv)."""

    kind: str  # "depthwise" or "grouped"
    stride: int
    reduction: int  # taps (depthwise) or channels per group x taps (grouped)
    out_elements: int
    flops_per_s: float


@dataclass(frozen=True)
class SdpaTime:
    """One CPU flash attention call timed, fp32, dispatch included: ``heads`` (batch x
    heads) attentions of ``q_len`` queries over ``kv_len`` keys of ``head_dim``
    elements took ``seconds`` (roofline.calibrate.sdpa; roofline.efficiency.cpu_sdpa
    fits its block model's costs on these)."""

    heads: int
    q_len: int
    kv_len: int
    head_dim: int
    seconds: float


@dataclass(frozen=True)
class LoopCost:
    """What an op family's short inner loops cost on one thread (roofline.efficiency.cpu):
    ``element_s`` per element a loop runs element by element (below a vector's worth, or
    the tail past the last whole vector) and ``loop_s`` per inner loop started. Measured
    by calibrate on inner loops of a few elements (roofline.calibrate.loops)."""

    op: str  # suite op name, "add"
    element_s: float  # s per element run without vectors, one thread
    loop_s: float  # s per inner loop, one thread


@dataclass(frozen=True)
class FigureSpread:
    """How stable one calibrated figure was: its slowest round over its fastest, minus 1
    (0.05: the rounds differed by 5%); the figure itself is the fastest round's."""

    figure: str  # "peak fp32 matrix", "dram bandwidth", "overhead", ...
    spread: float


@dataclass(frozen=True)
class QuietCheck:
    """A fixed reference workload timed (best of a few samples) before and after the
    calibration: equal times say the machine ran at one speed throughout."""

    before_s: float
    after_s: float


@dataclass(frozen=True)
class CalibrationRecord:
    """What a calibration measured and how (the spec's ``measured:`` block).

    Predictions read memory_level, view_overhead_s, module_call_s, fresh_write, op_curves (or, from an
    older calibration without curves, op_suite's median fractions) and op_suite_ops; the rest is provenance and the raw figures behind the spec's ceilings.
    Every field has a default, so a hand-made record may give only what it needs. The
    notes a calibration writes live in HardwareSpec.notes.
    """

    tool: str | None = None  # "roofline calibrate"
    date: str | None = None  # ISO 8601, UTC
    mode: str | None = None  # "full" or "quick"
    device: str | None = None  # "cpu" or "cuda"
    device_name: str | None = None
    isa: str | None = None  # a CPU's instruction sets as PyTorch uses them (calibrate.machine.cpu_isa)
    threads: int | None = None  # torch CPU threads
    torch: str | None = None  # torch version
    python: str | None = None  # Python version
    duration_s: float | None = None  # how long the calibration took
    load_average: float | None = None  # 1-minute load average when it started
    memory_level: str | None = None  # a MEMORY_MODES value; None: DRAM, as a datasheet spec
    timing: str | None = None  # how times were taken, in words
    clock: str | None = None  # "wall" or "thread" (roofline.measure.ThreadTimer)
    overhead_s: tuple[OpSeconds, ...] = ()  # tiny ops whose median is the per-op overhead
    view_overhead_s: float = 0.0  # s charged to each op that does no work (views)
    view_ops_s: tuple[OpSeconds, ...] = ()  # the views and allocation it is the median of
    module_call_s: float | None = None  # s of Python per nn.Module call, between ops; None: not measured
    fresh_write: FreshWrite | None = None  # None: fresh outputs cost nothing extra
    bandwidth_curve: tuple[CurvePoint, ...] = ()
    plateaus: tuple[Plateau, ...] = ()
    levels: tuple[LevelFit, ...] = ()
    gemm_flops: tuple[GemmRate, ...] = ()
    gemm_rows: tuple[RowsRate, ...] = ()  # few-row linear layers on cold weights (fp32)
    gemm_cols: tuple[ColsRate, ...] = ()  # few-column linear layers on warm activations (fp32)
    vector_flops: tuple[VectorRate, ...] = ()
    efficiency_suite: tuple[LayerFraction, ...] = ()
    op_suite: tuple[SuiteRow, ...] = ()
    op_suite_ops: tuple[SuiteOp, ...] = ()  # every op of op_suite, with its aten ops
    op_curves: tuple[OpCurve, ...] = ()  # per suite op: dispatch + ramp (roofline.efficiency.cpu)
    loop_costs: tuple[LoopCost, ...] = ()  # per suite op: short inner loops (roofline.efficiency.cpu)
    conv_rates: tuple[ConvRate, ...] = ()  # depthwise and grouped convolutions (roofline.efficiency.cpu_conv)
    sdpa_times: tuple[SdpaTime, ...] = ()  # CPU flash attention probes (roofline.efficiency.cpu_sdpa)
    stability: tuple[FigureSpread, ...] = ()  # per figure, the spread of its rounds
    quiet: QuietCheck | None = None  # reference workload before and after


# --------------------------------------------------------------------------- kernel model

#: GEMM tile-menu classes (roofline.efficiency.gemm.TILE_MENUS): fp32 on CUDA cores, and
#: the tensor-core dtypes; "batched" is fp32 batched GEMM (bmm) on CUDA cores, on its
#: architecture's few tiles (KernelModel.batched_tiles); "conv" is cuDNN's fp32
#: convolutions on CUDA cores (roofline.efficiency.conv).
GEMM_CLASSES: tuple[str, ...] = ("simt", "tensor", "batched", "conv")


#: Elements an SM computes per clock on PyTorch's unvectorised element-wise path: fitted
#: on Liger-Kernel's published H100 SXM timings of Megatron's eager SwiGLU (bf16, strided
#: halves) by ``python benchmarks/liger_published.py --fit strided``; the A100's rows held
#: out (docs/fidelity-liger.md). The issue rate of an SM (4 warp instructions a clock on
#: Volta to Hopper) over the instructions the compiled kernel spends per element.
DEFAULT_STRIDED_ELEMENTS_PER_CLOCK = 1.35
#: Elements an SM gathers per clock in PyTorch's index_select kernels (an embedding too):
#: fitted on Liger-Kernel's published A100 SXM embedding forwards of 768-wide rows by
#: ``python benchmarks/liger_published.py --fit gather``; the 4096-wide rows held out.
DEFAULT_GATHER_ELEMENTS_PER_CLOCK = 0.5


@dataclass(frozen=True)
class KernelModel:
    """Physical parameters of a GPU that the efficiency stage (roofline.efficiency) uses
    to say what fraction of the roofs each op attains. Datasheet figures where there are
    any; the rest fitted on measurements, named in ``source``.

    sms: streaming multiprocessors (compute units). boost_clock_hz: the clock the peaks
    in the spec are quoted at. sustained_clock_hz: the clock the card holds under a
    long GEMM (power- or thermal-limited cards run below boost): peaks scale by
    sustained / boost. gemm_efficiency: per tile class ("simt", "tensor"), the fraction
    of the (sustained) peak a GEMM reaches on shapes with no tile or wave loss.
    k_overhead: K steps of fixed cost per GEMM tile (prologue, epilogue). latency_s: a
    kernel's memory start-up before its bytes stream at the sustained bandwidth.
    min_kernel_s: the shortest a kernel takes, launched back to back.
    tensor_gemm_fixed_s: the time a GEMM kernel on tensor cores takes beyond its tiles'
    math, once per kernel: from launch to the first tile's math (setup, filling the load
    pipeline from DRAM) and from the last tile's math to the end (epilogue, drain). Once
    per kernel, not per wave: large tensor-core GEMMs reach their whole-tile efficiency
    with no per-wave loss (persistent kernels overlap a tile's epilogue with the next
    tile's loads; resident tiles overlap each other's). 0: none modelled.
    threads_per_sm: resident threads an SM holds at most (2048 on Pascal, Volta, A100
    and Hopper; 1024 on Turing; 1536 on GA10x and Ada): how many blocks of a row-wise
    reduction run at once (roofline.efficiency.reduction).
    batched_tiles: the (tm, tn, per_sm) tiles cuBLAS's batched fp32 GEMM (bmm) picks among
    on this architecture (tm output rows by tn output columns, per_sm of them resident on
    an SM at once, the batch on the grid, no split-K): one on Ampere and Pascal, whatever
    the shape; empty where it picks as for a single GEMM. Their fraction of the peak on whole tiles is
    gemm_efficiency["batched"] (else "simt").
    l2_partitions: how many partitions the L2 is split in (2 on GA100 and GH100, each
    serving half the SMs and holding a copy of the far half's lines they read; 1 on a
    unified L2): the share of L2 a row-wise reduction's rows can use
    (roofline.efficiency.reduction.private_l2_capacity).
    strided_elements_per_clock: elements an SM computes per clock on PyTorch's unvectorised
    element-wise path (operands that walk no one contiguous loop: each element's offsets
    divided out of its index; roofline.efficiency.elementwise). Default
    DEFAULT_STRIDED_ELEMENTS_PER_CLOCK, fitted on one H100 kernel.
    gather_elements_per_clock: elements an SM gathers per clock in index_select (and an
    embedding's lookup). Default DEFAULT_GATHER_ELEMENTS_PER_CLOCK, fitted on one A100 kernel.
    """

    sms: int
    boost_clock_hz: float
    sustained_clock_hz: float
    gemm_efficiency: dict[str, float]
    k_overhead: float
    latency_s: float
    min_kernel_s: float
    source: str
    threads_per_sm: int = 2048
    batched_tiles: tuple[tuple[int, int, int], ...] = ()
    l2_partitions: int = 1
    tensor_gemm_fixed_s: float = 0.0
    strided_elements_per_clock: float = DEFAULT_STRIDED_ELEMENTS_PER_CLOCK
    gather_elements_per_clock: float = DEFAULT_GATHER_ELEMENTS_PER_CLOCK

    @property
    def clock_ratio(self) -> float:
        """Sustained over boost clock: the factor every compute peak is reached at."""
        return self.sustained_clock_hz / self.boost_clock_hz

    def __hash__(self) -> int:  # the dict field is unhashable; hash its items
        return hash((self.sms, self.boost_clock_hz, self.sustained_clock_hz, tuple(sorted(self.gemm_efficiency.items())),
                     self.k_overhead, self.latency_s, self.min_kernel_s, self.threads_per_sm, self.batched_tiles,
                     self.l2_partitions, self.tensor_gemm_fixed_s, self.strided_elements_per_clock,
                     self.gather_elements_per_clock))


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class HardwareSpec:
    """One device (or a system of them) as the time model sees it, in SI units: peaks in
    FLOP/s, bandwidths in B/s, capacities in bytes, overhead in s. Built by load_hardware
    from YAML (validated there), by roofline.calibrate from measurements, or by hand."""

    name: str
    display_name: str
    kind: str  # "gpu" | "cpu"
    vendor: str
    source: str
    matrix_flops: dict[str, float]  # dtype key -> dense peak FLOP/s on matrix / tensor units
    vector_flops: dict[str, float]  # dtype key -> dense peak FLOP/s on vector units
    memory: tuple[MemoryLevel, ...]  # smallest / fastest first, DRAM last
    host_link_bw: float  # B/s
    peer_link_bw: float | None  # B/s, None if no peer link
    overhead_s: float  # fixed per-op overhead, s
    efficiency: Efficiency
    path: str | None = field(default=None, compare=False)  # the file it came from
    measured: CalibrationRecord | None = None  # record of a calibration; None for datasheet specs
    aliases: tuple[str, ...] = field(default=(), compare=False)
    notes: str | None = field(default=None, compare=False)
    interconnect: Interconnect | None = None  # None: a single device
    kernel_model: KernelModel | None = None  # None: one efficiency per unit (datasheet roofline)

    def __post_init__(self) -> None:
        # A plain mapping here was the old, untyped contract: refuse it where it is made,
        # not later inside a prediction.
        if self.measured is not None and not isinstance(self.measured, CalibrationRecord):
            raise TypeError(
                f"HardwareSpec.measured: expected a CalibrationRecord or None, got {type(self.measured).__name__}"
            )

    @property
    def devices(self) -> int:
        """Devices in the system (1 without an interconnect)."""
        return self.interconnect.devices if self.interconnect is not None else 1

    def __hash__(self) -> int:  # dict fields are unhashable; hash the rest
        return hash(
            (
                self.name,
                self.kind,
                tuple(sorted(self.matrix_flops.items())),
                tuple(sorted(self.vector_flops.items())),
                self.memory,
                self.host_link_bw,
                self.peer_link_bw,
                self.overhead_s,
                self.efficiency,
                self.kernel_model,
            )
        )

    def peak_flops(self, dtype: Any, unit: str) -> float:
        """Dense peak FLOP/s for `dtype` (a key such as "bf16", or a torch.dtype) on `unit`.

        unit is "matrix" (tensor / matrix units) or "vector". Fallback: matrix peak if
        unit == "matrix" and the spec lists one for dtype, else the vector peak for dtype,
        else the vector fp32 peak (ints, bool and unlisted dtypes run at the fp32 rate).
        """
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
        key = dtype if isinstance(dtype, str) else dtype_key(dtype)
        if key not in DTYPES and key != OTHER_DTYPE:
            raise ValueError(
                f"unknown dtype key {key!r}; expected one of {', '.join(DTYPES)} "
                f"(or {OTHER_DTYPE!r} for integer and bool tensors)"
            )
        if unit == MATRIX and key in self.matrix_flops:
            return self.matrix_flops[key]
        if key in self.vector_flops:
            return self.vector_flops[key]
        return self.vector_flops["fp32"]

    @property
    def dram(self) -> MemoryLevel:
        """Main memory (HBM or DDR): the last level."""
        return self.memory[-1]

    @property
    def last_cache_bytes(self) -> float:
        """Capacity (bytes) of the last level before DRAM; infinite for a spec with DRAM only."""
        return self.memory[-2].capacity if len(self.memory) > 1 else math.inf

    def level(self, name: str) -> MemoryLevel:
        """The memory level called ``name``; KeyError listing the spec's levels if none."""
        for lvl in self.memory:
            if lvl.name == name:
                return lvl
        known = ", ".join(lvl.name for lvl in self.memory)
        raise KeyError(f"{self.name} has no memory level {name!r}; it has: {known}")

    def ridge_points(self) -> pd.DataFrame:
        """One row per (unit, dtype) x memory level: peak / bandwidth in FLOP/byte.

        Datasheet peaks and bandwidths, not scaled by the efficiencies.
        """
        rows = []
        for unit, peaks in ((MATRIX, self.matrix_flops), (VECTOR, self.vector_flops)):
            for dtype, peak in peaks.items():
                for lvl in self.memory:
                    rows.append(
                        {
                            "unit": unit,
                            "dtype": dtype,
                            "level": lvl.name,
                            "peak_flops": peak,
                            "bandwidth": lvl.bandwidth,
                            "ridge_intensity": peak / lvl.bandwidth,
                        }
                    )
        columns = ["unit", "dtype", "level", "peak_flops", "bandwidth", "ridge_intensity"]
        return pd.DataFrame(rows, columns=columns)
