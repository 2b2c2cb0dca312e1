"""MobileNetV2, width multiplier 1.0, 224x224 (Sandler et al., "MobileNetV2: Inverted
Residuals and Linear Bottlenecks", CVPR 2018, Table 2): a 3x3/2 stem conv to 32
channels, 17 inverted-residual blocks (1x1 expand by t, 3x3 depthwise, 1x1 linear
projection; residual when stride 1 and channels match), a 1x1 conv to 1280 channels,
global pooling, dropout and a 1000-class linear layer. ReLU6 activations, BatchNorm
after every conv. 3,504,872 parameters, about 0.30 GMACs.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MobileNetV2", "build_mobilenetv2", "ZOO"]

# (expansion t, output channels c, repeats n, first stride s), from Table 2 of the paper.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8, never dropping more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn_relu6(cin: int, cout: int, kernel: int, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn_relu6(cin, hidden, 1))
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),  # depthwise
            nn.Conv2d(hidden, cout, 1, bias=False),                   # linear bottleneck
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.2):
        super().__init__()
        cin = _make_divisible(32 * width)
        last = _make_divisible(1280 * max(1.0, width))
        layers: list[nn.Module] = [conv_bn_relu6(3, cin, 3, stride=2)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            cout = _make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers.append(conv_bn_relu6(cin, last, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.features(x)), 1)
        return self.classifier(x)


def build_mobilenetv2(batch: int = 1, image_size: int = 224, num_classes: int = 1000,
                      width: float = 1.0):
    """MobileNetV2 (Sandler et al. 2018).

    Options: ``image_size`` (default 224), ``num_classes`` (1000), ``width``
    (width multiplier, default 1.0). Returns ``(model, (images,))``.
    """
    model = MobileNetV2(num_classes=num_classes, width=width).eval()
    return model, (torch.randn(batch, 3, image_size, image_size),)


ZOO = {"mobilenetv2": build_mobilenetv2}
