"""Quantization: quantize, dequantize and fake-quantize (quantization-aware training).

Per element, affine quantization q = clamp(round(x / scale) + zero_point, qmin, qmax) is
a divide (or a multiply by 1/scale), a round, an add and two compares: 5 FLOPs; the
dynamic variant first finds the tensor's min and max (2 compares per element).
Dequantization x = (q - zero_point) * scale: 2. Fake quantization rounds a float
through the integer grid and back: 5 + 2 = 7 (the cachemask variants also write the
mask of the values inside the range). Bytes are compulsory and at the stored width:
a qint8/quint8 tensor is one byte an element. int_repr copies the integers out.
"""

from __future__ import annotations

from roofline.capture import OpRecord
from roofline.count.categories import DATA_MOVE, ELEMENTWISE, OTHER
from roofline.count.formulas._common import read_bytes, written_bytes
from roofline.count.registry import NO_UNIT, Cost, register

QUANTIZE_FLOPS_PER_ELEMENT = 5
DEQUANTIZE_FLOPS_PER_ELEMENT = 2
FAKE_QUANTIZE_FLOPS_PER_ELEMENT = QUANTIZE_FLOPS_PER_ELEMENT + DEQUANTIZE_FLOPS_PER_ELEMENT
#: The dynamic quantizer's min and max search, per element.
DYNAMIC_RANGE_FLOPS_PER_ELEMENT = 2

_PER_ELEMENT = {
    "aten.quantize_per_tensor": QUANTIZE_FLOPS_PER_ELEMENT,
    "aten.quantize_per_channel": QUANTIZE_FLOPS_PER_ELEMENT,
    "aten.quantize_per_tensor_dynamic": QUANTIZE_FLOPS_PER_ELEMENT + DYNAMIC_RANGE_FLOPS_PER_ELEMENT,
    "aten.dequantize": DEQUANTIZE_FLOPS_PER_ELEMENT,
    "aten.fake_quantize_per_tensor_affine_cachemask": FAKE_QUANTIZE_FLOPS_PER_ELEMENT,
    "aten._fake_quantize_per_tensor_affine_cachemask_tensor_qparams": FAKE_QUANTIZE_FLOPS_PER_ELEMENT,
    "aten.fake_quantize_per_channel_affine_cachemask": FAKE_QUANTIZE_FLOPS_PER_ELEMENT,
    "aten._fake_quantize_learnable_per_tensor_affine": FAKE_QUANTIZE_FLOPS_PER_ELEMENT,
    "aten._fake_quantize_learnable_per_channel_affine": FAKE_QUANTIZE_FLOPS_PER_ELEMENT,
    "aten.fake_quantize_per_tensor_affine": FAKE_QUANTIZE_FLOPS_PER_ELEMENT,
    "aten.fake_quantize_per_channel_affine": FAKE_QUANTIZE_FLOPS_PER_ELEMENT,
}


@register(*_PER_ELEMENT)
def quantize_cost(record: OpRecord) -> Cost:
    """Per element of the data (a list of tensors: all of them). Fake quantization's
    second output is its mask, not more data."""
    fake = record.packet.startswith(("aten.fake", "aten._fake"))
    elements = record.outputs[0].numel if fake else sum(t.numel for t in record.outputs)
    return Cost(_PER_ELEMENT[record.packet] * elements, read_bytes(record), written_bytes(record), ELEMENTWISE)


@register("aten.int_repr")
def int_repr_cost(record: OpRecord) -> Cost:
    return Cost(0, read_bytes(record), written_bytes(record), DATA_MOVE)


@register("aten.q_scale", "aten.q_zero_point", "aten.q_per_channel_axis")
def quantizer_field_cost(record: OpRecord) -> Cost:
    """A quantized tensor's scale, zero point or axis: read from its quantizer, on the host."""
    return Cost(0, 0, 0, OTHER, unit=NO_UNIT)
