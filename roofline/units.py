"""Physical quantities written the way datasheets write them, parsed to SI base units.

    parse_quantity("989 TFLOP/s", "flops", where="peak_flops.matrix.bf16")  -> 9.89e14
    parse_quantity("3.35 TB/s", "bandwidth", where="memory.dram.bandwidth")  -> 3.35e12
    parse_quantity("400 Gb/s", "bandwidth", where="links.peer")              -> 5e10 (bits / 8)
    parse_quantity("256 KiB", "bytes", where="memory.l1.capacity")            -> 262144.0
    parse_quantity("4 us", "time", where="overhead.per_op")                   -> 4e-6

Kinds and the units each accepts (the unit part is matched after an optional prefix):

    flops      FLOP/s, FLOPS, OP/s, OPS (any letter case)        -> FLOP/s
    bandwidth  B/s, Bps (bytes); b/s, bps, bit/s (bits, / 8)     -> byte/s
    bytes      B, byte, bytes                                    -> byte
    time       s with n, u, µ, m (or no) prefix                  -> s

Prefixes are decimal (k or K = 1e3, M, G, T, P, E), as in DESIGN.md: "1 TB/s" is 1e12 B/s.
Byte quantities may use binary prefixes only when written with the i (KiB, MiB, GiB, TiB,
PiB, EiB, and the same over /s). A plain number (int, float, or a string such as "67e12")
is taken to be in base units already.

Rejected with a ValueError whose message starts with `where` and says what was expected:
bools, None and other non-numbers, negative or zero values, NaN and infinities, unknown
units, and units of another kind ("3 TB/s" where a FLOP rate is expected).
"""

from __future__ import annotations

import json

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["KINDS", "parse_quantity", "format_quantity", "si", "format_seconds", "time_scale"]

# What each kind is called in messages, and an example of a well-written value.
KINDS: dict[str, tuple[str, str]] = {
    "flops": ("a FLOP rate", "989 TFLOP/s"),
    "bandwidth": ("a bandwidth", "3.35 TB/s"),
    "bytes": ("a size", "80 GB"),
    "time": ("a time", "4 us"),
}

_DECIMAL_PREFIXES: dict[str, int] = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
_BINARY_PREFIXES: dict[str, int] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
# Sub-unit prefixes, for time only. U+00B5 (micro sign) and U+03BC (Greek mu) both occur.
_TIME_PREFIXES: dict[str, Fraction] = {
    "": Fraction(1),
    "m": Fraction(1, 10**3),
    "u": Fraction(1, 10**6),
    "\u00b5": Fraction(1, 10**6),
    "\u03bc": Fraction(1, 10**6),
    "n": Fraction(1, 10**9),
}

_FLOP_UNITS = {"flop/s", "flops", "op/s", "ops"}  # compared lower-cased
_BYTE_RATE_UNITS = {"B/s": Fraction(1), "Bps": Fraction(1)}
_BIT_RATE_UNITS = {"b/s": Fraction(1, 8), "bps": Fraction(1, 8), "bit/s": Fraction(1, 8)}
_BYTE_UNITS = {"B": Fraction(1), "byte": Fraction(1), "bytes": Fraction(1)}

_NUMBER_RE = re.compile(
    r"^\s*(?P<num>[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>.*?)\s*$"
)


def _split_prefix(unit: str, bases, *, binary: bool) -> tuple[Fraction, str] | None:
    """Match `unit` as <prefix><base> for a base in `bases`; return (factor, base)."""
    prefixes: dict[str, int] = dict(_DECIMAL_PREFIXES)
    if binary:
        prefixes.update(_BINARY_PREFIXES)
    # Longest prefix first, so "Ki" wins over "K".
    for prefix in sorted(prefixes, key=len, reverse=True):
        if unit.startswith(prefix):
            base = unit[len(prefix):]
            if base in bases:
                return Fraction(prefixes[prefix]), base
    return None


def _unit_factor(unit: str) -> tuple[str, Fraction] | None:
    """Which kind a unit string belongs to, and its factor to SI base units."""
    # FLOP rates: prefix is decimal, unit matched case-insensitively (TFLOPS, TFlop/s, TOPS).
    for prefix in sorted(_DECIMAL_PREFIXES, key=len, reverse=True):
        if unit.startswith(prefix) and unit[len(prefix):].lower() in _FLOP_UNITS:
            return "flops", Fraction(_DECIMAL_PREFIXES[prefix])
    hit = _split_prefix(unit, _BYTE_RATE_UNITS, binary=True)
    if hit:
        return "bandwidth", hit[0] * _BYTE_RATE_UNITS[hit[1]]
    hit = _split_prefix(unit, _BIT_RATE_UNITS, binary=False)
    if hit:
        return "bandwidth", hit[0] * _BIT_RATE_UNITS[hit[1]]
    hit = _split_prefix(unit, _BYTE_UNITS, binary=True)
    if hit:
        return "bytes", hit[0] * _BYTE_UNITS[hit[1]]
    for prefix, factor in _TIME_PREFIXES.items():
        if unit == prefix + "s":
            return "time", factor
    return None


def show_value(value: object) -> str:
    """A value as the user wrote it, YAML-style (strings quoted, None as null), on one
    line: control characters in a string are escaped, so an error stays one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def parse_quantity(value: object, kind: str, *, where: str) -> float:
    """Parse `value` as a quantity of `kind` ("flops", "bandwidth", "bytes", "time").

    Returns a positive, finite float in SI base units. Raises ValueError naming `where`
    and what was expected otherwise.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown quantity kind {kind!r}; expected one of {', '.join(KINDS)}")
    what, example = KINDS[kind]
    expected = f'expected {what} such as "{example}"'

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{where}: {expected}, got {show_value(value)}")

    if isinstance(value, (int, float)):
        number = float(value)
        factor = Fraction(1)
        unit_kind = kind
        exact = None
    else:
        match = _NUMBER_RE.match(value)
        if match is None:
            raise ValueError(f"{where}: {expected}, got {show_value(value)}")
        unit = match.group("unit")
        if unit == "":
            unit_kind, factor = kind, Fraction(1)
        else:
            hit = _unit_factor(unit)
            if hit is None:
                raise ValueError(f'{where}: {expected}, got {show_value(value)} (unknown unit "{unit}")')
            unit_kind, factor = hit
        try:
            exact = Decimal(match.group("num").replace("_", ""))
        except InvalidOperation:  # pragma: no cover - the regex admits only valid numbers
            raise ValueError(f"{where}: {expected}, got {show_value(value)}") from None
        number = float(exact)

    if unit_kind != kind:
        other = KINDS[unit_kind][0]
        raise ValueError(f"{where}: {expected}, got {show_value(value)}, which is {other}")
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{where}: {expected} (finite), got {show_value(value)}")
    if number <= 0:
        raise ValueError(f"{where}: {expected} (positive), got {show_value(value)}")

    if exact is not None:
        # Exact decimal arithmetic, then one rounding: "3.35 TB/s" == 3.35e12 exactly.
        result = float(exact * factor.numerator / factor.denominator)
    else:
        result = number * factor.numerator / factor.denominator
    if math.isinf(result):
        raise ValueError(f"{where}: {expected} (finite), got {show_value(value)}")
    return result


# Units used when writing quantities back out (largest prefix first).
_FORMAT_STEPS: dict[str, list[tuple[float, str]]] = {
    "flops": [(1e12, "TFLOP/s"), (1e9, "GFLOP/s"), (1e6, "MFLOP/s"),
              (1e3, "kFLOP/s"), (1.0, "FLOP/s")],
    "bandwidth": [(1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s"), (1.0, "B/s")],
    "bytes": [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")],
    "time": [(1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")],
}


def format_quantity(value: float, kind: str, *, exact: bool = False) -> str:
    """Write a base-unit value with a readable prefix: 3.35e12, "bandwidth" -> "3.35 TB/s".

    exact=False rounds to 4 significant digits (for messages and tables). exact=True gives
    a string that parse_quantity reads back to exactly `value` (for files); it falls back
    to a plain number when no prefixed form round-trips.
    """
    if kind not in _FORMAT_STEPS:
        raise ValueError(f"unknown quantity kind {kind!r}; expected one of {', '.join(KINDS)}")
    steps = _FORMAT_STEPS[kind]
    scale, unit = steps[-1]
    for step_scale, step_unit in steps:
        if abs(value) >= step_scale:
            scale, unit = step_scale, step_unit
            break
    if not exact:
        scaled = value / scale
        text = f"{scaled:.0f}" if abs(scaled) >= 1e4 else f"{scaled:.4g}"
        return f"{text} {unit}"
    scaled = value / scale
    text = f"{int(scaled)}" if scaled == int(scaled) and abs(scaled) < 1e15 else repr(scaled)
    candidate = f"{text} {unit}"
    try:
        if parse_quantity(candidate, kind, where="format_quantity") == value:
            return candidate
    except ValueError:
        pass
    return repr(float(value))


#: Decimal SI prefixes for display, largest first (DESIGN.md: never 1024-based).
_SI_PREFIXES: tuple[tuple[float, str], ...] = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
#: Time units for display, largest first.
_TIME_STEPS: tuple[tuple[float, str], ...] = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"))


def si(value: float, unit: str, digits: int | None = 3, *, space: bool = True) -> str:
    """A number with a decimal SI prefix, for tables and plots: si(3.35e12, "B/s") ->
    "3.35 TB/s". digits: significant digits (None: as many as ``:g`` gives); NaN -> "-"."""
    if value != value:  # NaN
        return "-"
    number = "g" if digits is None else f".{digits}g"
    gap = " " if space else ""
    for factor, prefix in _SI_PREFIXES:
        if abs(value) >= factor:
            return f"{value / factor:{number}}{gap}{prefix}{unit}"
    return f"{value:{number}}{gap}{unit}"


def time_scale(seconds: float) -> tuple[float, str]:
    """(factor, unit) that shows ``seconds`` as a number from 1 to 1000: s, ms, us or ns."""
    for factor, unit in _TIME_STEPS:
        if abs(seconds) >= factor:
            return factor, unit
    return 1e-9, "ns"


def format_seconds(value: float, digits: int = 3) -> str:
    """A duration in s, ms, us or ns: format_seconds(2.39e-5) -> "23.9 us"; NaN -> "-"."""
    if value != value:
        return "-"
    factor, unit = time_scale(value)
    return f"{value / factor:.{digits}g} {unit}"
