"""count: OpRecord -> Cost. The formula registry (one small pure function per aten op,
keyed by the op's name), the operator categories of the seed paper's Table III, the
formula families in formulas/ (one file per family) and plain-Python symbolic ops
(python_ops: ``symbolic_op``, the rule engine).

May import: roofline.errors, roofline.units, roofline.dtypes, roofline.capture (for the
OpRecord and TensorInfo types only). Never hardware, predict or anything later.
"""

from roofline.count.registry import Cost, Unsupported, count, register

__all__ = ["Cost", "Unsupported", "count", "register"]
