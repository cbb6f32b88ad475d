"""FOMM keypoint detector: keypoint positions and the 2x2 Jacobian at each keypoint.

Upstream parameter names (`predictor`, `kp`, `jacobian`, `down`). With the facial prior
the positions come from the landmarks instead (`kp` is then absent), the prior channel is
concatenated to the (downsampled) image, and the Jacobian maps are pooled with a
normalised Gaussian at each prior keypoint instead of the learned heatmap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    downscaled_size,
    make_coordinate_grid,
)


class KPDetector(nn.Module):
    """`forward(x, prior_channel=None, prior_kp=None)` -> {"value": (B, K, 2),
    "jacobian": (B, K, 2, 2)} (no "jacobian" when `estimate_jacobian` is off).

    `prior_channels` > 0 builds a detector that reads the prior channel(s) beside the
    image and takes its positions from `prior_kp` ((B, K, 2) in [-1, 1]).
    """

    def __init__(
        self,
        block_expansion: int,
        num_kp: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        temperature: float,
        estimate_jacobian: bool = False,
        scale_factor: float = 1,
        single_jacobian_map: bool = False,
        pad: int = 0,
        prior_channels: int = 0,
        jacobian_pool_variance: float = 0.01,
    ):
        super().__init__()
        self.num_kp = num_kp
        self.prior_channels = prior_channels
        self.temperature = temperature
        self.scale_factor = scale_factor
        self.jacobian_pool_variance = jacobian_pool_variance
        self.predictor = Hourglass(
            block_expansion,
            in_features=num_channels + prior_channels,
            max_features=max_features,
            num_blocks=num_blocks,
        )
        width = self.predictor.out_filters
        self.kp = nn.Conv2d(width, num_kp, (7, 7), padding=pad) if not prior_channels else None
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(width, 4 * self.num_jacobian_maps, (7, 7), padding=pad)
            with torch.no_grad():  # start at the identity: J = I everywhere
                if prior_channels:
                    # The Jacobians are this detector's only output when the prior gives
                    # the positions: an exactly zero weight would block every gradient
                    # to the hourglass and the AWP layer on the first step.
                    self.jacobian.weight.normal_(0.0, 1e-3)
                else:
                    self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(
                    torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps)
                )
        else:
            self.num_jacobian_maps = 0
            self.jacobian = None
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The size the hourglass sees for a (height, width) image."""
        return downscaled_size(height, width, self.scale_factor, getattr(self, "down", None))

    def forward(
        self,
        x: torch.Tensor,
        prior_channel: torch.Tensor | None = None,
        prior_kp: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        if self.scale_factor != 1:
            x = self.down(x)
        if self.prior_channels:
            if prior_channel is None or prior_kp is None:
                raise ValueError("this detector needs the prior channel and prior keypoints")
            if prior_channel.shape[-2:] != x.shape[-2:]:
                prior_channel = F.interpolate(
                    prior_channel, size=x.shape[-2:], mode="bilinear", align_corners=False
                )
            x = torch.cat([x, prior_channel.to(x.dtype)], dim=1)
        features = self.predictor(x)

        if self.kp is not None:
            logits = self.kp(features).float()
            b, k, h, w = logits.shape
            heatmap = F.softmax(logits.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)
            grid = make_coordinate_grid(h, w, heatmap.device, heatmap.dtype)
            value = torch.einsum("bkhw,hwc->bkc", heatmap, grid)
        else:
            value = prior_kp.float()
            heatmap = None
        out = {"value": value}

        if self.jacobian is not None:
            maps = self.jacobian(features).float()
            b, _, h, w = maps.shape
            if heatmap is None:  # pool at the prior keypoints: normalised Gaussians
                grid = make_coordinate_grid(h, w, value.device, value.dtype)
                d2 = (grid - value[:, :, None, None, :]).square().sum(-1)
                logits = (-0.5 / self.jacobian_pool_variance) * d2.view(b, self.num_kp, -1)
                heatmap = F.softmax(logits, dim=2).view(b, self.num_kp, h, w)
            maps = maps.view(b, self.num_jacobian_maps, 4, h, w)
            jac = (heatmap.unsqueeze(2) * maps).sum(dim=(3, 4))  # (B, K, 4)
            out["jacobian"] = jac.view(b, self.num_kp, 2, 2)
        return out
