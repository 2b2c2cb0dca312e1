"""benchmarks/liger_published.py: the modules it rebuilds against their definitions, the
rows it keeps and its command line, on a small fake file in Liger-Kernel's format (its
published measurements are not needed; no timing is asserted)."""

import json

import pandas as pd
import pytest
import torch

from . import load_benchmark


@pytest.fixture(scope="module")
def lp():
    return load_benchmark("liger_published")


def test_rms_norm_is_llamas_with_an_fp32_weight(lp):
    # Hugging Face's formula: x * rsqrt(mean(x^2) + eps) in fp32, cast back, times the weight;
    # the weight left fp32 promotes the bf16 result to fp32, as in Liger's benchmark.
    x = torch.randn(3, 8).to(torch.bfloat16)
    norm = lp.LlamaRMSNorm(8)
    with torch.no_grad():
        norm.weight.mul_(2.0)
        out = norm(x)
    xf = x.float()
    expected = 2.0 * (xf / torch.sqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(torch.bfloat16).float()
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_rotary_rotates_each_half_pair(lp):
    # one position, head_dim 4: (q0, q1, q2, q3) -> (q0 c - q2 s, q1 c - q3 s, q2 c + q0 s, q3 c + q1 s)
    q = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])
    cos, sin = torch.full((1, 1, 4), 0.5), torch.full((1, 1, 4), 0.25)
    q_out, _ = lp.Rotary()(q, q, cos, sin)
    torch.testing.assert_close(q_out, torch.tensor([[[[0.5 - 0.75, 1.0 - 1.0, 1.5 + 0.25, 2.0 + 0.5]]]]))


def liger_rows(rows):
    columns = ["kernel_name", "kernel_provider", "kernel_operation_mode", "metric_name", "metric_unit", "x_name",
               "x_label", "x_value", "y_value_50", "y_value_20", "y_value_80", "extra_benchmark_config_str",
               "gpu_name", "timestamp", "liger_version"]
    return pd.DataFrame([dict(zip(columns, r)) for r in rows], columns=columns)


def row(kernel, provider, mode, x, ms, config, gpu="NVIDIA H100 80GB HBM3", metric="speed"):
    return (kernel, provider, mode, metric, "ms", "N", "n", x, ms, ms, ms, json.dumps(config), gpu, "t", "0")


RELU_SQ = {"M": 256, "dtype": "torch.bfloat16"}


def test_only_eager_speed_rows_on_packaged_gpus_are_compared(lp):
    data = liger_rows([
        row("relu_squared", "torch", "forward", 512, 0.01, RELU_SQ),
        row("relu_squared", "liger", "forward", 512, 0.01, RELU_SQ),  # Liger's own kernel
        row("relu_squared", "torch", "forward", 512, 9.0, RELU_SQ, metric="memory"),
        row("relu_squared", "torch", "forward", 512, 0.01, RELU_SQ, gpu="NVIDIA B200"),  # no packaged spec
        row("megatron_rms_norm", "torch", "forward", 512, 0.01, {"S": 4096, "B": 1}),  # not rebuilt here
    ])
    rows = lp.compare(data)
    assert list(rows["kernel"]) == ["relu_squared", "megatron_rms_norm"]
    assert rows["error"].notna().tolist() == [True, False]
    text = lp.report(rows)
    assert "1 rows predicted" in text and "megatron_rms_norm on h100-sxm (forward, 1)" in text


def test_full_is_the_forward_the_gradient_draw_and_the_backward(lp):
    data = liger_rows([row("relu_squared", "torch", mode, 4096, 1.0, RELU_SQ) for mode in lp.MODES])
    by_mode = lp.compare(data).set_index("mode")["predicted_ms"]
    # the draw writes one bf16 gradient like the output: 256 x 4096 x 2 B, more than nothing
    draw = by_mode["full"] - by_mode["forward"] - by_mode["backward"]
    assert 0 < draw < by_mode["forward"]


def test_command_line_rejects_a_missing_file_and_a_missing_folder(lp, tmp_path, capsys):
    assert lp.main(["--data", str(tmp_path / "none.csv")]) == 2
    assert "--data" in capsys.readouterr().err
    data = tmp_path / "d.csv"
    liger_rows([row("relu_squared", "torch", "forward", 512, 0.01, RELU_SQ)]).to_csv(data, index=False)
    assert lp.main(["--data", str(data), "--write", str(tmp_path / "no" / "r.md")]) == 2
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert lp.main(["--data", str(other)]) == 2
    assert "no column kernel_name" in capsys.readouterr().err
    assert lp.main(["--data", str(data), "--write", str(tmp_path / "r.md")]) == 0
    assert "relu_squared" in (tmp_path / "r.md").read_text()


def test_gradients_of_unreset_leaves_are_summed_into(lp):
    # relu_squared: the input is a leaf do_bench resets and there are no weights: nothing
    # to sum; TVD's input reaches do_bench as a softmax of the leaf: its gradient is summed.
    spec = "h100-sxm"
    with torch.device("meta"):
        relu = lp.build_case("relu_squared", 4096, RELU_SQ)
        small = lp.build_case("tvd", 1024, {"B": 8, "T": 2048})
        large = lp.build_case("tvd", 4096, {"B": 8, "T": 2048})
    from roofline.hardware import load_hardware

    hw = load_hardware(spec)
    assert lp._accumulate(relu, hw) is None
    small_s, large_s = (float(lp._accumulate(case, hw).ops["kernel_s"].sum()) for case in (small, large))
    assert 0.0 < small_s < large_s


def test_a_fit_recovers_the_rate_its_rows_were_made_with_and_leaves_them_out_of_the_held_out_median(lp):
    # Megatron's SwiGLU rows of the fit's config (S 2048, B 4), measured as the model
    # predicts them at 0.8 elements per SM per clock: the fit, trying 0.1 to 3, finds 0.8.
    config = {"S": 2048, "B": 4}
    sizes = (1024, 4096)
    data = liger_rows([row("megatron_swiglu", "torch", "forward", x, 1.0, config) for x in sizes])
    made = lp.compare(data, rates={"strided_elements_per_clock": 0.8})
    data["y_value_50"] = made["predicted_ms"].to_numpy()
    rate, error = lp.fit_rate(data, "strided")
    assert rate == pytest.approx(0.8) and error < 1e-9
    rows = lp.compare(data)
    assert lp.is_fit_row(rows).all()
    assert "on the 0 rows no figure was fitted on: none." in lp.report(rows)


def test_the_lm_head_baseline_is_a_bias_free_linear_then_cross_entropy(lp):
    torch.manual_seed(0)
    target = torch.tensor([1, 0, 3])
    head = lp.LMHeadCrossEntropy(8, 5, target, torch.float32)
    x = torch.randn(3, 8)
    expected = torch.nn.functional.cross_entropy(x @ head.lin.weight.T, target)
    assert head.lin.bias is None and torch.allclose(head(x), expected)


def test_llama4_rotary_multiplies_pairs_as_complex_numbers(lp):
    # Llama 4's rotation of the pair (a, b) by angle t: (a cos t - b sin t, a sin t + b cos t)
    torch.manual_seed(0)
    q, k = torch.randn(1, 3, 2, 4), torch.randn(1, 3, 1, 4)
    angles = torch.randn(1, 3, 2)
    freqs = torch.polar(torch.ones_like(angles), angles)
    out = lp.ComplexRotary()(q, k, freqs)
    a, b = q[..., 0::2], q[..., 1::2]
    cos, sin = angles.cos()[:, :, None, :], angles.sin()[:, :, None, :]
    expected = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(3)
    assert torch.allclose(out, expected, atol=1e-6)
