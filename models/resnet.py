"""ResNet-50 and ResNeXt-50 (32x4d) for 224x224 ImageNet classification.

Architecture sources:

* He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), Table 1,
  in the "v1.5" layout used by torchvision and most benchmarks: in a downsampling
  bottleneck the stride sits on the 3x3 convolution, not on the first 1x1.
  25,557,032 parameters, about 4.09 GMACs (conv + linear) at 224x224.
* Xie et al., "Aggregated Residual Transformations for Deep Neural Networks"
  (CVPR 2017), ResNeXt-50 32x4d: cardinality 32, bottleneck width 4 per group,
  i.e. the 3x3 convolution is grouped (32 groups) and twice as wide as ResNet-50's.
  25,028,904 parameters, about 4.23 GMACs.

Written from the papers in plain ``torch.nn`` (no torchvision). Every module here
runs on meta tensors: ``with torch.device("meta"): model, inputs = build_resnet50()``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResNet", "Bottleneck", "build_resnet50", "build_resnext50", "ZOO"]


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (strided, optionally grouped) -> 1x1 expand, plus shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1,
                               groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Bottleneck ResNet: 7x7/2 stem, 3x3/2 max-pool, four stages, global pool, fc."""

    def __init__(self, layers: tuple[int, int, int, int] = (3, 4, 6, 3),
                 num_classes: int = 1000, groups: int = 1, width_per_group: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        stages = []
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            stage = []
            for b in range(blocks):
                stage.append(Bottleneck(in_channels, planes, stride if b == 0 else 1,
                                        groups, width_per_group))
                in_channels = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _build(batch: int, image_size: int, num_classes: int, **kw):
    model = ResNet(num_classes=num_classes, **kw).eval()
    inputs = (torch.randn(batch, 3, image_size, image_size),)
    return model, inputs


def build_resnet50(batch: int = 1, image_size: int = 224, num_classes: int = 1000):
    """ResNet-50 v1.5 (He et al. 2016; torchvision layout, stride on the 3x3 conv).

    Options: ``image_size`` (default 224), ``num_classes`` (default 1000).
    Returns ``(model, (images,))`` with images of shape (batch, 3, image_size, image_size).
    """
    return _build(batch, image_size, num_classes)


def build_resnext50(batch: int = 1, image_size: int = 224, num_classes: int = 1000):
    """ResNeXt-50 32x4d (Xie et al. 2017): grouped 3x3 convs, 32 groups of width 4.

    Options: ``image_size`` (default 224), ``num_classes`` (default 1000).
    Returns ``(model, (images,))``.
    """
    return _build(batch, image_size, num_classes, groups=32, width_per_group=4)


ZOO = {"resnet50": build_resnet50, "resnext50": build_resnext50}
