"""benchmarks/fidelity.py's page-fault column: the pages the model charges and what the
measured ones cost, by hand."""

import dataclasses

import pandas as pd
import pytest

from roofline.hardware import CalibrationRecord, FreshWrite, load_hardware
from roofline.measure.timing import page_bytes

from . import load_benchmark


def test_fresh_pages_by_hand():
    fidelity = load_benchmark("fidelity")
    spec = dataclasses.replace(load_hardware("local-cpu"),
                               measured=CalibrationRecord(fresh_write=FreshWrite(min_bytes=16e6, bandwidth=8e9)))
    # Outputs of 1 MB (under min_bytes), 32 MB (charged) and 64 MB in place (no new block).
    ops = pd.DataFrame({"op": ["aten.add", "aten.cat", "aten.add_"], "bytes_written": [1e6, 32e6, 64e6]})
    pages = fidelity.fresh_pages(ops, spec)
    page = page_bytes()
    assert pages["predicted"] == pytest.approx(32e6 / page)  # 7812.5 pages of 4096 B
    assert pages["fault_s"] == pytest.approx(page / 8e9)  # 0.512 us a page at 8 GB/s
    measured = {"summary": {"page_faults": 10_000.0}, "faults": pages}
    # 10,000 faults x 4096 B / 8 GB/s = 5.12 ms where pages are 4096 B.
    assert fidelity._faults(measured) == f"{32e6 / page:,.0f} / 10,000 ({fidelity._time(10_000 * page / 8e9)})"
    assert fidelity.fresh_pages(ops, dataclasses.replace(spec, measured=None)) == {"predicted": None, "fault_s": None}
    assert fidelity._faults({"summary": {"page_faults": float("nan")}, "faults": pages}) == "-"
