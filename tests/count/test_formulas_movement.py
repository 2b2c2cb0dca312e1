"""roofline/formulas/movement.py against closed forms worked out here."""

import torch

from roofline.count.categories import DATA_MOVE, DATA_TRANSFORM, SPARSE_MM
from tests.conftest import costs_of, only_cost


def test_transpose_made_contiguous_is_a_data_transform():
    x = torch.randn(32, 64)
    cost = only_cost(lambda t: t.t().contiguous(), x)
    assert cost.category == DATA_TRANSFORM
    assert cost.bytes_read == cost.bytes_written == 32 * 64 * 4


def test_plain_clone_is_data_move():
    cost = only_cost(torch.clone, torch.randn(100))
    assert cost.category == DATA_MOVE and cost.bytes_read == 400 and cost.bytes_written == 400


def test_dtype_cast_reads_one_width_and_writes_another():
    cost = only_cost(lambda t: t.to(torch.float16), torch.randn(100))
    assert cost.bytes_read == 400 and cost.bytes_written == 200


def test_cat_reads_each_input_and_writes_the_result():
    a, b = torch.randn(10, 4), torch.randn(6, 4)
    cost = only_cost(torch.cat, [a, b])
    assert cost.category == DATA_TRANSFORM
    assert cost.bytes_read == 16 * 4 * 4 and cost.bytes_written == 16 * 4 * 4


def test_index_gathers_only_the_selected_rows():
    table = torch.randn(10_000, 32)
    idx = torch.randint(0, 10_000, (50,))
    cost = only_cost(lambda t, i: t[i], table, idx)
    assert cost.bytes_read == 50 * 32 * 4 + 50 * 8


def test_views_cost_nothing():
    x = torch.randn(4, 6)
    assert costs_of(lambda t: t.view(6, 4).t().unsqueeze(0)[:, 1:], x) == []


def test_index_add_is_message_passing():
    target = torch.zeros(100, 16)
    src = torch.randn(500, 16)
    idx = torch.randint(0, 100, (500,))
    cost = only_cost(lambda: target.index_add_(0, idx, src))
    assert cost.category == SPARSE_MM
    assert cost.flops == 500 * 16
    # src and index read; touched target rows read and written (at most the whole target)
    assert cost.bytes_read == 500 * 16 * 4 + 500 * 8 + 100 * 16 * 4
    assert cost.bytes_written == 100 * 16 * 4


def test_fill_writes_only():
    cost = only_cost(lambda: torch.zeros(64, 64))
    assert cost.bytes_read == 0 and cost.bytes_written == 64 * 64 * 4


def test_setitem_with_index_tensor_writes_the_selected_rows():
    x, v, idx = torch.zeros(10, 4), torch.randn(3, 4), torch.tensor([1, 5, 7])

    def assign():
        x[idx] = v

    cost = only_cost(assign)
    assert cost.category == DATA_MOVE
    assert cost.bytes_read == 3 * 4 * 4 + 3 * 8  # values and indices
    assert cost.bytes_written == 3 * 4 * 4  # three rows of four


def test_setitem_broadcast_row_and_accumulate():
    x, row, idx = torch.zeros(10, 4), torch.randn(4), torch.tensor([0, 2, 4, 6])

    def broadcast():
        x[idx] = row

    cost = only_cost(broadcast)
    assert cost.bytes_read == 4 * 4 + 4 * 8 and cost.bytes_written == 4 * 4 * 4
    values = torch.ones(4, 4)
    accumulated = only_cost(lambda: x.index_put_((idx,), values, accumulate=True))
    assert accumulated.category == SPARSE_MM and accumulated.flops == 16
    assert accumulated.bytes_read == 16 * 4 + 4 * 8 + 16 * 4  # values, indices, old targets


def test_setitem_through_a_mask_and_a_slice():
    x = torch.zeros(10, 4)
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[1, 3]] = True
    values = torch.randn(2, 4)

    def masked():
        x[mask] = values

    # One value per selected element: the true count (2 rows) is known from values.
    assert only_cost(masked).bytes_written == 2 * 4 * 4

    def sliced():
        x[2:5] = torch.ones(3, 4).mul_(0)

    slice_cost = [c for op, c in costs_of(sliced) if op == "aten.copy_"][0]
    assert slice_cost.bytes_read == slice_cost.bytes_written == 3 * 4 * 4


def test_functional_index_put_copies_the_target():
    x, v, idx = torch.zeros(10, 4), torch.randn(3, 4), torch.tensor([1, 5, 7])
    cost = only_cost(torch.index_put, x, (idx,), v)
    assert cost.bytes_read == 3 * 4 * 4 + 3 * 8 + 10 * 4 * 4
    assert cost.bytes_written == 10 * 4 * 4


def test_device_transfer_is_host_link_traffic():
    # No GPU needed: the formula sees only the devices in the record.
    from roofline.capture import OpRecord, TensorInfo
    from roofline.count.registry import HOST_LINK, count

    src = TensorInfo((256, 256), torch.float32, (256, 1), "strided", "cpu")
    dst = TensorInfo((256, 256), torch.float32, (256, 1), "strided", "cuda")
    record = OpRecord(0, "aten._to_copy.default", "", "", (src,), {"device": "cuda"}, (src,), (dst,), torch.ops.aten._to_copy.default)
    cost = count(record)
    assert cost.traffic == HOST_LINK and cost.category == DATA_MOVE
    assert cost.bytes_read == cost.bytes_written == 256 * 256 * 4
    same = OpRecord(0, "aten._to_copy.default", "", "", (src,), {}, (src,), (src,), torch.ops.aten._to_copy.default)
    assert count(same).traffic != HOST_LINK


def test_stack_and_sort_are_data_transforms():
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    stacked = only_cost(torch.stack, [a, b])
    assert stacked.category == DATA_TRANSFORM and stacked.bytes_written == 2 * 15 * 4
    x = torch.randn(4, 8)
    found = [c for op, c in costs_of(torch.sort, x, 1) if op == "aten.sort"][0]
    assert found.category == DATA_TRANSFORM and found.flops == 4 * 8 * 3  # n log2 n per row of 8


def test_eye_writes_the_matrix_and_unsafe_split_is_free():
    cost = only_cost(lambda: torch.eye(5))
    assert cost.bytes_read == 0 and cost.bytes_written == 25 * 4
    assert costs_of(lambda t: t.unsafe_split(2, dim=1), torch.randn(3, 4)) == []
    assert costs_of(lambda t: t.transpose_(0, 1), torch.randn(3, 4)) == []


def test_out_of_place_index_add_and_scatter_add_read_the_target_once():
    # index_add: target (10, 8) f32 = 320 B read once (the 4 touched rows are among
    # them), source (4, 8) f32 = 128 B, index 4 int64 = 32 B: 480 B read (reading the
    # touched rows again gave 608); the whole target written, 320 B; 4*8 = 32 adds.
    target, idx, src = torch.randn(10, 8), torch.tensor([0, 2, 4, 6]), torch.randn(4, 8)
    cost = only_cost(lambda: target.index_add(0, idx, src))
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (32, 480, 320)
    # scatter_add: index (4, 8) int64 = 256 B: 320 + 256 + 128 = 704 B read.
    index = torch.randint(0, 10, (4, 8))
    cost = only_cost(lambda: target.scatter_add(0, index, src))
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (32, 704, 320)
    # functional index_put with accumulate: 320 + values 128 + index 32 = 480 B.
    cost = only_cost(lambda: torch.index_put(target, (idx,), src, accumulate=True))
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (32, 480, 320)


def test_out_tensors_are_written_not_read():
    # add(a, b, out=c) over 10 float32: reads a and b (80 B), writes c (40 B); c was
    # counted as a third input (120 B read).
    a, b, c = torch.randn(10), torch.randn(10), torch.empty(10)
    cost = only_cost(lambda: torch.add(a, b, out=c))
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (10, 80, 40)
    # mm(A, B, out=C): (8*16 + 16*4) * 4 = 768 B read, 8*4*4 = 128 B written.
    A, B, C = torch.randn(8, 16), torch.randn(16, 4), torch.empty(8, 4)
    cost = only_cost(lambda: torch.mm(A, B, out=C))
    assert (cost.bytes_read, cost.bytes_written) == (768, 128)
    # An out= tensor passed as an operand too is still read: add(a, b, out=a).
    cost = only_cost(lambda: torch.add(a, b, out=a))
    assert cost.bytes_read == 80


def test_fold_adds_each_patch_element_that_lands_on_the_image():
    # fold to 4x4 with 2x2 kernels, stride 1: 3x3 = 9 blocks of 3*2*2 = 12 values, all
    # landing inside the image: 108 adds. Input 108 * 4 B read, 3*4*4 * 4 B written.
    cols = torch.randn(1, 12, 9)
    cost = only_cost(torch.nn.functional.fold, cols, (4, 4), 2)
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (108, 432, 192)
    # Stride 2, padding 1: 3 blocks a dimension, taps at 2o - 1 + k for o = 0..2, k = 0..1
    # are -1, 0, 1, 2, 3, 4: 4 of 6 inside [0, 4). 3 channels x 4 x 4 = 48 adds.
    cost = only_cost(torch.nn.functional.fold, cols, (4, 4), 2, padding=1, stride=2)
    assert cost.flops == 48


def test_in_place_fills_through_an_index_or_mask_write_only_what_they_touch():
    target = torch.zeros(10, 8)
    # scatter_ of a scalar through a (4, 8) int64 index: reads the index, 4*8*8 = 256 B,
    # writes the 32 elements it selects, 128 B (not the whole 320 B target).
    index = torch.randint(0, 10, (4, 8))
    cost = only_cost(lambda: target.scatter_(0, index, 1.0))
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (0, 256, 128)
    # index_fill_ of rows 1, 3, 5: index 3 * 8 = 24 B read; 3 rows of 8 written, 96 B.
    cost = only_cost(lambda: target.index_fill_(0, torch.tensor([1, 3, 5]), -1.0), op="aten.index_fill_")
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (0, 24, 96)
    # masked_scatter_ of 30 values into 100 through a mask with 30 true entries: reads
    # the mask (100 B of bool) and the 30 values (120 B), writes 30 elements (120 B);
    # it was counted as a fill: nothing read, the whole 400 B written.
    x, mask, values = torch.zeros(100), torch.arange(100) % 10 < 3, torch.randn(30)
    cost = only_cost(lambda: x.masked_scatter_(mask, values), op="aten.masked_scatter_")
    assert (cost.bytes_read, cost.bytes_written) == (220, 120)


def test_unique_sorts_the_flattened_tensor():
    # torch.unique of a (4, 8) tensor sorts all 32 elements: 32 * log2(32) = 160
    # compares (a sort of the last dim alone would be 32 * log2(8) = 96).
    x = torch.randn(4, 8)
    assert only_cost(torch.unique, x, op="aten._unique2").flops == 160
    # unique_consecutive scans once: 32 compares.
    assert only_cost(torch.unique_consecutive, x, op="aten.unique_consecutive").flops == 32
    # unique along dim 1 sorts the 8 columns (slices of 4): 32 * log2(8) = 96.
    assert only_cost(lambda: torch.unique(x, dim=1), op="aten.unique_dim").flops == 96


def test_rand_like_reads_nothing_of_its_input():
    # rand_like(x) with x of 10 x 10 float32: 100 numbers generated, 400 B written,
    # nothing read (x gives only its shape).
    x = torch.randn(10, 10)
    for fn in (torch.rand_like, torch.randn_like):
        cost = only_cost(fn, x)
        assert (cost.flops, cost.bytes_read, cost.bytes_written) == (100, 0, 400)
    cost = only_cost(torch.randint_like, x, 5)
    assert (cost.bytes_read, cost.bytes_written) == (0, 400)
