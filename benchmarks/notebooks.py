"""Execute every notebook in notebooks/ in place, with its outputs stored (run by
`make notebooks`).

Each notebook runs top to bottom in a fresh kernel (this interpreter, PYTHONHASHSEED=0,
working directory notebooks/, this checkout first on PYTHONPATH so the outputs are this
checkout's code whatever copy of the package is installed); the outputs are kept, figures as the PNGs the inline
backend shows, and what changes from run to run without the content changing is left
out: execution timestamps, the kernel's version details. A notebook is written only if
every cell ran without error, so a failed run leaves the stored one as it was.

    python benchmarks/notebooks.py [NOTEBOOK ...] [--timeout 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TIMEOUT_S = 300  # per cell


def execute(path: Path, timeout_s: float = TIMEOUT_S) -> nbformat.NotebookNode:
    """The notebook at ``path`` run top to bottom in a fresh kernel, outputs in place
    (the file is not written). Raises CellExecutionError on the first failing cell."""
    book = nbformat.read(path, as_version=4)
    # the kernel's environment: set orders repeat, and this checkout is the one imported
    path_entries = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.pathsep.join(path_entries)}
    client = NotebookClient(book, timeout=timeout_s, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    return scrub(book)


def scrub(book: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what varies between runs of the same code: per-cell timing metadata and the
    kernel's version details (the kernel spec and language name stay)."""
    for cell in book.cells:
        cell.metadata.pop("execution", None)
    language = book.metadata.get("language_info", {})
    book.metadata["language_info"] = {"name": language.get("name", "python")}
    return book


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: every one in notebooks/)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"notebooks: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        started = time.perf_counter()
        try:
            book = execute(path, args.timeout)
        except CellExecutionError as exc:
            failed += 1
            print(f"{path.name}: FAILED, left as it was: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
            continue
        nbformat.write(book, path)
        print(f"{path.name}: {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e3:.0f} kB")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
