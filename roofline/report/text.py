"""Words the reports share: what was analysed (a header line, a figure title), the note
for an fp32 model on a GPU spec, op names as the device runs them, shapes cut to a
width, and text from files (a spec's display name) made safe to print.

Reads results and specs; computes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["clean", "display_op", "header", "title", "dtype_note", "short_shapes", "public_text", "workload_of"]

#: Ops whose aten name says they are the CPU's kernel -> the kernel a GPU runs for the
#: same work (by torch's CUDA dispatch): a GPU prediction should not say "for_cpu".
_GPU_NAMES = {
    "aten.mkldnn_convolution": "aten.cudnn_convolution",
    "aten.mkldnn_max_pool2d": "aten.max_pool2d_with_indices",
    "aten.mkldnn_adaptive_avg_pool2d": "aten._adaptive_avg_pool2d",
    "aten.mkldnn_rnn_layer": "aten._cudnn_rnn",
}
_FOR_CPU = re.compile(r"_for_cpu(?=_|$)")


def display_op(op: str, kind: str) -> str:
    """The op's name as the spec's device runs it: on a GPU ("gpu" kind), a CPU kernel's
    name (…_for_cpu, mkldnn_…) becomes the GPU kernel's
    (aten._scaled_dot_product_flash_attention_for_cpu -> aten._scaled_dot_product_flash_attention);
    other names and other kinds pass through."""
    if kind != "gpu":
        return op
    name = _GPU_NAMES.get(op, op)
    return _FOR_CPU.sub("", name)


def clean(text: Any) -> str:
    """Text from a file or a user (a spec's display name) safe to print: control
    characters (escape sequences, bells, newlines) shown as \\xNN, not obeyed; rich
    markup brackets escaped."""
    out = []
    for char in str(text):
        if unicodedata.category(char) in ("Cc", "Cf") and char != " ":
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out).replace("[", "\\[")


def workload_of(result: Any) -> Any:
    """The roofline.workload.Workload a result carries (an Analysis, or anything with a
    ``workload``), or None."""
    return getattr(result, "workload", None)


def header(analysis: Any, markup: bool = True) -> str:
    """'resnet50 · fp32 · batch 1 · 25.6M params on NVIDIA H100 SXM5 80GB (h100-sxm)':
    what was analysed and on which spec. ``markup``: bold the model and the spec (rich)."""
    workload = workload_of(analysis)
    model = clean(workload.model if workload is not None else analysis.name)
    settings = " · ".join(workload.settings()) if workload is not None else ""
    device = clean(analysis.hw.display_name)
    if markup:
        model, device = f"[bold]{model}[/bold]", f"[bold]{device}[/bold]"
    return f"{model}{' · ' + settings if settings else ''} on {device} ({clean(analysis.hw.name)})"


def title(analysis: Any) -> str:
    """A figure title: 'resnet50 · bf16 · batch 32 · 25.6M params on NVIDIA H100 SXM5 80GB'
    (what was analysed and on which spec, as the header without the spec's short name)."""
    workload = workload_of(analysis)
    parts = [workload.model, *workload.settings()] if workload is not None else [analysis.name]
    return f"{' · '.join(parts)} on {analysis.hw.display_name}".replace("\n", " ")


def dtype_note(dtype: str | None, hw: Any, how: str = "add --dtype {}") -> str | None:
    """A note when an fp32 model is predicted on a GPU spec (GPUs run most models in
    bf16 or fp16, whose matrix peaks are many times fp32's): says fp32 was used and how
    to ask for bf16 (``how`` with the dtype put in: "add --dtype bf16"; fp16 on a GPU
    without bf16). None otherwise."""
    if hw is None or hw.kind != "gpu" or dtype != "fp32":
        return None
    half = "bf16" if "bf16" in hw.matrix_flops else "fp16" if "fp16" in hw.matrix_flops else None
    if half is None:
        return None
    return f"note: computed in fp32; GPUs run most models in {half}: {how.format(half)}"


def short_shapes(shapes: str, width: int = 28) -> str:
    """Input shapes cut to ``width`` characters with an ellipsis ("[64,128]x[128,…")."""
    return shapes if len(shapes) <= width else shapes[: width - 1] + "…"


#: Mentions, in the packaged specs' sources and comments, of the design notes the specs
#: were collected in (a file of the project's authors, not shipped): rewritten for users.
_PRIVATE_REFERENCES = (
    (re.compile(r";?\s*figures collected in (shared )?hw_reference\.md"), ""),
    (re.compile(r"\s*\(hw_reference\.md[^)]*\)"), ""),
    (re.compile(r"not (in|from) hw_reference\.md"), "not from a datasheet"),
    (re.compile(r"\s*\(?unverified in hw_reference\.md\)?"), " (unverified)"),
    (re.compile(r"hw_reference\.md"), "the authors' notes"),
)


def public_text(text: str) -> str:
    """A spec's source or comment without references to files users do not have."""
    for pattern, replacement in _PRIVATE_REFERENCES:
        text = pattern.sub(replacement, text)
    return text.strip()
