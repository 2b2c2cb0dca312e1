"""benchmarks/machine_noise.py's statistics on hand-made series."""

import numpy as np

from . import load_benchmark


def test_window_minima_by_hand():
    noise = load_benchmark("machine_noise")
    values = np.array([5.0, 3.0, 4.0, 9.0, 1.0, 2.0, 7.0])
    # windows of 3: [5, 3, 4] -> 3, [9, 1, 2] -> 1; the last, incomplete one dropped
    assert noise.window_minima(values, 3).tolist() == [3.0, 1.0]


def test_fastest_of_rounds_replays_calibrates_estimator():
    noise = load_benchmark("machine_noise")
    values = np.array([4.0, 9.0, 2.0, 8.0, 6.0, 7.0, 5.0])
    # 2 rounds 3 samples apart, from each start with room: min(4, 8), min(9, 6), min(2, 7), min(8, 5)
    assert noise.fastest_of_rounds(values, 2, 3).tolist() == [4.0, 6.0, 2.0, 5.0]
    # one round: every sample is its own estimate
    assert noise.fastest_of_rounds(values, 1, 3).tolist() == values.tolist()


def test_decorrelation_lag_of_a_slow_and_an_alternating_series():
    noise = load_benchmark("machine_noise")
    # blocks of 10 equal samples, alternating high and low: neighbours agree up to lag ~5
    slow = np.repeat(np.tile([1.0, 2.0], 10), 10)
    # each sample is 1.5 +- 0.5: of the 200 - k pairs k apart, the k straddling each of the
    # 19 block boundaries differ (product -0.25), the rest agree (+0.25); over the variance
    # sum 200 x 0.25 the lag-k correlation is (200 - k - 2 x 19k) / 200 = (200 - 39k) / 200:
    # k = 4 gives 0.22, k = 5 gives 0.025, the first under 0.2
    assert noise.decorrelation_lag(slow) == 5
    alternating = np.tile([1.0, 2.0], 50)  # lag 1: correlation -1
    assert noise.decorrelation_lag(alternating) == 1
