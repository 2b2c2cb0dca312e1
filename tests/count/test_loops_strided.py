"""roofline.count.loops.strided_elements: which element-wise ops a GPU runs on PyTorch's
unvectorised path (operands walking more than one loop), worked out by hand from shapes
and strides as TensorIterator merges dimensions (comments show how)."""

import math

import torch

from roofline.efficiency import STRIDED_COLUMN


def _strided(fn, *args):
    from roofline.analysis import analyze

    ops = analyze(fn, args, hw="h100-sxm").ops
    return list(zip(ops["op"], ops[STRIDED_COLUMN]))


def test_contiguous_operands_walk_one_loop():
    x = torch.randn(64, 32)
    # every operand steps 1 -> 32: one loop of 2048, the vectorised path
    assert _strided(torch.add, x, x) == [("aten.add", 0.0)]
    # a python scalar is no operand of the kernel: still one loop
    assert _strided(lambda t: t * 2.0, x) == [("aten.mul", 0.0)]
    # a cast of a contiguous tensor: one loop
    assert _strided(lambda t: t.to(torch.bfloat16), x) == [("aten._to_copy", 0.0)]


def test_broadcast_and_permuted_operands_are_counted_element_by_element():
    x = torch.randn(64, 32)
    # a row statistic [64, 1] steps 0 along the 32: 64 loops of 32, all 2048 elements
    assert _strided(torch.mul, x, x.sum(-1, keepdim=True)[:, :1].clone()) == [("aten.mul", 2048.0)]
    # a weight [32] broadcast over the rows: the same
    assert _strided(torch.mul, x, torch.randn(32)) == [("aten.mul", 2048.0)]
    # silu of the first half of the last dimension (Megatron's chunked SwiGLU): rows of 16
    # at a stride of 32, 64 loops, 1024 elements
    silu = [(op, n) for op, n in _strided(lambda t: torch.nn.functional.silu(t[:, :16]), x) if op == "aten.silu"]
    assert silu == [("aten.silu", 1024.0)]
    # a transposed copy (.contiguous() of x.t()): 32 loops of 64, 2048 elements
    copies = [(op, n) for op, n in _strided(lambda t: t.t().contiguous(), x) if op == "aten.clone"]
    assert copies == [("aten.clone", 2048.0)]


def test_cat_counts_its_elements_where_an_input_is_not_contiguous():
    a, b = torch.randn(8, 6), torch.randn(8, 10)
    # both contiguous: the contiguous batched copy
    assert [(op, n) for op, n in _strided(lambda p, q: torch.cat((p, q), -1), a, b) if op == "aten.cat"] == \
        [("aten.cat", 0.0)]
    # one a strided half of another tensor (rotate_half's halves): all 8 x 16 output elements
    assert [(op, n) for op, n in _strided(lambda p, q: torch.cat((p, q[:, :10]), -1), a, torch.randn(8, 20))
            if op == "aten.cat"] == [("aten.cat", 128.0)]


def test_other_kernels_have_none():
    x = torch.randn(16, 16)
    for op, n in _strided(lambda t: (t @ t).sum(-1).softmax(-1), x):
        assert math.isnan(n), op


def _gathered(fn, *args):
    from roofline.analysis import analyze
    from roofline.efficiency import GATHER_COLUMN

    ops = analyze(fn, args, hw="h100-sxm").ops
    return [(op, n) for op, n in zip(ops["op"], ops[GATHER_COLUMN]) if op in ("aten.embedding", "aten.index_select")]


def test_gathers_count_their_output_elements():
    # 4 x 8 ids into a 100 x 64 table: 32 rows of 64 gathered
    ids = torch.zeros(4, 8, dtype=torch.long)
    assert _gathered(torch.nn.Embedding(100, 64), ids) == [("aten.embedding", 2048.0)]
    # index_select of 5 columns of a 7 x 10 matrix: 7 x 5 elements
    x, index = torch.randn(7, 10), torch.tensor([0, 2, 4, 6, 8])
    assert _gathered(lambda t, i: t.index_select(1, i), x, index) == [("aten.index_select", 35.0)]
