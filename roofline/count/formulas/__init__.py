"""Cost formulas, one module per family (matmul, conv, attention, pointwise, reduction,
pooling, embedding, movement, nested, sparse, rnn, symbolic, transformer, linalg,
spectral, search, quantize, backward, no_work). Importing this package registers them all with roofline.count.registry. Each formula is a small pure
function of an OpRecord; formulas may import the registry, _common and each other (a
fused op's formula reuses its parts'), capture's record types, errors and dtypes.
"""

from roofline.count.formulas import (  # noqa: F401
    attention,
    backward,
    conv,
    embedding,
    linalg,
    matmul,
    movement,
    nested,
    no_work,
    pointwise,
    pooling,
    quantize,
    reduction,
    rnn,
    search,
    sparse,
    spectral,
    symbolic,
    transformer,
)
