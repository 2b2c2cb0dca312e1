"""An Analysis as HTML, for notebooks (Analysis._repr_html_): what was analysed, the
totals, the runtime by category and the costliest ops, every number with its unit.

Reads the Analysis; computes nothing.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from roofline.report.layout import number, percent
from roofline.report.text import display_op, dtype_note, short_shapes, title
from roofline.units import format_seconds, si

__all__ = ["analysis_html"]


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0)


def _categories(analysis: Any) -> pd.DataFrame:
    table = analysis.by_category()
    table = table[(table["ops"] > 0) | (table.index == "Total")]
    return pd.DataFrame({
        "category": table.index, "time": [format_seconds(v) for v in table["predicted_s"]],
        "share": [percent(v) for v in table["share"]], "FLOPs": [si(v, "FLOP") for v in table["flops"]],
        "bytes": [si(v, "B") for v in table["bytes"]], "ops": table["ops"].astype(int),
    })


def _top(analysis: Any, n: int) -> pd.DataFrame:
    top = analysis.top_grouped(n)
    kind = analysis.hw.kind
    return pd.DataFrame({
        "op": [display_op(op, kind).removeprefix("aten.") for op in top["op"]],
        "input shapes": [short_shapes(s, 40) for s in top["shapes"]], "calls": top["count"],
        "time": [format_seconds(v) for v in top["predicted_s"]], "share": [percent(v) for v in top["share"]],
        "FLOP/B": [number(v) for v in top["intensity"]], "bound": top["bound"],
    })


def analysis_html(analysis: Any, top: int = 5) -> str:
    """The header, the totals, the category table and the ``top`` costliest op groups."""
    s = analysis.summary()
    totals = (f"{s['ops']} aten ops, {si(s['total_flops'], 'FLOP')}, {si(s['total_bytes'], 'B')}, "
              f"{number(s['intensity'])} FLOP/B; predicted {format_seconds(s['predicted_s'])} "
              f"(kernels {format_seconds(s['kernel_s'])})")
    if "host_s" in s:
        totals += f"; host-side {format_seconds(s['host_s'])} apart"
    note = dtype_note(analysis.workload.dtype, analysis.hw, 'analyze(..., dtype="{}")')
    parts = [f"<p><b>{html.escape(title(analysis))}</b><br>{html.escape(totals)}</p>"]
    if note:
        parts.append(f"<p><i>{html.escape(note)}</i></p>")
    parts += ["<p>Runtime by category (predicted)</p>", _table(_categories(analysis))]
    if top > 0 and len(analysis.ops):
        parts += [f"<p>Top {top} ops (same op and shapes grouped)</p>", _table(_top(analysis, top))]
    return "<div>" + "\n".join(parts) + "</div>"
