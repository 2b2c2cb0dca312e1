import pytest
import torch

from roofline.capture import capture
from roofline.count.registry import Cost, count


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)


def costs_of(fn, *args, **kwargs):
    """Capture fn(*args) under no_grad and return [(op, Cost)] for the ops that do work."""
    with torch.no_grad():
        records, _ = capture(lambda: fn(*args, **kwargs))
    out = []
    for record in records:
        cost = count(record)
        assert isinstance(cost, Cost), f"{record.op} unsupported: {cost}"
        if cost.unit != "none":
            out.append((record.packet, cost))
    return out


def only_cost(fn, *args, op=None, **kwargs):
    """The single Cost of the op named ``op`` (or the only working op) that fn runs."""
    found = [c for name, c in costs_of(fn, *args, **kwargs) if op is None or name == op]
    assert len(found) == 1, f"expected one {op or 'op'}, got {found}"
    return found[0]
