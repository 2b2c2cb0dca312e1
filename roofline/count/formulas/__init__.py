"""Cost formulas, one module per family. Importing this package registers them all."""

from roofline.count.formulas import (  # noqa: F401
    attention,
    backward,
    conv,
    embedding,
    matmul,
    movement,
    no_work,
    pointwise,
    pooling,
    reduction,
    rnn,
    sparse,
    symbolic,
)
