"""Closed forms of op costs, and where an op or a model crosses a spec's ridge point.

``formula(op, **sizes)`` evaluates the same formula functions the counter uses
(roofline.count.formulas.*) on sympy symbols: every size left out becomes a positive integer
symbol named after it, every size given as a number stays a number, a string is parsed
as an expression ("B*T")::

    f = roofline.formula("mm", n=4096, k=4096, dtype="bf16")
    f.flops        # 33554432*m
    f.intensity    # 33554432*m/(16384*m + 33554432)  (FLOP/byte)
    f.at(m=512)    # {"flops": ..., "bytes": ..., "intensity": ...} as floats

``crossover(target, hw, var="batch", dtype=..., level=...)`` solves for the value of
``var`` at which the intensity reaches the spec's ridge point peak/bandwidth (the op
turns compute bound). ``target`` is an op name of FORMULAS (solved on its closed form),
a ClosedForm, or a model: a build function ``build(batch=..., **options) -> (model,
inputs)`` or a zoo/file target name, counted on meta tensors at growing sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from roofline._io import progress as progress_bar
from roofline.count.registry import MATRIX, VECTOR
from roofline.errors import RooflineError

if TYPE_CHECKING:  # sympy is imported where used: it costs a second at `import roofline`
    import sympy

#: Bytes per element of the dtype keys a closed form accepts.
ITEMSIZE = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}


@dataclass(frozen=True)
class ClosedForm:
    """FLOPs and bytes of one op as sympy expressions of its sizes.

    symbols: the free sizes by parameter name. params: every parameter as used (numbers
    or expressions). flops in FLOP, bytes in bytes, intensity in FLOP/byte.
    """

    op: str
    flops: Any
    bytes_read: Any
    bytes_written: Any
    symbols: dict[str, sympy.Symbol] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes(self) -> Any:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> Any:
        """FLOP per byte."""
        return self.flops / self.bytes

    def subs(self, **values: Any) -> "ClosedForm":
        """The same closed form with some sizes fixed."""
        import sympy

        mapping = {self.symbols[name]: value for name, value in values.items() if name in self.symbols}
        unknown = sorted(set(values) - set(self.symbols))
        if unknown:
            raise RooflineError(f"formula {self.op!r}: no free size(s) {unknown}; free: {sorted(self.symbols)}")
        return ClosedForm(
            self.op,
            sympy.sympify(self.flops).subs(mapping),
            sympy.sympify(self.bytes_read).subs(mapping),
            sympy.sympify(self.bytes_written).subs(mapping),
            {k: v for k, v in self.symbols.items() if k not in values},
            {**self.params, **values},
        )

    def at(self, **values: Any) -> dict[str, float]:
        """Numbers for given sizes: {"flops", "bytes_read", "bytes_written", "bytes", "intensity"}."""
        import sympy

        fixed = self.subs(**values)
        left = sorted(fixed.symbols)
        if left:
            raise RooflineError(f"formula {self.op!r}: no value for size(s) {left}")
        flops = float(sympy.sympify(fixed.flops))
        bytes_read = float(sympy.sympify(fixed.bytes_read))
        bytes_written = float(sympy.sympify(fixed.bytes_written))
        total = bytes_read + bytes_written
        return {
            "flops": flops,
            "bytes_read": bytes_read,
            "bytes_written": bytes_written,
            "bytes": total,
            "intensity": flops / total if total else math.nan,
        }


# --------------------------------------------------------------------------- op table


def _mm(p: dict) -> tuple:
    from roofline.count.formulas.matmul import gemm_bytes, gemm_flops

    read, written = gemm_bytes(p["m"], p["n"], p["k"], 1, p["itemsize"])
    return gemm_flops(p["m"], p["n"], p["k"]), read, written


def _bmm(p: dict) -> tuple:
    from roofline.count.formulas.matmul import gemm_bytes, gemm_flops

    read, written = gemm_bytes(p["m"], p["n"], p["k"], p["batch"], p["itemsize"])
    return gemm_flops(p["m"], p["n"], p["k"], p["batch"]), read, written


def _linear(p: dict) -> tuple:
    from roofline.count.formulas.matmul import gemm_bytes, gemm_flops

    bias = bool(p["bias"])
    m, n, k = p["batch"], p["out_features"], p["in_features"]
    read, written = gemm_bytes(m, n, k, 1, p["itemsize"], bias_elems=n if bias else 0)
    return gemm_flops(m, n, k, 1, accumulate=bias), read, written


def _conv_params(p: dict, ndim: int) -> tuple:
    """kernel, stride, padding, dilation as ``ndim`` values each (a single value repeats)."""

    def dims(name: str) -> list:
        value = p[name]
        if isinstance(value, (list, tuple)):
            return list(value) * ndim if len(value) == 1 else list(value)
        return [value] * ndim

    return dims("kernel"), dims("stride"), dims("padding"), dims("dilation")


def _conv(ndim: int) -> Callable[[dict], tuple]:
    def build(p: dict) -> tuple:
        from roofline.count.formulas.conv import conv_bytes, conv_flops, conv_output_size

        kernel, stride, padding, dilation = _conv_params(p, ndim)
        if len(kernel) != ndim:
            raise RooflineError(f"formula conv{ndim}d: kernel needs {ndim} sizes, got {p['kernel']!r}")
        names = ("h", "w") if ndim == 2 else ("length",) if ndim == 1 else ("d", "h", "w")
        in_spatial = [p[name] for name in names]
        out_spatial = [conv_output_size(s, k, st, pd, dl) for s, k, st, pd, dl in zip(in_spatial, kernel, stride, padding, dilation)]
        bias = bool(p["bias"])
        flops = conv_flops(p["batch"], p["c_in"], p["c_out"], kernel, out_spatial, p["groups"], bias)
        read, written = conv_bytes(
            p["batch"], p["c_in"], p["c_out"], kernel, in_spatial, out_spatial, p["groups"], p["itemsize"], bias, im2col=bool(p["im2col"])
        )
        return flops, read, written

    return build


def _attention(p: dict) -> tuple:
    from roofline.count.formulas.attention import attention_bytes, attention_flops

    kv_len = p["q_len"] if p["kv_len"] is None else p["kv_len"]
    kv_heads = p["heads"] if p["kv_heads"] is None else p["kv_heads"]
    flops = attention_flops(p["batch"], p["heads"], p["q_len"], kv_len, p["head_dim"], causal=bool(p["causal"]))
    read, written = attention_bytes(
        p["batch"], p["heads"], kv_heads, p["q_len"], kv_len, p["head_dim"], itemsize=p["itemsize"], lse_itemsize=p["lse_itemsize"]
    )
    return flops, read, written


def _embedding_bag(p: dict) -> tuple:
    from roofline.count.formulas.embedding import embedding_bag_bytes, embedding_bag_flops

    lookups = p["batch"] * p["bag_size"]
    weighted = bool(p["per_sample_weights"])
    read, written = embedding_bag_bytes(p["batch"], lookups, p["dim"], p["itemsize"], p["mode"], weighted)
    return embedding_bag_flops(lookups, p["dim"], weighted), read, written


def _pointwise(p: dict) -> tuple:
    from roofline.count.formulas.pointwise import pointwise_bytes, pointwise_flops

    read, written = pointwise_bytes(p["elements"], p["n_inputs"], p["itemsize"])
    return pointwise_flops(p["elements"], p["flops_per_element"]), read, written


def _softmax(p: dict) -> tuple:
    from roofline.count.formulas.reduction import softmax_bytes, softmax_flops

    elements = p["rows"] * p["cols"]
    read, written = softmax_bytes(elements, p["itemsize"])
    return softmax_flops(elements), read, written


def _layer_norm(p: dict) -> tuple:
    from roofline.count.formulas.reduction import layer_norm_bytes, norm_flops

    read, written = layer_norm_bytes(p["rows"], p["cols"], p["itemsize"], bool(p["affine"]))
    return norm_flops(p["rows"] * p["cols"], "layer_norm"), read, written


def _spmm(p: dict) -> tuple:
    import sympy

    from roofline.count.formulas.sparse import spmm_bytes, spmm_flops

    nnz = p["nnz"]
    if nnz is None:
        nnz = p["density"] * p["m"] * p["k"] if p["density"] is not None else sympy.Symbol("nnz", positive=True, integer=True)
    accumulate = bool(p["accumulate"])
    layout = {"coo": "sparse_coo", "csr": "sparse_csr"}.get(p["layout"], p["layout"])
    read, written = spmm_bytes(nnz, p["m"], p["k"], p["n"], p["itemsize"], layout, accumulate)
    return spmm_flops(nnz, p["n"], p["m"] * p["n"] if accumulate else 0), read, written


def _rule_step(p: dict) -> tuple:
    from roofline.count.formulas.symbolic import parse_equation, rule_step_bytes, rule_step_flops

    inputs, _ = parse_equation(p["equation"])
    letters = sorted(set("".join(inputs)))
    sizes = {ch: p["sizes"].get(ch, p["entities"]) if p["sizes"] else p["entities"] for ch in letters}
    read, written = rule_step_bytes(p["equation"], sizes, p["itemsize"])
    return rule_step_flops(p["equation"], sizes), read, written


_SYMBOL = object()  # default: a free symbol named after the parameter

#: op name -> (builder, parameters with defaults). _SYMBOL parameters become symbols.
FORMULAS: dict[str, tuple[Callable[[dict], tuple], dict[str, Any]]] = {
    "mm": (_mm, {"m": _SYMBOL, "n": _SYMBOL, "k": _SYMBOL}),
    "bmm": (_bmm, {"batch": _SYMBOL, "m": _SYMBOL, "n": _SYMBOL, "k": _SYMBOL}),
    "linear": (_linear, {"batch": _SYMBOL, "in_features": _SYMBOL, "out_features": _SYMBOL, "bias": True}),
    "conv1d": (_conv(1), {"batch": _SYMBOL, "c_in": _SYMBOL, "c_out": _SYMBOL, "length": _SYMBOL,
                          "kernel": 3, "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": False, "im2col": False}),
    "conv2d": (_conv(2), {"batch": _SYMBOL, "c_in": _SYMBOL, "c_out": _SYMBOL, "h": _SYMBOL, "w": _SYMBOL,
                          "kernel": 3, "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": False, "im2col": False}),
    "conv3d": (_conv(3), {"batch": _SYMBOL, "c_in": _SYMBOL, "c_out": _SYMBOL, "d": _SYMBOL, "h": _SYMBOL, "w": _SYMBOL,
                          "kernel": 3, "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": False, "im2col": False}),
    "attention": (_attention, {"batch": _SYMBOL, "heads": _SYMBOL, "q_len": _SYMBOL, "kv_len": None, "head_dim": _SYMBOL,
                               "kv_heads": None, "causal": False, "lse_itemsize": 4}),
    "embedding_bag": (_embedding_bag, {"batch": _SYMBOL, "bag_size": _SYMBOL, "dim": _SYMBOL, "mode": "sum",
                                       "per_sample_weights": False}),
    "pointwise": (_pointwise, {"elements": _SYMBOL, "n_inputs": 1, "flops_per_element": 1}),
    "softmax": (_softmax, {"rows": _SYMBOL, "cols": _SYMBOL}),
    "layer_norm": (_layer_norm, {"rows": _SYMBOL, "cols": _SYMBOL, "affine": True}),
    "spmm": (_spmm, {"m": _SYMBOL, "k": _SYMBOL, "n": _SYMBOL, "nnz": None, "density": None, "layout": "csr", "accumulate": False}),
    "rule_step": (_rule_step, {"equation": "xy,yz->xz", "entities": _SYMBOL, "sizes": None}),
}

#: Other names accepted for the ops above.
ALIASES = {
    "matmul": "mm",
    "gemm": "mm",
    "addmm": "linear",
    "conv": "conv2d",
    "sdpa": "attention",
    "scaled_dot_product_attention": "attention",
    "embeddingbag": "embedding_bag",
    "elementwise": "pointwise",
    "layernorm": "layer_norm",
    "sparse_mm": "spmm",
    "spmv": "spmm",
    "rule": "rule_step",
}

#: Ops whose FLOPs run on matrix units (crossover picks the matrix ridge for them).
MATRIX_OPS = frozenset({"mm", "bmm", "linear", "conv1d", "conv2d", "conv3d", "attention"})


def _canonical(op: str) -> str:
    key = op.lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in FORMULAS:
        raise RooflineError(f"no closed form for op {op!r}; known: {', '.join(sorted(FORMULAS))}")
    return key


def formula(op: str, dtype: str = "fp32", **sizes: Any) -> ClosedForm:
    """The closed form of ``op``'s FLOPs, bytes and intensity (see the module docstring).

    op: a key of FORMULAS (or an ALIASES name). dtype: a key of ITEMSIZE, giving the
    bytes per element. sizes: the op's parameters (FORMULAS[op][1] lists them with their
    defaults); a number fixes one, a string or sympy expression makes it an expression,
    a left-out size becomes a positive integer symbol of its name.
    """
    import sympy

    key = _canonical(op)
    build, defaults = FORMULAS[key]
    unknown = sorted(set(sizes) - set(defaults))
    if unknown:
        raise RooflineError(f"formula {key!r}: unknown size(s) {unknown}; it takes {', '.join(defaults)}")
    if dtype not in ITEMSIZE:
        raise RooflineError(f"formula {key!r}: unknown dtype {dtype!r}; expected one of {', '.join(ITEMSIZE)}")
    symbols: dict[str, sympy.Symbol] = {}
    params: dict[str, Any] = {}
    for name, default in defaults.items():
        value = sizes.get(name, default)
        if value is _SYMBOL:
            value = symbols[name] = sympy.Symbol(name, positive=True, integer=True)
        elif isinstance(value, str) and name not in ("mode", "layout", "equation"):
            value = sympy.sympify(value, locals={s: sympy.Symbol(s, positive=True, integer=True) for s in _names_in(value)})
            symbols.update({str(s): s for s in value.free_symbols})
        elif hasattr(value, "free_symbols"):
            symbols.update({str(s): s for s in value.free_symbols})
        params[name] = value
    params["itemsize"] = ITEMSIZE[dtype]
    if key == "rule_step" and params["sizes"] is not None:
        params["sizes"] = dict(params["sizes"])
    if key == "spmm" and params["nnz"] is None and params["density"] is None:
        symbols["nnz"] = sympy.Symbol("nnz", positive=True, integer=True)
        params["nnz"] = symbols["nnz"]
    flops, bytes_read, bytes_written = (sympy.sympify(v) for v in build(params))
    params.pop("itemsize")
    used = flops.free_symbols | bytes_read.free_symbols | bytes_written.free_symbols
    symbols = {name: s for name, s in symbols.items() if s in used}  # e.g. entities when sizes covers all
    return ClosedForm(key, flops, bytes_read, bytes_written, symbols, {"dtype": dtype, **params})


def _names_in(text: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)


# --------------------------------------------------------------------------- crossover


def ridge_intensity(hw: Any, dtype: str = "bf16", level: str = "dram", unit: str = MATRIX) -> float:
    """Peak FLOP/s over bandwidth (FLOP/byte) of ``hw`` for a dtype, unit and memory level."""
    from roofline.hardware import load_hardware

    spec = load_hardware(hw)
    try:
        bandwidth = spec.level(level).bandwidth
    except KeyError as exc:
        raise RooflineError(str(exc.args[0])) from None
    try:
        peak = spec.peak_flops(dtype, unit)
    except ValueError as exc:
        raise RooflineError(f"{spec.name}: {exc}") from None
    return peak / bandwidth


def crossover(
    target: Any,
    hw: Any = "h100-sxm",
    *,
    var: str = "batch",
    dtype: str = "bf16",
    level: str = "dram",
    unit: str | None = None,
    max_value: float | None = None,
    progress: bool = False,
    **fixed: Any,
) -> float | int | None:
    """Where ``target``'s intensity reaches the ridge point of ``hw`` (FLOP/byte).

    target: an op name (FORMULAS or ALIASES), a ClosedForm, or a model (a build
    function ``build(**{var: value}, **fixed) -> (model, inputs)``, or a zoo/file target
    name). var: the size to solve for ("batch", "q_len", "m", "seq_len", ...); every
    other size of an op comes from ``fixed`` or its default. dtype, level, unit: which
    ridge point (peak of ``unit`` units in ``dtype`` over ``level`` bandwidth); unit
    defaults to "matrix" for matmul, conv and attention ops and models, else "vector".

    Returns, for an op, the real value of ``var`` at which intensity first reaches the
    ridge (0.0 if it is at or above the ridge at every positive size), and for a model
    the smallest integer value (counted on meta tensors, doubling then bisecting, which
    assumes intensity grows with ``var``). None when the ridge is never reached (up to
    ``max_value``: default 2**60 for ops, 2**16 for models).
    """
    if isinstance(target, ClosedForm) or (isinstance(target, str) and _is_formula(target)):
        closed = target if isinstance(target, ClosedForm) else formula(target, dtype=dtype, **fixed)
        if isinstance(target, ClosedForm) and fixed:
            closed = closed.subs(**fixed)
        op_unit = unit or (MATRIX if closed.op in MATRIX_OPS else VECTOR)
        ridge = ridge_intensity(hw, dtype, level, op_unit)
        return _solve_crossing(closed, var, ridge, max_value if max_value is not None else 2.0**60)
    ridge = ridge_intensity(hw, dtype, level, unit or MATRIX)
    return _model_crossing(target, var, ridge, hw, dtype, int(max_value or 2**16), fixed, progress)


def _is_formula(name: str) -> bool:
    key = name.lower().replace("-", "_")
    return ALIASES.get(key, key) in FORMULAS


def _evaluator(expr: Any, symbol: sympy.Symbol) -> Callable[[float], float]:
    """A fast float function of ``symbol`` (lambdify), falling back to subs()."""
    import sympy

    try:
        fn = sympy.lambdify(symbol, expr, modules=["math", {"Max": max, "Min": min, "ceiling": math.ceil, "floor": math.floor}])
        fn(1.0)
        return lambda x: float(fn(x))
    except Exception:  # an expression lambdify cannot print: slower but exact
        return lambda x: float(expr.subs(symbol, x))


def _solve_crossing(closed: ClosedForm, var: str, ridge: float, max_value: float) -> float | None:
    if var not in closed.symbols:
        raise RooflineError(
            f"crossover: {closed.op!r} has no free size {var!r}; free sizes: {', '.join(sorted(closed.symbols)) or 'none'}"
        )
    others = sorted(set(closed.symbols) - {var})
    if others:
        raise RooflineError(f"crossover: give values for {', '.join(others)} (only {var!r} may stay free)")
    symbol = closed.symbols[var]
    gap = _evaluator(closed.intensity - ridge, symbol)
    # Bracket the first upward crossing on a doubling grid, then bisect.
    low = 2.0**-30
    if gap(low) >= 0:
        return 0.0
    x = low
    while x < max_value:
        nxt = min(x * 2, max_value)
        if gap(nxt) >= 0:
            lo, hi = x, nxt
            for _ in range(200):
                mid = (lo + hi) / 2
                if gap(mid) >= 0:
                    hi = mid
                else:
                    lo = mid
                if hi - lo <= 1e-12 * hi:
                    break
            return hi
        x = nxt
    return None


def _model_crossing(target: Any, var: str, ridge: float, hw: Any, dtype: str, max_value: int, fixed: dict, progress: bool) -> int | None:
    from roofline.analysis import analyze

    if isinstance(target, str):
        from roofline.targets import resolve_builder

        builder, label = resolve_builder(target)
    elif callable(target):
        builder, label = target, getattr(target, "__name__", "model")
    else:
        raise RooflineError(f"crossover: target must be an op name, a ClosedForm or a build function, got {type(target).__name__}")

    cache: dict[int, float] = {}

    def intensity(value: int) -> float:
        if value not in cache:
            import torch

            try:
                with torch.device("meta"):
                    model, inputs = builder(**{var: value}, **fixed)
            except TypeError as exc:
                raise RooflineError(f"crossover: {label} cannot be built with {var}={value}: {exc}") from exc
            result = analyze(model, inputs, hw=hw, dtype=dtype, meta=True, name=label)
            cache[value] = result.intensity
        return cache[value]

    with progress_bar(progress, "crossover", None) as advance:
        advance(0, label)
        value = 1
        below = 0
        while value <= max_value:
            if intensity(value) >= ridge:
                break
            below = value
            value *= 2
        else:
            return None
        lo, hi = below, value  # intensity(lo) < ridge <= intensity(hi) (lo = 0: none tried)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if intensity(mid) >= ridge:
                hi = mid
            else:
                lo = mid
        return hi
