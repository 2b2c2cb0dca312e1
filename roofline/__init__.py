"""roofline: roofline and operational-intensity modeling for PyTorch workloads.

    import roofline
    a = roofline.analyze(model, inputs, hw="h100-sxm")
    a.ops, a.by_category(), a.by_module(), a.unsupported

The package is the pipeline of DESIGN.md, one subpackage a stage:
capture -> count -> hardware -> predict -> analysis -> measure / calibrate -> report,
with tools (sweep, closed forms, parallel plans, validate, fvcore) and the cli on top.
This module re-exports the public API only.
"""

import sys as _sys

from roofline.analysis import Analysis, analyze
from roofline.capture import OpRecord, TensorInfo, capture
from roofline.tools.closed_form import ClosedForm, crossover, formula
from roofline.count.categories import CATEGORIES
from roofline.errors import HardwareSpecError, RooflineError, TargetError, UnsupportedOpError
from roofline.hardware import HardwareSpec, list_hardware, load_hardware
from roofline.measure import Measurement, compare_trace, measure
from roofline.count.registry import Cost, count, register
from roofline.count.python_ops import RuleEngine, symbolic_op
from roofline.count import categories as _categories

# ``roofline.categories`` was a top-level module before the count/ package: the same module
# under its old name, so ``from roofline.categories import GEMM`` keeps working.
_sys.modules.setdefault("roofline.categories", _categories)


def __getattr__(name: str):
    # ``from roofline import plot`` (the figures), ``roofline.sweep`` and ``roofline.llm``
    # without importing matplotlib, sympy or the LLM tools on ``import roofline``: loaded
    # on first use.
    if name == "plot":
        from roofline.report import plot

        return plot
    if name == "sweep":
        from roofline.tools.sweep import sweep

        return sweep
    if name == "llm":
        from roofline.tools.llm import llm

        return llm
    raise AttributeError(f"module 'roofline' has no attribute {name!r}")

__all__ = [
    "Analysis",
    "CATEGORIES",
    "ClosedForm",
    "Cost",
    "HardwareSpec",
    "HardwareSpecError",
    "OpRecord",
    "RuleEngine",
    "RooflineError",
    "TargetError",
    "TensorInfo",
    "UnsupportedOpError",
    "Measurement",
    "measure",
    "analyze",
    "capture",
    "compare_trace",
    "count",
    "crossover",
    "formula",
    "list_hardware",
    "llm",
    "load_hardware",
    "register",
    "sweep",
    "symbolic_op",
]
