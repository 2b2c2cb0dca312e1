"""CPU cats of strided inputs (the "copy" loop kernel) on a calibrated spec: every slice
and element at the costs calibrate measured for the family cat@copy, the pages of a
fresh output on top. Expected values are worked out by hand in the comments; a record
without the family predicts as before (as the serial kernel's slices)."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from roofline.efficiency.cpu import loop_terms
from roofline.hardware import CalibrationRecord, FreshWrite, LoopCost, SuiteOp

_FAMILIES = (SuiteOp("add", ("aten.add",)), SuiteOp("mul", ("aten.mul",)), SuiteOp("cat", ("aten.cat",)),
             SuiteOp("cat@copy", ("aten.cat@copy", "aten.clone@copy", "aten.copy_@copy")))


def _record(**kw):
    return CalibrationRecord(device="cpu", threads=1, isa="AVX2", memory_level="working_set", op_suite_ops=_FAMILIES,
                             loop_costs=(LoopCost("add", 1e-9, 3e-9), LoopCost("mul", 3e-9, 5e-9),
                                         LoopCost("cat", 0.5e-9, 1.5e-9), LoopCost("cat@copy", 0.5e-9, 2e-9)), **kw)


def _older(record):
    """The record as a calibration from before the cat@copy family."""
    return dataclasses.replace(record, op_suite_ops=tuple(s for s in record.op_suite_ops if s.name != "cat@copy"),
                               loop_costs=tuple(c for c in record.loop_costs if c.op != "cat@copy"))


def _spec(record):
    from roofline.hardware import load_hardware

    local = load_hardware(Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml")
    return dataclasses.replace(local, measured=record)


def _cat_row(spec, strided: bool, n: int = 10, c: int = 6):
    from roofline.analysis import analyze

    x = torch.randn(1, n, n, c)
    second = x.permute(0, 2, 1, 3) if strided else x.clone()
    with torch.no_grad():
        ops = analyze(lambda a, b: torch.cat([a, b], -1), (x, second), hw=spec).ops
    return ops[ops["op"] == "aten.cat"].iloc[0]


def test_copy_kernel_terms_and_fallback():
    ops = pd.DataFrame({"op": ["aten.cat", "aten.clone", "aten.cat"], "dtype": ["fp32"] * 3,
                        "loop_kernel": ["copy", "copy", ""]})
    # with the family: the cat and the clone take its costs, every element at element_s
    # (an infinite step); the serial cat its own family's, a step of 1 x 32 B / 4 = 8 fp32
    terms = loop_terms(ops, _record())
    assert terms.element_s.tolist() == pytest.approx([0.5e-9, 0.5e-9, 0.5e-9])
    assert terms.loop_s.tolist() == pytest.approx([2e-9, 2e-9, 1.5e-9])
    assert terms.step_elements.tolist() == [np.inf, np.inf, 8]
    # without it: each op as its usual kernel (the cat's family for cats, a step of 8;
    # the clone the element-wise median of add and mul, (1 + 3) / 2 = 2 ns and (3 + 5) / 2
    # = 4 ns, a step of 2 x 32 B / 4 = 16 fp32)
    terms = loop_terms(ops, _older(_record()))
    assert terms.element_s.tolist() == pytest.approx([0.5e-9, 2e-9, 0.5e-9])
    assert terms.loop_s.tolist() == pytest.approx([1.5e-9, 4e-9, 1.5e-9])
    assert terms.step_elements.tolist() == [8, 16, 8]


def test_strided_cat_predicted_by_hand():
    spec = _spec(_record())
    # cat([x, x.permute(0, 2, 1, 3)], -1) of x [1, 10, 10, 6]: two copies of 100 slices of
    # 6, every element at the family's costs: 200 x 2 ns + 1200 x 0.5 ns = 0.4 + 0.6 = 1.0 us
    row = _cat_row(spec, strided=True)
    assert row["loop_kernel"] == "copy"
    assert row["kernel_s"] == pytest.approx(200 * 2e-9 + 1200 * 0.5e-9)


def test_a_record_without_the_family_predicts_as_before():
    # on an older record the strided cat is the serial kernel's cat: the same bytes and
    # the same 200 slices of 6, so the same prediction as the cat of two contiguous inputs
    older = _spec(_older(_record()))
    strided, contiguous = _cat_row(older, strided=True), _cat_row(older, strided=False)
    assert strided["loop_kernel"] == "copy" and contiguous["loop_kernel"] == ""
    for column in ("kernel_s", "overhead_s", "predicted_s", "bytes_read", "bytes_written"):
        assert strided[column] == pytest.approx(contiguous[column]), column
    # and the contiguous cat takes the serial kernel's costs whether or not the record
    # has the family
    assert _cat_row(_spec(_record()), strided=False)["kernel_s"] == pytest.approx(contiguous["kernel_s"])


def test_fresh_output_pages_stay_on_top_of_the_copy():
    # a fresh-write record: outputs of 1 MB or more fault their pages in at 4 GB/s. The cat
    # of x [1, 64, 64, 64] and its transpose writes 2 x 64^3 x 4 B = 2,097,152 B: fresh,
    # 2,097,152 / 4e9 = 524.288 us on top of 2 x 4096 slices x 2 ns + 2 x 262144 elements x
    # 0.5 ns = 16.384 + 262.144 = 278.528 us
    spec = _spec(_record(fresh_write=FreshWrite(1e6, 4e9)))
    row = _cat_row(spec, strided=True, n=64, c=64)
    assert row["bytes_written"] == 2_097_152
    assert row["kernel_s"] == pytest.approx(2 * 4096 * 2e-9 + 2 * 262144 * 0.5e-9 + 2_097_152 / 4e9)


def test_a_copy_never_beats_its_roofline():
    # with per-slice and per-element costs of a femtosecond, the loop model says ~0: the
    # copy still moves its bytes (x [1, 64, 64, 64] and its transpose: 2 MB read, 2 MB
    # written) at the rate of the memory level holding them, the roofline's memory time
    spec = _spec(dataclasses.replace(_record(), loop_costs=(LoopCost("cat@copy", 1e-15, 1e-15),)))
    row = _cat_row(spec, strided=True, n=64, c=64)
    assert row["memory_s"] > 1e-6
    assert row["kernel_s"] == pytest.approx(max(row["memory_s"], row["compute_s"]))
