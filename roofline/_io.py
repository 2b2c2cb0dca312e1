"""Writing files and showing progress: the one atomic writer, the one progress bar, and
JSON-safe values for the documents written.

Every output of roofline (CSV, JSON, traces, figures, specs) goes through
``write_atomic``: a file is either complete or absent, never half written. Long work
shows ``progress`` (a rich bar on stderr, or nothing).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roofline.errors import RooflineError

__all__ = ["json_safe", "write_atomic", "write_text_atomic", "progress"]


def write_atomic(path: str | os.PathLike, write: Callable[[object], None], *, binary: bool = False) -> Path:
    """Write a file through ``write(file_object)`` into a temporary file beside ``path``,
    then rename it over ``path``: the file is complete or absent. Returns the path.

    A plain open (not mkstemp) so the file gets the usual umask permissions; the pid in
    the temporary name keeps two processes writing one path apart. OSError becomes a
    one-line RooflineError naming the path.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise RooflineError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(tmp: Path) -> None:
    # The temporary file may not exist, or its folder may not be a folder at all.
    with suppress(OSError):
        tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see write_atomic). Returns the path."""
    return write_atomic(path, lambda handle: handle.write(text))


@contextmanager
def progress(show: bool, description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr while the block runs, or nothing when ``show`` is
    false. Yields ``advance(steps=1, label=None)``: moves the bar on by ``steps`` and,
    with a label, shows what is being done now. ``total=None`` shows a spinner (work of
    unknown length). The bar disappears when the block ends.
    """
    if not show:
        yield lambda steps=1, label=None: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        [TextColumn(f"{description}: {{task.description}}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        if total is not None
        else [SpinnerColumn(), TextColumn(f"{description}: {{task.description}}"), TimeElapsedColumn()]
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=total)

        def advance(steps: int = 1, label: str | None = None) -> None:
            if label is not None:
                bar.update(task, description=label)
            bar.advance(task, steps)

        yield advance


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python numbers,
    through dicts and lists (what json.dumps(allow_nan=False) accepts)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value
