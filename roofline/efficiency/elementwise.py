"""GPU kernels that compute their elements one by one (unvectorised element-wise ops,
index gathers): issue-bound, not memory-bound.

PyTorch runs an element-wise op (TensorIterator's gpu_kernel) one of two ways. Where
every operand walks the same contiguous loop, each thread loads and stores vectors of
16 bytes with no index arithmetic: the kernel streams at the memory roof. Where the
operands do not (a broadcast weight or row statistic, a permuted or sliced view: the
loops of roofline.count.loops.strided_elements), it runs the unvectorised
elementwise_kernel: every element's offset in each operand is divided out of its linear
index, one integer division per dimension, and each element is loaded and stored on
its own, 2 to 4 elements a thread. That arithmetic, not the bytes, then sets the time:

    issue_s = strided_elements / (strided_elements_per_clock x sms x clock_hz)

the SMs' instruction issue spent per element (such an op's ``bound`` is "issue": the SMs,
not the memory nor its FLOPs, set its time; its attained FLOP/s falls below the memory
roof at its intensity on a roofline plot). It binds where the element rate the
memory roof would allow is higher: 2-byte operands (bf16, fp16) carry half the bytes
per element of fp32, so the same kernel that streams fp32 at the roof falls behind it
in bf16 (Hugging Face's RMSNorm weight product, rotary embeddings on transposed heads,
Megatron's chunked SwiGLU; docs/fidelity-liger.md).

KernelModel.strided_elements_per_clock is fitted (an SM's issue rate over
the instructions an element takes, which the compiled kernel sets), with the sustained
clock and SM count of the spec: on Liger-Kernel's published forward timings of
Megatron's eager SwiGLU on an H100 SXM (bf16, two strided halves of one tensor) by
``benchmarks/liger_published.py --fit strided``, the default of every GPU spec; every
other published row it predicts (RMSNorm and RoPE on A100, fused add + RMSNorm on H100)
is held out.

Index gathers (index_select, and an embedding, which is weight.index_select(0, ids) on
a GPU) run the same way, one output element a thread: its index row and place in the
row divided out of the linear index, the index loaded, the source offset computed. Their
rate, KernelModel.gather_elements_per_clock, is fitted on Liger-Kernel's published A100
embedding forwards of 768-wide rows (``--fit gather``); the 4096-wide rows are held out.
They measure the same elements per second whatever the row width and the table size:
issue-bound, not bandwidth-bound.
"""

from __future__ import annotations

import numpy as np

__all__ = ["issue_s"]


def issue_s(elements: np.ndarray, *, sms: int, clock_hz: float, per_sm_clock: float) -> np.ndarray:
    """Seconds (s) ``elements`` (computed one by one, NaN: none) take to issue on ``sms``
    SMs at ``clock_hz`` (Hz), ``per_sm_clock`` elements per SM per clock; 0 where there
    are none."""
    elements = np.nan_to_num(np.asarray(elements, dtype=float))
    return elements / (per_sm_clock * sms * clock_hz)
