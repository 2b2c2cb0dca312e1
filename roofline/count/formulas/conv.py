"""Convolutions in KCRS form: 1d/2d/3d, strided, padded, dilated, grouped, depthwise,
transposed.

Forward FLOPs are 2*N*K*(C/G)*R*S*P*Q (a multiply-add per weight tap per output
element) plus N*K*P*Q for the bias when present. A transposed convolution runs the
same multiply-adds with input and output swapped: 2*N*C*(K/G)*R*S*H*W over the input
positions H*W. Bytes are compulsory: input, weight and bias read once, output written
once.

The im2col variant (``conv_bytes(..., im2col=True)``, ``im2col_convolution_cost``)
counts a convolution lowered to a GEMM: im2col writes the (C*R*S) x (N*P*Q) lowered
matrix and the GEMM reads it back, so both add that matrix's bytes; FLOPs are the same
multiply-adds. To count every captured convolution that way, register it over the
default handler: ``register("aten.convolution")(im2col_convolution_cost)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import CONV
from roofline.count.formulas._common import (
    exact_div,
    floor_div,
    prod,
    read_bytes,
    written_bytes,
)
from roofline.count.registry import (
    MATRIX,
    VECTOR,
    Cost,
    GemmShape,
    WinogradShape,
    register,
)


def conv_flops(
    n: Any,
    c_in: Any,
    k_out: Any,
    kernel: Sequence[Any],
    out_spatial: Sequence[Any],
    groups: Any = 1,
    bias: bool = False,
) -> Any:
    """FLOPs of a forward convolution (KCRS): 2*N*K*(C/G)*prod(kernel)*prod(out_spatial)."""
    out_positions = prod(out_spatial)
    flops = 2 * n * k_out * exact_div(c_in, groups) * prod(kernel) * out_positions
    if bias:
        flops = flops + n * k_out * out_positions
    return flops


def conv_transpose_flops(
    n: Any,
    c_in: Any,
    k_out: Any,
    kernel: Sequence[Any],
    in_spatial: Sequence[Any],
    out_spatial: Sequence[Any],
    groups: Any = 1,
    bias: bool = False,
) -> Any:
    """FLOPs of a transposed convolution: every input element meets (K/G)*prod(kernel) taps."""
    per_group_out = exact_div(k_out, groups)
    flops = 2 * n * c_in * per_group_out * prod(kernel) * prod(in_spatial)
    if bias:
        flops = flops + n * k_out * prod(out_spatial)
    return flops


def conv_bytes(
    n: Any,
    c_in: Any,
    k_out: Any,
    kernel: Sequence[Any],
    in_spatial: Sequence[Any],
    out_spatial: Sequence[Any],
    groups: Any = 1,
    itemsize: Any = 4,
    bias: bool = False,
    transposed: bool = False,
    im2col: bool = False,
) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of a convolution.

    Weight elements: K*(C/G)*prod(kernel) (transposed: C*(K/G)*prod(kernel)). With
    im2col=True (forward only) the lowered matrix of C*prod(kernel)*N*prod(out_spatial)
    elements is written once and read once more.
    """
    per_group = exact_div(k_out if transposed else c_in, groups)
    weight = (c_in if transposed else k_out) * per_group * prod(kernel)
    bytes_read = (n * c_in * prod(in_spatial) + weight + (k_out if bias else 0)) * itemsize
    bytes_written = n * k_out * prod(out_spatial) * itemsize
    if im2col:
        if transposed:
            raise ValueError("im2col=True is defined for forward convolutions only")
        lowered = im2col_elements(n, c_in, kernel, out_spatial) * itemsize
        bytes_read, bytes_written = bytes_read + lowered, bytes_written + lowered
    return bytes_read, bytes_written


def im2col_elements(n: Any, c_in: Any, kernel: Sequence[Any], out_spatial: Sequence[Any]) -> Any:
    """Elements of the im2col matrix: one column of C*prod(kernel) taps per output position."""
    return n * c_in * prod(kernel) * prod(out_spatial)


def conv_output_size(size: Any, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Any:
    """Output length of a convolution along one dimension."""
    effective = dilation * (kernel - 1) + 1
    return floor_div(size + 2 * padding - effective, stride) + 1


def conv_dims(
    x: TensorInfo, weight: TensorInfo, out: TensorInfo
) -> tuple[int, int, tuple[int, ...], int, tuple[int, ...]]:
    """(N, C, input spatial, K, output spatial) of a convolution's input ``x`` and its
    output (or output gradient) ``out``; an unbatched input has N = 1."""
    if x.shape and len(x.shape) == len(weight.shape) - 1:  # unbatched input
        return 1, x.shape[0], x.shape[1:], out.shape[0], out.shape[1:]
    return x.shape[0], x.shape[1], x.shape[2:], out.shape[1], out.shape[2:]


def _conv_arguments(record: OpRecord) -> tuple[TensorInfo, TensorInfo, TensorInfo | None, bool]:
    """(input, weight, bias or None, transposed) of a captured convolution."""
    named = record.named_args()
    x = named.get("input", named.get("self", record.args[0]))
    weight = named.get("weight", record.args[1])
    bias = named.get("bias")
    transposed = bool(named.get("transposed", False)) or "transpose" in record.op
    return x, weight, bias if isinstance(bias, TensorInfo) else None, transposed


def conv_cost_from_shapes(
    x: TensorInfo, weight: TensorInfo, out: TensorInfo, groups: int, transposed: bool, has_bias: bool
) -> float:
    """FLOPs of a captured convolution from its input, weight and output shapes."""
    kernel = weight.shape[2:]
    n, c_in, in_spatial, out_channels, out_spatial = conv_dims(x, weight, out)
    if transposed:
        return conv_transpose_flops(n, c_in, out_channels, kernel, in_spatial, out_spatial, groups, has_bias)
    return conv_flops(n, c_in, out_channels, kernel, out_spatial, groups, has_bias)


@register(
    "aten.convolution",
    "aten._convolution",
    "aten.convolution_overrideable",
    "aten.conv1d",
    "aten.conv2d",
    "aten.conv3d",
    "aten.conv_transpose1d",
    "aten.conv_transpose2d",
    "aten.conv_transpose3d",
    "aten.cudnn_convolution",
    "aten.cudnn_convolution_transpose",
    "aten.miopen_convolution",
    "aten.miopen_convolution_transpose",
    "aten.miopen_depthwise_convolution",
    "aten.mkldnn_convolution",
    "aten._slow_conv2d_forward",
    "aten.thnn_conv2d",
    "aten.slow_conv3d",
    "aten.slow_conv3d_forward",
    "aten.slow_conv_dilated2d",
    "aten.slow_conv_dilated3d",
    "aten.slow_conv_transpose2d",
    "aten.slow_conv_transpose3d",
    "aten._conv_depthwise2d",
    "aten.conv_depthwise3d",
)
def convolution_cost(record: OpRecord) -> Cost:
    x, weight, bias, transposed = _conv_arguments(record)
    groups = int(record.arg("groups", default=1) or 1)
    if "depthwise" in record.op:  # these kernels take no groups argument: one group per channel
        groups = x.shape[1]
    flops = conv_cost_from_shapes(x, weight, record.outputs[0], groups, transposed, bias is not None)
    # A depthwise convolution (one input channel per group) has no reduction over
    # channels to feed matrix units: cuDNN, MIOpen and oneDNN run it on vector units.
    depthwise = weight.shape[1] == 1 and groups > 1 and not transposed
    gemm = None if depthwise else implicit_gemm(x, weight, record.outputs[0], groups, transposed)
    winograd = winograd_shape(record, x, weight, record.outputs[0], groups, transposed)
    return Cost(flops, read_bytes(record), written_bytes(record), CONV, unit=VECTOR if depthwise else MATRIX, gemm=gemm,
                winograd=winograd)


def _all_ones(value: Any) -> bool:
    """True for a stride or dilation argument of 1 in every dimension (an int or a list)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return all(v == 1 for v in values)


def winograd_shape(record: OpRecord, x: TensorInfo, weight: TensorInfo, out: TensorInfo, groups: int,
                   transposed: bool) -> WinogradShape | None:
    """The images and output size of a forward 2-D convolution Winograd can run (3x3
    kernel, stride 1, dilation 1, one group), else None."""
    if transposed or groups != 1 or tuple(weight.shape[2:]) != (3, 3) or "depthwise" in record.op:
        return None
    if not (_all_ones(record.arg("stride", default=1)) and _all_ones(record.arg("dilation", default=1))):
        return None
    n, _, _, _, out_spatial = conv_dims(x, weight, out)
    return WinogradShape(n, out_spatial[0], out_spatial[1])


def implicit_gemm(x: TensorInfo, weight: TensorInfo, out: TensorInfo, groups: int, transposed: bool) -> GemmShape:
    """The implicit GEMM of a convolution as cuDNN's implicit-GEMM kernels run it: one
    product per group, m = N x output pixels, n = output channels per group, k = input
    channels per group x kernel taps. A transposed convolution scatters each input pixel
    through the kernel (GEMM then col2im): m = N x input pixels, n = output channels per
    group x taps, k = input channels per group. Either way 2 x batch x m x n x k is the
    convolution's multiply-add FLOPs."""
    n, c_in, in_spatial, out_channels, out_spatial = conv_dims(x, weight, out)
    taps = prod(weight.shape[2:])
    if transposed:  # weight is (C_in, C_out / groups, *kernel)
        return GemmShape(groups, n * prod(in_spatial), weight.shape[1] * taps, c_in // groups)
    return GemmShape(groups, n * prod(out_spatial), out_channels // groups, weight.shape[1] * taps)


def im2col_convolution_cost(record: OpRecord) -> Cost:
    """convolution_cost with the lowered (im2col) matrix's traffic added: written by
    im2col, read by the GEMM. Forward convolutions only (transposed ones are counted
    as usual)."""
    cost = convolution_cost(record)
    x, weight, _, transposed = _conv_arguments(record)
    if transposed:
        return cost
    n, c_in, _, _, out_spatial = conv_dims(x, weight, record.outputs[0])
    lowered = im2col_elements(n, c_in, weight.shape[2:], out_spatial) * x.itemsize
    return Cost(cost.flops, cost.bytes_read + lowered, cost.bytes_written + lowered, CONV, unit=MATRIX)
