"""The YAML shape of a hardware spec, as pydantic models, and its errors as one-line messages.

The shape (every file in hw_specs/ is an example):

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
    measured: null                     # optional; a calibration's record (below)
    notes: "free text"                 # optional
    interconnect:                      # optional: a multi-device system of this device
      devices_per_node: 8
      nodes: 2                         # default 1; more than 1 needs inter_node
      intra_node: {name: NVLink 4, bandwidth: 450 GB/s, latency: 2 us}
      inter_node: {name: InfiniBand NDR, bandwidth: 400 Gb/s, latency: 5 us}

An interconnect link's bandwidth is per device and per direction (what one device can
send while it receives as much: the figure a ring all-reduce is bound by); its latency
is the time of one message step. A spec without ``interconnect`` is one device.

``measured`` (written by `roofline calibrate`; every key optional, numbers in SI base
units, rows as lists in the order of the fields of roofline.hardware.spec's row types):

    measured:
      tool: roofline calibrate
      date: '2026-11-21T12:24:19+00:00'
      mode: full                        # and device, device_name, isa, threads, torch, python,
      duration_s: 11.2                  # load_average, timing, clock
      memory_level: working_set         # or dram
      overhead_s: {aten.add: 2.09e-06, ...}
      view_overhead_s: 2.198e-06
      view_ops_s: {aten.view: 2.183e-06, ...}
      module_call_s: 1.1e-06            # Python of one nn.Module call, charged between ops
      fresh_write: {min_bytes: 31640000.0, bandwidth: 3995000000.0}   # or null
      bandwidth_curve: [[16384, add, 1.638e+16], ...]   # working_set_bytes, kernel, B/s
      plateaus: [[1049000.0, 16780000.0, 185900000000.0], ...]
      levels: [{level: l2, capacity: 2097000.0, bandwidth: 188600000000.0, points: 1}, ...]
      gemm_flops: [[fp32, 256^3, 194100000000.0], ...]
      gemm_rows: [[1, 4096, 7000000000.0], ...]   # rows, depth (K), FLOP/s (fp32, cold weights)
      gemm_cols: [[8, 256, 9000000000.0], ...]    # columns (N), depth (K), FLOP/s (fp32, warm activations)
      vector_flops: [[fp32, mul, 65536, 10840000000.0], ...]
      efficiency_suite: [[mm 256x256x256, 0.7257], ...]
      op_suite: [[relu, 65536, memory, 1.068], ...]      # op, elements, bound, fraction
      op_suite_ops: {relu: [aten.relu, aten.relu_], ...} # the aten ops each suite op stands for
      op_curves: [[add, 4.1e-06, 0.93, 0.08], ...]      # op, dispatch_s, efficiency, spread
      loop_costs: [[add, 7.0e-10, 3.1e-09], ...]         # op, s per scalar element, s per inner loop
      conv_rates: [[depthwise, 1, 9, 401408, 1.4e+10], ...]  # kind, stride, reduction, out_elements, FLOP/s
      sdpa_times: [[12, 128, 128, 64, 0.0009], ...]   # heads, q_len, kv_len, head_dim, s (CPU flash attention)
      stability: {peak fp32 matrix: 0.02, ...}           # per figure: slowest round / fastest - 1
      quiet: {before_s: 0.00044, after_s: 0.00045}       # reference workload before/after

Schema errors become one line each, naming the field path and what was expected.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from roofline.errors import HardwareSpecError
from roofline.hardware.spec import DEFAULT_GATHER_ELEMENTS_PER_CLOCK, DEFAULT_STRIDED_ELEMENTS_PER_CLOCK
from roofline.units import show_value

__all__ = ["SpecModel", "RecordModel", "KernelModelSchema", "validate_spec", "describe_pydantic_error", "fail"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_Fraction = Annotated[float, Field(strict=True)]
_Number = Annotated[float, Field(strict=True)]  # an int or a float, never a string or bool
_Int = Annotated[int, Field(strict=True)]
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


class LinkModel(_Strict):
    """``interconnect.intra_node`` / ``inter_node``."""

    name: _Str | None = None
    bandwidth: Any
    latency: Any


class InterconnectModel(_Strict):
    """``interconnect:``: a multi-device system."""

    devices_per_node: _Int
    nodes: _Int = 1
    intra_node: LinkModel
    inter_node: LinkModel | None = None


#: One side of a GEMM tile, in output rows or columns, or how many tiles an SM holds.
_TileSide = Annotated[int, Field(strict=True, ge=1, le=1024)]


class KernelModelSchema(_Strict):
    """``kernel_model:``: a GPU's physical parameters for the efficiency stage."""

    sms: _Int
    boost_clock_mhz: _Number
    sustained_clock_mhz: _Number
    gemm_efficiency: dict[Literal["simt", "tensor", "batched", "conv"], _Fraction]
    k_overhead: _Number = 0.0
    latency: Any = 0.0
    min_kernel: Any = 0.0
    tensor_gemm_fixed: Any = 0.0
    threads_per_sm: _Int = 2048
    batched_tiles: list[tuple[_TileSide, _TileSide, _TileSide]] = []
    l2_partitions: _Int = 1
    strided_elements_per_clock: _Number = DEFAULT_STRIDED_ELEMENTS_PER_CLOCK
    gather_elements_per_clock: _Number = DEFAULT_GATHER_ELEMENTS_PER_CLOCK
    source: _Str


class _FreshWriteModel(_Strict):
    min_bytes: _Number
    bandwidth: _Number


class _LevelFitModel(_Strict):
    level: _Str
    capacity: _Number
    bandwidth: _Number
    points: _Int


class _QuietModel(_Strict):
    before_s: _Number
    after_s: _Number


class RecordModel(_Strict):
    """``measured:``: a calibration's record (roofline.hardware.spec.CalibrationRecord)."""

    tool: _Str | None = None
    date: _Str | None = None
    mode: _Str | None = None
    device: _Str | None = None
    device_name: _Str | None = None
    isa: _Str | None = None
    threads: _Int | None = None
    torch: _Str | None = None
    python: _Str | None = None
    duration_s: _Number | None = None
    load_average: _Number | None = None
    memory_level: _Str | None = None
    timing: _Str | None = None
    clock: _Str | None = None
    overhead_s: dict[_Str, _Number] = Field(default_factory=dict)
    view_overhead_s: _Number = 0.0
    view_ops_s: dict[_Str, _Number] = Field(default_factory=dict)
    module_call_s: _Number | None = None
    fresh_write: _FreshWriteModel | None = None
    bandwidth_curve: list[tuple[_Int, _Str, _Number]] = Field(default_factory=list)
    plateaus: list[tuple[_Number, _Number, _Number]] = Field(default_factory=list)
    levels: list[_LevelFitModel] = Field(default_factory=list)
    gemm_flops: list[tuple[_Str, _Str, _Number]] = Field(default_factory=list)
    gemm_rows: list[tuple[_Int, _Int, _Number]] = Field(default_factory=list)
    gemm_cols: list[tuple[_Int, _Int, _Number]] = Field(default_factory=list)
    vector_flops: list[tuple[_Str, _Str, _Int, _Number]] = Field(default_factory=list)
    efficiency_suite: list[tuple[_Str, _Number]] = Field(default_factory=list)
    op_suite: list[tuple[_Str, _Int, _Str, _Number | None]] = Field(default_factory=list)
    op_suite_ops: dict[_Str, list[_Str]] = Field(default_factory=dict)
    op_curves: list[tuple[_Str, _Number, _Number, _Number]] = Field(default_factory=list)
    loop_costs: list[tuple[_Str, _Number, _Number]] = Field(default_factory=list)
    conv_rates: list[tuple[_Str, _Int, _Int, _Int, _Number]] = Field(default_factory=list)
    sdpa_times: list[tuple[_Int, _Int, _Int, _Int, _Number]] = Field(default_factory=list)
    stability: dict[_Str, _Number] = Field(default_factory=dict)
    quiet: _QuietModel | None = None


class SpecModel(_Strict):
    """A whole spec file."""

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
    measured: RecordModel | None = None
    notes: str | None = None
    interconnect: InterconnectModel | None = None
    kernel_model: KernelModelSchema | None = None


#: The top-level keys a spec must have (for "empty file" messages).
REQUIRED_KEYS: tuple[str, ...] = tuple(n for n, f in SpecModel.model_fields.items() if f.is_required())


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _allowed_keys(loc: tuple) -> list[str] | None:
    """The keys allowed in the mapping that holds loc[-1] (for "unknown key" messages)."""
    node: Any = SpecModel  # a model class, or ("items", annotation of a dict's values or a list's items)
    for part in loc[:-1]:
        if isinstance(node, tuple):  # this part is a free key of a dict, or a list index
            node = _strip_optional(node[1])
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return None
        info = node.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            return None
        annotation = _strip_optional(info.annotation)
        origin = typing.get_origin(annotation)
        if origin is dict:
            node = ("items", typing.get_args(annotation)[1])
        elif origin is list:
            node = ("items", typing.get_args(annotation)[0])
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
    "tuple_type": "a list",
}


def describe_pydantic_error(err: Mapping[str, Any]) -> str:
    """One pydantic error as "field.path: what was expected, got what"."""
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


def fail(where: str, problems: list[str]) -> None:
    """Raise one HardwareSpecError for all ``problems`` of file ``where`` (none: return)."""
    if problems:
        raise HardwareSpecError(f"{where}: " + "; ".join(problems))


def validate_spec(data: dict, where: str) -> SpecModel:
    """The parsed YAML of file ``where`` checked against the schema (types and keys only:
    quantities and plausibility are roofline.hardware.checks' job)."""
    try:
        return SpecModel.model_validate(data)
    except ValidationError as exc:
        fail(where, [describe_pydantic_error(e) for e in exc.errors()])
        raise  # unreachable: fail raised
