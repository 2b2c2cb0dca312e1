"""benchmarks/gpu_fit.py: the batched GEMM efficiency fitted on a synthetic bmm file
recovers the efficiency the timings were built with."""

import gzip

import pytest

from tests.benchmarks import load_benchmark

#: The synthetic GPU: an A100 PCIe's fp32 peak and bandwidth, 108 SMs, batched GEMMs on
#: one 128x128 tile at 85% of the peak, 10 us of fixed cost (harness and launch) per row.
EFFICIENCY, FIXED_S, PEAK, BANDWIDTH, SMS = 0.85, 10e-6, 19.5e12, 1.555e12, 108


def bmm_ms(batch: int, m: int, reduction: int, n: int) -> float:
    """One bmm row [batch, m, reduction] @ [batch, reduction, n], timed. 27 products of
    256 x 256 outputs are 27 x 2 x 2 = 108 tiles of 128x128, one per SM (one wave), each
    paying reduction + 16 K steps: the shape attains reduction / (reduction + 16) of the
    peak, so time = fixed + 2 batch m n reduction / (peak x 0.85 x reduction / (reduction + 16))."""
    assert (batch, m, n) == (27, 256, 256)
    return 1e3 * (FIXED_S + 2 * batch * m * n * reduction / (PEAK * EFFICIENCY * reduction / (reduction + 16)))


def test_the_batched_fit_recovers_the_efficiency_the_rows_were_built_with(tmp_path):
    fit_module = load_benchmark("gpu_fit")
    path = tmp_path / "bmm.csv"
    lines = ["OPName,Latency,Device,B,M,N,K"]
    lines += [f"bmm,{bmm_ms(27, 256, k, 256)!r},Fake GPU,27,256,{k},256" for k in (1024, 2048, 4096, 8192)]
    path.write_text("\n".join(lines) + "\n")
    from gpu_fidelity import read_rows  # loading gpu_fit put benchmarks/ on the path

    rows = read_rows(path, "bmm", "train")
    efficiency, used = fit_module.fit_gemm(rows, SMS, PEAK, BANDWIDTH, FIXED_S, tiles=((128, 128, 1),))
    assert used == 4
    assert efficiency == pytest.approx(EFFICIENCY, rel=1e-9)


def test_k_overhead_is_the_fixed_steps_of_a_wave_of_tiles(tmp_path):
    # A fake GPU of 10 SMs with two batched kernels: 128x64 tiles whose wave takes
    # 150 ns x (K + 6) and 64x64 tiles at 90 ns x (K + 2), on 700 and 500 rows of 5 waves
    # (50 CTAs over 10 SMs) with K from 32 to 512; 10 us of harness and launch per row.
    # Each kernel's line gives a / b = 6 and 2 steps; weighted by rows: (6 x 700 + 2 x 500)
    # / 1200 = 4.33, rounded to 4. Rows outside the fit's range (3 waves, K over
    # 512) are built 10x slower: taken in, they would move the figure.
    fit_module = load_benchmark("gpu_fit")
    sms, fixed_s = 10, 10e-6
    lines = ["OPName,Latency,Device,Kernel Name,Grid x,Grid y,Grid z,B,M,N,K"]

    def row(kernel: str, step_s: float, k0: float, k: int, grid_z: int, slow: float = 1.0) -> str:
        waves = -(-grid_z // sms)
        latency_ms = 1e3 * (fixed_s + slow * waves * step_s * (k + k0))
        return f"bmm,{latency_ms!r},Fake GPU,void {kernel}(),1,1,{grid_z},{grid_z},64,{k},64"

    for i in range(700):
        lines.append(row("volta_sgemm_128x64_nn", 150e-9, 6, 32 + i % 481, 50))
    for i in range(500):
        lines.append(row("volta_sgemm_64x64_nn", 90e-9, 2, 32 + i % 481, 50))
    lines += [row("volta_sgemm_64x64_nn", 90e-9, 2, 100, 30, slow=10.0),
              row("volta_sgemm_64x64_nn", 90e-9, 2, 600, 50, slow=10.0)]
    folder = tmp_path / "per_op" / "train" / "bmm"
    folder.mkdir(parents=True)
    with gzip.open(folder / "Fake.csv.gz", "wt") as out:
        out.write("\n".join(lines) + "\n")
    k_overhead, rows = fit_module.fit_k_overhead(tmp_path, "Fake", sms, fixed_s)
    assert (k_overhead, rows) == (4.0, 1200)
