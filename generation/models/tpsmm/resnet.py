"""ResNet-18 (2-D) under torchvision's module names: TPSMM's keypoint and background
encoders.

The layout is torchvision's `resnet18` (`conv1`, `bn1`, `relu`, `maxpool`, `layer1` ..
`layer4` of two `BasicBlock`s each with `conv1`, `bn1`, `conv2`, `bn2` and a
`downsample` (1x1 conv, BN) where the stride or width changes, `avgpool`, `fc`), so a
state dict of torchvision's network, or of the reference TPSMM's `fg_encoder` /
`bg_encoder`, loads as is. Written here rather than imported: torchvision does not run
next to the project's CPU torch. `in_channels` (3; 6 for source+driving), `num_outputs`
(the width of `fc`) and `width` (64 is the published network; smaller for CPU runs)
are data.
"""

from __future__ import annotations

import torch
from torch import nn

from generation.models.blocks import fast_inference, inference_conv

#: BasicBlocks per stage of ResNet-18
RESNET18_LAYERS: tuple[int, ...] = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fast_inference(self):  # batch norms folded, channels-last (blocks.inference_conv)
            identity = x
            if self.downsample is not None:
                identity = inference_conv(self.downsample[0], self.downsample[1], x)
            out = inference_conv(self.conv1, self.bn1, x).relu_()
            out = inference_conv(self.conv2, self.bn2, out).add_(identity)
            return out.relu_()
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """forward(x (B, in_channels, H, W)) -> (B, num_outputs)."""

    def __init__(self, in_channels: int = 3, num_outputs: int = 1000, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        planes = width
        for stage, blocks in enumerate(RESNET18_LAYERS):
            out = width * 2**stage
            layer = [BasicBlock(planes, out, stride=1 if stage == 0 else 2)]
            layer += [BasicBlock(out, out) for _ in range(blocks - 1)]
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))
            planes = out
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_outputs)
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fast_inference(self):
            x = self.maxpool(inference_conv(self.conv1, self.bn1, x).relu_())
        else:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
