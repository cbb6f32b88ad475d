"""FOMM occlusion-aware generator: encode the source, warp its features by the dense
motion, mask them by the occlusion map, decode.

Upstream names: `first`, `down_blocks`, `up_blocks`, `bottleneck` (`r0`, `r1`, ...),
`final`, `dense_motion_network`. Encoding is separate from the rest (`encode`,
`warp_and_decode`) so that animation encodes the source image once per video.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import (
    add_codec_layers,
    fast_inference,
    grid_sample,
    inference_conv,
)
from generation.models.fomm.dense_motion import DenseMotionNetwork, SourceMotionInputs


class OcclusionAwareGenerator(nn.Module):
    def __init__(
        self,
        num_channels: int,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: dict[str, Any] | None = None,
        estimate_jacobian: bool = False,
        image_residual: bool = False,
    ):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp,
                num_channels=num_channels,
                estimate_occlusion_map=estimate_occlusion_map,
                **dense_motion_params,
            )
        else:
            self.dense_motion_network = None

        add_codec_layers(
            self, num_channels, block_expansion, max_features, num_down_blocks,
            num_bottleneck_blocks,
        )  # fmt: skip
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels
        # not in the paper: decode a logit residual on the deformed source image, so that
        # an untrained decoder already returns the warped source (small CPU configs)
        self.image_residual = image_residual and dense_motion_params is not None

    def encode(self, source_image: torch.Tensor) -> torch.Tensor:
        """Source features after `first` and the down blocks."""
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, features: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Bottleneck, up blocks, final conv, sigmoid: an image in [0, 1]. With `base`
        (an image in [0, 1]), the final conv's output is added to its logit."""
        out = self.bottleneck(features)
        for block in self.up_blocks:
            out = block(out)
        if fast_inference(self):
            logits = inference_conv(self.final, None, out).float()
        else:
            logits = self.final(out).float()
        if base is not None:
            logits = logits + torch.logit(base.float().clamp(1e-3, 1 - 1e-3))
        return torch.sigmoid(logits)

    def deform(self, inp: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        """Warp (B, C, H, W) by a (B, h, w, 2) backward warp (resized to H x W)."""
        _, h_old, w_old, _ = deformation.shape
        h, w = inp.shape[2:]
        if (h_old, w_old) != (h, w):
            deformation = deformation.permute(0, 3, 1, 2)
            deformation = F.interpolate(deformation, size=(h, w), mode="bilinear")
            deformation = deformation.permute(0, 2, 3, 1)
        return grid_sample(inp, deformation, channels_last=fast_inference(self))

    def warp_and_decode(
        self,
        source_image: torch.Tensor,
        encoded: torch.Tensor,
        kp_driving: dict[str, torch.Tensor],
        kp_source: dict[str, torch.Tensor],
        prepared: SourceMotionInputs | None = None,
        with_deformed: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Everything after encoding. `encoded`/`source_image` may have batch 1 (shared
        by all B driving keypoint sets) or B."""
        out: dict[str, torch.Tensor] = {}
        b = kp_driving["value"].shape[0]
        if encoded.shape[0] != b:
            encoded = encoded.expand(b, *encoded.shape[1:])
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image, kp_driving, kp_source, prepared)
            out["mask"] = motion["mask"]
            out["sparse_deformed"] = motion["sparse_deformed"]
            deformation = motion["deformation"]
            encoded = self.deform(encoded, deformation)
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                out["occlusion_map"] = occlusion
                if occlusion.shape[2:] != encoded.shape[2:]:
                    occlusion = F.interpolate(occlusion, size=encoded.shape[2:], mode="bilinear")
                encoded = encoded * occlusion.to(encoded.dtype)
            if with_deformed or self.image_residual:
                src = source_image
                if src.shape[0] != b:
                    src = src.expand(b, *src.shape[1:])
                out["deformed"] = self.deform(src, deformation)
        base = out["deformed"] if self.image_residual else None
        out["prediction"] = self.decode(encoded, base)
        if not with_deformed:
            out.pop("deformed", None)
        return out

    def forward(
        self,
        source_image: torch.Tensor,
        kp_driving: dict[str, torch.Tensor],
        kp_source: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        return self.warp_and_decode(source_image, self.encode(source_image), kp_driving, kp_source)
