"""roofline.dtypes: the one dtype table (peak keys, user names, widths)."""

import pytest
import torch

from roofline.dtypes import DTYPES, KEY_ITEMSIZE, OTHER_DTYPE, USER_DTYPES, dtype_key, parse_dtype
from roofline.errors import RooflineError


@pytest.mark.parametrize(
    "torch_dtype, key",
    [
        (torch.float32, "fp32"), (torch.bfloat16, "bf16"), (torch.float16, "fp16"), (torch.float64, "fp64"),
        (torch.float8_e4m3fn, "fp8"), (torch.int8, "int8"), (torch.uint8, "int8"), (torch.complex64, "fp32"),
        (torch.int64, OTHER_DTYPE), (torch.bool, OTHER_DTYPE),
    ],
)
def test_dtype_key(torch_dtype, key):
    assert dtype_key(torch_dtype) == key


def test_every_key_has_a_width_that_matches_torch():
    assert set(DTYPES) <= set(KEY_ITEMSIZE)
    for name, torch_dtype in USER_DTYPES.items():
        assert KEY_ITEMSIZE[dtype_key(torch_dtype)] == torch_dtype.itemsize, name
    assert KEY_ITEMSIZE["int4"] == 0.5  # two weights per byte


@pytest.mark.parametrize("name, expected", [("bf16", torch.bfloat16), ("BFloat16", torch.bfloat16), ("half", torch.float16), (None, None)])
def test_parse_dtype(name, expected):
    assert parse_dtype(name) is expected


def test_parse_dtype_names_the_bad_value_on_one_line():
    with pytest.raises(RooflineError, match=r"unknown dtype 'fp12': expected one of .*bf16") as info:
        parse_dtype("fp12")
    assert "\n" not in str(info.value)
