"""Helpers shared by the formula families. They accept ints and sympy symbols alike."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from roofline.capture import OpRecord, TensorInfo


def is_symbolic(*values: Any) -> bool:
    """True when any value is a sympy expression (a closed form, not a count)."""
    return any(hasattr(v, "free_symbols") for v in values)


#: PyTorch's symbolic numbers (a capture with symbolic sizes counts on them).
_SYM_NUMBERS = (torch.SymInt, torch.SymFloat)


def smin(a: Any, b: Any) -> Any:
    """min() that also works on sympy expressions, and on PyTorch's symbolic sizes
    without deciding which is smaller (no guard: the capture's closed form keeps the Min)."""
    if is_symbolic(a, b):
        import sympy

        return sympy.Min(a, b)
    if isinstance(a, _SYM_NUMBERS) or isinstance(b, _SYM_NUMBERS):
        return torch.sym_min(a, b)
    return min(a, b)


def floor_div(a: Any, b: Any) -> Any:
    """floor(a / b) for ints or sympy expressions."""
    if is_symbolic(a, b):
        import sympy

        return sympy.floor(a / b)
    return a // b


def exact_div(a: Any, b: Any) -> Any:
    """a / b where b divides a (channels per group): an int, or a sympy quotient."""
    return a / b if is_symbolic(a, b) else a // b


def gcd(a: Any, b: Any) -> Any:
    """Greatest common divisor of ints; of sympy expressions, sympy's polynomial gcd
    (exact when one is a multiple of the other, as 2*n and n; 1 for unrelated symbols)."""
    if is_symbolic(a, b):
        import sympy

        return sympy.gcd(a, b)
    return math.gcd(a, b)


def log2(x: Any) -> Any:
    """log2(x) for numbers or sympy expressions."""
    if is_symbolic(x):
        import sympy

        return sympy.log(x, 2)
    return math.log2(x)


def prod(values: Iterable[Any]) -> Any:
    result: Any = 1
    for v in values:
        result = result * v
    return result


def distinct_bytes(t: TensorInfo) -> int:
    """Bytes of the distinct elements a tensor holds, each counted once.

    Strided: the elements its strides reach. A broadcast (stride-0) dim adds none (an
    expanded column reads as a column), and overlapping windows (unfold, as_strided)
    reach at most the span from the first element to the last. Sparse: its nnz values
    and their indices.
    """
    if t.layout != "strided" or t.stride is None:
        return t.footprint_bytes
    if t.numel == 0:
        return 0
    reached = math.prod(size for size, stride in zip(t.shape, t.stride) if stride != 0)
    span = 1 + sum((size - 1) * abs(stride) for size, stride in zip(t.shape, t.stride))
    return min(reached, span) * t.itemsize


#: Names of each op's out= arguments (cached per OpOverload).
_OUT_ARGUMENTS: dict[Any, frozenset[str]] = {}


def _out_argument_names(func: Any) -> frozenset[str]:
    names = _OUT_ARGUMENTS.get(func)
    if names is None:
        arguments = getattr(getattr(func, "_schema", None), "arguments", ())
        names = _OUT_ARGUMENTS[func] = frozenset(a.name for a in arguments if a.is_out)
    return names


def tensors_in(value: Any) -> list[TensorInfo]:
    """The tensors in an argument: itself, or those of a (nested) list or tuple."""
    if isinstance(value, TensorInfo):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in tensors_in(item)]
    return []


def inputs_read(record: OpRecord) -> tuple[TensorInfo, ...]:
    """The distinct input tensors the op reads: every input but its out= tensors, which
    it only writes (unless one is passed as an operand too: ``add(a, b, out=a)``)."""
    out_names = _out_argument_names(record.func)
    if not out_names:
        return record.inputs
    named = record.named_args()
    outs = {id(t) for name in out_names for t in tensors_in(named.get(name))}
    operands = {id(t) for name, value in named.items() if name not in out_names for t in tensors_in(value)}
    return tuple(t for t in record.inputs if id(t) not in outs or id(t) in operands)


def read_bytes(record: OpRecord) -> int:
    """Compulsory read traffic: each input tensor's distinct elements once (out=
    tensors are outputs only)."""
    return sum(distinct_bytes(t) for t in inputs_read(record))


def written_bytes(record: OpRecord) -> int:
    """Compulsory write traffic: each output tensor once (a sparse output: its nnz
    values and indices, not its dense size)."""
    return sum(t.nbytes if t.layout == "strided" else distinct_bytes(t) for t in record.outputs)


def compulsory_bytes(record: OpRecord) -> tuple[int, int]:
    """(bytes_read, bytes_written) of an op by its tensors alone, whatever it computes:
    the default traffic of every formula, and an estimate for an op with none."""
    return read_bytes(record), written_bytes(record)


def stored_elements(t: TensorInfo) -> int:
    """Elements a kernel touches: numel for a dense tensor, nnz for a sparse one."""
    if t.layout == "strided":
        return t.numel
    return t.nnz or 0


def out_numel(record: OpRecord) -> int:
    """Elements of the first output (nnz when it is sparse)."""
    return stored_elements(record.outputs[0]) if record.outputs else 0


def as_int_list(value: Any, ndim: int, default: int) -> list[int]:
    """Normalise a conv/pool size argument (int, list or None) to ``ndim`` ints."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return [default] * ndim
    if isinstance(value, int):
        return [value] * ndim
    values = [int(v) for v in value]
    if len(values) == 1:
        return values * ndim
    return values


def numel(shape: Iterable[int]) -> int:
    return math.prod(shape)
