"""roofline/cli/commands.py: the argument values the commands parse themselves
(--option KEY=VALUE, comma-separated sizes) and the checks they make before any work."""

from __future__ import annotations

import pytest

from roofline.cli import commands, main
from roofline.errors import RooflineError


def test_parse_options_types_values():
    assert commands.parse_options(["seq=128", "scale=0.5", "sparse=true", "name=x", "off=False"]) == {
        "seq": 128, "scale": 0.5, "sparse": True, "name": "x", "off": False,
    }
    with pytest.raises(RooflineError, match="expected KEY=VALUE"):
        commands.parse_options(["seq"])
    with pytest.raises(RooflineError, match="expected KEY=VALUE"):
        commands.parse_options(["=1"])


def test_size_list():
    assert commands.size_list(None, "--batch") is None
    assert commands.size_list("1,8,64", "--batch") == [1, 8, 64]
    for bad in ("1,,2", "0", "a", "-1"):
        with pytest.raises(RooflineError, match="--batch"):
            commands.size_list(bad, "--batch")


def test_a_bad_figure_path_fails_before_the_model_is_built(tmp_path, capsys, monkeypatch):
    import roofline.targets

    monkeypatch.setattr(roofline.targets, "build_target", lambda *a, **k: pytest.fail("built the model"))
    for argv in (["analyze", "gcn"], ["sweep", "gcn", "--hw", "t4"], ["validate", "gcn", "--hw", "t4"]):
        assert main([*argv, "--plot", str(tmp_path / "x.png2")]) == 2
        assert "unknown figure format 'png2'" in capsys.readouterr().err


def test_trace_measured_needs_trace(tmp_path, capsys):
    measured = tmp_path / "m.json"
    measured.write_text('{"traceEvents": []}')
    assert main(["analyze", "gcn", "--meta", "--trace-measured", str(measured)]) == 2
    assert "give --trace FILE too" in capsys.readouterr().err
