"""Symbolic workloads: a small forward-chaining rule engine over tensor relations, and
``symbolic_op``, which makes a user's plain-Python function one op of an analysis.

Rule engine. Facts are relations stored as 0/1 tensors over entity indices: a binary
relation over N entities is an N x N tensor whose [i, j] is 1 when the fact holds. A
rule ``ancestor(x, z) :- parent(x, y), ancestor(y, z)`` is a join, the einsum
"xy,yz->xz" of its bodies (a count of the ways the body holds), then an OR into the
head: ``head = maximum(head, clamp(join, max=1))``. ``RuleEngine`` applies its rules in
order, round after round, until no head changes (a fixpoint: needs real tensors) or for
a fixed number of rounds (works on meta tensors too)::

    engine = RuleEngine(["ancestor(x, z) :- parent(x, y)",
                         "ancestor(x, z) :- parent(x, y), ancestor(y, z)"])
    facts = engine(facts)                      # {"parent": ..., "ancestor": ...}
    roofline.analyze(engine, (facts,))         # its matmuls, clamps and maxima, counted

Each rule application's cost has a closed form in roofline.count.formulas.symbolic
(rule_step_flops / rule_step_bytes): the engine evaluates a join exactly as
``plan_join`` lays it out, so the formulas and the captured ops agree.

symbolic_op. A function that works on Python objects (a program executor step, a
symbolic rule match over strings) has no aten ops worth counting, or none at all::

    @roofline.symbolic_op(flops=lambda program, scene: 10 * len(program),
                          bytes=lambda program, scene: scene.numel() * 4)
    def execute(program, scene): ...

Under analyze() each call becomes ONE op "symbolic.execute" (category Other) with the
declared cost; the aten ops it runs inside are not recorded. The record keeps the
undecorated function and its real arguments (OpRecord.python_call, a PythonCall), so a
measured run can time the call as one unit with ``record.python_call.replay()``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from roofline.capture import active_capture, tensor_info
from roofline.count.formulas._common import distinct_bytes
from roofline.count.formulas.symbolic import (
    JoinStep,
    parse_equation,
    plan_join,
    python_call_cost,
)
from roofline.count.registry import HANDLERS, register
from roofline.errors import RooflineError

# --------------------------------------------------------------------------- rules

_ATOM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*")


@dataclass(frozen=True)
class Rule:
    """``head :- body_1, ..., body_n`` as an einsum over the bodies' relations.

    equation: einsum with one single-letter index per variable, e.g. "xy,yz->xz" for
    head(x, z) :- body_1(x, y), body_2(y, z). Variables of the body missing from the
    head are existential (summed out, then clamped to 1 by the OR).
    """

    head: str
    body: tuple[str, ...]
    equation: str

    def __post_init__(self) -> None:
        inputs, _ = parse_equation(self.equation)
        if len(inputs) != len(self.body):
            raise RooflineError(
                f"rule for {self.head!r}: equation {self.equation!r} has {len(inputs)} input(s) "
                f"but the body names {len(self.body)} relation(s)"
            )

    @classmethod
    def parse(cls, text: str) -> Rule:
        """A rule from Datalog-like text: "grand(x, z) :- parent(x, y), parent(y, z)".

        Arguments are variable names (no constants); each distinct variable becomes
        one einsum index.
        """
        if ":-" not in text:
            raise RooflineError(f"rule {text!r}: expected 'head(vars) :- body(vars), ...'")
        head_text, body_text = text.split(":-", 1)
        head_atom = _parse_atoms(head_text, text)
        if len(head_atom) != 1:
            raise RooflineError(f"rule {text!r}: the head must be exactly one relation")
        body_atoms = _parse_atoms(body_text, text)
        letters: dict[str, str] = {}
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

        def term(variables: list[str]) -> str:
            out = ""
            for var in variables:
                if var not in letters:
                    if len(letters) == len(alphabet):
                        raise RooflineError(f"rule {text!r}: more than {len(alphabet)} variables")
                    letters[var] = alphabet[len(letters)]
                out += letters[var]
            return out

        body_terms = [term(vars_) for _, vars_ in body_atoms]
        head_name, head_vars = head_atom[0]
        unbound = [v for v in head_vars if v not in letters]
        if unbound:
            raise RooflineError(f"rule {text!r}: head variable(s) {unbound} do not appear in the body")
        equation = ",".join(body_terms) + "->" + term(head_vars)
        return cls(head_name, tuple(name for name, _ in body_atoms), equation)

    def __str__(self) -> str:
        return f"{self.head} :- {', '.join(self.body)}  [{self.equation}]"


def _parse_atoms(text: str, whole: str) -> list[tuple[str, list[str]]]:
    atoms: list[tuple[str, list[str]]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _ATOM.match(text, position)
        if match is None:
            raise RooflineError(f"rule {whole!r}: cannot parse {text[position:]!r} (expected name(var, ...))")
        variables = [v.strip() for v in match.group(2).split(",") if v.strip()]
        if not variables or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) for v in variables):
            raise RooflineError(f"rule {whole!r}: {match.group(0).strip()!r} needs variable names as arguments")
        atoms.append((match.group(1), variables))
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise RooflineError(f"rule {whole!r}: expected ',' between relations at {text[position:]!r}")
            position += 1
    return atoms


def _as_rule(rule: Rule | str) -> Rule:
    return rule if isinstance(rule, Rule) else Rule.parse(rule)


def index_sizes(rule: Rule, facts: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """The size of each einsum index of ``rule``, read from the relations in ``facts``."""
    inputs, _ = parse_equation(rule.equation)
    sizes: dict[str, int] = {}
    for name, term in zip(rule.body, inputs):
        shape = tuple(facts[name].shape)
        if len(shape) != len(term):
            raise RooflineError(f"rule {rule}: relation {name!r} has {len(shape)} dims, the rule uses {len(term)}")
        for ch, size in zip(term, shape):
            if sizes.setdefault(ch, size) != size:
                raise RooflineError(f"rule {rule}: variable {ch!r} has sizes {sizes[ch]} and {size} in its relations")
    return sizes


class RuleEngine(torch.nn.Module):
    """Forward chaining over 0/1 tensor relations (see the module docstring).

    rules: Rule objects or rule text. steps: rounds to run; None runs to the fixpoint
    (each round applies every rule once, in order, and the engine stops after the
    first round that changes no head relation). max_steps caps a fixpoint run.
    A head relation absent from the facts starts empty (zeros), shaped by its variables.
    """

    def __init__(self, rules: Iterable[Rule | str], steps: int | None = None, max_steps: int = 1000):
        super().__init__()
        self.rules = tuple(_as_rule(r) for r in rules)
        if not self.rules:
            raise RooflineError("RuleEngine needs at least one rule")
        if steps is not None and steps < 0:
            raise RooflineError(f"RuleEngine: steps must be >= 0, got {steps}")
        self.steps = steps
        self.max_steps = max_steps
        self.rounds_run = 0  # rounds of the last forward call

    def apply(self, rule: Rule, facts: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """One application of ``rule``: the new head relation (old head OR the join)."""
        return torch.maximum(facts[rule.head], join(rule, facts).clamp(max=1))

    def initial_state(self, facts: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The facts as floating 0/1 tensors, plus an empty (zeros) relation for each
        head the facts lack, shaped by the sizes its rule's body gives its variables."""
        state = {name: (t.float() if t.dtype == torch.bool else t) for name, t in facts.items()}
        pending = [rule for rule in self.rules if rule.head not in state]
        while pending:
            ready = [rule for rule in pending if all(name in state for name in rule.body)]
            if not ready:
                names = sorted({name for rule in pending for name in rule.body if name not in state})
                raise RooflineError(f"RuleEngine: no facts for relation(s) {', '.join(map(repr, names))}")
            for rule in ready:
                if rule.head not in state:
                    sizes = index_sizes(rule, state)
                    _, head_term = parse_equation(rule.equation)
                    like = state[rule.body[0]]
                    state[rule.head] = like.new_zeros([sizes[ch] for ch in head_term])
            pending = [rule for rule in pending if rule.head not in state]
        return state

    def forward(self, facts: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Derived facts: ``facts`` with every head relation closed under the rules
        (or after ``steps`` rounds). Facts are floating 0/1 tensors (bool ones are
        converted to float32 first, since matmul needs a floating dtype)."""
        fixpoint = self.steps is None
        if fixpoint and any(t.device.type == "meta" for t in facts.values()):
            raise RooflineError("RuleEngine: a fixpoint needs real tensors; give steps=N to run on meta tensors")
        state = self.initial_state(facts)
        rounds = self.steps if self.steps is not None else self.max_steps
        self.rounds_run = 0
        for _ in range(rounds):
            changed = False
            for rule in self.rules:
                new = self.apply(rule, state)
                if fixpoint and not changed and not torch.equal(new, state[rule.head]):
                    changed = True
                state[rule.head] = new
            self.rounds_run += 1
            if fixpoint and not changed:
                break
        return state


def join(rule: Rule, facts: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The einsum of a rule's body, evaluated step by step as ``plan_join`` lays it out
    (so the aten ops run are the ones the formulas count). Missing bodies that are
    heads of other rules count as empty."""
    values: dict[str, torch.Tensor] = {}
    for i, name in enumerate(rule.body):
        if name not in facts:
            raise RooflineError(f"rule {rule}: relation {name!r} has no facts")
        values[str(i)] = facts[name]
    steps = plan_join(rule.equation)
    for i, step in enumerate(steps):
        values[f"t{i}"] = _run_step(step, values)
    return values[f"t{len(steps) - 1}"]


def _run_step(step: JoinStep, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.einsum(step.equation, *(values[name] for name in step.operands))


# --------------------------------------------------------------------------- symbolic_op


@dataclass(frozen=True)
class PythonCall:
    """One call of a ``symbolic_op`` function, as recorded (OpRecord.python_call).

    fn: the undecorated function; args/kwargs: the real arguments it was called with
    (kept alive by the record, so replay() reruns it on the same data); flops and
    bytes_read/bytes_written: the cost its user declared, evaluated on those arguments
    before the call (FLOP, bytes).
    """

    fn: Callable[..., Any] = field(repr=False)
    args: tuple = field(repr=False)
    kwargs: dict = field(repr=False)
    flops: float
    bytes_read: float
    bytes_written: float

    def replay(self) -> Any:
        """Call the function again on the recorded arguments (time this as one op)."""
        return self.fn(*self.args, **self.kwargs)


CostSpec = float | int | Callable[..., Any] | None


def _evaluate(spec: CostSpec, what: str, label: str, args: tuple, kwargs: dict) -> float | None:
    if spec is None:
        return None
    try:
        value = spec(*args, **kwargs) if callable(spec) else spec
        number = float(value)
    except RooflineError:
        raise
    except Exception as exc:
        raise RooflineError(f"symbolic_op {label}: its {what}= cost failed: {type(exc).__name__}: {exc}") from exc
    if not math.isfinite(number) or number < 0:
        raise RooflineError(f"symbolic_op {label}: {what}= must be a finite number >= 0, got {value!r}")
    return number


def _tensor_bytes(value: Any, written: bool) -> float:
    """Footprint of every distinct tensor in ``value`` (the default declared traffic)."""
    seen: set[int] = set()
    total = 0
    flat, _ = tree_flatten(value)
    for item in flat:
        if isinstance(item, torch.Tensor) and id(item) not in seen:
            seen.add(id(item))
            info = tensor_info(item)
            total += info.nbytes if written and info.layout == "strided" else distinct_bytes(info)
    return float(total)


def symbolic_op(
    fn: Callable[..., Any] | None = None,
    *,
    flops: CostSpec = 0,
    bytes: CostSpec = None,  # shadows the builtin: the name users expect beside flops=
    bytes_read: CostSpec = None,
    bytes_written: CostSpec = None,
    name: str | None = None,
) -> Any:
    """Decorate a plain-Python function so an analysis records each call as ONE op
    "symbolic.<name>" (category Other) costing what is declared here.

    flops: FLOPs per call, a number or a callable taking the function's own arguments.
    bytes: total bytes per call (number or callable), counted as bytes read; or give
    bytes_read and bytes_written separately. With none of the three, the traffic is
    every tensor argument's footprint read and every returned tensor written.
    name: op name (default: the function's __name__); no dots.

    Outside a capture the function runs unchanged. Inside a decorated function, the
    aten ops and nested symbolic ops are not recorded (they are part of this op).
    """
    if bytes is not None and (bytes_read is not None or bytes_written is not None):
        raise RooflineError("symbolic_op: give bytes= or bytes_read=/bytes_written=, not both")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        op_name = name or getattr(func, "__name__", None)
        if not op_name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", op_name):
            raise RooflineError(
                f"symbolic_op: name {op_name!r} must be an identifier (letters, digits, _; no dots)"
            )
        label = f"{op_name!r}"
        if f"symbolic.{op_name}" not in HANDLERS:  # a second function of that name shares it
            register(f"symbolic.{op_name}")(python_call_cost)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            mode = active_capture()
            if mode is None or mode.opaque_depth:
                return func(*args, **kwargs)
            # Declared costs see the arguments as they are before the call mutates them.
            declared_flops = _evaluate(flops, "flops", label, args, kwargs) or 0.0
            declared_total = _evaluate(bytes, "bytes", label, args, kwargs)
            declared_read = _evaluate(bytes_read, "bytes_read", label, args, kwargs)
            declared_written = _evaluate(bytes_written, "bytes_written", label, args, kwargs)
            mode.opaque_depth += 1
            try:
                out = func(*args, **kwargs)
            finally:
                mode.opaque_depth -= 1
            if declared_total is not None:
                read, written = declared_total, 0.0
            elif declared_read is None and declared_written is None:
                read, written = _tensor_bytes((args, kwargs), False), _tensor_bytes(out, True)
            else:
                read, written = declared_read or 0.0, declared_written or 0.0
            call = PythonCall(func, tuple(args), dict(kwargs), declared_flops, read, written)
            mode.record_python_call(op_name, func, args, kwargs, out, call)
            return out

        wrapper.op_name = f"symbolic.{op_name}"  # type: ignore[attr-defined]
        return wrapper

    if fn is not None:
        return decorate(fn)
    return decorate
