"""The names ``import roofline`` offers: every one resolves, sweep and llm are the tools'
own functions behind the public names, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import roofline


def test_every_public_name_resolves():
    for name in roofline.__all__:
        assert getattr(roofline, name) is not None, name


def test_sweep_rows_equal_a_direct_analysis():
    table = roofline.sweep("llama-tiny", hw=["h100-sxm"], batch=[2], meta=True, method="capture")
    direct = roofline.analyze(*_llama_tiny(2), hw="h100-sxm")
    assert table["predicted_s"].iloc[0] == pytest.approx(direct.predicted_s, rel=1e-12)
    assert table["total_flops"].iloc[0] == direct.total_flops


def _llama_tiny(batch):
    from roofline.targets import build_target

    model, inputs = build_target("llama-tiny", batch=batch, meta=True)[:2]
    return model, inputs


def test_llm_report_has_the_serving_columns():
    pytest.importorskip("transformers", reason="roofline.llm captures decode with transformers' cache classes")
    report = roofline.llm("llama-tiny", "h100-sxm", prompt=8, generate=2, batches=(1,), crossover=False)
    for column in ("batch", "prompt", "generate", "ttft_s", "tpot_s", "tokens_per_s", "weights_bytes", "kv_bytes",
                   "activation_bytes", "fits"):
        assert column in report.table.columns, column


def test_import_stays_light():
    code = "import sys, roofline; print(sorted(m for m in ('sympy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
