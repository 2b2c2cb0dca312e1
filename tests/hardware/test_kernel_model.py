"""The kernel_model block of a spec: parsed, checked, written back."""

import dataclasses

import pytest

from roofline.errors import HardwareSpecError
from roofline.hardware import KernelModel, load_hardware, spec_to_yaml, write_hardware
from roofline.hardware.spec import DEFAULT_GATHER_ELEMENTS_PER_CLOCK, DEFAULT_STRIDED_ELEMENTS_PER_CLOCK

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
        ("k_overhead: 16", "k_overhead: 16\n  batched_tiles: [[128, 0, 1]]"),
        ("k_overhead: 16", "k_overhead: 16\n  batched_tiles: [[128, 128]]"),
        ("k_overhead: 16", "k_overhead: 16\n  l2_partitions: 0"),
        ("k_overhead: 16", "k_overhead: 16\n  tensor_gemm_fixed: 2 s"),
        ("k_overhead: 16", "k_overhead: 16\n  tensor_gemm_fixed: soon"),
        ("k_overhead: 16", "k_overhead: 16\n  strided_elements_per_clock: 0"),
        ("k_overhead: 16", "k_overhead: 16\n  strided_elements_per_clock: many"),
        ("k_overhead: 16", "k_overhead: 16\n  gather_elements_per_clock: 500"),
    ],
)
def test_bad_values_are_one_line_naming_the_field(tmp_path, change, message):
    path = tmp_path / "gpu.yaml"
    path.write_text(spec_text(BLOCK.replace(change, message)))
    with pytest.raises(HardwareSpecError, match=r"gpu\.yaml: .*kernel_model\.") as info:
        load_hardware(path)
    assert "\n" not in str(info.value)


def test_batched_tiles_are_parsed_and_written_back(tmp_path):
    # Pascal's one batched SGEMM tile: 64 output rows by 128 columns (maxwell_sgemm_128x64_nn),
    # one resident per SM.
    path = tmp_path / "gpu.yaml"
    text = BLOCK.replace("gemm_efficiency: {simt: 0.6, tensor: 0.7}", "gemm_efficiency: {simt: 0.6, batched: 0.9}")
    path.write_text(spec_text(text.replace("k_overhead: 16", "k_overhead: 16\n  batched_tiles: [[64, 128, 1]]")))
    model = load_hardware(path).kernel_model
    assert model.batched_tiles == ((64, 128, 1),) and model.gemm_efficiency == {"simt": 0.6, "batched": 0.9}
    again = load_hardware(write_hardware(load_hardware(path), tmp_path / "again.yaml")).kernel_model
    assert again == model


def test_l2_partitions_are_parsed_and_written_back(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(spec_text(BLOCK.replace("k_overhead: 16", "k_overhead: 16\n  l2_partitions: 2")))
    model = load_hardware(path).kernel_model
    assert model.l2_partitions == 2
    assert load_hardware(write_hardware(load_hardware(path), tmp_path / "again.yaml")).kernel_model == model
    # Left out, the L2 is one partition.
    path.write_text(spec_text(BLOCK))
    assert load_hardware(path).kernel_model.l2_partitions == 1


def test_issue_rates_are_parsed_and_written_back(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(spec_text(BLOCK.replace("k_overhead: 16", "k_overhead: 16\n  strided_elements_per_clock: 2.5\n"
                                            "  gather_elements_per_clock: 0.75")))
    model = load_hardware(path).kernel_model
    assert (model.strided_elements_per_clock, model.gather_elements_per_clock) == (2.5, 0.75)
    assert load_hardware(write_hardware(load_hardware(path), tmp_path / "again.yaml")).kernel_model == model
    path.write_text(spec_text(BLOCK))  # left out: the defaults, each fitted on one kernel
    model = load_hardware(path).kernel_model
    assert model.strided_elements_per_clock == DEFAULT_STRIDED_ELEMENTS_PER_CLOCK
    assert model.gather_elements_per_clock == DEFAULT_GATHER_ELEMENTS_PER_CLOCK


def test_tensor_gemm_fixed_is_parsed_and_written_back(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(spec_text(BLOCK.replace("k_overhead: 16", "k_overhead: 16\n  tensor_gemm_fixed: 6 us")))
    model = load_hardware(path).kernel_model
    assert model.tensor_gemm_fixed_s == pytest.approx(6e-6)
    assert load_hardware(write_hardware(load_hardware(path), tmp_path / "again.yaml")).kernel_model == model
    path.write_text(spec_text(BLOCK))  # left out: none
    assert load_hardware(path).kernel_model.tensor_gemm_fixed_s == 0.0


def test_fitted_specs_say_where_their_figures_come_from():
    for name in ("a100-pcie", "a100-80gb-pcie", "v100-pcie", "t4", "p100", "p4"):
        model = load_hardware(name).kernel_model
        assert model is not None and "benchmarks/gpu_fit.py" in model.source, name
        assert 0 < model.gemm_efficiency["simt"] <= 1


# --------------------------------------------------------------------------- packaged specs

SPEC_DIR = __import__("pathlib").Path(__file__).resolve().parents[2] / "hw_specs"
#: FP32 lanes per SM by architecture (NVIDIA whitepapers): 64 on Pascal GP100, Volta,
#: Turing and GA100; 128 on GP104 (P4), Hopper and Ada.
FP32_LANES = {"p100": 64, "v100": 64, "v100-pcie": 64, "t4": 64, "a100-pcie": 64, "a100-80gb-pcie": 64,
              "a100-sxm": 64, "4xa100-sxm": 64, "p4": 128, "l4": 128, "l40s": 128, "rtx-4090": 128, "h100-sxm": 128,
              "h100-pcie": 128, "h200": 128, "8xh100-sxm": 128, "2x8xh100-sxm": 128}


def nvidia_specs():
    return sorted(path for path in SPEC_DIR.glob("*.yaml") if "vendor: nvidia" in path.read_text())


def test_every_nvidia_spec_has_a_kernel_model_with_provenance():
    paths = nvidia_specs()
    assert {path.stem for path in paths} == set(FP32_LANES)
    for path in paths:
        model = load_hardware(path).kernel_model
        assert model is not None, path.name
        assert "sms" in model.source and ("fitted" in model.source or "transferred" in model.source), path.name
        assert 0 < model.clock_ratio <= 1 and all(0 < f <= 1 for f in model.gemm_efficiency.values())


def test_sms_and_boost_clock_give_the_datasheet_fp32_peak():
    # peak = SMs x FP32 lanes x 2 (an FMA) x boost clock, e.g. A100: 108 x 64 x 2 x 1.41 GHz
    # = 19.49 TFLOP/s. Within 7%: the P100 and P4 specs take NeuSight's clock (1380 and
    # 1113 MHz) over the datasheet's (1303 and 1063 MHz) behind their peaks.
    for path in nvidia_specs():
        spec = load_hardware(path)
        model = spec.kernel_model
        derived = model.sms * FP32_LANES[path.stem] * 2 * model.boost_clock_hz
        assert derived == pytest.approx(spec.vector_flops["fp32"], rel=0.07), path.name


def test_power_limited_cards_run_below_boost():
    # L4: datasheet base 795 of boost 2040 MHz; T4: ~900 of 1590 MHz under load.
    assert load_hardware(SPEC_DIR / "l4.yaml").kernel_model.clock_ratio == pytest.approx(795 / 2040)
    assert load_hardware(SPEC_DIR / "t4.yaml").kernel_model.clock_ratio == pytest.approx(900 / 1590)


def test_split_l2_chips_say_so():
    # GA100 and GH100 split their L2 in two (NVIDIA's A100 and H100 architecture
    # whitepapers); Volta, Turing, Pascal and Ada specs keep one partition.
    for name in ("a100-pcie", "a100-80gb-pcie", "a100-sxm", "h100-sxm", "h100-pcie", "h200"):
        model = load_hardware(SPEC_DIR / f"{name}.yaml").kernel_model
        assert model.l2_partitions == 2 and "l2_partitions" in model.source, name
    for name in ("v100-pcie", "t4", "p100", "p4", "l4"):
        assert load_hardware(SPEC_DIR / f"{name}.yaml").kernel_model.l2_partitions == 1, name
