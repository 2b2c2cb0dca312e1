"""Fuzzing the hardware-spec loader with hypothesis.

Every input is either refused with a HardwareSpecError that names the file and the field
that is wrong, in one line, or loads into a spec whose figures are exactly what the
file says. Never another exception, never a spec that silently differs from the file.

The base spec is written here by hand (an A100-like device); each test breaks or varies
one field of it. Expected values are worked out from the text written, not read back.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from roofline.errors import HardwareSpecError  # noqa: E402
from roofline.hardware import HardwareSpec, load_hardware  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def base_spec() -> dict:
    return {
        "name": "fuzz-gpu",
        "display_name": "Fuzz GPU",
        "kind": "gpu",
        "vendor": "nvidia",
        "source": "hand-written fuzz fixture",
        "aliases": ["fuzzy"],
        "peak_flops": {
            "matrix": {"tf32": "156 TFLOP/s", "bf16": "312 TFLOP/s", "int8": "624 TOP/s"},
            "vector": {"fp32": "19.5 TFLOP/s", "fp64": "9.7 TFLOP/s"},
        },
        "memory": {
            "l2": {"bandwidth": "5.4 TB/s", "capacity": "40 MB"},
            "dram": {"bandwidth": "2 TB/s", "capacity": "80 GB"},
        },
        "links": {"host": "64 GB/s", "peer": "600 GB/s"},
        "overhead": {"per_op": "4 us"},
        "efficiency": {"matrix": 0.8, "vector": 0.7, "memory": 0.85},
        "notes": "free text",
    }


#: What the base spec says, in SI units, worked by hand from the strings above.
BASE_VALUES = {
    ("peak_flops", "matrix", "tf32"): 156e12,
    ("peak_flops", "matrix", "bf16"): 312e12,
    ("peak_flops", "matrix", "int8"): 624e12,
    ("peak_flops", "vector", "fp32"): 19.5e12,
    ("peak_flops", "vector", "fp64"): 9.7e12,
    ("memory", "l2", "bandwidth"): 5.4e12,
    ("memory", "l2", "capacity"): 40e6,
    ("memory", "dram", "bandwidth"): 2e12,
    ("memory", "dram", "capacity"): 80e9,
    ("links", "host"): 64e9,
    ("links", "peer"): 600e9,
    ("overhead", "per_op"): 4e-6,
}

# Field paths by what they hold.
QUANTITIES = {
    ("peak_flops", "matrix", "tf32"): "flops",
    ("peak_flops", "matrix", "bf16"): "flops",
    ("peak_flops", "matrix", "int8"): "flops",
    ("peak_flops", "vector", "fp32"): "flops",
    ("peak_flops", "vector", "fp64"): "flops",
    ("memory", "l2", "bandwidth"): "bandwidth",
    ("memory", "l2", "capacity"): "bytes",
    ("memory", "dram", "bandwidth"): "bandwidth",
    ("memory", "dram", "capacity"): "bytes",
    ("links", "host"): "bandwidth",
    ("links", "peer"): "bandwidth",
    ("overhead", "per_op"): "time",
}
FRACTIONS = [("efficiency", "matrix"), ("efficiency", "vector"), ("efficiency", "memory")]
STRINGS = [("name",), ("display_name",), ("vendor",), ("source",)]
REQUIRED = (
    [("name",), ("display_name",), ("kind",), ("vendor",), ("source",), ("peak_flops",), ("peak_flops", "vector"),
     ("peak_flops", "vector", "fp32"), ("memory",), ("memory", "dram"), ("memory", "dram", "bandwidth"),
     ("memory", "dram", "capacity"), ("memory", "l2", "bandwidth"), ("memory", "l2", "capacity"), ("links",),
     ("links", "host"), ("overhead",), ("overhead", "per_op"), ("efficiency",)]
    + FRACTIONS
)
OPTIONAL = [("aliases",), ("notes",), ("links", "peer"), ("peak_flops", "matrix"),
            ("peak_flops", "matrix", "tf32"), ("peak_flops", "matrix", "bf16"), ("peak_flops", "matrix", "int8"),
            ("peak_flops", "vector", "fp64")]
MAPPINGS = [(), ("peak_flops",), ("memory", "l2"), ("memory", "dram"), ("links",), ("overhead",), ("efficiency",)]

#: A unit of each kind, and an example of a unit of another kind for each.
UNIT_OF = {"flops": "TFLOP/s", "bandwidth": "GB/s", "bytes": "MB", "time": "us"}
WRONG_UNITS = {
    "flops": ["TB/s", "GB", "us", "Gbps"],
    "bandwidth": ["TFLOP/s", "GB", "ms", "TOPS"],
    "bytes": ["GB/s", "TFLOP/s", "ns", "b/s"],
    "time": ["GB", "MB/s", "GFLOPS"],
}


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_specs")


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def with_value(data: dict, path: tuple, value) -> dict:
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def without(data: dict, path: tuple) -> dict:
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return data


def load_text(spec_dir: Path, text: str):
    """Load ``text`` as a spec file: (spec, None) or (None, message). Any exception other
    than HardwareSpecError fails the test, as does a message that is not one line naming
    the file."""
    path = spec_dir / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        return load_hardware(path), None
    except HardwareSpecError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message and "Traceback" not in message, message
        return None, message


def load(spec_dir: Path, data: dict):
    return load_text(spec_dir, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def value_at(spec: HardwareSpec, path: tuple) -> float:
    """The SI value a spec holds for a quantity field path."""
    if path[0] == "peak_flops":
        return (spec.matrix_flops if path[1] == "matrix" else spec.vector_flops)[path[2]]
    if path[0] == "memory":
        return getattr(spec.level(path[1]), path[2])
    if path == ("links", "host"):
        return spec.host_link_bw
    if path == ("links", "peer"):
        return spec.peer_link_bw
    if path == ("overhead", "per_op"):
        return spec.overhead_s
    raise KeyError(path)


def assert_base_except(spec: HardwareSpec, changed: tuple | None = None) -> None:
    """Every quantity of the base spec is loaded exactly, except ``changed``."""
    for path, expected in BASE_VALUES.items():
        if path != changed:
            assert value_at(spec, path) == expected, path


def test_the_base_spec_loads_exactly(spec_dir):
    spec, error = load(spec_dir, base_spec())
    assert error is None, error
    assert_base_except(spec)
    assert spec.efficiency.matrix == 0.8 and spec.aliases == ("fuzzy",) and spec.notes == "free text"


# ---------------------------------------------------------------- missing fields


@pytest.mark.parametrize("path", REQUIRED, ids=dotted)
def test_missing_required_field_is_named(spec_dir, path):
    spec, error = load(spec_dir, without(base_spec(), path))
    assert spec is None
    assert dotted(path) in error, error


@pytest.mark.parametrize("path", OPTIONAL, ids=dotted)
def test_missing_optional_field_leaves_the_rest_exact(spec_dir, path):
    spec, error = load(spec_dir, without(base_spec(), path))
    assert error is None, error
    if path == ("links", "peer"):
        assert spec.peer_link_bw is None
    elif path[:2] == ("peak_flops", "matrix"):
        assert all(dtype not in spec.matrix_flops for dtype in (path[2:] or ("tf32", "bf16", "int8")))
    elif path == ("peak_flops", "vector", "fp64"):
        assert "fp64" not in spec.vector_flops
    for other, expected in BASE_VALUES.items():
        if other[: len(path)] != path:
            assert value_at(spec, other) == expected, other


# --------------------------------------------------------------- bad quantities

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.text(alphabet=st.characters(blacklist_categories=("Nd", "Cs")), max_size=12),  # no digits at all
)
negative = st.one_of(
    st.floats(max_value=0, allow_nan=False, allow_infinity=False),
    st.integers(max_value=0),
    st.floats(min_value=1e-3, max_value=1e6).map(lambda v: f"-{v:g} {{unit}}"),
    st.just("0 {unit}"),
)
huge = st.floats(min_value=1e20, max_value=1e300).map(lambda v: f"{v:g} {{unit}}")
non_finite = st.sampled_from([math.inf, -math.inf, math.nan, ".inf", "nan {unit}", "1e999 {unit}"])


def _fill(value, kind):
    return value.replace("{unit}", UNIT_OF[kind]) if isinstance(value, str) else value


@SETTINGS
@given(path=st.sampled_from(sorted(QUANTITIES)), value=st.one_of(junk, negative, non_finite))
def test_non_numeric_negative_and_non_finite_quantities_are_named(spec_dir, path, value):
    value = _fill(value, QUANTITIES[path])
    if path == ("links", "peer") and value is None:
        return  # null is how a spec says "no peer link" (tested below)
    spec, error = load(spec_dir, with_value(base_spec(), path, value))
    assert spec is None, f"{value!r} at {dotted(path)} loaded"
    assert dotted(path) in error, error


@SETTINGS
@given(path=st.sampled_from(sorted(QUANTITIES)), value=huge)
def test_huge_quantities_are_refused_naming_the_field(spec_dir, path, value):
    kind = QUANTITIES[path]
    spec, error = load(spec_dir, with_value(base_spec(), path, _fill(value, kind)))
    assert spec is None
    # a huge time or size is named at its own field; a huge rate also breaks its ridge
    assert dotted(path) in error, error


@SETTINGS
@given(path=st.sampled_from(sorted(QUANTITIES)), data=st.data())
def test_wrong_units_are_named(spec_dir, path, data):
    kind = QUANTITIES[path]
    unit = data.draw(st.sampled_from(WRONG_UNITS[kind]))
    number = data.draw(st.integers(min_value=1, max_value=999))
    spec, error = load(spec_dir, with_value(base_spec(), path, f"{number} {unit}"))
    assert spec is None
    assert dotted(path) in error, error


@SETTINGS
@given(path=st.sampled_from(sorted(QUANTITIES)), number=st.integers(min_value=1, max_value=999))
def test_a_datasheet_number_without_its_unit_is_refused(spec_dir, path, number):
    """"989" where "989 TFLOP/s" was meant is 989 FLOP/s: implausible, never loaded."""
    kind = QUANTITIES[path]
    assume(kind != "time")  # a bare 1-999 for a time is seconds: refused as above 1 ms
    spec, error = load(spec_dir, with_value(base_spec(), path, number))
    assert spec is None
    assert dotted(path) in error, error


def test_bare_time_in_seconds_is_refused(spec_dir):
    spec, error = load(spec_dir, with_value(base_spec(), ("overhead", "per_op"), 4))
    assert spec is None and "overhead.per_op" in error


# ----------------------------------------------------------- fractions, strings


@SETTINGS
@given(
    path=st.sampled_from(FRACTIONS),
    value=st.one_of(
        st.floats(max_value=0.0), st.floats(min_value=1.0, exclude_min=True), st.just(math.nan), junk,
        st.floats(min_value=0.01, max_value=1.0).map(str),  # a quoted number is text, not a number
    ),
)
def test_bad_efficiencies_are_named(spec_dir, path, value):
    spec, error = load(spec_dir, with_value(base_spec(), path, value))
    assert spec is None
    assert dotted(path) in error, error


@SETTINGS
@given(path=st.sampled_from(FRACTIONS), value=st.floats(min_value=0.0, max_value=1.0, exclude_min=True))
def test_any_fraction_in_range_loads_exactly(spec_dir, path, value):
    spec, error = load(spec_dir, with_value(base_spec(), path, value))
    assert error is None, error
    assert getattr(spec.efficiency, path[1]) == value
    assert_base_except(spec)


@SETTINGS
@given(
    path=st.sampled_from(STRINGS + [("kind",)]),
    value=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(st.text(max_size=3), max_size=2),
                    st.just(""), st.just("   ")),
)
def test_mistyped_or_empty_strings_are_named(spec_dir, path, value):
    spec, error = load(spec_dir, with_value(base_spec(), path, value))
    assert spec is None
    assert dotted(path) in error, error


@SETTINGS
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30))
def test_any_display_name_text_is_kept_as_written(spec_dir, text):
    assume(text.strip())
    spec, error = load(spec_dir, with_value(base_spec(), ("display_name",), text))
    assert error is None, error
    assert spec.display_name == text


# ---------------------------------------------------------------- unknown keys


@SETTINGS
@given(where=st.sampled_from(MAPPINGS), key=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), value=st.integers())
def test_unknown_keys_are_named(spec_dir, where, key, value):
    node = base_spec()
    for part in where:
        node = node[part]
    assume(key not in node)
    spec, error = load(spec_dir, with_value(base_spec(), where + (key,), value))
    known_levels = {"l1", "l3", "llc", "infinity_cache"}
    if where == () and key in ("measured", "interconnect"):
        return  # optional top-level sections with their own schema
    if where == ("memory",) and key in known_levels:
        return  # a known memory level given as a number is refused below as a bad mapping
    assert spec is None, f"unknown key {dotted(where + (key,))} loaded"
    assert dotted(where + (key,)) in error, error


@SETTINGS
@given(unit=st.sampled_from(["matrix", "vector"]), dtype=st.from_regex(r"[a-z]{2,4}[0-9]{1,2}", fullmatch=True))
def test_unknown_dtype_keys_are_named(spec_dir, unit, dtype):
    assume(dtype not in ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4"))
    spec, error = load(spec_dir, with_value(base_spec(), ("peak_flops", unit, dtype), "1 TFLOP/s"))
    assert spec is None
    assert f"peak_flops.{unit}.{dtype}" in error, error


# --------------------------------------------------- valid variations load exactly


@SETTINGS
@given(gigabytes_per_s=st.integers(min_value=200, max_value=5400))
def test_dram_bandwidth_in_range_loads_exactly(spec_dir, gigabytes_per_s):
    # 200 GB/s keeps the ridge point (624 TOP/s over it) at 3120: refused; so the lower
    # end is where the plausibility check must speak, the rest must load exactly.
    path = ("memory", "dram", "bandwidth")
    spec, error = load(spec_dir, with_value(base_spec(), path, f"{gigabytes_per_s} GB/s"))
    ridge = 624e12 / (gigabytes_per_s * 1e9)
    if ridge > 2000:
        assert spec is None and "memory.dram.bandwidth" in error
    else:
        assert error is None, error
        assert spec.dram.bandwidth == gigabytes_per_s * 1e9
        assert_base_except(spec, path)


@SETTINGS
@given(
    path=st.sampled_from(sorted(BASE_VALUES)),
    form=st.sampled_from(["plain", "scientific", "si-bytes", "int"]),
)
def test_equivalent_spellings_load_the_same_value(spec_dir, path, form):
    """The base value written another way ("2 TB/s" as 2e12, "2000 GB/s", ...) loads equal."""
    kind = QUANTITIES[path]
    value = BASE_VALUES[path]
    base_units = {"flops": "FLOP/s", "bandwidth": "B/s", "bytes": "B", "time": "s"}[kind]
    if form == "plain":
        written = value  # a plain number is in base units
    elif form == "scientific":
        written = f"{value:e} {base_units}"
    elif form == "si-bytes":
        scale, unit = {"flops": (1e9, "GFLOP/s"), "bandwidth": (1e6, "MB/s"), "bytes": (1e3, "kB"), "time": (1e-9, "ns")}[kind]
        written = f"{round(value / scale, 6):g} {unit}"
    else:
        assume(kind != "time")
        written = int(value)
    spec, error = load(spec_dir, with_value(base_spec(), path, written))
    assert error is None, f"{written!r}: {error}"
    assert value_at(spec, path) == pytest.approx(value, rel=1e-12)
    assert_base_except(spec, path)


def test_null_peer_link_means_none(spec_dir):
    spec, error = load(spec_dir, with_value(base_spec(), ("links", "peer"), None))
    assert error is None and spec.peer_link_bw is None


# --------------------------------------------------------------- raw text


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_text_is_a_spec_error_never_a_crash(spec_dir, text):
    spec, error = load_text(spec_dir, text)
    assert spec is None and error


@SETTINGS
@given(line=st.sampled_from(sorted(yaml.safe_dump(base_spec(), sort_keys=False).splitlines())), junk_text=st.text(max_size=20))
def test_a_corrupted_line_is_a_spec_error_or_an_exact_spec(spec_dir, line, junk_text):
    text = yaml.safe_dump(base_spec(), sort_keys=False).replace(line, line + junk_text, 1)
    spec, error = load_text(spec_dir, text)
    if spec is None:
        return
    # It loaded: every quantity still written as in the base must hold the base's value.
    written = yaml.safe_load(text)
    base = base_spec()
    for path, expected in BASE_VALUES.items():
        node, original = written, base
        for part in path:
            node, original = node[part], original[part]
        if node == original:
            assert value_at(spec, path) == expected, path


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("name: 1" + "0" * 5000, "cannot be read"),
        ("? [a, b]\n: 1\n", "YAML syntax error"),
        ("a: &x [*x]\n", "name: missing required field"),
        ("!!python/object:os.system {}\n", "YAML syntax error"),
        ("name: x\nname: y\n", "duplicate key"),
    ],
    ids=["deep-nesting", "huge-int-literal", "unhashable-key", "cyclic-alias", "python-tag", "duplicate-key"],
)
def test_hostile_yaml_is_a_spec_error(spec_dir, text, expected):
    spec, error = load_text(spec_dir, text)
    assert spec is None and expected in error, error


def test_integer_too_large_for_a_float_is_named(spec_dir):
    spec, error = load(spec_dir, with_value(base_spec(), ("memory", "dram", "bandwidth"), 10**400))
    assert spec is None and "memory.dram.bandwidth" in error and "too large" in error
    spec, error = load(spec_dir, with_value(base_spec(), ("links", "peer"), 10**400))
    assert spec is None and "links.peer" in error


def test_non_utf8_file_is_a_spec_error(spec_dir):
    path = spec_dir / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00name: x")
    with pytest.raises(HardwareSpecError, match="cannot read"):
        load_hardware(path)
