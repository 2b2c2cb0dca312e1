"""roofline.calibrate.bench: interleaved rounds keep each row's fastest round and its spread."""

import pandas as pd
import pytest

from roofline.calibrate.bench import fastest_rows, interleaved_rounds


def test_fastest_rows_keeps_the_fastest_and_the_spread():
    frame = pd.DataFrame({"op": ["a", "b", "a", "b"], "seconds": [2.0, 1.0, 1.0, 1.25], "rate": [1, 2, 3, 4]})
    best = fastest_rows(frame, ["op"])
    assert best["op"].tolist() == ["a", "b"]
    assert best["rate"].tolist() == [3, 2]  # the row of the fastest round, its derived columns with it
    assert best["spread"].tolist() == pytest.approx([1.0, 0.25])  # 2/1 - 1, 1.25/1 - 1


def test_rounds_interleave_the_probes():
    order = []

    def probe(name, seconds):
        def run():
            order.append(name)
            return pd.DataFrame({"key": [name], "seconds": [seconds.pop(0)]})
        return run

    result = interleaved_rounds({"x": probe("x", [3.0, 1.0, 2.0]), "y": probe("y", [1.0, 1.0, 1.1])},
                                {"x": ["key"], "y": ["key"]}, rounds=3)
    assert order == ["x", "y", "x", "y", "x", "y"]
    assert result["x"]["seconds"].tolist() == [1.0] and result["x"]["spread"].tolist() == pytest.approx([2.0])
    assert result["y"]["spread"].tolist() == pytest.approx([0.1])
