"""roofline.count.loops: the inner loops an op's CPU kernel runs, worked out by hand from
shapes and strides as ATen's TensorIterator merges dimensions (comments show how)."""

import pytest
import torch

from roofline.count.loops import iterator_loops
from roofline.count.registry import LoopShape


def _loops(fn, *args):
    from roofline.analysis import analyze

    ops = analyze(fn, args, hw="h100-sxm").ops
    ops = ops[ops["loop_count"].notna()]
    return list(zip(ops["op"], ops["loop_count"], ops["loop_inner"]))


@pytest.mark.parametrize("shape, strides, expected", [
    # a contiguous add of 4x5x6: every operand steps 1 -> 6 -> 30: one loop of 120
    ((4, 5, 6), [(30, 6, 1), (30, 6, 1), (30, 6, 1)], LoopShape(1, 120)),
    # x[N, 6] * w[6]: w steps 1 along the 6 and 0 along N, so 1 x 6 != 0: loops of 6
    ((1000, 6), [(6, 1), (6, 1), (0, 1)], LoopShape(1000, 6)),
    # a transposing copy out[3, 4] <- in with strides (1, 3): out's 1 x 4 = 4 merges,
    # in's 3 x 4 != 1 does not: 3 loops of 4
    ((3, 4), [(4, 1), (1, 3)], LoopShape(3, 4)),
    # sum over the middle dimension of [8, 10, 6]: the output steps 0 there, so the
    # innermost 6 (input stride 1) cannot merge with it: 80 loops of 6
    ((8, 10, 6), [(6, 0, 1), (60, 6, 1)], LoopShape(80, 6)),
    # sum over the last dimension of [8, 6]: the output steps 0 along the row, the input
    # 1: the row is the inner loop (input stride 1 < 6), 8 loops of 6
    ((8, 6), [(1, 0), (6, 1)], LoopShape(8, 6)),
    # size-1 dimensions drop out: [1, 7, 1] is one loop of 7
    ((1, 7, 1), [(7, 1, 1), (7, 1, 1)], LoopShape(1, 7)),
])
def test_iterator_loops_by_hand(shape, strides, expected):
    assert iterator_loops(shape, strides) == expected


def test_loops_of_captured_ops_by_hand():
    x, w = torch.randn(100, 6), torch.randn(6)
    # broadcast multiply: 100 loops of 6
    assert _loops(torch.mul, x, w) == [("aten.mul", 100.0, 6.0)]
    # a contiguous add: one loop of 600
    assert _loops(torch.add, x, x) == [("aten.add", 1.0, 600.0)]
    # amax over dim 1 of [2, 50, 22]: the kept 22 is the inner loop, 2 x 50 of them
    assert _loops(lambda t: t.amax(1), torch.randn(2, 50, 22)) == [("aten.amax", 100.0, 22.0)]
    # torch.max(x, w expanded to [100, 6]) is aten.maximum: the expanded operand steps 0
    # along the 100, so 100 loops of 6
    assert _loops(torch.max, x, w.expand(100, 6)) == [("aten.maximum", 100.0, 6.0)]
    # aten.max.other, the two-tensor max, runs as aten.maximum: element-wise, not a
    # reduction of the first (two contiguous [100, 6]: one loop of 600)
    assert _loops(lambda a, b: torch.ops.aten.max.other(a, b), x, x.clone()) == [("aten.maximum", 1.0, 600.0)]
    # softmax over the last dim of [30, 7]: 30 rows of 7
    assert _loops(lambda t: torch.softmax(t, -1), torch.randn(30, 7)) == [("aten._softmax", 30.0, 7.0)]


def test_slice_copies_by_hand():
    a, b = torch.randn(2, 3, 5), torch.randn(2, 3, 7)
    # cat along the last dim: each input is 2 x 3 slices (of 5 and 7): 12 loops of
    # (30 + 42) / 12 = 6 elements on average
    assert _loops(lambda p, q: torch.cat([p, q], -1), a, b) == [("aten.cat", 12.0, 6.0)]
    x, index = torch.randn(10, 7), torch.tensor([1, 3, 3, 6])
    # index_select along dim 0: one row of 7 per index -> 4 loops of 7
    assert _loops(lambda t, i: t.index_select(0, i), x, index) == [("aten.index_select", 4.0, 7.0)]
    # along dim 1: single elements, 10 rows x 4 indices -> 40 loops of 1
    assert _loops(lambda t, i: t.index_select(1, i), x, index) == [("aten.index_select", 40.0, 1.0)]
    # an embedding of 3 x 5 indices into a [100, 16] table: 15 rows of 16
    table, ids = torch.randn(100, 16), torch.randint(0, 100, (3, 5))
    assert _loops(lambda i, t: torch.nn.functional.embedding(i, t), ids, table) == [("aten.embedding", 15.0, 16.0)]


def test_ops_without_loops_have_none():
    # a matrix product runs a GEMM kernel, not element loops: no loop columns
    assert _loops(torch.mm, torch.randn(4, 5), torch.randn(5, 6)) == []


def test_symbolic_forms_carry_the_loops():
    from roofline.tools.symbolic import FORM_COLUMNS

    assert {"loop_count", "loop_inner"} <= set(FORM_COLUMNS)


def _kernels(fn, *args):
    from roofline.analysis import analyze

    ops = analyze(fn, args, hw="h100-sxm").ops
    ops = ops[ops["loop_count"].notna()]
    return list(zip(ops["op"], ops["loop_count"], ops["loop_inner"], ops["loop_kernel"]))


def test_index_select_along_a_later_dim_by_hand():
    # QuWeiT's bits[1, 197, 1536].index_select(-1, wiring[4608]): dim 2 is the last and
    # the 1 x 197 positions before it are more than one, so ATen's general path: per
    # index one strided copy of bits.select(2, i), 1 x 197 elements: 4608 loops of 197
    bits, wiring = torch.zeros(1, 197, 1536, dtype=torch.bool), torch.randint(0, 1536, (4608,))
    assert _kernels(lambda t, i: t.index_select(-1, i), bits, wiring) == \
        [("aten.index_select", 4608.0, 197.0, "strided")]
    x, index = torch.randn(2, 3, 5), torch.tensor([0, 4, 4, 1])
    # [2, 3, 5] along dim 2, 4 indices: 4 copies of a 2 x 3 = 6-element slice
    assert _kernels(lambda t, i: t.index_select(2, i), x, index) == [("aten.index_select", 4.0, 6.0, "strided")]
    # along dim 1 ATen's dim-1 fast path copies a block of 5 per (outer, index): 2 x 4 = 8
    # loops of 5, its usual kernel
    assert _kernels(lambda t, i: t.index_select(1, i), x, index.clamp(max=2)) == [("aten.index_select", 8.0, 5.0, "")]
    # along the last dim of [1, 1, 9]: one outer position, the slice is contiguous
    # (memcpy): 1 x 4 loops of 1 element, the usual kernel
    assert _kernels(lambda t, i: t.index_select(2, i), torch.randn(1, 1, 9), index) == \
        [("aten.index_select", 4.0, 1.0, "")]


def test_outer_reductions_by_hand():
    # NLM's amax over dim 2 of [1, 50, 50, 6] keeps the unit-stride 6: ATen reduces it
    # column by column ("outer"); 1 x 50 x 50 = 2500 loops of 6
    x = torch.randn(1, 50, 50, 6)
    assert _kernels(lambda t: t.amax(2), x) == [("aten.amax", 2500.0, 6.0, "outer")]
    assert _kernels(lambda t: t.sum(1), torch.randn(8, 10, 6)) == [("aten.sum", 80.0, 6.0, "outer")]
    # over the last dim the rows are reduced along their unit stride: the usual kernel,
    # 2500 rows of 6 ... ([1, 50, 50, 6] -> 1 x 50 x 50 rows)
    assert _kernels(lambda t: t.amax(-1), x) == [("aten.amax", 2500.0, 6.0, "")]
    # over every dimension: the unit-stride dimension is reduced too, one loop of 15000
    assert _kernels(lambda t: t.sum(), x) == [("aten.sum", 1.0, 15000.0, "")]
    # over dim 1 of [1, 1, 6] (a dimension of one element): nothing reduced, no "outer"
    assert _kernels(lambda t: t.amax(1), torch.randn(1, 1, 6))[0][3] == ""


def test_index_add_kernels_by_hand():
    # GCN's aggregation out[2708, C].index_add_(0, dst[13264], msg[13264, C]): a 2-D
    # self, dim 0, alpha 1, int64 indices, the source the self's shape but for dim 0: ATen
    # runs scatter_add; C = 16 elements a slice reaches its sorted path (16 <= 16), C = 7
    # its element-by-element one; one loop per index, the slice its inner loop
    dst = torch.randint(0, 2708, (13264,))
    add = lambda t, i, s: t.index_add_(0, i, s)
    assert _kernels(add, torch.zeros(2708, 16), dst, torch.randn(13264, 16)) == \
        [("aten.index_add_", 13264.0, 16.0, "sorted")]
    assert _kernels(add, torch.zeros(2708, 7), dst, torch.randn(13264, 7)) == \
        [("aten.index_add_", 13264.0, 7.0, "scatter")]
    # a 1-D self: ATen's own scalar loop, one element per index, the usual kernel
    assert _kernels(add, torch.zeros(2708), dst, torch.randn(13264)) == [("aten.index_add_", 13264.0, 1.0, "")]
    # alpha 2 or int32 indices: one TensorIterator add per slice, the usual kernel
    assert _kernels(lambda t, i, s: t.index_add_(0, i, s, alpha=2), torch.zeros(2708, 7), dst,
                    torch.randn(13264, 7)) == [("aten.index_add_", 13264.0, 7.0, "")]
    assert _kernels(add, torch.zeros(2708, 7), dst.int(), torch.randn(13264, 7))[0][3] == ""
    # along the last dim of [5, 30] with 12 indices (source [5, 12]): scatter_add's
    # general kernel runs each of the 5 rows over its 12 indices: 5 loops of 12
    assert _kernels(lambda t, i, s: t.index_add_(1, i, s), torch.zeros(5, 30), torch.randint(0, 30, (12,)),
                    torch.randn(5, 12)) == [("aten.index_add_", 5.0, 12.0, "scatter")]
    # a transposed (non-contiguous) self of 16-element rows: not the sorted path
    assert _kernels(add, torch.zeros(16, 2708).t(), dst, torch.randn(13264, 16))[0][3] == "scatter"


def test_cats_of_strided_inputs_run_the_copy_kernel_by_hand():
    x = torch.randn(1, 4, 4, 3)
    # NLM's cat of x and its transpose along the last dim: the transposed input is not
    # contiguous, so ATen copies input by input into out.narrow(-1, ...) of out [1, 4, 4, 6]
    # (strides 96, 24, 6, 1). x: out steps 1 along the 3 then 6, x 1 then 3: 3 x 1 != 6, no
    # merge: 16 loops of 3. x.permute(0, 2, 1, 3) (strides 48, 3, 12, 1): the output's
    # strides order the dims (6 < 24), 3 x 1 != 6 again: 16 loops of 3. 32 loops of
    # (48 + 48) / 32 = 3
    assert _kernels(lambda t: torch.cat([t, t.permute(0, 2, 1, 3)], -1), x) == [("aten.cat", 32.0, 3.0, "copy")]
    # an expanded first input [1, 4, 1, 2] -> [1, 4, 4, 2] (stride 0 along the third dim)
    # and x: 16 loops of 2 and 16 of 3: 32 loops of (32 + 48) / 32 = 2.5
    e = torch.randn(1, 4, 1, 2).expand(1, 4, 4, 2)
    assert _kernels(lambda a, b: torch.cat([a, b], -1), e, x) == [("aten.cat", 32.0, 2.5, "copy")]
    # int32 inputs, both contiguous, along dim 0: not a dtype of the serial kernel, so the
    # copy path; out.narrow(0, ...) of [6, 4] is contiguous: each input one loop of 12
    i = torch.arange(12, dtype=torch.int32).reshape(3, 4)
    assert _kernels(lambda a, b: torch.cat([a, b], 0), i, i) == [("aten.cat", 2.0, 12.0, "copy")]
    # a class token [1, 1, 4] before a transposed grid [1, 4, 3].transpose(1, 2) (strides
    # 12, 1, 3: its last dim steps 3) along dim 1: the copy walks the grid element by
    # element, not the slice copy; the serial kernel's shape, as before: one slice per
    # input, 2 loops of (4 + 12) / 2 = 8
    token, grid = torch.randn(1, 1, 4), torch.randn(1, 4, 3).transpose(1, 2)
    assert _kernels(lambda a, b: torch.cat([a, b], 1), token, grid) == [("aten.cat", 2.0, 8.0, "")]


def test_contiguous_cats_keep_their_shape_and_kernel():
    # fp32, fp64 and bf16 cats of contiguous inputs run ATen's serial kernel: slices of
    # prod(shape[dim:]) per index before dim, as before. [2, 3, 5] and [2, 3, 7] along -1:
    # 6 + 6 = 12 loops of (30 + 42) / 12 = 6; [2, 3, 5] twice along 0: one slice of
    # 2 x 3 x 5 = 30 per input, 2 loops of 30
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        a, b = torch.randn(2, 3, 5).to(dtype), torch.randn(2, 3, 7).to(dtype)
        assert _kernels(lambda p, q: torch.cat([p, q], -1), a, b) == [("aten.cat", 12.0, 6.0, "")]
        assert _kernels(lambda p: torch.cat([p, p], 0), a) == [("aten.cat", 2.0, 30.0, "")]


def test_copies_of_permuted_sources_by_hand():
    # [2, 3, 5].permute(1, 0, 2).contiguous(): out [3, 2, 5] (strides 10, 5, 1), source
    # strides (5, 15, 1): the 5 is unit-stride on both and merges no further (5 x 1 = 5 is
    # out's next stride, but 5 x 1 != 15 for the source): 6 loops of 5, the copy kernel
    x = torch.randn(2, 3, 5)
    assert _kernels(lambda t: t.permute(1, 0, 2).contiguous(), x) == [("aten.clone", 6.0, 5.0, "copy")]
    # a transpose of the last two dims: the inner loop (out's 5) steps 7 in the source,
    # element by element: not the slice copy, the usual kernel (7 loops of 5)
    assert _kernels(lambda t: t.t().contiguous(), torch.randn(5, 7)) == [("aten.clone", 7.0, 5.0, "")]
    # a contiguous clone: one loop of 30, the usual kernel
    assert _kernels(lambda t: t.clone(), x) == [("aten.clone", 1.0, 30.0, "")]


def test_gelu_tanh_runs_another_kernel():
    from roofline.analysis import analyze

    x = torch.randn(16, 24)
    ops = analyze(lambda t: (torch.nn.functional.gelu(t, approximate="tanh"), torch.nn.functional.gelu(t)),
                  (x,), hw="h100-sxm").ops
    # both forms: one contiguous loop of 16 x 24 = 384 elements; the tanh form is kernel "tanh"
    assert list(zip(ops["op"], ops["loop_count"], ops["loop_inner"], ops["loop_kernel"])) == [
        ("aten.gelu", 1.0, 384.0, "tanh"), ("aten.gelu", 1.0, 384.0, "")]
