"""benchmarks/cpu_strided_cats.py: the cats it records from a forward, the kernel it
predicts them with, and its refusals of bad options. No timing is asserted."""

from pathlib import Path

import torch

from . import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "hw_specs" / "local-cpu.yaml")


def test_a_recorded_cat_is_predicted_with_its_strides():
    from roofline.hardware import load_hardware

    bench = load_benchmark("cpu_strided_cats")
    spec = load_hardware(SPEC)
    # [1, 4, 4, 3] and its transpose (strides 48, 3, 12, 1): the copy path; the same
    # shapes contiguous: the serial kernel
    strided = {"inputs": [((1, 4, 4, 3), (48, 12, 3, 1), torch.float32), ((1, 4, 4, 3), (48, 3, 12, 1), torch.float32)],
               "dim": -1}
    contiguous = {"inputs": [((1, 4, 4, 3), (48, 12, 3, 1), torch.float32)] * 2, "dim": -1}
    assert bench.predict_cat(strided, spec)[1] == "copy"
    assert bench.predict_cat(contiguous, spec)[1] == ""
    assert bench.predict_cat(strided, spec)[0] > 0
    assert bench._shape(strided) == "[1,4,4,3]x[1,4,4,3]* dim -1"


def test_bad_options_are_refused(capsys, tmp_path):
    bench = load_benchmark("cpu_strided_cats")
    assert bench.main(["--hw", SPEC, "--models", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--models" in err and "no-such-model" in err
    missing = str(tmp_path / "none.yaml")
    assert bench.main(["--hw", missing]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--hw" in err
