"""roofline.capture.inputs: one path casts, moves and copies tensors inside any container."""

import dataclasses
from collections import namedtuple

import torch

from roofline.capture.inputs import cast_inputs, clone_inputs, map_tensors

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


def test_clone_gives_fresh_storage():
    x = torch.ones(2)
    (copy,) = clone_inputs((x,))
    copy.add_(1)
    assert x.tolist() == [1.0, 1.0]


def test_map_tensors_leaves_non_tensors():
    assert map_tensors(lambda t: t * 2, [1, "a", None]) == [1, "a", None]
