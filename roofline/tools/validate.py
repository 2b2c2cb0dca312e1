"""The analyse + measure + compare pipeline behind ``roofline validate``, and its
trace form behind ``roofline validate --profile`` (validate_trace)."""

from __future__ import annotations

from typing import Any

from roofline.measure.compare import Comparison, compare

__all__ = ["validate", "validate_trace"]


def validate(
    model: Any,
    inputs: Any = (),
    *,
    hw: Any,
    device: str | None = None,
    dtype: Any = None,
    name: str | None = None,
    progress: bool = False,
    **measure_options: Any,
) -> tuple[Any, Any, Comparison]:
    """Analyse, measure and compare one model: returns (analysis, measurement, comparison).

    The model is cast to ``dtype`` and moved to ``device`` once, then analysed and
    measured as is, so both runs see the same model. ``measure_options`` go to measure().
    """
    import torch

    from roofline.analysis import analyze
    from roofline.capture.inputs import cast_inputs
    from roofline.dtypes import parse_dtype
    from roofline.measure import measure, timer_for

    if device is not None:
        timer_for(device)  # a device this machine lacks fails here, as a RooflineError
    torch_dtype = parse_dtype(dtype)
    if isinstance(model, torch.nn.Module):
        model = model.to(device=device, dtype=torch_dtype)

    inputs = cast_inputs(inputs, torch_dtype, device)
    analysis = analyze(model, inputs, hw=hw, name=name)
    measurement = measure(model, inputs, name=analysis.name, progress=progress, **measure_options)
    return analysis, measurement, compare(analysis, measurement)


def validate_trace(analysis: Any, path: Any) -> Comparison:
    """Compare an Analysis with a torch.profiler Chrome trace of the same model taken on
    any device (roofline.measure.profile.compare_trace): the GPU predictions of a model
    checked against a trace from a GPU, on a machine without one."""
    from roofline.measure.profile import compare_trace

    return compare_trace(analysis, path)
