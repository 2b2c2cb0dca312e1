"""measured.sdpa_times (CPU flash attention probes): typed at load, round-tripped
through write -> load, bad values refused in one line naming the field."""

import dataclasses

from roofline.hardware import SdpaTime, load_hardware, write_hardware

from .conftest import refused_in_one_line

GOOD = [[12, 1, 512, 64, 5e-4], [4, 32, 32, 64, 1.4e-4], [8, 160, 160, 64, 1.4e-3], [4, 256, 256, 64, 1.5e-3],
        [2, 1024, 1024, 64, 1.1e-2]]


def test_sdpa_times_round_trip(local, tmp_path):
    record = dataclasses.replace(local.measured, sdpa_times=tuple(SdpaTime(*row) for row in GOOD))
    path = write_hardware(dataclasses.replace(local, measured=record), tmp_path / "c.yaml")
    assert "sdpa_times:\n  - [12, 1, 512, 64, 0.0005]\n  - [4, 32, 32, 64, 0.00014]" in path.read_text()
    assert load_hardware(path).measured.sdpa_times == record.sdpa_times


def test_a_spec_without_the_probes_loads_with_none(local):
    assert local.measured.sdpa_times == ()


BAD = [
    ([[0, 1, 512, 64, 5e-4], *GOOD[1:]], "measured.sdpa_times: [0, 1, 512, 64", "heads, q_len, kv_len and head_dim of at least 1"),
    ([[12, 1, 0, 64, 5e-4], *GOOD[1:]], "measured.sdpa_times: [12, 1, 0, 64", "at least 1"),
    ([[12, 1, 512, 64, 0.0], *GOOD[1:]], "measured.sdpa_times: [12, 1, 512, 64", "seconds: expected seconds above 0"),
    ([[12, 1, 512, 64, float("nan")], *GOOD[1:]], "measured.sdpa_times: [12, 1, 512, 64", "seconds above 0"),
    ([*GOOD, [12, 1, 512, 64, 6e-4]], "measured.sdpa_times: [12, 1, 512, 64", "given twice"),
    (GOOD[:3], "measured.sdpa_times", "at least 5 distinct shapes"),
    ([[12, 1.5, 512, 64, 5e-4]], "measured.sdpa_times.0.1", "integer"),
    ([[12, 1, 512, 64]], "measured.sdpa_times.0.4", "missing required field"),
    ([[12, 1, 512, 64, "slow"]], "measured.sdpa_times.0.4", "expected a number"),
]


test_bad_sdpa_times_are_refused_in_one_line = refused_in_one_line(BAD, "sdpa_times")
