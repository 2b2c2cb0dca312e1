"""roofline/closed_form.py: closed forms against formulas worked out here and against
the counts of the real ops; crossover against the ridge point solved by hand."""

import pytest
import sympy
import torch
import torch.nn.functional as F

from roofline.tools.closed_form import FORMULAS, ClosedForm, crossover, formula, ridge_intensity
from roofline.errors import RooflineError
from roofline.hardware import load_hardware
from tests.conftest import costs_of

H100 = load_hardware("h100-sxm")
RIDGE_BF16 = H100.peak_flops("bf16", "matrix") / H100.dram.bandwidth


def sym(*names):
    return sympy.symbols(names, positive=True, integer=True)


def same(a, b) -> bool:
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def test_mm_closed_form():
    m, n, k = sym("m", "n", "k")
    f = formula("mm", dtype="bf16")
    assert same(f.flops, 2 * m * n * k)
    assert same(f.bytes, 2 * (m * k + k * n + m * n))
    assert same(f.intensity, m * n * k / (m * k + k * n + m * n))
    assert set(f.symbols) == {"m", "n", "k"}


def test_conv2d_closed_form_with_same_padding():
    b, c, k, h = sym("batch", "c_in", "c_out", "h")
    f = formula("conv2d", kernel=3, padding=1, w=h)
    assert same(f.flops, 2 * b * k * c * 9 * h * h)
    assert same(f.bytes_read, 4 * (b * c * h * h + k * c * 9))


def test_causal_attention_closed_form_halves_the_pairs():
    b, hd, l, d = sym("batch", "heads", "q_len", "head_dim")
    f = formula("attention", causal=True)
    assert same(f.flops, 2 * b * hd * (l * (l + 1) / 2) * 2 * d)
    full = formula("attention")
    assert same(full.flops, 4 * b * hd * l * l * d)


def test_gqa_attention_reads_the_smaller_kv():
    f = formula("attention", batch=1, heads=32, kv_heads=8, q_len=100, head_dim=64, dtype="bf16")
    numbers = f.at()
    assert numbers["bytes_read"] == 2 * (32 * 100 * 64 + 8 * 100 * 128)
    assert numbers["bytes_written"] == 2 * 32 * 100 * 64 + 4 * 32 * 100  # output + fp32 log-sum-exp


def test_strings_become_expressions_and_subs_at_work():
    f = formula("linear", batch="B*T", in_features=512, out_features=256, bias=False)
    assert set(f.symbols) == {"B", "T"}
    assert f.subs(B=2).symbols.keys() == {"T"}
    numbers = f.at(B=2, T=8)
    assert numbers["flops"] == 2 * 16 * 512 * 256
    assert numbers["intensity"] == pytest.approx(numbers["flops"] / numbers["bytes"])


def test_every_formula_gives_positive_numbers():
    for op in FORMULAS:
        f = formula(op)
        values = {name: 7 for name in f.symbols}
        numbers = f.at(**values)
        assert numbers["flops"] > 0 and numbers["bytes"] > 0, op


@pytest.mark.parametrize(
    "op,kwargs,message",
    [
        ("fft", {}, "no closed form"),
        ("mm", {"q": 1}, "unknown size"),
        ("mm", {"dtype": "fp7"}, "unknown dtype"),
        ("conv2d", {"kernel": [3, 3, 3]}, "kernel needs 2"),
    ],
)
def test_formula_errors(op, kwargs, message):
    with pytest.raises(RooflineError, match=message):
        formula(op, **kwargs)


# --------------------------------------------------------------------------- vs real ops


def only(costs):
    found = [c for _, c in costs if c.flops > 0]
    assert len(found) == 1, costs
    return found[0]


def agrees(f: ClosedForm, cost) -> None:
    numbers = f.at()
    assert numbers["flops"] == cost.flops
    assert numbers["bytes_read"] == cost.bytes_read
    assert numbers["bytes_written"] == cost.bytes_written


def test_closed_forms_equal_the_captured_counts():
    agrees(formula("mm", m=5, n=7, k=3), only(costs_of(torch.mm, torch.randn(5, 3), torch.randn(3, 7))))
    agrees(formula("bmm", batch=2, m=5, n=7, k=3), only(costs_of(torch.bmm, torch.randn(2, 5, 3), torch.randn(2, 3, 7))))
    linear = torch.nn.Linear(6, 9)
    agrees(formula("linear", batch=4, in_features=6, out_features=9), only(costs_of(linear, torch.randn(4, 6))))
    conv = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, dilation=2, groups=2)
    agrees(
        formula("conv2d", batch=2, c_in=4, c_out=8, h=11, w=9, kernel=3, stride=2, padding=1, dilation=2, groups=2, bias=True),
        only(costs_of(conv, torch.randn(2, 4, 11, 9))),
    )
    q = torch.randn(2, 3, 10, 8)
    agrees(
        formula("attention", batch=2, heads=3, q_len=10, head_dim=8, causal=True),
        only(costs_of(F.scaled_dot_product_attention, q, q.clone(), q.clone(), is_causal=True)),
    )
    x = torch.randn(6, 20)
    agrees(formula("softmax", rows=6, cols=20), only(costs_of(torch.softmax, x, -1)))
    norm = torch.nn.LayerNorm(20)
    agrees(formula("layer_norm", rows=6, cols=20), only(costs_of(norm, x)))
    agrees(formula("pointwise", elements=120, n_inputs=2), only(costs_of(torch.add, x, x.clone())))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_closed_form_equals_the_captured_count(mode):
    bag = torch.nn.EmbeddingBag(500, 12, mode=mode)
    indices = torch.randint(0, 500, (4 * 5,))
    offsets = torch.arange(0, 20, 5)
    agrees(formula("embedding_bag", batch=4, bag_size=5, dim=12, mode=mode), only(costs_of(bag, indices, offsets)))


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_spmm_closed_form_equals_the_captured_count():
    a = torch.zeros(9, 7)
    a[torch.arange(9), torch.arange(9) % 7] = 1.0  # one value per row: nnz = 9
    b = torch.randn(7, 5)
    cost = [c for _, c in costs_of(torch.sparse.mm, a.to_sparse_csr(), b) if c.category == "Sparse MM"][0]
    agrees(formula("spmm", m=9, k=7, n=5, nnz=9, layout="csr"), cost)


# --------------------------------------------------------------------------- crossover


def test_ridge_intensity_is_peak_over_bandwidth():
    assert ridge_intensity("h100-sxm", "bf16", "dram", "matrix") == pytest.approx(RIDGE_BF16)
    with pytest.raises(RooflineError, match="no memory level"):
        ridge_intensity("h100-sxm", "bf16", "l7")


def test_mm_crossover_solved_by_hand():
    # bf16 (m x K) @ (K x K): intensity = 2 m K^2 / (2 (2 m K + K^2)) = m K / (2 m + K).
    # It reaches R at m = R K / (K - 2 R).
    k = 4096
    expected = RIDGE_BF16 * k / (k - 2 * RIDGE_BF16)
    assert crossover("mm", "h100-sxm", var="m", n=k, k=k, dtype="bf16") == pytest.approx(expected, rel=1e-9)


def test_causal_attention_crossover_in_sequence_length():
    # bf16, causal, L = S: FLOPs 2 B H L (L+1) d; bytes 6 B H L d (q, k, v) + 2 B H L d
    # (output) + 4 B H L (fp32 log-sum-exp), so intensity = 2 d (L+1) / (8 d + 4).
    d = 128
    expected = RIDGE_BF16 * (8 * d + 4) / (2 * d) - 1
    found = crossover("attention", "h100-sxm", var="q_len", batch=1, heads=16, head_dim=d, causal=True)
    assert found == pytest.approx(expected, rel=1e-9)


def test_crossover_never_and_always():
    # A streaming add stays at 1/12 FLOP/byte whatever its size.
    assert crossover("pointwise", "h100-sxm", var="elements", n_inputs=2) is None
    # 1000 FLOPs per element over 8 bytes is above the fp32 vector ridge at any size.
    assert crossover("pointwise", "h100-sxm", var="elements", dtype="fp32", flops_per_element=1000) == 0.0


def test_crossover_errors():
    with pytest.raises(RooflineError, match="no free size 'batch'"):
        crossover("mm", "h100-sxm", n=8, k=8)
    with pytest.raises(RooflineError, match="give values for k"):
        crossover("mm", "h100-sxm", var="m", n=8)


def build_projection(batch: int = 1, features: int = 1024):
    """One bias-free linear layer: its only work is a (batch x F) @ (F x F) matmul."""
    return torch.nn.Linear(features, features, bias=False), (torch.randn(batch, features),)


def test_model_crossover_is_the_smallest_compute_bound_batch():
    # As for mm: intensity b F / (2 b + F) >= R first at b = ceil(R F / (F - 2 R)).
    f = 1024
    bound = RIDGE_BF16 * f / (f - 2 * RIDGE_BF16)
    found = crossover(build_projection, "h100-sxm", dtype="bf16", features=f)
    assert found == int(bound) + 1
    assert crossover(build_projection, "h100-sxm", dtype="bf16", features=512, max_value=4096) is None  # F < 2R: never


def test_rule_step_closed_form_and_its_crossover():
    f = formula("rule_step", equation="xy,yz->xz", sizes={"x": 10, "y": 20, "z": 10})
    assert f.symbols == {}
    assert f.at()["flops"] == 2 * 10 * 20 * 10 + 2 * 10 * 10
    # N entities, fp32: (2N^3 + 2N^2) FLOPs over 32 N^2 bytes = (N + 1) / 16 FLOP/byte.
    ridge = H100.peak_flops("fp32", "vector") / H100.dram.bandwidth
    found = crossover("rule_step", "h100-sxm", var="entities", dtype="fp32", unit="vector")
    assert found == pytest.approx(16 * ridge - 1, rel=1e-9)
