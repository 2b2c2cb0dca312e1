"""roofline/capture/symbolic.py: a capture with symbolic sizes records closed-form shapes,
its guards bound where they hold, and models it cannot run say why in one line."""

import pytest
import sympy
import torch

from roofline.capture import capture
from roofline.capture.symbolic import SizeDim, SymbolicUnavailable, symbolic_capture

IN, OUT = 32, 48
DIMS = [SizeDim(0, 0, "batch"), SizeDim(0, 1, "seq")]


def _at(capture, expr, **sizes):
    """A closed form's value at the given sizes."""
    return int(sympy.sympify(expr).subs({capture.symbols[k]: v for k, v in sizes.items()}))


def test_linear_output_shape_is_a_closed_form_in_batch_and_seq():
    model = torch.nn.Linear(IN, OUT, bias=False).eval()
    with torch.no_grad():
        capture = symbolic_capture(model, (torch.randn(3, 5, IN),), DIMS)
    assert capture.hints == {"batch": 3, "seq": 5}
    (mm,) = [r for r in capture.records if r.op == "aten.mm.default"]
    rows, cols = (capture.expr(size) for size in mm.outputs[0].shape)
    # Linear flattens (batch, seq, IN) to (batch*seq, IN) rows: at batch 7, seq 11 that is 77 rows of OUT
    assert _at(capture, rows, batch=7, seq=11) == 77
    assert cols == OUT
    # the weight is a parameter of a fixed size: its bytes are IN*OUT*4 = 6144 at any size
    assert mm.param_bytes == IN * OUT * 4


def test_no_view_query_or_whole_slice_is_recorded():
    """Fake tensors dispatch prim.device and whole-dimension slices that eager does not."""

    class Model(torch.nn.Module):
        def forward(self, x):
            return x[:, :, None].to(x.device) * 2

    with torch.no_grad():
        capture = symbolic_capture(Model(), (torch.randn(3, 5),), DIMS)
    ops = [r.op for r in capture.records]
    assert "prim.device.default" not in ops
    assert "aten.slice.Tensor" not in ops
    assert "aten.mul.Tensor" in ops
    assert [r.index for r in capture.records] == list(range(len(ops)))


def test_guards_bound_the_region():
    """A model that branches on the sequence length holds only on its side of the branch."""

    class Model(torch.nn.Module):
        def forward(self, x):
            return x * 2 if x.shape[1] > 8 else x + 1

    with torch.no_grad():
        capture = symbolic_capture(Model(), (torch.randn(3, 10),), DIMS)
    seq = capture.symbols["seq"]
    conditions = capture.conditions()
    holds = [all(bool(c.subs({seq: s, capture.symbols["batch"]: 3})) for c in conditions) for s in (9, 20, 8, 2)]
    assert holds == [True, True, False, False]


def test_data_dependent_shapes_are_refused_with_the_reason():
    class Model(torch.nn.Module):
        def forward(self, x):
            return x[x > 0].sum()

    with torch.no_grad(), pytest.raises(SymbolicUnavailable, match="^masked:") as info:
        symbolic_capture(Model(), (torch.randn(3, 5),), DIMS, label="masked")
    assert "\n" not in str(info.value)


def test_a_model_that_reads_values_is_refused():
    class Model(torch.nn.Module):
        def forward(self, x):
            return x * float(x.max())

    with torch.no_grad(), pytest.raises(SymbolicUnavailable, match="cannot run on fake tensors"):
        symbolic_capture(Model(), (torch.randn(3, 5),), DIMS)


def test_a_whole_slice_index_records_the_alias_eager_records():
    class Keep(torch.nn.Module):
        def forward(self, x):
            return x[:, 0:, :] * 2  # eager: aten.alias of x (the index takes everything), then mul

    x = torch.empty(2, 5, 3, device="meta")
    with torch.no_grad():
        eager = [r.op for r in capture(Keep(), (x,))[0]]
        symbolic = [r.op for r in symbolic_capture(Keep(), (x,), [SizeDim(0, 0, "batch"), SizeDim(0, 1, "seq")]).records]
    assert eager == ["aten.alias.default", "aten.mul.Tensor"]
    assert symbolic == eager
    assert "__getitem__" not in vars(torch.Tensor)  # put back
