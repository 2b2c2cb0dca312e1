"""The one dtype table: the keys specs give peaks for, what each torch dtype maps to,
the names users may type, and their widths.

    dtype_key(torch.bfloat16)   # "bf16": the peak key of a tensor's dtype
    parse_dtype("bf16")         # torch.bfloat16: what a user asked a model to run in
    KEY_ITEMSIZE["int4"]        # 0.5 bytes per element
"""

from __future__ import annotations

import re
from typing import Any

import torch

from roofline.errors import RooflineError

__all__ = ["DTYPES", "OTHER_DTYPE", "KEY_ITEMSIZE", "USER_DTYPES", "dtype_key", "item_sizes", "parse_dtype"]

#: dtype keys a spec may give peaks for.
DTYPES: tuple[str, ...] = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4")
#: what dtype_key() returns for integer / bool tensors: not a peak key (fp32 vector fallback).
OTHER_DTYPE = "int32"
#: bytes per element of each key as stored (tf32 is stored as fp32).
KEY_ITEMSIZE: dict[str, float] = {
    "fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5, "fp4": 0.5, OTHER_DTYPE: 4,
}

#: torch dtype names (without "torch.") -> peak key, where the name alone decides it.
_EXACT_KEYS = {
    "float64": "fp64", "double": "fp64", "float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16",
    "bfloat16": "bf16", "int8": "int8", "uint8": "int8", "qint8": "int8", "quint8": "int8",
    "complex128": "fp64", "cdouble": "fp64", "complex64": "fp32", "cfloat": "fp32", "complex32": "fp16", "chalf": "fp16",
}
_INTEGER_NAME = re.compile(r"u?int\d+|q(u)?int\d+(x\d+)?|long|short|int|bits\w*")

#: names a user may give for the dtype a model runs in -> the torch dtype.
USER_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp64": torch.float64, "float64": torch.float64, "double": torch.float64,
}


def dtype_key(torch_dtype: Any) -> str:
    """The peak key for a torch dtype: float32 -> "fp32", bfloat16 -> "bf16", ...

    float8_* -> "fp8", float4_* -> "fp4", int8/uint8 -> "int8", complex64 -> "fp32",
    complex128 -> "fp64", complex32 -> "fp16", other ints and bool -> "int32" (not a peak
    key: peak_flops falls back to the fp32 vector rate). A dtype key string passes through.
    """
    if isinstance(torch_dtype, str):
        name = torch_dtype.removeprefix("torch.")
        if name in DTYPES or name == OTHER_DTYPE:
            return name
    else:
        name = str(torch_dtype).removeprefix("torch.")
    if name in _EXACT_KEYS:
        return _EXACT_KEYS[name]
    if name.startswith("float8"):
        return "fp8"
    if name.startswith("float4"):
        return "fp4"
    if name == "bool" or _INTEGER_NAME.fullmatch(name):
        return OTHER_DTYPE
    raise ValueError(f"not a torch dtype: {torch_dtype!r}")


def parse_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """The torch dtype a user named ("bf16", "float32", torch.float16, or None: keep the
    model's own). Unknown names raise a one-line RooflineError listing the known ones."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return USER_DTYPES[str(dtype).lower()]
    except KeyError:
        raise RooflineError(f"unknown dtype {dtype!r}: expected one of {', '.join(sorted(USER_DTYPES))}") from None


def item_sizes(keys: Any) -> Any:
    """Bytes per element of each dtype key of a pandas Series (an ops frame's ``dtype``
    column), as a float array; fp32's 4 where a key is missing or unknown."""
    return keys.map(KEY_ITEMSIZE).fillna(4.0).to_numpy(dtype=float)
