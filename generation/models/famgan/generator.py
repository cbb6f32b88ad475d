"""GANimation's generator: an image and an AU vector in, an attention mask and a colour map out.

Pumarola et al., ECCV 2018 (the network FAMGAN drives, Xu et al., MM'21). The AU vector is
broadcast to one constant channel per AU and concatenated to the image; a 7x7 convolution,
two stride-2 4x4 downsamplings, `repeat_num` residual blocks and two stride-2 4x4 transposed
convolutions (instance norm with affine parameters and ReLU after each, no biases) give the
features, from which a 7x7 convolution + tanh gives the colour map C and another 7x7
convolution + sigmoid the attention mask A. The output keeps the input where A is 1::

    output = A * input + (1 - A) * C

Images are in [-1, 1] here (GANimation's normalisation); the model converts. Module names
are upstream's (`main`, `img_reg`, `attetion_reg`, its spelling), layer for layer, so that
a generator state dict of the reference code loads.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + (conv 3x3, IN, ReLU, conv 3x3, IN)(x), at a constant width."""

    def __init__(self, dim: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


def compose(image: torch.Tensor, attention: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """A * image + (1 - A) * C: the attention mask keeps the input where it is 1."""
    return attention * image + (1 - attention) * color


class GANimationGenerator(nn.Module):
    """(image (B, 3, H, W) in [-1, 1], AUs (B, c_dim)) -> {"color", "attention", "image"}.

    Paper scale: conv_dim 64, repeat_num 6 (GANimation's defaults, 128 px). H and W must be
    multiples of 4 (two downsamplings).
    """

    def __init__(self, c_dim: int = 17, conv_dim: int = 64, repeat_num: int = 6):
        super().__init__()
        self.c_dim = int(c_dim)
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
            nn.InstanceNorm2d(conv_dim, affine=True),
            nn.ReLU(inplace=True),
        ]
        dim = conv_dim
        for _ in range(2):
            layers += [
                nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(dim * 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(dim // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        self.main = nn.Sequential(*layers)
        self.img_reg = nn.Sequential(nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.attetion_reg = nn.Sequential(nn.Conv2d(dim, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, image: torch.Tensor, aus: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = image.shape
        cond = aus.to(image.dtype).reshape(b, self.c_dim, 1, 1).expand(b, self.c_dim, h, w)
        features = self.main(torch.cat([image, cond], dim=1))
        color = self.img_reg(features)
        attention = self.attetion_reg(features)
        return {"color": color, "attention": attention, "image": compose(image, attention, color)}
