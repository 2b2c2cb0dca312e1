"""Writing figures: the format from the path's suffix, checked before any work, and an
atomic write (roofline._io.write_atomic) so a figure file is complete or absent."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from roofline._io import write_atomic
from roofline.errors import RooflineError


def check_figure_path(path: str | os.PathLike) -> str:
    """The format a figure path asks for (from its suffix); RooflineError if matplotlib
    cannot write it or its directory does not exist. Lets a command fail before work."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    supported = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in supported:
        raise RooflineError(f"{path}: unknown figure format {fmt!r}; use one of {', '.join(sorted(supported))}")
    if not path.parent.is_dir():
        raise RooflineError(f"{path}: no such directory {str(path.parent)!r}")
    return fmt


def save(fig: Figure, path: str | os.PathLike, *, dpi: float | None = None) -> Path:
    """Write a figure atomically (temp file + rename); the format comes from the suffix.

    The pixel size is the figure size in inches x dpi (the figure's own dpi by default):
    no tight bounding box, so it is predictable.
    """
    path = Path(path)
    fmt = check_figure_path(path)
    write_atomic(path, lambda handle: fig.savefig(handle, format=fmt, dpi=dpi or fig.dpi), binary=True)
    return path
