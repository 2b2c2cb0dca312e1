"""roofline.hardware's CalibrationRecord: a calibrated spec's ``measured:`` block is parsed
and validated once, at load, into typed rows; bad values are refused in one line naming
the file and the field; write -> load gives the same record back.

Expected figures are read off hw_specs/local-cpu.yaml by eye, not through the loader.
"""

import dataclasses

import pytest
import yaml

from roofline.errors import HardwareSpecError
from roofline.hardware import (
    WORKING_SET,
    CalibrationRecord,
    FreshWrite,
    HardwareSpec,
    LevelFit,
    OpSeconds,
    SuiteOp,
    SuiteRow,
    load_hardware,
    spec_to_yaml,
    write_hardware,
)
from roofline.predict import COMPUTE_BOUND, MEMORY_BOUND

from .conftest import LOCAL_CPU


def test_local_cpu_record_is_typed(local):
    record = local.measured
    assert isinstance(record, CalibrationRecord)
    assert (record.tool, record.mode, record.device, record.threads, record.clock) == (
        "roofline calibrate", "full", "cpu", 2, "wall")
    assert record.date == "2026-11-21T12:24:19+00:00" and record.duration_s == 11.2
    assert record.memory_level == WORKING_SET
    assert record.view_overhead_s == 2.198e-06
    assert record.fresh_write == FreshWrite(min_bytes=31640000.0, bandwidth=3995000000.0)
    assert record.overhead_s[0] == OpSeconds("aten.add", 2.09e-06) and len(record.overhead_s) == 12
    assert record.view_ops_s[-1] == OpSeconds("aten.empty", 3.468e-06)
    assert record.levels[-1] == LevelFit("dram", 25280000000.0, 36510000000.0, 3)
    assert record.op_suite[0] == SuiteRow("relu", 65536, MEMORY_BOUND, 1.068)
    assert record.op_suite[1] == SuiteRow("gelu", 65536, COMPUTE_BOUND, 0.1802)
    assert len(record.op_suite) == 45 and len(record.bandwidth_curve) == 58
    ops = {suite_op.name: suite_op.aten_ops for suite_op in record.op_suite_ops}
    assert ops["add"] == ("aten.add", "aten.add_", "aten.sub", "aten.sub_") and ops["transpose"] == ()
    assert set(ops) == {row.op for row in record.op_suite}


def test_record_is_frozen_and_hashable(local):
    with pytest.raises(dataclasses.FrozenInstanceError):
        local.measured.view_overhead_s = 0.0
    assert hash(local.measured) == hash(load_hardware(LOCAL_CPU).measured)


def test_local_cpu_round_trips_through_write_and_load(local, tmp_path):
    path = write_hardware(local, tmp_path / "local-cpu.yaml")
    again = load_hardware(path)
    assert again == local and again.measured == local.measured
    assert spec_to_yaml(again) == spec_to_yaml(local)


def test_a_record_with_every_optional_value_round_trips(local, tmp_path):
    record = dataclasses.replace(
        local.measured, load_average=1.25, fresh_write=None, view_overhead_s=0.0,
        op_suite=local.measured.op_suite + (SuiteRow("exp", 16, MEMORY_BOUND, None),),  # None: could not tell
    )
    spec = dataclasses.replace(local, measured=record)
    again = load_hardware(write_hardware(spec, tmp_path / "x.yaml"))
    assert again.measured == record
    assert again.measured.op_suite[-1].fraction is None and again.measured.fresh_write is None


def test_a_partial_record_round_trips_and_leaves_out_defaults(local, tmp_path):
    spec = dataclasses.replace(local, measured=CalibrationRecord(memory_level=WORKING_SET))
    text = spec_to_yaml(spec)
    assert yaml.safe_load(text)["measured"] == {"memory_level": WORKING_SET}
    assert load_hardware(write_hardware(spec, tmp_path / "y.yaml")).measured == spec.measured


def test_a_spec_refuses_an_untyped_record(local):
    with pytest.raises(TypeError, match="CalibrationRecord"):
        dataclasses.replace(local, measured={"memory_level": WORKING_SET})


# ------------------------------------------------------------------ bad records


def _write(tmp_path, measured_patch, drop=()):
    data = yaml.safe_load(LOCAL_CPU.read_text())
    for key in drop:
        del data["measured"][key]
    if isinstance(measured_patch, dict):
        data["measured"].update(measured_patch)
    else:
        data["measured"] = measured_patch
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


BAD_RECORDS = [
    # (change to the measured block, the field the message must name, words it must say)
    ({"memory_level": "fast"}, "measured.memory_level", 'expected "working_set" or "dram"'),
    ({"threads": 0}, "measured.threads", "at least 1"),
    ({"threads": "two"}, "measured.threads", "expected an integer"),
    ({"date": 2026}, "measured.date", "expected a string"),
    ({"view_overhead_s": -1e-6}, "measured.view_overhead_s", "from 0 to"),
    ({"view_overhead_s": 0.5}, "measured.view_overhead_s", "from 0 to"),
    ({"view_overhead_s": "2 us"}, "measured.view_overhead_s", "expected a number"),
    ({"duration_s": float("inf")}, "measured.duration_s", "finite"),
    ({"overhead_s": {"aten.add": -1.0}}, "measured.overhead_s.aten.add", "at least 0"),
    ({"fresh_write": {"min_bytes": 0, "bandwidth": 4e9}}, "measured.fresh_write.min_bytes", "above 0"),
    ({"fresh_write": {"min_bytes": 1e6}}, "measured.fresh_write.bandwidth", "missing required field"),
    ({"op_suite": [["relu", 65536, "memory", "fast"]]}, "measured.op_suite.0.3", "expected a number"),
    ({"op_suite": [["relu", 65536, "memory", -0.5]]}, "measured.op_suite.0.fraction", "above 0"),
    ({"op_suite": [["relu", 65536, "memory", float("nan")]]}, "measured.op_suite.0.fraction", "finite"),
    ({"op_suite": [["relu", 0, "memory", 0.5]]}, "measured.op_suite.0.elements", "at least 1"),
    ({"op_suite": [["relu", 65536, "memory"]]}, "measured.op_suite.0.3", "missing required field"),
    ({"op_suite": [["softplus", 65536, "memory", 0.5]]}, "measured.op_suite_ops", "softplus"),
    ({"op_suite_ops": {"relu": "aten.relu"}}, "measured.op_suite_ops.relu", "expected a list"),
    ({"levels": [{"level": "l2", "capacity": 1e6, "bandwidth": 1e11, "points": 1, "spread": 2}]},
     "measured.levels.0.spread", "unknown key; expected one of: level, capacity, bandwidth, points"),
    ({"calibrated_by": "me"}, "measured.calibrated_by", "unknown key; expected one of: tool, date"),
    ([1, 2], "measured", "expected a mapping"),
]


@pytest.mark.parametrize("patch, field, words", BAD_RECORDS, ids=[f for _, f, _ in BAD_RECORDS])
def test_bad_record_values_are_refused_naming_file_and_field(tmp_path, patch, field, words):
    path = _write(tmp_path, patch)
    with pytest.raises(HardwareSpecError) as info:
        load_hardware(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert f"{field}:" in message or f"{field} " in message, message
    assert words in message, message


def test_a_suite_without_its_aten_ops_is_refused(tmp_path):
    # A record from before op_suite_ops: predictions would not know which aten ops the
    # suite's fractions apply to, so the loader says so rather than drop them silently.
    path = _write(tmp_path, {}, drop=("op_suite_ops",))
    with pytest.raises(HardwareSpecError, match=r"measured\.op_suite_ops: missing the aten ops of suite op\(s\) relu, "
                                                r"gelu, .*rerun `roofline calibrate`"):
        load_hardware(path)


def test_write_hardware_refuses_a_bad_record(local, tmp_path):
    bad = dataclasses.replace(local, measured=CalibrationRecord(op_suite=(SuiteRow("exp", 16, MEMORY_BOUND, 0.5),)))
    with pytest.raises(HardwareSpecError, match="measured.op_suite_ops"):
        write_hardware(bad, tmp_path / "bad.yaml")
    assert not (tmp_path / "bad.yaml").exists()


def test_op_suite_ops_map_each_suite_op(local, tmp_path):
    record = CalibrationRecord(op_suite=(SuiteRow("exp", 16, MEMORY_BOUND, 0.5),),
                               op_suite_ops=(SuiteOp("exp", ("aten.exp",)),))
    spec = dataclasses.replace(local, measured=record)
    assert isinstance(spec, HardwareSpec)
    assert load_hardware(write_hardware(spec, tmp_path / "z.yaml")).measured.op_suite_ops == (
        SuiteOp("exp", ("aten.exp",)),)
