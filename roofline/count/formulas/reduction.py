"""Reductions, norms and softmax: streaming vector-unit work.

FLOPs are input elements x a per-op count (a sum reads and adds each element once; a
variance subtracts, squares and adds). Norm FLOPs per element: batch norm in inference
4 (subtract mean, scale by inverse std, weight, bias), with batch statistics 8; layer
and group norm 8 (mean 1, variance 3, normalise 2, affine 2); RMS norm 6. Softmax 5
(max, subtract, exp, sum, divide). Bytes are compulsory: inputs once, outputs once.
Norms and softmax are Element-wise in the seed taxonomy, and so are plain reductions.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod
from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import ELEMENTWISE
from roofline.count.formulas._common import read_bytes, written_bytes
from roofline.count.registry import Cost, RowShape, register

REDUCTION_FLOPS_PER_ELEMENT: dict[str, int] = {
    "aten.var": 3,
    "aten.std": 3,
    "aten.var_mean": 3,
    "aten.std_mean": 3,
    "aten.norm": 2,
    "aten.linalg_vector_norm": 2,
    "aten.logsumexp": 3,
}

#: Real FLOPs per input element of reductions over complex numbers: a complex add is 2
#: real adds, a complex multiply 6 (4 multiplies, 2 adds); reductions not listed count
#: twice their real cost (sum, mean, cumsum: 2).
COMPLEX_REDUCTION_FLOPS_PER_ELEMENT: dict[str, int] = {"aten.prod": 6, "aten.cumprod": 6}

#: Per channel, batch norm training's update of its running statistics:
#: running_mean = (1 - m) * running_mean + m * mean (3), running_var likewise with the
#: batch variance made unbiased, times n / (n - 1) (4).
RUNNING_STATS_FLOPS_PER_CHANNEL = 7

NORM_FLOPS_PER_ELEMENT: dict[str, int] = {
    "batch_norm_inference": 4,
    "batch_norm_training": 8,
    "layer_norm": 8,
    "group_norm": 8,
    "rms_norm": 6,
}

SOFTMAX_FLOPS_PER_ELEMENT = 5


def reduction_flops(elements_in: Any, flops_per_element: Any = 1) -> Any:
    """FLOPs of reducing ``elements_in`` input elements."""
    return elements_in * flops_per_element


def norm_flops(elements: Any, kind: str) -> Any:
    """FLOPs of a normalisation over ``elements`` (kind: a NORM_FLOPS_PER_ELEMENT key)."""
    return elements * NORM_FLOPS_PER_ELEMENT[kind]


def softmax_flops(elements: Any) -> Any:
    return elements * SOFTMAX_FLOPS_PER_ELEMENT


def softmax_bytes(elements: Any, itemsize: Any = 4) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of a softmax: the input read, the result written."""
    return elements * itemsize, elements * itemsize


def layer_norm_bytes(rows: Any, cols: Any, itemsize: Any = 4, affine: bool = True) -> tuple[Any, Any]:
    """Compulsory (bytes_read, bytes_written) of native_layer_norm over ``rows`` rows of
    ``cols``: input (and weight and bias) read; output, and the per-row mean and
    reciprocal std it also returns (same dtype as the input), written."""
    bytes_read = (rows * cols + (2 * cols if affine else 0)) * itemsize
    bytes_written = (rows * cols + 2 * rows) * itemsize
    return bytes_read, bytes_written


def _first_input_numel(record: OpRecord) -> int:
    first = record.args[0] if record.args else None
    if isinstance(first, TensorInfo):
        return first.numel
    return record.inputs[0].numel if record.inputs else 0


def _streaming_cost(record: OpRecord, flops: Any) -> Cost:
    return Cost(flops, read_bytes(record), written_bytes(record), ELEMENTWISE)


@register(
    "aten.sum",
    "aten.mean",
    "aten.nansum",
    "aten.prod",
    "aten.amax",
    "aten.amin",
    "aten.max",
    "aten.min",
    "aten.aminmax",
    "aten.argmax",
    "aten.argmin",
    "aten.any",
    "aten.all",
    "aten.count_nonzero",
    "aten.cumsum",
    "aten.cumprod",
    "aten.cummax",
    "aten.cummin",
    "aten.logcumsumexp",
    "aten.var",
    "aten.std",
    "aten.var_mean",
    "aten.std_mean",
    "aten.norm",
    "aten.linalg_vector_norm",
    "aten.logsumexp",
)
def reduction_cost(record: OpRecord) -> Cost:
    per_element = REDUCTION_FLOPS_PER_ELEMENT.get(record.packet, 1)
    if record.inputs and record.inputs[0].dtype.is_complex:
        per_element = COMPLEX_REDUCTION_FLOPS_PER_ELEMENT.get(record.packet, 2 * per_element)
    return _streaming_cost(record, reduction_flops(_first_input_numel(record), per_element))


@register("aten._softmax", "aten._log_softmax", "aten.softmax", "aten.log_softmax", "aten._safe_softmax")
def softmax_cost(record: OpRecord) -> Cost:
    cost = _streaming_cost(record, softmax_flops(_first_input_numel(record)))
    return replace(cost, rows=softmax_rows(record))


def softmax_rows(record: OpRecord) -> RowShape | None:
    """The rows of a softmax over its last dimension (attention's), or None for another
    dimension (a strided kernel the row model does not describe)."""
    x = record.args[0] if record.args and isinstance(record.args[0], TensorInfo) else None
    dim = record.arg("dim", 1, default=-1)
    if x is None or not x.shape or not isinstance(dim, int) or dim % len(x.shape) != len(x.shape) - 1:
        return None
    length = x.shape[-1]
    return RowShape(x.numel // length, length) if length > 0 else None


def layer_norm_rows(record: OpRecord) -> RowShape | None:
    """The rows of a layer norm: the input split into rows of prod(normalized_shape)."""
    x = record.args[0] if record.args and isinstance(record.args[0], TensorInfo) else None
    return normalized_rows(x, record.arg("normalized_shape", 1, default=None))


def normalized_rows(x: TensorInfo | None, normalized: Any) -> RowShape | None:
    """``x`` split into rows of prod(``normalized``) elements (a layer norm's, forward or
    backward), or None when either is missing."""
    if not isinstance(x, TensorInfo) or not isinstance(normalized, (list, tuple)) or not normalized:
        return None
    length = prod(int(size) for size in normalized)
    return RowShape(x.numel // length, length) if length > 0 else None


@register("aten._native_batch_norm_legit_no_training", "aten.cudnn_batch_norm", "aten.miopen_batch_norm")
def batch_norm_inference_cost(record: OpRecord) -> Cost:
    training = bool(record.arg("training", default=False))
    return _batch_norm(record, training)


@register("aten.native_batch_norm", "aten._native_batch_norm_legit", "aten.batch_norm", "aten._batch_norm_impl_index")
def batch_norm_cost(record: OpRecord) -> Cost:
    training = record.arg("training", default=None)
    if training is None:  # _native_batch_norm_legit without running stats always uses batch stats
        training = True
    return _batch_norm(record, bool(training))


def _batch_norm(record: OpRecord, training: bool) -> Cost:
    kind = "batch_norm_training" if training else "batch_norm_inference"
    flops = norm_flops(_first_input_numel(record), kind)
    if training:
        # Batch statistics; the running ones (when given) are read, updated and written
        # back in place: that write is no output of the op.
        running = [t for t in (record.arg("running_mean"), record.arg("running_var")) if isinstance(t, TensorInfo)]
        channels = running[0].numel if running else 0
        flops = flops + RUNNING_STATS_FLOPS_PER_CHANNEL * channels
        written = written_bytes(record) + sum(t.nbytes for t in running)
        return Cost(flops, read_bytes(record), written, ELEMENTWISE)
    # In inference only the normalised output is written; the saved-statistics outputs
    # are empty on some backends and placeholders on others (meta), never real traffic.
    return Cost(flops, read_bytes(record), record.outputs[0].nbytes, ELEMENTWISE)


@register("aten.native_layer_norm", "aten.layer_norm")
def layer_norm_cost(record: OpRecord) -> Cost:
    cost = _streaming_cost(record, norm_flops(_first_input_numel(record), "layer_norm"))
    return replace(cost, rows=layer_norm_rows(record))


@register("aten.native_group_norm", "aten.group_norm")
def group_norm_cost(record: OpRecord) -> Cost:
    return _streaming_cost(record, norm_flops(_first_input_numel(record), "group_norm"))


@register("aten._fused_rms_norm", "aten.rms_norm")
def rms_norm_cost(record: OpRecord) -> Cost:
    return _streaming_cost(record, norm_flops(_first_input_numel(record), "rms_norm"))


@register("aten.equal")
def equal_cost(record: OpRecord) -> Cost:
    # torch.equal: one compare per element of both operands' common size; it returns a
    # Python bool, so nothing is written.
    return Cost(_first_input_numel(record), read_bytes(record), 0, ELEMENTWISE)
