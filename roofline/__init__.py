"""roofline: roofline and operational-intensity modeling for PyTorch workloads.

    import roofline
    a = roofline.analyze(model, inputs, hw="h100-sxm")
    a.ops, a.by_category(), a.by_module(), a.unsupported
"""

from roofline.analysis import Analysis, analyze
from roofline.capture import OpRecord, TensorInfo, capture
from roofline.categories import CATEGORIES
from roofline.errors import HardwareSpecError, RooflineError, TargetError, UnsupportedOpError
from roofline.hardware import HardwareSpec, list_hardware, load_hardware
from roofline.registry import Cost, count, register

__all__ = [
    "Analysis",
    "CATEGORIES",
    "Cost",
    "HardwareSpec",
    "HardwareSpecError",
    "OpRecord",
    "RooflineError",
    "TargetError",
    "TensorInfo",
    "UnsupportedOpError",
    "analyze",
    "capture",
    "count",
    "list_hardware",
    "load_hardware",
    "register",
]
