"""Fit each op family's time-vs-size curve (roofline.efficiency.cpu) to the op suite.

The suite times every op at several sizes, from a few thousand elements (one thread,
mostly dispatch) to a million (all threads, mostly work). Per op, the curve

    seconds = dispatch_s + work_s x threads / threads_used(elements) / efficiency

is linear in (dispatch_s, 1 / efficiency), so a least-squares fit on relative residuals
(each size weighs alike, whatever its time) gives both; efficiency is held to (0, 1]
and dispatch_s to >= 0, the other refitted when one is held. Only the suite's
microbenchmarks are fitted: no model's measurement enters a curve.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from roofline.efficiency.cpu import GRAIN_ELEMENTS, threads_used

__all__ = ["MIN_CURVE_EFFICIENCY", "fit_curve", "fit_curves"]

#: The least efficiency a curve may have (a kernel at 0.1% of the roofline is a
#: measurement gone wrong rather than a kernel).
MIN_CURVE_EFFICIENCY = 1e-3


def fit_curve(work_s: np.ndarray, seconds: np.ndarray, elements: np.ndarray, threads: int,
              grain: int = GRAIN_ELEMENTS) -> tuple[float, float, float]:
    """(dispatch_s, efficiency, spread) of one op's points: roofline ``work_s`` (s, all
    threads, efficiency 1), measured ``seconds`` and ``elements`` per size. spread is the
    largest |measured - curve| / measured."""
    work_s, seconds, elements = (np.asarray(v, dtype=float) for v in (work_s, seconds, elements))
    x = work_s * float(max(threads, 1)) / threads_used(elements, threads, grain)
    weight = 1.0 / seconds
    design = np.column_stack([np.ones_like(x), x]) * weight[:, None]
    (dispatch, inverse), *_ = np.linalg.lstsq(design, seconds * weight, rcond=None)
    if dispatch < 0:  # no dispatch at all: the work alone, through the origin
        dispatch, inverse = 0.0, float(np.sum(weight**2 * x * seconds) / np.sum((weight * x) ** 2))
    if inverse < 1.0 or not math.isfinite(inverse):  # faster than the roofline: efficiency 1
        inverse = 1.0
        dispatch = max(float(np.sum(weight**2 * (seconds - x)) / np.sum(weight**2)), 0.0)
    efficiency = float(np.clip(1.0 / inverse, MIN_CURVE_EFFICIENCY, 1.0))
    predicted = dispatch + x / efficiency
    spread = float(np.max(np.abs(seconds - predicted) / seconds))
    return float(dispatch), efficiency, spread


def fit_curves(suite: pd.DataFrame, threads: int) -> pd.DataFrame:
    """One curve per op of the op suite (roofline.calibrate.suite.measure_op_suite's rows:
    op, kernel_elements, work_s, seconds): columns op, dispatch_s, efficiency, spread. Ops with
    no work counted at any size are left out."""
    rows = []
    for op, points in suite.groupby("op", sort=False):
        points = points[points["work_s"] > 0]
        if points.empty:
            continue
        dispatch, efficiency, spread = fit_curve(points["work_s"], points["seconds"], points["kernel_elements"], threads)
        rows.append({"op": op, "dispatch_s": dispatch, "efficiency": efficiency, "spread": spread})
    return pd.DataFrame(rows, columns=["op", "dispatch_s", "efficiency", "spread"])
