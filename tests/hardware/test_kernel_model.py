"""The kernel_model block of a spec: parsed, checked, written back."""

import dataclasses

import pytest

from roofline.errors import HardwareSpecError
from roofline.hardware import KernelModel, load_hardware, spec_to_yaml, write_hardware

BLOCK = """kernel_model:
  sms: 40
  boost_clock_mhz: 1590
  sustained_clock_mhz: 1100
  gemm_efficiency: {simt: 0.6, tensor: 0.7}
  k_overhead: 16
  latency: 12 us
  min_kernel: 3 us
  source: "datasheet + a fit"
"""


def spec_text(block: str) -> str:
    base = spec_to_yaml(dataclasses.replace(load_hardware("t4"), kernel_model=None))
    return base + block


def test_parsed_in_si_units(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(spec_text(BLOCK))
    model = load_hardware(path).kernel_model
    assert model == KernelModel(sms=40, boost_clock_hz=1590e6, sustained_clock_hz=1100e6,
                                gemm_efficiency={"simt": 0.6, "tensor": 0.7}, k_overhead=16, latency_s=12e-6,
                                min_kernel_s=3e-6, source="datasheet + a fit")
    assert model.clock_ratio == pytest.approx(1100 / 1590)


def test_round_trips_through_write_and_load(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(spec_text(BLOCK))
    spec = load_hardware(path)
    again = write_hardware(spec, tmp_path / "again.yaml")
    assert load_hardware(again).kernel_model == spec.kernel_model


@pytest.mark.parametrize(
    "change, message",
    [
        ("sustained_clock_mhz: 1100", "sustained_clock_mhz: 1700"),
        ("gemm_efficiency: {simt: 0.6, tensor: 0.7}", "gemm_efficiency: {simt: 1.5}"),
        ("latency: 12 us", "latency: fast"),
        ("sms: 40", "sms: 0"),
        ("gemm_efficiency: {simt: 0.6, tensor: 0.7}", "gemm_efficiency: {vector: 0.5}"),
    ],
)
def test_bad_values_are_one_line_naming_the_field(tmp_path, change, message):
    path = tmp_path / "gpu.yaml"
    path.write_text(spec_text(BLOCK.replace(change, message)))
    with pytest.raises(HardwareSpecError, match=r"gpu\.yaml: .*kernel_model\.") as info:
        load_hardware(path)
    assert "\n" not in str(info.value)


def test_fitted_specs_say_where_their_figures_come_from():
    for name in ("a100-pcie", "a100-80gb-pcie", "v100-pcie", "t4", "p100", "p4"):
        model = load_hardware(name).kernel_model
        assert model is not None and "benchmarks/gpu_fit.py" in model.source, name
        assert 0 < model.gemm_efficiency["simt"] <= 1
