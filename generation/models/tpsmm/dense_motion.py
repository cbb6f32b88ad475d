"""TPSMM's dense motion network: K TPS transforms + background -> optical flow and
multi-resolution occlusion masks.

On the source downscaled by `scale_factor` (anti-aliased): the K+1 transformations
(the identity, or the background affine when given, then the K TPS grids of
`tps.KeypointTPS`, driving -> source), the source warped by each, and the heatmap
difference gauss(kp_driving) - gauss(kp_source) behind a zero channel go into an
hourglass (instance norm). Its last stage gives K+1 contribution maps (a softmax, or the
TPS dropout of Eq. 7-8 in training); the flow is their weighted sum of the
transformations (Eq. 6). The occlusion masks come from the last decoder stages and from
`up` blocks beyond them: `num_occlusion` masks, coarsest first, each twice the side of
the one before (S/8 .. S at the vox-256 config).

Names follow the reference (`down`, `hourglass`, `maps`, `up`, `occlusion`), so its
`dense_motion_network` state dict loads.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    UpBlock2d,
    fast_inference,
    grid_sample,
    head_conv,
    kp2gaussian,
    make_coordinate_grid,
)
from generation.models.tpsmm.keypoints import POINTS_PER_TPS
from generation.models.tpsmm.tps import KeypointTPS


def dropout_softmax(logits: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """The softmax over transformations with TPS dropout (TPSMM Eq. 7-8): each TPS map
    (not the background's, index 0) of each item is dropped with probability p, the
    kept logits are divided by 1 - p, and the exponentials normalised with +1e-6.

    As in the reference, the division by 1 - p acts on the max-shifted logits after
    their exponentials were taken, so it changes nothing; kept for fidelity.
    """
    b, k = logits.shape[:2]
    keep = (torch.rand(b, k, generator=generator) < (1 - p)).to(logits)
    keep[:, 0] = 1
    x = logits - logits.max(1, keepdim=True).values
    e = x.exp() * keep[:, :, None, None]
    return e / (e.sum(dim=1, keepdim=True) + 1e-6)


class DenseMotionNetwork(nn.Module):
    """forward(source, kp_driving, kp_source, bg_param=None, dropout_p=None) -> dict."""

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_tps: int,
        num_channels: int = 3,
        scale_factor: float = 0.25,
        kp_variance: float = 0.01,
        multi_mask: bool = True,
        num_occlusion: int = 4,
    ):
        super().__init__()
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)
        self.scale_factor = scale_factor
        self.num_tps = num_tps
        self.kp_variance = kp_variance
        self.multi_mask = multi_mask
        in_features = num_channels * (num_tps + 1) + num_tps * POINTS_PER_TPS + 1
        self.hourglass = Hourglass(
            block_expansion, in_features, num_blocks, max_features, norm="instance"
        )
        widths = self.hourglass.out_channels
        self.maps = nn.Conv2d(widths[-1], num_tps + 1, kernel_size=(7, 7), padding=(3, 3))
        if multi_mask:
            self.up_nums = int(round(math.log2(1 / scale_factor)))
            self.occlusion_num = num_occlusion
            if not 0 <= self.up_nums <= num_occlusion or num_occlusion - self.up_nums > num_blocks:
                raise ValueError(
                    f"{num_occlusion} occlusion masks cannot come from a {num_blocks}-block "
                    f"hourglass at scale {scale_factor}"
                )
            self.up = nn.ModuleList(
                UpBlock2d(widths[-1] // 2**i, widths[-1] // 2 ** (i + 1), norm="instance")
                for i in range(self.up_nums)
            )
            chans = [widths[-i - 1] for i in range(num_occlusion - self.up_nums)][::-1]
            chans += [widths[-1] // 2 ** (i + 1) for i in range(self.up_nums)]
        else:
            self.occlusion_num, self.up_nums = 1, 0
            chans = [widths[-1]]
        self.occlusion = nn.ModuleList(
            nn.Conv2d(c, 1, kernel_size=(7, 7), padding=(3, 3)) for c in chans
        )

    def _occlusion(self, i: int, features: torch.Tensor, precise: bool) -> torch.Tensor:
        """Occlusion mask i of `features` (in fp32 under autocast when `precise`)."""
        fast = fast_inference(self)
        if not precise:
            return torch.sigmoid(head_conv(self.occlusion[i], features, fast))
        with torch.autocast(device_type=features.device.type, enabled=False):
            return torch.sigmoid(head_conv(self.occlusion[i], features.float(), fast))

    def downscale(self, source: torch.Tensor) -> torch.Tensor:
        """The source as this network sees it."""
        return self.down(source) if self.scale_factor != 1 else source

    def heatmaps(self, size, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> torch.Tensor:
        """(B, 1 + K*5, h, w): a zero channel, then gauss(driving) - gauss(source)."""
        heat = kp2gaussian(kp_driving, size, self.kp_variance) - kp2gaussian(
            kp_source, size, self.kp_variance
        )
        zeros = heat.new_zeros(heat.shape[0], 1, *size)
        return torch.cat([zeros, heat], dim=1)

    def transformations(
        self, size, kp_driving: torch.Tensor, kp_source: torch.Tensor, bg_param=None
    ) -> torch.Tensor:
        """(B, K+1, h, w, 2): the identity (or background affine) grid, then the K TPS
        grids, each mapping driving coordinates to source coordinates."""
        b = kp_driving.shape[0]
        h, w = size
        tps = KeypointTPS(
            kp_driving.reshape(b, -1, POINTS_PER_TPS, 2),
            kp_source.reshape(b, -1, POINTS_PER_TPS, 2),
        )
        grids = tps.grid(h, w)
        identity = make_coordinate_grid(h, w, kp_driving.device, kp_driving.dtype)
        identity = identity.view(1, 1, h, w, 2).repeat(b, 1, 1, 1, 1)
        if bg_param is not None:
            homogeneous = torch.cat([identity, torch.ones_like(identity[..., :1])], dim=-1)
            moved = torch.matmul(bg_param.view(b, 1, 1, 1, 3, 3), homogeneous.unsqueeze(-1))
            moved = moved.squeeze(-1)
            identity = moved[..., :2] / moved[..., 2:3]
        return torch.cat([identity, grids], dim=1)

    def forward(
        self,
        source: torch.Tensor,
        kp_driving: torch.Tensor,
        kp_source: torch.Tensor,
        bg_param: torch.Tensor | None = None,
        dropout_p: float | None = None,
        source_small: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """kp_*: (B, K*5, 2). `dropout_p` (training): TPS dropout with that probability.
        `source_small`: the downscaled source when already at hand (animation).

        Returns "deformed_source" (B, K+1, C, h, w), "transformations", "contribution_maps"
        (B, K+1, h, w), "deformation" (B, h, w, 2) and "occlusion_map" (a list)."""
        small = self.downscale(source) if source_small is None else source_small
        b, c, h, w = small.shape
        if small.shape[0] != kp_driving.shape[0]:
            small = small.expand(kp_driving.shape[0], c, h, w)
            b = kp_driving.shape[0]
        # In inference the motion is computed in fp32 under autocast (`precise`): a bf16
        # hourglass, mask or occlusion head moved frames of random weights at 256 px by up
        # to 2 levels (0-255) beside the rest of the network in bf16 (`fme bench animation`).
        # The TPS solve, grids and heatmaps are fp32 always: a bf16 system matrix or grid
        # would misplace the control points.
        precise = not self.training
        fp32 = torch.autocast(device_type=small.device.type, enabled=False)
        with fp32:
            kp_driving, kp_source = kp_driving.float(), kp_source.float()
            bg = None if bg_param is None else bg_param.float()
            heat = self.heatmaps((h, w), kp_driving, kp_source)
            trans = self.transformations((h, w), kp_driving, kp_source, bg)
        k1 = self.num_tps + 1
        if precise:
            small = small.float()
        repeated = small.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        deformed = grid_sample(repeated, trans.reshape(b * k1, h, w, 2)).view(b, k1, c, h, w)
        with fp32 if precise else contextlib.nullcontext():
            stages = self.hourglass.forward_stages(
                torch.cat([heat.to(deformed.dtype), deformed.view(b, -1, h, w)], dim=1)
            )
            logits = self.maps(stages[-1])
        if dropout_p is not None:
            contribution = dropout_softmax(logits.float(), dropout_p)
        else:
            contribution = F.softmax(logits.float(), dim=1)
        deformation = (trans * contribution.float().unsqueeze(-1)).sum(dim=1)
        occlusion: list[torch.Tensor] = []
        n_direct = self.occlusion_num - self.up_nums
        for i in range(n_direct):
            stage = stages[len(stages) - n_direct + i]
            occlusion.append(self._occlusion(i, stage, precise))
        out = stages[-1]
        for i in range(self.up_nums):
            out = self.up[i](out)  # the caller's autocast: bf16 moved no level here
            occlusion.append(self._occlusion(n_direct + i, out, precise))
        return {
            "deformed_source": deformed,
            "transformations": trans,
            "contribution_maps": contribution,
            "deformation": deformation,
            "occlusion_map": occlusion,
        }
