"""From schema-valid YAML to a HardwareSpec: parse the quantities, then check plausibility.

Two passes, each reporting every problem it finds in one HardwareSpecError line:

1. parse (parse_spec): quantities such as "3.35 TB/s" to SI floats, keys that must or
   must not be there, efficiencies in (0, 1], the calibration record's rows to typed rows.
2. plausibility (plausibility_problems): figures that parse but cannot be right for one
   device: a wrong prefix, bits for bytes, a sparse datasheet peak, levels out of order,
   a ridge point no device has, a calibration record with impossible values.

Every check is a small function that returns a list of problem strings
("field.path: what is wrong; what was expected"), so each can be read and tested alone.
"""

from __future__ import annotations

import math
import re
from typing import Any

from roofline.dtypes import DTYPES
from roofline.hardware.schema import (
    InterconnectModel,
    KernelModelSchema,
    LinkModel,
    RecordModel,
    SpecModel,
    fail,
    validate_spec,
)
from roofline.hardware.spec import (
    DRAM,
    MATRIX,
    MEMORY_LEVELS,
    MEMORY_MODES,
    UNITS,
    VECTOR,
    CalibrationRecord,
    ColsRate, ConvRate, CurvePoint, SdpaTime,
    FigureSpread,
    Efficiency,
    FreshWrite,
    GemmRate,
    HardwareSpec,
    Interconnect,
    KernelModel,
    LayerFraction, LevelFit,
    Link,
    MemoryLevel,
    LoopCost,
    OpCurve,
    OpSeconds,
    Plateau,
    QuietCheck, RowsRate,
    SuiteOp,
    SuiteRow,
    VectorRate,
)
from roofline.hardware.record_checks import curve_problems
from roofline.units import KINDS, format_quantity, parse_quantity, show_value

__all__ = ["spec_from_data", "parse_spec", "plausibility_problems", "parse_record", "record_problems"]

# Plausibility limits (see hw_reference.md, "Known mistakes in other tools' spec tables").
MAX_BANDWIDTH = 100e12  # B/s: no single device level or link is near this
MAX_PEAK = 20e15  # FLOP/s
MAX_RIDGE = 2000.0  # FLOP/byte, any peak over DRAM bandwidth
MAX_OVERHEAD = 1e-3  # s per op
# Lower limits: a plain number is read in base units, so "bandwidth: 3350" (GB/s meant)
# would be 3350 B/s. Far below anything measured (a CPU's fp16 GEMM without hardware
# support still runs at about a GFLOP/s), far above a datasheet figure missing its unit.
MIN_PEAK = 1e6  # FLOP/s
MIN_BANDWIDTH = 1e6  # B/s, any memory level or link
MIN_CAPACITY = 1e3  # bytes, any memory level
MAX_CAPACITY = 1e15  # bytes: no single device level holds a petabyte
MAX_LINK_LATENCY = 1e-3  # s per message step: links are microseconds, not milliseconds
SPARSE_RATIO = 2.1  # a dense peak at most ~2x the next wider format's

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def spec_from_data(data: dict, where: str, path: str | None) -> HardwareSpec:
    """Validate parsed YAML and build the HardwareSpec. `where` is the file, for messages;
    `path` is kept on the spec. Raises HardwareSpecError naming the file and field."""
    model = validate_spec(data, where)
    spec, problems = parse_spec(model, path)
    fail(where, problems)
    fail(where, plausibility_problems(spec))
    return spec


# --------------------------------------------------------------------------- parse


class _Reader:
    """Reads quantities to SI floats, keeping one problem string per value it cannot read
    (NaN stands in for the value, so the rest of the file is still read and reported)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def quantity(self, value: Any, kind: str, at: str) -> float:
        """``value`` (of field ``at``) as a ``kind`` quantity in SI units; NaN and a problem
        if it is not one."""
        try:
            return parse_quantity(value, kind, where=at)
        except ValueError as exc:
            self.problems.append(str(exc))
        except OverflowError:  # an integer too large for a float
            self.problems.append(f"{at}: expected {KINDS[kind][0]} such as \"{KINDS[kind][1]}\", got an integer too large")
        return math.nan


def parse_spec(model: SpecModel, path: str | None) -> tuple[HardwareSpec, list[str]]:
    """The spec a schema-valid model describes, and the problems found reading it (in
    file order; the spec is only meaningful when there are none)."""
    read = _Reader()
    read.problems.extend(_name_problems(model))
    peaks = _parse_peaks(model, read)
    levels = _parse_levels(model, read)
    read.problems.extend(_level_layout_problems(list(model.memory)))
    host = read.quantity(model.links.host, "bandwidth", "links.host")
    peer = _parse_peer(model.links.peer, read)
    overhead = read.quantity(model.overhead.per_op, "time", "overhead.per_op")
    interconnect = _parse_interconnect(model.interconnect, read)
    eff = model.efficiency
    read.problems.extend(_efficiency_problems(eff.matrix, eff.vector, eff.memory))
    spec = HardwareSpec(
        name=model.name,
        display_name=model.display_name,
        kind=model.kind,
        vendor=model.vendor,
        source=model.source,
        matrix_flops=peaks[MATRIX],
        vector_flops=peaks[VECTOR],
        memory=tuple(levels),
        host_link_bw=host,
        peer_link_bw=peer,
        overhead_s=overhead,
        efficiency=Efficiency(matrix=eff.matrix, vector=eff.vector, memory=eff.memory),
        path=path,
        measured=parse_record(model.measured),
        aliases=tuple(model.aliases),
        notes=model.notes,
        interconnect=interconnect,
        kernel_model=_parse_kernel_model(model.kernel_model, read),
    )
    return spec, read.problems


def _name_problems(model: SpecModel) -> list[str]:
    """Empty strings, and a name that is not a short id."""
    problems = []
    for label, text in (("name", model.name), ("display_name", model.display_name),
                        ("vendor", model.vendor), ("source", model.source)):
        if not text.strip():
            problems.append(f"{label}: expected a non-empty string, got \"\"")
    if model.name.strip() and not _NAME_RE.fullmatch(model.name):
        problems.append(
            f"name: expected a short id of letters, digits, '.', '_' and '-' "
            f"such as \"h100-sxm\", got {show_value(model.name)}"
        )
    return problems


def _parse_peaks(model: SpecModel, read: _Reader) -> dict[str, dict[str, float]]:
    """unit -> dtype key -> FLOP/s; unknown dtype keys and a missing fp32 vector peak
    (the fallback of every other dtype) are problems."""
    peaks: dict[str, dict[str, float]] = {}
    for unit in UNITS:
        peaks[unit] = {}
        for dtype, value in getattr(model.peak_flops, unit).items():
            at = f"peak_flops.{unit}.{dtype}"
            if dtype not in DTYPES:
                read.problems.append(f"{at}: unknown dtype key; expected one of {', '.join(DTYPES)}")
                continue
            peaks[unit][dtype] = read.quantity(value, "flops", at)
    if "fp32" not in model.peak_flops.vector:
        read.problems.append(
            "peak_flops.vector.fp32: missing required field (the fallback rate for dtypes "
            "without their own peak)"
        )
    return peaks


def _parse_levels(model: SpecModel, read: _Reader) -> list[MemoryLevel]:
    """The memory levels in file order; unknown level keys are problems."""
    levels = []
    for name, level in model.memory.items():
        at = f"memory.{name}"
        if name not in MEMORY_LEVELS:
            read.problems.append(f"{at}: unknown memory level; expected one of {', '.join(MEMORY_LEVELS)}")
            continue
        levels.append(
            MemoryLevel(
                name=name,
                bandwidth=read.quantity(level.bandwidth, "bandwidth", f"{at}.bandwidth"),
                capacity=read.quantity(level.capacity, "bytes", f"{at}.capacity"),
            )
        )
    return levels


def _level_layout_problems(names: list[str]) -> list[str]:
    """dram must be there and last, after at least one cache level."""
    problems = []
    if DRAM not in names:
        problems.append("memory.dram: missing required field (main memory, HBM or DDR, as the last level)")
    elif names[-1] != DRAM:
        problems.append(f"memory.dram: must be the last level, found it before {names[-1]}")
    if len(names) < 2:
        problems.append(
            "memory: expected dram and at least one cache level "
            f"({', '.join(MEMORY_LEVELS[:-1])}), got only {', '.join(names) or 'none'}"
        )
    return problems


def _parse_peer(value: Any, read: _Reader) -> float | None:
    """The peer link's B/s, or None where the file says null (no peer link)."""
    if value is None:
        return None
    try:
        return parse_quantity(value, "bandwidth", where="links.peer")
    except ValueError as exc:
        read.problems.append(f"{exc} (or null for no peer link)")
    except OverflowError:
        read.problems.append("links.peer: expected a bandwidth such as \"900 GB/s\", got an integer too large")
    return None


def _parse_interconnect(model: InterconnectModel | None, read: _Reader) -> Interconnect | None:
    """The Interconnect of a validated ``interconnect:`` block."""
    if model is None:
        return None
    for label in ("devices_per_node", "nodes"):
        value = getattr(model, label)
        if value < 1:
            read.problems.append(f"interconnect.{label}: expected a whole number of at least 1, got {value}")
    if model.nodes > 1 and model.inter_node is None:
        read.problems.append(
            f"interconnect.inter_node: missing required field (nodes is {model.nodes}: a spec with "
            "more than one node needs the network between them)"
        )
    return Interconnect(
        devices_per_node=model.devices_per_node,
        nodes=model.nodes,
        intra_node=_parse_link(model.intra_node, "intra_node", "intra-node link", read),
        inter_node=_parse_link(model.inter_node, "inter_node", "network", read),
    )


def _parse_link(raw: LinkModel | None, label: str, default_name: str, read: _Reader) -> Link | None:
    if raw is None:
        return None
    at = f"interconnect.{label}"
    return Link(
        name=raw.name or default_name,
        bandwidth=read.quantity(raw.bandwidth, "bandwidth", f"{at}.bandwidth"),
        latency=read.quantity(raw.latency, "time", f"{at}.latency"),
    )


def _parse_kernel_model(model: KernelModelSchema | None, read: _Reader) -> KernelModel | None:
    """The KernelModel of a validated ``kernel_model:`` block (times read as quantities)."""
    if model is None:
        return None
    times = {f"{name}_s": read.quantity(getattr(model, name), "time", f"kernel_model.{name}") if getattr(model, name) else 0.0
             for name in ("latency", "min_kernel", "tensor_gemm_fixed")}
    return KernelModel(
        sms=model.sms, boost_clock_hz=model.boost_clock_mhz * 1e6, sustained_clock_hz=model.sustained_clock_mhz * 1e6,
        gemm_efficiency=dict(model.gemm_efficiency), k_overhead=model.k_overhead, **times,
        source=model.source, threads_per_sm=model.threads_per_sm, l2_partitions=model.l2_partitions,
        batched_tiles=tuple(tuple(tile) for tile in model.batched_tiles),
        strided_elements_per_clock=model.strided_elements_per_clock, gather_elements_per_clock=model.gather_elements_per_clock,
    )


def _efficiency_problems(matrix: float, vector: float, memory: float) -> list[str]:
    """Each efficiency must be a fraction in (0, 1]."""
    problems = []
    for label, value in (("matrix", matrix), ("vector", vector), ("memory", memory)):
        if not (0 < value <= 1) or math.isnan(value):
            problems.append(f"efficiency.{label}: expected a fraction in (0, 1] such as 0.8, got {value!r}")
    return problems


def parse_record(model: RecordModel | None) -> CalibrationRecord | None:
    """The typed CalibrationRecord of a schema-valid ``measured:`` block (None: none).
    Rows keep file order; values are checked by record_problems."""
    if model is None:
        return None
    return CalibrationRecord(
        tool=model.tool, date=model.date, mode=model.mode, device=model.device, device_name=model.device_name, isa=model.isa,
        threads=model.threads, torch=model.torch, python=model.python, duration_s=model.duration_s,
        module_call_s=model.module_call_s,
        load_average=model.load_average, memory_level=model.memory_level, timing=model.timing, clock=model.clock,
        overhead_s=tuple(OpSeconds(op, s) for op, s in model.overhead_s.items()),
        view_overhead_s=model.view_overhead_s, view_ops_s=tuple(OpSeconds(op, s) for op, s in model.view_ops_s.items()),
        fresh_write=None if model.fresh_write is None else FreshWrite(model.fresh_write.min_bytes, model.fresh_write.bandwidth),
        bandwidth_curve=tuple(CurvePoint(*row) for row in model.bandwidth_curve),
        plateaus=tuple(Plateau(*row) for row in model.plateaus),
        levels=tuple(LevelFit(row.level, row.capacity, row.bandwidth, row.points) for row in model.levels),
        gemm_flops=tuple(GemmRate(*row) for row in model.gemm_flops), gemm_rows=tuple(RowsRate(*r) for r in model.gemm_rows),
        gemm_cols=tuple(ColsRate(*r) for r in model.gemm_cols), vector_flops=tuple(VectorRate(*r) for r in model.vector_flops),
        efficiency_suite=tuple(LayerFraction(*row) for row in model.efficiency_suite),
        op_suite=tuple(SuiteRow(*row) for row in model.op_suite),
        op_suite_ops=tuple(SuiteOp(name, tuple(ops)) for name, ops in model.op_suite_ops.items()),
        op_curves=tuple(OpCurve(*row) for row in model.op_curves), loop_costs=tuple(LoopCost(*r) for r in model.loop_costs),
        conv_rates=tuple(ConvRate(*r) for r in model.conv_rates), sdpa_times=tuple(SdpaTime(*r) for r in model.sdpa_times),
        stability=tuple(FigureSpread(figure, spread) for figure, spread in model.stability.items()),
        quiet=None if model.quiet is None else QuietCheck(model.quiet.before_s, model.quiet.after_s),
    )


# --------------------------------------------------------------------------- plausibility


def plausibility_problems(spec: HardwareSpec) -> list[str]:
    """Every plausibility problem of a parsed spec, each check its own message."""
    problems = _peak_range_problems(spec)
    problems += _bandwidth_range_problems(spec)
    problems += _capacity_range_problems(spec.memory)
    problems += _overhead_problems(spec.overhead_s)
    if spec.interconnect is not None:
        problems += _interconnect_problems(spec.interconnect)
    problems += _sparse_problems(spec.matrix_flops)
    problems += _level_order_problems(spec.memory)
    problems += _ridge_problems(spec)
    if spec.measured is not None:
        problems += record_problems(spec.measured)
    if spec.kernel_model is not None:
        problems += kernel_model_problems(spec.kernel_model)
    return problems


#: Plausible ranges of a kernel model's figures: (low, high, what), inclusive.
_KERNEL_RANGES: dict[str, tuple[float, float, str]] = {
    "sms": (1, 1000, "a count of streaming multiprocessors from 1 to 1000"),
    "boost_clock_mhz": (100, 5000, "a clock from 100 to 5000 MHz"),
    "sustained_clock_mhz": (100, 5000, "a clock from 100 to 5000 MHz"),
    "k_overhead": (0, 10_000, "K steps from 0 to 10000"),
    **dict.fromkeys(("latency", "min_kernel", "tensor_gemm_fixed"),
                    (0, MAX_OVERHEAD, f"a time from 0 to {format_quantity(MAX_OVERHEAD, 'time')}")),
    "threads_per_sm": (32, 4096, "a count of threads from 32 to 4096"),
    "l2_partitions": (1, 16, "a count of L2 partitions from 1 to 16"),
    **dict.fromkeys(("strided_elements_per_clock", "gather_elements_per_clock"),
                    (0.01, 128, "elements per SM per clock from 0.01 to 128")),
}


def kernel_model_problems(model: KernelModel) -> list[str]:
    """Plausibility problems of a kernel model: figures out of range, a sustained clock
    above boost, GEMM efficiencies outside (0, 1]."""
    values = {"boost_clock_mhz": model.boost_clock_hz / 1e6, "sustained_clock_mhz": model.sustained_clock_hz / 1e6,
              "latency": model.latency_s, "min_kernel": model.min_kernel_s, "tensor_gemm_fixed": model.tensor_gemm_fixed_s,
              **{name: getattr(model, name) for name in ("sms", "k_overhead", "threads_per_sm", "l2_partitions",
                                                         "strided_elements_per_clock", "gather_elements_per_clock")}}
    problems = [
        f"kernel_model.{name}: expected {what}, got {show_value(values[name])}"
        for name, (low, high, what) in _KERNEL_RANGES.items()
        if not low <= values[name] <= high  # NaN (unreadable) fails too, and was reported already
        and values[name] == values[name]
    ]
    if model.sustained_clock_hz > model.boost_clock_hz:
        problems.append("kernel_model.sustained_clock_mhz: expected at most boost_clock_mhz (a card does not hold more than its boost clock)")
    for unit_class, fraction in model.gemm_efficiency.items():
        if not 0 < fraction <= 1:
            problems.append(f"kernel_model.gemm_efficiency.{unit_class}: expected a fraction in (0, 1], got {show_value(fraction)}")
    return problems


def _peak_range_problems(spec: HardwareSpec) -> list[str]:
    """Peaks no device reaches, or so low a unit is missing."""
    problems = []
    for unit, peaks in zip(UNITS, (spec.matrix_flops, spec.vector_flops)):
        for dtype, peak in peaks.items():
            if peak > MAX_PEAK:
                problems.append(
                    f"peak_flops.{unit}.{dtype}: {format_quantity(peak, 'flops')} is above "
                    f"{format_quantity(MAX_PEAK, 'flops')}; no single device is that fast: check the "
                    "unit and prefix"
                )
            elif peak < MIN_PEAK:
                problems.append(
                    f"peak_flops.{unit}.{dtype}: {format_quantity(peak, 'flops')} is below "
                    f"{format_quantity(MIN_PEAK, 'flops')}: check the unit and prefix (a plain number is FLOP/s)"
                )
    return problems


def _bandwidth_range_problems(spec: HardwareSpec) -> list[str]:
    """Memory and link bandwidths out of any device's range (prefix, bits for bytes)."""
    bandwidths = [(f"memory.{lvl.name}.bandwidth", lvl.bandwidth) for lvl in spec.memory]
    bandwidths.append(("links.host", spec.host_link_bw))
    if spec.peer_link_bw is not None:
        bandwidths.append(("links.peer", spec.peer_link_bw))
    problems = []
    for at, bw in bandwidths:
        if bw > MAX_BANDWIDTH:
            problems.append(
                f"{at}: {format_quantity(bw, 'bandwidth')} is above {format_quantity(MAX_BANDWIDTH, 'bandwidth')}; "
                "implausible for one device: check the unit and prefix (decimal TB/s, "
                "bytes not bits)"
            )
        if bw < MIN_BANDWIDTH:
            problems.append(
                f"{at}: {format_quantity(bw, 'bandwidth')} is below {format_quantity(MIN_BANDWIDTH, 'bandwidth')}: check the unit "
                "and prefix (a plain number is B/s)"
            )
    return problems


def _capacity_range_problems(levels: tuple[MemoryLevel, ...]) -> list[str]:
    """Capacities outside a kilobyte to a petabyte."""
    problems = []
    for lvl in levels:
        if not MIN_CAPACITY <= lvl.capacity <= MAX_CAPACITY:
            problems.append(
                f"memory.{lvl.name}.capacity: {format_quantity(lvl.capacity, 'bytes')} is outside "
                f"{format_quantity(MIN_CAPACITY, 'bytes')} to {format_quantity(MAX_CAPACITY, 'bytes')}: check the unit and "
                "prefix (a plain number is bytes)"
            )
    return problems


def _overhead_problems(overhead_s: float) -> list[str]:
    """A per-op overhead of more than a millisecond is seconds written for microseconds."""
    if overhead_s > MAX_OVERHEAD:
        return [
            f"overhead.per_op: {format_quantity(overhead_s, 'time')} is above 1 ms; expected a per-op "
            'overhead of a few microseconds such as "4 us"'
        ]
    return []


def _interconnect_problems(interconnect: Interconnect) -> list[str]:
    """Implausible link figures (a wrong prefix or bits for bytes, seconds for us)."""
    problems = []
    for label in ("intra_node", "inter_node"):
        found = getattr(interconnect, label)
        if found is None:
            continue
        at = f"interconnect.{label}"
        if found.bandwidth > MAX_BANDWIDTH:
            problems.append(
                f"{at}.bandwidth: {format_quantity(found.bandwidth, 'bandwidth')} is above "
                f"{format_quantity(MAX_BANDWIDTH, 'bandwidth')}; implausible for one device's link: check the unit "
                "and prefix"
            )
        if found.latency > MAX_LINK_LATENCY:
            problems.append(
                f"{at}.latency: {format_quantity(found.latency, 'time')} is above 1 ms; expected a link latency "
                'of a few microseconds such as "2 us"'
            )
    return problems


def _sparse_problems(matrix: dict[str, float]) -> list[str]:
    """Peaks more than ~2x the next wider format's look like 2:4-sparse datasheet figures.

    fp16/bf16 vs tf32; fp8 vs fp16/bf16; int8 vs the larger of fp16/bf16 and fp8 (GeForce
    Ada runs fp16 with fp32 accumulation at half rate, so its dense int8 is 4x fp16 but
    2x fp8); fp4 vs fp8; int4 vs int8.
    """
    problems = []
    half = max((matrix[k] for k in ("fp16", "bf16") if k in matrix), default=None)

    def check(dtype: str, base_value: float | None, base_label: str) -> None:
        if dtype not in matrix or base_value is None:
            return
        ratio = matrix[dtype] / base_value
        if ratio > SPARSE_RATIO:
            problems.append(
                f"peak_flops.matrix.{dtype}: {format_quantity(matrix[dtype], 'flops')} is {ratio:.2f}x "
                f"the {base_label} peak ({format_quantity(base_value, 'flops')}); expected at most "
                f"{SPARSE_RATIO}x: this looks like a 2:4-sparse figure, use the dense peak "
                "(half the datasheet's sparse number)"
            )

    for dtype in ("fp16", "bf16"):
        check(dtype, matrix.get("tf32"), "tf32")
    check("fp8", half, "fp16/bf16")
    int8_base = max((v for v in (half, matrix.get("fp8")) if v is not None), default=None)
    check("int8", int8_base, "fp16/bf16" if int8_base == half else "fp8")
    check("fp4", matrix.get("fp8"), "fp8")
    check("int4", matrix.get("int8"), "int8")
    return problems


def _level_order_problems(levels: tuple[MemoryLevel, ...]) -> list[str]:
    """Levels must grow toward dram and not get faster on the way."""
    problems = []
    for prev, nxt in zip(levels, levels[1:]):
        if nxt.capacity <= prev.capacity:
            problems.append(
                f"memory.{nxt.name}.capacity: {format_quantity(nxt.capacity, 'bytes')} is not larger than "
                f"memory.{prev.name}.capacity ({format_quantity(prev.capacity, 'bytes')}); expected levels "
                "ordered smallest first, growing toward dram"
            )
        if nxt.bandwidth > prev.bandwidth:
            problems.append(
                f"memory.{nxt.name}.bandwidth: {format_quantity(nxt.bandwidth, 'bandwidth')} is higher "
                f"than memory.{prev.name}.bandwidth ({format_quantity(prev.bandwidth, 'bandwidth')}); "
                "expected bandwidth not to grow toward dram"
            )
    return problems


def _ridge_problems(spec: HardwareSpec) -> list[str]:
    """The worst ridge point over DRAM (the others follow from it), if no device has it."""
    if not spec.memory or spec.memory[-1].name != DRAM:
        return []
    dram_bw = spec.memory[-1].bandwidth
    ridges = [
        (peak / dram_bw, unit, dtype, peak)
        for unit, peaks in zip(UNITS, (spec.matrix_flops, spec.vector_flops))
        for dtype, peak in peaks.items()
    ]
    if not ridges:
        return []
    ridge, unit, dtype, peak = max(ridges, key=lambda r: r[0])
    if ridge <= MAX_RIDGE:
        return []
    return [
        f"peak_flops.{unit}.{dtype}: ridge point {ridge:.0f} FLOP/byte "
        f"({format_quantity(peak, 'flops')} over memory.dram.bandwidth "
        f"{format_quantity(dram_bw, 'bandwidth')}) is above {MAX_RIDGE:.0f}; expected "
        "a dense peak and a DRAM bandwidth in matching units"
    ]


# --------------------------------------------------------------------------- record


def record_problems(record: CalibrationRecord) -> list[str]:
    """Values of a calibration record no calibration writes: an unknown memory mode, no
    threads, negative or infinite times, a suite op without its aten ops."""
    at = "measured"
    problems = []
    if record.memory_level is not None and record.memory_level not in MEMORY_MODES:
        choices = " or ".join(f'"{mode}"' for mode in MEMORY_MODES)
        problems.append(f"{at}.memory_level: expected {choices}, got {show_value(record.memory_level)}")
    if record.threads is not None and record.threads < 1:
        problems.append(f"{at}.threads: expected a whole number of at least 1, got {record.threads}")
    for label in ("duration_s", "load_average"):
        problems += _non_negative(getattr(record, label), f"{at}.{label}")
    for label in ("overhead_s", "view_ops_s"):
        for sample in getattr(record, label):
            problems += _non_negative(sample.seconds, f"{at}.{label}.{sample.op}")
    if not (0 <= record.view_overhead_s <= MAX_OVERHEAD):  # NaN fails too
        problems.append(
            f"{at}.view_overhead_s: expected seconds from 0 to {format_quantity(MAX_OVERHEAD, 'time')} such as 2e-06, "
            f"got {show_value(record.view_overhead_s)}"
        )
    if record.fresh_write is not None:
        for label in ("min_bytes", "bandwidth"):
            problems += _positive(getattr(record.fresh_write, label), f"{at}.fresh_write.{label}")
    return problems + _suite_problems(record) + curve_problems(record)


def _suite_problems(record: CalibrationRecord) -> list[str]:
    """Op-suite rows: sizes of at least one element, fractions positive (or null: too
    little work to tell), and every suite op mapped to the aten ops it stands for."""
    problems = []
    for i, row in enumerate(record.op_suite):
        at = f"measured.op_suite.{i}"
        if row.elements < 1:
            problems.append(f"{at}.elements: expected at least 1 element, got {row.elements}")
        if row.fraction is not None:
            problems += _positive(row.fraction, f"{at}.fraction")
    mapped = {suite_op.name for suite_op in record.op_suite_ops}
    unmapped = [name for name in dict.fromkeys(row.op for row in record.op_suite) if name not in mapped]
    if unmapped:
        problems.append(
            f"measured.op_suite_ops: missing the aten ops of suite op(s) {', '.join(unmapped)}; expected a "
            f"mapping such as {{{unmapped[0]}: [aten.{unmapped[0]}]}} (rerun `roofline calibrate` to write it)"
        )
    for suite_op in record.op_suite_ops:
        if any(not op.strip() for op in suite_op.aten_ops):
            problems.append(f"measured.op_suite_ops.{suite_op.name}: expected aten op names such as \"aten.add\", got \"\"")
    return problems


def _non_negative(value: float | None, at: str) -> list[str]:
    """A finite number of at least 0 (None: not given)."""
    if value is None or (math.isfinite(value) and value >= 0):
        return []
    return [f"{at}: expected a finite number of at least 0, got {show_value(value)}"]


def _positive(value: float, at: str) -> list[str]:
    """A finite number above 0."""
    if math.isfinite(value) and value > 0:
        return []
    return [f"{at}: expected a finite number above 0, got {show_value(value)}"]


__all__ += ["MAX_BANDWIDTH", "MAX_PEAK", "MAX_RIDGE", "MAX_OVERHEAD", "MIN_PEAK", "MIN_BANDWIDTH",
            "MIN_CAPACITY", "MAX_CAPACITY", "MAX_LINK_LATENCY", "SPARSE_RATIO"]
