"""roofline/count/formulas/quantize.py: quantize, dequantize and fake-quantize, worked out
by hand (bytes at the stored width)."""

import pytest
import torch

from tests.conftest import costs_of, only_cost


def flops_of(fn, op=None):
    return only_cost(fn, op=op).flops


X = torch.randn(4, 16)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_quantize_dequantize_and_fake_quantize():
    q = torch.quantize_per_tensor(X, 0.1, 3, torch.qint8)
    (_, cost), = costs_of(lambda: torch.quantize_per_tensor(X, 0.1, 3, torch.qint8))
    # divide, round, add the zero point, clamp twice: 5 per element; read 64 floats,
    # write 64 one-byte integers.
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (5 * 64, 64 * 4, 64)
    (_, cost), = costs_of(q.dequantize)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (2 * 64, 64, 64 * 4)
    # Fake quantization: 5 + 2 per element, the output and its in-range mask written.
    (_, cost), = costs_of(lambda: torch.fake_quantize_per_tensor_affine(X, 0.1, 0, -128, 127))
    assert (cost.flops, cost.bytes_written) == (7 * 64, 64 * 4 + 64)
    assert flops_of(lambda: torch.quantize_per_tensor_dynamic(X, torch.quint8, False)) == 7 * 64
