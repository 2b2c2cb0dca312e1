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

from typing import Any, Sequence

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import CONV
from roofline.count.formulas._common import prod, read_bytes, written_bytes
from roofline.count.registry import MATRIX, VECTOR, Cost, register


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
    flops = 2 * n * k_out * (c_in / groups if _symbolic(c_in, groups) else c_in // groups) * prod(kernel) * out_positions
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
    per_group_out = k_out / groups if _symbolic(k_out, groups) else k_out // groups
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
    per_group = (k_out if transposed else c_in)
    per_group = per_group / groups if _symbolic(per_group, groups) else per_group // groups
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
    if _symbolic(size, kernel, stride, padding, dilation):
        import sympy

        return sympy.floor((size + 2 * padding - effective) / stride) + 1
    return (size + 2 * padding - effective) // stride + 1


def _symbolic(*values: Any) -> bool:
    return any(hasattr(v, "free_symbols") for v in values)


def conv_cost_from_shapes(
    x: TensorInfo, weight: TensorInfo, out: TensorInfo, groups: int, transposed: bool, has_bias: bool
) -> float:
    """FLOPs of a captured convolution from its input, weight and output shapes."""
    kernel = weight.shape[2:]
    if x.shape and len(x.shape) == len(weight.shape) - 1:  # unbatched input
        n, c_in, in_spatial = 1, x.shape[0], x.shape[1:]
        out_channels, out_spatial = out.shape[0], out.shape[1:]
    else:
        n, c_in, in_spatial = x.shape[0], x.shape[1], x.shape[2:]
        out_channels, out_spatial = out.shape[1], out.shape[2:]
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
    named = record.named_args()
    x = named.get("input", named.get("self", record.args[0]))
    weight = named.get("weight", record.args[1])
    bias = named.get("bias")
    transposed = bool(named.get("transposed", False)) or "transpose" in record.op
    groups = int(named.get("groups", 1) or 1)
    if "depthwise" in record.op:  # these kernels take no groups argument: one group per channel
        groups = x.shape[1]
    out = record.outputs[0]
    flops = conv_cost_from_shapes(x, weight, out, groups, transposed, isinstance(bias, TensorInfo))
    # A depthwise convolution (one input channel per group) has no reduction over
    # channels to feed matrix units: cuDNN, MIOpen and oneDNN run it on vector units.
    depthwise = weight.shape[1] == 1 and groups > 1 and not transposed
    return Cost(flops, read_bytes(record), written_bytes(record), CONV, unit=VECTOR if depthwise else MATRIX)


def im2col_convolution_cost(record: OpRecord) -> Cost:
    """convolution_cost with the lowered (im2col) matrix's traffic added: written by
    im2col, read by the GEMM. Forward convolutions only (transposed ones are counted
    as usual)."""
    cost = convolution_cost(record)
    named = record.named_args()
    x = named.get("input", named.get("self", record.args[0]))
    weight = named.get("weight", record.args[1])
    transposed = bool(named.get("transposed", False)) or "transpose" in record.op
    if transposed:
        return cost
    out = record.outputs[0]
    batched = len(x.shape) == len(weight.shape)
    n, c_in = (x.shape[0], x.shape[1]) if batched else (1, x.shape[0])
    out_spatial = out.shape[2:] if batched else out.shape[1:]
    lowered = im2col_elements(n, c_in, weight.shape[2:], out_spatial) * x.itemsize
    return Cost(cost.flops, cost.bytes_read + lowered, cost.bytes_written + lowered, CONV, unit=MATRIX)
