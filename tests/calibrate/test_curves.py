"""roofline.calibrate.curves: fitting an op family's curve to its suite points. The points
are made by hand from known parameters; the fit must give them back."""

import pandas as pd
import pytest

from roofline.calibrate.curves import MIN_CURVE_EFFICIENCY, fit_curve, fit_curves


def test_fit_recovers_hand_made_points():
    # dispatch 5 us, efficiency 0.5, 2 threads:
    #   4096 elements (1 thread), work 1 us  -> 5 + 1 * 2 / 0.5 = 9 us
    #   65536 elements (2 threads), work 4 us -> 5 + 4 / 0.5 = 13 us
    #   1M elements (2 threads), work 60 us   -> 5 + 60 / 0.5 = 125 us
    dispatch, efficiency, spread = fit_curve([1e-6, 4e-6, 60e-6], [9e-6, 13e-6, 125e-6], [4096, 65536, 2**20], 2)
    assert dispatch == pytest.approx(5e-6, rel=1e-6)
    assert efficiency == pytest.approx(0.5, rel=1e-6)
    assert spread == pytest.approx(0.0, abs=1e-9)


def test_points_faster_than_the_roofline_give_efficiency_one():
    # measured 9 and 91 us for 10 and 100 us of roofline work: the free fit's slope,
    # (91 - 9) / 90 = 0.91 < 1, would beat the roofline; efficiency is held at 1 and the
    # dispatch refitted: seconds - work = -1 and -9 us, negative -> held at 0
    dispatch, efficiency, _ = fit_curve([10e-6, 100e-6], [9e-6, 91e-6], [2**20, 2**22], 1)
    assert efficiency == 1.0 and dispatch == 0.0


def test_no_dispatch_is_held_at_zero():
    # work 1 and 2 us at efficiency 0.25 would take 4 and 8 us; measured 3.9 and 8 us
    # (a negative intercept): dispatch 0, efficiency from the slope through the origin
    dispatch, efficiency, _ = fit_curve([1e-6, 2e-6], [3.9e-6, 8e-6], [2**20, 2**21], 1)
    assert dispatch == 0.0
    assert 0.24 < efficiency < 0.26 and efficiency >= MIN_CURVE_EFFICIENCY


def test_fit_curves_one_row_per_op_and_skips_ops_without_work():
    suite = pd.DataFrame({
        "op": ["add", "add", "view", "view"],
        "kernel_elements": [65536, 2**20, 65536, 2**20],
        "work_s": [4e-6, 60e-6, 0.0, 0.0],
        "seconds": [13e-6, 125e-6, 1e-6, 1e-6],
    })
    curves = fit_curves(suite, 2)
    assert curves["op"].tolist() == ["add"]
    # two points, two unknowns: 13 = d + 4/e, 125 = d + 60/e -> 1/e = 112/56 = 2, d = 5 us
    assert curves.loc[0, "dispatch_s"] == pytest.approx(5e-6) and curves.loc[0, "efficiency"] == pytest.approx(0.5)


def test_curve_efficiency_is_the_median_of_the_curves_with_that_bound():
    from roofline.calibrate.fit import curve_efficiency

    # bound read at each op's largest size: add and exp memory-bound, gelu compute-bound
    suite = pd.DataFrame({"op": ["add", "add", "exp", "gelu"], "elements": [4096, 2**20, 2**20, 2**20],
                          "bound": ["compute", "memory", "memory", "compute"]})
    curves = pd.DataFrame({"op": ["add", "exp", "gelu"], "efficiency": [0.9, 0.1, 0.2]})
    assert curve_efficiency(curves, suite, "memory", 1.0) == pytest.approx(0.5)  # median(0.9, 0.1)
    assert curve_efficiency(curves, suite, "compute", 1.0) == pytest.approx(0.2)
    assert curve_efficiency(curves.iloc[:0], suite, "memory", 0.7) == 0.7  # no curves: the fallback
