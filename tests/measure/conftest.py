"""Shared by the roofline.measure tests: one torch thread, and small models that write
their activations, inputs and buffers in place or draw random numbers."""

import pytest
import torch
from torch import nn

HW = "epyc-9654"  # any spec: these tests are about the join and the timing, not the figures


class InPlaceNet(nn.Module):
    """Writes its activations, its input and a buffer in place."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 16)
        self.act = nn.ReLU(inplace=True)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        x.mul_(2.0)  # the caller's input, written in place
        h = self.act(self.fc1(x))
        h.add_(1.0)
        h = self.fc2(h)
        h += x
        self.calls += 1  # state that changes on every forward
        return torch.sigmoid_(h) * self.calls


class DropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x)).relu()


@pytest.fixture(autouse=True)
def _one_thread():
    # The suite shares few cores: one thread keeps timings from waiting on a descheduled
    # worker, and these tests do not depend on the thread count.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def reference_output(model, x):
    """The output of one unmeasured forward on a copy of x."""
    with torch.no_grad():
        return model(x.clone())


def symbolic_net():
    """A model whose middle op is a roofline.symbolic_op (symbolic.square_sum) between an
    aten relu and an aten sigmoid."""
    from roofline.count.python_ops import symbolic_op

    @symbolic_op(flops=lambda x: 2 * x.numel())
    def square_sum(x):
        return (x * x).sum(dim=-1, keepdim=True) + 0 * x

    class Net(nn.Module):
        def forward(self, x):
            return square_sum(x.relu()).sigmoid()

    return Net()
