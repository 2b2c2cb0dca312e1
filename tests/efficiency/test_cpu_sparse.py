"""CPU embedding_bag and index_add_ on a calibrated spec: embedding_bag's fixed cost is
its op-suite curve's dispatch, index_add_ as scatter_add costs per index and element
what the short-loop suite measured for its kernel. Expected values are worked out by hand
in the comments; a record without the new families predicts as before."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.efficiency.cpu import curve_terms, loop_terms
from roofline.hardware import CalibrationRecord, LoopCost, OpCurve, SuiteOp

_FAMILIES = (SuiteOp("add", ("aten.add",)), SuiteOp("mul", ("aten.mul",)),
             SuiteOp("index_add@scatter", ("aten.index_add_@scatter", "aten.index_add@scatter")),
             SuiteOp("index_add@sorted", ("aten.index_add_@sorted", "aten.index_add@sorted")),
             SuiteOp("embedding_bag", ("aten._embedding_bag", "aten._embedding_bag_forward_only",
                                       "aten.embedding_bag")))


def _record(**kw):
    return CalibrationRecord(device="cpu", threads=1, isa="AVX2", memory_level="working_set", op_suite_ops=_FAMILIES,
                             op_curves=(OpCurve("add", 3e-6, 0.8, 0.05), OpCurve("embedding_bag", 9e-6, 0.25, 0.1)),
                             loop_costs=(LoopCost("add", 1e-9, 3e-9), LoopCost("mul", 3e-9, 5e-9),
                                         LoopCost("index_add@scatter", 3.5e-9, 1.5e-9),
                                         LoopCost("index_add@sorted", 0.3e-9, 20e-9)), **kw)


def _spec(record):
    from roofline.hardware import load_hardware

    local = load_hardware(Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml")
    return dataclasses.replace(local, measured=record)


def _older(record):
    """The record as a calibration from before these families."""
    keep = ("add", "mul")
    return dataclasses.replace(record, op_suite_ops=tuple(s for s in record.op_suite_ops if s.name in keep),
                               op_curves=tuple(c for c in record.op_curves if c.op in keep),
                               loop_costs=tuple(c for c in record.loop_costs if c.op in keep))


def _index_add(spec, rows, cols, indices):
    from roofline.analysis import analyze

    shape = (rows,) if cols == 0 else (rows, cols)
    source = torch.randn((indices, *shape[1:]))
    index = torch.randint(0, rows, (indices,))
    return analyze(lambda t, i, s: t.index_add_(0, i, s), (torch.zeros(shape), index, source), hw=spec).ops.iloc[0]


def test_index_add_kernels_predicted_by_hand():
    spec = _spec(_record())
    # [2708, 7] from 13264 indices: scatter_add element by element (every element
    # scalar): 13264 x (1.5 ns + 7 x 3.5 ns) = 13264 x 26 ns = 344.864 us replace the work
    row = _index_add(spec, 2708, 7, 13264)
    assert row["kernel_s"] == pytest.approx(13264 * (1.5e-9 + 7 * 3.5e-9))
    # [2708, 16]: the sorted path: 13264 x (20 ns + 16 x 0.3 ns) = 13264 x 24.8 ns = 328.9 us
    row = _index_add(spec, 2708, 16, 13264)
    assert row["kernel_s"] == pytest.approx(13264 * (20e-9 + 16 * 0.3e-9))
    # dispatch: no curve for index_add, the spec's per-op overhead either way
    assert row["overhead_s"] == pytest.approx(spec.overhead_s)


def test_a_record_without_the_index_add_families_predicts_as_before():
    # the loop rule now names the kernel; on an older record it runs as index_add's usual
    # kernel: the same terms as an op of no kernel (the element-wise median, add 1/3 ns
    # and mul 3/5 ns -> 2 / 4 ns; a slice step of 1 x 32 B / 4 = 8 fp32)
    ops = pd.DataFrame({"op": ["aten.index_add_"] * 3, "dtype": ["fp32"] * 3,
                        "loop_kernel": ["scatter", "sorted", ""]})
    terms = loop_terms(ops, _older(_record()))
    assert terms.element_s.tolist() == pytest.approx([2e-9] * 3)
    assert terms.loop_s.tolist() == pytest.approx([4e-9] * 3)
    assert terms.step_elements.tolist() == [8, 8, 8]
    # and with them: each kernel its family, every element scalar (an infinite step)
    terms = loop_terms(ops, _record())
    assert terms.element_s.tolist() == pytest.approx([3.5e-9, 0.3e-9, 2e-9])
    assert terms.step_elements.tolist() == [np.inf, np.inf, 8]
    # the whole prediction, on a spec whose record lacks them, as a frame without the kernel
    older = _spec(_older(_record()))
    for cols in (7, 16):
        row = _index_add(older, 2708, cols, 13264)
        # 13264 loops of 7 (all scalar below a step of 8): 13264 x (4 + 7 x 2) ns on top of
        # nothing vectorized; of 16: two whole steps, one loop start each: 13264 x 4 ns plus
        # the roofline work of the slices
        expected_loops = 13264 * (4e-9 + 7 * 2e-9) if cols == 7 else 13264 * 4e-9
        work = max(row["compute_s"], row["memory_s"])
        assert row["kernel_s"] == pytest.approx(expected_loops + (0.0 if cols == 7 else work))


def test_embedding_bag_takes_its_curve():
    # the op-suite family stands for the three aten ops: its dispatch (9 us) and
    # efficiency (0.25); other ops none
    ops = pd.DataFrame({"op": ["aten._embedding_bag", "aten.embedding_bag", "aten.embedding"], "dtype": ["fp32"] * 3})
    terms = curve_terms(ops, _record())
    assert terms.has.tolist() == [True, True, False]
    assert terms.dispatch_s.tolist() == pytest.approx([9e-6, 9e-6, 0.0])
    assert terms.base_efficiency[:2].tolist() == pytest.approx([0.25, 0.25])
    assert not curve_terms(ops, _older(_record())).has.any()


def test_embedding_bag_predicted_by_hand():
    from roofline.analysis import analyze

    # DLRM's lookup: one index from a [100000, 64] table, one bag: it reads one fp32 row
    # (64 x 4 = 256 B), its int64 index and offset (16 B): 272 B; its dispatch is the
    # curve's 9 us in place of the spec's per-op overhead
    table = torch.nn.Parameter(torch.randn(100000, 64))
    index, offsets = torch.randint(0, 100000, (1,)), torch.zeros(1, dtype=torch.long)
    spec, older = _spec(_record()), _spec(_older(_record()))
    with torch.no_grad():
        row = analyze(lambda w, i, o: torch.nn.functional.embedding_bag(i, w, o, mode="sum"),
                      (table, index, offsets), hw=spec).ops.iloc[0]
        before = analyze(lambda w, i, o: torch.nn.functional.embedding_bag(i, w, o, mode="sum"),
                         (table, index, offsets), hw=older).ops.iloc[0]
    assert row["op"] == "aten._embedding_bag" and row["bytes_read"] == 272
    assert row["overhead_s"] == pytest.approx(9e-6) and before["overhead_s"] == pytest.approx(older.overhead_s)
    assert row["predicted_s"] > before["predicted_s"]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 40), st.integers(1, 3000), st.sampled_from([1, 2]))
def test_index_add_time_grows_with_its_size(cols, indices, grow):
    # more indices never take less time; wider slices neither, within one kernel: ATen's
    # sorted path from 16 elements a slice is faster per index than the element-by-element
    # one at 8 to 15 (measured: 31 ns an index at 8 elements, 24 ns at 16, one thread), so
    # the time falls where the kernel changes, as it does on the CPU
    spec = _spec(_record())
    small = _index_add(spec, 500, cols, indices)["predicted_s"]
    assert _index_add(spec, 500, cols, indices * grow)["predicted_s"] >= small
    if (cols < 16) == (cols + grow < 16):
        assert _index_add(spec, 500, cols + grow, indices)["predicted_s"] >= small
