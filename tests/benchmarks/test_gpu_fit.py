"""benchmarks/gpu_fit.py: the batched GEMM efficiency fitted on a synthetic bmm file
recovers the efficiency the timings were built with."""

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
