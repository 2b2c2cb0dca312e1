"""roofline.efficiency.reduction: row-wise reduction kernels (softmax, layer norm) that
read their rows more than once, the re-reads served by L2 when the rows in flight fit."""

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import roofline
from roofline.efficiency.reduction import (
    private_l2_capacity,
    reread_hit_fraction,
    reread_s,
    softmax_block_threads,
    softmax_reads,
)
from roofline.hardware import KernelModel, MemoryLevel, load_hardware


def test_softmax_reads_once_when_a_row_fits_a_warp():
    # softmax_warp_forward: L <= 1024 and L x itemsize <= 4 KiB; else cunn_SoftMaxForward
    # reads the row three times (max, sum of exps, output).
    lengths = np.array([1, 512, 1024, 1025, 4096])
    assert softmax_reads(lengths, 4).tolist() == [1, 1, 1, 3, 3]
    assert softmax_reads(np.array([1024]), 8).tolist() == [3]  # fp64: 8 KiB, over 4 KiB
    assert softmax_reads(np.array([1024]), 2).tolist() == [1]  # fp16: 2 KiB


def test_softmax_block_size_matches_the_blocks_neusight_measured():
    # The blockDim.x NeuSight's profiler recorded for cunn_SoftMaxForward on fp32 rows
    # (per_op/train/softmax/*.csv.gz: H=1025 -> 128, H=1181 -> 256, H=2167 -> 512) and
    # by hand: H=16384 -> min(16384/4, 1024)/2 = 512; H=2048 -> 512/2 = 256.
    lengths = np.array([1025, 1181, 2167, 16384, 2048])
    assert softmax_block_threads(lengths, 4).tolist() == [128, 256, 512, 512, 256]


def test_hit_fraction_by_hand():
    # 108 SMs x (2048 / 512 =) 4 blocks, rows of 16384 fp32 = 65536 B, read and written:
    # working set 108 x 4 x 65536 x 2 = 56,623,104 B; a 40 MB L2 holds 40e6 / that of it.
    hit = reread_hit_fraction(np.array([65536.0]), np.array([512.0]), sms=108, threads_per_sm=2048, l2_bytes=40e6)
    assert hit[0] == pytest.approx(40e6 / 56_623_104, rel=1e-12)
    # Short rows: 108 x 16 x 4096 x 2 = 14.2 MB fits, every re-read hits.
    short = reread_hit_fraction(np.array([4096.0]), np.array([128.0]), sms=108, threads_per_sm=2048, l2_bytes=40e6)
    assert short[0] == 1.0


def test_reread_time_by_hand():
    # 1000 rows of 16 KB, read 3 times: 2 x 16 MB more; half from L2 at 4 TB/s, half
    # from DRAM at 1 TB/s: 32e6 x (0.5 / 4e12 + 0.5 / 1e12) = 20 us.
    extra = reread_s(np.array([1000.0]), np.array([16e3]), np.array([3.0]), np.array([0.5]), l2_bw=4e12, dram_bw=1e12)
    assert extra[0] == pytest.approx(20e-6, rel=1e-12)


def test_private_l2_capacity_by_hand():
    # Two partitions of 20 MB, R rows of b bytes spread over both halves' SMs: a partition
    # holds its own SMs' R/2 rows whole plus the half of the other side's R/2 rows homed
    # in it (R/4): 0.75 R b <= 20 MB, so R b <= 26.67 MB = 40 MB x 2/3.
    assert private_l2_capacity(40e6, 2) == pytest.approx(40e6 * 2 / 3, rel=1e-12)
    # Four partitions of C/4: R/4 own rows + 3 x (R/4) x 1/4 = 7R/16 <= C/4 -> R b <= 4C/7.
    assert private_l2_capacity(40e6, 4) == pytest.approx(40e6 * 4 / 7, rel=1e-12)
    assert private_l2_capacity(6e6, 1) == 6e6  # a unified L2: all of it
    with pytest.raises(ValueError, match="l2 partitions"):
        private_l2_capacity(6e6, 0)


@given(capacity=st.floats(1.0, 1e9), partitions=st.integers(1, 64))
def test_private_l2_capacity_is_a_share_that_shrinks_with_partitions(capacity, partitions):
    share = private_l2_capacity(capacity, partitions)
    assert capacity / 2 < share <= capacity
    assert private_l2_capacity(capacity, partitions + 1) <= share


@given(rows=st.floats(1, 1e6), more=st.floats(0, 1e6), length=st.integers(1, 1 << 16))
def test_reread_time_grows_with_rows_and_hit_stays_a_fraction(rows, more, length):
    row_bytes = np.array([4.0 * length])
    hit = reread_hit_fraction(row_bytes, softmax_block_threads(np.array([length]), 4), sms=80, threads_per_sm=2048,
                              l2_bytes=6e6)
    assert 0 < hit[0] <= 1
    reads = softmax_reads(np.array([length]), 4)
    few, many = (reread_s(np.array([r]), row_bytes, reads, hit, l2_bw=2e12, dram_bw=8e11)[0] for r in (rows, rows + more))
    assert 0 <= few <= many


# --------------------------------------------------------------------------- in prediction


def spec_with_l2(capacity_bytes: float, l2_bw: float, partitions: int = 1):
    """a100-pcie with a kernel model (no start-up, no floor) and the given L2."""
    spec = load_hardware("a100-pcie")
    model = KernelModel(sms=108, boost_clock_hz=1410e6, sustained_clock_hz=1410e6, gemm_efficiency={"simt": 0.8},
                        k_overhead=0.0, latency_s=0.0, min_kernel_s=0.0, source="test", l2_partitions=partitions)
    memory = (MemoryLevel("l2", l2_bw, capacity_bytes), spec.dram)
    return dataclasses.replace(spec, kernel_model=model, memory=memory, overhead_s=0.0)


class Softmax(nn.Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.softmax(x, self.dim)


def one_op(module, x, spec, name):
    ops = roofline.analyze(module, (x,), hw=spec, meta=True).ops  # datasheet spec: bytes from DRAM
    return ops[ops.op == name].iloc[0]


def test_a_long_softmax_row_missing_l2_moves_twice_its_compulsory_bytes():
    # 1000 rows of 4096 fp32 (16 KiB: the block kernel): read 3x, written 1x = 4 x 16.384 MB
    # against the compulsory 2 x 16.384 MB; an L2 of 1 byte serves no re-read, so memory
    # time = 65.536 MB / (efficiency x 1.555 TB/s): twice the single-pass time.
    spec = spec_with_l2(1.0, 5.4e12)
    op = one_op(Softmax(), torch.randn(1000, 4096), spec, "aten._softmax")
    dram = spec.efficiency.memory * 1.555e12
    assert op.memory_s == pytest.approx(4 * 16.384e6 / dram, rel=1e-6)


def test_a_split_l2_serves_fewer_rereads_of_rows_that_overflow_it():
    # 1000 rows of 16384 fp32 (65536 B): block of 512 threads, 108 x 4 rows in flight,
    # working set 108 x 4 x 65536 x 2 = 56,623,104 B. A unified 40 MB L2 serves
    # 40e6 / 56,623,104 = 0.7064 of the two re-reads; split in two it holds 2/3 of that:
    # 26.667e6 / 56,623,104 = 0.4710. Each re-read moves 65.536 MB, from L2 at 5.4 TB/s
    # or DRAM at efficiency x 1.555 TB/s, on top of the compulsory 2 x 65.536 MB.
    x = torch.randn(1000, 16384)
    dram = load_hardware("a100-pcie").efficiency.memory * 1.555e12
    for partitions, capacity in ((1, 40e6), (2, 40e6 * 2 / 3)):
        op = one_op(Softmax(), x, spec_with_l2(40e6, 5.4e12, partitions), "aten._softmax")
        hit = capacity / 56_623_104
        expected = 2 * 65.536e6 / dram + 2 * 65.536e6 * (hit / 5.4e12 + (1 - hit) / dram)
        assert op.memory_s == pytest.approx(expected, rel=1e-9), partitions


def test_a_short_softmax_row_is_read_once():
    spec = spec_with_l2(1.0, 5.4e12)
    op = one_op(Softmax(), torch.randn(8000, 512), spec, "aten._softmax")  # 2 KiB rows: the warp kernel
    assert op.memory_s == pytest.approx(2 * 8000 * 512 * 4 / (spec.efficiency.memory * 1.555e12), rel=1e-9)


def test_a_softmax_over_another_dimension_is_left_single_pass():
    spec = spec_with_l2(1.0, 5.4e12)
    op = one_op(Softmax(dim=0), torch.randn(4096, 1000), spec, "aten._softmax")
    assert np.isnan(op.reduce_rows)
    assert op.memory_s == pytest.approx(2 * 4096 * 1000 * 4 / (spec.efficiency.memory * 1.555e12), rel=1e-9)


def test_layer_norm_rereads_its_rows_from_l2_when_they_fit():
    # [8, 128, 768] over 768: 1024 rows of 3072 B; 108 x 16 blocks x 3072 x 2 = 10.6 MB
    # fits a 40 MB L2, so the second read costs 1024 x 3072 B / 4 TB/s = 0.786 us more.
    fits = spec_with_l2(40e6, 4e12)
    x = torch.randn(8, 128, 768)
    op = one_op(nn.LayerNorm(768), x, fits, "aten.native_layer_norm")
    assert (op.reduce_rows, op.reduce_len) == (1024, 768)
    single = op.bytes / (fits.efficiency.memory * 1.555e12)
    assert op.memory_s == pytest.approx(single + 1024 * 3072 / 4e12, rel=1e-9)


def test_without_a_kernel_model_reductions_stay_single_pass():
    spec = dataclasses.replace(spec_with_l2(1.0, 5.4e12), kernel_model=None)
    op = one_op(Softmax(), torch.randn(1000, 4096), spec, "aten._softmax")
    assert op.memory_s == pytest.approx(2 * 16.384e6 / (spec.efficiency.memory * 1.555e12), rel=1e-9)
