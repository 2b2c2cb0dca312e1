"""Property tests over random shapes (hypothesis).

- conv, matmul and attention FLOPs equal torch's FlopCounterMode (non-causal, no bias:
  it counts neither) and fvcore x2 (fvcore counts MACs);
- FLOPs are never negative, and bytes never below the larger of an op's input or output
  size, except for the ops that by design touch less than a whole operand (listed in
  PARTIAL_READ_OPS / PARTIAL_WRITE_OPS, with the reason);
- the sympy closed form of each formula equals the numeric formula, and the captured
  count of the real op, at random sizes.
"""

import pytest
import sympy
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from roofline.capture import capture
from roofline.count.categories import GEMM
from roofline.count.formulas._common import distinct_bytes
from roofline.count.registry import NO_UNIT, Cost, count
from roofline.tools.closed_form import FORMULAS, formula
from roofline.count.fvcore import fvcore_count

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def our_flops(fn, *args) -> float:
    """Sum of roofline FLOPs over the ops ``fn(*args)`` runs."""
    with torch.no_grad():
        records, _ = capture(lambda: fn(*args))
    costs = [count(r) for r in records]
    assert all(isinstance(c, Cost) for c in costs), costs
    return sum(c.flops for c in costs)


def counter_flops(fn, *args) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*args)
    return counter.get_total_flops()


def fvcore_flops(module: torch.nn.Module, *args) -> float:
    with torch.no_grad():
        return fvcore_count(module, args).total_flops


class Call(torch.nn.Module):
    """A module around a function, for fvcore (which traces modules)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


# --------------------------------------------------------------------------- conv


@st.composite
def conv_cases(draw):
    ndim = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kernel = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    reach = dilation * (kernel - 1) + 1
    size = draw(st.integers(max(reach - 2 * padding, 1), 9 if ndim < 3 else 5))
    batch = draw(st.integers(1, 2))
    transposed = draw(st.booleans())
    if transposed:  # output size (size-1)*stride - 2*padding + reach must be positive
        assume((size - 1) * stride - 2 * padding + reach >= 1)
    return ndim, batch, c_in, c_out, kernel, stride, padding, dilation, groups, size, transposed


def make_conv(ndim, c_in, c_out, kernel, stride, padding, dilation, groups, transposed):
    if transposed:
        cls = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}[ndim]
        # Output padding must be below stride or dilation: use none.
        return cls(c_in, c_out, kernel, stride, padding, 0, groups, bias=False, dilation=dilation)
    cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[ndim]
    return cls(c_in, c_out, kernel, stride, padding, dilation, groups, bias=False)


@PROPERTY
@given(conv_cases())
def test_conv_flops_equal_flop_counter_and_fvcore(case):
    ndim, batch, c_in, c_out, kernel, stride, padding, dilation, groups, size, transposed = case
    conv = make_conv(ndim, c_in, c_out, kernel, stride, padding, dilation, groups, transposed).eval()
    x = torch.randn(batch, c_in, *([size] * ndim))
    ours = our_flops(conv, x)
    assert ours == counter_flops(conv, x)
    assert ours == fvcore_flops(conv, x)


# --------------------------------------------------------------------------- matmul


dims = st.integers(1, 12)


@PROPERTY
@given(dims, dims, dims, st.integers(1, 4), st.sampled_from(["mm", "bmm", "linear", "broadcast"]))
def test_matmul_flops_equal_flop_counter_and_fvcore(m, n, k, batch, kind):
    if kind == "mm":
        fn, args = torch.mm, (torch.randn(m, k), torch.randn(k, n))
    elif kind == "bmm":
        fn, args = torch.bmm, (torch.randn(batch, m, k), torch.randn(batch, k, n))
    elif kind == "linear":
        fn, args = F.linear, (torch.randn(batch, m, k), torch.randn(n, k))
    else:  # a batch of matrices times one matrix: torch.matmul broadcasts
        fn, args = torch.matmul, (torch.randn(batch, 2, m, k), torch.randn(k, n))
    ours = our_flops(fn, *args)
    assert ours == counter_flops(fn, *args)
    assert ours == fvcore_flops(Call(fn), *args)


# --------------------------------------------------------------------------- attention


@st.composite
def attention_cases(draw):
    kv_heads = draw(st.integers(1, 3))
    heads = kv_heads * draw(st.integers(1, 3))
    return (
        draw(st.integers(1, 2)),
        heads,
        kv_heads,
        draw(st.integers(1, 16)),
        draw(st.integers(1, 16)),
        draw(st.sampled_from([4, 8, 16])),
    )


def naive_attention(q, k, v):
    """Attention as separate ops, which fvcore counts with its own matmul handle."""
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


@PROPERTY
@given(attention_cases())
def test_attention_flops_equal_flop_counter_and_fvcore(case):
    batch, heads, kv_heads, q_len, kv_len, head_dim = case
    q = torch.randn(batch, heads, q_len, head_dim)
    k = torch.randn(batch, kv_heads, kv_len, head_dim)
    v = torch.randn(batch, kv_heads, kv_len, head_dim)
    sdpa = [c for r in capture(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))[0] if (c := count(r)).category == GEMM]
    assert len(sdpa) == 1
    ours = sdpa[0].flops
    # FlopCounterMode counts the math path's matmuls (meta tensors take that path).
    meta = [t.to("meta") for t in (q, k, v)]
    assert ours == counter_flops(lambda *a: F.scaled_dot_product_attention(*a, enable_gqa=True), *meta)
    # fvcore counts the same two products written out (kv heads repeated for GQA).
    group = heads // kv_heads
    expanded = (q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1))
    fvcore = fvcore_count(Call(naive_attention), expanded).by_operator["matmul"]
    assert ours == fvcore


# --------------------------------------------------------------------------- bounds

#: Ops that read less than a whole input, by design: gathers fetch only the rows they
#: index (an embedding reads the looked-up rows, never the table), and an in-place
#: scatter-add reads and writes only the target rows it touches.
PARTIAL_READ_OPS = {"aten.embedding", "aten._embedding_bag", "aten.index_select", "aten.index", "aten.gather", "aten.index_add_"}
#: Ops that write less than their output: an in-place scatter-add writes only the
#: target rows it touches (its output aliases the whole target).
PARTIAL_WRITE_OPS = {"aten.index_add_"}


def workload(kind: str, rows: int, cols: int):
    x = torch.randn(rows, cols)
    if kind == "elementwise":
        return lambda: torch.relu(x * 2 + x)
    if kind == "norms":
        return lambda: F.layer_norm(torch.softmax(x, -1), (cols,))
    if kind == "reduce":
        return lambda: (x.sum(0), x.amax(1), x.var(1, correction=0))
    if kind == "gemm":
        w = torch.randn(cols, rows)
        return lambda: x @ w
    if kind == "transform":
        return lambda: (x.t().contiguous(), torch.cat([x, x]), x.clone(), torch.sort(x, 1))
    if kind == "pool":
        img = torch.randn(1, 2, rows + 2, cols + 2)
        return lambda: (F.max_pool2d(img, 2), F.adaptive_avg_pool2d(img, 1))
    if kind == "gather":
        table = torch.randn(rows * 50, cols)
        idx = torch.randint(0, rows * 50, (rows,))
        return lambda: (F.embedding(idx, table), table.index_select(0, idx), table[idx])
    if kind == "scatter":
        target = torch.zeros(rows * 20, cols)
        idx = torch.randint(0, rows * 20, (rows,))
        return lambda: target.index_add_(0, idx, x)
    raise ValueError(kind)


@PROPERTY
@given(
    st.sampled_from(["elementwise", "norms", "reduce", "gemm", "transform", "pool", "gather", "scatter"]),
    st.integers(1, 20),
    st.integers(1, 20),
)
def test_flops_nonnegative_and_bytes_at_least_the_larger_operand(kind, rows, cols):
    with torch.no_grad():
        records, _ = capture(workload(kind, rows, cols))
    for record in records:
        cost = count(record)
        assert isinstance(cost, Cost), record.op
        assert cost.flops >= 0 and cost.bytes_read >= 0 and cost.bytes_written >= 0
        if cost.unit == NO_UNIT:  # views and allocations move nothing
            continue
        inputs = sum(distinct_bytes(t) for t in record.inputs)
        outputs = sum(t.nbytes for t in record.outputs)
        floor = max(0 if record.packet in PARTIAL_READ_OPS else inputs, 0 if record.packet in PARTIAL_WRITE_OPS else outputs)
        assert cost.bytes_read + cost.bytes_written >= floor, (record.op, cost, inputs, outputs)
        if record.packet in PARTIAL_READ_OPS and record.packet not in PARTIAL_WRITE_OPS:
            assert cost.bytes_written >= outputs, record.op


# --------------------------------------------------------------------------- sympy


#: Sizes drawn for each closed form's free symbols (small, so divisibility holds by
#: construction where it must: groups divide channels).
size = st.integers(1, 64)


@PROPERTY
@given(st.sampled_from(sorted(FORMULAS)), st.data())
def test_sympy_form_equals_the_numeric_formula(op, data):
    symbolic = formula(op)
    values = {name: data.draw(size, label=name) for name in symbolic.symbols}
    if op.startswith("conv"):  # an output must exist: every spatial size >= kernel (3)
        for name in ("h", "w", "d", "length"):
            if name in values:
                values[name] = values[name] + 2
    numeric = formula(op, **values)
    for part in ("flops", "bytes_read", "bytes_written"):
        exact = sympy.sympify(getattr(symbolic, part)).subs({symbolic.symbols[n]: v for n, v in values.items()})
        assert sympy.simplify(exact - getattr(numeric, part)) == 0, (op, part, values)


@PROPERTY
@given(
    st.integers(1, 3),
    st.sampled_from([1, 2]),
    st.integers(1, 3),
    st.integers(3, 12),
    st.integers(3, 12),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(1, 2),
    st.booleans(),
)
def test_conv2d_closed_form_equals_the_captured_count(batch, groups, per_group, h, w, stride, padding, dilation, bias):
    c_in, c_out = groups * per_group, groups * 2
    if dilation * 2 + 1 > min(h, w) + 2 * padding:
        return  # no output position: not a valid convolution
    conv = torch.nn.Conv2d(c_in, c_out, 3, stride, padding, dilation, groups, bias=bias)
    with torch.no_grad():
        records, _ = capture(conv, (torch.randn(batch, c_in, h, w),))
    cost = count(records[-1])
    f = formula("conv2d", batch=batch, c_in=c_in, c_out=c_out, h=h, w=w, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    numbers = f.at()
    assert (numbers["flops"], numbers["bytes_read"], numbers["bytes_written"]) == (cost.flops, cost.bytes_read, cost.bytes_written)


@PROPERTY
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 20), st.sampled_from([4, 8, 16]), st.booleans())
def test_attention_closed_form_equals_the_captured_count(batch, heads, q_len, head_dim, causal):
    q = torch.randn(batch, heads, q_len, head_dim)
    with torch.no_grad():
        records, _ = capture(lambda: F.scaled_dot_product_attention(q, q.clone(), q.clone(), is_causal=causal))
    [cost] = [c for r in records if (c := count(r)).category == GEMM]
    numbers = formula("attention", batch=batch, heads=heads, q_len=q_len, head_dim=head_dim, causal=causal).at()
    assert (numbers["flops"], numbers["bytes_read"], numbers["bytes_written"]) == (cost.flops, cost.bytes_read, cost.bytes_written)


@pytest.mark.parametrize("op", sorted(FORMULAS))
def test_every_closed_form_has_no_negative_values(op):
    f = formula(op)
    numbers = f.at(**{name: 3 for name in f.symbols})
    assert numbers["flops"] >= 0 and numbers["bytes"] > 0
