"""The calibrated CPU spec the hardware tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from roofline.hardware import load_hardware

LOCAL_CPU = Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml"


@pytest.fixture(scope="module")
def local():
    return load_hardware(LOCAL_CPU)
