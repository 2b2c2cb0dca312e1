"""Training-only ops: the aten backward kernels autograd runs, loss functions and their
gradients, and optimizer updates (foreach and fused).

Backward FLOPs follow the forward formulas of each family:

- convolution_backward: the input gradient is a (transposed) convolution of the output
  gradient with the weight, and the weight gradient a convolution of the input with the
  output gradient; each costs the forward's multiply-adds, 2*N*K*(C/G)*R*S*P*Q (same
  for transposed convolutions, with input and output swapped). The bias gradient sums
  the output gradient: N*K*P*Q adds. Only the gradients in ``output_mask`` count (the
  first layer of a network needs no input gradient). So backward = 2 x forward, less the
  bias terms.
- Fused attention backward recomputes the scores then runs four more matmuls
  (dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q): 5 matmuls against the forward's 2,
  as torch.utils.flop_counter counts them; causal attention does the kept pairs only.
- Norms, softmax, pooling, embeddings, activations: streaming work with the per-element
  counts given in the constants below (each derived in its comment).

Bytes are compulsory, as everywhere: each distinct input read once, each gradient
written once. Exceptions named where they occur: a max-pool backward reads the output
gradient and the indices but not the forward input (it only needs its shape); an
embedding backward writes the whole dense gradient table (it is zero-filled, then rows
are accumulated into it) and reads only the gathered rows' gradients.

Optimizer ops: a ``_foreach_*`` op is its element-wise op over a list of tensors (FLOPs
per element as in the pointwise family, summed over the list); an in-place foreach op
returns nothing, so its writes are its first list. Fused Adam/AdamW/SGD read the
parameters, gradients and state and write parameters and state, with the per-element
counts below.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import (
    CONV,
    DATA_MOVE,
    ELEMENTWISE,
    EMBEDDING,
    GEMM,
    REGIONAL,
)
from roofline.count.formulas._common import (
    as_int_list,
    distinct_bytes,
    prod,
    read_bytes,
    tensors_in,
    written_bytes,
)
from roofline.count.formulas.attention import attention_flops, attention_shape, fused_attention_flops
from roofline.count.formulas.conv import conv_dims
from roofline.count.formulas.embedding import embedding_bag_flops, gathered_rows_bytes
from roofline.count.formulas.pooling import adaptive_pool_flops, pool_flops
from roofline.count.formulas.reduction import normalized_rows, softmax_rows
from roofline.count.registry import MATRIX, Cost, register

#: Batch norm backward with batch statistics, per element: recompute x_hat = (x - mean)
#: * invstd (2), sum dy (1), sum dy * x_hat (2), then dx = scale * (dy - mean(dy) -
#: x_hat * mean(dy * x_hat)) (4).
BATCH_NORM_BACKWARD_TRAIN_FLOPS = 9
#: With running statistics (eval-mode backward): dx = dy * weight * invstd (1), and for
#: the weight gradient x_hat (2) plus sum dy * x_hat (2) and sum dy (1).
BATCH_NORM_BACKWARD_EVAL_FLOPS = 6
#: Layer/group norm backward, per element: x_hat (2), g = dy * weight (1), the row sums
#: of g and g * x_hat (3), dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)) (4), and
#: the weight/bias gradients' column sums dy * x_hat and dy (3).
LAYER_NORM_BACKWARD_FLOPS = 13
#: RMS norm backward: x_hat = x * rstd (1), g = dy * weight (1), row sum g * x_hat (2),
#: dx = rstd * (g - x_hat * mean(g * x_hat)) (3), weight gradient sum dy * x_hat (2).
RMS_NORM_BACKWARD_FLOPS = 9
#: Softmax backward dx = y * (dy - sum(dy * y)): the row sum (2), subtract (1), multiply (1).
SOFTMAX_BACKWARD_FLOPS = 4
#: Log-softmax backward dx = dy - exp(y) * sum(dy): row sum (1), exp (1), multiply (1),
#: subtract (1).
LOG_SOFTMAX_BACKWARD_FLOPS = 4

#: FLOPs per element of activation backward kernels torch does not tag pointwise.
ACTIVATION_BACKWARD_FLOPS: dict[str, int] = {
    "aten.hardtanh_backward": 2,  # compare with both bounds, select
    "aten.leaky_relu_backward": 2,  # compare, multiply
    "aten.hardswish_backward": 4,  # two compares, (2x + 3) / 6 times dy
    "aten.hardsigmoid_backward": 2,  # compare, scale
    "aten.elu_backward": 3,  # compare, exp-based derivative, multiply
    "aten.softplus_backward": 4,  # exp, add, divide, multiply
    "aten.mish_backward": 8,  # tanh(softplus) and its derivative
    "aten.glu_backward": 4,  # sigmoid, its derivative, two products
    "aten.rrelu_with_noise_backward": 2,
    "aten.log_sigmoid_backward": 4,
    "aten._prelu_kernel_backward": 2,
}

#: Loss functions, FLOPs per input element: mse (subtract, square, sum) 3; its gradient
#: 2 * (x - y) * dy / n 3; binary cross entropy y*log(x) + (1-y)*log(1-x) 6 and its
#: gradient (x - y) / (x * (1 - x)) * dy 5; with logits, add a sigmoid (2); smooth L1 /
#: Huber 4 either way. nll_loss gathers one value per row: 1 FLOP per row, and its
#: gradient scatters -weight into a zeroed input-sized tensor.
LOSS_FLOPS: dict[str, int] = {
    "aten.mse_loss": 3,
    "aten.mse_loss_backward": 3,
    "aten.binary_cross_entropy": 6,
    "aten.binary_cross_entropy_backward": 5,
    "aten.binary_cross_entropy_with_logits": 8,
    "aten.smooth_l1_loss": 4,
    "aten.smooth_l1_loss_backward": 4,
    "aten.huber_loss": 4,
    "aten.huber_loss_backward": 4,
    "aten.l1_loss": 2,
    "aten.soft_margin_loss": 4,
    "aten.soft_margin_loss_backward": 4,
}

#: Fused optimizer FLOPs per parameter element. Adam: m = lerp(m, g, 1 - b1) (3),
#: v = b2 * v + (1 - b2) * g * g (4), denom = sqrt(v) / sqrt(bc2) + eps (3),
#: p -= lr / bc1 * m / denom (3): 13; AdamW adds the decoupled decay p *= 1 - lr * wd
#: (1); amsgrad a max (1). SGD: p -= lr * g (2), momentum buf = mu * buf + g (2),
#: weight decay g += wd * p (2), nesterov g += mu * buf (2).
FUSED_ADAM_FLOPS = 13
FUSED_SGD_FLOPS = 2

#: Element-wise foreach ops and their FLOPs per element (0: pure data movement).
FOREACH_FLOPS: dict[str, int] = {
    "add": 1, "sub": 1, "mul": 1, "div": 1, "neg": 1, "abs": 1, "sign": 1, "reciprocal": 1,
    "sqrt": 1, "rsqrt": 1, "exp": 1, "log": 1, "pow": 1, "sigmoid": 1, "tanh": 1,
    "maximum": 1, "minimum": 1, "clamp_min": 1, "clamp_max": 1, "max": 1,
    "addcmul": 2, "addcdiv": 2, "lerp": 2,
    "norm": 2,  # square and add
    "copy": 0, "zero": 0,
}


def conv_backward_flops(forward_macs_flops: Any, bias_adds: Any, output_mask: tuple[bool, bool, bool]) -> Any:
    """FLOPs of a convolution backward from the forward's multiply-add FLOPs (without
    bias) and its bias additions (N*K*P*Q): one forward's worth per input/weight
    gradient requested, plus one add per output-gradient element for the bias gradient."""
    grad_input, grad_weight, grad_bias = output_mask
    flops = 0
    if grad_input:
        flops = flops + forward_macs_flops
    if grad_weight:
        flops = flops + forward_macs_flops
    if grad_bias:
        flops = flops + bias_adds
    return flops


def attention_backward_flops(
    batch: Any, q_heads: Any, q_len: Any, kv_len: Any, head_dim: Any, v_head_dim: Any | None = None, causal: bool = False
) -> Any:
    """FLOPs of a fused attention backward: the scores recomputed plus four gradient
    matmuls, i.e. 2.5 x the forward's two."""
    return attention_flops(batch, q_heads, q_len, kv_len, head_dim, v_head_dim, causal) * 5 / 2


def _mask(record: OpRecord, default: tuple[bool, ...] = (True, True, True)) -> tuple[bool, ...]:
    mask = record.arg("output_mask")
    if mask is None:
        return default
    return tuple(bool(m) for m in mask)


def _outputs_written(record: OpRecord) -> int:
    """Bytes of the outputs a backward actually produced (undefined gradients are empty)."""
    return sum(t.nbytes for t in record.outputs if t.numel > 0)


# --------------------------------------------------------------------------- convolution


@register("aten.convolution_backward", "aten.convolution_backward_overrideable")
def convolution_backward_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    grad_out = named.get("grad_output", record.args[0])
    x = named.get("input", record.args[1])
    weight = named.get("weight", record.args[2])
    groups = int(named.get("groups", 1) or 1)
    transposed = bool(named.get("transposed", False))
    mask = _mask(record)
    kernel = weight.shape[2:]
    n, c_in, in_spatial, k_out, out_spatial = conv_dims(x, weight, grad_out)
    if transposed:  # the multiply-adds run over the input positions
        macs = 2 * n * c_in * (k_out // groups) * prod(kernel) * prod(in_spatial)
    else:
        macs = 2 * n * k_out * (c_in // groups) * prod(kernel) * prod(out_spatial)
    bias_adds = n * k_out * prod(out_spatial)
    flops = conv_backward_flops(macs, bias_adds, mask)
    # Compulsory reads: the output gradient always; the input only for the weight
    # gradient, the weight only for the input gradient.
    bytes_read = distinct_bytes(grad_out)
    if mask[1]:
        bytes_read += distinct_bytes(x)
    if mask[0]:
        bytes_read += distinct_bytes(weight)
    return Cost(flops, bytes_read, _outputs_written(record), CONV, unit=MATRIX)


# --------------------------------------------------------------------------- norms and softmax


@register("aten.native_batch_norm_backward", "aten.batch_norm_backward")
def batch_norm_backward_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    x = named.get("input", record.args[1])
    train = named.get("train", True)  # batch_norm_backward has no flag: batch statistics
    per_element = BATCH_NORM_BACKWARD_TRAIN_FLOPS if train else BATCH_NORM_BACKWARD_EVAL_FLOPS
    return Cost(x.numel * per_element, read_bytes(record), _outputs_written(record), ELEMENTWISE)


@register("aten.cudnn_batch_norm_backward", "aten.miopen_batch_norm_backward")
def vendor_batch_norm_backward_cost(record: OpRecord) -> Cost:
    x = record.args[0]  # these take (input, grad_output, ...) and always use batch statistics
    return Cost(x.numel * BATCH_NORM_BACKWARD_TRAIN_FLOPS, read_bytes(record), _outputs_written(record), ELEMENTWISE)


@register("aten.native_layer_norm_backward", "aten.native_group_norm_backward")
def layer_norm_backward_cost(record: OpRecord) -> Cost:
    x = record.arg("input", 1)
    cost = Cost(x.numel * LAYER_NORM_BACKWARD_FLOPS, read_bytes(record), _outputs_written(record), ELEMENTWISE)
    mask = record.arg("output_mask", 7, default=None)
    # The row model (roofline.efficiency.reduction) describes the input-gradient kernel
    # followed by the weight gradients' pass; with only one of them the op streams its
    # compulsory bytes once.
    both = isinstance(mask, (list, tuple)) and len(mask) == 3 and bool(mask[0]) and bool(mask[1] or mask[2])
    if record.packet != "aten.native_layer_norm_backward" or not both:
        return cost
    return replace(cost, rows=normalized_rows(x, record.arg("normalized_shape", 2, default=None)))


@register("aten._fused_rms_norm_backward")
def rms_norm_backward_cost(record: OpRecord) -> Cost:
    x = record.arg("input", 1)
    return Cost(x.numel * RMS_NORM_BACKWARD_FLOPS, read_bytes(record), _outputs_written(record), ELEMENTWISE)


@register("aten._softmax_backward_data")
def softmax_backward_cost(record: OpRecord) -> Cost:
    grad = record.args[0]
    cost = Cost(grad.numel * SOFTMAX_BACKWARD_FLOPS, read_bytes(record), written_bytes(record), ELEMENTWISE)
    return replace(cost, rows=softmax_rows(record))


@register("aten._log_softmax_backward_data")
def log_softmax_backward_cost(record: OpRecord) -> Cost:
    grad = record.args[0]
    cost = Cost(grad.numel * LOG_SOFTMAX_BACKWARD_FLOPS, read_bytes(record), written_bytes(record), ELEMENTWISE)
    return replace(cost, rows=softmax_rows(record))


# --------------------------------------------------------------------------- attention


#: Every fused attention backward kernel.
SDPA_BACKWARD_OPS = (
    "aten._scaled_dot_product_flash_attention_backward",
    "aten._scaled_dot_product_flash_attention_for_cpu_backward",
    "aten._scaled_dot_product_efficient_attention_backward",
    "aten._scaled_dot_product_cudnn_attention_backward",
    "aten._scaled_dot_product_fused_attention_overrideable_backward",
    "aten._flash_attention_backward",
    "aten._efficient_attention_backward",
)


@register(*SDPA_BACKWARD_OPS)
def sdpa_backward_cost(record: OpRecord) -> Cost:
    """The forward's two matmuls recomputed and differentiated: 2.5 x their FLOPs (per
    sequence for variable-length calls, as the forward)."""
    flops = fused_attention_flops(record, first=1) * 5 / 2
    return Cost(flops, read_bytes(record), _outputs_written(record), GEMM, unit=MATRIX,
                attention=attention_shape(record, first=1))


# --------------------------------------------------------------------------- pooling


def _grad_and_indices_read(record: OpRecord, grad: TensorInfo) -> int:
    indices = record.arg("indices")
    return distinct_bytes(grad) + (distinct_bytes(indices) if isinstance(indices, TensorInfo) else 0)


@register(
    "aten.max_pool2d_with_indices_backward",
    "aten.max_pool3d_with_indices_backward",
    "aten.adaptive_max_pool2d_backward",
    "aten.adaptive_max_pool3d_backward",
)
def max_pool_backward_cost(record: OpRecord) -> Cost:
    # Each output gradient is added at its argmax position: one add per output element.
    grad = record.args[0]
    return Cost(grad.numel, _grad_and_indices_read(record, grad), written_bytes(record), REGIONAL)


@register(
    "aten.avg_pool2d_backward",
    "aten.avg_pool3d_backward",
    "aten._adaptive_avg_pool2d_backward",
    "aten._adaptive_avg_pool3d_backward",
)
def avg_pool_backward_cost(record: OpRecord) -> Cost:
    # Each output gradient, divided by its window size (1), is added to every input in
    # its window (one add per tap): the forward's FLOPs.
    grad, x = record.args[0], record.args[1]
    ndim = 3 if "3d" in record.op else 2
    if "adaptive" in record.op:
        planes = x.numel // prod(x.shape[-ndim:])
        flops = adaptive_pool_flops(planes, x.shape[-ndim:], grad.shape[-ndim:], average=True)
    else:
        kernel = record.arg("kernel_size", 2, default=[1])
        flops = pool_flops(grad.numel, as_int_list(kernel, ndim, 1), average=True)
    return Cost(flops, distinct_bytes(grad), written_bytes(record), REGIONAL)


# --------------------------------------------------------------------------- embeddings


@register("aten.embedding_dense_backward", "aten.embedding_backward")
def embedding_backward_cost(record: OpRecord) -> Cost:
    # Zero the (num_weights x dim) gradient, then add each looked-up row's gradient into
    # its row: one add per gathered element. Reads the output gradient and the indices.
    grad, indices = record.args[0], record.args[1]
    return Cost(grad.numel, distinct_bytes(grad) + distinct_bytes(indices), written_bytes(record), EMBEDDING)


@register("aten._embedding_bag_backward", "aten._embedding_bag_dense_backward", "aten._embedding_bag_sparse_backward")
def embedding_bag_backward_cost(record: OpRecord) -> Cost:
    # Every looked-up row receives its bag's gradient (scaled by a per-sample weight when
    # given): one add (and a multiply) per gathered element; reads the bag gradients,
    # the indices and bag bookkeeping, writes the gradient table (or its sparse rows).
    named = record.named_args()
    grad = named.get("grad", record.args[0])
    indices = named.get("indices", record.args[1])
    per_sample = named.get("per_sample_weights")
    dim = grad.shape[-1] if grad.shape else 1
    flops = embedding_bag_flops(indices.numel, dim, isinstance(per_sample, TensorInfo))
    return Cost(flops, read_bytes(record), written_bytes(record), EMBEDDING)


@register("aten._embedding_bag_per_sample_weights_backward")
def embedding_bag_weights_backward_cost(record: OpRecord) -> Cost:
    # One dot product of a gathered row with its bag's gradient per lookup.
    named = record.named_args()
    grad = named.get("grad", record.args[0])
    weight = named.get("weight", record.args[1])
    indices = named.get("indices", record.args[2])
    dim = grad.shape[-1] if grad.shape else 1
    lookups = indices.numel
    bytes_read = distinct_bytes(grad) + gathered_rows_bytes(weight, lookups)
    return Cost(2 * lookups * dim, bytes_read, written_bytes(record), EMBEDDING)


# --------------------------------------------------------------------------- views' backward


@register(
    "aten.slice_backward",
    "aten.select_backward",
    "aten.diagonal_backward",
    "aten.unfold_backward",
    "aten.index_select_backward",
)
def view_backward_cost(record: OpRecord) -> Cost:
    # The gradient of a view: a zeroed tensor of the input's size with the output
    # gradient copied into the viewed part (every element of it written once).
    return Cost(0, read_bytes(record), written_bytes(record), DATA_MOVE)


# --------------------------------------------------------------------------- activations


def _activation_backward_cost(record: OpRecord) -> Cost:
    per_element = ACTIVATION_BACKWARD_FLOPS.get(record.packet, 1)
    out = record.outputs[0] if record.outputs else record.inputs[0]
    return Cost(out.numel * per_element, read_bytes(record), written_bytes(record), ELEMENTWISE)


register(*ACTIVATION_BACKWARD_FLOPS)(_activation_backward_cost)


# --------------------------------------------------------------------------- losses


def _loss_cost(record: OpRecord) -> Cost:
    x = record.args[1] if record.packet.endswith("_backward") else record.args[0]
    return Cost(x.numel * LOSS_FLOPS[record.packet], read_bytes(record), written_bytes(record), ELEMENTWISE)


register(*LOSS_FLOPS)(_loss_cost)


@register("aten.nll_loss_forward", "aten.nll_loss2d_forward", "aten.nll_loss", "aten.nll_loss2d")
def nll_loss_cost(record: OpRecord) -> Cost:
    # Gathers one log-probability per target (and its class weight) and sums them: the
    # input is not streamed, only the gathered values and the targets are read.
    x, target = record.args[0], record.args[1]
    picked = target.numel
    weight = record.arg("weight", 2)
    weight_bytes = picked * weight.itemsize if isinstance(weight, TensorInfo) else 0
    flops = picked * (2 if weight_bytes else 1)
    return Cost(flops, picked * x.itemsize + distinct_bytes(target) + weight_bytes, written_bytes(record), ELEMENTWISE)


@register("aten.nll_loss_backward", "aten.nll_loss2d_backward")
def nll_loss_backward_cost(record: OpRecord) -> Cost:
    # A zeroed input-sized gradient with -weight / total written at each target: reads
    # the targets (and weights), writes the whole gradient.
    named = record.named_args()
    target = named.get("target", record.args[2])
    weight = named.get("weight")
    picked = target.numel
    bytes_read = distinct_bytes(target) + (picked * weight.itemsize if isinstance(weight, TensorInfo) else 0)
    return Cost(picked, bytes_read, written_bytes(record), ELEMENTWISE)


# --------------------------------------------------------------------------- optimizers


def foreach_cost(record: OpRecord) -> Cost:
    """Cost of a ``_foreach_<op>`` over its tensor lists (an in-place one writes ``self``)."""
    name = record.packet.removeprefix("aten._foreach_")
    in_place = name.endswith("_")
    base = name.rstrip("_")
    first = tensors_in(record.arg("self", 0))
    elements = sum(t.numel for t in first)
    flops = elements * FOREACH_FLOPS.get(base, 1)
    if base in ("zero",):  # writes only
        return Cost(0, 0, sum(t.nbytes for t in first), ELEMENTWISE)
    if base == "copy":
        src = tensors_in(record.arg("src", 1))
        return Cost(0, sum(distinct_bytes(t) for t in src), sum(t.nbytes for t in first), DATA_MOVE)
    written = sum(t.nbytes for t in first) if in_place else written_bytes(record)
    return Cost(flops, read_bytes(record), written, ELEMENTWISE)


#: Foreach ops with only an out-of-place form (zero has only the in-place zero_).
_FOREACH_OUT_OF_PLACE_ONLY = frozenset({"max", "norm"})
FOREACH_OPS = tuple(
    f"aten._foreach_{base}{suffix}"
    for base in FOREACH_FLOPS
    for suffix in ("", "_")
    if not (base == "zero" and suffix == "") and not (base in _FOREACH_OUT_OF_PLACE_ONLY and suffix == "_")
)
register(*FOREACH_OPS)(foreach_cost)


def _list_bytes(value: Any, footprint: bool = True) -> int:
    return sum(distinct_bytes(t) if footprint else t.nbytes for t in tensors_in(value))


@register("aten._fused_adam_", "aten._fused_adamw_", "aten._fused_adam", "aten._fused_adamw")
def fused_adam_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    params = tensors_in(named.get("self", record.args[0]))
    elements = sum(t.numel for t in params)
    amsgrad = bool(named.get("amsgrad", False))
    per_element = FUSED_ADAM_FLOPS + ("adamw" in record.op) + amsgrad
    written = _list_bytes(params, False) + _list_bytes(named.get("exp_avgs"), False) + _list_bytes(named.get("exp_avg_sqs"), False)
    if amsgrad:
        written += _list_bytes(named.get("max_exp_avg_sqs"), False)
    return Cost(elements * per_element, read_bytes(record), written, ELEMENTWISE)


@register("aten._fused_sgd_", "aten._fused_sgd")
def fused_sgd_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    params = tensors_in(named.get("self", record.args[0]))
    elements = sum(t.numel for t in params)
    momentum = float(named.get("momentum", 0.0) or 0.0)
    per_element = FUSED_SGD_FLOPS
    per_element += 2 if momentum else 0
    per_element += 2 if float(named.get("weight_decay", 0.0) or 0.0) else 0
    per_element += 2 if named.get("nesterov") else 0
    written = _list_bytes(params, False) + (_list_bytes(named.get("momentum_buffer_list"), False) if momentum else 0)
    return Cost(elements * per_element, read_bytes(record), written, ELEMENTWISE)
