"""roofline.units: every accepted form, worked by hand, and every rejection."""

import math

import pytest

from roofline.units import format_quantity, parse_quantity


def pq(value, kind):
    return parse_quantity(value, kind, where="field.path")


# ------------------------------------------------------------------ accepted forms


@pytest.mark.parametrize(
    "text, expected",
    [
        ("989 TFLOP/s", 989e12),
        ("989 TFLOPS", 989e12),
        ("989 TFlop/s", 989e12),
        ("989TFLOP/s", 989e12),
        ("1979 TOP/s", 1979e12),
        ("1979 TOPS", 1979e12),
        ("1.5 PFLOP/s", 1.5e15),
        ("19.5 GFLOPS", 19.5e9),
        ("3 kFLOP/s", 3e3),
        ("3 KFLOP/s", 3e3),
        ("2 MFLOP/s", 2e6),
        ("1 EFLOP/s", 1e18),
        ("67e12", 67e12),
        ("6.7e+13", 67e12),
        ("100 FLOP/s", 100.0),
    ],
)
def test_flops_forms(text, expected):
    assert pq(text, "flops") == pytest.approx(expected, rel=1e-15)


def test_plain_numbers_are_base_units():
    assert pq(67e12, "flops") == 67e12
    assert pq(80, "bytes") == 80.0
    assert pq(4e-6, "time") == 4e-6
    assert isinstance(pq(80, "bytes"), float)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3.35 TB/s", 3.35e12),
        ("900 GB/s", 900e9),
        ("900 GBps", 900e9),
        ("307.2 GB/s", 307.2e9),
        ("400 Gb/s", 50e9),  # bits: 400e9 / 8
        ("400 Gbps", 50e9),
        ("8 Gbit/s", 1e9),
        ("1 MB/s", 1e6),
        ("1 kB/s", 1e3),
        ("1 GiB/s", 1073741824.0),  # 2**30, only with the i
    ],
)
def test_bandwidth_forms(text, expected):
    assert pq(text, "bandwidth") == pytest.approx(expected, rel=1e-15)


def test_decimal_parse_is_exact():
    # Exact decimal arithmetic then one rounding: same double as the literal.
    assert pq("3.35 TB/s", "bandwidth") == 3.35e12
    assert pq("2.039 TB/s", "bandwidth") == 2.039e12
    assert pq("0.473 TFLOP/s", "flops") == 0.473e12


@pytest.mark.parametrize(
    "text, expected",
    [
        ("80 GB", 80e9),  # decimal: not 80 * 2**30
        ("50 MB", 50e6),
        ("256 KiB", 262144.0),  # 256 * 1024
        ("256 KB", 256e3),
        ("256 kB", 256e3),
        ("1 MiB", 1048576.0),
        ("16 GiB", 16 * 2**30),
        ("2 TB", 2e12),
        ("128 B", 128.0),
        ("128 bytes", 128.0),
    ],
)
def test_bytes_forms(text, expected):
    assert pq(text, "bytes") == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4 us", 4e-6),
        ("4 \u00b5s", 4e-6),  # micro sign
        ("4 \u03bcs", 4e-6),  # Greek mu
        ("2.5 ms", 2.5e-3),
        ("800 ns", 8e-7),
        ("1 s", 1.0),
        ("1e-6", 1e-6),
    ],
)
def test_time_forms(text, expected):
    assert pq(text, "time") == pytest.approx(expected, rel=1e-15)


def test_whitespace_is_tolerated():
    assert pq("  3.35   TB/s ", "bandwidth") == 3.35e12


# ------------------------------------------------------------------ rejections


@pytest.mark.parametrize("value", [True, False])
def test_rejects_bools(value):
    with pytest.raises(ValueError, match=r"field\.path: expected a bandwidth"):
        pq(value, "bandwidth")


@pytest.mark.parametrize("value", [None, [1, 2], {"a": 1}])
def test_rejects_non_numbers(value):
    with pytest.raises(ValueError, match=r"field\.path: expected a size such as \"80 GB\""):
        pq(value, "bytes")


@pytest.mark.parametrize("value", [-3, "-3.35 TB/s", -0.5])
def test_rejects_negative(value):
    with pytest.raises(ValueError, match="positive"):
        pq(value, "bandwidth")


@pytest.mark.parametrize("value", [0, 0.0, "0 TB/s", "0"])
def test_rejects_zero(value):
    with pytest.raises(ValueError, match="positive"):
        pq(value, "bandwidth")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_rejects_nan_and_inf(value):
    with pytest.raises(ValueError, match="finite"):
        pq(value, "flops")


@pytest.mark.parametrize("value", ["nan", "inf TB/s", "fast", "", "TB/s"])
def test_rejects_non_numeric_strings(value):
    with pytest.raises(ValueError, match=r'field\.path: expected a bandwidth such as "3.35 TB/s"'):
        pq(value, "bandwidth")


def test_rejects_string_overflowing_to_inf():
    with pytest.raises(ValueError, match="finite"):
        pq("1e400 TB/s", "bandwidth")


@pytest.mark.parametrize("value", ["3 furlongs", "3 TB/fortnight", "3 XB/s", "3 gb/s"])
def test_rejects_unknown_units(value):
    with pytest.raises(ValueError, match="unknown unit"):
        pq(value, "bandwidth")


@pytest.mark.parametrize(
    "value, kind, unit_kind",
    [
        ("3 TB/s", "flops", "a bandwidth"),
        ("989 TFLOP/s", "bandwidth", "a FLOP rate"),
        ("80 GB", "bandwidth", "a size"),
        ("3.35 TB/s", "bytes", "a bandwidth"),
        ("4 us", "bytes", "a time"),
        ("80 GB", "time", "a size"),
    ],
)
def test_rejects_unit_of_wrong_kind(value, kind, unit_kind):
    with pytest.raises(ValueError) as info:
        pq(value, kind)
    message = str(info.value)
    assert message.startswith("field.path: expected ")
    assert f'got "{value}", which is {unit_kind}' in message


def test_rejects_binary_prefix_on_flops_and_bits():
    with pytest.raises(ValueError, match="unknown unit"):
        pq("1 TiFLOP/s", "flops")
    with pytest.raises(ValueError, match="unknown unit"):
        pq("1 Gib/s", "bandwidth")


def test_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown quantity kind"):
        parse_quantity("1 TB/s", "speed", where="x")


def test_message_is_one_line():
    with pytest.raises(ValueError) as info:
        pq("fast", "bandwidth")
    assert str(info.value) == 'field.path: expected a bandwidth such as "3.35 TB/s", got "fast"'


# ------------------------------------------------------------------ formatting


def test_format_quantity_readable():
    assert format_quantity(3.35e12, "bandwidth") == "3.35 TB/s"
    assert format_quantity(989e12, "flops") == "989 TFLOP/s"
    assert format_quantity(1979e12, "flops") == "1979 TFLOP/s"
    assert format_quantity(80e9, "bytes") == "80 GB"
    assert format_quantity(4e-6, "time") == "4 us"


@pytest.mark.parametrize(
    "value, kind",
    [(3.35e12, "bandwidth"), (2.039e12, "bandwidth"), (114.688e12, "flops"), (0.1 + 0.2, "time"),
     (12345.678901234567, "bytes"), (1.0 / 3.0 * 1e12, "flops"), (7e-7, "time")],
)
def test_format_quantity_exact_round_trips(value, kind):
    assert pq(format_quantity(value, kind, exact=True), kind) == value


# ------------------------------------------------------------------ display formatters


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        (3.35e12, "B/s", "3.35 TB/s"),
        (989e12, "FLOP/s", "989 TFLOP/s"),
        (1.5e15, "FLOP", "1.5 PFLOP"),
        (999.0, "B", "999 B"),
        (1000.0, "B", "1 kB"),  # decimal prefixes, never 1024-based
        (-2.5e9, "FLOP", "-2.5 GFLOP"),
        (float("nan"), "B", "-"),
    ],
)
def test_si(value, unit, expected):
    from roofline.units import si

    assert si(value, unit) == expected


def test_si_without_space_and_all_digits_for_ticks():
    from roofline.units import si

    assert si(1e12, "FLOP/s", None, space=False) == "1TFLOP/s"
    assert si(2.5e-3, "s", None, space=False) == "0.0025s"


@pytest.mark.parametrize(
    "seconds, expected",
    [(2.39e-5, "23.9 us"), (1.0, "1 s"), (0.0125, "12.5 ms"), (7e-10, "0.7 ns"), (4.2e-9, "4.2 ns"), (float("nan"), "-")],
)
def test_format_seconds(seconds, expected):
    from roofline.units import format_seconds

    assert format_seconds(seconds) == expected


def test_time_scale_keeps_numbers_between_1_and_1000():
    from roofline.units import time_scale

    assert time_scale(3.0) == (1.0, "s")
    assert time_scale(0.5) == (1e-3, "ms")
    assert time_scale(9e-7) == (1e-9, "ns")
