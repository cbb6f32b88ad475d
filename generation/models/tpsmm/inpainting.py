"""TPSMM's inpainting network: the source's features warped by the flow, masked by the
multi-resolution occlusion maps, decoded into the driving frame.

An encoder (`first`, then `num_down_blocks` down blocks, instance norm) encodes the
source; each encoder level is warped by the flow of the dense motion network
(bilinearly resized to that level, `align_corners=True`) and multiplied by the occlusion
map of its resolution (coarsest first: occlusion 0 on the deepest features). The decoder
runs two residual blocks and an up block per level, concatenating the warped encoder
features of the next level; the last level is added to the decoder features masked by
1 - occlusion, and the final output blends sigmoid(final(out)) with the warped source:
`prediction = sigmoid(final) (1 - occ) + deformed_source occ`.

With `num_cond_channels` C > 0 (the MEGC2022 entry, `tpsmm-au`, au.py), a condition vector
(B, C) is broadcast over the feature map and concatenated to the input of every decoder
stage (before its two residual blocks), so those blocks and the stage's up block take C
more channels, as the entry's `inpainting_network_AU`. With C = 0 (the default) the
network is the reference's, unchanged.

`warped_encoder_maps` (the warped, occluded encoder features with the graph cut at the
encoder, as upstream) and `encode_driving` give the warp loss. Names are the reference's
(`first`, `down_blocks`, `up_blocks`, `resblock`, `final`), so its `inpainting_network`
state dict loads.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import (
    DownBlock2d,
    ResBlock2d,
    SameBlock2d,
    UpBlock2d,
    compute_dtype,
    fast_inference,
    gather_warp,
    grid_sample,
    head_conv,
    to_channels_last,
)


def resize_flow(deformation: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A flow (B, h, w, 2) bilinearly resized to (height, width) (`align_corners=True`)."""
    if deformation.shape[1:3] == (height, width):
        return deformation
    flow = deformation.permute(0, 3, 1, 2)
    flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=True)
    return flow.permute(0, 2, 3, 1)


def deform(
    features: torch.Tensor,
    deformation: torch.Tensor,
    channels_last: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Features (B, C, H, W) sampled at the flow (B, h, w, 2), resized to (H, W) first;
    the result in `dtype` (default the features') and, with `channels_last`, in
    channels-last memory (one copy from the fp32 sample)."""
    deformation = resize_flow(deformation, *features.shape[2:])
    if dtype is not None and dtype != features.dtype:
        out = grid_sample(features, deformation)  # fp32 when the features are
        return to_channels_last(out, dtype) if channels_last else out.to(dtype)
    return grid_sample(features, deformation, channels_last=channels_last)


def with_condition(features: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """Features (B, C, H, W) with a vector (B, D) broadcast over H x W stacked on: (B, C+D, H, W)."""
    b, _, h, w = features.shape
    return torch.cat([features, condition[:, :, None, None].expand(b, -1, h, w)], 1)


class InpaintingNetwork(nn.Module):
    """forward(source (B, C, H, W), dense_motion dict) -> {"prediction", "deformed", ...}."""

    def __init__(
        self,
        num_channels: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        multi_mask: bool = True,
        num_cond_channels: int = 0,
    ):
        super().__init__()
        self.num_channels = num_channels
        self.num_cond_channels = int(num_cond_channels)
        self.num_down_blocks = num_down_blocks
        self.multi_mask = multi_mask
        self.first = SameBlock2d(
            num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3), norm="instance"
        )
        down, up, res = [], [], []
        for i in range(num_down_blocks):
            width_in = min(max_features, block_expansion * 2**i)
            width_out = min(max_features, block_expansion * 2 ** (i + 1))
            down.append(DownBlock2d(width_in, width_out, 3, 1, norm="instance"))
            decoder_in = width_out if i == num_down_blocks - 1 else 2 * width_out
            decoder_in += self.num_cond_channels
            up.append(UpBlock2d(decoder_in, width_in, 3, 1, norm="instance"))
            res += [ResBlock2d(decoder_in, 3, 1, norm="instance") for _ in range(2)]
        self.down_blocks = nn.ModuleList(down)
        self.up_blocks = nn.ModuleList(up[::-1])
        self.resblock = nn.ModuleList(res[::-1])
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))

    def _occlude(self, x: torch.Tensor, occlusion: torch.Tensor) -> torch.Tensor:
        if not self.multi_mask and x.shape[2:] != occlusion.shape[2:]:
            occlusion = F.interpolate(
                occlusion, size=x.shape[2:], mode="bilinear", align_corners=True
            )
        return x * occlusion.to(x.dtype)

    def _warp_occluded(
        self,
        features: torch.Tensor,
        deformation: torch.Tensor,
        occlusion: torch.Tensor,
        fast: bool,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """`_occlude(deform(features, deformation), occlusion)` in `dtype` (None: the
        features'); on the fast path, features shared by the batch (one image, expanded)
        by one `gather_warp` with the mask in its weights, channels-last."""
        dtype = features.dtype if dtype is None else dtype
        if fast and (features.shape[0] == 1 or features.stride(0) == 0):
            h, w = features.shape[2:]
            if occlusion.shape[2:] != (h, w):
                occlusion = F.interpolate(
                    occlusion, size=(h, w), mode="bilinear", align_corners=True
                )
            out = gather_warp(features, resize_flow(deformation, h, w), occlusion)
            return out if out.dtype == dtype else to_channels_last(out, dtype)
        return self._occlude(
            deform(features, deformation, channels_last=fast, dtype=dtype), occlusion
        )

    def encode(self, source: torch.Tensor) -> list[torch.Tensor]:
        """The encoder features, finest first (done once per video in animation)."""
        out = [self.first(source)]
        for block in self.down_blocks:
            out.append(block(out[-1]))
        return out

    def forward(
        self,
        source: torch.Tensor,
        dense_motion: dict,
        features: list[torch.Tensor] | None = None,
        warped_maps: bool = True,
        condition: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """`features`: `encode(source)` when already at hand; `warped_maps` False skips the
        warp-loss features (animation); `condition` (B, num_cond_channels) enters every
        decoder stage (None: zeros; ignored without condition channels). Returns "prediction", "deformed" (the warped
        source), "occlusion_map", "contribution_maps", "deformed_source" and, with
        `warped_maps`, "warped_encoder_maps"."""
        encoder = self.encode(source) if features is None else features
        deformation = dense_motion["deformation"]
        occlusion = dense_motion["occlusion_map"]
        b = deformation.shape[0]
        if encoder[0].shape[0] != b:
            encoder = [f.expand(b, *f.shape[1:]) for f in encoder]
            source = source.expand(b, *source.shape[1:])
        # In inference (`precise`) under autocast the deepest level's residual blocks, the
        # last level's blend and the output convolution run in fp32, on fp32 warps of the
        # source features (`TPSMM.encode_source` encodes them in fp32): their bf16 rounding
        # moved frames of random weights at 256 px by 2 levels (0-255). The other levels
        # take their warps in the compute dtype. `fast` (`fast_inference`): shared source
        # features are warped and occluded by one `gather_warp`, channels-last.
        precise = not self.training
        fast = fast_inference(self)
        fp32 = torch.autocast(device_type=deformation.device.type, enabled=False)
        island = fp32 if precise else contextlib.nullcontext()
        compute = compute_dtype(deformation)
        warped: list[torch.Tensor] = []
        out = encoder[-1]
        if warped_maps:
            warped.append(self._occlude(deform(out.detach(), deformation), occlusion[0].detach()))
        out = self._warp_occluded(
            out, deformation, occlusion[0], fast, torch.float32 if precise else None
        )
        skip = out
        if self.num_cond_channels:
            if condition is None:
                condition = out.new_zeros(b, self.num_cond_channels)
            condition = condition.expand(b, self.num_cond_channels)
        for i in range(self.num_down_blocks):
            if self.num_cond_channels:
                out = with_condition(out, condition.to(out.dtype))
            with island if i == 0 else contextlib.nullcontext():
                out = self.resblock[2 * i + 1](self.resblock[2 * i](out))
            out = self.up_blocks[i](out)
            level = encoder[-(i + 2)]
            k = i + 1 if self.multi_mask else 0
            if warped_maps:
                warped.append(
                    self._occlude(deform(level.detach(), deformation), occlusion[k].detach())
                )
            last_level = i == self.num_down_blocks - 1
            dtype = None if not precise else torch.float32 if last_level else compute
            skip = self._warp_occluded(level, deformation, occlusion[k], fast, dtype)
            if last_level:
                break
            out = torch.cat([out, skip], 1)
        deformed = deform(source, deformation)
        last = occlusion[-1]
        if not self.multi_mask:
            last = F.interpolate(last, size=out.shape[2:], mode="bilinear", align_corners=True)
        with island:
            if precise:  # fp32: skip + out (1 - last) in one pass
                last = last.float()
                out = torch.addcmul(skip.float(), out, 1 - last)
            else:
                last = last.to(out.dtype)
                out = out * (1 - last) + skip
            out = torch.sigmoid(head_conv(self.final, out, fast))
            prediction = out * (1 - last) + deformed.to(out.dtype) * last
        result = {
            "prediction": prediction,
            "deformed": deformed,
            "occlusion_map": occlusion,
            "contribution_maps": dense_motion["contribution_maps"],
            "deformed_source": dense_motion["deformed_source"],
        }
        if warped_maps:
            result["warped_encoder_maps"] = warped
        return result

    def encode_driving(self, driving: torch.Tensor, occlusion: list[torch.Tensor]):
        """The driving frame's encoder features, occluded and detached, finest first: the
        targets of the warp loss (upstream's `get_encode`, masks taken finest first)."""
        out = self.first(driving)
        maps = [self._occlude(out.detach(), occlusion[-1].detach())]
        for i, block in enumerate(self.down_blocks):
            out = block(out.detach())
            maps.append(self._occlude(out.detach(), occlusion[-(i + 2)].detach()).detach())
        return maps
