"""W, the warping module: the source feature volume warped by the dense motion from the
source to the driving keypoints, flattened to 2-D (B, 512, 64, 64), then two convolutions
and the occlusion map. Names as the reference's `WarpingNetwork`."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from generation.models.liveportrait.blocks import SameBlock2d
from generation.models.liveportrait.dense_motion import DenseMotionNetwork


class WarpingNetwork(nn.Module):
    def __init__(
        self,
        num_kp: int = 21,
        block_expansion: int = 64,
        max_features: int = 512,
        num_down_blocks: int = 2,
        reshape_channel: int = 32,
        estimate_occlusion_map: bool = True,
        dense_motion_params: dict | None = None,
    ):
        super().__init__()
        params = dense_motion_params or {}
        self.dense_motion_network = DenseMotionNetwork(
            num_kp=num_kp,
            feature_channel=reshape_channel,
            estimate_occlusion_map=estimate_occlusion_map,
            **params,
        )
        width = block_expansion * 2**num_down_blocks
        self.third = SameBlock2d(max_features, width, lrelu=True)
        self.fourth = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, feature_3d, kp_driving, kp_source) -> dict:
        motion = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        out = F.grid_sample(feature_3d, motion["deformation"], align_corners=False)
        b, c, d, h, w = out.shape
        out = self.fourth(self.third(out.view(b, c * d, h, w)))
        occlusion = motion.get("occlusion_map")
        if occlusion is not None:
            out = out * occlusion
        return {"occlusion_map": occlusion, "deformation": motion["deformation"], "out": out}
