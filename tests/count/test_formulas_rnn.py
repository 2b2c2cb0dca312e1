"""roofline/formulas/rnn.py against closed forms worked out here."""

import torch

from roofline.count.categories import GEMM
from tests.conftest import costs_of


def test_two_layer_bidirectional_lstm():
    lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
    x = torch.randn(3, 5, 8)  # batch 3, 5 steps
    rnn = [c for op, c in costs_of(lstm, x) if c.category == GEMM]
    assert len(rnn) == 4  # one fused kernel per layer and direction on CPU
    positions = 3 * 5
    gates = 4 * 16
    # layer 0 reads 8 features, layer 1 the 2 x 16 of both directions
    per_position = {8: 2 * (gates * 8 + gates * 16) + 2 * gates + 9 * 16, 32: 2 * (gates * 32 + gates * 16) + 2 * gates + 9 * 16}
    expected = 2 * positions * per_position[8] + 2 * positions * per_position[32]
    assert sum(c.flops for c in rnn) == expected
    first = rnn[0]
    # input, W_ih, W_hh, two biases, h0 and c0 (fp32)
    assert first.bytes_read == 4 * (3 * 5 * 8 + gates * 8 + gates * 16 + 2 * gates + 2 * 3 * 16)
