"""TPSMM's background motion: one affine transform between source and driving frames.

A ResNet-18 (`bg_encoder`, torchvision names) sees source and driving stacked on the
channel axis and regresses the top two rows of a 3x3 matrix acting on homogeneous
driving coordinates (the background pixel at driving position z comes from source
position T z). `fc` starts at zero weights and the identity bias, so training starts
from a still background. Used in training only (after `bg_start`), as upstream.
"""

from __future__ import annotations

import torch
from torch import nn

from generation.models.tpsmm.resnet import ResNet18


class BGMotionPredictor(nn.Module):
    """forward(source (B, C, H, W), driving (B, C, H, W)) -> (B, 3, 3)."""

    def __init__(self, num_channels: int = 3, width: int = 64):
        super().__init__()
        self.bg_encoder = ResNet18(2 * num_channels, 6, width)
        with torch.no_grad():
            self.bg_encoder.fc.weight.zero_()
            self.bg_encoder.fc.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        b = source.shape[0]
        params = self.bg_encoder(torch.cat([source, driving], dim=1))
        bottom = torch.tensor([[[0.0, 0.0, 1.0]]], device=source.device, dtype=params.dtype)
        return torch.cat([params.view(b, 2, 3), bottom.expand(b, 1, 3)], dim=1)
