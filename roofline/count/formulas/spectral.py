"""Fast Fourier transforms (torch.fft): _fft_r2c, _fft_c2c and _fft_c2r.

FLOPs follow the convention of FFTW's benchmarks (benchFFT's methodology,
http://www.fftw.org/speed/method.html): a complex transform of N points costs
5 N log2 N, the radix-2 Cooley-Tukey count (N/2 log2 N butterflies, each a complex
multiply, 6 real FLOPs, and two complex adds, 4); a transform with real input or real
output half that, 2.5 N log2 N. A transform over several dims has N the product of
their sizes; the other dims are a batch of independent transforms. A normalised
transform (norm="ortho", or the 1/n side of "forward"/"backward") then multiplies each
output value once: one FLOP per real value, two per complex one. Bytes are compulsory:
the input read once, the output written once. FFTs are "Other" in the taxonomy.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import OTHER
from roofline.count.formulas._common import (
    is_symbolic,
    log2,
    prod,
    read_bytes,
    written_bytes,
)
from roofline.count.registry import Cost, register

#: FLOPs per N log2 N of one transform: complex 5, real input or output 2.5.
COMPLEX_FFT_FLOPS = 5
REAL_FFT_FLOPS = 2.5


def fft_flops(points: Any, transforms: Any = 1, real: bool = False) -> Any:
    """FLOPs of ``transforms`` FFTs of ``points`` points each (5 N log2 N, or 2.5 when real)."""
    if not is_symbolic(points) and points <= 1:
        return 0  # a 1-point transform is the identity
    return transforms * (REAL_FFT_FLOPS if real else COMPLEX_FFT_FLOPS) * points * log2(points)


def _transform(t: TensorInfo, dims: Any) -> tuple[Any, Any]:
    """(points per transform, transforms) of an FFT over ``dims`` of ``t``."""
    ndim = len(t.shape)
    points = prod(t.shape[d % ndim] for d in dims)
    return points, (t.numel // points if points else 0)


def _scaling(record: OpRecord) -> Any:
    """Multiplies of a normalised transform: one per output value (2 per complex element)."""
    if not record.arg("normalization", default=0):
        return 0
    out = record.outputs[0]
    return out.numel * (2 if out.dtype.is_complex else 1)


@register("aten._fft_r2c", "aten._fft_c2c", "aten._fft_c2r")
def fft_cost(record: OpRecord) -> Cost:
    """c2c and r2c: N from the input's sizes; c2r: from the real output's (its last dim
    is last_dim_size, the input holding only the N/2 + 1 one-sided values)."""
    dims = record.arg("dim", 1)
    sized_by = record.outputs[0] if record.packet == "aten._fft_c2r" else record.args[0]
    points, transforms = _transform(sized_by, dims)
    flops = fft_flops(points, transforms, real=record.packet != "aten._fft_c2c") + _scaling(record)
    return Cost(flops, read_bytes(record), written_bytes(record), OTHER)
