"""Every notebook in notebooks/ executes without error, within a time limit, and ends with
its key figure (the last code cell displays a PNG). Notebooks are stored without outputs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
TIMEOUT_S = 150  # per cell; each notebook takes seconds to tens of seconds on 2 cores

# What a notebook needs beyond the core package, by file stem.
NEEDS = {"04_validation": ["roofline.measure", "roofline.calibrate", "roofline.measure.compare"]}


def test_the_notebooks_are_there():
    assert [p.stem for p in PATHS] == [
        "01_quickstart",
        "02_seed_workloads",
        "03_recommenders_and_graphs",
        "04_validation",
        "05_hardware_what_if",
    ]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: cell {cell.id} has outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_executes_and_ends_with_a_figure(path):
    missing = [name for name in NEEDS.get(path.stem, []) if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}, not built yet")
    book = nbformat.read(path, as_version=4)
    # The kernel runs in notebooks/ with this interpreter (jupyter_client maps the kernel
    # spec's "python" to sys.executable); each notebook selects the inline backend itself.
    client = NotebookClient(book, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert not errors
    last = code[-1].outputs
    assert any("image/png" in out.get("data", {}) for out in last), f"{path.name}: the last cell shows no figure"
