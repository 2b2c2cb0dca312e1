"""roofline/tools/llm: decode steps against closed forms worked by hand for the zoo's
llama-tiny, the KV cache's size, quantized weights and KV, routed experts, the tensor
split, the decode average, llama-70b not fitting one H100, and `roofline llm` errors.

llama-tiny (models/llama.py): dim 256, 4 layers, 8 heads of 32, 2 KV heads, FFN 688,
vocab 32000, untied LM head. Per layer the GEMM weights are q and o 256 x 256, k and v
256 x 64 (2 KV heads x 32), gate, up and down 256 x 688:
    2 x 65,536 + 2 x 16,384 + 3 x 176,128 = 692,224 elements,
so 4 layers hold 2,768,896 and with the 256 x 32,000 LM head the GEMMs of one token
use 10,960,896 weights: 2 x 10,960,896 FLOPs per token. One token's K and V take
2 x 4 layers x 2 heads x 32 x 2 bytes (bf16) = 1,024 bytes of cache.
"""

import contextlib
import json

import pandas as pd
import pytest
import torch

transformers = pytest.importorskip("transformers")

from roofline.cli import main  # noqa: E402
from roofline.count.categories import GEMM  # noqa: E402
from roofline.errors import RooflineError, TargetError  # noqa: E402
from roofline.hardware import load_hardware  # noqa: E402
from roofline.tools.llm import Serving, expected_experts_hit, llm, resolve_llm  # noqa: E402
from roofline.tools.llm.costing import cost_frame, sharded_rows, step_time  # noqa: E402
from roofline.tools.llm.serving import (  # noqa: E402
    StepCache,
    decode_contexts,
    mean_over_contexts,
    step_compute_bound,
    weight_gemms_compute_bound,
)

TINY_GEMM_WEIGHTS = 4 * (2 * 256 * 256 + 2 * 256 * 64 + 3 * 256 * 688) + 256 * 32000  # 10,960,896
TINY_KV_BYTES_PER_TOKEN = 2 * 4 * 2 * 32 * 2  # K and V x layers x KV heads x head_dim x bf16
H100 = load_hardware("h100-sxm")


@pytest.fixture(scope="module")
def tiny():
    """llama-tiny in bf16 on meta, with its captured steps (shared by the tests)."""
    return StepCache(resolve_llm("llama-tiny"), torch.bfloat16, H100)


def _gemm(frame):
    return frame[frame["category"] == GEMM]


# ------------------------------------------------------------------ closed forms
def test_tiny_shapes_match_the_zoo():
    from roofline.models.llama import build_llama_tiny

    with torch.device("meta"):
        zoo_model, _ = build_llama_tiny()
    model = resolve_llm("llama-tiny")
    assert TINY_GEMM_WEIGHTS == 10_960_896
    assert model.kv_bytes_per_token(2) == TINY_KV_BYTES_PER_TOKEN == 1024
    built = model.build(torch.bfloat16)
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in zoo_model.parameters())


@pytest.mark.parametrize("batch, context", [(1, 16), (4, 100)])
def test_decode_flops_are_twice_the_weights_per_token_plus_attention(tiny, batch, context):
    frame = tiny.get(batch, context, 1).analysis.counted
    attention = 4 * (2 * 2 * batch * 8 * 1 * (context + 1) * 32)  # layers x (QK^T + PV), new token over context + 1
    linear = 2 * batch * TINY_GEMM_WEIGHTS
    assert _gemm(frame)["flops"].sum() == linear + attention
    # norms, rotary, SiLU and residual adds: well under 1% more
    assert frame["flops"].sum() == pytest.approx(linear + attention, rel=0.01)


@pytest.mark.parametrize("batch, context", [(1, 16), (4, 100)])
def test_decode_reads_the_weights_once_and_the_cache_once(tiny, batch, context):
    step = tiny.get(batch, context, 1)
    frame = step.analysis.counted
    assert _gemm(frame)["param_bytes"].sum() == 2 * TINY_GEMM_WEIGHTS  # every GEMM weight once, bf16
    assert frame["kv_read_bytes"].sum() == batch * (context + 1) * TINY_KV_BYTES_PER_TOKEN
    assert frame["kv_write_bytes"].sum() == batch * 1 * TINY_KV_BYTES_PER_TOKEN  # the new token only
    assert step.cache_bytes == batch * (context + 1) * TINY_KV_BYTES_PER_TOKEN
    # bytes: weights + cache + norms' weights + embedding rows + small activations
    floor = 2 * TINY_GEMM_WEIGHTS + batch * (context + 1) * TINY_KV_BYTES_PER_TOKEN
    assert floor < frame["bytes"].sum() < 1.05 * floor + 200_000 * batch


def test_prefill_writes_the_prompt_into_the_cache(tiny):
    frame = tiny.get(2, 0, 32).analysis.counted
    assert frame["kv_write_bytes"].sum() == 2 * 32 * TINY_KV_BYTES_PER_TOKEN
    attention = 4 * (2 * 2 * 2 * 8 * (32 * 33 // 2) * 32)  # layers x (QK^T + PV) over the pairs a causal mask keeps
    layers = 2 * (2 * 32) * (TINY_GEMM_WEIGHTS - 256 * 32000)  # every prompt token through every layer
    head = 2 * 2 * 256 * 32000  # logits of the last position only
    assert _gemm(frame)["flops"].sum() == layers + head + attention


# ------------------------------------------------------------------ quantization
def test_int4_weights_are_half_of_int8(tiny):
    step = tiny.get(8, 64, 1)
    read = {w: _gemm(cost_frame(step, tiny.model, H100, Serving(weights=w)))["param_bytes"].sum() for w in ("int8", "int4")}
    assert read["int8"] == TINY_GEMM_WEIGHTS  # 1 byte a weight
    assert read["int4"] == read["int8"] / 2
    times = {w: step_time(step, tiny.model, H100, Serving(weights=w, op_overhead_s=0.0), "bf16") for w in ("int8", "int4")}
    assert times["int4"].dequant_s == times["int8"].dequant_s > 0  # same elements dequantized
    # The weight GEMMs' memory term: half the weight bytes stream in less time. (Their
    # predicted time is not the check: on an H100 each of these tiny GEMMs is set by a
    # tensor-core kernel's fixed time, whatever its bytes.)
    memory = {w: (_gemm(times[w].analysis.ops)["memory_s"]).sum() for w in ("int8", "int4")}
    assert memory["int4"] < memory["int8"]


def test_report_weight_and_kv_bytes_follow_the_formats():
    kwargs = dict(prompt=16, generate=8, batches=(2,), crossover=False)
    plain = llm("llama-tiny", "h100-sxm", **kwargs).table.iloc[0]
    small = llm("llama-tiny", "h100-sxm", weights="int4", kv="int8", **kwargs).table.iloc[0]
    assert plain.kv_bytes == 2 * (16 + 8 - 1) * TINY_KV_BYTES_PER_TOKEN
    assert small.kv_bytes == plain.kv_bytes / 2
    assert plain.weights_bytes - small.weights_bytes == pytest.approx(TINY_GEMM_WEIGHTS * (2 - 0.5))
    assert small.tpot_s < plain.tpot_s
    assert (small["dtype"], small["weights"], small["kv"]) == ("bf16", "int4", "int8")


def test_fp8_weights_use_the_fp8_peak_only_where_there_is_one(tiny):
    step = tiny.get(8, 64, 1)
    on_h100 = cost_frame(step, tiny.model, H100, Serving(weights="fp8"))
    on_a100 = cost_frame(step, tiny.model, load_hardware("a100-sxm"), Serving(weights="fp8"))
    assert set(_gemm(on_h100).query("param_bytes > 0")["dtype"]) == {"fp8"}
    assert on_h100["dequant_elements"].sum() == 0
    assert set(_gemm(on_a100).query("param_bytes > 0")["dtype"]) == {"bf16"}
    assert on_a100["dequant_elements"].sum() == TINY_GEMM_WEIGHTS


def test_kv_quantization_scales_cache_traffic(tiny):
    step = tiny.get(4, 100, 1)
    frame = cost_frame(step, tiny.model, H100, Serving(kv="fp8"))
    assert frame["kv_read_bytes"].sum() == 4 * 101 * TINY_KV_BYTES_PER_TOKEN / 2
    assert frame["dequant_elements"].sum() == 4 * 101 * TINY_KV_BYTES_PER_TOKEN / 2  # bf16 elements read


# ------------------------------------------------------------------ tensor parallel, experts, averages
def test_tensor_split_divides_the_blocks_and_adds_two_allreduces_per_layer(tiny):
    spec = load_hardware("8xh100-sxm")
    step = tiny.get(4, 64, 1)
    whole = cost_frame(step, tiny.model, spec, Serving(tp=1))
    split = cost_frame(step, tiny.model, spec, Serving(tp=8))
    assert _gemm(split)["flops"].sum() == pytest.approx(_gemm(whole)["flops"].sum() / 8)
    modules = set(whole.loc[~sharded_rows(whole), "module"])
    assert "lm_head" not in modules and all("norm" in m or m.count(".") <= 2 for m in modules)
    # 2 KV heads over 8 devices: each KV head is held by 4 devices
    assert split["kv_read_bytes"].sum() == pytest.approx(whole["kv_read_bytes"].sum() / 2)
    from roofline.tools.parallel import ring_allreduce_s

    link = spec.interconnect.intra_node
    expected = 2 * 4 * ring_allreduce_s(4 * 256 * 2, 8, link.bandwidth, link.latency)
    assert step_time(step, tiny.model, spec, Serving(tp=8), "bf16").allreduce_s == pytest.approx(expected)


@pytest.mark.parametrize("fields", [
    dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], hidden_size=64, intermediate_size=160,
         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=128),
    dict(model_type="mistral", architectures=["MistralForCausalLM"], hidden_size=64, intermediate_size=160,
         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, vocab_size=128),
    dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], n_embd=64, n_layer=2, n_head=4, vocab_size=128,
         n_positions=64),
], ids=lambda fields: fields["model_type"])
def test_each_architecture_decodes_over_its_own_cache(tmp_path, fields):
    (tmp_path / "config.json").write_text(json.dumps(fields))
    target = f"hf:{tmp_path / 'config.json'}"
    model = resolve_llm(target)
    row = llm(target, "h100-sxm", prompt=8, generate=4, batches=(3,), crossover=False).table.iloc[0]
    kv_heads = fields.get("num_key_value_heads", 4)
    assert row.kv_bytes == 3 * (8 + 4 - 1) * 2 * 2 * kv_heads * 16 * 2  # batch x tokens x K,V x layers x heads x 16 x bf16
    built = model.build(torch.bfloat16)
    assert row.weights_bytes == pytest.approx(2 * sum(p.numel() for p in built.parameters()), rel=0.01)
    with pytest.raises(RooflineError, match="64 positions") if fields["model_type"] == "gpt2" else contextlib.nullcontext():
        llm(target, "h100-sxm", prompt=60, generate=8, batches=(1,), crossover=False)


def test_expected_experts_hit():
    assert expected_experts_hit(1, 8, 2) == pytest.approx(2.0)
    assert expected_experts_hit(2, 8, 2) == pytest.approx(8 * (1 - 0.75**2))
    assert expected_experts_hit(10_000, 8, 2) == pytest.approx(8.0)


def test_moe_decode_does_only_the_routed_experts_work(tmp_path):
    fields = dict(model_type="mixtral", architectures=["MixtralForCausalLM"], hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
                  num_local_experts=8, num_experts_per_tok=2)
    (tmp_path / "config.json").write_text(json.dumps(fields))
    model = resolve_llm(f"hf:{tmp_path / 'config.json'}")
    assert (model.experts, model.top_k) == (8, 2)
    step = StepCache(model, torch.bfloat16, H100).get(1, 8, 1)
    frame = step.analysis.counted
    grouped = frame[frame["op"] == "aten._grouped_mm"]
    expert_weights = 3 * 64 * 128  # one expert: gate, up, down
    assert grouped["flops"].sum() == 2 * 2 * 2 * expert_weights  # 2 layers x 2 routed experts x 2 FLOPs a weight
    assert grouped["param_bytes"].sum() == 2 * 8 * expert_weights * 2  # the op reads all 8 experts, bf16 ...
    routed = cost_frame(step, model, H100, Serving())
    assert routed[routed["op"] == "aten._grouped_mm"]["param_bytes"].sum() == 2 * 2 * expert_weights * 2  # ... 2 hit


def test_decode_average(tiny):
    assert decode_contexts(100, 3, "trapezoid") == [100, 101]
    assert decode_contexts(100, 65, "trapezoid") == [100, 131, 163]
    assert decode_contexts(100, 6, "each") == [100, 101, 102, 103, 104]
    assert mean_over_contexts([0, 10], [1.0, 3.0]) == pytest.approx(2.0)
    assert mean_over_contexts([0, 1, 2], [1.0, 2.0, 6.0]) == pytest.approx(3.0)
    with pytest.raises(RooflineError, match="trapezoid"):
        decode_contexts(1, 2, "simpson")
    kwargs = dict(prompt=16, generate=10, batches=(4,), crossover=False, op_overhead_s=0.0)
    each = llm("llama-tiny", "h100-sxm", decode="each", **kwargs)
    three = llm("llama-tiny", "h100-sxm", **kwargs)
    assert "every decode step" in each.decode_method and "trapezoid" in three.decode_method
    assert three.table.tpot_s.iloc[0] == pytest.approx(each.table.tpot_s.iloc[0], rel=1e-3)


def test_crossover_is_where_decode_turns_compute_bound(tmp_path):
    # One wide layer: a GEMM's intensity tends to K N / (K + N) FLOP/B in bf16 as the batch
    # grows, 1,492 here, past an H100's ridge (~280); llama-tiny's (~186) never gets there.
    fields = dict(model_type="llama", architectures=["LlamaForCausalLM"], hidden_size=2048, intermediate_size=5504,
                  num_hidden_layers=1, num_attention_heads=16, num_key_value_heads=16, vocab_size=1000)
    (tmp_path / "config.json").write_text(json.dumps(fields))
    target = f"hf:{tmp_path / 'config.json'}"
    report = llm(target, "h100-sxm", prompt=8, generate=4, batches=(1,), op_overhead_s=0.0, max_batch=2048)
    found = int(report.crossover["crossover_batch"].iloc[0])
    assert 128 < found < 1024
    serving, context = Serving(op_overhead_s=0.0), int(report.crossover["context"].iloc[0])
    cache = StepCache(resolve_llm(target), torch.bfloat16, H100)
    assert weight_gemms_compute_bound(step_time(cache.get(found, context, 1), cache.model, H100, serving, "bf16"))
    assert not weight_gemms_compute_bound(step_time(cache.get(found - 1, context, 1), cache.model, H100, serving, "bf16"))
    # unfused norms, rotary and SiLU are memory-bound at every batch, so the whole step
    # turns compute-bound no earlier than its weight GEMMs (if at all: their bytes grow with
    # the batch as the GEMMs' FLOPs do); where it does, the search found the first batch
    step_found = report.crossover["step_crossover_batch"].iloc[0]
    if not pd.isna(step_found):
        step_found = int(step_found)
        assert step_found >= found
        assert step_compute_bound(step_time(cache.get(step_found, context, 1), cache.model, H100, serving, "bf16"))
        assert not step_compute_bound(step_time(cache.get(step_found - 1, context, 1), cache.model, H100, serving,
                                                "bf16"))
    tiny = llm("llama-tiny", "h100-sxm", prompt=8, generate=4, batches=(1,), op_overhead_s=0.0, max_batch=64)
    assert tiny.crossover["crossover_batch"].isna().all() and tiny.crossover["searched_up_to"].iloc[0] == 64


# ------------------------------------------------------------------ memory and the command line
def test_llama_70b_in_bf16_does_not_fit_one_h100():
    report = llm("llama-70b", ["h100-sxm", "8xh100-sxm"], prompt=8, generate=2, batches=(1,), crossover=False)
    one, eight = report.table.iloc[0], report.table.iloc[1]
    assert one.weights_bytes == pytest.approx(2 * 68_976_648_192, rel=1e-6)  # the zoo's parameter count, bf16
    assert not one.fits and one.capacity_bytes == 80e9
    assert eight.fits and eight.tp == 8 and eight.capacity_bytes == 640e9
    assert eight.tpot_s < one.tpot_s
    assert "llama-70b in bf16" in report.title() and "h100-sxm" in report.title()


def test_cli_llm_prints_and_writes(tmp_path, capsys):
    csv = tmp_path / "llm.csv"
    assert main(["llm", "llama-tiny", "--hw", "h100-sxm", "--prompt", "8", "--generate", "4", "--batch", "1,2",
                 "--no-crossover", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "llama-tiny in bf16" in out and "h100-sxm" in out and "TPOT" in out
    assert csv.read_text().count("\n") == 3


def test_cli_llm_op_overhead_zero_is_the_cuda_graph_bound(tmp_path):
    """docs/llm.md's `--op-overhead 0`: no launch cost per op, so every TPOT is lower than
    with the spec's 4 us (llama-tiny's decode step runs dozens of ops)."""
    runs = {}
    for overhead in ("0", "4 us"):
        csv = tmp_path / f"llm-{overhead.split()[0]}.csv"
        assert main(["llm", "llama-tiny", "--hw", "h100-sxm", "--prompt", "8", "--generate", "4", "--batch", "1",
                     "--no-crossover", "--op-overhead", overhead, "--csv", str(csv)]) == 0
        runs[overhead] = pd.read_csv(csv)["tpot_s"].iloc[0]
    assert 0 < runs["0"] < runs["4 us"]


@pytest.mark.parametrize("argv, message", [
    (["--weights", "int3"], "weights 'int3': expected one of int8, int4, fp8"),
    (["--kv", "int4"], "kv 'int4': expected one of int8, fp8"),
    (["--generate", "1"], "generate 1: expected an integer >= 2"),
    (["--batch", "0"], "--batch '0'"),
])
def test_cli_llm_bad_values_are_one_line(argv, message, capsys):
    assert main(["llm", "llama-tiny", "--hw", "h100-sxm", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_setups_are_refused_early(tmp_path, tiny):
    with pytest.raises(RooflineError, match="op overhead"):
        Serving(op_overhead_s=-1.0)
    with pytest.raises(RooflineError, match="no interconnect"):
        step_time(tiny.get(1, 16, 1), tiny.model, H100, Serving(tp=2), "bf16")
    with pytest.raises(RooflineError, match="do not split over 3"):
        step_time(tiny.get(1, 16, 1), tiny.model, load_hardware("8xh100-sxm"), Serving(tp=3), "bf16")
    with pytest.raises(RooflineError, match="captures: they hold llama-tiny"):
        llm("gpt2", "h100-sxm", prompt=8, generate=2, crossover=False, captures=tiny)
    fields = dict(model_type="mixtral", architectures=["MixtralForCausalLM"], hidden_size=64, intermediate_size=128,
                  num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
    (tmp_path / "config.json").write_text(json.dumps(fields))
    with pytest.raises(TargetError, match="bf16 only"):
        llm(f"hf:{tmp_path / 'config.json'}", "h100-sxm", dtype="fp32", prompt=8, generate=2, crossover=False)


def test_targets_without_a_kv_cache_are_refused():
    with pytest.raises(TargetError, match="no KV-cache decode path"):
        resolve_llm("resnet50")
    with pytest.raises(TargetError, match="not a causal LM"):
        resolve_llm("hf:bert-base-uncased")
    with pytest.raises(RooflineError, match="1024 positions"):
        llm("gpt2", "h100-sxm", prompt=1000, generate=100, crossover=False)


def test_issue_bound_kernels_count_as_compute_in_a_step(tiny):
    # llama-tiny's rotary embeddings multiply transposed bf16 heads by broadcast cosines:
    # on an H100 those products are issue-bound (roofline.efficiency.elementwise); a step's
    # compute term is the time of the ops bound by compute or issue, plus the dequantize pass
    step = step_time(tiny.get(8, 0, 512), tiny.model, H100, Serving(), "bf16")
    ops = step.analysis.ops
    assert (ops["bound"] == "issue").any()
    expected = ops.loc[ops["bound"].isin(["compute", "issue"]), "predicted_s"].sum() + step.dequant_s
    assert step.compute_s == pytest.approx(expected, rel=1e-12)
    assert step.memory_s == pytest.approx(ops.loc[ops["bound"] == "memory", "predicted_s"].sum(), rel=1e-12)
