"""benchmarks/cpu_attention.py: its refusal of a spec without measured.sdpa_times, and of
a spec file that does not load. No timing is asserted."""

from pathlib import Path

from . import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "hw_specs" / "local-cpu.yaml")


def test_a_spec_without_the_probes_is_refused(capsys):
    bench = load_benchmark("cpu_attention")
    assert bench.main(["--hw", SPEC]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no measured.sdpa_times" in err and SPEC in err


def test_a_missing_spec_is_refused_in_one_line(tmp_path, capsys):
    bench = load_benchmark("cpu_attention")
    missing = str(tmp_path / "none.yaml")
    assert bench.main(["--hw", missing]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and missing in err
