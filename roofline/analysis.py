"""analyze(): capture -> count -> predict, and the Analysis result object.

An Analysis holds the captured ops (hardware-independent: FLOPs, bytes, category) and
their prediction on one spec. ``with_hw`` re-predicts on another spec from the stored
ops, without running the model again.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from roofline._io import json_safe
from roofline.capture import OpRecord, capture
from roofline.capture.training import HOST, PHASES
from roofline.capture.inputs import cast_inputs, converted_copy
from roofline.capture.training import FORWARD
from roofline.count.categories import CATEGORIES, OTHER
from roofline.errors import RooflineError, UnsupportedOpError
from roofline.dtypes import dtype_key, parse_dtype
from roofline.efficiency import (GATHER_COLUMN, GEMM_COLUMNS, LOOP_COLUMNS, LOOP_KERNEL_COLUMN, ROW_COLUMNS, STRIDED_COLUMN,
                                  WINOGRAD_COLUMNS)
from roofline.efficiency.cpu_sdpa import ATTENTION_COLUMNS
from roofline.hardware import HardwareSpec, load_hardware
from roofline.predict import MODULE_CALLS_COLUMN, Tf32Policy, between_ops_s, predict_frame
from roofline.count import compulsory_bytes
from roofline.count.loops import LoopShape, gathered_elements, loop_shape, loops_of, strided_elements
from roofline.count.registry import DEVICE_MEMORY, VECTOR, AttentionShape, Cost, GemmShape, RowShape, Unsupported, WinogradShape, count
from roofline.workload import Workload, compute_dtype, count_params

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
    # The rows a row-wise reduction (softmax, layer norm) reduces (NaN for other ops).
    *ROW_COLUMNS,
    # Images and output size of a convolution Winograd can run (NaN for other ops).
    *WINOGRAD_COLUMNS,
    # The inner loops of the op's CPU kernel, their length (NaN where none) and its variant.
    *LOOP_COLUMNS, LOOP_KERNEL_COLUMN,
    # Elements a GPU's element-wise kernel (0: vectorised; NaN: no such kernel) and gather kernel computes one by one.
    STRIDED_COLUMN, GATHER_COLUMN,
    # Heads, query and key lengths and head size of a fused attention (NaN for other ops).
    *ATTENTION_COLUMNS,
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
            for columns, shape in ((GEMM_COLUMNS, cost.gemm), (ROW_COLUMNS, cost.rows), (WINOGRAD_COLUMNS, cost.winograd),
                                   (ATTENTION_COLUMNS, cost.attention)):
                _append_shape(rows, columns, shape)
            loops = loop_shape(record)
            _append_loops(rows, loops)
            rows[STRIDED_COLUMN].append(_as_float(strided_elements(record, loops)))
            rows[GATHER_COLUMN].append(_as_float(gathered_elements(record)))
        else:
            rows["category"].append(OTHER)
            rows["flops"].append(math.nan)
            rows["bytes_read"].append(math.nan)
            rows["bytes_written"].append(math.nan)
            rows["param_bytes"].append(math.nan)
            rows["unit"].append(VECTOR)
            rows["traffic"].append(DEVICE_MEMORY)
            rows["supported"].append(False)
            rows["reason"].append(cost.reason if isinstance(cost, Unsupported) else "unknown")
            for columns in (GEMM_COLUMNS, ROW_COLUMNS, WINOGRAD_COLUMNS, ATTENTION_COLUMNS):
                _append_shape(rows, columns, None)
            _append_loops(rows, None)
            rows[STRIDED_COLUMN].append(math.nan)
            rows[GATHER_COLUMN].append(math.nan)
    frame = pd.DataFrame({k: v for k, v in rows.items() if k not in ("bytes", "intensity")})
    frame["bytes"] = frame["bytes_read"] + frame["bytes_written"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["intensity"] = np.where(frame["bytes"] > 0, frame["flops"] / frame["bytes"], np.nan)
    frame[CALLER_COLUMN] = [r.caller if r.caller is not None else r.module for r in records]
    frame[MODULE_CALLS_COLUMN] = [r.module_calls for r in records]
    frame.index.name = "index"
    return frame[[*COUNT_COLUMNS, CALLER_COLUMN, MODULE_CALLS_COLUMN]]


def _dominant_dtype(counted: pd.DataFrame) -> str:
    """The dtype key most ops of a frame compute in ("fp32" for an empty frame)."""
    dtypes = counted["dtype"] if "dtype" in counted else pd.Series(dtype=object)
    return str(dtypes.mode().iloc[0]) if not dtypes.empty else "fp32"


def _append_shape(rows: dict[str, list[Any]], columns: tuple[str, ...],
                  shape: GemmShape | RowShape | WinogradShape | AttentionShape | None) -> None:
    """One op's shape (its fields in ``columns`` order), NaN in every column for None."""
    values = dataclasses.astuple(shape) if shape is not None else (math.nan,) * len(columns)
    for column, value in zip(columns, values):
        rows[column].append(float(value))


def _as_float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _append_loops(rows: dict[str, list[Any]], shape: LoopShape | None) -> None:
    for column, value in zip((*LOOP_COLUMNS, LOOP_KERNEL_COLUMN), (*loops_of(shape), shape.kernel if shape else "")):
        rows[column].append(value)


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
    workload: what was analysed (model, dtype, batch, seq, parameters); when not given,
    the name and the dtype most ops compute in, batch and seq unknown.

    Device and host: ops of phase "host" (a training step's bookkeeping on CPU-resident
    scalars, roofline.capture.training) run on the host beside the device's kernels, so
    every total and table here is device time and leaves them out; ``host_s`` and
    ``host_ops`` show them apart.
    """

    name: str
    hw: HardwareSpec
    counted: pd.DataFrame = field(repr=False)
    records: list[OpRecord] = field(repr=False, default_factory=list)
    tf32: Tf32Policy = field(default_factory=Tf32Policy)
    peer: Any = field(default=None, repr=False)
    memory: Any = field(default=None, repr=False)
    resident_bytes: float = 0.0
    workload: Workload | None = None
    ops: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if "phase" not in self.counted.columns:
            self.counted = self.counted.assign(phase=FORWARD)
        if self.workload is None:
            self.workload = Workload(self.name, _dominant_dtype(self.counted))
        predicted = predict_frame(self.counted, self.hw, tf32=self.tf32, resident_bytes=self.resident_bytes)
        self.ops = pd.concat([self.counted, predicted], axis=1)

    def __repr__(self) -> str:
        """One line: what ran, on which spec, and its totals (not the whole spec)."""
        from roofline.units import format_seconds, si

        return (f"<Analysis {self.workload.describe()} on {self.hw.name}: {len(self.ops)} ops, "
                f"{si(self.total_flops, 'FLOP')}, {si(self.total_bytes, 'B')}, predicted {format_seconds(self.predicted_s)}>")

    def _repr_html_(self) -> str:
        """A notebook's view: the header, the totals and the category table as HTML."""
        from roofline.report.html import analysis_html

        return analysis_html(self)

    # --- device and host --------------------------------------------------------
    @property
    def device_ops(self) -> pd.DataFrame:
        """The ops that run on the device: every op but the host phase's."""
        return self.ops[self.ops["phase"] != HOST]

    @property
    def host_ops(self) -> pd.DataFrame:
        """The host-side ops of a training step (phase "host"), apart from device time."""
        return self.ops[self.ops["phase"] == HOST]

    @property
    def host_s(self) -> float:
        """Predicted time of the host-side ops, seconds (their per-op overhead): CPU work
        beside the device's kernels, not part of predicted_s."""
        return float(self.host_ops["predicted_s"].sum())

    # --- totals -----------------------------------------------------------------
    @property
    def total_flops(self) -> float:
        """FLOPs of all supported device ops."""
        return float(self.device_ops["flops"].sum())

    @property
    def total_bytes(self) -> float:
        """Compulsory bytes (read + written) of all supported device ops."""
        return float(self.device_ops["bytes"].sum())

    @property
    def predicted_s(self) -> float:
        """Predicted device time of the whole model, seconds (ops run one after another;
        host-side ops are apart: host_s)."""
        return float(self.device_ops["predicted_s"].sum())

    @property
    def between_ops_s(self) -> float:
        """Predicted host time between ops, seconds: the Python of the model's module calls
        (roofline.predict.between_ops_s; 0 on a spec without a measured module call)."""
        return between_ops_s(self.counted, self.hw)

    @property
    def kernel_s(self) -> float:
        """Predicted time in kernels alone (no per-op dispatch or launch), seconds."""
        return float(self.device_ops["kernel_s"].sum())

    @property
    def params(self) -> int:
        """The model's parameter count (elements; 0 when unknown)."""
        return self.workload.params

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
        those present, in that order), then Total (device time), then a "host" row when
        the step has host-side ops: apart from the Total, its share relative to it.
        Columns as by_category."""
        present = set(self.ops["phase"])
        order = [p for p in PHASES if p in present and p != HOST]
        order += [p for p in self.ops["phase"].unique() if p not in PHASES]
        table = self._totals_by("phase", order)
        host = self.host_ops
        if not host.empty:
            total = table.loc["Total", "predicted_s"]
            table.loc[HOST] = [float(host["predicted_s"].sum()), host["predicted_s"].sum() / total if total else 0.0,
                               float(host["flops"].sum()), float(host["bytes"].sum()), len(host)]
            table["ops"] = table["ops"].astype(int)
        return table

    def _totals_by(self, column: str, order: list[str]) -> pd.DataFrame:
        """predicted_s, share, flops, bytes and ops per value of ``column``, rows in
        ``order`` (values with no op get zeros), then a Total row."""
        grouped = self.device_ops.groupby(column, sort=False).agg(
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
        ops = self.device_ops
        column = path if path in ops.columns else "module"
        modules = ops[column].fillna("")
        if depth is not None:
            modules = modules.map(lambda name: ".".join(name.split(".")[:depth]) if name else "")
        modules = modules.replace("", "(top)")
        grouped = ops.assign(module=modules).groupby("module").agg(
            predicted_s=("predicted_s", "sum"), flops=("flops", "sum"), bytes=("bytes", "sum"), ops=("op", "size")
        )
        total = grouped["predicted_s"].sum()
        grouped["share"] = grouped["predicted_s"] / total if total else 0.0
        return grouped.sort_values("predicted_s", ascending=False)

    def by_op(self) -> pd.DataFrame:
        """Totals per aten op name, sorted by predicted time."""
        grouped = self.device_ops.groupby("op").agg(
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
        """The ``n`` device ops with the largest predicted time, one row per op call."""
        return self.device_ops.nlargest(n, "predicted_s")

    def top_grouped(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` costliest (op, shapes, dtype) groups of device ops: calls of one op
        on the same shapes (the nine identical convolutions of a ResNet stage) as one
        row with their ``count``. Columns: op, shapes, dtype, count, category, module
        (the first call's), predicted_s (all calls), share, flops and bytes (all calls),
        intensity, bound (the first call's: the calls are alike)."""
        ops = self.device_ops
        keys = ["op", "shapes", "dtype"]
        grouped = ops.groupby(keys, sort=False).agg(
            count=("op", "size"), category=("category", "first"), module=("module", "first"),
            predicted_s=("predicted_s", "sum"), flops=("flops", "sum"), bytes=("bytes", "sum"), bound=("bound", "first"),
        ).reset_index()
        total = self.predicted_s
        grouped["share"] = grouped["predicted_s"] / total if total else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            grouped["intensity"] = np.where(grouped["bytes"] > 0, grouped["flops"] / grouped["bytes"], np.nan)
        columns = [*keys, "count", "category", "module", "predicted_s", "share", "flops", "bytes", "intensity", "bound"]
        return grouped.nlargest(max(n, 0), "predicted_s")[columns].reset_index(drop=True)

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
        """Whole-model totals as plain numbers, with what was analysed (the workload's
        model, dtype, batch, seq and params) and on which spec. Device totals; a
        training step's host-side ops as host_ops and host_s."""
        host = self.host_ops
        return {
            **self.workload.as_dict(),
            "hw": self.hw.name,
            "hw_name": self.hw.display_name,
            "ops": int(len(self.ops) - len(host)),
            "total_flops": self.total_flops,
            "total_bytes": self.total_bytes,
            "intensity": self.intensity,
            "predicted_s": self.predicted_s,
            "kernel_s": self.kernel_s,
            "between_ops_s": self.between_ops_s,
            "unsupported_ops": int((~self.ops["supported"]).sum()),
            **({"host_ops": int(len(host)), "host_s": self.host_s} if not host.empty else {}),
            **({"peer_flops": self.peer_flops} if self.peer is not None else {}),
        }

    def to_json(self) -> str:
        """Totals, the category table and per-op rows as a JSON document. A number that
        is not one (NaN, infinite: the intensity of an op that moves no bytes) is written
        as null, so the document is strict JSON every parser reads."""
        document = {
            "summary": self.summary(),
            "by_category": self.by_category().reset_index().to_dict(orient="records"),
            "unsupported": self.unsupported.to_dict(orient="records"),
            "ops": self.ops.reset_index().to_dict(orient="records"),
        }
        return json.dumps(json_safe(document), indent=1, allow_nan=False)

    def check_strict(self) -> None:
        """Raise UnsupportedOpError naming every op that has no formula."""
        missing = self.unsupported
        if not missing.empty:
            listed = ", ".join(f"{row.op} x{row.count} ({row.reason})" for row in missing.itertuples())
            raise UnsupportedOpError(f"{self.name}: {len(missing)} unsupported op(s): {listed}")


def _run_model(model: Any, inputs: Any, label: str, *, mode: str, grad: bool, optimizer: Any, loss_fn: Any,
               foreach: bool) -> tuple[list[OpRecord], Any]:
    """Capture the model's ops (and, for mode "train", the training step): (records,
    step or None). Anything the model raises, sys.exit included, is one RooflineError
    naming it; so is a forward that returns a generator (its body never ran)."""
    step = None
    try:
        if mode == "train":
            from roofline.capture.training import capture_train_step

            step = capture_train_step(model, inputs, optimizer=optimizer, loss_fn=loss_fn, foreach=foreach)
            records, output = step.records, None
        else:
            with torch.set_grad_enabled(grad):
                records, output = capture(model, inputs)
    except RooflineError:
        raise
    except SystemExit as exc:  # a model calling sys.exit() must not end the caller's process
        raise RooflineError(f"{label}: the model called sys.exit({exc.code!r}) while running") from exc
    except Exception as exc:
        raise RooflineError(f"{label}: the model failed while running: {type(exc).__name__}: {exc}") from exc
    if inspect.isgenerator(output) or inspect.isasyncgen(output):
        raise RooflineError(f"{label}: forward returned a generator, so its body never ran: "
                            "return the outputs (tensors) instead of yielding them")
    return records, step


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
    batch: int | None = None,
    seq: int | None = None,
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
    batch, seq: the batch size and sequence length the inputs hold, for the record
    (Analysis.workload); nothing is resized. The dtype and parameter count are read from
    the model.
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
    records, step = _run_model(model, inputs, label, mode=mode, grad=grad, optimizer=optimizer, loss_fn=loss_fn,
                               foreach=spec.kind == "gpu" if foreach is None else foreach)
    peer = None
    if counter == "fvcore":
        from roofline.count.fvcore import fvcore_count

        with torch.set_grad_enabled(grad):
            peer = fvcore_count(model, inputs, name=label)
    from roofline.capture import persistent_bytes

    counted = count_frame(records)
    if step is not None:
        counted["phase"] = step.phases
    workload = Workload(label, compute_dtype(model, inputs, torch_dtype), batch, seq, count_params(model))
    result = Analysis(
        label, spec, counted, records, tf32 or Tf32Policy.from_torch(), peer, step.memory if step is not None else None,
        resident_bytes=float(persistent_bytes(getattr(model, "_orig_mod", model))), workload=workload,
    )
    if strict:
        result.check_strict()
    return result
