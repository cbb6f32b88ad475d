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

from generation.models.blocks import (
    add_codec_layers,
    fast_inference,
    grid_sample,
    inference_conv,
)
from generation.models.mraa.pixelwise_flow import PixelwiseFlowPredictor


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
        fast = fast_inference(self)
        blend = _Blend(
            motion["optical_flow"], motion.get("occlusion_map"), self.align_corners, fast
        )
        out = blend(features[-1], None)
        out = self.bottleneck(out)
        for i, block in enumerate(self.up_blocks):
            if self.skips:
                out = blend(features[-(i + 1)], out)
            out = block(out)
        if self.skips:
            out = blend(features[0], out)
        if fast:
            out = torch.sigmoid(inference_conv(self.final, None, out))
        else:
            out = torch.sigmoid(self.final(out))
        if self.skips:
            out = blend(source, out)
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


class _Blend:
    """x = warp(skip) * occlusion + x * (1 - occlusion) (the reference's skip blend), with
    the flow and the occlusion resized once per resolution and each skip warped once (the
    deepest features are blended twice, before the bottleneck and before the first up
    block, as in the reference). One `torch.lerp` instead of the two products and the sum."""

    def __init__(
        self,
        flow: torch.Tensor,
        occlusion: torch.Tensor | None,
        align_corners: bool,
        channels_last: bool = False,
    ):
        self.flow, self.occlusion, self.align_corners = flow, occlusion, align_corners
        self.channels_last = channels_last  # the fast inference path's memory format
        self.sizes: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor | None]] = {}
        self.warped: dict[int, torch.Tensor] = {}

    def _at(self, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        if size not in self.sizes:
            occlusion = self.occlusion
            if occlusion is not None and tuple(occlusion.shape[2:]) != size:
                occlusion = F.interpolate(
                    occlusion, size=size, mode="bilinear", align_corners=self.align_corners
                )
            self.sizes[size] = (resize_flow(self.flow, size, self.align_corners), occlusion)
        return self.sizes[size]

    def __call__(self, skip: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        flow, occlusion = self._at(tuple(skip.shape[2:]))
        key = id(skip)
        if key not in self.warped:
            self.warped[key] = grid_sample(
                skip, flow, align_corners=self.align_corners, channels_last=self.channels_last
            )
        warped = self.warped[key]
        if occlusion is None:
            return warped
        occlusion = occlusion.to(warped.dtype)
        if previous is None:
            return warped * occlusion
        return torch.lerp(previous.to(warped.dtype), warped, occlusion)
