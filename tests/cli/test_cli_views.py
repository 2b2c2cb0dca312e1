"""What the commands print (issue 15): every header names what was analysed, --by picks
the breakdown, nothing is wider than the terminal (COLUMNS=80), empty categories only
when asked, the zoo in plain text, training steps with host time apart."""

from __future__ import annotations

import pytest

from roofline.cli import main


def run(capsys, monkeypatch, argv, columns=80):
    monkeypatch.setenv("COLUMNS", str(columns))
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.splitlines()
    widest = max(len(line) for line in lines)
    assert widest <= columns, next(line for line in lines if len(line) == widest)
    return captured.out


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "resnet50", "--meta"],
        ["analyze", "gpt2", "--meta", "-o", "seq=64", "--by", "module:2"],
        ["analyze", "gpt2", "--meta", "-o", "seq=64", "--by", "op", "--hw", "t4"],
        ["hw", "list"],
        ["hw", "show", "h100-sxm"],
        ["hw", "show", "2x8xh100-sxm"],
        ["zoo"],
        ["sweep", "gpt2", "--meta", "--hw", "h100-sxm,a100-sxm,l4", "--seq", "32,64"],
        ["plan", "gcn", "--hw", "8xh100-sxm", "--global-batch", "8"],
    ],
    ids=" ".join,
)
def test_no_line_wider_than_80_columns(capsys, monkeypatch, argv):
    run(capsys, monkeypatch, argv)


def test_analyze_says_what_was_analysed(capsys, monkeypatch):
    out = run(capsys, monkeypatch, ["analyze", "resnet50", "--meta"])
    assert out.startswith("resnet50 · fp32 · batch 1 · 25.6M params on NVIDIA H100 SXM5 80GB (h100-sxm)")
    assert "note: computed in fp32; GPUs run most models in bf16: add --dtype bf16" in out
    assert "Sparse MM" not in out and "Embedding" not in out  # empty categories: not unless asked
    out = run(capsys, monkeypatch, ["analyze", "resnet50", "--meta", "--dtype", "bf16", "--batch", "8", "--all-categories"])
    assert out.startswith("resnet50 · bf16 · batch 8 · 25.6M params") and "note:" not in out
    assert "Sparse MM" in out and "Embedding" in out


def test_analyze_by_module_op_and_depth(capsys, monkeypatch):
    out = run(capsys, monkeypatch, ["analyze", "gpt2", "--meta", "-o", "seq=64", "--by", "module:2", "--top", "3"])
    assert "gpt2 · fp32 · batch 1 · seq 64 · 124M params" in out
    assert "Runtime by module (depth 2, top 3)" in out and "blocks." in out and "Runtime by category" not in out
    out = run(capsys, monkeypatch, ["analyze", "gpt2", "--meta", "-o", "seq=64", "--by", "op", "--top", "0"], columns=200)
    assert "Runtime by op" in out and "Top " not in out
    # on a GPU spec, the fused attention is named as a GPU runs it
    assert "_scaled_dot_product_flash_attention " in out and "_for_cpu" not in out
    out = run(capsys, monkeypatch, ["analyze", "gpt2", "--meta", "-o", "seq=64", "--by", "op", "--hw", "xeon-8480"], columns=200)
    assert "_scaled_dot_product_flash_attention_for_cpu" in out


@pytest.mark.parametrize("value", ["modules", "op:2", "module:0", "module:x"])
def test_a_bad_view_is_one_line(capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "gcn", "--by", value])
    err = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "--by" in err[0]


def test_sweep_and_plan_name_their_dtype(capsys, monkeypatch):
    out = run(capsys, monkeypatch, ["sweep", "gpt2", "--meta", "--hw", "h100-sxm,t4", "--seq", "32"])
    assert "gpt2 · fp32 · 124M params: predicted time per batch" in out
    assert "note: computed in fp32" in out
    out = run(capsys, monkeypatch, ["plan", "gcn", "--hw", "8xh100-sxm", "--global-batch", "8"])
    assert out.startswith("gcn · fp32 · 23.1k params, training on") and "note: computed in fp32" in out


def test_training_step_keeps_host_time_apart(capsys, monkeypatch):
    out = run(capsys, monkeypatch, ["analyze", "gcn", "--meta", "--train", "--optimizer", "adam"], columns=120)
    assert "Runtime by phase" in out
    phases = out[out.index("Runtime by phase"):out.index("Runtime by category")]
    names = [line.split()[0] for line in phases.splitlines()[3:] if line.strip()]
    assert names == ["forward", "backward", "optimizer", "Total", "host"]
    assert "host: " in out and "not device time" in out


def test_zoo_lists_build_options_without_markup(capsys, monkeypatch):
    out = run(capsys, monkeypatch, ["zoo"])
    assert "``" not in out and ":func:" not in out
    assert "options: batch=1, seq=1024, attention='sdpa'" in out


def test_csv_and_json_say_what_was_analysed(capsys, monkeypatch, tmp_path):
    import json

    import pandas as pd

    csv, js = tmp_path / "ops.csv", tmp_path / "out.json"
    run(capsys, monkeypatch, ["analyze", "gpt2", "--meta", "-o", "seq=32", "--dtype", "bf16", "--csv", str(csv), "--json", str(js)])
    ops = pd.read_csv(csv)
    assert list(ops.columns[:7]) == ["index", "model", "model_dtype", "batch", "seq", "params", "hw"]
    assert set(ops["model"]) == {"gpt2"} and set(ops["model_dtype"]) == {"bf16"} and set(ops["seq"]) == {32}
    assert {"bf16", "int32"} <= set(ops["dtype"])  # each op's own dtype is kept (token ids are integers)
    summary = json.loads(js.read_text())["summary"]
    assert (summary["model"], summary["dtype"], summary["batch"], summary["seq"], summary["hw"]) == ("gpt2", "bf16", 1, 32, "h100-sxm")
    assert summary["params"] == 124_439_808
