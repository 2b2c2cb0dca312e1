"""roofline/formulas/symbolic.py: join plans and rule-step formulas, against closed forms
worked out here and against the aten ops the engine really runs (counted by the other
families' formulas)."""

import pytest
import sympy
import torch

from roofline.capture import capture
from roofline.count.formulas.symbolic import (
    join_flops,
    parse_equation,
    plan_join,
    rule_step_bytes,
    rule_step_flops,
)
from roofline.count.python_ops import Rule, RuleEngine
from roofline.count.registry import Cost, count


def test_plan_of_a_chain_join_is_one_contraction():
    [step] = plan_join("xy,yz->xz")
    assert step.kind == "contract" and step.equation == "xy,yz->xz"


def test_plan_sums_out_an_index_used_by_one_body_only():
    # head(x) :- r(x, y), s(x, w): y and w are existential and each lives in one body.
    steps = plan_join("xy,xw->x")
    assert [s.kind for s in steps] == ["sum", "sum", "multiply"]
    assert steps[0].equation == "xy->x" and steps[1].equation == "xw->x"


def test_plan_of_a_three_body_rule_is_left_to_right():
    steps = plan_join("xy,yz,zw->xw")
    assert [s.equation for s in steps] == ["xy,yz->xz", "xz,zw->xw"]
    assert [s.kind for s in steps] == ["contract", "contract"]


def test_single_body_rules():
    assert [s.kind for s in plan_join("xy->yx")] == ["view"]
    assert [s.kind for s in plan_join("xy->x")] == ["sum"]


def test_rule_step_closed_forms_by_hand():
    n = 10
    sizes = {"x": n, "y": n, "z": n}
    # Chain join over N entities: an N x N x N matmul (2N^3) plus the OR (2 per head cell).
    assert rule_step_flops("xy,yz->xz", sizes) == 2 * n**3 + 2 * n**2
    # Bytes op by op (fp32): bmm reads the two relations and writes the join, clamp
    # reads and writes the join, maximum reads the head and the join and writes the head.
    bmm = (2 * n * n * 4, n * n * 4)
    clamp = (n * n * 4, n * n * 4)
    maximum = (2 * n * n * 4, n * n * 4)
    assert rule_step_bytes("xy,yz->xz", sizes, 4) == (bmm[0] + clamp[0] + maximum[0], bmm[1] + clamp[1] + maximum[1])
    # An intersection (AND) of two unary relations: one multiply per entity.
    assert join_flops("x,x->x", {"x": 7}) == 7
    # A projection: one add per cell.
    assert join_flops("xy->x", {"x": 3, "y": 4}) == 12


def test_parse_equation_rejects_bad_input():
    with pytest.raises(ValueError, match="->"):
        parse_equation("xy,yz")
    with pytest.raises(ValueError, match="appear in no input"):
        parse_equation("xy->xq")
    with pytest.raises(ValueError, match="letters"):
        parse_equation("x1,1z->xz")


def test_rule_step_formula_is_symbolic():
    n = sympy.Symbol("n", positive=True, integer=True)
    flops = rule_step_flops("xy,yz->xz", {"x": n, "y": n, "z": n})
    assert sympy.expand(flops - (2 * n**3 + 2 * n**2)) == 0


def _captured_totals(fn, *args):
    with torch.no_grad():
        records, _ = capture(fn, args)
    costs = [count(r) for r in records]
    assert all(isinstance(c, Cost) for c in costs), costs
    return sum(c.flops for c in costs), sum(c.bytes_read for c in costs), sum(c.bytes_written for c in costs)


@pytest.mark.parametrize(
    "text,shapes",
    [
        ("grand(x, z) :- parent(x, y), parent(y, z)", {"parent": (9, 9)}),
        ("recommend(x, z) :- knows(x, y), likes(y, z)", {"knows": (5, 6), "likes": (6, 4)}),
        ("both(x) :- a(x), b(x)", {"a": (11,), "b": (11,)}),
        ("has_edge(x) :- edge(x, y)", {"edge": (6, 8)}),
        ("path3(x, w) :- e(x, y), e(y, z), e(z, w)", {"e": (7, 7)}),
        ("sym(x, y) :- e(y, x)", {"e": (5, 5)}),
    ],
)
def test_one_rule_application_costs_what_its_aten_ops_cost(text, shapes):
    rule = Rule.parse(text)
    facts = {name: (torch.rand(shape) > 0.5).float() for name, shape in shapes.items()}
    head_shape = RuleEngine([rule]).initial_state(facts)[rule.head].shape
    facts.setdefault(rule.head, torch.zeros(head_shape))
    engine = RuleEngine([rule])
    sizes = {}
    for name, term in zip(rule.body, parse_equation(rule.equation)[0]):
        sizes.update(dict(zip(term, facts[name].shape)))
    flops, read, written = _captured_totals(lambda f: engine.apply(rule, f), facts)
    assert flops == rule_step_flops(rule.equation, sizes)
    assert (read, written) == rule_step_bytes(rule.equation, sizes, 4)
