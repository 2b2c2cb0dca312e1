"""roofline.capture.inputs: the one path that finds, casts, moves and copies model inputs,
through tuples, lists, dicts, namedtuples and dataclasses."""

from collections import namedtuple
from dataclasses import dataclass, field

import torch

from roofline.capture.inputs import cast_inputs, clone_inputs, map_tensors, tensors_in

Pair = namedtuple("Pair", "left right")


@dataclass
class Batch:
    x: torch.Tensor
    ids: torch.Tensor
    extra: dict = field(default_factory=dict)
    label: str = "train"


def _nested():
    return {"batch": Batch(torch.ones(2), torch.arange(3), {"mask": torch.ones(2, dtype=torch.bool)}),
            "pair": Pair(torch.zeros(1), [torch.full((2,), 2.0)]), "n": 4}


def test_tensors_in_walks_every_container_in_order():
    found = tensors_in(_nested())
    assert [tuple(t.shape) for t in found] == [(2,), (3,), (2,), (1,), (2,)]
    assert tensors_in(torch.ones(1))[0].shape == (1,) and tensors_in(3) == []


def test_cast_keeps_integer_and_bool_tensors_and_container_types():
    cast = cast_inputs(_nested(), torch.float64, "cpu")
    assert isinstance(cast["batch"], Batch) and isinstance(cast["pair"], Pair) and cast["n"] == 4
    assert [t.dtype for t in tensors_in(cast)] == [torch.float64, torch.int64, torch.bool, torch.float64, torch.float64]
    assert cast["batch"].label == "train"


def test_clone_gives_fresh_storage():
    inputs = _nested()
    copies = clone_inputs(inputs)
    for original, copy in zip(tensors_in(inputs), tensors_in(copies)):
        assert torch.equal(original, copy) and original.data_ptr() != copy.data_ptr()
    assert map_tensors(lambda t: t, inputs)["pair"].left is inputs["pair"].left
