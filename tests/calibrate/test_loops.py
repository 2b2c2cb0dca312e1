"""roofline.calibrate.loops: each family's short-loop costs, fitted on its two loop
lengths. The fit must recover costs a synthetic table was made from."""

import numpy as np
import pandas as pd
import pytest

from roofline.calibrate.loops import (
    LOOP_LENGTHS,
    SHORT_LOOP_ELEMENTS,
    fit_loop_costs,
    loop_cases,
    loop_suite,
)
from roofline.count.loops import loop_shape
from roofline.efficiency.cpu import threads_used


def _table(op, element_s, loop_s, dispatch_s, threads, lengths=(2, 6)):
    rows = []
    for inner in lengths:
        loops = SHORT_LOOP_ELEMENTS // inner
        elements = loops * inner
        used = threads_used(np.array([elements], dtype=float), threads)[0]
        rows.append({"op": op, "inner": inner, "loops": loops, "elements": elements,
                     "seconds": dispatch_s + (loops * loop_s + elements * element_s) / used, "spread": 0.0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("threads", [1, 2])
def test_fit_recovers_known_costs(threads):
    table = pd.concat([_table("add", 0.8e-9, 3e-9, 4e-6, threads), _table("cat", 1.2e-9, 6e-9, 2e-6, threads, (1, 4))])
    curves = pd.DataFrame({"op": ["add", "cat"], "dispatch_s": [4e-6, 2e-6], "efficiency": [0.9, 0.9],
                           "spread": [0.0, 0.0]})
    fitted = fit_loop_costs(table, curves, threads).set_index("op")
    assert fitted.loc["add", "element_s"] == pytest.approx(0.8e-9)
    assert fitted.loc["add", "loop_s"] == pytest.approx(3e-9)
    assert fitted.loc["cat", "element_s"] == pytest.approx(1.2e-9)
    assert fitted.loc["cat", "loop_s"] == pytest.approx(6e-9)


def test_fit_holds_costs_at_zero():
    # times that fall faster than 1 / inner would need a negative element cost: the
    # loops alone then carry the time (65536 / 2 x l + 65536 / 6 x l fitted by least squares)
    table = _table("add", 0.0, 3e-9, 0.0, 1)
    table.loc[table["inner"] == 6, "seconds"] *= 0.5
    fitted = fit_loop_costs(table, pd.DataFrame(columns=["op", "dispatch_s", "efficiency", "spread"]), 1).iloc[0]
    assert fitted["element_s"] == 0.0 and fitted["loop_s"] > 0


def test_the_suite_cases_run_the_loops_they_say():
    # every case's op, captured, has the loop nest the suite times it as
    from roofline.capture import capture

    cases = loop_cases("cpu", 4096)
    assert {case[1] for case in cases} == {inner for lengths in LOOP_LENGTHS.values() for inner in lengths}
    # index_add_ at both of each kernel's lengths: element by element on slices of 2 and 6,
    # sorted on 16 and 64 (from 16 elements a slice, ATen's scatter_add sorts)
    assert sorted((name, inner) for name, inner, *_ in cases if name.startswith("index_add")) == \
        [("index_add@scatter", 2), ("index_add@scatter", 6), ("index_add@sorted", 16), ("index_add@sorted", 64)]
    for name, inner, fn, args, loops in cases:
        records = [r for r in capture(fn, args)[0] if loop_shape(r) is not None]
        assert records, name
        shape = loop_shape(records[-1])
        assert (shape.loops, shape.inner) == (loops, inner), (name, inner)
        # a kernel variant's family ("amax@outer") runs that kernel, the others their own
        assert shape.kernel == (name.split("@")[1] if "@" in name else ""), name


def test_every_loop_family_resolves_to_aten_ops():
    # each family the short-loop suite times names the aten ops (or op@kernel keys) it
    # stands for, so that the record's op_suite_ops carries them
    from roofline.calibrate.suite import suite_ops

    names = list(loop_suite("cpu", 4096, 2))
    assert [s.name for s in suite_ops(names)] == names
    assert suite_ops(["amax@outer"])[0].aten_ops == ("aten.amax@outer", "aten.amin@outer")
    assert suite_ops(["index_add@sorted"])[0].aten_ops == ("aten.index_add_@sorted", "aten.index_add@sorted")
    assert suite_ops(["cat@copy"])[0].aten_ops == ("aten.cat@copy", "aten.clone@copy", "aten.copy_@copy")


def test_the_copy_case_by_hand():
    # cat@copy at slices of 16: a square source of about 2**20 fp32, side sqrt(2**20 / 16)
    # = 256; two inputs of 256 x 256 slices each: 131072 loops of 16; at 64: side
    # sqrt(2**14) = 128, 2 x 16384 = 32768 loops
    cases = {(name, inner): (args, loops) for name, inner, _, args, loops in loop_cases("cpu", 4096)
             if name == "cat@copy"}
    (x,), loops = cases[("cat@copy", 16)]
    assert tuple(x.shape) == (1, 256, 256, 16) and loops == 131072
    (x,), loops = cases[("cat@copy", 64)]
    assert tuple(x.shape) == (1, 128, 128, 64) and loops == 32768
