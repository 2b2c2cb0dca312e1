"""count: OpRecord -> Cost. Its job: say what each captured op costs, independent of
hardware (FLOPs, bytes read and written, category, compute unit).

- registry: the table of formulas (one small pure function per aten op, keyed by the
  op's name), ``register`` to add one, ``count`` to look one up and apply it;
- categories: the operator taxonomy of the seed paper's Table III;
- formulas/: the built-in formula families, one file per family (imported here, so
  every built-in formula is registered whatever part of roofline.count is imported
  first);
- components: ops on strided nested tensors, counted one component at a time;
- python_ops: plain-Python symbolic ops (``symbolic_op``) and the rule engine.

May import: roofline.errors, roofline.units, roofline.dtypes, roofline.capture (for the
OpRecord and TensorInfo types and active_capture only). Never hardware, predict or
anything later in the pipeline.
"""

from roofline.count import components, formulas  # noqa: F401  (registers every built-in formula)
from roofline.count.formulas._common import compulsory_bytes
from roofline.count.registry import Cost, Unsupported, count, register

__all__ = ["Cost", "Unsupported", "compulsory_bytes", "count", "register"]
