"""roofline.capture.records: TensorInfo's footprint, OpRecord's arguments by name, the
record built from one call, and the weight bytes an op reads."""

import torch
import torch.nn as nn

from roofline.capture import OpRecord, capture, make_record, op_name, persistent_bytes, persistent_storages, tensor_info


def test_tensor_info_footprint():
    bias = torch.randn(64)
    assert tensor_info(bias.expand(128, 64)).footprint_bytes == 64 * 4
    assert tensor_info(torch.randn(4, 6).t()).footprint_bytes == 24 * 4
    sparse = torch.eye(5).to_sparse()
    info = tensor_info(sparse)
    assert info.nnz == 5 and info.footprint_bytes == 5 * 4 + 5 * 2 * 8


def test_param_bytes_are_the_weights_an_op_reads():
    layer = nn.Linear(16, 8)
    with torch.no_grad():
        records, _ = capture(layer, (torch.randn(4, 16),))
    addmm = [r for r in records if r.packet == "aten.addmm"][0]
    assert addmm.param_bytes == (16 * 8 + 8) * 4  # the transposed weight is a view of it
    assert [r.param_bytes for r in records if r.packet == "aten.t"] == [16 * 8 * 4]


def test_make_record_from_one_call():
    a, b = torch.randn(4, 6), torch.randn(6, 3)
    out = torch.mm(a, b)
    func = torch.ops.aten.mm.default
    record = make_record(7, op_name(func), func, ("layer", "Linear"), (a, b), {}, out)
    assert isinstance(record, OpRecord)
    assert (record.index, record.op, record.packet, record.module, record.module_type) == (7, "aten.mm.default", "aten.mm", "layer", "Linear")
    assert [i.shape for i in record.inputs] == [(4, 6), (6, 3)] and [o.shape for o in record.outputs] == [(4, 3)]
    assert record.args == (tensor_info(a), tensor_info(b))
    assert record.named_args() == {"self": tensor_info(a), "mat2": tensor_info(b)}
    assert record.arg("mat2") == tensor_info(b) and record.arg("missing", default=3) == 3
    assert record.dtype == torch.float32 and record.shapes() == "[4,6]x[6,3]"
    assert record.param_bytes == 0  # nothing persistent was named


def test_a_tensor_passed_twice_is_one_input():
    a = torch.randn(5)
    func = torch.ops.aten.mul.Tensor
    record = make_record(0, op_name(func), func, ("", ""), (a, a), {}, a * a)
    assert len(record.inputs) == 1 and record.args[0] is record.args[1]


def test_persistent_bytes_counts_a_shared_storage_once():
    tied = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    tied[1].weight = tied[0].weight  # weight tying: one storage
    assert persistent_bytes(tied) == 10 * 4 * 4
    assert len(persistent_storages(tied)) == 1
    assert persistent_bytes(lambda x: x) == 0 and persistent_storages(None) == frozenset()


def test_tensor_info_contiguity_and_sizes():
    info = tensor_info(torch.zeros(2, 3, dtype=torch.float16))
    assert (info.numel, info.itemsize, info.nbytes, info.is_contiguous) == (6, 2, 12, True)
    assert not tensor_info(torch.zeros(2, 3).t()).is_contiguous
    assert tensor_info(torch.zeros(2, 3, device="meta")).device == "meta"


def test_sequence_offsets_keep_their_values_when_real():
    q = torch.empty(12, 2, 8, device="meta")
    offsets = torch.tensor([0, 5, 12], dtype=torch.int32)
    func = torch.ops.aten._flash_attention_forward.default
    for given, expected in ((offsets, (0, 5, 12)), (offsets.to("meta"), None)):
        out = func(q, q, q, given, given, 7, 7, 0.0, False, False)
        record = make_record(0, op_name(func), func, ("", ""), (q, q, q, given, given, 7, 7, 0.0, False, False), {}, out)
        named = record.named_args()
        # one offsets tensor for queries and keys: one TensorInfo, listed once as an input
        assert named["cum_seq_q"] is named["cum_seq_k"] and named["cum_seq_q"].values == expected
        assert named["cum_seq_q"] in record.inputs and len(record.inputs) == 2
    mm = torch.ops.aten.mm.default
    assert make_record(0, "aten.mm.default", mm, ("", ""), (offsets[None, :].float(), torch.ones(3, 1)), {}, None).inputs[0].values is None
