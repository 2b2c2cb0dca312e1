"""The one table layout of the terminal reports, and the small formatters they share.

Tables are drawn without side borders (rich's SIMPLE_HEAD box) so that nine columns of
numbers fit an 80-column terminal; name columns (ops, shapes, modules) are cut with an
ellipsis rather than wrapped, so one row stays one line at any width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from rich import box
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

__all__ = ["MISSING", "table", "signed_percent", "percent", "is_nan", "number"]

#: What a missing number prints as.
MISSING = "-"


class FitTable(Table):
    """A Table that fits the width it is drawn in: at its natural width when that fits;
    otherwise the number columns (and the names kept whole) keep theirs and the other
    name columns share what is left, cut with an ellipsis. A blank line sets it apart
    from what was printed before it."""

    def __rich_console__(self, console: Any, options: Any) -> Any:
        for column in self.columns:
            if column.overflow == "ellipsis":
                column.width = None  # drawn before at another width: start from the natural one
        natural = [max(_width(column.header), *(_width(cell) for cell in column.cells)) for column in self.columns]
        gaps = self.__rich_measure__(console, options.update(width=10**6)).maximum - sum(natural)
        flexible = [i for i, column in enumerate(self.columns) if column.overflow == "ellipsis"]
        spare = options.max_width - gaps - sum(w for i, w in enumerate(natural) if i not in flexible)
        if sum(natural) + gaps > options.max_width and flexible:
            share = max(spare // len(flexible), 4)
            # a name narrower than its share gives the rest to the others
            short = [i for i in flexible if natural[i] <= share]
            wide = [i for i in flexible if natural[i] > share]
            left = spare - sum(natural[i] for i in short)
            for i in wide:
                self.columns[i].width = max(left // len(wide), 4)
        yield Segment.line()
        # the title on its own line, as wide as the terminal, not wrapped to the table's width
        title, self.title = self.title, None
        try:
            if title:
                yield Text(str(title), style="table.title", overflow="fold")
            yield from super().__rich_console__(console, options)
        finally:
            self.title = title


def _width(cell: Any) -> int:
    """The widest line of a cell's text."""
    return max((len(line) for line in str(cell).splitlines()), default=0)


def table(title: str, columns: Sequence[str], rows: list[Sequence[Any]], *, names: int = 1,
          caption: str | None = None, whole: int = 0) -> Table:
    """A rich Table: the first ``names`` columns left-aligned text cut with an ellipsis
    when the terminal is narrow, except the first ``whole`` of them (identifiers a user
    types, as spec names), the others right-aligned numbers kept whole (FitTable). A
    header may hold a line break ("DRAM\nTB/s") to keep a number column narrow."""
    out = FitTable(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                   show_edge=False, collapse_padding=True, caption=caption, caption_justify="left")
    for i, column in enumerate(columns):
        if i < whole:
            out.add_column(column, justify="left", overflow="fold", no_wrap=True)
        elif i < names:
            out.add_column(column, justify="left", overflow="ellipsis", no_wrap=True)
        else:
            out.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        out.add_row(*[str(cell) for cell in row])
    return out


def is_nan(value: Any) -> bool:
    """True for NaN, None and pandas' NA."""
    return bool(pd.isna(value))


def signed_percent(value: float) -> str:
    """A fraction as a signed percentage, "+12.3%"; MISSING for NaN."""
    return MISSING if is_nan(value) else f"{100 * value:+.1f}%"


def percent(value: float) -> str:
    """A fraction as a percentage, "12.3%"; MISSING for NaN."""
    return MISSING if is_nan(value) else f"{100 * value:.1f}%"


def number(value: float, digits: int = 1) -> str:
    """A plain number with ``digits`` decimals ("23.3"); MISSING for NaN."""
    return MISSING if is_nan(value) else f"{value:.{digits}f}"
