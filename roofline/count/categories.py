"""The operator taxonomy of the seed paper's runtime breakdown table.

Attention's matmuls are GEMM. A fused op takes the category of its dominant work.
"""

GEMM = "GEMM"
SPARSE_MM = "Sparse MM"
CONV = "Conv"
ELEMENTWISE = "Element-wise"
REGIONAL = "Regional"
EMBEDDING = "Embedding"
DATA_MOVE = "Data Move"
DATA_TRANSFORM = "Data Transform"
OTHER = "Other"

#: Column order of the breakdown table (the seed paper's Table III).
CATEGORIES: tuple[str, ...] = (
    GEMM,
    SPARSE_MM,
    CONV,
    ELEMENTWISE,
    REGIONAL,
    EMBEDDING,
    DATA_MOVE,
    DATA_TRANSFORM,
    OTHER,
)
