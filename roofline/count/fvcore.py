"""A second opinion on FLOPs: fvcore's FlopCountAnalysis (a torch.jit trace), with
roofline's formulas registered as handles for the ops fvcore has none for.

fvcore counts a multiply-add as ONE flop (MACs); roofline counts it as two. Every
figure here is fvcore's count x2 (FVCORE_SCALE), so it reads in roofline's units. For
the ops in OUR_HANDLES (attention, embeddings, matmul variants, softmax, pooling,
scatter-adds) fvcore is given roofline's own formula, returning FLOPs/2, so those count
the same in both; fvcore's own handles (conv, linear/addmm/matmul/bmm/einsum, norms,
adaptive average pooling, upsampling) stay fvcore's. Element-wise ops fvcore neither
counts nor ignores are listed in ``FvcoreCount.skipped``.

    a = roofline.analyze(model, inputs, counter="fvcore")
    a.peer_flops                 # fvcore total x2
    a.peer.by_operator           # fvcore's operators x2
    cross_check(a)               # per category: roofline vs fvcore x2, and their ratio

On traceable models GEMM and Conv agree exactly up to the bias adds roofline counts and
fvcore does not (one FLOP per output element of a biased linear or convolution). A
model torch.jit.trace cannot trace raises RooflineError.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import CONV, EMBEDDING, GEMM, OTHER, REGIONAL, SPARSE_MM
from roofline.count.registry import Cost, count
from roofline.errors import RooflineError

#: fvcore counts MACs; roofline counts a multiply-add as 2 FLOPs.
FVCORE_SCALE = 2

#: jit ops fvcore has no handle for, counted with roofline's formula (FLOPs / 2).
OUR_HANDLES: tuple[str, ...] = (
    "aten::scaled_dot_product_attention",
    "aten::embedding",
    "aten::embedding_bag",
    "aten::_embedding_bag",
    "aten::baddbmm",
    "aten::addbmm",
    "aten::addmv",
    "aten::mv",
    "aten::dot",
    "aten::softmax",
    "aten::log_softmax",
    "aten::_softmax",
    "aten::max_pool1d",
    "aten::max_pool2d",
    "aten::max_pool3d",
    "aten::avg_pool1d",
    "aten::avg_pool2d",
    "aten::avg_pool3d",
    "aten::adaptive_max_pool1d",
    "aten::adaptive_max_pool2d",
    "aten::adaptive_avg_pool1d",
    "aten::adaptive_avg_pool3d",
    "aten::rms_norm",
    "aten::index_add",
    "aten::index_add_",
    "aten::scatter_add",
    "aten::scatter_add_",
    "aten::scatter_reduce",
    "aten::scatter_reduce_",
)

#: Families cross_check compares: roofline categories, except that of the
#: element-wise ops only norms and softmax are compared (fvcore counts no activations).
NORM_SOFTMAX = "Norm/softmax"

#: fvcore operator name (its by_operator keys) -> family, for cross_check.
OPERATOR_FAMILY: dict[str, str] = {
    "conv": CONV,
    "addmm": GEMM,
    "linear": GEMM,
    "matmul": GEMM,
    "mm": GEMM,
    "bmm": GEMM,
    "einsum": GEMM,
    "baddbmm": GEMM,
    "addbmm": GEMM,
    "addmv": GEMM,
    "mv": GEMM,
    "dot": GEMM,
    "scaled_dot_product_attention": GEMM,
    "batch_norm": NORM_SOFTMAX,
    "group_norm": NORM_SOFTMAX,
    "layer_norm": NORM_SOFTMAX,
    "instance_norm": NORM_SOFTMAX,
    "rms_norm": NORM_SOFTMAX,
    "softmax": NORM_SOFTMAX,
    "_softmax": NORM_SOFTMAX,
    "log_softmax": NORM_SOFTMAX,
    "embedding": EMBEDDING,
    "embedding_bag": EMBEDDING,
    "_embedding_bag": EMBEDDING,
    "index_add": SPARSE_MM,
    "index_add_": SPARSE_MM,
    "scatter_add": SPARSE_MM,
    "scatter_add_": SPARSE_MM,
    "scatter_reduce": SPARSE_MM,
    "scatter_reduce_": SPARSE_MM,
    "upsample_nearest2d": REGIONAL,
    "upsample_bilinear2d": REGIONAL,
    "grid_sampler": OTHER,
}
for _pool in ("max_pool", "avg_pool", "adaptive_max_pool", "adaptive_avg_pool"):
    for _ndim in (1, 2, 3):
        OPERATOR_FAMILY[f"{_pool}{_ndim}d"] = REGIONAL

#: roofline op packets (Analysis.ops["op"]) in the Norm/softmax family.
NORM_SOFTMAX_OPS = frozenset(
    {
        "aten._native_batch_norm_legit_no_training",
        "aten._native_batch_norm_legit",
        "aten.native_batch_norm",
        "aten.batch_norm",
        "aten._batch_norm_impl_index",
        "aten.cudnn_batch_norm",
        "aten.miopen_batch_norm",
        "aten.native_layer_norm",
        "aten.layer_norm",
        "aten.native_group_norm",
        "aten.group_norm",
        "aten._fused_rms_norm",
        "aten.rms_norm",
        "aten._softmax",
        "aten._log_softmax",
        "aten.softmax",
        "aten.log_softmax",
        "aten._safe_softmax",
    }
)


def roofline_family(op: str, category: str) -> str | None:
    """The cross_check family of one roofline op row (None: not compared)."""
    if op in NORM_SOFTMAX_OPS:
        return NORM_SOFTMAX
    if category in (GEMM, CONV, EMBEDDING, SPARSE_MM, REGIONAL):
        return category
    return None


@dataclass
class FvcoreCount:
    """fvcore's count of one model, every figure x2 (FLOPs, a multiply-add = 2).

    total_flops: the whole model. by_operator: FLOPs per fvcore operator name ("conv",
    "linear", "scaled_dot_product_attention", ...). by_module: FLOPs per module path
    ("" is the whole model; a module's count includes its children's), in roofline's
    module naming. skipped: ops fvcore neither counted nor ignores -> how many calls.
    our_handles: the jit ops counted with roofline's formulas.
    """

    total_flops: float
    by_operator: pd.Series
    by_module: pd.Series
    skipped: dict[str, int] = field(default_factory=dict)
    our_handles: tuple[str, ...] = OUR_HANDLES

    def by_family(self) -> pd.Series:
        """FLOPs per cross_check family (operators with no mapping go to Other)."""
        families = self.by_operator.index.map(lambda op: OPERATOR_FAMILY.get(op, OTHER))
        return self.by_operator.groupby(families).sum()


# --------------------------------------------------------------------------- jit values


_SCALAR_TYPES: dict[str, torch.dtype] = {
    "Float": torch.float32,
    "Double": torch.float64,
    "Half": torch.float16,
    "BFloat16": torch.bfloat16,
    "Long": torch.int64,
    "Int": torch.int32,
    "Short": torch.int16,
    "Char": torch.int8,
    "Byte": torch.uint8,
    "Bool": torch.bool,
}


def _jit_info(value: Any) -> TensorInfo | None:
    """TensorInfo of a traced tensor value (None when it is not a complete tensor)."""
    if not value.isCompleteTensor():
        return None
    kind = value.type()
    shape = tuple(kind.sizes())
    strides = kind.strides()
    dtype = _SCALAR_TYPES.get(str(kind.scalarType()), torch.float32)
    device = kind.device()
    return TensorInfo(shape, dtype, tuple(strides) if strides is not None else None, "strided", device.type if device else "cpu")


def _jit_arg(value: Any) -> Any:
    """A traced argument as the counter's formulas expect it: TensorInfo for a tensor,
    the constant's value, a list for a constructed list (kernel sizes, strides)."""
    info = _jit_info(value)
    if info is not None:
        return info
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        return [_jit_arg(item) for item in node.inputs()]
    try:
        return value.toIValue()
    except RuntimeError:
        return None


def _overload(node: Any) -> Any:
    """The torch OpOverload a jit node calls (from its schema), or None."""
    try:
        schema = node.schema()
    except RuntimeError:
        return None
    name = schema.split("(", 1)[0]  # "aten::embedding_bag.padding_idx"
    namespace, _, rest = name.partition("::")
    packet_name, _, overload = rest.partition(".")
    try:
        packet = getattr(getattr(torch.ops, namespace), packet_name)
        return getattr(packet, overload or "default")
    except AttributeError:
        return None


def roofline_handle(inputs: list, outputs: list) -> float:
    """An fvcore handle that counts a jit node with roofline's formula, in MACs (FLOPs/2)."""

    node = outputs[0].node()
    func = _overload(node)
    op = str(func) if func is not None else node.kind().replace("::", ".")
    args = tuple(_jit_arg(v) for v in inputs)
    infos: list[TensorInfo] = []
    for arg in args:
        if isinstance(arg, TensorInfo) and all(arg is not seen for seen in infos):
            infos.append(arg)
    outs = tuple(info for info in (_jit_info(v) for v in outputs) if info is not None)
    record = OpRecord(0, op, "", "", args, {}, tuple(infos), outs, func)
    cost = count(record)
    if not isinstance(cost, Cost):
        raise RooflineError(f"fvcore: roofline has no formula for {node.kind()} ({cost.reason})")
    return float(cost.flops) / FVCORE_SCALE


# --------------------------------------------------------------------------- counting


class _KeywordCall(torch.nn.Module):
    """Calls a model with keyword inputs from positional ones, so jit can trace it."""

    def __init__(self, model: torch.nn.Module, keys: list[str]):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, *values: Any) -> Any:
        return self.model(**dict(zip(self.keys, values)))


def _module_name(name: str, wrapped: bool) -> str:
    if not wrapped:
        return name
    if name == "model":
        return ""
    return name.removeprefix("model.")


def fvcore_count(model: Any, inputs: Any = (), name: str | None = None) -> FvcoreCount:
    """Count ``model(*inputs)`` with fvcore (x2), roofline formulas filling its gaps.

    Raises RooflineError when the model is not an nn.Module or jit cannot trace it.
    """
    label = name or type(model).__name__
    if not isinstance(model, torch.nn.Module):
        raise RooflineError(f"{label}: counter='fvcore' needs an nn.Module (fvcore traces modules), got {type(model).__name__}")
    wrapped = isinstance(inputs, dict)
    if wrapped:
        model, inputs = _KeywordCall(model, list(inputs)), tuple(inputs.values())
    elif isinstance(inputs, list):
        inputs = tuple(inputs)
    elif not isinstance(inputs, tuple):
        inputs = (inputs,)
    logger = logging.getLogger("fvcore")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        # fvcore and the tracer warn about every skipped op and traced branch; the
        # skipped ops are reported in FvcoreCount.skipped instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis  # its import runs torch.jit.script (deprecated)

            analysis = FlopCountAnalysis(model, inputs)
            analysis.set_op_handle(**{op: roofline_handle for op in OUR_HANDLES})
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            total = analysis.total()
            by_operator = analysis.by_operator()
            by_module = analysis.by_module()
            skipped = analysis.unsupported_ops()
    except RooflineError:
        raise
    except ImportError as exc:
        raise RooflineError(f"{label}: counter='fvcore' needs the fvcore package ({exc})") from exc
    except Exception as exc:
        on_meta = any(isinstance(t, torch.Tensor) and t.is_meta for t in inputs)
        hint = " (inputs are meta tensors, which jit cannot trace through every op: try meta=False)" if on_meta else ""
        raise RooflineError(
            f"{label}: fvcore cannot count this model: torch.jit.trace failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}){hint}; use counter='roofline'"
        ) from exc
    finally:
        logger.setLevel(previous)
    operators = pd.Series({op: FVCORE_SCALE * float(n) for op, n in by_operator.items()}, dtype=float, name="fvcore_flops")
    modules = pd.Series(
        {_module_name(mod, wrapped): FVCORE_SCALE * float(n) for mod, n in by_module.items() if not (wrapped and mod == "")},
        dtype=float,
        name="fvcore_flops",
    )
    operators.index.name = "operator"
    modules.index.name = "module"
    return FvcoreCount(FVCORE_SCALE * float(total), operators, modules, dict(skipped))


def cross_check(analysis: Any) -> pd.DataFrame:
    """Roofline's FLOPs beside fvcore's (x2) per family, for an Analysis made with
    counter="fvcore".

    Families: GEMM, Conv, Embedding, Sparse MM, Regional (roofline's categories) and
    Norm/softmax (norm and softmax ops only: fvcore counts no other element-wise op, so
    activations and additions are left out of both sides). Columns roofline_flops,
    fvcore_flops, ratio (fvcore / roofline); rows: every family either side counted,
    then Total over those rows.
    """
    peer = getattr(analysis, "peer", None)
    if not isinstance(peer, FvcoreCount):
        raise RooflineError(f"{analysis.name}: no fvcore count; run analyze(..., counter='fvcore')")
    ops = analysis.ops
    families = [roofline_family(op, category) for op, category in zip(ops["op"], ops["category"])]
    ours = ops.assign(family=families).dropna(subset=["family"]).groupby("family")["flops"].sum()
    theirs = peer.by_family()
    table = pd.DataFrame({"roofline_flops": ours, "fvcore_flops": theirs}).fillna(0.0)
    table = table[(table["roofline_flops"] > 0) | (table["fvcore_flops"] > 0)]
    table.loc["Total"] = table.sum()
    table["ratio"] = table["fvcore_flops"] / table["roofline_flops"].where(table["roofline_flops"] > 0)
    table.index.name = "family"
    return table
