"""roofline.calibrate.issue: the issue rates fitted from timings worked out by hand, and
the kernels timed on a GPU when there is one."""

import pandas as pd
import pytest
import torch

from roofline.calibrate.issue import ISSUE_MARGIN, fit_issue_rates, measure_cuda_issue

SMS, CLOCK_HZ, BANDWIDTH = 100, 1.5e9, 2e12  # 150 G SM clocks a second, 2 TB/s


def timing(kind, elements, bytes_, seconds):
    return {"kind": kind, "elements": elements, "bytes": bytes_, "measured_s": seconds}


def test_an_issue_bound_row_gives_its_rate():
    # 2^26 strided elements (6 bytes each: 402.7 MB, 201 us at 2 TB/s) measured in 500 us
    # after a 10 us offset: 2^26 / (490e-6 x 150e9) = 0.913 elements per SM per clock
    rows = pd.DataFrame([timing("strided", 2 ** 26, 6 * 2 ** 26, 500e-6)])
    rates = fit_issue_rates(rows, sms=SMS, clock_hz=CLOCK_HZ, bandwidth=BANDWIDTH, offset_s=10e-6)
    assert rates == {"strided_elements_per_clock": pytest.approx(2 ** 26 / (490e-6 * 150e9), abs=1e-3)}


def test_the_median_of_the_issue_bound_rows_and_none_at_the_memory_roof():
    bytes_ = 8 * 2 ** 26  # 536.9 MB: 268 us at 2 TB/s
    rows = pd.DataFrame([
        timing("gather", 2 ** 26, bytes_, 800e-6), timing("gather", 2 ** 26, bytes_, 900e-6),
        timing("gather", 2 ** 26, bytes_, 1000e-6),
        # a strided row at its bytes' time (the memory roof): its rate is not seen
        timing("strided", 2 ** 26, bytes_, 1.1 * bytes_ / BANDWIDTH),
    ])
    assert 1.1 < ISSUE_MARGIN
    rates = fit_issue_rates(rows, sms=SMS, clock_hz=CLOCK_HZ, bandwidth=BANDWIDTH)
    assert rates == {"gather_elements_per_clock": pytest.approx(2 ** 26 / (900e-6 * 150e9), abs=1e-3)}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_kernels_are_timed_on_a_gpu():
    from roofline.measure.timing import timer_for

    rows = measure_cuda_issue("cuda", timer_for("cuda"), "quick", 3, 1e-3)
    assert set(rows["kind"]) == {"strided", "gather"} and (rows["measured_s"] > 0).all()
