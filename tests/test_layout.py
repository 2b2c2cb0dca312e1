"""The package's shape (issue 12): each stage imports only the stages before it, no
module over 600 lines, no function over 80, every folder says its job."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "roofline"

#: stage -> the other stages (and shared basics) it may import, anywhere in its code.
BASICS = {"errors", "units", "dtypes", "_io"}
ALLOWED: dict[str, set[str]] = {
    "capture": BASICS,
    "count": BASICS | {"capture"},
    "hardware": BASICS,
    "efficiency": BASICS | {"hardware", "count"},
    "predict": BASICS | {"count", "efficiency", "hardware"},
    # Analysis.compare and Analysis.plot hand the analysis to measure.compare and report.
    "analysis": BASICS | {"capture", "count", "efficiency", "hardware", "predict", "measure", "report", "workload"},
    "measure": BASICS | {"capture", "count"},
    # calibrate fits the efficiency stage's kernel model (calibrate.kernels).
    "calibrate": BASICS | {"hardware", "measure", "predict", "analysis", "capture", "count", "efficiency"},
    "report": BASICS | {"count", "predict", "measure", "hardware", "workload"},
    # what was analysed (model, dtype, batch, seq, params): a value every result carries
    "workload": BASICS,
    "targets": BASICS | {"hf", "models"},
    "hf": BASICS,
}


def imports_of(path: Path) -> set[str]:
    """The roofline stages a module imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "roofline" and len(parts) > 1:
                found.add(parts[1])
    return found


def stage_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    return relative.parts[0]


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_each_stage_imports_only_earlier_ones(stage):
    files = [PACKAGE / f"{stage}.py"] if (PACKAGE / f"{stage}.py").exists() else list((PACKAGE / stage).rglob("*.py"))
    assert files
    for path in files:
        foreign = imports_of(path) - ALLOWED[stage] - {stage}
        assert not foreign, f"{path.relative_to(PACKAGE)} imports {sorted(foreign)}"


def test_no_stage_imports_tools_or_cli():
    for path in PACKAGE.rglob("*.py"):
        if stage_of(path) in ("tools", "cli", "__init__"):
            continue
        assert not imports_of(path) & {"tools", "cli"}, path.relative_to(PACKAGE)


def test_modules_and_functions_stay_small():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        if source.count("\n") > 600:
            too_long.append(f"{path.relative_to(PACKAGE)}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not too_long


def test_every_folder_says_its_job_and_what_it_may_import():
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc) > 100, f"{init.relative_to(PACKAGE)} has no docstring saying its job"
        lowered = doc.lower()
        assert "import" in lowered, f"{init.relative_to(PACKAGE)} does not say what it may import"
