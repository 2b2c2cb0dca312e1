"""benchmarks/llm_cpu.py (`python benchmarks/llm.py --measure`): its prediction side on a
tiny Llama config and the calibrated CPU spec, its parameter count against the built
model's, the error arithmetic, one short timed request, and the docs section it rewrites.
No timing is asserted beyond being positive."""

from pathlib import Path

import pandas as pd
import pytest

from . import load_benchmark

pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "hw_specs" / "local-cpu.yaml")
TINY = {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}


@pytest.fixture(scope="module")
def cpu():
    return load_benchmark("llm_cpu")


def test_prediction_runs_on_a_tiny_config(cpu):
    table = cpu.predict(TINY, SPEC, prompt=8, generate=3, batches=(1, 2))
    assert list(table["batch"]) == [1, 2]
    assert set(table["spec"]) == {"local-cpu"} and set(table["dtype"]) == {"fp32"}
    assert (table["ttft_s"] > 0).all() and (table["tpot_s"] > 0).all()
    # twice the sequences: twice the prefill FLOPs, but for the rotary tables, computed once
    # for the positions the sequences share (608 FLOPs of 2.5M here)
    assert table["prefill_flops"].iat[1] == pytest.approx(2 * table["prefill_flops"].iat[0], rel=1e-3)
    # the GEMMs alone, by hand: per token and layer 2 x 36,864 weights (q, o 64x64; k, v 64x32;
    # gate, up, down 64x128: 8,192 + 4,096 + 24,576), 2 layers, 8 tokens: 1,179,648 FLOPs, and
    # the LM head on the last position only: 2 x 64 x 256 = 32,768; the rest is attention,
    # norms, rotary and SiLU, fewer FLOPs than the GEMMs
    gemm = 2 * 36_864 * 2 * 8 + 2 * 64 * 256
    assert gemm < table["prefill_flops"].iat[0] < 2 * gemm


def test_parameter_count_matches_the_built_model(cpu):
    # tiny by hand: per layer q, o 64x64, k, v 64x32, gate, up, down 64x128, 2 norms of 64
    #   2*4096 + 2*2048 + 3*8192 + 128 = 36,992; x2 layers = 73,984;
    #   embedding and head 2*256*64 = 32,768; final norm 64: 106,816
    assert cpu.parameter_count(TINY) == 106_816
    model = cpu.build_model(TINY)
    assert sum(p.numel() for p in model.parameters()) == 106_816
    assert sum(p.numel() for p in cpu.build_model(cpu.SMALL_LLAMA).parameters()) == cpu.parameter_count(cpu.SMALL_LLAMA)


def test_compare_errors_are_predicted_over_measured(cpu):
    timings = [cpu.Timing(batch=1, prefill_s=0.040, prefill_spread=0.1, tpot_s=0.010, tpot_spread=0.05)]
    predicted = pd.DataFrame([{"batch": 1, "ttft_s": 0.030, "tpot_s": 0.012, "prefill_bound": "compute", "decode_bound": "memory"}])
    row = cpu.compare(timings, predicted).iloc[0]
    assert row["prefill_error"] == pytest.approx(0.030 / 0.040 - 1)  # -25%
    assert row["tpot_error"] == pytest.approx(0.012 / 0.010 - 1)  # +20%
    text = cpu.markdown(cpu.compare(timings, predicted), "a CPU", 8, 3, 2, (0.5, 0.7))
    assert "| 1 | 40.0 ms (10%) | 30.0 ms | -25% | 10.00 ms (5%) | 12.00 ms | +20% | compute / memory |" in text
    assert "Not a clean measurement" not in text  # load 0.7 is below any core count
    loaded = cpu.markdown(cpu.compare(timings, predicted), "a CPU", 8, 3, 2, (0.5, 1e6))
    assert "Not a clean measurement" in loaded and "1000000.0" in loaded
    # the thread's CPU time does not count time descheduled: a loaded machine is no warning
    threaded = cpu.markdown(cpu.compare(timings, predicted), "a CPU", 8, 3, 1, (0.5, 1e6), clock="thread")
    assert "Not a clean measurement" not in threaded and "1 thread, timed by the thread's CPU time" in threaded


@pytest.mark.parametrize("clock", ["wall", "thread"])
def test_one_request_is_timed(cpu, clock):
    prefill_s, tpot_s = cpu.run_once(cpu.build_model(TINY), batch=2, prompt=8, generate=3, clock=clock)
    assert prefill_s > 0 and tpot_s > 0


def test_the_measured_section_of_the_page_is_found(tmp_path):
    llm = load_benchmark("llm")
    page = tmp_path / "llm.md"
    page.write_text(f"before\n{llm.MEASURED_START}\nold\n{llm.MEASURED_END}\nafter\n", encoding="utf-8")
    assert llm.measured_section(page.read_text()) == f"{llm.MEASURED_START}\nold\n{llm.MEASURED_END}"
    assert "not run yet" in llm.measured_section("no section here")


def test_the_measured_chapter_and_its_reading_survive_a_full_run():
    llm = load_benchmark("llm")
    # a page whose chapter holds the tables and the reading written for that run
    chapter = f"{llm.MEASURED_HEADING}\n\nhow it was run\n\n{llm.MEASURED_START}\ntables\n{llm.MEASURED_END}\n\nreading it"
    page = f"intro\n\n{chapter}\n\n{llm.NEXT_HEADING}\n\nrest\n"
    assert llm.measured_chapter(page) == chapter
    # a page without one gets the default chapter, its tables not run yet
    fresh = llm.measured_chapter("")
    assert fresh.startswith(llm.MEASURED_HEADING) and "not run yet" in fresh and "{measured}" not in fresh
