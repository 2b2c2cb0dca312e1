"""benchmarks/parallel_fidelity.py: the label names it reads (pp4_1 is one micro-batch
of 4), its one-line errors before any work, and a whole run on small fake data (a
four-layer GPT-2 config; the shared measurements are not needed). No timings asserted."""

import json
from pathlib import Path

import pytest

from roofline.errors import RooflineError

from . import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pf():
    return load_benchmark("parallel_fidelity")


def test_options_name_the_split(pf):
    data, _ = pf.parse_option("dp4", 4)
    assert (data.data, data.tensor, data.pipeline, data.micro_batch, data.micro_batches) == (4, 1, 1, 1, 1)
    tensor, _ = pf.parse_option("tp4", 4)
    assert (tensor.data, tensor.tensor, tensor.pipeline, tensor.micro_batch) == (1, 4, 1, 4)
    # NeuSight names a pipeline run pp{degree}_{num_microbatch}: one micro-batch of 4
    pipeline, described = pf.parse_option("pp4_1", 4)
    assert (pipeline.pipeline, pipeline.micro_batch, pipeline.micro_batches) == (4, 4, 1)
    assert described == "pipeline 4, 1 micro-batch(es) of 4"
    assert pf.parse_option("pp2_4", 8)[0].micro_batch == 2


def fake_data(tmp_path):
    data = tmp_path / "neusight"
    (data / "DLmodel_configs").mkdir(parents=True)
    (data / "DLmodel_configs" / "tiny_gpt2.json").write_text(json.dumps(
        {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_head": 4, "n_layer": 4,
         "n_positions": 128, "vocab_size": 512,
         "bos_token_id": 0, "eos_token_id": 0}))
    labels = data / "labels" / "NVIDIA_A100-SXM4-40GB"
    labels.mkdir(parents=True)
    for option, ms in (("dp2", 10.0), ("pp2_1", 20.0), ("tp2", 12.0)):
        (labels / f"tiny_gpt2-train-64-2-{option}.json").write_text(json.dumps({"e2e_latency": ms}))
    (labels / "tiny_gpt2-train-64-2.json").write_text(json.dumps({"e2e_latency": 1.0}))  # single GPU: not a run here
    return data


def test_runs_are_found_and_errors_come_before_the_work(pf, tmp_path):
    data = fake_data(tmp_path)
    runs = pf.find_runs(data)
    assert sorted(runs.option) == ["dp2", "pp2_1", "tp2"]
    assert runs.set_index("option").loc["pp2_1", "measured_s"] == pytest.approx(0.020)
    with pytest.raises(RooflineError, match="not the neusight folder"):
        pf.check_paths(tmp_path, None)
    doc = tmp_path / "doc.md"
    doc.write_text("no markers\n")
    with pytest.raises(RooflineError, match="parallel-fidelity: begin"):
        pf.check_paths(data, doc)
    assert pf.main([str(data), "--doc", str(doc), "--quiet"]) == 2
    assert doc.read_text() == "no markers\n"  # nothing half-written


def test_a_whole_run_rewrites_only_its_block(pf, tmp_path, capsys):
    pytest.importorskip("transformers", reason="the benchmark builds GPT-2 from a Hugging Face config")
    data = fake_data(tmp_path)
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{pf.BEGIN}\nold\n{pf.END}\nafter\n")
    assert pf.main([str(data), "--doc", str(doc), "--quiet"]) == 0
    text = doc.read_text()
    assert text.startswith(f"before\n{pf.BEGIN}\n") and text.endswith(f"{pf.END}\nafter\n") and "old" not in text
    # every run once for this model and once for the one replaced; the pipeline also in the other reading
    assert text.count("| tiny_gpt2-64-2 pp2_1 | this model | pipeline 2, 1 micro-batch(es) of 2 |") == 1
    assert text.count("| tiny_gpt2-64-2 pp2_1 | reading 2 x 1 | pipeline 2, 2 micro-batch(es) of 1 |") == 1
    assert text.count("| tiny_gpt2-64-2 dp2 | before | data 2, 1 per device |") == 1
    # the pipeline's two stages, each with two of the four layers
    assert text.count("| tiny_gpt2-64-2 pp2_1 | this model | 0 | 2 | 2 |") == 1
    assert text.count("| tiny_gpt2-64-2 pp2_1 | this model | 1 | 2 | 2 |") == 1
    assert "Spec `4xa100-sxm`" in capsys.readouterr().out
