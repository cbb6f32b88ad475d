"""Multi-scale patch discriminator (pix2pix style) for the optional GAN term.

Upstream names: `discs` (one per scale, key "1", "0-5", ...), each with `down_blocks`
(`conv`, `norm`) and a 1x1 `conv`; with spectral norm the weights are stored as
`weight_orig`, `weight_u`, `weight_v`, as torch.nn.utils.spectral_norm names them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import kp2gaussian


def scale_key(scale: float) -> str:
    """The module key of a scale: 1 -> "1", 0.5 -> "0-5"."""
    return format(float(scale), "g").replace(".", "-")


class DiscriminatorBlock(nn.Module):
    """Conv (4x4, no padding), optional instance norm, leaky ReLU, optional 2x2 pooling."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        norm: bool = False,
        kernel_size: int = 4,
        pool: bool = False,
        sn: bool = False,
    ):
        super().__init__()
        conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        if self.pool:
            out = F.avg_pool2d(out, (2, 2))
        return out


class Discriminator(nn.Module):
    """One scale: returns (feature maps of every block, the patch prediction map)."""

    def __init__(
        self,
        num_channels: int = 3,
        block_expansion: int = 64,
        num_blocks: int = 4,
        max_features: int = 512,
        sn: bool = False,
        use_kp: bool = False,
        num_kp: int = 10,
        kp_variance: float = 0.01,
    ):
        super().__init__()

        def width(level: int) -> int:
            return min(max_features, block_expansion * (2**level))

        self.down_blocks = nn.ModuleList(
            DiscriminatorBlock(
                num_channels + num_kp * use_kp if i == 0 else width(i),
                width(i + 1),
                norm=i != 0,
                kernel_size=4,
                pool=i != num_blocks - 1,
                sn=sn,
            )
            for i in range(num_blocks)
        )
        conv = nn.Conv2d(width(num_blocks), 1, kernel_size=1)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(
        self, x: torch.Tensor, kp: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        out = x
        if self.use_kp:
            out = torch.cat([out, kp2gaussian(kp, x.shape[2:], self.kp_variance)], dim=1)
        features = []
        for block in self.down_blocks:
            out = block(out)
            features.append(out)
        return features, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One `Discriminator` per scale; `forward(pyramid)` takes {scale: image} and returns
    {"features": [per-scale lists of feature maps], "predictions": [per-scale maps]} in
    the order of `scales`."""

    def __init__(self, scales=(1,), **kwargs):
        super().__init__()
        self.scales = [float(s) for s in scales]
        self.discs = nn.ModuleDict({scale_key(s): Discriminator(**kwargs) for s in self.scales})

    def forward(
        self, pyramid: dict[float, torch.Tensor], kp: torch.Tensor | None = None
    ) -> dict[str, list]:
        features, predictions = [], []
        for s in self.scales:
            f, p = self.discs[scale_key(s)](pyramid[s], kp)
            features.append(f)
            predictions.append(p)
        return {"features": features, "predictions": predictions}
