"""FOMM dense motion: from sparse keypoint motions to a dense backward warp and an
occlusion map.

For every keypoint k the local motion near it is the first-order expansion
T_k(z) = kp_s + J_s J_d^-1 (z - kp_d); a background motion (the identity) is added.
The source warped by each motion and the keypoint heatmap differences go through an
hourglass that predicts soft masks over the K+1 motions (and the occlusion map); the
dense warp is the mask-weighted sum. Upstream names: `hourglass`, `mask`, `occlusion`,
`down`.

`heatmaps="both"` (not upstream; on in the small configs) also gives the hourglass the
driving keypoints' heatmaps themselves. The upstream input, their difference with the
source's, is all but zero when the motion is a fraction of a pixel, as in a
micro-expression: the network then cannot tell where the keypoints are, and the masks
collapse onto the background (no motion at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    grid_sample,
    kp2gaussian,
    make_coordinate_grid,
)


@dataclass
class SourceMotionInputs:
    """What dense motion needs from the source alone (computed once per video)."""

    image: torch.Tensor  # (1 or B, C, h, w) the source at the motion resolution
    gaussians: torch.Tensor  # (1 or B, K, h, w) source keypoint heatmaps


class DenseMotionNetwork(nn.Module):
    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        num_channels: int,
        estimate_occlusion_map: bool = False,
        scale_factor: float = 1,
        kp_variance: float = 0.01,
        heatmaps: str = "difference",
    ):
        super().__init__()
        if heatmaps not in ("difference", "both"):
            raise ValueError(f"heatmaps must be 'difference' or 'both', not {heatmaps!r}")
        self.heatmaps = heatmaps
        extra = 1 if heatmaps == "both" else 0
        self.hourglass = Hourglass(
            block_expansion=block_expansion,
            in_features=(num_kp + 1) * (num_channels + 1 + extra),
            max_features=max_features,
            num_blocks=num_blocks,
        )
        width = self.hourglass.out_filters
        self.mask = nn.Conv2d(width, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (
            nn.Conv2d(width, 1, kernel_size=(7, 7), padding=(3, 3))
            if estimate_occlusion_map
            else None
        )
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def prepare_source(
        self, source_image: torch.Tensor, kp_source: dict[str, torch.Tensor]
    ) -> SourceMotionInputs:
        """The downsampled source and its keypoint heatmaps."""
        image = self.down(source_image) if self.scale_factor != 1 else source_image
        gaussians = kp2gaussian(kp_source["value"].float(), image.shape[2:], self.kp_variance)
        return SourceMotionInputs(image=image.float(), gaussians=gaussians)

    def sparse_motions(
        self, size: tuple[int, int], kp_driving: dict, kp_source: dict
    ) -> torch.Tensor:
        """(B, K+1, h, w, 2): where each motion takes each driving-frame point in the
        source (index 0: the background, identity)."""
        h, w = size
        kd = kp_driving["value"].float()
        ks = kp_source["value"].float().expand_as(kd)
        b, k, _ = kd.shape
        identity = make_coordinate_grid(h, w, kd.device, kd.dtype)  # (h, w, 2)
        rel = identity[None, None] - kd[:, :, None, None, :]  # (B, K, h, w, 2)
        if "jacobian" in kp_driving and "jacobian" in kp_source:
            jd = kp_driving["jacobian"].float()
            js = kp_source["jacobian"].float().expand_as(jd)
            jac = js @ torch.linalg.inv(jd)  # (B, K, 2, 2)
            rel = torch.einsum("bkij,bkhwj->bkhwi", jac, rel)
        motions = rel + ks[:, :, None, None, :]
        background = identity.expand(b, 1, h, w, 2)
        return torch.cat([background, motions], dim=1)

    def forward(
        self,
        source_image: torch.Tensor,
        kp_driving: dict[str, torch.Tensor],
        kp_source: dict[str, torch.Tensor],
        prepared: SourceMotionInputs | None = None,
    ) -> dict[str, torch.Tensor]:
        """source_image (1 or B, C, H, W); keypoints with B rows (the source may have
        one, shared by all). Returns deformation (B, h, w, 2), mask (B, K+1, h, w),
        sparse_deformed (B, K+1, C, h, w) and occlusion_map (B, 1, h, w)."""
        if prepared is None:
            prepared = self.prepare_source(source_image, kp_source)
        b = kp_driving["value"].shape[0]
        src = prepared.image
        _, c, h, w = src.shape
        k1 = self.num_kp + 1

        gauss_d = kp2gaussian(kp_driving["value"].float(), (h, w), self.kp_variance)
        heat = gauss_d - prepared.gaussians
        heat = torch.cat([heat.new_zeros(b, 1, h, w), heat], dim=1).unsqueeze(2)
        if self.heatmaps == "both":
            where = torch.cat([gauss_d.new_zeros(b, 1, h, w), gauss_d], dim=1).unsqueeze(2)
            heat = torch.cat([heat, where], dim=2)

        motions = self.sparse_motions((h, w), kp_driving, kp_source)  # (B, K+1, h, w, 2)
        src_rep = src.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        deformed = grid_sample(src_rep, motions.reshape(b * k1, h, w, 2)).view(b, k1, c, h, w)

        net_in = torch.cat([heat, deformed], dim=2).view(b, -1, h, w)
        features = self.hourglass(net_in)
        mask = F.softmax(self.mask(features).float(), dim=1)
        deformation = torch.einsum("bkhw,bkhwc->bhwc", mask, motions)
        out = {"mask": mask, "sparse_deformed": deformed, "deformation": deformation}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(features).float())
        return out
