"""roofline.efficiency.cpu's short inner loops: loops of a few elements run element by
element and pay a start each. Expected values are worked out by hand in the comments."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.efficiency.cpu import LoopTerms, loop_terms, short_loop_s, vector_bytes
from roofline.hardware import CalibrationRecord, LoopCost, OpCurve, SuiteOp


def _terms(step, element_s=1e-9, loop_s=3e-9, n=1):
    return LoopTerms(np.full(n, element_s), np.full(n, loop_s), np.full(n, float(step)))


@pytest.mark.parametrize("isa, expected", [("AVX512 (amx_bf16)", 64), ("AVX2", 32), ("DEFAULT", 16), (None, 16)])
def test_vector_bytes(isa, expected):
    assert vector_bytes(isa) == expected


def test_short_loops_by_hand():
    # 100 loops of 6, a step of 16 (two AVX2 vectors of fp32): all 6 run one by one:
    # 100 x (3 ns + 6 x 1 ns) = 900 ns, every element scalar
    seconds, scalar = short_loop_s(np.array([100.0]), np.array([6.0]), _terms(16), threads=1)
    assert seconds[0] == pytest.approx(900e-9) and scalar[0] == pytest.approx(1.0)
    # 100 loops of 40: two whole steps (32) vectorized, the tail of 8 scalar:
    # 100 x (3 + 8 x 1) = 1100 ns, 8 / 40 = 0.2 of the elements scalar
    seconds, scalar = short_loop_s(np.array([100.0]), np.array([40.0]), _terms(16), threads=1)
    assert seconds[0] == pytest.approx(1100e-9) and scalar[0] == pytest.approx(0.2)
    # 20000 loops of 6 = 120000 elements on 2 threads: 120000 / 32768 = 3.66 grains,
    # both threads: 20000 x 9 ns / 2 = 90 us
    seconds, _ = short_loop_s(np.array([20000.0]), np.array([6.0]), _terms(16), threads=2)
    assert seconds[0] == pytest.approx(90e-6)
    # no loop nest (NaN): nothing
    seconds, scalar = short_loop_s(np.array([np.nan]), np.array([np.nan]), _terms(16), threads=1)
    assert seconds[0] == 0.0 and scalar[0] == 0.0


@given(st.integers(1, 10**6), st.integers(1, 4096), st.sampled_from([4, 8, 16, 32, 64]))
def test_short_loops_grow_with_loops_and_stay_a_fraction(loops, inner, step):
    terms = _terms(step)
    seconds, scalar = short_loop_s(np.array([loops, 2 * loops], dtype=float), np.array([inner, inner], dtype=float),
                                   LoopTerms(*(np.repeat(a, 2) for a in (terms.element_s, terms.loop_s,
                                                                         terms.step_elements))), threads=1)
    assert seconds[1] >= seconds[0] > 0
    assert 0.0 <= scalar[0] <= 1.0 and scalar[0] == scalar[1]


def _record(**kw):
    return CalibrationRecord(device="cpu", threads=1, isa="AVX2",
                             op_suite_ops=(SuiteOp("add", ("aten.add",)), SuiteOp("mul", ("aten.mul",)),
                                           SuiteOp("sum", ("aten.sum",))),
                             op_curves=(OpCurve("add", 3e-6, 0.8, 0.05),),
                             loop_costs=(LoopCost("add", 1e-9, 3e-9), LoopCost("mul", 3e-9, 5e-9),
                                         LoopCost("sum", 2e-9, 8e-9)), **kw)


def test_loop_terms_by_family():
    ops = pd.DataFrame({"op": ["aten.add", "aten.sum", "aten.gt", "aten.add"], "dtype": ["fp32", "fp32", "fp32", "bf16"]})
    terms = loop_terms(ops, _record())
    # add and sum their own; gt, outside the families, the median of the element-wise
    # families (add 1/3 ns, mul 3/5 ns -> 2 and 4 ns; sum is a reduction, left out)
    assert terms.element_s.tolist() == pytest.approx([1e-9, 2e-9, 2e-9, 1e-9])
    assert terms.loop_s.tolist() == pytest.approx([3e-9, 8e-9, 4e-9, 3e-9])
    # steps on AVX2 (32 B): element-wise 2 x 32 / 4 = 16 fp32, reduction 4 x 32 / 4 = 32,
    # bf16 element-wise 2 x 32 / 2 = 32
    assert terms.step_elements.tolist() == [16, 32, 16, 32]


def test_loop_terms_of_a_kernel_variant():
    # an index_select running its strided kernel takes the family "index_select@strided"
    # where calibrate measured one (2 ns per element, 70 ns per loop), its own family
    # otherwise; every element of a strided copy is scalar (an infinite step)
    record = dataclasses.replace(
        _record(), op_suite_ops=(*_record().op_suite_ops, SuiteOp("index_select", ("aten.index_select",)),
                                 SuiteOp("index_select@strided", ("aten.index_select@strided",))),
        loop_costs=(*_record().loop_costs, LoopCost("index_select", 0.0, 6e-9),
                    LoopCost("index_select@strided", 2e-9, 70e-9)))
    ops = pd.DataFrame({"op": ["aten.index_select", "aten.index_select", "aten.sum"], "dtype": ["fp32"] * 3,
                        "loop_kernel": ["strided", "", "outer"]})
    terms = loop_terms(ops, record)
    # sum@outer is not measured here: the sum family's own 2 / 8 ns
    assert terms.element_s.tolist() == pytest.approx([2e-9, 0.0, 2e-9])
    assert terms.loop_s.tolist() == pytest.approx([70e-9, 6e-9, 8e-9])
    # steps: strided inf; a slice copy 1 x 32 / 4 = 8 fp32; an outer reduction 4 x 32 / 4 = 32
    assert terms.step_elements.tolist() == [np.inf, 8, 32]
    # on a record without the strided family, the strided copy steps unlike index_select's
    # memcpy of slices: the element-wise median (add 1/3 ns, mul 3/5 ns -> 2 and 4 ns)
    older = dataclasses.replace(record, loop_costs=record.loop_costs[:-1])
    assert loop_terms(ops.iloc[:1], older).element_s.tolist() == pytest.approx([2e-9])
    assert loop_terms(ops.iloc[:1], older).loop_s.tolist() == pytest.approx([4e-9])
    # QuWeiT's 4608 indices of 197-element slices: 4608 x (70 ns + 197 x 2 ns) = 2.138 ms,
    # every element scalar
    seconds, scalar = short_loop_s(np.array([4608.0]), np.array([197.0]), dataclasses.replace(
        terms, element_s=terms.element_s[:1], loop_s=terms.loop_s[:1], step_elements=terms.step_elements[:1]),
        threads=1)
    assert seconds[0] == pytest.approx(4608 * (70e-9 + 197 * 2e-9)) and scalar[0] == 1.0


def test_no_loop_terms_without_costs_or_on_a_gpu():
    ops = pd.DataFrame({"op": ["aten.add"], "dtype": ["fp32"]})
    assert loop_terms(ops, None).loop_s.tolist() == [0.0]
    assert loop_terms(ops, CalibrationRecord(device="cpu")).loop_s.tolist() == [0.0]
    assert loop_terms(ops, dataclasses.replace(_record(), device="cuda")).loop_s.tolist() == [0.0]


def test_predictions_charge_short_loops_by_hand():
    from roofline.analysis import analyze
    from roofline.hardware import Efficiency, MemoryLevel, load_hardware

    local = load_hardware(Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml")
    spec = dataclasses.replace(local, memory=(MemoryLevel("l2", 100e9, 1e6), MemoryLevel("dram", 10e9, 1e10)),
                               vector_flops={"fp32": 1e10}, efficiency=Efficiency(0.5, 0.5, 0.5),
                               measured=dataclasses.replace(_record(), memory_level="working_set"))
    without = dataclasses.replace(spec, measured=dataclasses.replace(spec.measured, loop_costs=()))
    x, w = torch.randn(1000, 6), torch.randn(6)
    # x[1000, 6] + w[6]: 1000 loops of 6, all scalar (step 16): their roofline work is
    # replaced by 1000 x (3 ns + 6 x 1 ns) = 9 us; dispatch 3 us either way
    with_loops = analyze(torch.add, (x, w), hw=spec).ops.iloc[0]
    plain = analyze(torch.add, (x, w), hw=without).ops.iloc[0]
    assert with_loops["overhead_s"] == plain["overhead_s"] == pytest.approx(3e-6)
    assert with_loops["kernel_s"] == pytest.approx(9e-6)
    # a contiguous add of 6000: one loop of 6000 (6000 = 375 steps of 16, no tail): one
    # loop start (3 ns) on top of the roofline work
    y = torch.randn(6000)
    long_loop = analyze(torch.add, (y, y), hw=spec).ops.iloc[0]
    assert long_loop["kernel_s"] == pytest.approx(analyze(torch.add, (y, y), hw=without).ops.iloc[0]["kernel_s"] + 3e-9)


def _strided_spec():
    from roofline.hardware import load_hardware

    local = load_hardware(Path(__file__).resolve().parents[2] / "hw_specs" / "local-cpu.yaml")
    record = dataclasses.replace(
        _record(), memory_level="working_set",
        op_suite_ops=(*_record().op_suite_ops, SuiteOp("index_select", ("aten.index_select",)),
                      SuiteOp("index_select@strided", ("aten.index_select@strided",)),
                      SuiteOp("amax", ("aten.amax",)), SuiteOp("amax@outer", ("aten.amax@outer",))),
        loop_costs=(*_record().loop_costs, LoopCost("index_select", 0.0, 6e-9),
                    LoopCost("index_select@strided", 2e-9, 70e-9), LoopCost("amax", 1.7e-9, 0.0),
                    LoopCost("amax@outer", 3.2e-9, 0.6e-9)))
    return dataclasses.replace(local, measured=record)


def test_strided_index_select_and_outer_reduction_predicted_by_hand():
    from roofline.analysis import analyze

    spec = _strided_spec()
    without = dataclasses.replace(spec, measured=dataclasses.replace(spec.measured, loop_costs=()))
    # [1, 40, 300].index_select(-1, 500 indices): 500 strided copies of 40 elements, every
    # element scalar: 500 x (70 ns + 40 x 2 ns) = 75 us replace the roofline work
    x, index = torch.randn(1, 40, 300), torch.randint(0, 300, (500,))
    row = analyze(lambda t, i: t.index_select(-1, i), (x, index), hw=spec).ops.iloc[0]
    assert row["kernel_s"] == pytest.approx(500 * (70e-9 + 40 * 2e-9))
    # amax over dim 1 of [4, 30, 6]: 4 x 30 = 120 loops of 6 (< a 32-element step), the
    # outer kernel's 120 x 0.6 ns + 720 x 3.2 ns = 2.376 us; its dispatch as without loops
    y = torch.randn(4, 30, 6)
    outer = analyze(lambda t: t.amax(1), (y,), hw=spec).ops.iloc[0]
    plain = analyze(lambda t: t.amax(1), (y,), hw=without).ops.iloc[0]
    assert outer["kernel_s"] == pytest.approx(120 * 0.6e-9 + 720 * 3.2e-9)
    assert outer["overhead_s"] == plain["overhead_s"]
    # over the last dim, the rows' own family: amax costs 1.7 ns per element and nothing
    # per loop, and is charged alone as well: 120 rows of 6 -> 720 x 1.7 ns = 1.224 us
    rows = analyze(lambda t: t.amax(-1), (y,), hw=spec).ops.iloc[0]
    assert rows["kernel_s"] == pytest.approx(720 * 1.7e-9)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 64), st.integers(1, 400), st.integers(1, 3))
def test_strided_index_select_time_grows_with_its_size(rows, indices, grow):
    # more indices or longer slices never take less time (each index a copy of the slice)
    from roofline.analysis import analyze

    spec = _strided_spec()

    def predicted(r, n):
        x, index = torch.randn(1, r, 50), torch.zeros(n, dtype=torch.long)
        return analyze(lambda t, i: t.index_select(-1, i), (x, index), hw=spec).ops["predicted_s"].sum()

    base = predicted(rows, indices)
    assert predicted(rows * (grow + 1), indices) >= base
    assert predicted(rows, indices * (grow + 1)) >= base
