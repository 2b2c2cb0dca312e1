"""roofline.efficiency.memory: a kernel's start-up, then its bytes at the sustained rate."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roofline.efficiency.memory import half_bandwidth_bytes, stream_time_s


def test_a_ramped_copy_by_hand():
    # 1 MB at 1.5 TB/s reached at 80%, after 10 us: 10 us + 1e6 / 1.2e12 s = 10.8333 us.
    assert abs(stream_time_s(1e6, 1.5e12, efficiency=0.8, latency_s=10e-6) - 10.8333333e-6) < 1e-12


def test_half_the_bandwidth_at_the_latency_bandwidth_product():
    bandwidth, latency = 1.5e12, 10e-6
    nbytes = half_bandwidth_bytes(bandwidth, latency)  # 15 MB
    attained = nbytes / stream_time_s(nbytes, bandwidth, latency_s=latency)
    assert nbytes == pytest.approx(15e6) and attained == pytest.approx(bandwidth / 2)


def test_no_bytes_no_start_up():
    assert stream_time_s(np.array([0.0, 8.0]), 1e9, latency_s=1e-6).tolist() == [0.0, 1e-6 + 8e-9]


@given(a=st.floats(1, 1e12), b=st.floats(1, 1e12))
def test_time_grows_with_bytes_and_bandwidth_never_passes_the_peak(a, b):
    small, large = sorted((a, b))
    t_small, t_large = stream_time_s(np.array([small, large]), 2e12, efficiency=0.9, latency_s=5e-6)
    assert t_small <= t_large
    assert large / t_large <= 0.9 * 2e12 * (1 + 1e-12)
