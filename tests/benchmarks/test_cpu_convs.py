"""benchmarks/cpu_convs.py: which convolutions it reports under which kind, and its
refusal of a spec without measured.conv_rates. No timing is asserted."""

from pathlib import Path

import torch

from . import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "hw_specs" / "local-cpu.yaml")


def test_kinds_follow_the_groups():
    from roofline.analysis import analyze

    bench = load_benchmark("cpu_convs")
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),  # one channel per group
                                torch.nn.Conv2d(8, 16, 3, padding=1, groups=2),  # 4 channels per group
                                torch.nn.Conv2d(16, 16, 1), torch.nn.ReLU()).eval()  # dense, then no conv
    ops = analyze(model, (torch.randn(1, 8, 12, 12),), hw=SPEC).ops
    assert [kind for kind in bench._kinds(ops) if kind] == ["depthwise", "grouped", "dense"]
    assert bench._kinds(ops)[ops["op"].to_numpy() == "aten.relu"].tolist() == [""]


def test_a_spec_without_the_table_is_refused(capsys):
    bench = load_benchmark("cpu_convs")
    assert bench.main(["--hw", SPEC]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no measured.conv_rates" in err and SPEC in err
