"""MRAA generator: a Johnson-style encoder-decoder whose features are warped by the flow.

The source image is encoded (`first`, then `down_blocks`); the pixel-wise flow predictor
turns source and driving regions into a dense flow and an occlusion map; the deepest
source features are warped and masked by occlusion, go through the residual
`bottleneck`, and are decoded by `up_blocks`. With skip connections, before every up
block (and before `final`, and on the output image itself) the warped source features
of that resolution fill the visible part: x = warp(skip) * occlusion + x * (1 - occlusion).

Warps and the resizes of flow and occlusion use `align_corners` False by default, as the
reference (torch 1.4 defaults); True gives the FOMM convention.

`encode` depends on the source image only, so animation runs it once per video and
`decode` once per batch of driving frames. Module names are the upstream ones
(`pixelwise_flow_predictor`, `first`, `down_blocks`, `bottleneck.r0..`, `up_blocks`,
`final`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import add_codec_layers, grid_sample
from generation.models.pixelwise_flow import PixelwiseFlowPredictor


def resize_flow(
    flow: torch.Tensor, size: tuple[int, int], align_corners: bool = False
) -> torch.Tensor:
    """A sampling grid (B, h, w, 2) resized to `size` (bilinear)."""
    if tuple(flow.shape[1:3]) == tuple(size):
        return flow
    resized = F.interpolate(
        flow.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=align_corners
    )
    return resized.permute(0, 2, 3, 1)


def deform(image: torch.Tensor, flow: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """`image` (B, C, H, W) sampled at `flow` (resized to (H, W) when needed)."""
    flow = resize_flow(flow, image.shape[2:], align_corners)
    return grid_sample(image, flow, align_corners=align_corners)


class Generator(nn.Module):
    """forward(source, driving_regions, source_regions, bg_params=None) ->
    {"prediction": (B, C, H, W), "deformed": (B, C, H, W), "occlusion_map", "optical_flow"}.
    """

    def __init__(
        self,
        num_channels: int,
        num_regions: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        pixelwise_flow_predictor_params: dict[str, Any] | None = None,
        skips: bool = True,
        revert_axis_swap: bool = True,
        align_corners: bool = False,
    ):
        super().__init__()
        self.align_corners = align_corners
        if pixelwise_flow_predictor_params is None:
            raise ValueError("the MRAA generator needs pixelwise_flow_predictor_params")
        self.pixelwise_flow_predictor = PixelwiseFlowPredictor(
            num_regions=num_regions,
            num_channels=num_channels,
            revert_axis_swap=revert_axis_swap,
            align_corners=align_corners,
            **pixelwise_flow_predictor_params,
        )
        add_codec_layers(
            self, num_channels, block_expansion, max_features, num_down_blocks,
            num_bottleneck_blocks,
        )  # fmt: skip
        self.num_channels = num_channels
        self.skips = skips

    def encode(self, source: torch.Tensor) -> list[torch.Tensor]:
        """Source features at every resolution, finest first."""
        out = self.first(source)
        features = [out]
        for block in self.down_blocks:
            out = block(out)
            features.append(out)
        return features

    def _blend(
        self, skip: torch.Tensor, previous: torch.Tensor | None, flow: torch.Tensor, occlusion
    ) -> torch.Tensor:
        warped = deform(skip, flow, self.align_corners)
        if occlusion is None:
            return warped
        if occlusion.shape[2:] != warped.shape[2:]:
            occlusion = F.interpolate(
                occlusion, size=warped.shape[2:], mode="bilinear", align_corners=self.align_corners
            )
        occlusion = occlusion.to(warped.dtype)
        if previous is None:
            return warped * occlusion
        return warped * occlusion + previous * (1 - occlusion)

    def decode(
        self,
        source: torch.Tensor,
        features: list[torch.Tensor],
        motion: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """The output image from the source (features) and the predicted motion."""
        b = motion["optical_flow"].shape[0]
        if features[0].shape[0] != b:
            features = [f.expand(b, *f.shape[1:]) for f in features]
            source = source.expand(b, *source.shape[1:])
        flow = motion["optical_flow"]
        occlusion = motion.get("occlusion_map")
        out = self._blend(features[-1], None, flow, occlusion)
        out = self.bottleneck(out)
        for i, block in enumerate(self.up_blocks):
            if self.skips:
                out = self._blend(features[-(i + 1)], out, flow, occlusion)
            out = block(out)
        if self.skips:
            out = self._blend(features[0], out, flow, occlusion)
        out = torch.sigmoid(self.final(out))
        if self.skips:
            out = self._blend(source, out, flow, occlusion)
        return out

    def forward(
        self,
        source: torch.Tensor,
        driving_regions: dict[str, torch.Tensor],
        source_regions: dict[str, torch.Tensor],
        bg_params: torch.Tensor | None = None,
        features: list[torch.Tensor] | None = None,
        source_small: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        if features is None:
            features = self.encode(source)
        motion = self.pixelwise_flow_predictor(
            source, driving_regions, source_regions, bg_params, source_small=source_small
        )
        b = motion["optical_flow"].shape[0]
        full = source if source.shape[0] == b else source.expand(b, *source.shape[1:])
        out = {
            "prediction": self.decode(source, features, motion),
            "deformed": deform(full, motion["optical_flow"], self.align_corners),
            "optical_flow": motion["optical_flow"],
        }
        if "occlusion_map" in motion:
            out["occlusion_map"] = motion["occlusion_map"]
        return out
