"""The analyse + measure + compare pipeline behind ``roofline validate``."""

from __future__ import annotations

from typing import Any

from roofline.measure.compare import Comparison, compare

__all__ = ["validate"]


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
