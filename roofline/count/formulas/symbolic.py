"""Symbolic work: rule steps of the forward-chaining engine in roofline.count.python_ops, and
plain-Python functions recorded as one op by ``roofline.symbolic_op``.

A rule ``head(x, z) :- r(x, y), s(y, z)`` over relations stored as 0/1 tensors is a
join, an einsum ("xy,yz->xz"), followed by an OR into the head relation. The engine
evaluates the join as a left-to-right chain of pairwise steps (``plan_join``), the same
way torch.einsum lowers two operands, so these formulas match the aten ops it runs:

- "sum": an index that appears in one operand only and is needed neither later nor in
  the head is summed out first (existential projection): one add per element read;
- "contract": a pair sharing an index that is summed away is a batched matmul:
  2 FLOPs per point of the pair's whole index space (sizes of every index multiplied);
- "multiply": a pair with nothing to sum is an element-wise (broadcast) product: one
  FLOP per output element;
- "view": a single operand only reordered is a permute: no work.

The OR is ``maximum(head, clamp(join, max=1))``: two FLOPs per head element. Bytes are
compulsory per step (operands read once, result written once), as the op formulas count
them. A symbolic_op record costs what its user declared (category Other).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roofline.capture import OpRecord
from roofline.count.categories import OTHER
from roofline.count.formulas._common import prod
from roofline.count.registry import VECTOR, Cost

#: FLOPs per head element of the OR that merges a join into its head relation
#: (clamp the join's counts to 1, then maximum with the head).
OR_FLOPS_PER_ELEMENT = 2


@dataclass(frozen=True)
class JoinStep:
    """One step of a join plan: ``kind`` over operands with index strings ``inputs``,
    giving a result indexed by ``output``. Operand names: "0", "1", ... are the rule's
    bodies in order, "t<i>" the result of step i."""

    kind: str  # "sum" | "contract" | "multiply" | "view"
    operands: tuple[str, ...]
    inputs: tuple[str, ...]
    output: str

    @property
    def equation(self) -> str:
        return ",".join(self.inputs) + "->" + self.output


def parse_equation(equation: str) -> tuple[list[str], str]:
    """("xy,yz->xz") -> (["xy", "yz"], "xz"). Single-letter indices, no ellipsis."""
    if "->" not in equation:
        raise ValueError(f"einsum equation {equation!r} needs an explicit '->' output")
    lhs, output = equation.replace(" ", "").split("->")
    inputs = lhs.split(",")
    for term in inputs + [output]:
        if not all(ch.isalpha() for ch in term):
            raise ValueError(f"einsum equation {equation!r}: indices must be letters, got {term!r}")
    missing = set(output) - set("".join(inputs))
    if missing:
        raise ValueError(f"einsum equation {equation!r}: output indices {sorted(missing)} appear in no input")
    return inputs, output


def _ordered(indices: set[str], *orders: str) -> str:
    """``indices`` in the order they first appear in ``orders``."""
    seen: list[str] = []
    for order in orders:
        for ch in order:
            if ch in indices and ch not in seen:
                seen.append(ch)
    return "".join(seen)


def plan_join(equation: str) -> list[JoinStep]:
    """The pairwise evaluation of ``equation`` (see the module docstring)."""
    inputs, output = parse_equation(equation)
    steps: list[JoinStep] = []

    def reduce_alone(name: str, term: str, needed: set[str]) -> tuple[str, str]:
        alone = set(term) - needed
        if not alone:
            return name, term
        kept = _ordered(set(term) - alone, term)
        steps.append(JoinStep("sum", (name,), (term,), kept))
        return f"t{len(steps) - 1}", kept

    if len(inputs) == 1:
        term = inputs[0]
        if set(term) - set(output):
            steps.append(JoinStep("sum", ("0",), (term,), output))
        else:
            steps.append(JoinStep("view", ("0",), (term,), output))
        return steps

    acc_name, acc = "0", inputs[0]
    for i in range(1, len(inputs)):
        later = set("".join(inputs[i + 1 :])) | set(output)
        right_name, right = str(i), inputs[i]
        acc_name, acc = reduce_alone(acc_name, acc, later | set(right))
        right_name, right = reduce_alone(right_name, right, later | set(acc))
        union = set(acc) | set(right)
        keep = union & later
        last = i == len(inputs) - 1
        out = output if last else _ordered(keep, acc, right)
        kind = "contract" if union - keep else "multiply"
        steps.append(JoinStep(kind, (acc_name, right_name), (acc, right), out))
        acc_name, acc = f"t{len(steps) - 1}", out
    return steps


def _volume(term: str, sizes: Mapping[str, Any]) -> Any:
    return prod(sizes[ch] for ch in term)


def join_step_flops(step: JoinStep, sizes: Mapping[str, Any]) -> Any:
    """FLOPs of one join step with index sizes ``sizes`` ({"x": 100, ...})."""
    if step.kind == "view":
        return 0
    if step.kind == "sum":
        return _volume(step.inputs[0], sizes)
    union = _ordered(set("".join(step.inputs)), *step.inputs)
    if step.kind == "contract":
        return 2 * _volume(union, sizes)
    return _volume(step.output, sizes)


def join_step_bytes(step: JoinStep, sizes: Mapping[str, Any], itemsize: Any = 4) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of one join step."""
    if step.kind == "view":
        return 0, 0
    bytes_read = sum(_volume(term, sizes) for term in step.inputs) * itemsize
    return bytes_read, _volume(step.output, sizes) * itemsize


def join_flops(equation: str, sizes: Mapping[str, Any]) -> Any:
    """FLOPs of evaluating a rule body ``equation`` as plan_join does."""
    return sum((join_step_flops(step, sizes) for step in plan_join(equation)), 0)


def rule_step_flops(equation: str, sizes: Mapping[str, Any]) -> Any:
    """FLOPs of one application of a rule: the join plus the OR into the head."""
    _, head = parse_equation(equation)
    return join_flops(equation, sizes) + OR_FLOPS_PER_ELEMENT * _volume(head, sizes)


def rule_step_bytes(equation: str, sizes: Mapping[str, Any], itemsize: Any = 4) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of one rule application: each join step,
    then clamp (read and write the join) and maximum (read head and join, write head)."""
    _, head = parse_equation(equation)
    bytes_read: Any = 0
    bytes_written: Any = 0
    for step in plan_join(equation):
        r, w = join_step_bytes(step, sizes, itemsize)
        bytes_read, bytes_written = bytes_read + r, bytes_written + w
    head_bytes = _volume(head, sizes) * itemsize
    return bytes_read + 3 * head_bytes, bytes_written + 2 * head_bytes


def python_call_cost(record: OpRecord) -> Cost:
    """The cost a ``roofline.symbolic_op`` user declared for one call (category Other)."""
    call = record.python_call
    if call is None:
        raise ValueError(f"{record.op}: no declared cost (not recorded by roofline.symbolic_op)")
    return Cost(call.flops, call.bytes_read, call.bytes_written, OTHER, unit=VECTOR)
