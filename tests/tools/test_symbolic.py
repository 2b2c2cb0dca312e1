"""roofline/tools/symbolic.py: the closed forms of a symbolic capture give, op by op and
in total, what a concrete capture of each point gives; identical ops are grouped."""

from collections import Counter

import numpy as np
import pytest
import torch

from roofline.analysis import analyze
from roofline.capture import persistent_bytes
from roofline.hardware import load_hardware
from roofline.predict import Tf32Policy
from roofline.targets import build
from roofline.tools.symbolic import SizeDim, closed_forms

DIMS = [SizeDim(0, 0, "batch"), SizeDim(0, 1, "seq")]
# a100-pcie has a kernel model (GEMM tiles and waves, kernel floors); local-cpu is a
# calibrated CPU (memory level by working set, per-op efficiencies, view overheads)
# local-cpu+curves adds per-family CPU curves (a dispatch cost, and an efficiency ramped
# by the threads each op's size can use: the one size-dependent efficiency)
# local-cpu+loops adds short-loop costs and few-column GEMM rates (the loops' counts and
# lengths are closed forms too)
SPECS = ["h100-sxm", "a100-pcie", "local-cpu", "local-cpu+curves", "local-cpu+loops"]


def _spec(name):
    if not name.startswith("local-cpu+"):
        return load_hardware(name)
    import dataclasses

    from roofline.hardware.spec import ColsRate, LoopCost, OpCurve

    spec = load_hardware("local-cpu")
    curves = (OpCurve("add", 4e-6, 0.6, 0.0), OpCurve("mul", 3e-6, 0.5, 0.0), OpCurve("softmax", 6e-6, 0.2, 0.0))
    measured = dataclasses.replace(spec.measured, op_curves=curves)
    if name == "local-cpu+loops":
        measured = dataclasses.replace(
            measured, isa="AVX2", loop_costs=(LoopCost("add", 1e-9, 3e-9), LoopCost("mul", 2e-9, 4e-9),
                                              LoopCost("softmax", 9e-9, 2e-8)),
            gemm_cols=(ColsRate(8, 64, 1e10), ColsRate(64, 64, 5e10), ColsRate(8, 1024, 2e10), ColsRate(64, 1024, 6e10)))
    return dataclasses.replace(spec, measured=measured)
POINTS = [(2, 9), (5, 33)]


@pytest.fixture(scope="module")
def tiny_forms():
    built = build("llama-tiny", batch=3, meta=True, options={"seq": 17})
    with torch.no_grad():
        forms = closed_forms(built.model, built.inputs, DIMS, label="llama-tiny")
    return forms, float(persistent_bytes(built.model))


def test_linear_flops_are_the_closed_form():
    # Linear(32 -> 48) without bias on (batch, seq, 32): one (batch*seq, 32) x (32, 48)
    # matmul, 2*32*48 = 3072 FLOPs per row; at batch 4, seq 10: 40 rows = 122,880 FLOPs
    model = torch.nn.Linear(32, 48, bias=False).eval()
    with torch.no_grad():
        forms = closed_forms(model, (torch.randn(3, 5, 32),), DIMS)
    sizes = forms.sizes({"batch": np.array([4.0]), "seq": np.array([10.0])})
    counts = forms.groups["count"].to_numpy()
    assert float(counts @ sizes.flops[:, 0]) == 122_880
    # bytes: read 40*32*4 = 5120 (input) + 32*48*4 = 6144 (weight), write 40*48*4 = 7680
    assert float(counts @ sizes.bytes[:, 0]) == 5120 + 6144 + 7680


def test_repeated_layers_are_grouped(tiny_forms):
    forms, _ = tiny_forms
    # llama-tiny has 4 identical decoder layers: every op of a layer is one group of 4 or more
    assert len(forms.groups) < forms.ops / 4
    assert forms.groups["count"].sum() == forms.ops
    (mm_counts,) = [forms.groups.loc[forms.groups["op"] == "aten.mm", "count"].sum()]
    # per layer q, k, v, o, gate, up, down = 7 matmuls, x 4 layers, + the LM head = 29
    assert mm_counts == 29


@pytest.mark.parametrize("batch,seq", POINTS)
def test_each_op_equals_the_concrete_capture(tiny_forms, batch, seq):
    forms, _ = tiny_forms
    points = {"batch": np.array([float(batch)]), "seq": np.array([float(seq)])}
    assert forms.covers(points)[0]
    sizes = forms.sizes(points)
    symbolic = Counter()
    for i, row in enumerate(forms.groups.itertuples()):
        symbolic[(row.op, float(sizes.flops[i, 0]), float(sizes.bytes[i, 0]))] += row.count
    built = build("llama-tiny", batch=batch, meta=True, options={"seq": seq})
    ops = analyze(built.model, built.inputs).ops
    concrete = Counter(zip(ops["op"], ops["flops"].fillna(0.0), ops["bytes"].fillna(0.0)))
    assert symbolic == concrete


@pytest.mark.parametrize("hw", SPECS)
def test_totals_equal_a_direct_analysis_on_every_kind_of_spec(tiny_forms, hw):
    forms, resident = tiny_forms
    spec = _spec(hw)
    points = {"batch": np.array([float(b) for b, _ in POINTS]), "seq": np.array([float(s) for _, s in POINTS])}
    totals = forms.evaluate(points, spec, tf32=Tf32Policy.from_torch(), resident_bytes=resident)
    for i, (batch, seq) in enumerate(POINTS):
        built = build("llama-tiny", batch=batch, meta=True, options={"seq": seq})
        direct = analyze(built.model, built.inputs, hw=spec)
        assert totals.predicted_s[i] == pytest.approx(direct.predicted_s, rel=1e-9)
        assert totals.kernel_s[i] == pytest.approx(direct.kernel_s, rel=1e-9)
        assert totals.flops[i] == direct.total_flops
        assert totals.bytes[i] == direct.total_bytes
        per_category = direct.by_category()["predicted_s"]
        for category, values in totals.category_s.items():
            assert values[i] == pytest.approx(per_category[category], rel=1e-9, abs=1e-15)


def test_batch_one_is_outside_a_capture_at_batch_three(tiny_forms):
    """PyTorch decides broadcasts on the batch size, so the forms of batch >= 2 do not
    stand for batch 1: the guards say so (the sweep captures batch 1 again)."""
    forms, _ = tiny_forms
    covered = forms.covers({"batch": np.array([1.0, 2.0]), "seq": np.array([17.0, 17.0])})
    assert covered.tolist() == [False, True]
