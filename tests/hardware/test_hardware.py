"""roofline.hardware: packaged specs, peaks and fallbacks, aliases, round trips (bad files: test_checks.py).

Expected figures are worked by hand from the shared hw_reference.md (vendor figures with sources), not read back.
"""

import dataclasses
from pathlib import Path

import pytest

from roofline.errors import HardwareSpecError, RooflineError
from roofline.hardware import (
    DTYPES,
    CalibrationRecord,
    CurvePoint,
    GemmRate,
    Efficiency,
    HardwareSpec,
    MemoryLevel,
    dtype_key,
    list_hardware,
    load_hardware,
    spec_to_yaml,
    write_hardware,
)

HW_DIR = Path(__file__).resolve().parents[2] / "hw_specs"
EXPECTED_SPECS = {
    "h100-sxm", "h100-pcie", "h200", "a100-sxm", "a100-pcie", "v100", "l4", "l40s",
    "rtx-4090", "t4", "mi300x", "mi250x", "xeon-8480", "epyc-9654", "a100-80gb-pcie", "p100", "p4", "v100-pcie",
    "8xh100-sxm", "2x8xh100-sxm", "4xa100-sxm",  # multi-device systems (tests/tools/test_parallel*.py)
}
#: Specs written by `roofline calibrate` (they carry a `measured:` record).
MEASURED_SPECS = {"local-cpu"}


# ------------------------------------------------------------------ packaged specs


def test_the_expected_spec_files_exist():
    assert {p.stem for p in HW_DIR.glob("*.yaml")} == EXPECTED_SPECS | MEASURED_SPECS
    assert (HW_DIR / "__init__.py").exists()


@pytest.mark.parametrize("name", sorted(EXPECTED_SPECS))
def test_every_packaged_spec_loads(name):
    spec = load_hardware(name)
    assert spec.name == name
    assert spec.kind in ("gpu", "cpu")
    assert spec.source.strip() and spec.display_name.strip() and spec.vendor.strip()
    assert spec.memory[-1].name == "dram" and spec.dram is spec.memory[-1]
    assert len(spec.memory) >= 2
    assert "fp32" in spec.vector_flops
    assert set(spec.matrix_flops) <= set(DTYPES) and set(spec.vector_flops) <= set(DTYPES)
    assert spec.measured is None  # datasheet specs
    assert 0 < spec.efficiency.memory <= 1
    assert spec.path is not None and Path(spec.path).name == f"{name}.yaml"


@pytest.mark.parametrize("name", sorted(MEASURED_SPECS))
def test_calibrated_specs_load_and_say_how_they_were_measured(name):
    spec = load_hardware(name)
    assert spec.kind == "cpu" and isinstance(spec.measured, CalibrationRecord)
    assert spec.measured.tool == "roofline calibrate"
    assert "measured" in spec.source and spec.measured.date


@pytest.mark.parametrize("name", sorted(EXPECTED_SPECS))
def test_every_packaged_spec_loads_from_its_path_too(name):
    assert load_hardware(HW_DIR / f"{name}.yaml") == load_hardware(name)


def test_h100_sxm_figures_and_bf16_ridge():
    spec = load_hardware("h100-sxm")
    assert spec.peak_flops("bf16", "matrix") == 989e12
    assert spec.dram == MemoryLevel("dram", 3.35e12, 80e9)
    assert spec.host_link_bw == 128e9 and spec.peer_link_bw == 900e9
    assert spec.overhead_s == 4e-6
    assert spec.efficiency == Efficiency(matrix=0.80, vector=0.70, memory=0.85)
    # 989 TFLOP/s / 3.35 TB/s = 989 / 3.35 = 295.22... FLOP/byte
    rp = spec.ridge_points()
    row = rp[(rp.unit == "matrix") & (rp.dtype == "bf16") & (rp.level == "dram")]
    assert len(row) == 1
    assert row.ridge_intensity.iloc[0] == pytest.approx(295.2239, rel=1e-6)
    assert row.peak_flops.iloc[0] == 989e12 and row.bandwidth.iloc[0] == 3.35e12


def test_ridge_points_table_shape():
    spec = load_hardware("h100-sxm")
    rp = spec.ridge_points()
    assert list(rp.columns) == [
        "unit", "dtype", "level", "peak_flops", "bandwidth", "ridge_intensity",
    ]
    # (6 matrix + 4 vector dtypes) x (l2, dram)
    assert len(rp) == (6 + 4) * 2
    # fp32 vector vs L2: 67e12 / 7.3e12 = 9.178...
    row = rp[(rp.unit == "vector") & (rp.dtype == "fp32") & (rp.level == "l2")]
    assert row.ridge_intensity.iloc[0] == pytest.approx(9.17808, rel=1e-5)


def test_mi250x_is_one_gcd():
    spec = load_hardware("mi250x")
    # whole card 383 TF bf16, 128 GB, 3.28 TB/s, 47.9 TF fp32 vector: halved
    assert spec.peak_flops("bf16", "matrix") == 191.5e12
    assert spec.dram.capacity == 64e9
    assert spec.dram.bandwidth == 1.64e12
    assert spec.peak_flops("fp32", "vector") == 23.95e12


def test_cpu_peaks_worked_from_cores_and_clock():
    xeon = load_hardware("xeon-8480")
    assert xeon.kind == "cpu"
    assert xeon.peak_flops("bf16", "matrix") == pytest.approx(56 * 1024 * 2.0e9)  # AMX
    assert xeon.peak_flops("int8", "matrix") == pytest.approx(56 * 2048 * 2.0e9)
    assert xeon.peak_flops("fp32", "matrix") == pytest.approx(56 * 64 * 2.0e9)  # AVX-512
    assert xeon.dram.bandwidth == pytest.approx(8 * 4800e6 * 8)  # 8 ch x DDR5-4800 x 8 B
    assert xeon.overhead_s == 3e-6
    epyc = load_hardware("epyc-9654")
    assert epyc.peak_flops("fp32", "vector") == pytest.approx(96 * 32 * 2.4e9)
    assert epyc.dram.bandwidth == pytest.approx(12 * 4800e6 * 8)
    assert epyc.efficiency == Efficiency(0.7, 0.7, 0.7)


def test_dense_peaks_only():
    # No packaged spec carries a sparse-looking figure (the loader would refuse it).
    h100 = load_hardware("h100-sxm")
    assert h100.peak_flops("fp16", "matrix") == 989e12  # not the 1979 "FP16" sparse figure
    assert load_hardware("a100-sxm").peak_flops("bf16", "matrix") == 312e12


# ------------------------------------------------------------------ peak fallbacks


def test_peak_flops_fallbacks():
    h100 = load_hardware("h100-sxm")
    assert h100.peak_flops("bf16", "vector") == 134e12
    # fp32 has no matrix peak (TF32 off): vector fp32
    assert h100.peak_flops("fp32", "matrix") == 67e12
    # tf32 has no vector peak: vector fp32
    assert h100.peak_flops("tf32", "vector") == 67e12
    # ints / bool (dtype_key -> "int32") run at the fp32 vector rate
    assert h100.peak_flops("int32", "vector") == 67e12
    assert h100.peak_flops("int32", "matrix") == 67e12
    # a dtype the spec lists nowhere: fp4 -> fp32 vector
    assert h100.peak_flops("fp4", "matrix") == 67e12
    v100 = load_hardware("v100")
    # V100 has no bf16 anywhere: 15.7 TF fp32 vector
    assert v100.peak_flops("bf16", "matrix") == 15.7e12
    # fp64 matmul on a CPU without an fp64 matrix peak: the AVX-512 fp64 vector rate
    assert load_hardware("xeon-8480").peak_flops("fp64", "matrix") == pytest.approx(56 * 32 * 2.0e9)


def test_peak_flops_rejects_bad_arguments():
    h100 = load_hardware("h100-sxm")
    with pytest.raises(ValueError, match="unit"):
        h100.peak_flops("bf16", "tensor")
    with pytest.raises(ValueError, match="unknown dtype key 'bf61'"):
        h100.peak_flops("bf61", "matrix")


def test_peak_flops_accepts_torch_dtypes():
    torch = pytest.importorskip("torch")
    h100 = load_hardware("h100-sxm")
    assert h100.peak_flops(torch.bfloat16, "matrix") == 989e12
    assert h100.peak_flops(torch.int64, "vector") == 67e12


def test_dtype_key():
    torch = pytest.importorskip("torch")
    assert dtype_key(torch.float32) == "fp32"
    assert dtype_key(torch.bfloat16) == "bf16"
    assert dtype_key(torch.float16) == "fp16"
    assert dtype_key(torch.float64) == "fp64"
    assert dtype_key(torch.float8_e4m3fn) == "fp8"
    assert dtype_key(torch.float8_e5m2) == "fp8"
    assert dtype_key(torch.int8) == "int8"
    assert dtype_key(torch.uint8) == "int8"
    assert dtype_key(torch.complex64) == "fp32"
    assert dtype_key(torch.complex128) == "fp64"
    for other in (torch.int16, torch.int32, torch.int64, torch.bool):
        assert dtype_key(other) == "int32"
    assert dtype_key("bf16") == "bf16"
    with pytest.raises(ValueError):
        dtype_key(object())


def test_level_lookup():
    spec = load_hardware("h100-sxm")
    assert spec.level("l2") == MemoryLevel("l2", 7.3e12, 50e6)
    with pytest.raises(KeyError, match="l3"):
        spec.level("l3")


# ------------------------------------------------------------------ names and aliases


@pytest.mark.parametrize(
    "alias, name",
    [
        ("h100", "h100-sxm"),
        ("H100", "h100-sxm"),
        ("H100_SXM", "h100-sxm"),
        ("  h100-sxm ", "h100-sxm"),
        ("a100", "a100-sxm"),
        ("A100_40GB", "a100-pcie"),
        ("rtx4090", "rtx-4090"),
        ("RTX_4090", "rtx-4090"),
    ],
)
def test_aliases(alias, name):
    assert load_hardware(alias).name == name


def test_unknown_name_lists_the_known_names():
    with pytest.raises(HardwareSpecError) as info:
        load_hardware("b200")
    message = str(info.value)
    assert '"b200"' in message
    for name in EXPECTED_SPECS:
        assert name in message
    assert "\n" not in message
    assert isinstance(info.value, RooflineError)


def test_spec_passes_through():
    spec = load_hardware("t4")
    assert load_hardware(spec) is spec


def test_cache_is_not_shared_with_callers():
    spec = load_hardware("h100-sxm")
    spec.matrix_flops["bf16"] = 1.0  # a caller scribbling on its copy
    assert load_hardware("h100-sxm").peak_flops("bf16", "matrix") == 989e12


def test_specs_are_hashable_and_frozen():
    spec = load_hardware("l4")
    assert hash(spec) == hash(load_hardware("l4"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"


def test_list_hardware():
    table = list_hardware()
    assert set(table.name) == EXPECTED_SPECS | MEASURED_SPECS
    for column in ("name", "display_name", "kind", "vendor", "dram_bandwidth",
                   "peak_bf16_matrix", "peak_fp16_matrix", "peak_fp32_vector"):
        assert column in table.columns
    h100 = table.set_index("name").loc["h100-sxm"]
    assert h100.dram_bandwidth == 3.35e12
    assert h100.peak_bf16_matrix == 989e12
    assert h100.peak_fp32_vector == 67e12


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("name", sorted(EXPECTED_SPECS))
def test_round_trip_through_yaml(tmp_path, name):
    spec = load_hardware(name)
    path = write_hardware(spec, tmp_path / f"{name}.yaml")
    again = load_hardware(path)
    assert again == spec
    assert again.aliases == spec.aliases
    assert again.path == str(path)


def test_round_trip_with_awkward_numbers_and_measured(tmp_path):
    np = pytest.importorskip("numpy")
    spec = dataclasses.replace(
        load_hardware("h100-sxm"),
        name="local",
        aliases=(),
        matrix_flops={"bf16": 7.123456789e14},
        vector_flops={"fp32": 1.0 / 3.0 * 1e14},
        memory=(MemoryLevel("l2", 6.54321e12, 50331648.0), MemoryLevel("dram", 2.98765e12, 85e9)),
        overhead_s=5.3e-6,
        efficiency=Efficiency(1.0, 1.0, 1.0),
        measured=CalibrationRecord(
            tool="calibrate", threads=np.int64(3),
            bandwidth_curve=(CurvePoint(16384, "add_out", np.float64(2.9e12)), CurvePoint(32768, "add_out", 3.0e12)),
            gemm_flops=(GemmRate("bf16", "1024^3", np.float32(700.5)),),
        ),
    )
    text = spec_to_yaml(spec)
    path = tmp_path / "local.yaml"
    path.write_text(text)
    again = load_hardware(path)
    assert again == spec
    assert [point.bandwidth for point in again.measured.bandwidth_curve] == [2.9e12, 3.0e12]
    assert type(again.measured.threads) is int and again.measured.gemm_flops[0].flops_per_s == 700.5


def test_write_hardware_is_atomic_and_refuses_bad_specs(tmp_path):
    path = tmp_path / "spec.yaml"
    good = load_hardware("t4")
    write_hardware(good, path)
    before = path.read_text()
    bad = dataclasses.replace(good, efficiency=Efficiency(2.0, 0.7, 0.85))
    with pytest.raises(HardwareSpecError, match="efficiency.matrix"):
        write_hardware(bad, path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]  # no temp files left


def test_hardware_spec_is_constructible_directly():
    spec = HardwareSpec(
        name="x", display_name="X", kind="cpu", vendor="v", source="s",
        matrix_flops={}, vector_flops={"fp32": 1e12},
        memory=(MemoryLevel("l2", 1e12, 1e6), MemoryLevel("dram", 1e11, 1e9)),
        host_link_bw=1e10, peer_link_bw=None, overhead_s=1e-6,
        efficiency=Efficiency(0.5, 0.5, 0.5),
    )
    assert spec.peak_flops("bf16", "matrix") == 1e12
    assert spec.dram.bandwidth == 1e11
