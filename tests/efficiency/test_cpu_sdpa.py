"""CPU flash attention timed by its blocks (roofline.efficiency.cpu_sdpa) at costs a
calibration measured (measured.sdpa_times). Expected values are worked out by hand in
the comments from ATen's split sizes (FlashAttentionKernel.cpp: 32 queries per block
below 192, 64 below 768, 256 from there; 512 keys per block)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.efficiency.cpu_sdpa import (
    SdpaCosts,
    causal_keys,
    fit_sdpa_costs,
    q_split,
    sdpa_blocks,
    sdpa_s,
)
from roofline.hardware import CalibrationRecord, SdpaTime, load_hardware

LOCAL_CPU = Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml"
COSTS = SdpaCosts(call_s=1e-4, block_s=2e-6, score_s=1e-9, gemm_flops_per_s=5e10, kv_bytes_per_s=5e9)


def _by_hand(heads, q_len, kv_len, head_dim, q_blocks, kv_blocks):
    """The block model's seconds at COSTS, written out from the module's formula."""
    scores = heads * q_len * kv_len
    return (1e-4 + heads * q_blocks * kv_blocks * 2e-6 + scores * 1e-9 + 4 * scores * head_dim / 5e10
            + heads * kv_len * 2 * head_dim * 4 / 5e9)


# A probe set of the calibration's full mode, timed by hand-written costs (not the code's).
PROBES = ((12, 1, 64, 64, 1, 1), (12, 1, 512, 64, 1, 1), (8, 1, 1024, 64, 1, 2), (4, 1, 2048, 128, 1, 4),
          (4, 32, 32, 64, 1, 1), (12, 64, 64, 64, 2, 1), (8, 160, 160, 64, 5, 1), (4, 256, 256, 64, 4, 1),
          (2, 1024, 1024, 64, 4, 2))


def _record(costs_by_hand=_by_hand, **kw):
    return CalibrationRecord(device="cpu", threads=1, sdpa_times=tuple(
        SdpaTime(h, q, kv, e, costs_by_hand(h, q, kv, e, qb, kb)) for h, q, kv, e, qb, kb in PROBES), **kw)


def test_query_blocks_follow_aten_split_sizes():
    # fewer queries than a block: one block of them all; then 32, 64 (from 192), 256 (from 768)
    assert q_split(np.array([1, 31, 128, 191, 192, 767, 768, 2048])).tolist() == [1, 31, 32, 32, 64, 64, 256, 256]


def test_blocks_of_a_vit_attention():
    # ViT-B/16: 12 heads, 197 tokens, head 64. 197 >= 192: 64 queries a block, ceil(197/64) = 4
    # blocks (the last of 5 queries); 197 keys <= 512: one key block. 12 x 4 x 1 = 48 blocks;
    # scores 12 x 197 x 197 = 465708; FLOPs 4 x 465708 x 64 = 119221248; K and V
    # 12 x 197 x 2 x 64 x 4 B = 1210368 B
    blocks = sdpa_blocks(12, 197, 197, 64)
    assert (blocks.blocks, blocks.scores, blocks.gemm_flops, blocks.kv_bytes) == (48, 465708, 119221248, 1210368)
    # at COSTS: 1e-4 + 48 x 2e-6 + 465708 x 1e-9 + 119221248 / 5e10 + 1210368 / 5e9
    # = 1e-4 + 9.6e-5 + 4.65708e-4 + 2.38442496e-3 + 2.420736e-4 = 3.288207e-3 s
    assert COSTS.seconds(blocks) == pytest.approx(3.288207e-3, rel=1e-6)


def test_blocks_of_a_decode_and_of_a_causal_prefill():
    # GPT-2 decode over 1024 cached keys: one query (a block of 1) and ceil(1024/512) = 2 key
    # blocks per head: 12 x 1 x 2 = 24 blocks, 12 x 1024 = 12288 scores
    decode = sdpa_blocks(12, 1, 1024, 64)
    assert (decode.blocks, decode.scores) == (24, 12288)
    # a causal 1024 x 1024: 256 queries a block (1024 >= 768), 4 blocks bounded at keys
    # 256, 512, 768, 1024; ATen runs whole key blocks of 512 up to the bound: 1, 1, 2, 2
    # blocks over 512, 512, 1024, 1024 keys; 2 heads x 6 = 12 blocks, scores 2 x 256 x
    # (512 + 512 + 1024 + 1024) = 1572864 (0.75 of the full 2 x 1024 x 1024 = 2097152)
    causal = sdpa_blocks(2, 1024, 1024, 64, causal=True)
    assert (causal.blocks, causal.scores) == (12, 1572864)
    # Llama-tiny's causal 128 x 128: 4 blocks of 32 bounded at 32, 64, 96, 128 keys, each one
    # key block over all 128 keys: 128 keys a query, 4 key blocks, as a full attention's
    keys, blocks = causal_keys(128, 128)
    assert (keys, blocks) == (128, 4)
    assert sdpa_blocks(8, 128, 128, 32, causal=True) == sdpa_blocks(8, 128, 128, 32)
    # decode under a causal mask (one query, top-left aligned, bound at the first key): one
    # key block, over all 256 keys
    assert causal_keys(1, 256) == (256, 1)
    # 600 queries over 600 keys: 64 a block (600 >= 192), 10 blocks; the first 8 bounded at
    # 64 ... 512 run one key block of 512 keys, the last two (bounds 576 and 600; 24 rows in
    # the last) two blocks over all 600: keys (8 x 64 x 512 + 64 x 600 + 24 x 600) / 600 =
    # (262144 + 52800) / 600 = 524.9066..., key blocks 8 + 2 + 2 = 12
    keys, blocks = causal_keys(600, 600)
    assert keys == pytest.approx(314944 / 600) and blocks == 12


def test_the_fit_recovers_costs_the_probes_were_timed_at():
    costs = fit_sdpa_costs(_record().sdpa_times)
    assert costs.call_s == pytest.approx(1e-4, rel=1e-6)
    assert costs.block_s == pytest.approx(2e-6, rel=1e-6)
    assert costs.score_s == pytest.approx(1e-9, rel=1e-6)
    assert costs.gemm_flops_per_s == pytest.approx(5e10, rel=1e-6)
    assert costs.kv_bytes_per_s == pytest.approx(5e9, rel=1e-6)
    assert costs.fit_error < 1e-9


def test_a_cost_the_probes_leave_no_time_to_is_zero_not_negative():
    # probes timed without a per-score cost and with a block cost that dominates: the
    # least-squares score cost would be about 0 and never below it
    no_scores = lambda h, q, kv, e, qb, kb: _by_hand(h, q, kv, e, qb, kb) - h * q * kv * 1e-9
    costs = fit_sdpa_costs(_record(no_scores).sdpa_times)
    assert costs.score_s >= 0 and costs.call_s >= 0 and costs.block_s >= 0
    assert costs.fit_error < 0.01


def test_too_few_probes_are_refused():
    with pytest.raises(ValueError, match="measured.sdpa_times: expected at least 5 probes"):
        fit_sdpa_costs(_record().sdpa_times[:3])


def test_no_probes_a_gpu_or_another_op_gets_nan():
    shape = tuple(np.array([v]) for v in (12.0, 197.0, 197.0, 64.0))
    flops = np.array([119221248.0])
    assert np.isnan(sdpa_s(shape, flops, np.array([True]), CalibrationRecord(device="cpu"))).all()
    assert np.isnan(sdpa_s(shape, flops, np.array([True]), dataclasses.replace(_record(), device="cuda"))).all()
    assert np.isnan(sdpa_s(shape, flops, np.array([False]), _record())).all()
    # the record's probes were timed at COSTS: the fitted model gives the hand-worked 3.288207e-3 s
    assert sdpa_s(shape, flops, np.array([True]), _record())[0] == pytest.approx(3.288207e-3, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16), st.integers(1, 2048), st.lists(st.integers(1, 4096), min_size=2, max_size=8),
       st.sampled_from([32, 64, 128]))
def test_time_never_falls_as_keys_grow(heads, q_len, kv_lens, head_dim):
    kv = np.sort(np.array(kv_lens, dtype=float))
    seconds = COSTS.seconds(sdpa_blocks(heads, q_len, kv, head_dim))
    assert (np.diff(seconds) >= 0).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16), st.sampled_from([(1, 191), (192, 767), (768, 4096)]), st.lists(st.floats(0, 1), min_size=2,
       max_size=8), st.sampled_from([32, 64, 128]))
def test_time_never_falls_as_queries_grow_at_one_split(heads, regime, fractions, head_dim):
    # Within one of ATen's split sizes more queries never take less time (self-attention:
    # keys grow with them). Across a split boundary the kernel itself changes its blocks
    # (191 -> 192 queries: 6 blocks of 32 -> 3 of 64), which the model follows.
    low, high = regime
    q = np.sort(np.round(low + np.array(fractions) * (high - low)))
    seconds = COSTS.seconds(sdpa_blocks(heads, q, q, head_dim))
    assert (np.diff(seconds) >= 0).all()


def _spec():
    local = load_hardware(LOCAL_CPU)
    return local, dataclasses.replace(local, measured=dataclasses.replace(local.measured,
                                                                          sdpa_times=_record().sdpa_times))


class _Attention(torch.nn.Module):
    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


class _SelfAttention(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.scaled_dot_product_attention(x, x * 0.5, x * 2.0)


def _sdpa_row(ops):
    return ops[ops["op"] == "aten._scaled_dot_product_flash_attention_for_cpu"].iloc[0]


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 4), st.integers(1, 300), st.integers(1, 600), st.sampled_from([16, 64]))
def test_never_faster_than_the_flops_at_the_peak(heads, q_len, kv_len, head_dim):
    from roofline.analysis import analyze

    _, spec = _spec()
    x = (torch.randn(1, heads, q_len, head_dim), torch.randn(1, heads, kv_len, head_dim),
         torch.randn(1, heads, kv_len, head_dim))
    row = _sdpa_row(analyze(_Attention(), x, hw=spec).ops)
    peak = spec.matrix_flops["fp32"]
    assert row["kernel_s"] >= 4 * heads * q_len * kv_len * head_dim / peak


def test_predictions_take_the_block_time_and_a_spec_without_probes_predicts_as_before():
    from roofline.analysis import analyze

    local, spec = _spec()
    x = (torch.randn(1, 12, 197, 64), torch.randn(1, 12, 197, 64), torch.randn(1, 12, 197, 64))
    row = _sdpa_row(analyze(_Attention(), x, hw=spec).ops)
    # the hand-worked 3.288207e-3 s of the ViT call, dispatch included: the spec's overhead is that dispatch
    assert row["predicted_s"] == pytest.approx(max(3.288207e-3, row["overhead_s"] + row["memory_s"]), rel=1e-6)
    assert row["kernel_s"] == pytest.approx(3.288207e-3 - spec.overhead_s, rel=1e-6)
    # the spec without probes: the ops frame with or without the attention columns predicts the same
    from roofline.efficiency.cpu_sdpa import ATTENTION_COLUMNS
    from roofline.predict import predict_frame

    counted = analyze(_Attention(), x, hw=local).counted
    sdpa = counted["op"] == "aten._scaled_dot_product_flash_attention_for_cpu"
    with_columns = predict_frame(counted, local)["predicted_s"]
    without = predict_frame(counted.drop(columns=list(ATTENTION_COLUMNS)), local)["predicted_s"]
    assert with_columns.tolist() == without.tolist()
    assert with_columns[sdpa].iloc[0] != pytest.approx(row["predicted_s"], rel=0.01)


def test_a_symbolic_sweep_predicts_what_a_direct_analysis_does():
    from roofline.analysis import analyze
    from roofline.capture import persistent_bytes
    from roofline.predict import Tf32Policy
    from roofline.tools.symbolic import SizeDim, closed_forms

    _, spec = _spec()
    model = _SelfAttention()
    forms = closed_forms(model, (torch.randn(1, 4, 64, 32),), [SizeDim(0, 2, "seq")])
    seqs = np.array([8.0, 64.0, 197.0, 300.0])  # 32, 32, 64 and 64 queries a block
    totals = forms.evaluate({"seq": seqs}, spec, tf32=Tf32Policy.from_torch(),
                            resident_bytes=float(persistent_bytes(model)))
    for i, seq in enumerate(seqs.astype(int)):
        direct = analyze(model, (torch.randn(1, 4, seq, 32),), hw=spec)
        assert totals.predicted_s[i] == pytest.approx(direct.predicted_s, rel=1e-9)
