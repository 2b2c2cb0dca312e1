"""roofline/formulas/sparse.py against closed forms worked out here.

Every figure is derived in the test from the matrix's shape and its known nnz: a sparse
(M x K, nnz) @ dense (K x N) product does 2*nnz*N FLOPs and reads nnz values, their
int64 indices (COO: 2 per value; CSR: 1 per value + M+1 row pointers) and the dense
operand.
"""

import pytest
import torch

from roofline.capture import capture
from roofline.count.categories import DATA_TRANSFORM, ELEMENTWISE, SPARSE_MM
from roofline.count.formulas.sparse import (
    message_passing_cost,
    spgemm_flops,
    spmm_bytes,
    spmm_flops,
)
from roofline.count.registry import VECTOR, Cost, count
from tests.conftest import costs_of

pytestmark = [
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta"),
    pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled"),
]

M, K, N = 8, 6, 4
# Ten stored values at fixed positions: nnz is known without asking torch.
POSITIONS = [(0, 0), (0, 5), (1, 2), (2, 1), (3, 3), (4, 0), (5, 4), (6, 2), (7, 1), (7, 5)]
NNZ = len(POSITIONS)


def dense_with_known_nnz() -> torch.Tensor:
    a = torch.zeros(M, K)
    for i, (r, c) in enumerate(POSITIONS):
        a[r, c] = float(i + 1)  # nonzero, so to_sparse keeps every position
    return a


def sparse_cost(fn, *args):
    found = [c for _, c in costs_of(fn, *args) if c.category == SPARSE_MM]
    assert len(found) == 1, found
    return found[0]


def test_csr_spmm_with_known_nnz():
    csr = dense_with_known_nnz().to_sparse_csr()
    b = torch.randn(K, N)
    cost = sparse_cost(torch.sparse.mm, csr, b)
    assert cost.flops == 2 * NNZ * N == 80
    values, col_index, row_pointers = NNZ * 4, NNZ * 8, (M + 1) * 8
    assert cost.bytes_read == values + col_index + row_pointers + K * N * 4
    assert cost.bytes_written == M * N * 4
    assert cost.unit == VECTOR


def test_coo_spmm_through_matmul_operator():
    coo = dense_with_known_nnz().to_sparse()
    b = torch.randn(K, N)
    cost = sparse_cost(lambda a, x: a @ x, coo, b)
    assert cost.flops == 2 * NNZ * N
    assert cost.bytes_read == NNZ * 4 + 2 * NNZ * 8 + K * N * 4  # COO: a row and a column index per value
    assert cost.bytes_written == M * N * 4


def test_sparse_addmm_reads_and_adds_the_matrix():
    coo = dense_with_known_nnz().to_sparse()
    c, b = torch.randn(M, N), torch.randn(K, N)
    for fn in (torch.sparse.addmm, torch.addmm):
        cost = sparse_cost(fn, c, coo, b)
        assert cost.flops == 2 * NNZ * N + M * N
        assert cost.bytes_read == NNZ * 4 + 2 * NNZ * 8 + K * N * 4 + M * N * 4


def test_spmv_csr_and_coo():
    a = dense_with_known_nnz()
    v = torch.randn(K)
    csr_cost = sparse_cost(torch.mv, a.to_sparse_csr(), v)
    assert csr_cost.flops == 2 * NNZ
    assert csr_cost.bytes_read == NNZ * 4 + (NNZ + M + 1) * 8 + K * 4
    assert csr_cost.bytes_written == M * 4
    assert sparse_cost(torch.mv, a.to_sparse(), v).flops == 2 * NNZ


def test_dense_times_sparse_counts_each_value_once_per_dense_row():
    coo = dense_with_known_nnz().to_sparse()  # (M x K) sparse
    d = torch.randn(3, M)
    cost = sparse_cost(torch.mm, d, coo)
    assert cost.flops == 2 * NNZ * 3
    assert cost.bytes_written == 3 * K * 4


def test_what_torch_dispatches_for_sparse_products():
    # The handlers are registered for the ops torch 2.13 really runs on CPU.
    coo, b = dense_with_known_nnz().to_sparse(), torch.randn(K, N)
    with torch.no_grad():
        sparse_mm_ops = [r.op for r in capture(lambda: torch.sparse.mm(coo, b))[0]]
        matmul_ops = [r.op for r in capture(lambda: coo @ b)[0]]
    assert "aten._sparse_addmm.default" in sparse_mm_ops
    assert matmul_ops == ["aten.mm.default"]


def test_a_dense_matmul_is_still_gemm():
    from roofline.count.categories import GEMM

    [(_, cost)] = costs_of(torch.mm, torch.randn(M, K), torch.randn(K, N))
    assert cost.category == GEMM and cost.flops == 2 * M * K * N


def test_spmm_formulas_match_the_captured_cost():
    csr = dense_with_known_nnz().to_sparse_csr()
    cost = sparse_cost(torch.sparse.mm, csr, torch.randn(K, N))
    read, written = spmm_bytes(NNZ, M, K, N, itemsize=4, layout="sparse_csr")
    assert (cost.flops, cost.bytes_read, cost.bytes_written) == (spmm_flops(NNZ, N), read, written)


def test_spgemm_uses_the_uniform_estimate():
    a = dense_with_known_nnz().to_sparse()
    with torch.no_grad():
        records, _ = capture(lambda: torch.sparse.mm(a, a.t()))
    [record] = [r for r in records if r.packet == "aten._sparse_sparse_matmul"]
    cost = count(record)
    # nnz_a * nnz_b / K expected multiply-adds for values spread uniformly.
    assert cost.flops == pytest.approx(2 * NNZ * NNZ / K)
    assert spgemm_flops(10, 20, 5) == 80


def test_coalesce_sorts_and_merges_duplicates():
    indices = torch.tensor([[0, 1, 1, 0], [2, 0, 0, 2]])  # two positions, each twice
    u = torch.sparse_coo_tensor(indices, torch.ones(4), (3, 3))
    found = [c for op, c in costs_of(lambda t: t.coalesce(), u) if op == "aten._coalesce"]
    assert len(found) == 1
    cost = found[0]
    assert cost.category == DATA_TRANSFORM
    assert cost.flops == 4 * 2 + 2  # 4*log2(4) comparisons, 2 duplicate adds
    assert cost.bytes_read == 4 * 4 + 4 * 2 * 8
    assert cost.bytes_written == 2 * 4 + 2 * 2 * 8  # the coalesced tensor: 2 values


def test_sparse_sum_softmax_and_conversion():
    a = dense_with_known_nnz()
    coo = a.to_sparse()
    [(_, total)] = [(op, c) for op, c in costs_of(torch.sparse.sum, coo, 1) if op == "aten._sparse_sum"]
    assert total.flops == NNZ and total.category == ELEMENTWISE
    [(_, soft)] = [(op, c) for op, c in costs_of(torch.sparse.softmax, coo, 1) if op == "aten._sparse_softmax"]
    assert soft.flops == 5 * NNZ
    assert soft.bytes_written == NNZ * 4 + 2 * NNZ * 8  # a sparse result: values + indices
    [(_, convert)] = costs_of(lambda t: t.to_sparse(), a)
    assert convert.bytes_read == M * K * 4
    assert convert.bytes_written == NNZ * 4 + 2 * NNZ * 8


def test_sparse_construction_is_free():
    indices, values = torch.tensor([[0, 1], [1, 0]]), torch.ones(2)
    assert costs_of(lambda: torch.sparse_coo_tensor(indices, values, (2, 2))) == []


def test_message_passing_costs_what_spmm_costs():
    # Aggregating features over E edges as gather -> scale -> scatter-add does the same
    # 2*E*F FLOPs as the SpMM A @ X with nnz = E.
    nodes, features, edges = 50, 8, 200
    x = torch.randn(nodes, features)
    src = torch.randint(0, nodes, (edges,))
    dst = torch.randint(0, nodes, (edges,))
    weight = torch.rand(edges)

    def aggregate(x, src, dst, weight):
        messages = x.index_select(0, src) * weight[:, None]
        return torch.zeros(nodes, features).index_add_(0, dst, messages)

    costs = [c for _, c in costs_of(aggregate, x, src, dst, weight)]
    total_flops = sum(c.flops for c in costs)
    assert total_flops == 2 * edges * features == spmm_flops(edges, features)
    expected = message_passing_cost(edges, features, nodes, itemsize=4)
    assert total_flops == expected["flops"]
    assert sum(c.bytes_read for c in costs) == expected["bytes_read"]
    assert sum(c.bytes_written for c in costs) == expected["bytes_written"]
    assert any(c.category == SPARSE_MM for c in costs)  # the scatter-add


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_zoo_gcn_sparse_aggregation_is_sparse_mm(layout):
    from roofline.models.gcn import build_gcn

    import roofline

    model, (x, adjacency) = build_gcn(nodes=40, features=12, hidden=5, classes=3, edges=90, sparse=True, layout=layout)
    nnz = adjacency._nnz()  # edges plus self loops, after merging duplicates
    analysis = roofline.analyze(model, (x, adjacency), hw="h100-sxm")
    sparse_rows = analysis.ops[analysis.ops["category"] == SPARSE_MM]
    # Two layers aggregate 5 then 3 features over the same adjacency.
    assert sorted(sparse_rows["flops"]) == [2 * nnz * 3, 2 * nnz * 5]
    assert analysis.unsupported.empty


def test_meta_sparse_tensor_without_nnz_is_reported_not_guessed():
    from roofline.capture import OpRecord, TensorInfo

    sparse = TensorInfo((M, K), torch.float32, None, "sparse_csr", "meta", None)
    dense = TensorInfo((K, N), torch.float32, (N, 1), "strided", "meta")
    out = TensorInfo((M, N), torch.float32, (N, 1), "strided", "meta")
    record = OpRecord(0, "aten.mm.default", "", "", (sparse, dense), {}, (sparse, dense), (out,), torch.ops.aten.mm.default)
    result = count(record)
    assert not isinstance(result, Cost) and "nnz" in result.reason
