"""From a captured step to its time on one spec under one serving setup.

The captured ops are re-costed in the frame, before prediction, then predicted by the
ordinary time model (roofline.predict through Analysis):

* Routed experts (MoE). transformers' grouped-GEMM experts multiply only the routed
  (token, expert) rows, so their FLOPs are already the active work; but the op reads
  every expert's weights. A kernel reads only the experts some token picked: with T
  tokens each picking k of E experts uniformly, E x (1 - (1 - k/E)^T) of them on
  average. The weight bytes of each grouped GEMM are scaled by that over E.
* Quantized weights (weight-only: int8, int4, fp8). The parameter bytes of every GEMM
  (param_bytes: Linear and expert matrices; embeddings and norms stay in the compute
  dtype) are rescaled to the stored width (int8 and fp8 1 byte, int4 0.5). The GEMM
  still computes in the compute dtype (W8A16 / W4A16 kernels), and the weights are
  dequantized inside it: DEQUANT_FLOPS_PER_ELEMENT vector FLOPs per weight element read
  (convert and scale), a separate, not overlapped term (an upper bound: a fused kernel
  hides part of it under the loads). fp8 weights on a spec with an fp8 matrix peak run
  as fp8 GEMMs instead (W8A8, per-tensor scales folded into the epilogue): the GEMM rows
  take the fp8 peak and no dequantize pass is added.
* Quantized KV cache (int8, fp8): the K and V bytes fused attention reads
  (kv_read_bytes) and the cache writes (kv_write_bytes) at 1 byte an element, and a
  dequantize pass over the elements read, as for weights.
* Tensor parallel over t devices (Megatron): every op inside a layer's attention or MLP
  block, and the LM head, is split t ways (FLOPs, bytes and the elements an issue-bound
  kernel computes / t; K/V bytes split over
  min(t, kv_heads) devices, the heads being replicated past that); norms, residual adds
  and embeddings run replicated. Each layer all-reduces its activations twice
  (tokens x hidden, in the compute dtype) with a ring over the spec's interconnect
  (roofline.tools.parallel.ring_allreduce_s), not overlapped with compute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from roofline.count.categories import GEMM
from roofline.dtypes import KEY_ITEMSIZE, item_sizes
from roofline.efficiency import GATHER_COLUMN, STRIDED_COLUMN
from roofline.errors import RooflineError
from roofline.hardware import HardwareSpec
from roofline.predict import COMPUTE_BOUND, ISSUE_BOUND, MEMORY_BOUND, OVERHEAD_BOUND
from roofline.tools.llm.capture import Step
from roofline.tools.llm.models import LlmModel

__all__ = [
    "DEQUANT_FLOPS_PER_ELEMENT", "KV_FORMATS", "WEIGHT_FORMATS", "Serving", "StepTime", "expected_experts_hit",
    "quantize_kv", "quantize_weights", "route_experts", "shard", "step_time",
]

#: Stored width of each quantized weight format, bytes per element.
WEIGHT_FORMATS: dict[str, float] = {"int8": KEY_ITEMSIZE["int8"], "int4": KEY_ITEMSIZE["int4"], "fp8": KEY_ITEMSIZE["fp8"]}
#: Stored width of each quantized KV-cache format, bytes per element.
KV_FORMATS: dict[str, float] = {"int8": KEY_ITEMSIZE["int8"], "fp8": KEY_ITEMSIZE["fp8"]}
#: Vector FLOPs to dequantize one element (convert to the compute dtype, multiply by its
#: scale). An assumption, stated: int4 unpacking and zero points add a little more.
DEQUANT_FLOPS_PER_ELEMENT = 2.0
#: What bounds a step whose all-reduces take longer than any group of its ops.
INTERCONNECT_BOUND = "interconnect"
_GROUPED_GEMMS = frozenset({"aten._grouped_mm", "aten._scaled_grouped_mm", "aten._scaled_grouped_mm_v2"})
_LAYER_BLOCK = re.compile(r"(^|\.)\d+\.(?P<block>[^.]+)")


@dataclass(frozen=True)
class Serving:
    """How the model is served: weights and KV-cache formats (None: the compute dtype),
    tensor-parallel degree, and a per-op launch overhead in seconds (None: the spec's,
    i.e. eager PyTorch; 0 for a decode loop replayed as one CUDA graph)."""

    weights: str | None = None
    kv: str | None = None
    tp: int = 1
    op_overhead_s: float | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and self.weights not in WEIGHT_FORMATS:
            raise RooflineError(f"weights {self.weights!r}: expected one of {', '.join(WEIGHT_FORMATS)}")
        if self.kv is not None and self.kv not in KV_FORMATS:
            raise RooflineError(f"kv {self.kv!r}: expected one of {', '.join(KV_FORMATS)}")
        if self.tp < 1:
            raise RooflineError(f"tp {self.tp}: expected a positive number of devices")
        if self.op_overhead_s is not None and self.op_overhead_s < 0:
            raise RooflineError(f"op overhead {self.op_overhead_s} s: expected a time >= 0")


def _with_bytes(frame: pd.DataFrame, bytes_read: np.ndarray, bytes_written: np.ndarray) -> pd.DataFrame:
    """The frame with new bytes_read and bytes_written, bytes and intensity recomputed."""
    total = bytes_read + bytes_written
    flops = frame["flops"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(total > 0, flops / total, np.nan)
    return frame.assign(bytes_read=bytes_read, bytes_written=bytes_written, bytes=total, intensity=intensity)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return np.nan_to_num(frame[name].to_numpy(dtype=float))


def expected_experts_hit(tokens: int, experts: int, top_k: int) -> float:
    """Experts at least one of ``tokens`` tokens routes to, on average, when each picks
    ``top_k`` of ``experts`` uniformly: E x (1 - (1 - k/E)^T)."""
    if experts <= 0 or top_k <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def route_experts(frame: pd.DataFrame, tokens: int, model: LlmModel) -> pd.DataFrame:
    """Grouped expert GEMMs read only the experts hit (expected_experts_hit) of ``tokens``."""
    if not model.experts:
        return frame
    grouped = frame["op"].isin(_GROUPED_GEMMS).to_numpy()
    fraction = expected_experts_hit(tokens, model.experts, model.top_k) / model.experts
    params = _column(frame, "param_bytes")
    saved = np.where(grouped, params * (1.0 - fraction), 0.0)
    out = _with_bytes(frame, _column(frame, "bytes_read") - saved, _column(frame, "bytes_written"))
    return out.assign(param_bytes=params - saved)


def quantize_weights(frame: pd.DataFrame, weights: str | None, hw: HardwareSpec) -> pd.DataFrame:
    """GEMM weights at their stored width; fp8 GEMMs on specs with an fp8 matrix peak.
    Adds dequant_elements (weight elements to dequantize per op)."""
    frame = frame.assign(dequant_elements=0.0)
    if weights is None:
        return frame
    gemm = (frame["category"] == GEMM).to_numpy() & (_column(frame, "param_bytes") > 0)
    itemsize = item_sizes(frame["dtype"])
    params = _column(frame, "param_bytes")
    stored = np.where(gemm, params / itemsize * WEIGHT_FORMATS[weights], params)
    out = _with_bytes(frame, _column(frame, "bytes_read") - params + stored, _column(frame, "bytes_written"))
    out = out.assign(param_bytes=stored)
    if weights == "fp8" and "fp8" in hw.matrix_flops:
        return out.assign(dtype=np.where(gemm, "fp8", out["dtype"].to_numpy(dtype=object)))
    return out.assign(dequant_elements=np.where(gemm, params / itemsize, 0.0))


def quantize_kv(frame: pd.DataFrame, kv: str | None) -> pd.DataFrame:
    """Cache reads and writes at the KV format's width, and the elements read added to
    dequant_elements (needs the column, from quantize_weights)."""
    if kv is None:
        return frame
    itemsize = item_sizes(frame["dtype"])
    read, written = _column(frame, "kv_read_bytes"), _column(frame, "kv_write_bytes")
    ratio = KV_FORMATS[kv] / itemsize
    out = _with_bytes(frame, _column(frame, "bytes_read") - read * (1 - ratio),
                      _column(frame, "bytes_written") - written * (1 - ratio))
    return out.assign(kv_read_bytes=read * ratio, kv_write_bytes=written * ratio,
                      dequant_elements=_column(frame, "dequant_elements") + read / itemsize)


def sharded_rows(frame: pd.DataFrame) -> np.ndarray:
    """Ops a Megatron tensor split divides: inside a layer's attention or MLP block (the
    module path's part after the layer index, not a norm), and the LM head."""
    def split(module: str) -> bool:
        found = _LAYER_BLOCK.search(module or "")
        if found is not None:
            block = found.group("block").lower()
            return "norm" not in block and not block.startswith("ln")
        return (module or "").split(".")[-1] == "lm_head"

    return frame["module"].map(split).to_numpy(dtype=bool)


def shard(frame: pd.DataFrame, tp: int, model: LlmModel) -> pd.DataFrame:
    """One device's share of a step split ``tp`` ways (see the module docstring)."""
    if tp == 1:
        return frame
    if model.heads % tp:
        raise RooflineError(f"{model.name}: {model.heads} attention heads do not split over {tp} devices")
    rows = sharded_rows(frame)
    kv_split = min(tp, model.kv_heads)
    out = frame.copy()
    for name in ("flops", "param_bytes", "dequant_elements", STRIDED_COLUMN, GATHER_COLUMN):
        out[name] = np.where(rows, _column(frame, name) / tp, _column(frame, name))
    for total, kv in (("bytes_read", "kv_read_bytes"), ("bytes_written", "kv_write_bytes")):
        values, kv_bytes = _column(frame, total), _column(frame, kv)
        out[total] = np.where(rows, (values - kv_bytes) / tp + kv_bytes / kv_split, values)
        out[kv] = np.where(rows, kv_bytes / kv_split, kv_bytes)
    out["gemm_n"] = np.where(rows, frame["gemm_n"].to_numpy(dtype=float) / tp, frame["gemm_n"].to_numpy(dtype=float))
    return _with_bytes(out, out["bytes_read"].to_numpy(dtype=float), out["bytes_written"].to_numpy(dtype=float))


@dataclass(frozen=True)
class StepTime:
    """One step on one device of the serving setup (all devices run in step), seconds.

    compute_s, memory_s, overhead_s: predicted time of the ops each term bounds (the
    dequantize pass and issue-bound kernels count as compute); dequant_s and allreduce_s are included in
    ``seconds`` and listed apart. bound: the largest of compute, memory, overhead and
    interconnect (the all-reduces). activation_bytes: the largest working set of one op
    that is neither weights nor KV cache (its inputs and outputs, live together), bytes
    per device. analysis: the re-costed ops predicted on the spec, per device.
    """

    seconds: float
    bound: str
    compute_s: float
    memory_s: float
    overhead_s: float
    dequant_s: float
    allreduce_s: float
    activation_bytes: float
    analysis: object

    @property
    def compute_share(self) -> float:
        """Fraction of the step spent in compute-bound work."""
        return self.compute_s / self.seconds if self.seconds else 0.0


def cost_frame(step: Step, model: LlmModel, hw: HardwareSpec, serving: Serving) -> pd.DataFrame:
    """The step's captured ops re-costed for the serving setup, per device (see module docstring)."""
    frame = route_experts(step.analysis.counted, step.tokens, model)
    frame = quantize_kv(quantize_weights(frame, serving.weights, hw), serving.kv)
    return shard(frame, serving.tp, model)


def allreduce_s(step: Step, model: LlmModel, hw: HardwareSpec, tp: int, itemsize: float) -> float:
    """Two ring all-reduces per layer of tokens x hidden activations, seconds (0 for tp 1)."""
    if tp == 1:
        return 0.0
    from roofline.tools.parallel import group_link, ring_allreduce_s

    link = group_link(hw, tp, 1)
    nbytes = step.tokens * model.hidden * itemsize
    return 2 * model.layers * ring_allreduce_s(nbytes, tp, link.bandwidth, link.latency)


def step_time(step: Step, model: LlmModel, hw: HardwareSpec, serving: Serving, dtype_key: str) -> StepTime:
    """Predict one step on ``hw`` under ``serving``; ``dtype_key`` is the compute dtype ("bf16")."""
    spec = hw if serving.op_overhead_s is None else replace(hw, overhead_s=serving.op_overhead_s)
    frame = cost_frame(step, model, spec, serving)
    # the weights one device holds, for specs that tell cached weights from streamed ones
    captured = float(step.analysis.counted["param_bytes"].sum())
    resident = step.analysis.resident_bytes * (float(frame["param_bytes"].sum()) / captured if captured else 1.0)
    analysis = replace(step.analysis, hw=spec, counted=frame, resident_bytes=resident)
    ops = analysis.ops
    by_bound = ops.groupby("bound")["predicted_s"].sum()
    vector_rate = spec.peak_flops(dtype_key, "vector") * spec.efficiency.vector
    dequant = float(frame["dequant_elements"].sum()) * DEQUANT_FLOPS_PER_ELEMENT / vector_rate
    reduce_s = allreduce_s(step, model, spec, serving.tp, KEY_ITEMSIZE[dtype_key])
    groups = {
        # an issue-bound kernel is held by its SMs, as a compute-bound one is
        COMPUTE_BOUND: float(by_bound.get(COMPUTE_BOUND, 0.0) + by_bound.get(ISSUE_BOUND, 0.0)) + dequant,
        MEMORY_BOUND: float(by_bound.get(MEMORY_BOUND, 0.0)),
        OVERHEAD_BOUND: float(by_bound.get(OVERHEAD_BOUND, 0.0)),
        INTERCONNECT_BOUND: reduce_s,
    }
    supported = ops["supported"].to_numpy(dtype=bool)
    activation = (_column(ops, "bytes") - _column(ops, "param_bytes") - _column(ops, "kv_read_bytes")
                  - _column(ops, "kv_write_bytes"))
    return StepTime(
        seconds=float(ops["predicted_s"].sum()) + dequant + reduce_s,
        bound=max(groups, key=groups.get),
        compute_s=groups[COMPUTE_BOUND], memory_s=groups[MEMORY_BOUND], overhead_s=groups[OVERHEAD_BOUND],
        dequant_s=dequant, allreduce_s=reduce_s,
        activation_bytes=float(activation[supported].max(initial=0.0)),
        analysis=analysis,
    )
