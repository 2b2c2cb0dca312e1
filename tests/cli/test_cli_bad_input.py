"""Bad input at the command line (issue 15): each case is one line on stderr, exit code 2,
and nothing written, or (where the input was fine but the command failed it) a success.

Every output path is checked before any model is built, so the tests of output paths
also make building the model fail the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from roofline.cli import EXIT_USER_ERROR, main

REPO = Path(__file__).resolve().parents[2]

TARGET = textwrap.dedent(
    """
    import sys
    import torch
    import torch.nn as nn

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 8)

        def forward(self, x):
            return self.fc(x).relu().view(-1)

    def build(batch=2, seq=4):
        return Mlp(), (torch.randn(batch, seq, 16),)

    def exits(batch=1):
        class M(nn.Module):
            def forward(self, x):
                sys.exit(3)
        return M(), (torch.randn(batch, 4),)

    def generator(batch=1):
        class M(nn.Module):
            def forward(self, x):
                yield x * 2
        return M(), (torch.randn(batch, 4),)

    def build_exits(batch=1):
        sys.exit("no")
    """
)




def one_line_error(capsys, code, *fragments):
    """The command failed as a user error: exit 2, one line naming ``fragments``."""
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("roofline: error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def parser_error(capsys, argv, *fragments):
    """An argument argparse refuses: SystemExit 2 and one line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return one_line_error(capsys, exit_info.value.code, *fragments)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------ output paths
@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "gcn", "--csv", "{file}/ops.csv"],
        ["analyze", "gcn", "--json", "{file}/out.json"],
        ["analyze", "gcn", "--trace", "{file}/t.json"],
        ["analyze", "gcn", "--plot", "{file}/r.png"],
        ["validate", "gcn", "--hw", "t4", "--csv", "{file}/v.csv"],
        ["sweep", "gcn", "--hw", "t4", "--out", "{file}/s.csv"],
        ["calibrate", "--out", "{file}/spec.yaml", "--quick"],
    ],
    ids=lambda argv: " ".join(argv[:1] + argv[-2:-1] if argv[0] != "calibrate" else argv[:2]),
)
def test_an_output_under_a_file_fails_first_and_writes_nothing(tmp_path, capsys, no_build, argv):
    a_file = tmp_path / "hostname"
    a_file.write_text("not a folder\n")
    code = main([part.format(file=a_file) for part in argv])
    one_line_error(capsys, code, "hostname is a file, not a directory")
    assert files_in(tmp_path) == ["hostname"] and a_file.read_text() == "not a folder\n"


def test_every_output_is_checked_before_the_model_is_built(tmp_path, capsys, no_build):
    good = tmp_path / "ops.csv"
    code = main(["analyze", "gcn", "--csv", str(good), "--json", str(tmp_path / "missing" / "out.json")])
    one_line_error(capsys, code, "--json", "no such directory")
    code = main(["analyze", "gcn", "--csv", str(good), "--json", str(good)])
    one_line_error(capsys, code, "--csv writes the same file")
    code = main(["analyze", "gcn", "--csv", str(tmp_path)])
    one_line_error(capsys, code, "is a directory")
    assert files_in(tmp_path) == []


def test_an_empty_output_path_is_refused(capsys, no_build):
    parser_error(capsys, ["analyze", "gcn", "--csv", ""], "--csv", "expected a file path, got an empty string")
    parser_error(capsys, ["sweep", "gcn", "--hw", "t4", "--out", " "], "--out", "empty string")


def test_a_failed_run_leaves_no_file(target, tmp_path, capsys):
    csv, js = tmp_path / "ops.csv", tmp_path / "out.json"
    code = main(["analyze", f"{target}:exits", "--csv", str(csv), "--json", str(js)])
    one_line_error(capsys, code, "called sys.exit(3)")
    assert not csv.exists() and not js.exists()


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("value", ["0", "-1", str(2**63), "1.5", "many"])
def test_batch_must_be_a_positive_integer_in_range(capsys, no_build, value):
    parser_error(capsys, ["analyze", "gcn", "--batch", value], "--batch")


def test_other_counts(capsys, no_build):
    parser_error(capsys, ["analyze", "gcn", "--top", "-1"], "--top", "from 0")
    parser_error(capsys, ["analyze", "gcn", "--seq", "0"], "--seq")
    parser_error(capsys, ["plan", "gpt2", "--hw", "8xh100-sxm", "--global-batch", "0"], "--global-batch")
    parser_error(capsys, ["validate", "gcn", "--hw", "t4", "--repeats", "0"], "--repeats")
    one_line_error(capsys, main(["sweep", "gcn", "--hw", "t4", "--batch", "1,0"]), "--batch '1,0'")


def test_argparse_errors_are_one_line_in_a_real_process():
    result = subprocess.run([sys.executable, "-m", "roofline.cli", "analyze", "gcn", "--bogus"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "roofline: error: unrecognized arguments: --bogus (see roofline --help)"
    ]


@pytest.mark.parametrize("value,fragment", [("5", "give a unit"), ("5 s", "expected 0 to 1 s"), ("fast", "--microbatch-overhead")])
def test_plan_microbatch_overhead_needs_a_unit_and_a_sane_size(capsys, no_build, value, fragment):
    code = main(["plan", "gpt2", "--hw", "8xh100-sxm", "--global-batch", "8", "--microbatch-overhead", value])
    one_line_error(capsys, code, fragment)


# ------------------------------------------------------------------ devices
def test_calibrate_unknown_device_and_output_under_a_file(tmp_path, capsys):
    parser_error(capsys, ["calibrate", "--device", "tpu", "--out", str(tmp_path / "x.yaml")], "--device", "'tpu'")
    parser_error(capsys, ["validate", "gcn", "--hw", "t4", "--device", "tpu"], "--device")
    parser_error(capsys, ["calibrate", "--rounds", "0", "--out", str(tmp_path / "x.yaml")], "--rounds", "0")
    assert files_in(tmp_path) == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_calibrate_cuda_without_cuda(tmp_path, capsys):
    code = main(["calibrate", "--device", "cuda", "--out", str(tmp_path / "x.yaml"), "--quick"])
    one_line_error(capsys, code, "CUDA is not available")
    assert files_in(tmp_path) == []


# ------------------------------------------------------------------ the model
def test_sys_exit_and_generators_in_a_model(target, capsys):
    one_line_error(capsys, main(["analyze", f"{target}:exits"]), "mymodel:exits: the model called sys.exit(3)")
    one_line_error(capsys, main(["analyze", f"{target}:generator"]), "forward returned a generator")
    one_line_error(capsys, main(["analyze", f"{target}:build_exits"]), "the build function called sys.exit('no')")


def test_json_with_nan_writes_null(target, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["analyze", str(target), "--json", str(out)]) == 0

    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    document = json.loads(out.read_text(), parse_constant=refuse)
    view = [op for op in document["ops"] if op["op"].startswith("aten.view")]
    assert view and view[0]["intensity"] is None  # no bytes: no intensity, written as null


def test_control_characters_in_a_spec_are_shown_not_obeyed(target, tmp_path, capsys):
    spec = (REPO / "hw_specs" / "t4.yaml").read_text()
    spec = spec.replace("display_name: NVIDIA T4 16GB", 'display_name: "Evil\\x1b[31mRED\\x07"')
    (tmp_path / "evil.yaml").write_text(spec.replace("name: t4", "name: evil", 1))
    assert main(["hw", "show", str(tmp_path / "evil.yaml")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "Evil\\x1b[31mRED\\x07" in out
    assert main(["analyze", str(target), "--hw", str(tmp_path / "evil.yaml")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "Evil\\x1b" in out


# ------------------------------------------------------------------ sweeps and plans
def test_sweep_over_seq_without_batch_plots_along_seq(target, tmp_path, capsys):
    out, figure = tmp_path / "s.csv", tmp_path / "x.png"
    code = main(["sweep", str(target), "--hw", "t4", "--seq", "64,128", "--out", str(out), "--plot", str(figure)])
    assert code == 0, capsys.readouterr().err
    assert figure.read_bytes()[:4] == b"\x89PNG" and out.exists()


def test_no_blank_line_before_errors_of_long_commands(target):
    """Progress bars are drawn only on a terminal: off one they leave a blank line."""
    for argv in (["sweep", f"{target}:exits", "--hw", "t4"], ["plan", f"{target}:exits", "--hw", "8xh100-sxm", "--global-batch", "8"]):
        result = subprocess.run([sys.executable, "-m", "roofline.cli", *argv], capture_output=True, text=True, cwd=REPO)
        assert result.returncode == 2
        assert result.stderr.startswith("roofline: error: ") and len(result.stderr.splitlines()) == 1, result.stderr


# ------------------------------------------------------------------ validate
def test_validate_hf_target_builds_real_tensors(capsys, monkeypatch):
    """hf: targets build on meta by default; validate, which times real tensors, asks for
    real ones rather than telling the user to drop a --meta they never gave."""
    pytest.importorskip("transformers")
    import roofline.tools.validate as validate_module
    from roofline.errors import RooflineError

    seen = {}

    def fake_validate(model, inputs, **kwargs):
        seen["meta"] = any(p.is_meta for p in model.parameters())
        raise RooflineError("stop here")

    monkeypatch.setattr(validate_module, "validate", fake_validate)
    code = main(["validate", "hf:gpt2", "--hw", "t4", "-o", "seq=8", "-o", "n_layer=1"])
    one_line_error(capsys, code, "stop here")
    assert seen == {"meta": False}


def test_validate_warns_about_a_spec_from_another_machine(target, tmp_path, capsys):
    spec = (REPO / "hw_specs" / "local-cpu.yaml").read_text()
    spec = spec.replace("device_name: AMD EPYC", "device_name: Some Other CPU 9000").replace("threads: 2", "threads: 97")
    (tmp_path / "other.yaml").write_text(spec)
    code = main(["validate", str(target), "--hw", str(tmp_path / "other.yaml"), "--repeats", "1", "--warmup", "0"])
    err = capsys.readouterr().err
    assert code == 0
    (warning,) = err.splitlines()
    assert warning.startswith("roofline: warning: ") and "'Some Other CPU 9000' (instruction sets not recorded) with 97 threads" in warning


def test_validate_warns_about_a_spec_from_a_cpu_of_the_same_name_with_other_instruction_sets(target, tmp_path, capsys):
    """A virtual machine's CPU keeps its name ("AMD EPYC") on hosts of different
    generations: the instruction sets the calibration recorded tell them apart."""
    import torch

    from roofline.calibrate.machine import cpu_isa, cpu_name_and_vendor

    spec = (REPO / "hw_specs" / "local-cpu.yaml").read_text()
    spec = spec.replace("device_name: AMD EPYC", f"device_name: {cpu_name_and_vendor()[0]}\n  isa: NEON-9000")
    spec = spec.replace("threads: 2", f"threads: {torch.get_num_threads()}")
    (tmp_path / "other.yaml").write_text(spec)
    code = main(["validate", str(target), "--hw", str(tmp_path / "other.yaml"), "--repeats", "1", "--warmup", "0"])
    err = capsys.readouterr().err
    assert code == 0
    (warning,) = err.splitlines()
    assert "(NEON-9000)" in warning and f"({cpu_isa()})" in warning
