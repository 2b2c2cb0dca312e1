"""Every ``roofline ...`` command the README shows runs (issue 15), in a temporary
folder, through the command's own entry point.

The commands are read from the README's code blocks, so a command added there is tested
here. Where the README's command would take minutes on a test machine, the run is made
cheaper without changing what it exercises (ADJUSTMENTS): models are built on the meta
device (the same ops are counted, nothing is computed), the calibration is the quick
one, the validation times one forward, the plan uses a short sequence. hf: targets are
skipped without transformers.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from roofline.cli import main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

#: subcommand -> (flag, its values) added when the README's command lacks the flag.
ADJUSTMENTS: dict[str, list[tuple[str, ...]]] = {
    "analyze": [("--meta",)],
    "sweep": [("--meta",)],
    "calibrate": [("--quick",)],
    "validate": [("--repeats", "1"), ("--warmup", "0")],
    "plan": [("-o", "seq=64")],
}
#: Flags whose value is a file the command writes.
OUTPUT_FLAGS = ("--csv", "--json", "--trace", "--plot", "--out")

#: The file target the README's ``path/to/file.py:build`` stands for.
FILE_TARGET = '''
import torch
import torch.nn as nn


def build(batch=1):
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 8)), (torch.randn(batch, 32),)
'''


def readme_commands() -> list[str]:
    """The ``roofline ...`` lines of the README's code blocks, without trailing comments."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("roofline "):
                commands.append(line.split(" #")[0].strip())
    return commands


def adjusted(command: str) -> list[str]:
    """The README command as argv (without "roofline"), made cheap per ADJUSTMENTS."""
    argv = shlex.split(command)[1:]
    for flag, *values in ADJUSTMENTS.get(argv[0], []):
        if flag not in argv:
            argv += [flag, *values]
    return argv


def outputs(argv: list[str]) -> list[str]:
    """The files a command writes: the values of its OUTPUT_FLAGS."""
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word in OUTPUT_FLAGS]


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert len(commands) >= 10
    assert {shlex.split(c)[1] for c in commands} >= {"analyze", "sweep", "calibrate", "validate", "plan", "hw", "zoo"}
    # no command writes into the repository's own folders (the calibration goes to a
    # path of the user's, not over a tracked spec)
    for command in commands:
        for path in outputs(shlex.split(command)):
            assert not (REPO / path).parent.exists() or (REPO / path).parent == REPO, command
            assert not (REPO / path).exists(), command


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with the README's file target, a spec at my-cpu.yaml (the packaged
    calibrated one, so validate runs whether or not calibrate ran first) and a
    torch.profiler trace of the file target at trace.json (for validate --profile)."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "path" / "to").mkdir(parents=True)
    (folder / "path" / "to" / "file.py").write_text(FILE_TARGET)
    (folder / "my-cpu.yaml").write_text((REPO / "hw_specs" / "local-cpu.yaml").read_text())
    _profile_file_target(folder / "path" / "to" / "file.py", folder / "trace.json")
    return folder


def _profile_file_target(target: Path, path: Path) -> None:
    """A CPU torch.profiler trace of one forward of the file target's model, at ``path``."""
    import runpy

    import torch
    from torch.profiler import ProfilerActivity, profile

    model, inputs = runpy.run_path(str(target))["build"]()
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(*inputs)
    prof.export_chrome_trace(str(path))


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, workdir, monkeypatch, capsys):
    argv = adjusted(command)
    if any(word.startswith("hf:") for word in argv):
        pytest.importorskip("transformers")
    monkeypatch.chdir(workdir)
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, f"{command}: {captured.err}"
    assert captured.out.strip(), command
    for path in outputs(argv):
        assert (workdir / path).stat().st_size > 0, f"{command}: {path} not written"
