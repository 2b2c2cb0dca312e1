"""analyze(): capture -> count -> predict, and the Analysis result object.

An Analysis holds the captured ops (hardware-independent: FLOPs, bytes, category) and
their prediction on one spec. ``with_hw`` re-predicts on another spec from the stored
ops, without running the model again.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from roofline.capture import OpRecord, capture
from roofline.capture.inputs import cast_inputs
from roofline.count.categories import CATEGORIES
from roofline.errors import RooflineError, UnsupportedOpError
from roofline.dtypes import dtype_key, parse_dtype
from roofline.efficiency import GEMM_COLUMNS
from roofline.hardware import HardwareSpec, load_hardware
from roofline.predict import Tf32Policy, predict_frame
from roofline.count import compulsory_bytes
from roofline.count.registry import Cost, GemmShape, Unsupported, count

#: Columns of Analysis.ops that do not depend on the hardware spec.
COUNT_COLUMNS = (
    "op",
    "module",
    "module_type",
    "category",
    "flops",
    "bytes_read",
    "bytes_written",
    "bytes",
    "param_bytes",
    "intensity",
    "unit",
    "dtype",
    "traffic",
    "shapes",
    "supported",
    "reason",
    # The matrix product behind a matmul's or convolution's FLOPs (NaN for other ops):
    # what the efficiency stage tiles.
    *GEMM_COLUMNS,
)

#: Columns of Analysis.unsupported (see there).
UNSUPPORTED_COLUMNS = (
    "op", "count", "predicted_s", "share", "reason", "time_basis", "bytes_estimate", "estimated_s", "estimated_share",
)

#: Where each op ran, two ways: ``module`` (in COUNT_COLUMNS) is the running module's
#: qualified name, its first in model.named_modules(), so a module shared by two parents
#: is filed under its first name; ``caller`` is the path the call took (fvcore's "caller"
#: view: a shared Linear is "a.proj" when block a calls it, "b.proj" when b does).
#: count_frame adds it after COUNT_COLUMNS; a frame built without it uses ``module``.
CALLER_COLUMN = "caller"

DEFAULT_HW = "h100-sxm"


def count_frame(records: list[OpRecord]) -> pd.DataFrame:
    """One row per captured op with its hardware-independent cost.

    Unsupported ops keep their row with NaN FLOPs and bytes and the reason.
    param_bytes is the part of bytes_read that reads the model's parameters and buffers
    (the model's distinct parameter and buffer bytes are Analysis.resident_bytes).
    """
    rows: dict[str, list[Any]] = {name: [] for name in COUNT_COLUMNS}
    dtype_keys: dict[Any, str] = {None: "fp32"}  # dtype_key parses the dtype's name: once per dtype
    for record in records:
        cost = count(record)
        dtype = record.dtype
        rows["op"].append(record.packet)
        rows["module"].append(record.module)
        rows["module_type"].append(record.module_type)
        key = dtype_keys.get(dtype)
        if key is None:
            key = dtype_keys[dtype] = dtype_key(dtype)
        rows["dtype"].append(key)
        rows["shapes"].append(record.shapes())
        if isinstance(cost, Cost):
            rows["category"].append(cost.category)
            rows["flops"].append(float(cost.flops))
            rows["bytes_read"].append(float(cost.bytes_read))
            rows["bytes_written"].append(float(cost.bytes_written))
            # a gather reads only some rows of a weight: never more than the op reads
            rows["param_bytes"].append(float(min(record.param_bytes, cost.bytes_read)))
            rows["unit"].append(cost.unit)
            rows["traffic"].append(cost.traffic)
            rows["supported"].append(True)
            rows["reason"].append("")
            _append_gemm(rows, cost.gemm)
        else:
            rows["category"].append("Other")
            rows["flops"].append(math.nan)
            rows["bytes_read"].append(math.nan)
            rows["bytes_written"].append(math.nan)
            rows["param_bytes"].append(math.nan)
            rows["unit"].append("vector")
            rows["traffic"].append("memory")
            rows["supported"].append(False)
            rows["reason"].append(cost.reason if isinstance(cost, Unsupported) else "unknown")
            _append_gemm(rows, None)
    frame = pd.DataFrame({k: v for k, v in rows.items() if k not in ("bytes", "intensity")})
    frame["bytes"] = frame["bytes_read"] + frame["bytes_written"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["intensity"] = np.where(frame["bytes"] > 0, frame["flops"] / frame["bytes"], np.nan)
    frame[CALLER_COLUMN] = [r.caller if r.caller is not None else r.module for r in records]
    frame.index.name = "index"
    return frame[[*COUNT_COLUMNS, CALLER_COLUMN]]


def _append_gemm(rows: dict[str, list[Any]], gemm: GemmShape | None) -> None:
    values = (gemm.batch, gemm.m, gemm.n, gemm.k) if gemm is not None else (math.nan,) * 4
    for column, value in zip(GEMM_COLUMNS, values):
        rows[column].append(float(value))


@dataclass
class Analysis:
    """The result of analysing one model on one hardware spec.

    ops: one row per aten op (COUNT_COLUMNS + PREDICTION_COLUMNS), in execution order,
    indexed by op index. Times in seconds, FLOPs in FLOP, bytes in bytes.
    peer: a second counter's view of the same model when analyze(counter="fvcore") was
    asked for: a roofline.count.fvcore.FvcoreCount (fvcore's FLOPs x2, in total, per
    operator and per module); None otherwise. ``ops`` are always roofline's counts.
    memory: for analyze(mode="train"), a roofline.capture.training.MemoryFootprint (parameters,
    gradients, optimizer state, activations, peak; ``memory.fits(hw)``); None otherwise.
    The ``phase`` column of ``ops`` says which part of a training step each op belongs
    to (roofline.capture.training.PHASES); an inference analysis is all "forward".
    resident_bytes: the model's distinct parameter and buffer bytes (0: unknown), which
    the time model needs to tell whether the weights stay in a cache between reads
    (roofline.predict.resident_bandwidth); pass it to predict_frame with ``counted``.
    """

    name: str
    hw: HardwareSpec
    counted: pd.DataFrame = field(repr=False)
    records: list[OpRecord] = field(repr=False, default_factory=list)
    tf32: Tf32Policy = field(default_factory=Tf32Policy)
    peer: Any = field(default=None, repr=False)
    memory: Any = field(default=None, repr=False)
    resident_bytes: float = 0.0
    ops: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if "phase" not in self.counted.columns:
            self.counted = self.counted.assign(phase="forward")
        predicted = predict_frame(self.counted, self.hw, tf32=self.tf32, resident_bytes=self.resident_bytes)
        self.ops = pd.concat([self.counted, predicted], axis=1)

    # --- totals -----------------------------------------------------------------
    @property
    def total_flops(self) -> float:
        """FLOPs of all supported ops."""
        return float(self.ops["flops"].sum())

    @property
    def total_bytes(self) -> float:
        """Compulsory bytes (read + written) of all supported ops."""
        return float(self.ops["bytes"].sum())

    @property
    def predicted_s(self) -> float:
        """Predicted time of the whole model, seconds (ops run one after another)."""
        return float(self.ops["predicted_s"].sum())

    @property
    def intensity(self) -> float:
        """Whole-model arithmetic intensity, FLOP/byte."""
        return self.total_flops / self.total_bytes if self.total_bytes else math.nan

    @property
    def peer_flops(self) -> float:
        """The peer counter's total FLOPs (fvcore x2), NaN without counter="fvcore"."""
        return float(self.peer.total_flops) if self.peer is not None else math.nan

    # --- breakdowns -------------------------------------------------------------
    def by_category(self) -> pd.DataFrame:
        """Time per category in the seed's layout (every category, then Total).

        Columns: predicted_s, share (fraction of the total predicted time), flops,
        bytes, ops (count).
        """
        return self._totals_by("category", list(CATEGORIES))

    def by_phase(self) -> pd.DataFrame:
        """Time per phase of a training step (forward, backward, recompute, optimizer,
        those present, in that order), then Total. Columns as by_category."""
        from roofline.capture.training import PHASES

        present = set(self.ops["phase"])
        order = [p for p in PHASES if p in present] + [p for p in self.ops["phase"].unique() if p not in PHASES]
        return self._totals_by("phase", order)

    def _totals_by(self, column: str, order: list[str]) -> pd.DataFrame:
        """predicted_s, share, flops, bytes and ops per value of ``column``, rows in
        ``order`` (values with no op get zeros), then a Total row."""
        grouped = self.ops.groupby(column, sort=False).agg(
            predicted_s=("predicted_s", "sum"), flops=("flops", "sum"), bytes=("bytes", "sum"), ops=("op", "size")
        )
        table = grouped.reindex(order).fillna({"predicted_s": 0.0, "flops": 0.0, "bytes": 0.0, "ops": 0})
        table.loc["Total"] = table.sum()
        total = table.loc["Total", "predicted_s"]
        table["share"] = table["predicted_s"] / total if total else 0.0
        table["ops"] = table["ops"].astype(int)
        table.index.name = column
        return table[["predicted_s", "share", "flops", "bytes", "ops"]]

    def by_module(self, depth: int | None = 1, path: str = "module") -> pd.DataFrame:
        """Totals per module, cut to the first ``depth`` levels of the module path
        (None keeps full paths), sorted by predicted time.

        path: "module" (default) files each op under the running module's qualified name,
        its first name when it is shared by two parents; "caller" under the path the call
        took, so each parent's use of a shared module counts under that parent (see
        CALLER_COLUMN).
        """
        if path not in ("module", CALLER_COLUMN):
            raise RooflineError(f"by_module: unknown path {path!r}: expected 'module' or 'caller'")
        column = path if path in self.ops.columns else "module"
        modules = self.ops[column].fillna("")
        if depth is not None:
            modules = modules.map(lambda name: ".".join(name.split(".")[:depth]) if name else "")
        modules = modules.replace("", "(top)")
        grouped = self.ops.assign(module=modules).groupby("module").agg(
            predicted_s=("predicted_s", "sum"), flops=("flops", "sum"), bytes=("bytes", "sum"), ops=("op", "size")
        )
        total = grouped["predicted_s"].sum()
        grouped["share"] = grouped["predicted_s"] / total if total else 0.0
        return grouped.sort_values("predicted_s", ascending=False)

    def by_op(self) -> pd.DataFrame:
        """Totals per aten op name, sorted by predicted time."""
        grouped = self.ops.groupby("op").agg(
            category=("category", "first"),
            count=("op", "size"),
            predicted_s=("predicted_s", "sum"),
            flops=("flops", "sum"),
            bytes=("bytes", "sum"),
        )
        total = self.predicted_s
        grouped["share"] = grouped["predicted_s"] / total if total else 0.0
        return grouped.sort_values("predicted_s", ascending=False)

    @property
    def unsupported(self) -> pd.DataFrame:
        """Ops with no formula, one row per op name (UNSUPPORTED_COLUMNS).

        count; predicted_s and share (of the whole predicted time): with no formula the
        time model knows no FLOPs or bytes, so these are the fixed per-op overhead only,
        as time_basis says; reason. Then an estimate from the op's tensors, which capture
        recorded: bytes_estimate (each distinct input read once, each output written once,
        summed over its calls; NaN without records), estimated_s (that traffic at DRAM
        bandwidth plus the overhead: a lower bound for a memory-bound op) and
        estimated_share (of the total with these estimates in place of the overheads).
        """
        rows = self.ops[~self.ops["supported"]]
        if rows.empty:
            return pd.DataFrame(columns=list(UNSUPPORTED_COLUMNS))
        rows = rows.assign(bytes_estimate=self._tensor_bytes(rows.index))
        rows = rows.assign(estimated_s=rows["overhead_s"] + rows["bytes_estimate"] / self.hw.dram.bandwidth)
        grouped = rows.groupby("op").agg(
            count=("op", "size"), predicted_s=("predicted_s", "sum"), reason=("reason", "first"),
            bytes_estimate=("bytes_estimate", "sum"), estimated_s=("estimated_s", "sum"),
        )
        total = self.predicted_s
        grouped["share"] = grouped["predicted_s"] / total if total else 0.0
        estimated_total = total - grouped["predicted_s"].sum() + grouped["estimated_s"].sum()
        grouped["estimated_share"] = grouped["estimated_s"] / estimated_total if estimated_total else 0.0
        grouped["time_basis"] = "fixed overhead only"
        return grouped.reset_index()[list(UNSUPPORTED_COLUMNS)]

    def _tensor_bytes(self, index: pd.Index) -> list[float]:
        """Compulsory bytes of the tensors of the ops at ``index`` (NaN without records)."""
        if len(self.records) != len(self.ops):
            return [math.nan] * len(index)
        return [float(sum(compulsory_bytes(self.records[i]))) for i in index]

    def top(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` ops with the largest predicted time."""
        return self.ops.nlargest(n, "predicted_s")

    # --- other specs and export -------------------------------------------------
    def with_hw(self, hw: str | HardwareSpec) -> "Analysis":
        """The same captured ops predicted on another spec (no re-capture)."""
        return dataclasses.replace(self, hw=load_hardware(hw))

    def compare(self, measured: Any) -> Any:
        """Predicted vs measured (a roofline.measure.Measurement of the same model), joined
        by op index: a roofline.measure.compare.Comparison with per-op ratios and error metrics."""
        from roofline.measure.compare import compare

        return compare(self, measured)

    def plot(self, kind: str = "roofline", **kw: Any) -> Any:
        """A matplotlib Figure of this analysis: kind is "roofline", "hierarchical",
        "breakdown", "what_if" (hws=[...]) or "compare" (measured=... or comparison=...);
        keyword arguments go to the function of that name in roofline.report.plot.

        Figures only read results, so what a kind needs is made here first: for
        "what_if", this analysis on each of ``hws`` (with_hw); for "compare" given
        ``measured=``, the comparison (compare)."""
        from roofline.report.plot import kinds

        key = kinds.kind_key(kind)
        if key == kinds.WHAT_IF:
            hws = list(kw.pop("hws", None) or [])
            if not hws:
                raise RooflineError("what_if: no hardware spec given (hws=[spec names, YAML paths or HardwareSpec objects])")
            return kinds.plot([self.with_hw(hw) for hw in hws], key, **kw)
        if key == kinds.COMPARE and kw.get("comparison") is None and kw.get("measured") is not None:
            kw["comparison"] = self.compare(kw.pop("measured"))
        return kinds.plot(self, key, **kw)

    def summary(self) -> dict[str, Any]:
        """Whole-model totals as plain numbers."""
        return {
            "model": self.name,
            "hw": self.hw.name,
            "ops": int(len(self.ops)),
            "total_flops": self.total_flops,
            "total_bytes": self.total_bytes,
            "intensity": self.intensity,
            "predicted_s": self.predicted_s,
            "unsupported_ops": int((~self.ops["supported"]).sum()),
            **({"peer_flops": self.peer_flops} if self.peer is not None else {}),
        }

    def to_json(self) -> str:
        """Totals, the category table and per-op rows as a JSON document."""
        categories = self.by_category().reset_index().to_dict(orient="records")
        ops = self.ops.reset_index().replace({np.nan: None}).to_dict(orient="records")
        document = {
            "summary": self.summary(),
            "by_category": categories,
            "unsupported": self.unsupported.to_dict(orient="records"),
            "ops": ops,
        }
        return json.dumps(document, indent=1, default=float)

    def check_strict(self) -> None:
        """Raise UnsupportedOpError naming every op that has no formula."""
        missing = self.unsupported
        if not missing.empty:
            listed = ", ".join(f"{row.op} x{row.count} ({row.reason})" for row in missing.itertuples())
            raise UnsupportedOpError(f"{self.name}: {len(missing)} unsupported op(s): {listed}")


def _converted(t: torch.Tensor, device: str | None, dtype: torch.dtype | None) -> torch.Tensor:
    """``t`` moved to ``device`` and, when floating point, cast to ``dtype`` (as
    nn.Module.to converts parameters and buffers)."""
    converted = t.detach().to(device=device, dtype=dtype if t.is_floating_point() else None)
    if isinstance(t, torch.nn.Parameter):
        return torch.nn.Parameter(converted, requires_grad=t.requires_grad)
    return converted


def converted_copy(model: torch.nn.Module, device: str | None, dtype: torch.dtype | None) -> torch.nn.Module:
    """A copy of ``model`` on ``device`` in ``dtype``; the caller's model keeps its weights,
    device and dtype (nn.Module.to would convert it in place).

    The copy is a deepcopy whose parameters and buffers are made converted from the start
    (through deepcopy's memo), so the original weights are never duplicated: a model
    analysed on meta costs no memory for its weights. A model deepcopy cannot copy is
    converted in place, with a warning.
    """
    memo: dict[int, Any] = {}
    for t in (*model.parameters(), *model.buffers()):
        if id(t) not in memo:  # a tied weight stays tied
            memo[id(t)] = _converted(t, device, dtype)
    try:
        copied = copy.deepcopy(model, memo)
    except Exception as exc:  # noqa: BLE001 - any object deepcopy cannot copy
        warnings.warn(
            f"roofline: {type(model).__name__} could not be copied ({type(exc).__name__}: {exc}); "
            "it is converted in place: its weights are now on the analysis's device and dtype",
            UserWarning,
            stacklevel=3,
        )
        return model.to(device=device, dtype=dtype)
    return copied.to(device=device, dtype=dtype)  # the module's own _apply hooks (RNN weights)


def _run(model: Any, inputs: Any, label: str, grad: bool, train: dict | None) -> tuple[list[OpRecord], Any]:
    """(records, training step or None) of one capture: an inference forward under
    ``grad``, or with ``train`` (capture_train_step's keyword arguments) a training step.
    A model that fails is a one-line RooflineError naming it."""
    try:
        if train is not None:
            from roofline.capture.training import capture_train_step

            step = capture_train_step(model, inputs, **train)
            return step.records, step
        with torch.set_grad_enabled(grad):
            return capture(model, inputs)[0], None
    except RooflineError:
        raise
    except Exception as exc:
        raise RooflineError(f"{label}: the model failed while running: {type(exc).__name__}: {exc}") from exc


def analyze(
    model: Any,
    inputs: Any = (),
    *,
    hw: str | HardwareSpec = DEFAULT_HW,
    dtype: torch.dtype | str | None = None,
    meta: bool = False,
    strict: bool = False,
    name: str | None = None,
    tf32: Tf32Policy | None = None,
    grad: bool = False,
    counter: str = "roofline",
    mode: str = "inference",
    optimizer: Any = "adamw",
    loss_fn: Any = None,
    foreach: bool | None = None,
) -> Analysis:
    """Capture every aten op ``model(*inputs)`` runs, count it and predict it on ``hw``.

    inputs: a tuple (positional), a dict (keyword, Hugging Face style) or one tensor.
    dtype: cast the model's parameters and floating inputs first (e.g. "bf16").
    meta: move model and inputs to the meta device first, so nothing is computed
    (build a model too big for memory under ``torch.device("meta")`` instead).
    With dtype or meta the model analysed is a converted copy (converted_copy): the
    caller's model keeps its weights, device and dtype.
    strict: raise UnsupportedOpError if any op has no formula.
    grad: run with autograd enabled (default: inference under torch.no_grad).
    counter: "roofline" (default) or "fvcore", which also counts the model with fvcore's
    FlopCountAnalysis (roofline formulas filling its gaps) into ``Analysis.peer``, to
    cross-check (roofline.count.fvcore.cross_check); RooflineError if jit cannot trace it.
    mode: "inference" (default) or "train": one training step, forward, loss
    (``loss_fn(output)`` -> scalar, default the sum of the outputs), the real backward
    and an ``optimizer`` update ("sgd", "adam", "adamw", None, or a callable params ->
    torch.optim.Optimizer), with a ``phase`` per op, ``by_phase()`` and ``memory``
    (see roofline.capture.training). foreach: the optimizer's multi-tensor kernels (default:
    on when ``hw`` is a GPU, as torch picks there). The model is trained on a copy.
    """
    if mode not in ("inference", "train"):
        raise RooflineError(f"unknown mode {mode!r}: expected 'inference' or 'train'")
    if counter not in ("roofline", "fvcore"):
        raise RooflineError(f"unknown counter {counter!r}: expected 'roofline' or 'fvcore'")
    spec = load_hardware(hw)
    torch_dtype = parse_dtype(dtype)
    if isinstance(model, torch.nn.Module) and (torch_dtype is not None or meta):
        model = converted_copy(model, "meta" if meta else None, torch_dtype)
    inputs = cast_inputs(inputs, torch_dtype, "meta" if meta else None)
    # A torch.compile'd module is named after its original module (capture warns once).
    label = name or type(getattr(model, "_orig_mod", model)).__name__
    if mode == "train":
        use_foreach = spec.kind == "gpu" if foreach is None else foreach
        train = {"optimizer": optimizer, "loss_fn": loss_fn, "foreach": use_foreach}
    records, step = _run(model, inputs, label, grad, train if mode == "train" else None)
    peer = None
    if counter == "fvcore":
        from roofline.count.fvcore import fvcore_count

        with torch.set_grad_enabled(grad):
            peer = fvcore_count(model, inputs, name=label)
    from roofline.capture import persistent_bytes

    counted = count_frame(records)
    if step is not None:
        counted["phase"] = step.phases
    result = Analysis(
        label, spec, counted, records, tf32 or Tf32Policy.from_torch(), peer, step.memory if step is not None else None,
        resident_bytes=float(persistent_bytes(getattr(model, "_orig_mod", model))),
    )
    if strict:
        result.check_strict()
    return result
