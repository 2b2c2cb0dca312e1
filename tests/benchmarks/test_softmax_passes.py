"""benchmarks/softmax_passes.py: the block kernel's loads per pass, worked by hand from
PyTorch's ilpReduce, and the variants' times on a packaged spec (no measurements)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline import load_hardware

from . import load_benchmark


@pytest.fixture(scope="module")
def sp():
    return load_benchmark("softmax_passes")


@pytest.mark.parametrize(("length", "block", "expected"), [
    # 1280 fp32: block 256 (1280 / 4 = 320, halved 160, next power of two 256); one
    # 4 x 256 = 1024-element vector pass, then 256 elements one a thread: (0, 1, 1).
    (1280, 256, (0.0, 1.0, 1.0)),
    # 1600: 1024 in vectors, 576 left = 3 scalar passes (256, 256, 64 threads).
    (1600, 256, (0.0, 1.0, 3.0)),
    # 2048: two whole vector passes, no tail.
    (2048, 256, (0.0, 2.0, 0.0)),
    # 1026 (block 128: 1026 // 4 = 256, halved 128): rows start at shifts 0 and 2.
    # shift 0: 1024 in 2 vector passes of 512, 2 left: 1 scalar pass -> (0, 2, 1);
    # shift 2: head of 1, rest 1026 + 2 - 128 = 900: 1 vector pass, 388 left: 4 -> (1, 1, 4);
    # mean (0.5, 1.5, 2.5).
    (1026, 128, (0.5, 1.5, 2.5)),
    # 1025: shifts 0..3. shift 0 -> (0, 2, 1); shifts 1, 2, 3: rest 898, 899, 900: one
    # vector pass, 386-388 left: 4 scalar passes -> (1, 1, 4); mean (0.75, 1.25, 3.25).
    (1025, 128, (0.75, 1.25, 3.25)),
])
def test_block_passes_by_hand(sp, length, block, expected):
    assert sp.block_passes(length, block, 4) == pytest.approx(expected)


def test_pass_table_takes_pytorchs_block_size(sp):
    table = sp.pass_table(np.array([1280, 3072, 16384])).set_index("H")
    # 3072 / 4 = 768, halved 384 -> 512; 16384 / 4 = 4096 -> min(., 1024) = 1024, halved 512.
    assert table["block"].tolist() == [256, 512, 512]
    # 3072 = 1 pass of 2048 in vectors + 1024 = 2 scalar passes of 512: 3 loads;
    # 16384 = 8 vector passes of 2048.
    assert table["loads"].tolist() == [2.0, 3.0, 8.0]


def test_kernel_times_on_a_t4_by_hand(sp):
    t4 = load_hardware("t4")
    rows = pd.DataFrame({"B": [160.0], "H": [2048.0], "block": [256.0], "loads": [2.0]})
    times = sp.kernel_times(rows, t4, latency_clocks=100, row_clocks=4000)
    dram_bw = t4.efficiency.memory * t4.dram.bandwidth
    l2_bw = t4.level("l2").bandwidth
    row_bytes = 2048 * 4
    # 160 rows in flight (40 SMs x 1024 / 256 threads) x 8 KiB x 2 = 2.6 MB fit the 4 MB L2:
    # every re-read hits. compulsory: one read and one write of 160 rows.
    compulsory = 2 * 160 * row_bytes / dram_bw
    assert times["compulsory"][0] == pytest.approx(compulsory + t4.kernel_model.latency_s)
    # sum: + two re-reads of every row from L2.
    assert times["sum"][0] == pytest.approx(compulsory + 2 * 160 * row_bytes / l2_bw + t4.kernel_model.latency_s)
    # overlap: the larger of DRAM (compulsory) and L2 (4 passes of every row).
    overlap = max(compulsory, 4 * 160 * row_bytes / l2_bw)
    assert times["overlap"][0] == pytest.approx(overlap + t4.kernel_model.latency_s)
    # chain: one round of rows, 3 passes x 2 loads x 100 clocks + 4000 = 4600 clocks at boost.
    assert times["chain"][0] == pytest.approx(times["overlap"][0] + 4600 / t4.kernel_model.boost_clock_hz)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200_000), st.sampled_from([1280, 2048, 3072, 6400, 16384]))
def test_kernel_times_ordered_and_monotone(sp, rows_n, length):
    t4 = load_hardware("t4")
    block = float(sp.pass_table(np.array([length]))["block"].iloc[0])
    loads = float(sp.pass_table(np.array([length]))["loads"].iloc[0])
    rows = pd.DataFrame({"B": [float(rows_n), float(rows_n) + 1000.0], "H": [float(length)] * 2,
                         "block": [block] * 2, "loads": [loads] * 2})
    times = sp.kernel_times(rows, t4, latency_clocks=200, row_clocks=2000)
    # L2 at least as fast as DRAM: overlapping the re-reads never costs more than queuing them.
    assert np.all(times["compulsory"] <= times["overlap"] + 1e-15)
    assert np.all(times["overlap"] <= times["sum"] + 1e-15)
    assert np.all(times["overlap"] <= times["chain"])
    for name in ("compulsory", "sum", "overlap", "chain"):
        assert times[name][0] <= times[name][1]  # more rows never take less time


def test_an_unknown_gpu_is_one_line(sp, tmp_path, capsys):
    (tmp_path / "per_op").mkdir()
    (tmp_path / "labels").mkdir()
    assert sp.main(["--data", str(tmp_path), "--gpus", "NVIDIA_H800"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --gpus: unknown NVIDIA_H800") and len(err.splitlines()) == 1


def test_no_rows_is_one_line(sp, tmp_path, capsys):
    (tmp_path / "per_op").mkdir()
    (tmp_path / "labels").mkdir()
    assert sp.main(["--data", str(tmp_path), "--gpus", "Tesla_T4"]) == 2
    assert "no softmax rows" in capsys.readouterr().err
