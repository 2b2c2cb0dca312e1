"""roofline/symbolic.py: the rule engine against a plain-Python closure computed here,
and symbolic_op recording a Python function as one op with its declared cost."""

import itertools

import pytest
import torch

import roofline
from roofline.count.categories import GEMM, OTHER
from roofline.count.python_ops import PythonCall, Rule, RuleEngine, symbolic_op
from roofline.errors import RooflineError

ANCESTOR_RULES = ["ancestor(x, z) :- parent(x, z)", "ancestor(x, z) :- parent(x, y), ancestor(y, z)"]


def chain(n: int) -> torch.Tensor:
    parent = torch.zeros(n, n)
    for i in range(n - 1):
        parent[i, i + 1] = 1.0
    return parent


def closure_by_hand(edges: set[tuple[int, int]], n: int) -> set[tuple[int, int]]:
    reach = set(edges)
    while True:
        new = {(a, d) for (a, b), (c, d) in itertools.product(reach, edges) if b == c} - reach
        new |= {(a, d) for (a, b), (c, d) in itertools.product(edges, reach) if b == c} - reach
        if not new:
            return reach
        reach |= new


# --------------------------------------------------------------------------- rules


def test_rule_parse_builds_the_einsum():
    rule = Rule.parse("grand(x, z) :- parent(x, y), parent(y, z)")
    assert rule.head == "grand" and rule.body == ("parent", "parent") and rule.equation == "ab,bc->ac"
    assert Rule.parse("p(x) :- q(x, y)").equation == "ab->a"


@pytest.mark.parametrize(
    "text,message",
    [
        ("grand(x, z) parent(x, y)", "expected 'head"),
        ("grand(x, z) :- parent(x, y)", "do not appear in the body"),
        ("g(x) :- p(x) q(x)", "expected ','"),
        ("g(x) :- p()", "variable names"),
    ],
)
def test_rule_parse_errors_name_the_rule(text, message):
    with pytest.raises(RooflineError, match=message):
        Rule.parse(text)


def test_transitive_closure_of_a_chain():
    n = 6
    engine = RuleEngine(ANCESTOR_RULES)
    ancestor = engine({"parent": chain(n)})["ancestor"]
    expected = torch.tensor([[1.0 if i < j else 0.0 for j in range(n)] for i in range(n)])
    assert torch.equal(ancestor, expected)
    # Round r knows the paths of up to r+1 edges: the longest (n-1 edges) arrives in
    # round n-2, and round n-1 is the first that changes nothing.
    assert engine.rounds_run == n - 1


def test_closure_matches_a_python_reference_on_a_random_graph():
    n = 12
    parent = (torch.rand(n, n) < 0.15).float()
    edges = {(i, j) for i in range(n) for j in range(n) if parent[i, j]}
    ancestor = RuleEngine(ANCESTOR_RULES)({"parent": parent})["ancestor"]
    found = {(i, j) for i in range(n) for j in range(n) if ancestor[i, j]}
    assert found == closure_by_hand(edges, n)


def test_bool_facts_and_fixed_rounds():
    parent = chain(5).bool()
    one_round = RuleEngine(ANCESTOR_RULES, steps=1)({"parent": parent})["ancestor"]
    # One round: the base rule copies parent, then the recursive one adds 2-edge paths.
    assert int(one_round.sum()) == 4 + 3


def test_fixpoint_on_meta_tensors_is_refused_but_fixed_rounds_run():
    parent = torch.zeros(4, 4, device="meta")
    with pytest.raises(RooflineError, match="steps=N"):
        RuleEngine(ANCESTOR_RULES)({"parent": parent})
    out = RuleEngine(ANCESTOR_RULES, steps=3)({"parent": parent})
    assert out["ancestor"].shape == (4, 4) and out["ancestor"].is_meta


def test_missing_relation_is_named():
    with pytest.raises(RooflineError, match="'parent'"):
        RuleEngine(ANCESTOR_RULES)({"edge": chain(3)})


def test_analyzed_engine_costs_rounds_times_rule_steps():
    n, rounds = 16, 3
    engine = RuleEngine(ANCESTOR_RULES, steps=rounds)
    analysis = roofline.analyze(engine, ({"parent": torch.zeros(n, n, device="meta")},), hw="h100-sxm", meta=True)
    assert analysis.unsupported.empty
    # Per round: the base rule (a permute view, then clamp + maximum: 2 FLOPs per
    # cell) and the recursive one (an n x n x n matmul, 2n^3, then the same 2n^2).
    per_round = 2 * n**2 + (2 * n**3 + 2 * n**2)
    assert analysis.total_flops == rounds * per_round
    gemm = analysis.ops[analysis.ops["category"] == GEMM]
    assert len(gemm) == rounds and (gemm["flops"] == 2 * n**3).all()


# --------------------------------------------------------------------------- symbolic_op


@symbolic_op(flops=lambda program, scene: 10 * len(program), bytes=lambda program, scene: scene.numel() * 4)
def execute(program, scene):
    """A toy program executor: Python control flow over strings, tensor ops inside."""
    x = scene
    for step in program:
        x = x * 2 if step == "double" else x + 1
    return x


class Pipeline(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(4, 4)

    def forward(self, x):
        return execute(["double", "inc", "double"], self.encoder(x))


def test_symbolic_op_is_one_op_with_the_declared_cost():
    x = torch.randn(3, 4)
    analysis = roofline.analyze(Pipeline(), (x,), hw="h100-sxm")
    rows = analysis.ops[analysis.ops["op"] == "symbolic.execute"]
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["category"] == OTHER and row["flops"] == 10 * 3 and row["bytes"] == 3 * 4 * 4
    assert row["predicted_s"] > 0
    # The mul/add inside execute are not recorded on their own.
    assert set(analysis.ops["op"]) == {"aten.t", "aten.addmm", "symbolic.execute"}


def test_symbolic_op_record_replays_the_call():
    x = torch.randn(3, 4)
    model = Pipeline()
    analysis = roofline.analyze(model, (x,), hw="h100-sxm")
    [record] = [r for r in analysis.records if r.op == "symbolic.execute"]
    assert isinstance(record.python_call, PythonCall)
    assert record.python_call.fn is execute.__wrapped__
    program, scene = record.python_call.args
    assert program == ["double", "inc", "double"]
    with torch.no_grad():
        expected = (model.encoder(x) * 2 + 1) * 2
    assert torch.allclose(record.python_call.replay(), expected)


def test_symbolic_op_default_traffic_is_its_tensors():
    @symbolic_op(flops=5)
    def match(a, b, label):
        return a + b

    a, b = torch.zeros(10), torch.zeros(10)
    analysis = roofline.analyze(lambda: match(a, b, "x"), hw="h100-sxm")
    [row] = analysis.ops.itertuples()
    assert row.op == "symbolic.match" and row.flops == 5
    assert row.bytes_read == 2 * 10 * 4 and row.bytes_written == 10 * 4


def test_symbolic_op_outside_a_capture_just_runs():
    assert torch.equal(execute(["inc"], torch.zeros(2)), torch.ones(2))


def test_nested_symbolic_ops_are_recorded_once():
    @symbolic_op(flops=1, bytes_read=2, bytes_written=3)
    def inner(x):
        return x + 1

    @symbolic_op(flops=100, bytes=7)
    def outer(x):
        return inner(inner(x))

    x = torch.zeros(4)
    analysis = roofline.analyze(lambda: outer(x), hw="h100-sxm")
    assert list(analysis.ops["op"]) == ["symbolic.outer"]
    assert analysis.total_flops == 100 and analysis.total_bytes == 7
    alone = roofline.analyze(lambda: inner(x), hw="h100-sxm")
    assert (alone.ops["bytes_read"].item(), alone.ops["bytes_written"].item()) == (2, 3)


def test_symbolic_op_bad_costs_are_user_errors():
    @symbolic_op(flops=lambda x: -1)
    def negative(x):
        return x

    x = torch.zeros(1)
    with pytest.raises(RooflineError, match="negative.*flops"):
        roofline.analyze(lambda: negative(x), hw="h100-sxm")
    with pytest.raises(RooflineError, match="not both"):
        symbolic_op(bytes=1, bytes_read=1)
    with pytest.raises(RooflineError, match="identifier"):
        symbolic_op(name="a.b")(lambda x: x)


def test_bare_decorator_and_module_attribution():
    @symbolic_op
    def program_step(x):
        return x * 3

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Identity()

        def forward(self, x):
            return program_step(self.inner(x))

    analysis = roofline.analyze(Holder(), (torch.zeros(2),), hw="h100-sxm")
    [row] = analysis.ops[analysis.ops["op"] == "symbolic.program_step"].itertuples()
    assert row.flops == 0 and row.module == ""
