"""Row-wise reduction kernels (softmax over the last dimension, layer norm): how many
times they read each row, and where the re-reads come from.

PyTorch's CUDA kernels (the ones the measured runs launched, by their names):

- softmax, row of L elements: when L <= 1024 and a row is at most 4 KiB,
  ``softmax_warp_forward`` keeps a row in one warp's registers: one read, one write.
  Longer rows run ``cunn_SoftMaxForward``, one block per row, which streams the row
  three times (its maximum, the sum of exponentials, then the written result): three
  reads, one write.
- layer norm: ``vectorized_layer_norm_kernel``, one 128-thread block per row, reads the
  row twice (Welford statistics, then the normalised output): two reads, one write.

Their backward kernels read the same way:

- softmax backward, row of L elements: the warp kernel (the forward's limits) reads its
  rows once; ``cunn_SoftMaxBackward`` reads the output gradient twice (its row sum, then
  the written result; softmax's sum also reads the output, so both are read twice).
- layer norm backward: the input-gradient kernel, one block per row, reads the output
  gradient and the input twice (the row sums of dy * weight and dy * weight * x_hat,
  then the gradient), and the weight and bias gradients' kernel reads both tensors once
  more, column by column over every row (PyTorch's GammaBetaBackward kernels): that pass
  finds them in L2 only where the two tensors fit in it.

The first read of a row comes from DRAM (the count stage's compulsory bytes). A
re-read finds the row in L2 when the rows the resident blocks work on, and the outputs
they write, fit in it: the working set is rows in flight x row bytes x 2, with rows in
flight = SMs x blocks an SM holds (threads_per_sm / block threads). Beyond L2's
capacity, the fraction L2 / working set of re-reads hits; the rest go to DRAM. So

    reread_s = rows x row bytes x (reads - 1) x (hit / l2_bw + (1 - hit) / dram_bw)

on top of the compulsory bytes' time. Everything is vectorised over arrays of ops.

A split L2 (GA100 and GH100 have two partitions, each serving the SMs of the GPCs wired
to it; NVIDIA A100 Tensor Core GPU Architecture whitepaper, "L2 cache") holds less of
such a working set than its capacity: a line an SM reads whose home is the far
partition is cached in its home partition and duplicated in the SM's near one. With P
partitions and rows spread evenly over the SMs, each partition holds its own SMs' rows
(1/P of them, whole) and the lines homed in it of every other SM's rows ((P - 1)/P x
1/P), so the rows in flight fit while rows x (2P - 1)/P^2 <= capacity / P, i.e. the
working set sees capacity x P / (2P - 1): 2/3 of it for two partitions
(private_l2_capacity).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LAYER_NORM_BACKWARD_OPS",
    "LAYER_NORM_BLOCK_THREADS",
    "LAYER_NORM_OPS",
    "LAYER_NORM_READS",
    "SOFTMAX_BACKWARD_OPS",
    "SOFTMAX_OPS",
    "private_l2_capacity",
    "reread_plan",
    "reread_hit_fraction",
    "reread_s",
    "softmax_block_threads",
    "softmax_reads",
]

#: aten ops run by PyTorch's softmax kernels.
SOFTMAX_OPS: frozenset[str] = frozenset({"aten._softmax", "aten.softmax", "aten._log_softmax", "aten.log_softmax",
                                          "aten._safe_softmax"})
#: aten ops run by PyTorch's layer-norm forward kernel.
LAYER_NORM_OPS: frozenset[str] = frozenset({"aten.native_layer_norm", "aten.layer_norm"})
#: aten ops run by PyTorch's softmax backward kernels: softmax's (its row sum reads the
#: output too: SOFTMAX_BACKWARD_READS_OUTPUT) and log-softmax's.
SOFTMAX_BACKWARD_READS_OUTPUT = "aten._softmax_backward_data"
SOFTMAX_BACKWARD_OPS: frozenset[str] = frozenset({SOFTMAX_BACKWARD_READS_OUTPUT, "aten._log_softmax_backward_data"})
#: aten ops run by PyTorch's layer-norm backward kernels (input gradient, then weights').
LAYER_NORM_BACKWARD_OPS: frozenset[str] = frozenset({"aten.native_layer_norm_backward"})
#: Reads of each row by vectorized_layer_norm_kernel: statistics, then the output.
LAYER_NORM_READS = 2.0
#: Threads of one vectorized_layer_norm_kernel block (32 x 4).
LAYER_NORM_BLOCK_THREADS = 128.0
#: softmax_warp_forward's limits: at most 1024 elements and 4 KiB per row.
PERSISTENT_MAX_ELEMENTS = 1024
PERSISTENT_MAX_BYTES = 4096
#: Reads of each row by cunn_SoftMaxForward: maximum, sum of exponentials, result.
BLOCK_SOFTMAX_READS = 3.0
#: cunn_SoftMaxForward's vector width in bytes (float4 loads).
VECTOR_BYTES = 16
MAX_BLOCK_THREADS = 1024
WARP = 32


def softmax_reads(length: np.ndarray, itemsize: np.ndarray | float) -> np.ndarray:
    """Reads of each row by PyTorch's softmax forward over rows of ``length`` elements of
    ``itemsize`` bytes: 1 when the row fits one warp's registers, else 3."""
    length = np.asarray(length, dtype=float)
    persistent = (length <= PERSISTENT_MAX_ELEMENTS) & (length * itemsize <= PERSISTENT_MAX_BYTES)
    return np.where(persistent, 1.0, BLOCK_SOFTMAX_READS)


def softmax_block_threads(length: np.ndarray, itemsize: np.ndarray | float) -> np.ndarray:
    """Threads per block of cunn_SoftMaxForward (PyTorch's SoftMax_getBlockSize): the
    power of two at or above half of min(length / ILP, 1024), at least a warp; ILP is
    the elements of a 16-byte vector."""
    ilp = VECTOR_BYTES / np.asarray(itemsize, dtype=float)
    half = np.minimum(np.floor(np.asarray(length, dtype=float) / ilp), MAX_BLOCK_THREADS) / 2
    block = 2.0 ** np.ceil(np.log2(np.maximum(half, 1.0)))
    return np.maximum(block, WARP)


def reread_hit_fraction(row_bytes: np.ndarray, block_threads: np.ndarray, *, sms: int, threads_per_sm: int,
                        l2_bytes: float) -> np.ndarray:
    """Fraction (0, 1] of a row's re-reads found in L2: L2 capacity over the working set
    of the rows in flight (each row read and its output written), at most 1."""
    blocks_per_sm = np.maximum(np.floor(threads_per_sm / np.asarray(block_threads, dtype=float)), 1.0)
    working_set = sms * blocks_per_sm * np.asarray(row_bytes, dtype=float) * 2
    return np.minimum(1.0, l2_bytes / np.maximum(working_set, 1.0))


def private_l2_capacity(l2_bytes: float, partitions: int) -> float:
    """Bytes of an L2 of ``l2_bytes`` split in ``partitions`` that a working set of rows,
    each read by one SM, can occupy (B): l2_bytes x P / (2P - 1), all of it for one
    partition (module docstring: far-homed lines are held twice)."""
    if partitions < 1:
        raise ValueError(f"l2 partitions: expected a count of at least 1, got {partitions!r}")
    return l2_bytes * partitions / (2 * partitions - 1)


def reread_s(rows: np.ndarray, row_bytes: np.ndarray, reads: np.ndarray, hit: np.ndarray, *, l2_bw: float,
             dram_bw: float) -> np.ndarray:
    """Seconds of a row-wise kernel's re-reads (beyond the first read): each row read
    ``reads - 1`` more times, a fraction ``hit`` from L2 at ``l2_bw`` (B/s), the rest
    from DRAM at ``dram_bw`` (B/s, the bandwidth the kernel attains)."""
    extra = np.asarray(rows, dtype=float) * np.asarray(row_bytes, dtype=float) * (np.asarray(reads) - 1.0)
    return extra * (hit / l2_bw + (1.0 - hit) / dram_bw)


def reread_plan(op: np.ndarray, length: np.ndarray, itemsize: np.ndarray | float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per op (names ``op``, rows of ``length`` elements of ``itemsize`` bytes): (reads of
    each row, row tensors read that often, threads per block, whole passes over those
    tensors after the row kernel) of the kernels module doc describes; 1 read, 1 tensor,
    0 passes for other ops."""
    op = np.asarray(op)
    softmax, softmax_back = np.isin(op, list(SOFTMAX_OPS)), np.isin(op, list(SOFTMAX_BACKWARD_OPS))
    norm, norm_back = np.isin(op, list(LAYER_NORM_OPS)), np.isin(op, list(LAYER_NORM_BACKWARD_OPS))
    block = softmax_reads(length, itemsize) > 1.0
    reads = np.select([softmax, softmax_back, norm | norm_back], [softmax_reads(length, itemsize), np.where(block, 2.0, 1.0),
                                                                   LAYER_NORM_READS], 1.0)
    # softmax's backward row sum reads the output with the gradient; log-softmax's only the gradient
    tensors = np.where((op == SOFTMAX_BACKWARD_READS_OUTPUT) | norm_back, 2.0, 1.0)
    threads = np.where(softmax | softmax_back, softmax_block_threads(length, itemsize), LAYER_NORM_BLOCK_THREADS)
    passes = np.where(norm_back, 1.0, 0.0)
    return reads, tensors, threads, passes


def whole_pass_s(rows: np.ndarray, row_bytes: np.ndarray, passes: np.ndarray, *, l2_bytes: float, l2_bw: float,
                 dram_bw: float) -> np.ndarray:
    """Seconds of ``passes`` more reads of whole tensors of ``rows`` x ``row_bytes`` (B)
    after a kernel read them: from L2 (``l2_bw``) for the fraction of them ``l2_bytes``
    holds, the rest from DRAM (``dram_bw``)."""
    total = np.asarray(rows, dtype=float) * np.asarray(row_bytes, dtype=float)
    hit = np.minimum(1.0, l2_bytes / np.maximum(total, 1.0))
    return np.asarray(passes, dtype=float) * total * (hit / l2_bw + (1.0 - hit) / dram_bw)
