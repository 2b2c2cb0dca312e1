"""roofline.capture.inputs: one path casts, moves and copies tensors inside any container."""

import dataclasses
from collections import namedtuple

import torch

from roofline.capture.inputs import cast_inputs, clone_inputs, map_tensors, tensors_in

Pair = namedtuple("Pair", "x mask")


@dataclasses.dataclass
class Batch:
    ids: torch.Tensor
    features: dict
    label: str = "train"


def test_floats_cast_ints_kept_inside_every_container():
    batch = Batch(torch.arange(4), {"dense": [torch.ones(2), (torch.zeros(1, dtype=torch.float64),)]})
    pair = Pair(torch.ones(3), torch.ones(3, dtype=torch.bool))
    out_batch, out_pair = cast_inputs((batch, pair), torch.bfloat16, None)
    assert isinstance(out_batch, Batch) and out_batch.label == "train"
    assert out_batch.ids.dtype == torch.int64
    assert out_batch.features["dense"][0].dtype == torch.bfloat16
    assert out_batch.features["dense"][1][0].dtype == torch.bfloat16
    assert isinstance(out_pair, Pair) and out_pair.x.dtype == torch.bfloat16 and out_pair.mask.dtype == torch.bool


def test_move_to_meta_keeps_shapes():
    out = cast_inputs({"x": torch.ones(2, 3)}, None, "meta")
    assert out["x"].device.type == "meta" and out["x"].shape == (2, 3)


def test_nothing_asked_returns_the_same_object():
    inputs = (torch.ones(1),)
    assert cast_inputs(inputs, None, None) is inputs


def test_clone_leaves_the_original_alone():
    x = torch.ones(2)
    (copy,) = clone_inputs((x,))
    copy.add_(1)
    assert x.tolist() == [1.0, 1.0]


def test_map_tensors_leaves_non_tensors():
    assert map_tensors(lambda t: t * 2, [1, "a", None]) == [1, "a", None]

@dataclasses.dataclass
class NestedBatch:
    x: torch.Tensor
    ids: torch.Tensor
    extra: dict = dataclasses.field(default_factory=dict)
    label: str = "train"


def _nested():
    return {"batch": NestedBatch(torch.ones(2), torch.arange(3), {"mask": torch.ones(2, dtype=torch.bool)}),
            "pair": Pair(torch.zeros(1), [torch.full((2,), 2.0)]), "n": 4}


def test_tensors_in_walks_every_container_in_order():
    found = tensors_in(_nested())
    assert [tuple(t.shape) for t in found] == [(2,), (3,), (2,), (1,), (2,)]
    assert tensors_in(torch.ones(1))[0].shape == (1,) and tensors_in(3) == []


def test_cast_keeps_integer_and_bool_tensors_and_container_types():
    cast = cast_inputs(_nested(), torch.float64, "cpu")
    assert isinstance(cast["batch"], NestedBatch) and isinstance(cast["pair"], Pair) and cast["n"] == 4
    assert [t.dtype for t in tensors_in(cast)] == [torch.float64, torch.int64, torch.bool, torch.float64, torch.float64]
    assert cast["batch"].label == "train"


def test_clone_gives_fresh_storage():
    inputs = _nested()
    copies = clone_inputs(inputs)
    for original, copy in zip(tensors_in(inputs), tensors_in(copies)):
        assert torch.equal(original, copy) and original.data_ptr() != copy.data_ptr()
    assert map_tensors(lambda t: t, inputs)["pair"].x is inputs["pair"].x
