"""The calibrated CPU spec the hardware tests read, and the bad-value test they share."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roofline.errors import HardwareSpecError
from roofline.hardware import load_hardware

LOCAL_CPU = Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml"


@pytest.fixture(scope="module")
def local():
    return load_hardware(LOCAL_CPU)


def write_measured(tmp_path, patch: dict) -> Path:
    """The local CPU spec with ``patch`` laid over its measured block, written under ``tmp_path``."""
    data = yaml.safe_load(LOCAL_CPU.read_text())
    data["measured"].update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def refused_in_one_line(cases, measured_key: str | None = None):
    """A test over ``cases`` of (bad value, the field the message must name, words it must
    say): the spec with that value loads to one line, starting with the file, naming the
    field and saying the words. The value is the rows of ``measured_key`` or, without one,
    a patch of the measured block. Bind it to a ``test_...`` name in the test module."""

    @pytest.mark.parametrize("value, field, words", cases, ids=[f"{i}-{w[:14]}" for i, (_, _, w) in enumerate(cases)])
    def test(tmp_path, value, field, words):
        path = write_measured(tmp_path, value if measured_key is None else {measured_key: value})
        with pytest.raises(HardwareSpecError) as info:
            load_hardware(path)
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{path}: ")
        assert field in message and words in message, message

    return test
