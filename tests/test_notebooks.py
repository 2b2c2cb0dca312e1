"""Every notebook in notebooks/ is stored with its outputs, as benchmarks/notebooks.py
(`make notebooks`) writes them: every code cell executed once, in order, no error
output, no run-to-run noise (timestamps), the key figure (a PNG) shown by the last code
cell, and a size a repository can carry. The slow test runs each one again and checks
that it still executes, within a time limit, to the same kind of result.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from .benchmarks import load_benchmark

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
TIMEOUT_S = 150  # per cell; each notebook takes seconds to tens of seconds on 2 cores
MAX_BYTES = 1_500_000  # figures at 100 dpi are 40-120 kB each

# What a notebook needs beyond the core package, by file stem.
NEEDS = {"04_validation": ["roofline.measure", "roofline.calibrate", "roofline.measure.compare"]}


def _runner():
    """benchmarks/notebooks.py, imported by path (benchmarks/ is not a package)."""
    return load_benchmark("notebooks")


def _code(book):
    return [cell for cell in book.cells if cell.cell_type == "code"]


def check_executed(book, name: str) -> None:
    """The checks a stored notebook and a fresh run share (AssertionError naming the cell)."""
    code = _code(book)
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), f"{name}: code cells not executed once each, in order: {counts}"
    for cell in code:
        errors = [out for out in cell.outputs if out.output_type == "error"]
        assert not errors, f"{name}: cell {cell.id} stored an error: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    last = code[-1].outputs
    assert any("image/png" in out.get("data", {}) for out in last), f"{name}: the last cell shows no figure"


def test_the_notebooks_are_there():
    assert [p.stem for p in PATHS] == [
        "01_quickstart",
        "02_seed_workloads",
        "03_recommenders_and_graphs",
        "04_validation",
        "05_hardware_what_if",
    ]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_stored_with_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    check_executed(book, path.name)
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size:,} bytes"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_stored_without_run_to_run_noise(path):
    book = nbformat.read(path, as_version=4)
    timed = [cell.id for cell in book.cells if "execution" in cell.metadata]
    assert not timed, f"{path.name}: cells {timed} keep execution timestamps"
    assert set(book.metadata.get("language_info", {})) <= {"name"}, f"{path.name}: kernel version details stored"
    # tracebacks and warnings a reader would see as noise
    streams = [out.text for cell in _code(book) for out in cell.outputs if out.output_type == "stream" and out.name == "stderr"]
    assert not [s for s in streams if "Traceback" in s or "Warning" in s], f"{path.name}: stderr noise stored: {streams[:1]}"


def test_scrub_drops_timestamps_and_versions():
    runner = _runner()
    cell = nbformat.v4.new_code_cell("1")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    book = nbformat.v4.new_notebook(cells=[cell], metadata={"language_info": {"name": "python", "version": "3.11.7"}})
    runner.scrub(book)
    assert "execution" not in book.cells[0].metadata
    assert book.metadata["language_info"] == {"name": "python"}


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_executes_and_ends_with_a_figure(path):
    missing = [name for name in NEEDS.get(path.stem, []) if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}, not built yet")
    # the same run as `make notebooks` (this checkout first on the kernel's path), kept in memory
    book = _runner().execute(path, TIMEOUT_S)
    check_executed(book, path.name)
