"""Closed forms of a whole model in its batch and sequence sizes, evaluated over grids.

``closed_forms(model, inputs, dims)`` captures the model once with symbolic sizes
(roofline.capture.symbolic), counts every op with the same formulas as analyze
(roofline.count: they run on SymInts unchanged) and keeps each op's FLOPs, bytes,
weight bytes and GEMM dims as sympy expressions of the sizes. Identical ops (the same
op with the same forms: a model's repeated layers) become one group with a count.

``ClosedForms.evaluate(points)`` turns the forms into numbers for many points at once:
every form is compiled by sympy's lambdify into one numpy function, and the time model
is roofline.predict.time_terms, the same function predict_frame uses, on (groups x
points) arrays. ``covers(points)`` evaluates the capture's guards: the forms hold only
where they are all true; elsewhere the model must be captured again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from roofline.capture.symbolic import (
    SizeDim,
    SymbolicCapture,
    SymbolicUnavailable,
    symbolic_capture,
)
from roofline.count.categories import CATEGORIES, OTHER
from roofline.count.loops import gathered_elements, loop_shape, strided_elements
from roofline.count.registry import DEVICE_MEMORY, VECTOR, Cost, Unsupported, count
from roofline.dtypes import dtype_key
from roofline.efficiency import GEMM_COLUMNS, LOOP_COLUMNS, LOOP_KERNEL_COLUMN, ROW_COLUMNS, STRIDED_COLUMN, WINOGRAD_COLUMNS, GATHER_COLUMN
from roofline.efficiency.cpu_sdpa import ATTENTION_COLUMNS
from roofline.hardware import HardwareSpec
from roofline.predict import OpSizes, Tf32Policy, default_level, op_traits, time_terms

__all__ = ["FORM_COLUMNS", "TRAIT_COLUMNS", "ClosedForms", "GridTotals", "SizeDim", "SymbolicUnavailable", "closed_forms"]

#: Per group, the columns that do not depend on sizes (what op_traits reads).
TRAIT_COLUMNS = ("op", "category", "unit", "dtype", "traffic", "supported", LOOP_KERNEL_COLUMN)
#: Per group, the size-dependent counts kept as closed forms (FLOP; bytes; GEMM dims).
FORM_COLUMNS = ("flops", "bytes", "bytes_written", "param_bytes", *GEMM_COLUMNS, *ROW_COLUMNS, *WINOGRAD_COLUMNS,
                *LOOP_COLUMNS, *ATTENTION_COLUMNS, STRIDED_COLUMN, GATHER_COLUMN)


@dataclass(frozen=True)
class GridTotals:
    """Whole-model totals at each of P points on one spec (arrays of length P):
    predicted_s and kernel_s (s), flops (FLOP), bytes (B), and per category its
    predicted time (s)."""

    predicted_s: np.ndarray
    kernel_s: np.ndarray
    flops: np.ndarray
    bytes: np.ndarray
    category_s: dict[str, np.ndarray]


@dataclass
class ClosedForms:
    """One symbolic capture, counted: ``groups`` (one row per distinct op: TRAIT_COLUMNS,
    ``count`` and FORM_COLUMNS as sympy expressions), the size symbols by name, and the
    conditions (sympy relations) under which the forms hold. ops: all ops captured;
    unsupported_ops: those with no formula (counted as overhead only, as analyze does)."""

    groups: pd.DataFrame
    symbols: dict[str, Any]
    conditions: list[Any]
    hints: dict[str, int]
    ops: int
    unsupported_ops: int

    @functools.cached_property
    def _names(self) -> list[str]:
        return sorted(self.symbols)

    @functools.cached_property
    def _forms_fn(self) -> Any:
        forms = [form for column in FORM_COLUMNS for form in self.groups[column]]
        return _lambdify([self.symbols[n] for n in self._names], forms)

    @functools.cached_property
    def _conditions_fn(self) -> Any:
        return _lambdify([self.symbols[n] for n in self._names], self.conditions) if self.conditions else None

    def covers(self, points: dict[str, np.ndarray]) -> np.ndarray:
        """Per point (arrays of sizes by name), True where every condition holds."""
        n = len(next(iter(points.values())))
        if self._conditions_fn is None:
            return np.ones(n, dtype=bool)
        values = _call(self._conditions_fn, [np.asarray(points[k], dtype=float) for k in self._names])
        inside = np.ones(n, dtype=bool)
        for value in values:
            inside &= np.broadcast_to(np.asarray(value, dtype=bool), (n,))
        return inside

    def sizes(self, points: dict[str, np.ndarray]) -> OpSizes:
        """The groups' counts at every point: OpSizes of (groups, points) arrays."""
        n = len(next(iter(points.values())))
        values = _call(self._forms_fn, [np.asarray(points[k], dtype=float) for k in self._names])
        groups = len(self.groups)
        table = np.empty((len(FORM_COLUMNS) * groups, n))
        for row, value in enumerate(values):
            table[row] = value
        per_column = dict(zip(FORM_COLUMNS, table.reshape(len(FORM_COLUMNS), groups, n)))
        supported = self.groups["supported"].to_numpy(dtype=bool)[:, None]
        flops, nbytes, written, params = (np.where(supported, np.nan_to_num(per_column[c]), 0.0)
                                          for c in ("flops", "bytes", "bytes_written", "param_bytes"))
        gemm = tuple(per_column[c] for c in GEMM_COLUMNS)
        rows = tuple(per_column[c] for c in ROW_COLUMNS)
        winograd = tuple(per_column[c] for c in WINOGRAD_COLUMNS)
        loops = tuple(per_column[c] for c in LOOP_COLUMNS)
        attention = tuple(per_column[c] for c in ATTENTION_COLUMNS)
        return OpSizes(flops=flops, bytes=nbytes, bytes_written=written, param_bytes=params, gemm=gemm, rows=rows,
                       winograd=winograd, loops=loops, attention=attention, strided=per_column[STRIDED_COLUMN],
                       gathered=per_column[GATHER_COLUMN])

    def evaluate(self, points: dict[str, np.ndarray], hw: HardwareSpec, *, tf32: Tf32Policy,
                 resident_bytes: float, sizes: OpSizes | None = None) -> GridTotals:
        """Whole-model totals at every point on ``hw``, as analyze would predict them
        (sizes: this model's sizes(points), when already computed for another spec)."""
        sizes = sizes if sizes is not None else self.sizes(points)
        traits = op_traits(self.groups, hw, tf32)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = time_terms(sizes, traits, hw, default_level(hw), resident_bytes)
        counts = self.groups["count"].to_numpy(dtype=float)
        predicted = np.broadcast_to(terms.predicted_s, sizes.flops.shape)
        category = self.groups["category"].to_numpy()
        category_s = {c: (counts * (category == c)) @ predicted for c in CATEGORIES}
        return GridTotals(
            predicted_s=counts @ predicted,
            kernel_s=counts @ np.broadcast_to(terms.kernel_s, sizes.flops.shape),
            flops=counts @ sizes.flops,
            bytes=counts @ sizes.bytes,
            category_s=category_s,
        )


def _lambdify(symbols: list[Any], exprs: list[Any]) -> Any:
    """One numpy function of ``symbols`` returning every expression of ``exprs``.

    PyTorch's size functions (FloorDiv, Mod, CeilToInt, ...) and Min/Max become numpy
    calls; Min and Max are renamed first, since sympy prints them as numpy.amin over a
    tuple, which fails for a number beside an array."""
    import sympy

    renamed = [_numpy_ready(sympy.sympify(e)) for e in exprs]
    return sympy.lambdify(symbols, renamed, modules=[_NUMPY_FUNCTIONS, "numpy"], cse=True)


def _call(function: Any, arrays: list[np.ndarray]) -> Any:
    """A lambdified function on arrays; a form numpy cannot evaluate (a function of
    PyTorch's shape algebra with no numpy version here) is SymbolicUnavailable."""
    try:
        with np.errstate(all="ignore"):
            return function(*arrays)
    except (NameError, TypeError, ValueError) as exc:
        raise SymbolicUnavailable(f"a closed form cannot be evaluated with numpy: {type(exc).__name__}: {exc}") from exc


def _reduce(function: Any) -> Any:
    return lambda *args: functools.reduce(function, args)


#: numpy versions of the sympy functions PyTorch's shape expressions use.
_NUMPY_FUNCTIONS = {
    "minimum_": _reduce(np.minimum), "maximum_": _reduce(np.maximum),
    "FloorDiv": np.floor_divide, "CleanDiv": np.floor_divide, "IntTrueDiv": np.true_divide,
    "FloatTrueDiv": np.true_divide, "ModularIndexing": lambda x, d, m: np.mod(np.floor_divide(x, d), m),
    "Mod": np.mod, "PythonMod": np.mod, "CeilToInt": np.ceil, "FloorToInt": np.floor, "TruncToInt": np.trunc,
    "TruncToFloat": np.trunc, "ToFloat": lambda x: np.asarray(x, dtype=float), "Identity": lambda x: x,
    "RoundToInt": np.round, "OpaqueUnaryFn_log2": np.log2, "OpaqueUnaryFn_sqrt": np.sqrt,
}


def _numpy_ready(expr: Any) -> Any:
    """``expr`` with Min/Max (sympy's or PyTorch's) as plain functions lambdify calls."""
    import sympy

    minimum, maximum = sympy.Function("minimum_"), sympy.Function("maximum_")

    def rename(node: Any) -> Any:
        name = type(node).__name__
        if name == "Min":
            return minimum(*node.args)
        if name == "Max":
            return maximum(*node.args)
        return node

    if not isinstance(expr, sympy.Basic):
        return expr
    return expr.replace(lambda node: type(node).__name__ in ("Min", "Max"), rename)


def _cost_row(capture: SymbolicCapture, record: Any, cost: Cost | Unsupported, label: str) -> dict[str, Any]:
    """One op's traits and closed forms, as count_frame counts it."""
    import sympy

    row: dict[str, Any] = {"op": record.packet, "dtype": dtype_key(record.dtype) if record.dtype is not None else "fp32"}
    if not isinstance(cost, Cost):
        reason = getattr(cost, "reason", "unknown")
        if reason.startswith("formula failed"):
            raise SymbolicUnavailable(f"{label}: the formula of {record.op} cannot take symbolic sizes ({reason})")
        zero, nan = sympy.Integer(0), sympy.nan
        row.update(category=OTHER, unit=VECTOR, traffic=DEVICE_MEMORY, supported=False, flops=zero, bytes=zero, loop_kernel="",
                   bytes_written=zero, param_bytes=zero, **dict.fromkeys((*GEMM_COLUMNS, *ROW_COLUMNS, *WINOGRAD_COLUMNS, *LOOP_COLUMNS, *ATTENTION_COLUMNS, STRIDED_COLUMN, GATHER_COLUMN), nan))
        return row
    bytes_read, written = capture.expr(cost.bytes_read), capture.expr(cost.bytes_written)
    gemm = cost.gemm
    gemm_forms = ((capture.expr(v) for v in (gemm.batch, gemm.m, gemm.n, gemm.k)) if gemm is not None
                  else (sympy.nan,) * 4)
    row_forms = (capture.expr(cost.rows.rows), capture.expr(cost.rows.length)) if cost.rows is not None else (sympy.nan,) * 2
    winograd = cost.winograd
    winograd_forms = (tuple(capture.expr(v) for v in (winograd.n, winograd.p, winograd.q)) if winograd is not None
                      else (sympy.nan,) * 3)
    attention = cost.attention
    attention_forms = (tuple(capture.expr(v) for v in (attention.heads, attention.q_len, attention.kv_len,
                                                        attention.head_dim)) if attention is not None else (sympy.nan,) * 4)
    loop = loop_shape(record)
    loop_forms = (capture.expr(loop.loops), capture.expr(loop.inner)) if loop is not None else (sympy.nan,) * 2
    strided, gathered = strided_elements(record, loop), gathered_elements(record)
    row.update(category=cost.category, unit=cost.unit, traffic=cost.traffic, supported=True,
               loop_kernel=loop.kernel if loop is not None else "",
               flops=capture.expr(cost.flops), bytes=bytes_read + written, bytes_written=written,
               # a gather reads only some rows of a weight: never more than the op reads
               param_bytes=sympy.Min(record.param_bytes, bytes_read), **dict(zip(GEMM_COLUMNS, gemm_forms)),
               **dict(zip(ROW_COLUMNS, row_forms)), **dict(zip(WINOGRAD_COLUMNS, winograd_forms)),
               **dict(zip(LOOP_COLUMNS, loop_forms)), **dict(zip(ATTENTION_COLUMNS, attention_forms)),
               **{column: capture.expr(n) if n is not None else sympy.nan
                  for column, n in ((STRIDED_COLUMN, strided), (GATHER_COLUMN, gathered))})
    for column in FORM_COLUMNS:
        unknown = capture.free(row[column])
        if unknown:
            raise SymbolicUnavailable(f"{label}: {record.op} has sizes that are not the symbolic ones "
                                      f"({', '.join(map(str, unknown))}: data-dependent, or made inside the model)")
    return row


def closed_forms(model: Any, inputs: Any, dims: list[SizeDim], *, grad: bool = False, label: str = "model") -> ClosedForms:
    """Capture ``model(*inputs)`` once with the input dimensions ``dims`` symbolic, count
    it, and group identical ops (see the module docstring). Raises SymbolicUnavailable
    when that cannot be done (the message says why)."""
    capture = symbolic_capture(model, inputs, dims, grad=grad, label=label)
    keys = [*TRAIT_COLUMNS, *FORM_COLUMNS]
    counts: dict[tuple, int] = {}  # sympy expressions hash and compare by structure (nan included)
    unsupported = 0
    rows: dict[tuple, dict[str, Any]] = {}  # a replayed layer's records share their original's objects
    for record in capture.records:
        same = (record.op, id(record.args), id(record.kwargs), id(record.inputs), id(record.outputs))
        row = rows.get(same)
        if row is None:
            row = rows[same] = _cost_row(capture, record, count(record), label)
        key = tuple(row[k] for k in keys)
        counts[key] = counts.get(key, 0) + 1
        unsupported += not row["supported"]
    groups = pd.DataFrame(list(counts), columns=keys)
    groups["count"] = list(counts.values())
    return ClosedForms(groups=groups, symbols=dict(capture.symbols), conditions=capture.conditions(),
                       hints=capture.hints, ops=len(capture.records), unsupported_ops=unsupported)
