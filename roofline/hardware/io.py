"""Reading and writing spec files: YAML with unique keys, packaged specs by name or alias.

    spec = load_hardware("h100-sxm")          # a packaged spec, by name or alias
    spec = load_hardware("my_gpu.yaml")       # or any YAML file of the same shape
    list_hardware()                           # DataFrame: one row per packaged spec
    write_hardware(spec, "local.yaml")        # validated, then written atomically

Every problem with a file raises HardwareSpecError with one line naming the file, the
field path and what was expected, e.g.
    hw_specs/x.yaml: memory.dram.bandwidth: expected a bandwidth such as "3.35 TB/s", got "fast"

spec_to_yaml writes every figure exactly (load_hardware reads it back equal), the
calibration record included.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.resources
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import yaml

from roofline._io import write_text_atomic
from roofline.errors import HardwareSpecError
from roofline.hardware.checks import spec_from_data
from roofline.hardware.schema import REQUIRED_KEYS
from roofline.hardware.spec import (
    DEFAULT_GATHER_ELEMENTS_PER_CLOCK,
    DEFAULT_STRIDED_ELEMENTS_PER_CLOCK,
    CalibrationRecord,
    FigureSpread,
    FreshWrite,
    HardwareSpec,
    KernelModel,
    LevelFit,
    OpSeconds,
    QuietCheck,
    SuiteOp,
)
from roofline.units import format_quantity, show_value

__all__ = ["load_hardware", "list_hardware", "spec_caveats", "spec_to_yaml", "write_hardware", "parse_yaml"]


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


def parse_yaml(text: str, where: str) -> dict:
    """The top-level mapping of a spec file's text; HardwareSpecError naming ``where``
    (and the line and column) for bad YAML, an empty file or a top level that is not a
    mapping."""
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
    required = ", ".join(REQUIRED_KEYS)
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
    """A copy whose mutable fields (the peak dicts) do not share state with the cached
    spec; the calibration record is frozen and shared."""
    return dataclasses.replace(
        spec,
        matrix_flops=dict(spec.matrix_flops),
        vector_flops=dict(spec.vector_flops),
    )


def _load_packaged(stem: str) -> HardwareSpec:
    if stem not in _CACHE:
        resource = _packaged_files()[stem]
        where = f"hw_specs/{resource.name}"
        spec = spec_from_data(parse_yaml(resource.read_text(encoding="utf-8"), where), where, str(resource))
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
    return spec_from_data(parse_yaml(text, where), where, str(path))


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
    """One row per packaged spec, with its headline figures (SI units: B/s, bytes, FLOP/s).

    Matrix peaks are the spec's own: NaN where the device has no matrix units for the
    dtype (a T4 has no bf16), never the fp32 rate peak_flops falls back to.
    ``caveats`` counts the figures the file marks as estimates (spec_caveats).
    """
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
                "peak_bf16_matrix": spec.matrix_flops.get("bf16", math.nan),
                "peak_fp16_matrix": spec.matrix_flops.get("fp16", math.nan),
                "peak_int8_matrix": spec.matrix_flops.get("int8", math.nan),
                "peak_fp32_vector": spec.peak_flops("fp32", "vector"),
                "devices": spec.devices,
                "aliases": ", ".join(spec.aliases),
                "caveats": len(spec_caveats(spec)),
            }
        )
    return pd.DataFrame(rows)


#: A YAML comment that flags its figure as uncertain: "? ..." or the word "estimate".
_CAVEAT = re.compile(r"(^|[\s(])\?(\s|$)|estimate", re.IGNORECASE)
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_.+-]+):")


def _split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of a YAML line; a '#' inside quotes is not a comment."""
    quote = None
    for i, char in enumerate(line):
        if char in "\"'" and quote in (None, char):
            quote = None if quote == char else char
        elif char == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1:].strip()
    return line, ""


def spec_caveats(spec: HardwareSpec) -> list[tuple[str, str]]:
    """The figures a spec file marks as uncertain, as (field path, the file's comment):
    a comment with a "?" or the word "estimate" beside a field, or in the comment lines
    above it (a paragraph of those that starts with "?"). Read from the spec's file;
    [] for a spec built in memory. What ``roofline hw show`` lists under Caveats."""
    try:
        lines = Path(spec.path).read_text(encoding="utf-8").splitlines() if spec.path else []
    except OSError:
        return []
    found: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    block: list[str] = []  # comment-only lines above the next field
    seen_field = False
    for line in lines:
        code, comment = _split_comment(line)
        match = _KEY.match(code)
        if not code.strip():
            block = block + [comment] if comment else []
            continue
        if match is None:
            block = []
            continue
        indent, key = len(match.group(1)), match.group(2)
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        # comments above the first field are the file's header, about the whole spec
        path = ".".join(k for _, k in stack) if seen_field else "(header)"
        found += [(path, text) for text in _paragraphs(block) if _CAVEAT.search(text)]
        seen_field = True
        if comment and _CAVEAT.search(comment):
            found.append((".".join(k for _, k in stack), comment))
        block = []
    return found


def _paragraphs(block: list[str]) -> list[str]:
    """Comment lines joined into paragraphs; a line starting with "?" starts a new one."""
    paragraphs: list[str] = []
    for text in block:
        if text.startswith("?") or not paragraphs:
            paragraphs.append(text)
        else:
            paragraphs[-1] += " " + text
    return paragraphs


# --------------------------------------------------------------------------- writing


def _plain(value: Any, at: str) -> Any:
    """A value as plain YAML types (numpy scalars -> Python, tuples -> lists)."""
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
        return type(value)(out) if isinstance(value, _FlowDict) else out
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{at}[{i}]") for i, v in enumerate(value)]
        return _FlowList(items) if isinstance(value, _FlowList) else items
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return _plain(item(), at)
        except (TypeError, ValueError):
            pass
    raise HardwareSpecError(f"{at}: cannot write a {type(value).__name__} to YAML")


class _FlowDict(dict):
    """A mapping written on one line: {fp32: 67 TFLOP/s, ...}."""


class _FlowList(list):
    """A list written on one line: [relu, 65536, memory, 1.068]."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _FlowDict, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def _record_field(value: Any) -> Any:
    """One CalibrationRecord field in its YAML form (schema.RecordModel): per-op samples
    and suite-op mappings as mappings, the other rows as one-line lists."""
    if isinstance(value, (FreshWrite, QuietCheck)):
        return _FlowDict(dataclasses.asdict(value))
    if not isinstance(value, tuple):
        return value
    if all(isinstance(row, OpSeconds) for row in value):
        return {row.op: row.seconds for row in value}
    if all(isinstance(row, FigureSpread) for row in value):
        return {row.figure: row.spread for row in value}
    if all(isinstance(row, SuiteOp) for row in value):
        return {row.name: _FlowList(row.aten_ops) for row in value}
    if all(isinstance(row, LevelFit) for row in value):
        return [_FlowDict(dataclasses.asdict(row)) for row in value]
    return [_FlowList(dataclasses.astuple(row)) for row in value]


def record_to_yaml_data(record: CalibrationRecord) -> dict[str, Any]:
    """The record as the plain mapping the ``measured:`` block holds. Fields at their
    default are left out: the loader gives them back."""
    doc = {}
    for spec_field in dataclasses.fields(record):
        value = getattr(record, spec_field.name)
        if value == spec_field.default:
            continue
        doc[spec_field.name] = _plain(_record_field(value), f"measured.{spec_field.name}")
    return doc


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
        doc["interconnect"] = _interconnect_doc(spec)
    if spec.kernel_model is not None:
        doc["kernel_model"] = _kernel_model_doc(spec.kernel_model)
    doc["measured"] = None if spec.measured is None else record_to_yaml_data(spec.measured)
    if spec.notes is not None:
        doc["notes"] = spec.notes
    header = f"# {spec.display_name}: written by roofline.hardware.spec_to_yaml\n"
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return header + body


def _kernel_model_doc(model: KernelModel) -> dict[str, Any]:
    """The ``kernel_model:`` block of a GPU spec."""
    return {
        "sms": model.sms,
        "boost_clock_mhz": model.boost_clock_hz / 1e6,
        "sustained_clock_mhz": model.sustained_clock_hz / 1e6,
        "gemm_efficiency": _FlowDict(model.gemm_efficiency),
        "k_overhead": model.k_overhead,
        "latency": format_quantity(model.latency_s, "time", exact=True) if model.latency_s else 0.0,
        "min_kernel": format_quantity(model.min_kernel_s, "time", exact=True) if model.min_kernel_s else 0.0,
        **({"tensor_gemm_fixed": format_quantity(model.tensor_gemm_fixed_s, "time", exact=True)}
           if model.tensor_gemm_fixed_s else {}),
        "threads_per_sm": model.threads_per_sm,
        **({"batched_tiles": [list(tile) for tile in model.batched_tiles]} if model.batched_tiles else {}),
        **({"l2_partitions": model.l2_partitions} if model.l2_partitions != 1 else {}),
        **({"strided_elements_per_clock": model.strided_elements_per_clock}
           if model.strided_elements_per_clock != DEFAULT_STRIDED_ELEMENTS_PER_CLOCK else {}),
        **({"gather_elements_per_clock": model.gather_elements_per_clock}
           if model.gather_elements_per_clock != DEFAULT_GATHER_ELEMENTS_PER_CLOCK else {}),
        "source": model.source,
    }


def _interconnect_doc(spec: HardwareSpec) -> dict[str, Any]:
    """The ``interconnect:`` block of a multi-device spec."""
    ic = spec.interconnect
    doc: dict[str, Any] = {"devices_per_node": ic.devices_per_node, "nodes": ic.nodes}
    for label, found in (("intra_node", ic.intra_node), ("inter_node", ic.inter_node)):
        if found is not None:
            doc[label] = _FlowDict(
                name=found.name,
                bandwidth=format_quantity(found.bandwidth, "bandwidth", exact=True),
                latency=format_quantity(found.latency, "time", exact=True),
            )
    return doc


def write_hardware(spec: HardwareSpec, path: str | os.PathLike) -> Path:
    """Write spec as YAML to path atomically (temp file + rename); returns the path.

    The text is validated before anything is written, so a bad spec never reaches disk.
    """
    path = Path(path)
    text = spec_to_yaml(spec)
    spec_from_data(parse_yaml(text, str(path)), str(path), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path
