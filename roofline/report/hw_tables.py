"""Terminal tables of the hardware specs (``roofline hw list``, ``roofline hw show``), of
a calibration (``roofline calibrate``) and of the zoo (``roofline zoo``).

Printing only reads: the specs, their caveats (roofline.hardware.spec_caveats) and the
zoo's build functions are given; nothing is loaded or measured here. Matrix peaks are
the spec's own (a dtype without matrix units shows "-", not the fp32 rate a prediction
falls back to); integer peaks are in OP/s, not FLOP/s.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from roofline.count.registry import MATRIX, VECTOR
from roofline.report.layout import MISSING, is_nan, table
from roofline.report.text import clean, public_text
from roofline.units import format_seconds, si

__all__ = ["print_hardware_list", "print_hardware", "print_calibration", "print_zoo", "peak_text"]

#: dtype keys whose peaks count integer operations (OP/s), not floating-point ones.
_INTEGER_DTYPES = ("int8", "int4")


def peak_text(dtype: str, peak: float) -> str:
    """A peak with its unit: "989 TFLOP/s"; an integer dtype's in TOP/s, as datasheets
    give them ("1979 TOP/s", not "1.98 PFLOP/s")."""
    if dtype in _INTEGER_DTYPES:
        return f"{peak / 1e12:.4g} TOP/s"
    return si(peak, "FLOP/s")


def _scaled(value: float, scale: float) -> str:
    """``value / scale`` in at most 4 characters of digits ("989", "19.5", "0.32"); "-" for NaN."""
    if is_nan(value):
        return MISSING
    v = value / scale
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def print_hardware_list(frame: pd.DataFrame, console: Console) -> None:
    """The specs of roofline.hardware.list_hardware(), one row each: DRAM, then the
    bf16 and int8 matrix peaks and the fp32 vector peak (dense), in fixed units."""
    rows = []
    for row in frame.itertuples():
        marked = f"{row.name} *" if getattr(row, "caveats", 0) else row.name
        rows.append([marked, clean(row.display_name), _scaled(row.dram_bandwidth, 1e12), _scaled(row.dram_capacity, 1e9),
                     _scaled(row.peak_bf16_matrix, 1e12), _scaled(getattr(row, "peak_int8_matrix", float("nan")), 1e12),
                     _scaled(row.peak_fp32_vector, 1e12)])
    columns = ["name", "device", "DRAM\nTB/s", "DRAM\nGB", "bf16\nTFLOP/s", "int8\nTOP/s", "fp32\nTFLOP/s"]
    caption = ("bf16, int8: dense peaks of the matrix (tensor) units, '-' where the device has none; fp32: "
               "vector units. * some figures are estimates: roofline hw show NAME")
    console.print(table("Hardware specs", columns, rows, names=2, whole=1, caption=caption))


def _print_links(spec: Any, console: Console) -> None:
    """The host and peer links, per-op overhead and efficiencies; the interconnect if any."""
    console.print(
        f"host link {si(spec.host_link_bw, 'B/s')}, peer link "
        f"{si(spec.peer_link_bw, 'B/s') if spec.peer_link_bw else 'none'}, per-op overhead {format_seconds(spec.overhead_s)}, "
        f"efficiency matrix {spec.efficiency.matrix:.2f} / vector {spec.efficiency.vector:.2f} / memory {spec.efficiency.memory:.2f}"
    )
    if spec.interconnect is not None:
        ic = spec.interconnect
        links = [("inside a node", ic.intra_node), ("between nodes", ic.inter_node)]
        console.print(
            f"{ic.devices} devices ({ic.nodes} node(s) x {ic.devices_per_node}); "
            + "; ".join(f"{where}: {clean(link.name)}, {si(link.bandwidth, 'B/s')} per device each way, "
                        f"{format_seconds(link.latency)} a step" for where, link in links if link is not None)
        )


def print_hardware(spec: Any, console: Console, caveats: list[tuple[str, str]] | None = None) -> None:
    """One HardwareSpec: peaks, memory levels, links, the ridge point of every peak at
    every level, and the file's caveats (field, comment) when given."""
    console.print(f"[bold]{clean(spec.display_name)}[/bold] ({clean(spec.name)}, {spec.kind}, {clean(spec.vendor)})")
    console.print(f"source: {clean(public_text(spec.source))}")
    rows = [[unit, dtype, peak_text(dtype, peak)]
            for unit, peaks in ((MATRIX, spec.matrix_flops), (VECTOR, spec.vector_flops)) for dtype, peak in peaks.items()]
    console.print(table("Dense peaks", ["unit", "dtype", "peak"], rows, names=2))
    console.print("a dtype not listed runs at the fp32 vector rate")
    rows = [[level.name, si(level.bandwidth, "B/s"), si(level.capacity, "B")] for level in spec.memory]
    console.print(table("Memory levels", ["level", "bandwidth", "capacity"], rows))
    _print_links(spec, console)
    pivot = spec.ridge_points().pivot_table(index=["unit", "dtype"], columns="level", values="ridge_intensity", sort=False)
    levels = [level.name for level in spec.memory]
    pivot = pivot[[level for level in levels if level in pivot.columns]]
    rows = [[f"{unit} {dtype}", *[f"{value:.1f}" for value in row]] for (unit, dtype), row in pivot.iterrows()]
    console.print(table("Ridge points (FLOP/byte)", ["peak", *pivot.columns], rows))
    if spec.kernel_model is not None:
        console.print(f"kernel model: {clean(public_text(spec.kernel_model.source))}")
    if caveats:
        console.print("[bold]Caveats[/bold] (figures the file marks as estimates; `roofline calibrate` measures a machine):")
        for field, comment in caveats:
            console.print(f"  {clean(field)}: {clean(public_text(comment))}")


def print_calibration(result: Any, console: Console) -> None:
    """The figures a calibration measured."""
    console.print(
        f"[bold]{clean(result.device_name)}[/bold] ({result.device}, {result.threads} threads, {result.mode} mode): "
        f"measured in {result.duration_s:.1f} s; per-op overhead {format_seconds(result.overhead_s)}"
    )
    rows = [[row.level, si(row.capacity, "B"), si(row.bandwidth, "B/s"), int(row.points)] for row in result.levels.itertuples()]
    console.print(table("Memory levels (bandwidth: median of the points inside the level)", ["level", "capacity", "bandwidth", "points"], rows))
    rows = [["matrix (GEMM)", dtype, peak_text(dtype, peak)] for dtype, peak in result.matrix_flops.items()]
    rows += [["vector", dtype, peak_text(dtype, peak)] for dtype, peak in result.vector_flops.items()]
    console.print(table("Peaks", ["kernels", "dtype", "best"], rows, names=2))
    console.print(
        f"efficiency (median fraction of the roofline the suites reach): matrix {result.matrix_efficiency:.2f}, "
        f"vector {result.vector_efficiency:.2f}, memory {result.memory_efficiency:.2f}; views cost "
        f"{format_seconds(result.view_overhead_s)} each"
    )
    if result.fresh_write:
        console.print(
            f"fresh outputs of {si(result.fresh_write['min_bytes'], 'B')} or more pay page faults at "
            f"{si(result.fresh_write['bandwidth'], 'B/s')}"
        )
    for note in result.notes:
        console.print(f"note: {clean(note)}")


# --------------------------------------------------------------------------- zoo
#: reStructuredText markup in docstrings: ``code``, :func:`name`, *emphasis*.
_RST = (
    (re.compile(r":[a-z]+:`~?([^`]+)`"), r"\1"),
    (re.compile(r"``([^`]+)``"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
)


def plain_text(text: str) -> str:
    """A docstring line without reStructuredText markup."""
    for pattern, replacement in _RST:
        text = pattern.sub(replacement, text)
    return text


def build_options(builder: Callable[..., Any]) -> str:
    """A build function's options with their defaults, "batch=1, seq=1024, attention='sdpa'"
    (what ``--batch``, ``--seq`` and ``-o KEY=VALUE`` set); "" when it has none."""
    try:
        parameters = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):
        return ""
    shown = []
    for p in parameters:
        if p.kind == p.VAR_KEYWORD:
            shown.append("...")
        elif p.kind != p.VAR_POSITIONAL:
            shown.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(shown)


def print_zoo(builders: Mapping[str, Callable[..., Any]], console: Console) -> None:
    """The zoo's models by name, each with the first line of its build function's
    docstring (plain text) and its build options."""
    out = Table(title="Zoo models (set options with --batch, --seq or -o KEY=VALUE)", title_justify="left",
                header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    out.add_column("name", no_wrap=True)
    out.add_column("description and build options")
    for name, builder in sorted(builders.items()):
        doc = (builder.__doc__ or "").strip().splitlines()
        description = clean(plain_text(doc[0])) if doc else ""
        options = build_options(builder)
        out.add_row(name, description + (f"\n[dim]options: {clean(options)}[/dim]" if options else ""))
    console.print(out)
