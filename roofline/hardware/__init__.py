"""Hardware specs: YAML files in hw_specs/, validated on load, as frozen dataclasses.

    spec = load_hardware("h100-sxm")          # a packaged spec, by name or alias
    spec = load_hardware("my_gpu.yaml")       # or any YAML file of the same shape
    spec.peak_flops("bf16", "matrix")         # 9.89e14 FLOP/s
    spec.dram.bandwidth                        # 3.35e12 B/s
    spec.ridge_points()                        # DataFrame: one row per (unit, dtype) x level

The YAML shape (every file in hw_specs/ is an example):

    name: h100-sxm                     # short id; packaged files are named <name>.yaml
    display_name: NVIDIA H100 SXM5 80GB
    kind: gpu                          # gpu | cpu
    vendor: nvidia
    source: "where the figures come from"
    aliases: [h100]                    # optional
    peak_flops:
      matrix: {bf16: 989 TFLOP/s, ...} # dense peaks on tensor / matrix units (optional)
      vector: {fp32: 67 TFLOP/s, ...}  # dense peaks on vector units / CUDA cores; fp32 required
    memory:                            # smallest / fastest first, dram last
      l2:   {bandwidth: 7.3 TB/s, capacity: 50 MB}
      dram: {bandwidth: 3.35 TB/s, capacity: 80 GB}
    links: {host: 128 GB/s, peer: 900 GB/s}   # peer may be null
    overhead: {per_op: 4 us}
    efficiency: {matrix: 0.80, vector: 0.70, memory: 0.85}
    measured: null                     # optional; a calibration writes a mapping here
    notes: "free text"                 # optional
    interconnect:                      # optional: a multi-device system of this device
      devices_per_node: 8
      nodes: 2                         # default 1; more than 1 needs inter_node
      intra_node: {name: NVLink 4, bandwidth: 450 GB/s, latency: 2 us}
      inter_node: {name: InfiniBand NDR, bandwidth: 400 Gb/s, latency: 5 us}

An interconnect link's bandwidth is per device and per direction (what one device can
send while it receives as much: the figure a ring all-reduce is bound by); its latency
is the time of one message step. A spec without ``interconnect`` is one device.

Every problem with a file raises HardwareSpecError with one line naming the file, the
field path and what was expected, e.g.
    hw_specs/x.yaml: memory.dram.bandwidth: expected a bandwidth such as "3.35 TB/s", got "fast"

Peak fallback (HardwareSpec.peak_flops): the matrix peak when the op runs on matrix units
and the spec lists one for the dtype; else the vector peak for the dtype; else the vector
fp32 peak. So integer, bool and other unlisted dtypes run at the fp32 vector rate, and a
matmul in a dtype without a matrix peak (fp32 on an H100 with TF32 off) runs at the vector
rate.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import importlib.resources
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from roofline._io import write_text_atomic
from roofline.dtypes import DTYPES, OTHER_DTYPE, dtype_key
from roofline.errors import HardwareSpecError
from roofline.units import KINDS, format_quantity, parse_quantity, show_value

__all__ = [
    "DTYPES",
    "MEMORY_LEVELS",
    "MemoryLevel",
    "Efficiency",
    "HardwareSpec",
    "Interconnect",
    "Link",
    "dtype_key",
    "load_hardware",
    "list_hardware",
    "spec_to_yaml",
    "write_hardware",
]

#: memory level keys a spec may use; "dram" (HBM or DDR: main memory) is required and last.
MEMORY_LEVELS: tuple[str, ...] = ("l1", "l2", "l3", "llc", "infinity_cache", "dram")
UNITS: tuple[str, ...] = ("matrix", "vector")

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


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class MemoryLevel:
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
        return self.devices_per_node * self.nodes


@dataclass(frozen=True)
class HardwareSpec:
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
    measured: dict | None = None  # record of a calibration; None for datasheet specs
    aliases: tuple[str, ...] = field(default=(), compare=False)
    notes: str | None = field(default=None, compare=False)
    interconnect: Interconnect | None = None  # None: a single device

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
        if unit == "matrix" and key in self.matrix_flops:
            return self.matrix_flops[key]
        if key in self.vector_flops:
            return self.vector_flops[key]
        return self.vector_flops["fp32"]

    @property
    def dram(self) -> MemoryLevel:
        """Main memory (HBM or DDR): the last level."""
        return self.memory[-1]

    def level(self, name: str) -> MemoryLevel:
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
        for unit, peaks in (("matrix", self.matrix_flops), ("vector", self.vector_flops)):
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


# --------------------------------------------------------------------------- YAML schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_Fraction = Annotated[float, Field(strict=True)]
_Str = Annotated[str, Field(strict=True)]


class _PeaksModel(_Strict):
    matrix: dict[str, Any] = Field(default_factory=dict)
    vector: dict[str, Any]


class _LevelModel(_Strict):
    bandwidth: Any
    capacity: Any


class _LinksModel(_Strict):
    host: Any
    peer: Any = None


class _OverheadModel(_Strict):
    per_op: Any


class _EfficiencyModel(_Strict):
    matrix: _Fraction
    vector: _Fraction
    memory: _Fraction


class _LinkModel(_Strict):
    name: _Str | None = None
    bandwidth: Any
    latency: Any


class _InterconnectModel(_Strict):
    devices_per_node: Annotated[int, Field(strict=True)]
    nodes: Annotated[int, Field(strict=True)] = 1
    intra_node: _LinkModel
    inter_node: _LinkModel | None = None


class _SpecModel(_Strict):
    name: _Str
    display_name: _Str
    kind: Literal["gpu", "cpu"]
    vendor: _Str
    source: _Str
    aliases: list[_Str] = Field(default_factory=list)
    peak_flops: _PeaksModel
    memory: dict[str, _LevelModel]
    links: _LinksModel
    overhead: _OverheadModel
    efficiency: _EfficiencyModel
    measured: dict[str, Any] | None = None
    notes: str | None = None
    interconnect: _InterconnectModel | None = None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _allowed_keys(loc: tuple) -> list[str] | None:
    """The keys allowed in the mapping that holds loc[-1] (for "unknown key" messages)."""
    node: Any = _SpecModel  # a model class, or ("dict", annotation of its values)
    for part in loc[:-1]:
        if isinstance(node, tuple):  # this part is a free key of a dict
            node = _strip_optional(node[1])
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return None
        info = node.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            return None
        annotation = _strip_optional(info.annotation)
        if typing.get_origin(annotation) is dict:
            node = ("dict", typing.get_args(annotation)[1])
        else:
            node = annotation
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return None


_PYDANTIC_EXPECTED = {
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _describe_pydantic_error(err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    got = show_value(err.get("input"))
    if kind == "missing":
        return f"{path}: missing required field"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc)
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"{path}: unknown key{hint}"
    if kind == "literal_error":
        return f"{path}: expected {err['ctx']['expected']}, got {got}"
    if kind in _PYDANTIC_EXPECTED:
        return f"{path}: expected {_PYDANTIC_EXPECTED[kind]}, got {got}"
    return f"{path}: {err['msg']}, got {got}"


# --------------------------------------------------------------------------- YAML reading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key; construct_mapping reports it
            continue
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", mark
            )
        seen[key] = True
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def _parse_yaml(text: str, where: str) -> dict:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise HardwareSpecError(f"{where}: {at}YAML syntax error: {detail}") from None
    except RecursionError:
        raise HardwareSpecError(f"{where}: YAML nested too deeply to be a hardware spec") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer literal of thousands of digits
        raise HardwareSpecError(f"{where}: YAML value cannot be read: {exc}") from None
    required = ", ".join(n for n, f in _SpecModel.model_fields.items() if f.is_required())
    if data is None:
        raise HardwareSpecError(f"{where}: empty file; expected a mapping with keys {required}")
    if not isinstance(data, dict):
        got = show_value(data)
        if not isinstance(data, (dict, list, tuple)):
            got = f"the scalar {got}"
        raise HardwareSpecError(
            f"{where}: expected a mapping with keys {required} at the top level, got {got}"
        )
    return data


def _fail(where: str, problems: list[str]) -> None:
    if problems:
        raise HardwareSpecError(f"{where}: " + "; ".join(problems))


def _spec_from_data(data: dict, where: str, path: str | None) -> HardwareSpec:
    """Validate parsed YAML and build the HardwareSpec. `where` is the file, for messages."""
    try:
        model = _SpecModel.model_validate(data)
    except ValidationError as exc:
        _fail(where, [_describe_pydantic_error(e) for e in exc.errors()])
        raise  # unreachable

    problems: list[str] = []

    def quantity(value: Any, kind: str, at: str) -> float:
        try:
            return parse_quantity(value, kind, where=at)
        except ValueError as exc:
            problems.append(str(exc))
            return math.nan
        except OverflowError:  # an integer too large for a float
            problems.append(f"{at}: expected {KINDS[kind][0]} such as \"{KINDS[kind][1]}\", got an integer too large")
            return math.nan

    for label, text in (("name", model.name), ("display_name", model.display_name),
                        ("vendor", model.vendor), ("source", model.source)):
        if not text.strip():
            problems.append(f"{label}: expected a non-empty string, got \"\"")
    if model.name.strip() and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", model.name):
        problems.append(
            f"name: expected a short id of letters, digits, '.', '_' and '-' "
            f"such as \"h100-sxm\", got {show_value(model.name)}"
        )

    # Peaks.
    peaks: dict[str, dict[str, float]] = {}
    for unit in UNITS:
        raw = getattr(model.peak_flops, unit)
        peaks[unit] = {}
        for dtype, value in raw.items():
            at = f"peak_flops.{unit}.{dtype}"
            if dtype not in DTYPES:
                problems.append(f"{at}: unknown dtype key; expected one of {', '.join(DTYPES)}")
                continue
            peaks[unit][dtype] = quantity(value, "flops", at)
    if "fp32" not in model.peak_flops.vector:
        problems.append(
            "peak_flops.vector.fp32: missing required field (the fallback rate for dtypes "
            "without their own peak)"
        )

    # Memory levels.
    levels: list[MemoryLevel] = []
    for lname, lvl in model.memory.items():
        at = f"memory.{lname}"
        if lname not in MEMORY_LEVELS:
            problems.append(
                f"{at}: unknown memory level; expected one of {', '.join(MEMORY_LEVELS)}"
            )
            continue
        levels.append(
            MemoryLevel(
                name=lname,
                bandwidth=quantity(lvl.bandwidth, "bandwidth", f"{at}.bandwidth"),
                capacity=quantity(lvl.capacity, "bytes", f"{at}.capacity"),
            )
        )
    names = list(model.memory)
    if "dram" not in names:
        problems.append(
            "memory.dram: missing required field (main memory, HBM or DDR, as the last level)"
        )
    elif names[-1] != "dram":
        problems.append(f"memory.dram: must be the last level, found it before {names[-1]}")
    if len(names) < 2:
        problems.append(
            "memory: expected dram and at least one cache level "
            f"({', '.join(MEMORY_LEVELS[:-1])}), got only {', '.join(names) or 'none'}"
        )

    host = quantity(model.links.host, "bandwidth", "links.host")
    peer = None
    if model.links.peer is not None:
        try:
            peer = parse_quantity(model.links.peer, "bandwidth", where="links.peer")
        except ValueError as exc:
            problems.append(f"{exc} (or null for no peer link)")
        except OverflowError:
            problems.append("links.peer: expected a bandwidth such as \"900 GB/s\", got an integer too large")
    overhead = quantity(model.overhead.per_op, "time", "overhead.per_op")
    interconnect = _interconnect(model.interconnect, quantity, problems)

    eff = model.efficiency
    for label in ("matrix", "vector", "memory"):
        value = getattr(eff, label)
        if not (0 < value <= 1) or math.isnan(value):
            problems.append(
                f"efficiency.{label}: expected a fraction in (0, 1] such as 0.8, got {value!r}"
            )

    _fail(where, problems)

    # Plausibility: each check its own message.
    for unit in UNITS:
        for dtype, peak in peaks[unit].items():
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
    bandwidths = [(f"memory.{lvl.name}.bandwidth", lvl.bandwidth) for lvl in levels]
    bandwidths.append(("links.host", host))
    if peer is not None:
        bandwidths.append(("links.peer", peer))
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
    for lvl in levels:
        if not MIN_CAPACITY <= lvl.capacity <= MAX_CAPACITY:
            problems.append(
                f"memory.{lvl.name}.capacity: {format_quantity(lvl.capacity, 'bytes')} is outside "
                f"{format_quantity(MIN_CAPACITY, 'bytes')} to {format_quantity(MAX_CAPACITY, 'bytes')}: check the unit and "
                "prefix (a plain number is bytes)"
            )
    if overhead > MAX_OVERHEAD:
        problems.append(
            f"overhead.per_op: {format_quantity(overhead, 'time')} is above 1 ms; expected a per-op "
            'overhead of a few microseconds such as "4 us"'
        )
    if interconnect is not None:
        problems.extend(_interconnect_problems(interconnect))

    problems.extend(_sparse_problems(peaks["matrix"]))

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

    if levels and levels[-1].name == "dram":
        dram_bw = levels[-1].bandwidth
        ridges = [
            (peak / dram_bw, unit, dtype, peak)
            for unit in UNITS
            for dtype, peak in peaks[unit].items()
        ]
        if ridges:
            ridge, unit, dtype, peak = max(ridges, key=lambda r: r[0])
            if ridge > MAX_RIDGE:  # report the worst one; the others follow from it
                problems.append(
                    f"peak_flops.{unit}.{dtype}: ridge point {ridge:.0f} FLOP/byte "
                    f"({format_quantity(peak, 'flops')} over memory.dram.bandwidth "
                    f"{format_quantity(dram_bw, 'bandwidth')}) is above {MAX_RIDGE:.0f}; expected "
                    "a dense peak and a DRAM bandwidth in matching units"
                )
    _fail(where, problems)

    return HardwareSpec(
        name=model.name,
        display_name=model.display_name,
        kind=model.kind,
        vendor=model.vendor,
        source=model.source,
        matrix_flops=peaks["matrix"],
        vector_flops=peaks["vector"],
        memory=tuple(levels),
        host_link_bw=host,
        peer_link_bw=peer,
        overhead_s=overhead,
        efficiency=Efficiency(matrix=eff.matrix, vector=eff.vector, memory=eff.memory),
        path=path,
        measured=model.measured,
        aliases=tuple(model.aliases),
        notes=model.notes,
        interconnect=interconnect,
    )


def _interconnect(model: "_InterconnectModel | None", quantity: Any, problems: list[str]) -> Interconnect | None:
    """The Interconnect of a validated ``interconnect:`` block (problems appended)."""
    if model is None:
        return None
    for label in ("devices_per_node", "nodes"):
        value = getattr(model, label)
        if value < 1:
            problems.append(f"interconnect.{label}: expected a whole number of at least 1, got {value}")
    if model.nodes > 1 and model.inter_node is None:
        problems.append(
            f"interconnect.inter_node: missing required field (nodes is {model.nodes}: a spec with "
            "more than one node needs the network between them)"
        )

    def link(raw: _LinkModel | None, label: str, default_name: str) -> Link | None:
        if raw is None:
            return None
        at = f"interconnect.{label}"
        return Link(
            name=raw.name or default_name,
            bandwidth=quantity(raw.bandwidth, "bandwidth", f"{at}.bandwidth"),
            latency=quantity(raw.latency, "time", f"{at}.latency"),
        )

    return Interconnect(
        devices_per_node=model.devices_per_node,
        nodes=model.nodes,
        intra_node=link(model.intra_node, "intra_node", "intra-node link"),
        inter_node=link(model.inter_node, "inter_node", "network"),
    )


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


# --------------------------------------------------------------------------- loading


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _packaged_dir() -> Any:
    return importlib.resources.files("roofline.hw_specs")


def _packaged_files() -> dict[str, Any]:
    """Stem -> resource for every packaged YAML."""
    return {
        entry.name[: -len(".yaml")]: entry
        for entry in _packaged_dir().iterdir()
        if entry.name.endswith(".yaml") and entry.is_file()
    }


_CACHE: dict[str, HardwareSpec] = {}
_ALIASES: dict[str, str] | None = None


def _fresh(spec: HardwareSpec) -> HardwareSpec:
    """A copy whose mutable fields do not share state with the cached spec."""
    return dataclasses.replace(
        spec,
        matrix_flops=dict(spec.matrix_flops),
        vector_flops=dict(spec.vector_flops),
        measured=copy.deepcopy(spec.measured),
    )


def _load_packaged(stem: str) -> HardwareSpec:
    if stem not in _CACHE:
        resource = _packaged_files()[stem]
        where = f"hw_specs/{resource.name}"
        spec = _spec_from_data(_parse_yaml(resource.read_text(encoding="utf-8"), where), where,
                               str(resource))
        if spec.name != stem:
            raise HardwareSpecError(
                f"{where}: name: expected the file stem {show_value(stem)}, got {show_value(spec.name)}"
            )
        _CACHE[stem] = spec
    return _CACHE[stem]


def _alias_index() -> dict[str, str]:
    """Normalized alias -> stem, from every packaged spec's `aliases`."""
    global _ALIASES
    if _ALIASES is None:
        index: dict[str, str] = {}
        for stem in sorted(_packaged_files()):
            for alias in _load_packaged(stem).aliases:
                key = _normalize(alias)
                if key in index and index[key] != stem:
                    raise HardwareSpecError(
                        f"hw_specs/{stem}.yaml: aliases: {show_value(alias)} is already an alias "
                        f"of {index[key]}"
                    )
                index[key] = stem
        _ALIASES = index
    return _ALIASES


def _load_file(path: Path) -> HardwareSpec:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HardwareSpecError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HardwareSpecError(f"{where}: cannot read: {exc}") from None
    return _spec_from_data(_parse_yaml(text, where), where, str(path))


def load_hardware(name_or_path: str | os.PathLike | HardwareSpec) -> HardwareSpec:
    """A HardwareSpec from a packaged name or alias, a YAML path, or a spec (passed through).

    Names are matched case-insensitively with "_" == "-" ("H100_SXM" is "h100-sxm"). A
    string that names an existing file, or ends in .yaml / .yml, or contains a path
    separator, is read as a path. Unknown names raise HardwareSpecError listing the known.
    """
    if isinstance(name_or_path, HardwareSpec):
        return name_or_path
    if isinstance(name_or_path, os.PathLike):
        return _load_file(Path(name_or_path))
    if not isinstance(name_or_path, str):
        raise HardwareSpecError(
            f"hardware: expected a spec name, a YAML path or a HardwareSpec, "
            f"got {type(name_or_path).__name__}"
        )
    text = name_or_path
    looks_like_path = (
        text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text or Path(text).is_file()
    )
    if looks_like_path:
        return _load_file(Path(text))
    key = _normalize(text)
    files = _packaged_files()
    by_norm = {_normalize(stem): stem for stem in files}
    stem = by_norm.get(key) or _alias_index().get(key)
    if stem is None:
        known = ", ".join(sorted(files))
        aliases = ", ".join(sorted(_alias_index()))
        raise HardwareSpecError(
            f"hardware: unknown name {show_value(text)}; known names: {known}"
            + (f" (aliases: {aliases})" if aliases else "")
            + "; or give the path of a YAML spec"
        )
    return _fresh(_load_packaged(stem))


def list_hardware() -> pd.DataFrame:
    """One row per packaged spec, with its headline figures (SI units)."""
    rows = []
    for stem in sorted(_packaged_files()):
        spec = _load_packaged(stem)
        rows.append(
            {
                "name": spec.name,
                "display_name": spec.display_name,
                "kind": spec.kind,
                "vendor": spec.vendor,
                "dram_bandwidth": spec.dram.bandwidth,
                "dram_capacity": spec.dram.capacity,
                "peak_bf16_matrix": spec.peak_flops("bf16", "matrix"),
                "peak_fp16_matrix": spec.peak_flops("fp16", "matrix"),
                "peak_fp32_vector": spec.peak_flops("fp32", "vector"),
                "devices": spec.devices,
                "aliases": ", ".join(spec.aliases),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- writing


def _plain(value: Any, at: str) -> Any:
    """measured data as plain YAML types (numpy scalars -> Python, tuples -> lists)."""
    if value is None or isinstance(value, (bool, datetime.date)):
        return value
    # Exact builtin types: numpy.float64 subclasses float but YAML cannot write it.
    for plain_type in (int, float, str):
        if isinstance(value, plain_type):
            return plain_type(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise HardwareSpecError(f"{at}: expected string keys, got {show_value(k)}")
            out[k] = _plain(v, f"{at}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{at}[{i}]") for i, v in enumerate(value)]
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return _plain(item(), at)
        except (TypeError, ValueError):
            pass
    raise HardwareSpecError(f"{at}: cannot write a {type(value).__name__} to YAML")


class _FlowDict(dict):
    """A mapping written on one line: {fp32: 67 TFLOP/s, ...}."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _FlowDict, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


def spec_to_yaml(spec: HardwareSpec) -> str:
    """The spec as YAML in the hw_specs/ shape; load_hardware reads it back equal."""
    q = format_quantity
    doc: dict[str, Any] = {
        "name": spec.name,
        "display_name": spec.display_name,
        "kind": spec.kind,
        "vendor": spec.vendor,
        "source": spec.source,
    }
    if spec.aliases:
        doc["aliases"] = list(spec.aliases)
    doc["peak_flops"] = {
        "matrix": _FlowDict({k: q(v, "flops", exact=True) for k, v in spec.matrix_flops.items()}),
        "vector": _FlowDict({k: q(v, "flops", exact=True) for k, v in spec.vector_flops.items()}),
    }
    doc["memory"] = {
        lvl.name: _FlowDict(
            bandwidth=q(lvl.bandwidth, "bandwidth", exact=True),
            capacity=q(lvl.capacity, "bytes", exact=True),
        )
        for lvl in spec.memory
    }
    doc["links"] = {
        "host": q(spec.host_link_bw, "bandwidth", exact=True),
        "peer": None if spec.peer_link_bw is None else q(spec.peer_link_bw, "bandwidth", exact=True),
    }
    doc["overhead"] = {"per_op": q(spec.overhead_s, "time", exact=True)}
    doc["efficiency"] = _FlowDict(
        matrix=float(spec.efficiency.matrix),
        vector=float(spec.efficiency.vector),
        memory=float(spec.efficiency.memory),
    )
    if spec.interconnect is not None:
        ic = spec.interconnect
        doc["interconnect"] = {"devices_per_node": ic.devices_per_node, "nodes": ic.nodes}
        for label, found in (("intra_node", ic.intra_node), ("inter_node", ic.inter_node)):
            if found is not None:
                doc["interconnect"][label] = _FlowDict(
                    name=found.name,
                    bandwidth=q(found.bandwidth, "bandwidth", exact=True),
                    latency=q(found.latency, "time", exact=True),
                )
    doc["measured"] = _plain(spec.measured, "measured")
    if spec.notes is not None:
        doc["notes"] = spec.notes
    header = f"# {spec.display_name}: written by roofline.hardware.spec_to_yaml\n"
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return header + body


def write_hardware(spec: HardwareSpec, path: str | os.PathLike) -> Path:
    """Write spec as YAML to path atomically (temp file + rename); returns the path.

    The text is validated before anything is written, so a bad spec never reaches disk.
    """
    path = Path(path)
    text = spec_to_yaml(spec)
    _spec_from_data(_parse_yaml(text, str(path)), str(path), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path
