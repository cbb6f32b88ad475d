"""TPSMM's keypoint detector: a ResNet-18 regresses K x 5 keypoints, one group of 5 per
thin-plate-spline transform.

`fg_encoder` is the ResNet-18 (torchvision names, `resnet.ResNet18`) with its
`fc` giving 2 K 5 numbers; a sigmoid maps them into (-1, 1): keypoints (x, y) in the
normalised pixel-centre coordinates of `blocks.make_coordinate_grid`. Keypoints 5k..5k+4
are the control points of transform k. With the facial prior the prior channel is
stacked onto the image (`prior_channels` = 1), as the prior enters FOMM's detector.
"""

from __future__ import annotations

import torch
from torch import nn

from generation.models.tpsmm.resnet import ResNet18

#: control points of one TPS transform
POINTS_PER_TPS = 5


class KPDetector(nn.Module):
    """forward(image (B, C, H, W), prior (B, 1, H, W) or None) -> {"fg_kp": (B, K*5, 2)}."""

    def __init__(
        self, num_tps: int, num_channels: int = 3, prior_channels: int = 0, width: int = 64
    ):
        super().__init__()
        self.num_tps = num_tps
        self.prior_channels = prior_channels
        self.fg_encoder = ResNet18(
            num_channels + prior_channels, num_tps * POINTS_PER_TPS * 2, width
        )

    def forward(self, image: torch.Tensor, prior: torch.Tensor | None = None):
        if self.prior_channels:
            if prior is None:
                raise ValueError("this keypoint detector takes the prior channel")
            image = torch.cat([image, prior.to(image.dtype)], dim=1)
        kp = torch.sigmoid(self.fg_encoder(image))
        kp = kp * 2 - 1
        return {"fg_kp": kp.view(kp.shape[0], self.num_tps * POINTS_PER_TPS, -1)}
