"""Show an LlmReport: a terminal table (print_llm), a Markdown table (markdown_table) and
a figure of TTFT and TPOT against batch size on each spec (plot_llm). They only read
the report; every number comes from roofline.tools.llm.serving."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from roofline.units import format_seconds, si

__all__ = ["markdown_table", "plot_llm", "print_llm"]


def _row_cells(row: Any) -> list[str]:
    return [
        row.spec, str(row.tp), str(row.batch), format_seconds(row.ttft_s), format_seconds(row.tpot_s),
        f"{row.tokens_per_s:,.0f}", f"{row.decode_tokens_per_s:,.0f}", si(row.weights_bytes, "B"),
        si(row.kv_bytes, "B"), si(row.activation_bytes, "B"),
        "yes" if row.fits else f"no ({si(row.memory_bytes, 'B')} > {si(row.capacity_bytes, 'B')})",
        row.prefill_bound, row.decode_bound,
    ]


_LINE_STYLES = ("-", "--", "-.", ":")
_COLUMNS = ["spec", "tp", "batch", "TTFT", "TPOT", "tok/s", "decode tok/s", "weights", "KV", "activations", "fits",
            "prefill", "decode"]


def print_llm(report: Any, console: Any) -> None:
    """The report's title, its table (one row per spec and batch), the crossover and the
    ops no formula covers."""
    from roofline.report.tables import table

    console.print(f"[bold]{report.title()}[/bold]")
    console.print(f"{report.source}; {report.decode_method}")
    rows = [_row_cells(row) for row in report.table.itertuples()]
    console.print(table("Serving estimate (tok/s: output tokens over the whole request)", _COLUMNS, rows))
    for row in report.crossover.itertuples():
        console.print(f"decode on {row.spec} (tp {row.tp}, context {row.context}): weight GEMMs compute-bound from "
                      f"{_batch(row.crossover_batch, row.searched_up_to)}, the whole step from "
                      f"{_batch(row.step_crossover_batch, row.searched_up_to)}")
    if report.unsupported:
        console.print(f"[yellow]ops with no formula (costed as per-op overhead only): {', '.join(report.unsupported)}[/yellow]")


def _batch(found: Any, searched_up_to: int) -> str:
    return f"batch {found}" if not pd.isna(found) else f"no batch up to {searched_up_to}"


def markdown_table(reports: Sequence[Any], batches: Sequence[int] | None = None) -> str:
    """One Markdown table of several reports' rows (those of ``batches``, default all),
    with model and dtype columns."""
    header = ["model", "dtype", *_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for report in reports:
        for row in report.table.itertuples():
            if batches is not None and row.batch not in batches:
                continue
            cells = [row.model, f"{row.dtype} (w {row.weights}, kv {row.kv})", *_row_cells(row)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_llm(reports: Sequence[Any], title: str | None = None) -> Any:
    """A figure: TTFT (left) and TPOT (right) against batch, one line per (model, spec)
    (a colour per spec, a line style per report), log-log; batches whose weights, KV cache and activations exceed the spec's memory are
    drawn hollow after a dotted line (the memory limit)."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(1, 2, figsize=(14, 4.8), constrained_layout=True)
    colors: dict[str, str] = {}
    for index, report in enumerate(reports):
        style = _LINE_STYLES[index % len(_LINE_STYLES)]
        for spec, rows in report.table.groupby("spec", sort=False):
            color = colors.setdefault(spec, f"C{len(colors) % 10}")
            label = _label(report, spec, int(rows["tp"].iloc[0]))
            for axis, column in zip(axes, ("ttft_s", "tpot_s")):
                _draw_series(axis, rows, column, label, color, style)
    for axis, name in zip(axes, ("time to first token (s)", "time per output token (s)")):
        axis.set_xscale("log", base=2)
        batches = sorted({int(b) for report in reports for b in report.table["batch"]})
        axis.set_xticks(batches, [str(b) for b in batches])
        axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        axis.set_yscale("log")
        axis.set_xlabel("batch (sequences)")
        axis.set_ylabel(name)
        axis.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    first = reports[0]
    figure.suptitle(title or f"{first.dtype}, prompt {first.prompt}, generate {first.generate}; "
                    "hollow markers: does not fit in memory")
    return figure


def _label(report: Any, spec: str, tp: int) -> str:
    """"model [w int4] [kv fp8] on spec [(tp 8)]"."""
    formats = "".join(f" {name} {value}" for name, value in (("w", report.weights), ("kv", report.kv)) if value)
    return f"{report.model}{formats} on {spec}" + (f" (tp {tp})" if tp > 1 else "")


def _draw_series(axis: Any, rows: pd.DataFrame, column: str, label: str, color: str, style: str) -> None:
    """One (model, spec) line: filled markers where it fits, hollow where it does not,
    and, where it stops fitting, a dotted vertical line (the memory limit) named by its spec."""
    fits = rows["fits"].to_numpy(dtype=bool)
    axis.plot(rows["batch"], rows[column], style, color=color, label=label)
    axis.plot(rows["batch"][fits], rows[column][fits], "o", color=color)
    axis.plot(rows["batch"][~fits], rows[column][~fits], "o", mfc="none", color=color)
    if fits.any() and (~fits).any():
        limit = rows["batch"][~fits].iloc[0]
        axis.axvline(limit, color=color, linestyle=":", alpha=0.8)
        axis.annotate(f"{rows['spec'].iloc[0]} memory", (limit, 0.02), xycoords=("data", "axes fraction"),
                      rotation=90, fontsize=7, color=color, ha="right", va="bottom")
