"""roofline/formulas/conv.py against closed forms worked out here and FlopCounterMode."""

import pytest
import sympy
import torch
from torch.utils.flop_counter import FlopCounterMode

from roofline.count.categories import CONV
from roofline.count.formulas.conv import conv_flops, conv_output_size
from roofline.count.registry import MATRIX, VECTOR
from tests.conftest import only_cost


def test_grouped_dilated_strided_conv2d():
    conv = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1, dilation=2, groups=4)
    x = torch.randn(2, 16, 20, 20)
    # Output side: floor((20 + 2*1 - 2*(3-1) - 1) / 2) + 1 = floor(17/2) + 1 = 9.
    cost = only_cost(conv, x)
    macs = 2 * 32 * (16 // 4) * 3 * 3 * 9 * 9
    assert cost.flops == 2 * macs + 2 * 32 * 81
    weight_bytes = 32 * 4 * 9 * 4
    assert cost.bytes_read == x.numel() * 4 + weight_bytes + 32 * 4
    assert cost.bytes_written == 2 * 32 * 81 * 4
    assert cost.category == CONV and cost.unit == MATRIX


def test_depthwise_conv():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    cost = only_cost(conv, torch.randn(1, 8, 10, 10))
    assert cost.flops == 2 * 8 * 1 * 9 * 100
    assert cost.unit == VECTOR  # no channel reduction to feed matrix units


def test_transposed_conv_counts_work_per_input_position():
    conv = torch.nn.ConvTranspose2d(4, 6, 3, stride=2)
    x = torch.randn(1, 4, 5, 5)
    # Output side (5 - 1) * 2 + 3 = 11. Every input element meets 6 x 3 x 3 taps.
    cost = only_cost(conv, x)
    assert cost.flops == 2 * 4 * 6 * 9 * 25 + 6 * 11 * 11


def test_conv1d_and_conv3d():
    c1 = torch.nn.Conv1d(3, 5, 4, bias=False)
    assert only_cost(c1, torch.randn(2, 3, 10)).flops == 2 * 2 * 5 * 3 * 4 * 7
    c3 = torch.nn.Conv3d(2, 4, (1, 3, 3), padding=(0, 1, 1), bias=False)
    assert only_cost(c3, torch.randn(1, 2, 3, 6, 6)).flops == 2 * 4 * 2 * 9 * (3 * 6 * 6)


@pytest.mark.parametrize(
    "c_in,c_out,kernel,stride,padding,dilation,groups",
    [(3, 8, 3, 1, 0, 1, 1), (8, 16, 5, 2, 2, 1, 2), (12, 12, 3, 1, 2, 2, 12), (6, 9, 1, 3, 0, 1, 3)],
)
def test_conv_matches_flop_counter_mode_without_bias(c_in, c_out, kernel, stride, padding, dilation, groups):
    conv = torch.nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups, bias=False)
    x = torch.randn(2, c_in, 17, 13)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        conv(x)
    assert only_cost(conv, x).flops == counter.get_total_flops()


def test_symbolic_closed_form():
    n, c, k, h = sympy.symbols("N C K H", positive=True, integer=True)
    p = conv_output_size(h, 3, stride=1, padding=1)
    assert sympy.simplify(p - h) == 0
    flops = conv_flops(n, c, k, (3, 3), (p, p))
    assert sympy.simplify(flops - 18 * n * c * k * h**2) == 0


def test_grouped_dilated_transposed_conv_with_output_padding():
    conv = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1, groups=2, dilation=2)
    x = torch.randn(1, 4, 5, 5)
    # Output side: (5-1)*2 + 2*(3-1) + 1 + 1 = 14. Every input element meets (6/2) x 3 x 3
    # taps; the bias adds one FLOP per output element.
    cost = only_cost(conv, x)
    assert cost.flops == 2 * 4 * (6 // 2) * 9 * 25 + 6 * 14 * 14
    # Transposed weight is (C_in, K/G, R, S).
    assert cost.bytes_read == (4 * 25 + 4 * 3 * 9 + 6) * 4
    assert cost.bytes_written == 6 * 14 * 14 * 4


def test_im2col_variant_counts_the_lowered_matrix():
    from roofline.capture import capture
    from roofline.count.formulas.conv import conv_bytes, im2col_convolution_cost
    from roofline.count.registry import count

    conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        [record] = capture(conv, (x,))[0]
    plain, lowered = count(record), im2col_convolution_cost(record)
    # The lowered matrix: C*R*S = 27 rows by P*Q = 36 columns, written then read.
    matrix = 27 * 36 * 4
    assert lowered.flops == plain.flops
    assert lowered.bytes_read == plain.bytes_read + matrix
    assert lowered.bytes_written == plain.bytes_written + matrix
    assert conv_bytes(1, 3, 4, (3, 3), (6, 6), (6, 6), im2col=True) == (lowered.bytes_read, lowered.bytes_written)


def test_im2col_variant_equals_an_explicit_lowering():
    # unfold (aten.im2col) + matmul is the lowering itself: the sum of its ops' traffic
    # is what the im2col variant predicts for the convolution.
    import torch.nn.functional as F

    from roofline.count.formulas.conv import conv_bytes
    from tests.conftest import costs_of

    w, x = torch.randn(4, 3, 3, 3), torch.randn(1, 3, 6, 6)
    costs = [c for _, c in costs_of(lambda: (w.view(4, -1) @ F.unfold(x, 3, padding=1)).view(1, 4, 6, 6))]
    read, written = conv_bytes(1, 3, 4, (3, 3), (6, 6), (6, 6), im2col=True)
    assert sum(c.bytes_read for c in costs) == read
    assert sum(c.bytes_written for c in costs) == written


def test_winograd_shape_of_a_3x3_stride_1_conv():
    # 3x3, stride 1, padding 1 on 14 x 10: the output keeps 14 x 10 (14 + 2 - 3 + 1 = 14).
    cost = only_cost(torch.nn.Conv2d(8, 16, 3, padding=1, bias=False), torch.randn(2, 8, 14, 10))
    assert (cost.winograd.n, cost.winograd.p, cost.winograd.q) == (2, 14, 10)
    # No padding: 14 - 3 + 1 = 12 by 10 - 3 + 1 = 8.
    cost = only_cost(torch.nn.Conv2d(8, 16, 3, bias=False), torch.randn(2, 8, 14, 10))
    assert (cost.winograd.p, cost.winograd.q) == (12, 8)


@pytest.mark.parametrize("conv", [
    torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),  # strided: no Winograd
    torch.nn.Conv2d(8, 16, 3, dilation=2, padding=2),  # dilated
    torch.nn.Conv2d(8, 16, 3, groups=2, padding=1),  # grouped
    torch.nn.Conv2d(8, 16, 1),  # 1x1: a plain GEMM
    torch.nn.Conv2d(8, 16, (3, 1), padding=(1, 0)),  # not 3x3
    torch.nn.ConvTranspose2d(8, 16, 3, padding=1),  # transposed
])
def test_no_winograd_shape_where_winograd_does_not_apply(conv):
    in_channels = conv.in_channels
    assert only_cost(conv, torch.randn(1, in_channels, 12, 12)).winograd is None


def test_no_winograd_shape_for_1d_and_3d_convs():
    assert only_cost(torch.nn.Conv1d(4, 4, 3, padding=1), torch.randn(1, 4, 16)).winograd is None
    assert only_cost(torch.nn.Conv3d(4, 4, 3, padding=1), torch.randn(1, 4, 6, 6, 6)).winograd is None
