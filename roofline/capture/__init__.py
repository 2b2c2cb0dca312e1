"""Capture: a model and example inputs in, one OpRecord per aten op it runs out (op, module
path, argument shapes, dtypes and devices; real, fake, meta or symbolic-shape tensors).
records.py holds the data (TensorInfo, OpRecord), mode.py the dispatch mode that records
and its public hooks (run_op, on_record, module_path), meta.py the routing that makes
captures record what eager runs (fused attention, transformer fast paths, real or meta),
inputs.py the one path that casts, moves and copies model inputs, training.py the
capture of a whole training step, symbolic.py the capture with symbolic sizes and
replay.py the recording of a repeated layer once. This package may import
roofline.errors, units, dtypes, _io and torch; never count, hardware, predict or any
later stage.
"""

from roofline.capture.meta import EagerPaths, FusedAttentionOnMeta
from roofline.capture.mode import CaptureMode, ModuleStack, active_capture, call_model, capture, uncompiled
from roofline.capture.records import (
    OpRecord,
    TensorInfo,
    make_record,
    op_name,
    persistent_bytes,
    persistent_storages,
    tensor_info,
)

__all__ = [
    "CaptureMode",
    "EagerPaths",
    "FusedAttentionOnMeta",
    "ModuleStack",
    "OpRecord",
    "TensorInfo",
    "active_capture",
    "call_model",
    "capture",
    "make_record",
    "op_name",
    "persistent_bytes",
    "persistent_storages",
    "tensor_info",
    "uncompiled",
]
