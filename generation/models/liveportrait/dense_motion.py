"""The dense motion network of the warping module: from the source feature volume and the
source / driving implicit keypoints, a 3-D deformation (B, D, H, W, 3) as a softmax mix of
the identity and one translation per keypoint, and an occlusion map (B, 1, H, W).
Names as the reference's `DenseMotionNetwork`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.liveportrait.blocks import Hourglass, coordinate_grid_3d, gaussian_volumes


class DenseMotionNetwork(nn.Module):
    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        feature_channel: int,
        reshape_depth: int,
        compress: int,
        estimate_occlusion_map: bool = True,
    ):
        super().__init__()
        self.num_kp = num_kp
        self.hourglass = Hourglass(
            block_expansion, (num_kp + 1) * (compress + 1), num_blocks, max_features
        )
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(feature_channel, compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(compress, affine=True)
        self.flag_estimate_occlusion_map = estimate_occlusion_map
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters * reshape_depth, 1, kernel_size=7, padding=3)
            if estimate_occlusion_map
            else None
        )

    def sparse_motions(self, feature, kp_driving, kp_source) -> torch.Tensor:
        """(B, 1 + K, D, H, W, 3): the identity grid, then grid - kp_driving + kp_source."""
        b, _, d, h, w = feature.shape
        grid = coordinate_grid_3d(d, h, w, like=kp_source).view(1, 1, d, h, w, 3)
        per_kp = grid - kp_driving.view(b, self.num_kp, 1, 1, 1, 3)
        per_kp = per_kp + kp_source.view(b, self.num_kp, 1, 1, 1, 3)
        return torch.cat([grid.expand(b, 1, d, h, w, 3), per_kp], dim=1)

    def deformed_features(self, feature, motions) -> torch.Tensor:
        """(B, 1 + K, C, D, H, W): the feature volume sampled along each motion."""
        b, c, d, h, w = feature.shape
        n = self.num_kp + 1
        rep = feature.unsqueeze(1).expand(b, n, c, d, h, w).reshape(b * n, c, d, h, w)
        out = F.grid_sample(rep, motions.reshape(b * n, d, h, w, 3), align_corners=False)
        return out.view(b, n, c, d, h, w)

    def forward(self, feature, kp_driving, kp_source) -> dict:
        b, _, d, h, w = feature.shape
        feature = F.relu(self.norm(self.compress(feature)))
        motions = self.sparse_motions(feature, kp_driving, kp_source)
        deformed = self.deformed_features(feature, motions)
        spatial = (d, h, w)
        heat = gaussian_volumes(kp_driving, spatial, 0.01) - gaussian_volumes(
            kp_source, spatial, 0.01
        )
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1).unsqueeze(2)
        x = torch.cat([heat, deformed], dim=2).view(b, -1, d, h, w)
        prediction = self.hourglass(x)
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (motions.permute(0, 1, 5, 2, 3, 4) * mask.unsqueeze(2)).sum(dim=1)
        out = {"mask": mask, "deformation": deformation.permute(0, 2, 3, 4, 1)}
        if self.occlusion is not None:
            flat = prediction.reshape(b, -1, h, w)
            out["occlusion_map"] = torch.sigmoid(self.occlusion(flat))
        return out
