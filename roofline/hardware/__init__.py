"""Hardware specs: YAML files in hw_specs/ (or anywhere), validated once on load into frozen
dataclasses in SI units, and written back exactly. spec.py holds the types (HardwareSpec
and the CalibrationRecord a calibration leaves in it), schema.py the YAML shape, checks.py
the parsing and plausibility checks, io.py reading, listing and writing files. This
package is a stage of its own: it may import roofline.errors, roofline.units,
roofline.dtypes and roofline._io only, never capture, count, predict or calibrate.

    spec = load_hardware("h100-sxm")          # a packaged spec, by name or alias
    spec.peak_flops("bf16", "matrix")         # 9.89e14 FLOP/s
"""

from roofline.dtypes import DTYPES, dtype_key
from roofline.hardware.checks import (
    MAX_BANDWIDTH,
    MAX_CAPACITY,
    MAX_LINK_LATENCY,
    MAX_OVERHEAD,
    MAX_PEAK,
    MAX_RIDGE,
    MIN_BANDWIDTH,
    MIN_CAPACITY,
    MIN_PEAK,
    SPARSE_RATIO,
)
from roofline.hardware.io import list_hardware, load_hardware, spec_to_yaml, write_hardware
from roofline.hardware.spec import (
    DRAM,
    GEMM_CLASSES,
    MATRIX,
    MEMORY_LEVELS,
    MEMORY_MODES,
    UNITS,
    VECTOR,
    WORKING_SET,
    CalibrationRecord,
    CurvePoint,
    Efficiency,
    FreshWrite,
    GemmRate,
    HardwareSpec,
    Interconnect,
    KernelModel,
    LayerFraction,
    LevelFit,
    Link,
    MemoryLevel,
    OpSeconds,
    Plateau,
    SuiteOp,
    SuiteRow,
    VectorRate,
)

__all__ = [
    "DTYPES",
    "MEMORY_LEVELS",
    "MemoryLevel",
    "Efficiency",
    "HardwareSpec",
    "Interconnect",
    "KernelModel",
    "GEMM_CLASSES",
    "Link",
    "CalibrationRecord",
    "CurvePoint",
    "FreshWrite",
    "GemmRate",
    "LayerFraction",
    "LevelFit",
    "OpSeconds",
    "Plateau",
    "SuiteOp",
    "SuiteRow",
    "VectorRate",
    "DRAM",
    "MATRIX",
    "VECTOR",
    "UNITS",
    "WORKING_SET",
    "MEMORY_MODES",
    "SPARSE_RATIO",
    "MAX_BANDWIDTH",
    "MAX_CAPACITY",
    "MAX_LINK_LATENCY",
    "MAX_OVERHEAD",
    "MAX_PEAK",
    "MAX_RIDGE",
    "MIN_BANDWIDTH",
    "MIN_CAPACITY",
    "MIN_PEAK",
    "dtype_key",
    "load_hardware",
    "list_hardware",
    "spec_to_yaml",
    "write_hardware",
]
