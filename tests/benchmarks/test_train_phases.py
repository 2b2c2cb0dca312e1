"""benchmarks/train_phases.py: the phase sums and the command line's errors (no timings)."""

import pandas as pd
import pytest

from . import load_benchmark


@pytest.fixture(scope="module")
def tp():
    return load_benchmark("train_phases")


def test_phase_sums_leave_out_the_loss_forward(tp):
    ops = pd.DataFrame({
        "phase": ["forward", "forward", "forward", "backward", "backward"],
        "module": ["h.0", "h.1", "<loss>", "h.1", "<loss>"],
        "predicted_s": [1.0, 2.0, 4.0, 8.0, 16.0],
    })
    # forward: 1 + 2 (the loss's 4 untimed); backward: 8 + 16 (backward() runs the loss's backward)
    assert tp.phase_seconds(ops) == (3.0, 24.0)


def test_an_unknown_gpu_is_one_line(tp, tmp_path, capsys):
    (tmp_path / "per_op").mkdir()
    (tmp_path / "labels").mkdir()
    assert tp.main(["--data", str(tmp_path), "--gpus", "NVIDIA_H800"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --gpus: unknown NVIDIA_H800") and len(err.splitlines()) == 1


def test_no_training_labels_is_one_line(tp, tmp_path, capsys):
    (tmp_path / "per_op").mkdir()
    (tmp_path / "labels").mkdir()
    assert tp.main(["--data", str(tmp_path)]) == 2
    assert "no training labels" in capsys.readouterr().err
