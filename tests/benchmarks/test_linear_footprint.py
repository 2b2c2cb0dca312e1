"""benchmarks/linear_footprint.py: the size buckets and rates, worked by hand (no measurements)."""

import pandas as pd
import pytest

from . import load_benchmark


@pytest.fixture(scope="module")
def lf():
    return load_benchmark("linear_footprint")


def test_size_tables_by_hand(lf):
    rows = pd.DataFrame({
        "gpu": ["Tesla_P4"] * 3, "split": ["train"] * 3, "kernel": ["k"] * 3,
        # input bytes B x M x N x 4: 1 x 1024 x 1024 x 4 = 4 MiB; 1 x 2048 x 32768 x 4 = 256 MiB;
        # the third has 100 rows (< 256): left out of the size table, kept in the rates.
        "shape": [(1, 1024, 1024, 512), (1, 2048, 32768, 512), (1, 100, 1024, 512)],
        "measured_s": [1e-3, 1e-1, 1e-3],
        "error": [0.1, -0.4, 0.9],
    })
    errors, rates = lf.size_tables(rows)
    assert errors.loc[("Tesla_P4", "train")].dropna().tolist() == [0.1, -0.4]
    assert [str(c) for c in errors.dropna(axis=1).columns] == ["(0.0, 64.0]", "(128.0, 256.0]"]
    # 2 x 1024 x 1024 x 512 / 1 ms = 1.074 TFLOP/s and 2 x 100 x 1024 x 512 / 1 ms = 0.105: median 0.589;
    # 2 x 2048 x 32768 x 512 / 0.1 s = 0.687 TFLOP/s for the one row over 64 KiB.
    assert rates.loc[("Tesla_P4", "train", "k"), False] == pytest.approx((1.073741824 + 0.1048576) / 2)
    assert rates.loc[("Tesla_P4", "train", "k"), True] == pytest.approx(0.687194767)


def test_an_unknown_gpu_is_one_line(lf, tmp_path, capsys):
    (tmp_path / "per_op").mkdir()
    (tmp_path / "labels").mkdir()
    assert lf.main(["--data", str(tmp_path), "--gpus", "NVIDIA_H800"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --gpus: unknown NVIDIA_H800") and len(err.splitlines()) == 1
