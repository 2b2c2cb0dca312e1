"""roofline: roofline and operational-intensity modeling for PyTorch workloads.

    import roofline
    a = roofline.analyze(model, inputs, hw="h100-sxm")
    a.ops, a.by_category(), a.by_module(), a.unsupported
"""

from roofline.analysis import Analysis, analyze
from roofline.capture import OpRecord, TensorInfo, capture
from roofline.closed_form import ClosedForm, crossover, formula
from roofline.categories import CATEGORIES
from roofline.errors import HardwareSpecError, RooflineError, TargetError, UnsupportedOpError
from roofline.hardware import HardwareSpec, list_hardware, load_hardware
from roofline.measure import Measurement, measure
from roofline.registry import Cost, count, register
from roofline.symbolic import RuleEngine, symbolic_op

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
    "count",
    "crossover",
    "formula",
    "list_hardware",
    "load_hardware",
    "register",
    "symbolic_op",
]
