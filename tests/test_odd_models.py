"""Models nobody here wrote, with every shape of trouble a user brings: each analyses,
and its totals match closed forms worked by hand below.

Conventions (DESIGN.md): a multiply-add is 2 FLOPs; an element-wise op 1 FLOP per output
element; a reduction 1 FLOP per input element; bytes are compulsory: each distinct input
read once (at its footprint: a broadcast or strided view reads what it reaches), each
output written once; views cost nothing. fp32 is 4 bytes, int64 8, bool 1, complex64 8.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import pytest
import torch
import torch.nn as nn

from roofline import analyze
from roofline.capture import capture
from roofline.errors import RooflineError
from roofline.hardware import load_hardware

HW = "h100-sxm"


def run(model, inputs, **kwargs):
    return analyze(model, inputs, hw=HW, **kwargs)


def ops_of(analysis) -> list[str]:
    """Op names of the ops that do work (views dropped)."""
    return list(analysis.ops.loc[analysis.ops["unit"] != "none", "op"])


def linear_flops(rows: int, fan_in: int, fan_out: int, bias: bool = True) -> int:
    return 2 * rows * fan_in * fan_out + (rows * fan_out if bias else 0)


def linear_bytes(rows: int, fan_in: int, fan_out: int, itemsize: int = 4) -> int:
    """addmm: reads x, W, b; writes the output."""
    return itemsize * (rows * fan_in + fan_in * fan_out + fan_out + rows * fan_out)


def assert_complete(analysis) -> None:
    assert analysis.unsupported.empty, analysis.unsupported
    assert analysis.ops["predicted_s"].notna().all()
    assert (analysis.ops["predicted_s"] >= 0).all()


# ------------------------------------------------------------- 1. data-dependent flow


class Gate(nn.Module):
    """Branches on the input's sum and loops as many times as its largest value says."""

    def __init__(self):
        super().__init__()
        self.big = nn.Linear(8, 8)
        self.small = nn.Linear(8, 2)

    def forward(self, x):
        y = self.big(x) if x.sum() > 0 else self.small(x)
        for _ in range(int(x.max())):
            y = y * 2
        return y


@pytest.mark.parametrize("value,branch_out,loops", [(2.0, 8, 2), (-1.0, 2, 0)])
def test_data_dependent_control_flow_follows_the_real_values(value, branch_out, loops):
    x = torch.full((4, 8), value)
    a = run(Gate(), (x,))
    assert_complete(a)
    n = 32  # elements of x
    expected_flops = (
        n  # sum
        + 1  # sum > 0 on a 0-d tensor
        + linear_flops(4, 8, branch_out)  # the branch taken
        + n  # max
        + loops * 4 * branch_out  # y * 2, once per loop
    )
    expected_bytes = (
        (4 * n + 4)  # sum: read x, write a scalar
        + (4 + 1)  # gt: read the scalar, write a bool
        + (1 + 1)  # bool(...) reads one bool to the host
        + linear_bytes(4, 8, branch_out)
        + (4 * n + 4)  # max
        + (4 + 4)  # int(...) reads one float
        + loops * 2 * 4 * 4 * branch_out  # each y * 2 reads and writes y
    )
    assert a.total_flops == expected_flops
    assert a.total_bytes == expected_bytes
    modules = set(a.ops.loc[a.ops["op"] == "aten.addmm", "module"])
    assert modules == {"big" if value > 0 else "small"}


def test_data_dependent_model_on_meta_tensors_fails_with_a_clear_error():
    with pytest.raises(RooflineError, match=r"^Gate: the model failed while running: .*meta tensors"):
        run(Gate(), (torch.full((4, 8), 2.0),), meta=True)


# ------------------------------------------------------- 2. containers in and out


@dataclasses.dataclass
class Pair:
    a: torch.Tensor
    b: torch.Tensor


class Point(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor


class Containers(nn.Module):
    """Takes a dict holding a list, a dataclass and a named tuple; returns a dict of a
    list, a dataclass with a None field and a tuple."""

    def forward(self, batch, pair, point):
        total = batch["x"] + batch["extras"][0]
        scaled = [batch["extras"][1] * pair.a]
        return {"total": total, "scaled": scaled, "pair": Pair(pair.a - pair.b, None), "point": (point.x * point.y,)}


def _container_inputs():
    t = lambda: torch.ones(3, 5)  # noqa: E731
    return {"batch": {"x": t(), "extras": [t(), t()]}, "pair": Pair(t(), t()), "point": Point(t(), t())}


def test_lists_dicts_dataclasses_and_named_tuples_in_and_out():
    a = run(Containers(), _container_inputs())
    assert_complete(a)
    assert ops_of(a) == ["aten.add", "aten.mul", "aten.sub", "aten.mul"]
    # four binary element-wise ops on 15 elements: 15 FLOPs, 2 x 60 bytes read, 60 written
    assert a.total_flops == 4 * 15
    assert a.total_bytes == 4 * (2 * 60 + 60)
    _, output = capture(Containers(), _container_inputs())
    assert isinstance(output["pair"], Pair) and output["pair"].b is None
    assert torch.equal(output["scaled"][0], torch.ones(3, 5))


def test_dataclass_inputs_move_to_meta_with_the_model():
    a = run(Containers(), _container_inputs(), meta=True)
    assert a.total_flops == 4 * 15


# --------------------------------------------------------- 3. custom autograd Function


class ScaledExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        y = x.exp() * scale
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y, None  # d/dx scale*exp(x) = y


class UsesFunction(nn.Module):
    def forward(self, x):
        return ScaledExp.apply(x, 3.0)


@pytest.mark.parametrize("grad", [False, True])
def test_custom_autograd_function_forward(grad):
    x = torch.ones(4, 8, requires_grad=grad)
    a = run(UsesFunction(), (x,), grad=grad)
    assert_complete(a)
    assert ops_of(a) == ["aten.exp", "aten.mul"]
    assert a.total_flops == 32 + 32
    assert a.total_bytes == 2 * (128 + 128)


def test_custom_autograd_function_backward_is_counted_when_run():
    def train_step(x):
        y = ScaledExp.apply(x, 3.0)
        y.backward(torch.ones_like(y))
        return x.grad

    a = run(train_step, (torch.ones(4, 8, requires_grad=True),), grad=True)
    assert_complete(a)
    work = a.ops[a.ops["unit"] != "none"]
    assert list(work["op"]) == ["aten.exp", "aten.mul", "aten.ones_like", "aten.mul"]
    # forward exp + mul, then the hand-written backward grad * y (reads 2 x 128 B, writes 128 B)
    assert a.total_flops == 32 + 32 + 32
    assert work.iloc[3]["bytes"] == 2 * 128 + 128
    assert work.iloc[2]["bytes"] == 128  # ones_like writes only


# ----------------------------------------------------------------- 4. in-place ops


class InPlace(nn.Module):
    def forward(self, x, y):
        z = x.clone()
        z.add_(y)
        z.relu_()
        z.mul_(2)
        z[:, 0].fill_(0.0)  # a strided column of 4 elements
        return z


def test_in_place_ops():
    a = run(InPlace(), (torch.ones(4, 4), torch.ones(4, 4)))
    assert_complete(a)
    assert ops_of(a) == ["aten.clone", "aten.add_", "aten.relu_", "aten.mul_", "aten.fill_"]
    n = 16
    assert a.total_flops == 3 * n  # add_, relu_, mul_: one FLOP per element each
    expected = (
        (4 * n + 4 * n)  # clone: read x, write z
        + (2 * 4 * n + 4 * n)  # add_: read z and y, write z
        + 2 * (4 * n + 4 * n)  # relu_, mul_: read z, write z
        + 4 * 4  # fill_: writes the 4 elements of the column, reads nothing
    )
    assert a.total_bytes == expected


# ---------------------------------------------------------- 5. integer and bool tensors


class IntBool(nn.Module):
    def forward(self, i, b):
        return (i * 3 + 1).sum(), (b & ~b).any(), torch.mm(i, i)


def test_integer_and_bool_tensors():
    i = torch.arange(16, dtype=torch.int64).reshape(4, 4)
    b = torch.ones(4, 4, dtype=torch.bool)
    a = run(IntBool(), (i, b))
    assert_complete(a)
    n = 16
    assert a.total_flops == n + n + n + n + n + n + 2 * 4 * 4 * 4  # mul add sum not and any, mm
    expected = (
        2 * (8 * n + 8 * n)  # i * 3, + 1: int64 in and out
        + (8 * n + 8)  # sum to one int64
        + (n + n)  # ~b
        + (2 * n + n)  # b & ~b
        + (n + 1)  # any
        + (8 * n + 8 * n)  # mm(i, i): one tensor passed twice is read once; the product written
    )
    assert a.total_bytes == expected
    # integer and bool ops run at the fp32 vector rate (the spec's fallback)
    fp32_vector = a.hw.peak_flops("fp32", "vector")
    assert set(a.ops.loc[a.ops["op"] == "aten.mul", "peak_flops"]) == {fp32_vector}


# --------------------------------------------------------------------- 6. complex


class ComplexOps(nn.Module):
    def forward(self, a, b):
        return (a @ b + a).abs(), a * 2.0


def test_complex_dtypes_count_real_flops():
    a_ = torch.ones(4, 4, dtype=torch.complex64)
    b_ = torch.ones(4, 4, dtype=torch.complex64)
    a = run(ComplexOps(), (a_, b_))
    assert_complete(a)
    assert ops_of(a) == ["aten.mm", "aten.add", "aten.abs", "aten.mul"]
    n = 16
    by_op = a.ops[a.ops["unit"] != "none"].set_index("op")["flops"]
    # a complex multiply-add is (ac - bd) + (ad + bc)i plus a complex add: 8 real FLOPs
    assert by_op["aten.mm"] == 8 * 4 * 4 * 4
    assert by_op["aten.add"] == 2 * n  # real and imaginary adds
    assert by_op["aten.abs"] == 4 * n  # re^2 + im^2, then a square root
    assert by_op["aten.mul"] == 2 * n  # complex times a real scalar: both parts scaled
    expected_bytes = (
        (2 * 8 * n + 8 * n)  # mm
        + (2 * 8 * n + 8 * n)  # add
        + (8 * n + 4 * n)  # abs: complex64 in, float32 out
        + (8 * n + 8 * n)  # mul
    )
    assert a.total_bytes == expected_bytes
    assert set(a.ops["dtype"]) == {"fp32"}  # complex64 runs on fp32 units


# ------------------------------------------------------ 7. submodules reused many times


class Block(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.lin = nn.Linear(width, width)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.lin(x))


class Reused(nn.Module):
    """One Block registered three times in a Sequential, then called once more."""

    def __init__(self):
        super().__init__()
        shared = Block()
        self.stack = nn.Sequential(shared, shared, shared)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        x = self.stack(x)
        x = self.stack[0](x)
        return self.head(x)


def test_nested_submodules_reused_several_times():
    a = run(Reused(), (torch.ones(2, 16),))
    assert_complete(a)
    block = linear_flops(2, 16, 16) + 2 * 16  # linear + relu
    assert a.total_flops == 4 * block + linear_flops(2, 16, 4)
    assert a.total_bytes == 4 * (linear_bytes(2, 16, 16) + 2 * 4 * 32) + linear_bytes(2, 16, 4)
    # every use is attributed to the one name the shared block has
    modules = a.by_module(depth=None)
    assert modules.loc["stack.0.lin", "flops"] == 4 * linear_flops(2, 16, 16)
    assert modules.loc["stack.0.act", "ops"] == 4
    assert not any(name.startswith(("stack.1", "stack.2")) for name in modules.index)


# ------------------------------------------------------------- 8. torch.compile


def _plain():
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU())


def test_torch_compiled_module_is_analysed_as_its_original_module():
    compiled = torch.compile(_plain())
    with pytest.warns(UserWarning, match=r"torch\.compile.*_orig_mod"):
        a = run(compiled, (torch.ones(2, 8),))
    assert_complete(a)
    assert a.total_flops == linear_flops(2, 8, 8) + 16
    assert list(a.ops["module"]) == ["0", "0", "1"]  # the original's names, no "_orig_mod."


def test_module_compiled_in_place_and_compiled_submodules():
    model = _plain()
    model.compile()
    with pytest.warns(UserWarning, match=r"module\.compile\(\)"):
        a = run(model, (torch.ones(2, 8),))
    assert a.total_flops == linear_flops(2, 8, 8) + 16
    assert model._compiled_call_impl is not None  # the model is left compiled

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = torch.compile(_plain())
            self.out = nn.Linear(8, 2)

        def forward(self, x):
            return self.out(self.block(x))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = run(Outer(), (torch.ones(2, 8),))
    assert any("some submodules" in str(w.message) for w in caught)
    assert a.total_flops == linear_flops(2, 8, 8) + 16 + linear_flops(2, 8, 2)
    assert set(a.ops["module"]) == {"block.0", "block.1", "out"}


# ------------------------------------------------- 9. a module created inside forward


class MakesItsOwn(nn.Module):
    def forward(self, x):
        return nn.Linear(8, 4)(x)


def test_module_created_inside_forward():
    a = run(MakesItsOwn(), (torch.ones(2, 8),))
    assert_complete(a)
    gemm = a.ops[a.ops["op"] == "aten.addmm"]
    assert list(gemm["module"]) == ["<Linear>"]  # named by its type: it has no name in the model
    assert gemm["flops"].sum() == linear_flops(2, 8, 4)
    # its initialisation runs too: uniform_ fills weight (32) and bias (4), write-only
    init = a.ops[a.ops["op"] == "aten.uniform_"]
    assert list(init["flops"]) == [32, 4]
    assert list(init["bytes"]) == [4 * 32, 4 * 4]
    assert a.total_flops == linear_flops(2, 8, 4) + 36


# --------------------------------------------------- 10. a tuple holding None out


class TupleWithNone(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x, mask=None):
        return self.lin(x), None, {"aux": None, "mask": mask}


def test_model_returning_a_tuple_with_none():
    a = run(TupleWithNone(), {"x": torch.ones(3, 8)})
    assert_complete(a)
    assert a.total_flops == linear_flops(3, 8, 8)
    assert a.total_bytes == linear_bytes(3, 8, 8)


# ------------------------------------------------------------ 11. zero-size tensors


class ZeroSize(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x):
        return self.lin(x).relu(), x.sum(), torch.cat([x, x])


@pytest.mark.parametrize("meta", [False, True])
def test_zero_size_tensors(meta):
    # DESIGN's datasheet model (no kernel_model: no minimum kernel time) to check against
    datasheet = dataclasses.replace(load_hardware(HW), kernel_model=None)
    a = analyze(ZeroSize(), (torch.ones(0, 8),), hw=datasheet, meta=meta)
    assert_complete(a)
    assert a.total_flops == 0
    # the Linear still reads its weight and bias; the sum writes one scalar; the rest is empty
    assert a.total_bytes == 4 * (8 * 4 + 4) + 4
    work = a.ops[a.ops["unit"] != "none"]
    # no FLOPs, no division by zero: overhead plus the few bytes at DRAM speed (DESIGN's model)
    hw = a.hw
    expected_s = hw.overhead_s + work["bytes"] / (hw.efficiency.memory * hw.dram.bandwidth)
    assert work["predicted_s"].to_numpy() == pytest.approx(expected_s.to_numpy(), rel=1e-12)
    assert set(work["bound"]) == {"overhead"}


# --------------------------------------------------------- 12. non-contiguous inputs


class Strided(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, transposed, sliced, row):
        return self.lin(transposed), sliced.relu(), sliced * row


def test_non_contiguous_inputs():
    transposed = torch.ones(8, 2).t()  # (2, 8), strides (1, 2)
    sliced = torch.ones(4, 16)[:, ::2]  # (4, 8), strides (16, 2): every other column
    row = torch.ones(1, 8).expand(4, 8)  # stride 0 on dim 0: 8 distinct elements
    assert not transposed.is_contiguous() and not sliced.is_contiguous()
    a = run(Strided(), (transposed, sliced, row))
    assert_complete(a)
    assert a.total_flops == linear_flops(2, 8, 4) + 32 + 32
    expected = (
        linear_bytes(2, 8, 4)  # the transposed x is 16 elements wherever they lie
        + (4 * 32 + 4 * 32)  # relu reads the 32 elements the slice reaches
        + (4 * 32 + 4 * 8 + 4 * 32)  # the broadcast row is read at its 8 elements
    )
    assert a.total_bytes == expected


# -------------------------------------------------------------- 13. meta tensors


def test_meta_analysis_equals_the_real_one_for_a_plain_model():
    model = Reused()
    real = run(model, (torch.ones(2, 16),))
    meta = run(Reused(), (torch.ones(2, 16),), meta=True)
    assert meta.total_flops == real.total_flops
    assert meta.total_bytes == real.total_bytes
