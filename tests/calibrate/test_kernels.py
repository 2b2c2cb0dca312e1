"""roofline.calibrate.kernels and ``roofline fit-kernels``: a kernel model fitted on
timing files recovers the parameters a synthetic GPU was built with."""

import dataclasses

import pytest

from roofline.cli import main
from roofline.hardware import load_hardware, write_hardware

#: The synthetic GPU: an A100 PCIe's peaks (fp32 19.5 TFLOP/s, 1.555 TB/s, 4 us launch),
#: whose GEMMs reach 60% of the peak, whose kernels stream at 80% of the bandwidth after
#: a 10 us fixed cost, and whose shortest timed kernel takes 20 us.
GEMM_EFFICIENCY, MEMORY_EFFICIENCY, OFFSET_S, FLOOR_S = 0.6, 0.8, 10e-6, 20e-6
PEAK, BANDWIDTH = 19.5e12, 1.555e12


def gemm_ms(m: int, n: int, k: int) -> float:
    """One linear row, timed: 1152 x 1536 outputs are 108 tiles of 128 x 128, one per SM
    of 108 (one full wave), each paying k + 16 K steps (the tile's fixed cost), so
    the shape attains k / (k + 16) of the peak: time = offset + 2mnk / (peak x 0.6 x k / (k + 16))."""
    assert (m, n) == (1152, 1536)
    return 1e3 * (OFFSET_S + 2 * m * n * k / (PEAK * GEMM_EFFICIENCY * k / (k + 16)))


def add_ms(b: int, h: int) -> float:
    """One add row of [b, h] fp32 (two read, one written: 12 b h bytes), timed."""
    return 1e3 * max(FLOOR_S, OFFSET_S + 12 * b * h / (MEMORY_EFFICIENCY * BANDWIDTH))


def write_measurements(folder, gpu="FakeGPU"):
    (folder / "linear").mkdir(parents=True)
    (folder / "add").mkdir()
    # NeuSight's linear rows: input [B, M, N] through Linear(N, K): the product is
    # (B M) x N @ N x K, so B=1, M=1152, N=k (the reduction), K=1536 (the outputs).
    rows = ["OPName,Latency,B,M,N,K"] + [f"linear,{gemm_ms(1152, 1536, k)!r},1,1152,{k},1536" for k in (2048, 4096, 8192)]
    (folder / "linear" / f"{gpu}.csv").write_text("\n".join(rows) + "\n")
    shapes = [(1, 256), (1, 1000), (2, 1000), (8192, 1024), (8192, 2048), (8192, 4096), (8192, 8192)]
    rows = ["OPName,Latency,B,H"] + [f"add,{add_ms(b, h)!r},{b},{h}" for b, h in shapes]
    (folder / "add" / f"{gpu}.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def base_spec(tmp_path):
    """a100-pcie without a kernel model: SMs and clocks must be given."""
    path = tmp_path / "base.yaml"
    write_hardware(dataclasses.replace(load_hardware("a100-pcie"), kernel_model=None), path)
    return path


def fit(tmp_path, base_spec, *extra):
    data = write_measurements(tmp_path / "data")
    out = tmp_path / "fitted.yaml"
    code = main(["fit-kernels", "--measurements", str(data), "--gpu", "FakeGPU", "--hw", str(base_spec),
                 "--out", str(out), "--sms", "108", "--boost-clock", "1410", *extra])
    return code, out


def test_the_fit_recovers_the_parameters_the_timings_were_built_with(tmp_path, base_spec):
    code, out = fit(tmp_path, base_spec)
    assert code == 0
    spec = load_hardware(out)
    model = spec.kernel_model
    assert model.gemm_efficiency["simt"] == pytest.approx(GEMM_EFFICIENCY, abs=1e-3)
    assert spec.efficiency.memory == pytest.approx(MEMORY_EFFICIENCY, abs=1e-3)
    assert (model.sms, model.boost_clock_hz, model.sustained_clock_hz) == (108, 1410e6, 1410e6)
    assert "FakeGPU" in model.source and spec.name == "fitted"


def test_a_sustained_clock_moves_the_efficiency_not_the_timings(tmp_path, base_spec):
    # Held at 1128 of 1410 MHz (0.8), the same timings mean kernels 0.6 / 0.8 = 0.75 efficient.
    code, out = fit(tmp_path, base_spec, "--sustained-clock", "1128")
    assert code == 0
    assert load_hardware(out).kernel_model.gemm_efficiency["simt"] == pytest.approx(0.75, abs=1e-3)


def test_the_offset_and_floor_are_recovered(tmp_path):
    from roofline.calibrate.kernels import fit_kernels, read_measurement_dir

    timings = read_measurement_dir(write_measurements(tmp_path), "FakeGPU")
    found = fit_kernels(timings, load_hardware("a100-pcie"), sms=108)
    assert found.offset_s == pytest.approx(OFFSET_S, rel=1e-6) and found.floor_s == pytest.approx(FLOOR_S, rel=1e-9)
    assert (found.gemm_rows, found.stream_rows) == (3, 4)


def test_bad_input_is_one_line_and_exit_2_with_nothing_written(tmp_path, base_spec, capsys):
    out = tmp_path / "x.yaml"
    missing = ["fit-kernels", "--measurements", str(tmp_path / "none"), "--gpu", "FakeGPU", "--hw", str(base_spec),
               "--out", str(out), "--sms", "108", "--boost-clock", "1410"]
    assert main(missing) == 2
    assert "--measurements" in capsys.readouterr().err and not out.exists()
    data = write_measurements(tmp_path / "data")
    no_sms = ["fit-kernels", "--measurements", str(data), "--gpu", "FakeGPU", "--hw", str(base_spec), "--out", str(out)]
    assert main(no_sms) == 2
    err = capsys.readouterr().err
    assert "--sms" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    other_gpu = ["fit-kernels", "--measurements", str(data), "--gpu", "Other", "--hw", str(base_spec), "--out", str(out),
                 "--sms", "108", "--boost-clock", "1410"]
    assert main(other_gpu) == 2 and "Other" in capsys.readouterr().err
    bad_dir = [*no_sms[:-1], str(tmp_path / "no" / "dir.yaml")]
    assert main(bad_dir) == 2 and "--out" in capsys.readouterr().err


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_calibrate_on_cuda_fits_a_kernel_model(tmp_path):
    from roofline.calibrate import calibrate, write_calibrated_spec

    spec = write_calibrated_spec(calibrate("cuda", quick=True), tmp_path / "gpu.yaml")
    model = spec.kernel_model
    assert model is not None and model.sms >= 1
    assert 0 < model.gemm_efficiency["simt"] <= 1 and "calibrate" in model.source
