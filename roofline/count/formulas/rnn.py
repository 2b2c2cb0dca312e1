"""Fused recurrent layers (LSTM, GRU, Elman RNN) as the cuDNN, MIOpen and oneDNN kernels
run them.

Per time step and sequence, each layer-direction multiplies its input by W_ih
(G*H x I) and its previous hidden state by W_hh (G*H x H): 2*(G*H*I + G*H*H) FLOPs,
plus one add per bias element, plus the gate arithmetic (GATE_FLOPS_PER_UNIT per hidden
unit). G is the number of gates (LSTM 4, GRU 3, RNN 1). Summing over every 2-D weight
matrix the kernel receives gives the matmul term for any number of layers and
directions. Bytes: input, weights and initial states read once; outputs written once.
The category is GEMM: the matmuls dominate.
"""

from __future__ import annotations

from typing import Any

from roofline.capture import OpRecord, TensorInfo
from roofline.count.categories import GEMM
from roofline.count.formulas._common import read_bytes, tensors_in, written_bytes
from roofline.count.registry import MATRIX, Cost, register

#: cuDNN's mode codes.
RNN_MODES = {0: "rnn_relu", 1: "rnn_tanh", 2: "lstm", 3: "gru"}
#: Gate arithmetic per hidden unit and time step: LSTM 3 sigmoids, 2 tanh, 3 products,
#: 1 sum; GRU 2 sigmoids, 1 tanh, 3 products, 3 sums; RNN one activation.
GATE_FLOPS_PER_UNIT = {"lstm": 9, "gru": 9, "rnn_relu": 1, "rnn_tanh": 1}


def rnn_flops(steps: Any, batch: Any, weight_elems: Any, bias_elems: Any, hidden_units: Any, mode: str) -> Any:
    """FLOPs of a fused RNN over ``steps`` x ``batch`` positions.

    weight_elems: elements of all W_ih and W_hh matrices; bias_elems: of all biases;
    hidden_units: H x layers x directions (the units whose gates are evaluated).
    """
    return steps * batch * (2 * weight_elems + bias_elems + GATE_FLOPS_PER_UNIT[mode] * hidden_units)


@register("aten.mkldnn_rnn_layer", "aten._cudnn_rnn", "aten.miopen_rnn")
def fused_rnn_cost(record: OpRecord) -> Cost:
    named = record.named_args()
    x = named["input"]
    if record.packet == "aten.mkldnn_rnn_layer":
        weights = [named[f"weight{i}"] for i in range(4)]
        layers_directions = 1
    else:
        weights = tensors_in(named["weight"])
        layers_directions = int(named["num_layers"]) * (2 if named.get("bidirectional") else 1)
    mode = RNN_MODES.get(int(named["mode"]), "lstm")
    hidden = int(named["hidden_size"])
    batch_first = bool(named.get("batch_first", False))
    batch_sizes = named.get("batch_sizes") or []
    if batch_sizes:  # a packed sequence: the positions are the sum of the batch sizes
        steps, batch = 1, sum(int(b) for b in batch_sizes)
    elif len(x.shape) == 2:  # unbatched
        steps, batch = x.shape[0], 1
    else:
        steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    matrices = [w for w in weights if isinstance(w, TensorInfo) and len(w.shape) == 2]
    biases = [w for w in weights if isinstance(w, TensorInfo) and len(w.shape) == 1]
    flops = rnn_flops(
        steps,
        batch,
        sum(w.numel for w in matrices),
        sum(b.numel for b in biases),
        hidden * layers_directions,
        mode,
    )
    return Cost(flops, read_bytes(record), written_bytes(record), GEMM, unit=MATRIX)
