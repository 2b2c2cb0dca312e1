"""The formula registry: one formula per key, overrides on request, keys that name real
ops, and no import cycle between the registry and the formulas."""

import ast
import pathlib
import subprocess
import sys

import pytest
import torch

from roofline.capture import capture
from roofline.count import registry
from roofline.count.categories import GEMM, OTHER
from roofline.count.formulas.no_work import view_cost
from roofline.count.formulas.pointwise import pointwise_cost
from roofline.count.registry import (
    HANDLERS,
    NO_UNIT,
    Cost,
    count,
    handler_for,
    register,
)
from roofline.errors import RooflineError
from tests.conftest import only_cost

COUNT_DIR = pathlib.Path(registry.__file__).parent


def test_registering_a_key_twice_names_the_key_and_both_handlers():
    def my_mm_cost(record):
        return Cost(1, 0, 0, GEMM)

    original = HANDLERS["aten.mm"]
    with pytest.raises(RooflineError) as err:
        register("aten.mm")(my_mm_cost)
    message = str(err.value)
    assert "aten.mm" in message and "matmul_cost" in message and "my_mm_cost" in message
    assert "\n" not in message
    assert HANDLERS["aten.mm"] is original  # nothing half-registered


def test_a_failed_registration_registers_none_of_its_keys():
    def cost(record):
        return Cost(0, 0, 0, OTHER)

    with pytest.raises(RooflineError):
        register("test.not_an_op_yet", "aten.mm")(cost)
    assert "test.not_an_op_yet" not in HANDLERS


def test_replace_true_overrides_a_builtin_formula_and_count_uses_it():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    original = HANDLERS["aten.mm"]

    def flat_mm_cost(record):
        return Cost(42, 1, 2, GEMM)

    register("aten.mm", replace=True)(flat_mm_cost)
    try:
        cost = only_cost(torch.mm, a, b)
        assert (cost.flops, cost.bytes_read, cost.bytes_written) == (42, 1, 2)
    finally:
        register("aten.mm", replace=True)(original)
    # restored: 2*M*N*K = 2*8*4*16 = 1024
    assert only_cost(torch.mm, a, b).flops == 1024


def _resolve(key: str) -> None:
    """Raise AttributeError unless ``key`` names an op packet or overload of this torch."""
    namespace, name, *overload = key.split(".")
    packet = getattr(getattr(torch.ops, namespace), name)
    if overload:
        getattr(packet, overload[0])


def test_every_registered_key_names_an_op_of_this_torch():
    missing = []
    for key in HANDLERS:
        if key.startswith("symbolic."):  # plain-Python ops registered by symbolic_op
            continue
        try:
            _resolve(key)
        except (AttributeError, RuntimeError):
            missing.append(key)
    assert missing == []


def test_positive_is_a_view_although_torch_tags_it_pointwise():
    # The view fallback wins over the pointwise one: aten.positive returns its input.
    positive = torch.ops.aten.positive.default
    assert torch.Tag.pointwise in positive.tags
    assert handler_for("aten.positive.default", positive) is view_cost
    assert handler_for("aten.exp.default", torch.ops.aten.exp.default) is pointwise_cost


def _imports(path: pathlib.Path) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions) of roofline modules in ``path``."""
    tree = ast.parse(path.read_text())
    top, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("roofline"):
            names = {node.module}
        elif isinstance(node, ast.Import):
            names = {a.name for a in node.names if a.name.startswith("roofline")}
        else:
            continue
        (top if node.col_offset == 0 else inner).update(names)
    return top, inner


def test_the_registry_imports_no_formula_and_count_imports_nothing_later():
    top, inner = _imports(COUNT_DIR / "registry.py")
    assert not any(m.startswith("roofline.count.formulas") for m in top | inner)
    later = ("roofline.hardware", "roofline.predict", "roofline.efficiency", "roofline.analysis",
             "roofline.measure", "roofline.calibrate", "roofline.report", "roofline.tools", "roofline.cli")
    for path in COUNT_DIR.rglob("*.py"):
        top, inner = _imports(path)
        assert inner == set(), f"{path.name} imports {inner} inside a function"
        assert not any(m.startswith(later) for m in top), f"{path.name} imports a later stage: {top}"


def test_count_sees_every_builtin_formula_whatever_is_imported_first():
    # A fresh interpreter that imports only the registry still counts with the formulas.
    code = (
        "from roofline.count.registry import HANDLERS, handler_for; "
        "assert 'aten.mm' in HANDLERS and 'aten.convolution' in HANDLERS; "
        "import torch; assert handler_for('aten.exp.default', torch.ops.aten.exp.default).__name__ == 'pointwise_cost'"
    )
    root = COUNT_DIR.parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_ops_without_a_kernel_cost_nothing():
    # linalg.inv's info check and dtype promotion run no kernel: counted, at zero cost.
    a = torch.randn(4, 4) + 4 * torch.eye(4)
    records, _ = capture(lambda: (torch.linalg.inv(a), torch.promote_types(torch.float32, torch.int64)))
    costs = {r.packet: count(r) for r in records}
    assert costs["aten._linalg_check_errors"] == Cost(0, 0, 0, OTHER, unit=NO_UNIT)
    # promote_types is a composite op that dispatches nothing: eager runs its
    # decomposition, so capture records no op for it at all.
    assert "aten.promote_types" not in costs
    promote = torch.ops.aten.promote_types.default
    from roofline.capture import make_record

    record = make_record(0, "aten.promote_types.default", promote, ("", ""), (torch.float32, torch.int64), {}, torch.float32)
    assert count(record) == Cost(0, 0, 0, OTHER, unit=NO_UNIT)
