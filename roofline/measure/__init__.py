"""Measure: run the same ops analyze() counts for real, time them, and compare the times
with the predictions. timing.py holds the one timer for the package (Timer, CudaTimer,
ThreadTimer, timer_for, time_callable), per_op.py the CaptureMode that times every op
through capture's public hooks, profiled.py per-op times from torch.profiler spans, run.py measure() and Measurement (the timed passes and
the whole-forward and profiler cross-checks), compare.py the join of a Measurement with
an Analysis and its error metrics, trace.py the per-op times of a torch.profiler trace
taken anywhere and profile.py its join with an Analysis (compare_trace). This package may import roofline.capture, count's
types, errors and _io; never report, cli or tools.

    m = roofline.measure(model, inputs)                  # CPU: perf_counter
    m = roofline.measure(model, inputs, device="cuda")   # CUDA events + synchronize
    c = roofline.measure.compare_trace(analysis, "trace.json")  # a profiler trace, any device
"""

from roofline.measure.per_op import OpTiming, OpTimingMode
from roofline.measure.profile import compare_trace
from roofline.measure.run import MEASURE_COLUMNS, METHODS, Measurement, measure
from roofline.measure.timing import CLOCKS, CudaTimer, ThreadTimer, Timer, time_callable, timer_for

__all__ = [
    "CLOCKS",
    "METHODS",
    "MEASURE_COLUMNS",
    "CudaTimer",
    "Measurement",
    "OpTiming",
    "OpTimingMode",
    "ThreadTimer",
    "compare_trace",
    "Timer",
    "measure",
    "time_callable",
    "timer_for",
]
