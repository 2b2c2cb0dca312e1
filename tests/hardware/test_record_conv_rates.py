"""measured.conv_rates (depthwise and grouped CPU convolutions): typed at load,
round-tripped through write -> load, bad values refused in one line naming the field."""

import dataclasses

from roofline.hardware import ConvRate, load_hardware, write_hardware

from .conftest import refused_in_one_line


def test_conv_rates_round_trip(local, tmp_path):
    record = dataclasses.replace(local.measured, conv_rates=(ConvRate("depthwise", 1, 9, 401408, 1.4e10),
                                                             ConvRate("grouped", 1, 36, 100352, 7.3e9)))
    path = write_hardware(dataclasses.replace(local, measured=record), tmp_path / "c.yaml")
    text = path.read_text()
    assert "conv_rates:\n  - [depthwise, 1, 9, 401408, 14000000000.0]\n  - [grouped, 1, 36, 100352, 7300000000.0]" in text
    again = load_hardware(path).measured
    assert again.conv_rates == record.conv_rates


def test_a_spec_without_the_table_loads_with_none(local):
    assert local.measured.conv_rates == ()


BAD = [
    ([["pointwise", 1, 9, 1000, 1e10]], "measured.conv_rates: [pointwise, 1, 9, 1000", "kind: expected one of depthwise, grouped"),
    ([["depthwise", 0, 9, 1000, 1e10]], "measured.conv_rates: [depthwise, 0, 9, 1000", "stride, reduction and out_elements of at least 1"),
    ([["grouped", 1, 36, 0, 1e10]], "measured.conv_rates: [grouped, 1, 36, 0", "at least 1"),
    ([["depthwise", 1, 9, 1000, 0.0]], "measured.conv_rates: [depthwise, 1, 9, 1000", "flops_per_s: expected FLOP/s above 0"),
    ([["depthwise", 1, 9, 1000, float("nan")]], "measured.conv_rates: [depthwise, 1, 9, 1000", "FLOP/s above 0"),
    ([["depthwise", 1, 9, 1000, 1e10], ["depthwise", 1, 9, 1000, 2e10]], "measured.conv_rates", "given twice"),
    ([["depthwise", 1.5, 9, 1000, 1e10]], "measured.conv_rates.0.1", "integer"),
    ([["depthwise", 1, 9, 1000]], "measured.conv_rates.0.4", "missing required field"),
    ([["depthwise", 1, 9, 1000, "fast"]], "measured.conv_rates.0.4", "expected a number"),
]


test_bad_conv_rates_are_refused_in_one_line = refused_in_one_line(BAD, "conv_rates")
