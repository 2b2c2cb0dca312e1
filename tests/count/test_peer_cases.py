"""The peers' own test cases, run through roofline, with the peers' expected values.

Two peers: PyTorch's test/test_flop_counter.py (class TestFlopCounter; its expected
values are FLOPs, a multiply-add is 2) and fvcore's tests/test_flop_count.py (classes
TestFlopCountAnalysis and TestFlopCountHandles; fvcore counts a multiply-add as one, so
its values are doubled here). Each test names the peer test it runs. Where roofline
differs only by a documented convention (DESIGN.md: a bias or beta*input add is
counted, one FLOP per output element; causal attention counts the kept pairs), the test
adds that term, worked out by hand, to the peer's value; cases that rely on something
else (CUDA-only kernels, torchvision) run the same shapes on CPU or meta tensors.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from roofline.capture import capture
from roofline.count import count

MATMUL_CATEGORIES = ("GEMM", "Conv")


def T(*shape, requires_grad=False):
    return torch.randn(*shape, requires_grad=requires_grad)


def flops(fn, categories=None, grad=False):
    """roofline's total FLOPs of everything ``fn`` runs (of the given categories only)."""
    with torch.set_grad_enabled(grad):
        records, _ = capture(fn)
    costs = [count(r) for r in records]
    return sum(c.flops for c in costs if categories is None or c.category in categories)


# --------------------------------------------------------------------------- PyTorch


def test_torch_test_op():
    """TestFlopCounter.test_op: mm 240, bmm 720, conv2d 28800, conv1d 1440 exactly; addmm
    and baddbmm 240 and 720 plus their input adds."""
    assert flops(lambda: torch.mm(T(4, 5), T(5, 6)), MATMUL_CATEGORIES) == 240
    assert flops(lambda: torch.bmm(T(3, 4, 5), T(3, 5, 6)), MATMUL_CATEGORIES) == 720
    assert flops(lambda: torch.conv2d(T(2, 3, 6, 6), T(6, 3, 4, 4), padding=1), MATMUL_CATEGORIES) == 28_800
    assert flops(lambda: torch.conv1d(T(2, 3, 6), T(6, 3, 4), padding=1), MATMUL_CATEGORIES) == 1_440
    # Three addmm of 4x5 @ 5x6 (240 each) each add their broadcast input to the 4x6
    # output: 24 adds each.
    three_addmm = lambda: [torch.addmm(bias, T(4, 5), T(5, 6)) for bias in (T(4, 6), T(4, 1), T(6))]
    assert flops(three_addmm, MATMUL_CATEGORIES) == 720 + 3 * 24
    # baddbmm adds its 3x4x6 input: 72.
    assert flops(lambda: torch.baddbmm(T(3, 4, 6), T(3, 4, 5), T(3, 5, 6)), MATMUL_CATEGORIES) == 720 + 72


def test_torch_test_flop_counter_variety():
    """TestFlopCounter.test_flop_counter_variety: 3012, plus the addmm's 4x6 input add
    (24) and the Linear's bias add over its 8x10 output (80)."""
    linear = nn.Linear(9, 10)

    def variety():
        torch.mm(T(4, 5), T(5, 6))
        torch.addmm(T(4, 6), T(4, 5), T(5, 6), beta=0.5, alpha=0.5)
        torch.matmul(T(5, 6), T(6, 7))
        torch.einsum("ab,bc->ac", T(6, 7), T(7, 8))
        linear(T(8, 9))

    assert flops(variety, MATMUL_CATEGORIES) == 3_012 + 24 + 80


def test_torch_test_backward():
    """TestFlopCounter.test_backward: 5184 (mm and bmm forward, their input gradients)."""

    def step():
        a = T(4, 5, requires_grad=True)
        a = torch.mm(a, T(5, 6))
        a = a.unsqueeze(0).expand(7, 4, 6)
        a = torch.bmm(a, T(7, 6, 7))
        a.sum().backward()

    assert flops(step, MATMUL_CATEGORIES, grad=True) == 5_184


def test_torch_test_backward_reset():
    """TestFlopCounter.test_backward_reset: 960."""

    def twice():
        a = T(4, 5, requires_grad=True)
        a.mm(a.t()).sum().backward()
        a.mm(a.t()).sum().backward()

    assert flops(twice, MATMUL_CATEGORIES, grad=True) == 960


def test_torch_test_autograd_op():
    """TestFlopCounter.test_autograd_op: 750 (three 5x5x5 mm in a custom Function)."""

    class CustomOp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.mm(x, x)

        @staticmethod
        def backward(ctx, grad_output):
            return torch.mm(grad_output, grad_output) + torch.mm(grad_output, grad_output)

    a = T(5, 5, requires_grad=True)
    assert flops(lambda: CustomOp.apply(a).sum().backward(), MATMUL_CATEGORIES, grad=True) == 750


def _forward_and_backward(fn):
    with torch.enable_grad():
        records, _ = capture(fn)
    by_op = {}
    for r in records:
        by_op[r.packet] = by_op.get(r.packet, 0) + count(r).flops
    return by_op["aten.convolution"], by_op["aten.convolution_backward"]


def test_torch_test_convs():
    """TestFlopCounter.test_convs: backward is twice the forward; conv_transpose2d of a
    2x2 image with a 2x2 kernel is 32, a 1x1 conv2d of it 8 (no biases)."""
    x = torch.rand(1, 1, 2, 2, requires_grad=True)
    assert _forward_and_backward(lambda: F.conv_transpose2d(x, torch.randn(1, 1, 2, 2, requires_grad=True)).sum().backward()) == (32, 64)
    assert _forward_and_backward(lambda: F.conv2d(x, torch.randn(1, 1, 1, 1, requires_grad=True)).sum().backward()) == (8, 16)
    for c_in, c_out, groups in [(1, 1, 1), (1, 3, 1), (3, 1, 1), (3, 7, 1), (2, 4, 2), (4, 2, 2)]:
        x = torch.rand(1, c_in, 4, 4, requires_grad=True)
        weight = torch.randn(c_out, c_in // groups, 2, 2, requires_grad=True)
        forward, backward = _forward_and_backward(lambda x=x, w=weight, g=groups: F.conv2d(x, w, groups=g).sum().backward())
        assert backward == 2 * forward
        weight_t = torch.randn(c_in, c_out // groups, 2, 2, requires_grad=True)
        forward, backward = _forward_and_backward(
            lambda x=x, w=weight_t, g=groups: F.conv_transpose2d(x, w, groups=g).sum().backward()
        )
        assert backward == 2 * forward


def test_torch_test_conv_transpose_loop():
    """TestFlopCounter.test_conv_transpose_loop: 1,536,000 over 50 steps, plus the bias:
    each step adds it to the 8 x 60 x 4 output (1,920) and sums the output gradient
    for its gradient (1,920)."""
    x, model = torch.rand(1, 4, 30, 2), nn.ConvTranspose2d(4, 8, (2, 2), stride=2)

    def loop():
        for _ in range(50):
            model(x).sum().backward()

    assert flops(loop, MATMUL_CATEGORIES, grad=True) == 1_536_000 + 50 * (1_920 + 1_920)


def test_torch_test_addmm_out():
    """TestFlopCounter.test_addmm_out: mm into an out= tensor, 2000."""
    y, x = torch.zeros(10, 10), torch.randn(10, 10)
    assert flops(lambda: torch.mm(x, x, out=y), MATMUL_CATEGORIES) == 2_000


def test_torch_test_pytrees():
    """TestFlopCounter.test_pytrees: the mm of two dict-passing modules, 12000; Mod2, 6000."""

    class Foo(nn.Module):
        def forward(self, x):
            x = x["a"].relu_()
            return {"a": torch.mm(x, x)}

    class Mod(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = Foo(), Foo()

        def forward(self, x):
            return self.b(self.a(x))

    class Mod2(nn.Module):
        def forward(self, x):
            return (torch.mm(x, x),)

    mod, mod2 = Mod(), Mod2()
    run = lambda: mod({"a": torch.randn(10, 10, requires_grad=True).clone()})["a"].sum().backward()
    assert flops(run, MATMUL_CATEGORIES, grad=True) == 12_000
    run2 = lambda: mod2(torch.randn(10, 10, requires_grad=True))[0].sum().backward()
    assert flops(run2, MATMUL_CATEGORIES, grad=True) == 6_000


def _sdpa(batch, heads, q_len, kv_len, head_dim, backward, kv_heads=None):
    q = T(batch, heads, q_len, head_dim, requires_grad=True)
    k = T(batch, kv_heads or heads, kv_len, head_dim, requires_grad=True)
    v = T(batch, kv_heads or heads, kv_len, head_dim, requires_grad=True)

    def run():
        out = F.scaled_dot_product_attention(q, k, v, enable_gqa=kv_heads is not None)
        if backward:
            out.sum().backward()

    return flops(run, ("GEMM",), grad=backward)


def test_torch_test_sdpa():
    """TestFlopCounter.test_sdpa's shapes (4 x 8 heads, 128 queries, head 64): forward
    134,217,728; forward and backward of the flash and memory-efficient kernels 7/2 of
    that; 128 queries over 256 keys 268,435,456 and 939,524,096 with backward. The peer
    test passes is_causal=True but counts every pair; these are the non-causal counts
    (roofline counts a causal call's kept pairs, test_formulas_attention)."""
    assert _sdpa(4, 8, 128, 128, 64, backward=False) == 134_217_728
    assert _sdpa(4, 8, 128, 128, 64, backward=True) == 134_217_728 * 7 // 2
    assert _sdpa(4, 8, 128, 256, 64, backward=False) == 268_435_456
    assert _sdpa(4, 8, 128, 256, 64, backward=True) == 939_524_096


def test_torch_test_sdpa_gqa():
    """TestFlopCounter.test_sdpa_gqa: grouped-query attention counts as many FLOPs as
    the same attention with the key/value heads repeated."""
    assert _sdpa(2, 32, 128, 128, 64, backward=False, kv_heads=8) == _sdpa(2, 32, 128, 128, 64, backward=False)


def test_torch_test_flash_attention_forward_and_backward_flop_layout():
    """TestFlopCounter.test_flash_attention_forward_flop_layout and
    test_flash_attention_backward_flop_layout: _flash_attention_forward on [B, S, H, D]
    meta tensors counts as sdpa on [B, H, S, D]: 4 x 2 x 8 x 128 x 128 x 64 =
    67,108,864; its backward 2.5 times that."""
    q = torch.empty(2, 128, 8, 64, device="meta", dtype=torch.float16)

    def run():
        out, lse, rng, unused, _ = torch.ops.aten._flash_attention_forward(q, q, q, None, None, 128, 128, 0.0, False, False)
        torch.ops.aten._flash_attention_backward(out, q, q, q, out, lse, None, None, 128, 128, 0.0, False, rng, unused)

    with torch.no_grad():
        records, _ = capture(run)
    assert [count(r).flops for r in records] == [67_108_864, 67_108_864 * 5 / 2]


def test_torch_test_varlen_attn():
    """TestFlopCounter.test_varlen_attn: sequences of 128 and 64 tokens packed, 8 heads
    of 64: 2048 x (128^2 + 64^2) = 41,943,040 forward, 7/2 of it with backward. The
    peer passes is_causal=True and counts every pair; this is the non-causal count."""
    q = torch.empty(192, 8, 64, device="meta", dtype=torch.float16)
    offsets = torch.tensor([0, 128, 192], dtype=torch.int32)

    def run():
        out, lse, rng, unused, _ = torch.ops.aten._flash_attention_forward(q, q, q, offsets, offsets, 128, 128, 0.0, False, False)
        torch.ops.aten._flash_attention_backward(out, q, q, q, out, lse, offsets, offsets, 128, 128, 0.0, False, rng, unused)

    with torch.no_grad():
        records, _ = capture(run)
    forward, backward = (count(r).flops for r in records)
    assert forward == 41_943_040 and forward + backward == 146_800_640


def test_torch_test_scaled_mm():
    """TestFlopCounter.test_scaled_mm: an fp8 48x80 @ 80x112 product, 860,160 (on meta:
    the peer's test needs an fp8 GPU)."""
    fp8 = torch.float8_e4m3fn
    a = torch.empty(3 * 16, 5 * 16, device="meta").to(fp8)
    b = torch.empty(7 * 16, 5 * 16, device="meta").to(fp8).t()
    scale = torch.ones((), device="meta")
    run = lambda: torch._scaled_mm(a, b, scale_a=scale, scale_b=scale, out_dtype=torch.bfloat16)
    assert flops(run) == 860_160


def test_torch_test_inference_mode():
    """TestFlopCounter.test_inference_mode: a resnet counts the same with and without
    inference_mode (on tests/capture/test_mode.py's hand-built resnet: no torchvision)."""
    from tests.capture.test_mode import _resnet_like

    model, x = _resnet_like(), torch.randn(1, 3, 32, 32)
    standard = flops(lambda: model(x))
    with torch.inference_mode():
        inference = flops(lambda: model(x))
    assert standard == inference


# --------------------------------------------------------------------------- fvcore


def test_fvcore_test_matmul_and_broadcast():
    """TestFlopCountAnalysis.test_matmul (20x10 @ 10x100: 20,000 MACs) and
    test_matmul_broadcast (1, 4, 1 and 2 such products), doubled."""
    m, n, p = 20, 10, 100
    assert flops(lambda: torch.matmul(T(m, n), T(n, p)), MATMUL_CATEGORIES) == 2 * m * n * p
    cases = [((1, m, n), (1, n, p), 1), ((2, 2, m, n), (2, 2, n, p), 4), ((1, m, n), (n, p), 1), ((2, m, n), (n, p), 2)]
    for x_shape, y_shape, products in cases:
        x, y = T(*x_shape), T(*y_shape)
        assert flops(lambda x=x, y=y: torch.matmul(x, y), MATMUL_CATEGORIES) == 2 * products * m * n * p


def test_fvcore_test_bmm():
    """TestFlopCountAnalysis.test_bmm: n*t*p*c = 2*2*12*5 = 240 MACs, doubled."""
    assert flops(lambda: torch.bmm(T(2, 5, 2), T(2, 2, 12)), MATMUL_CATEGORIES) == 480


def test_fvcore_test_einsum():
    """TestFlopCountAnalysis.test_einsum: nct,ncp->ntp 120 MACs and ntg,ncg->nct 60,
    doubled; TestFlopCountHandles.test_complicated_einsum: nc,nchw->hw 72, doubled."""
    assert flops(lambda: torch.einsum("nct,ncp->ntp", T(1, 5, 2), T(1, 5, 12)), MATMUL_CATEGORIES) == 240
    assert flops(lambda: torch.einsum("ntg,ncg->nct", T(1, 2, 6), T(1, 5, 6)), MATMUL_CATEGORIES) == 120
    assert flops(lambda: torch.einsum("nc,nchw->hw", torch.rand(3, 4), torch.rand(3, 4, 2, 3)), MATMUL_CATEGORIES) == 144


def test_fvcore_test_torch_mm():
    """TestFlopCountHandles.test_torch_mm: mm and matmul of 3x4 @ 4x5, 60 MACs, doubled."""
    assert flops(lambda: torch.mm(torch.rand(3, 4), torch.rand(4, 5)), MATMUL_CATEGORIES) == 120
    assert flops(lambda: torch.matmul(torch.rand(3, 4), torch.rand(4, 5)), MATMUL_CATEGORIES) == 120


def test_fvcore_test_upsample():
    """TestFlopCountHandles.test_upsample: bilinear x2 of 2x2x2x2, 4 per output element
    of the 2x2x4x4 output (256), doubled."""
    x = torch.rand(2, 2, 2, 2)
    assert flops(lambda: F.interpolate(x, None, 2, "bilinear", False)) == 2 * 2**4 * 4 * 4


def test_fvcore_test_linear():
    """TestFlopCountAnalysis.test_linear: batch*in*out = 5*10*20 = 1000 MACs, doubled,
    plus the bias added to the 5x20 output (100)."""
    linear, x = nn.Linear(10, 20), T(5, 10)
    assert flops(lambda: linear(x), MATMUL_CATEGORIES) == 2 * 1_000 + 100


def test_fvcore_test_conv():
    """TestFlopCountAnalysis.test_conv: batch*in*out*k^d*out_spatial^d/groups MACs
    (transposed: over the input positions), doubled, plus the bias added to each
    output element."""
    # 2-d, 5 x (10 -> 3), 15x15, k3 p1: 5*10*3*9*225 = 303,750 MACs; bias 5*3*225 = 3,375.
    conv = nn.Conv2d(10, 3, 3, 1, 1)
    assert flops(lambda: conv(T(5, 10, 15, 15)), MATMUL_CATEGORIES) == 2 * 303_750 + 3_375
    # Grouped, 5 x (16 -> 8), k5 p2, 4 groups: 5*16*8*25*225/4 = 900,000; bias 5*8*225 = 9,000.
    grouped = nn.Conv2d(16, 8, 5, 1, 2, groups=4)
    assert flops(lambda: grouped(T(5, 16, 15, 15)), MATMUL_CATEGORIES) == 2 * 900_000 + 9_000
    # 1-d, 5 x (10 -> 3), 15 long, k3 p1: 5*10*3*3*15 = 6,750; bias 5*3*15 = 225.
    conv1d = nn.Conv1d(10, 3, 3, 1, 1)
    assert flops(lambda: conv1d(T(5, 10, 15)), MATMUL_CATEGORIES) == 2 * 6_750 + 225
    # Transposed, stride 2: over the 15x15 input, 303,750 MACs; the 29x29 output's bias
    # 5*3*841 = 12,615.
    transposed = nn.ConvTranspose2d(10, 3, 3, 2, 1)
    assert flops(lambda: transposed(T(5, 10, 15, 15)), MATMUL_CATEGORIES) == 2 * 303_750 + 12_615
