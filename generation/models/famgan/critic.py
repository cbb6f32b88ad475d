"""GANimation's critic: a PatchGAN with a real/fake head and an AU-regression head.

`repeat_num` stride-2 4x4 convolutions (width doubling from `conv_dim`, LeakyReLU 0.01,
no normalisation: WGAN-GP penalises per-sample gradients) reduce an image of side S to
S / 2^repeat_num; `conv1` (3x3, 1 channel) scores each patch (the WGAN critic value) and
`conv2` (a kernel over the whole remaining map) regresses the AU vector. Paper scale:
conv_dim 64, repeat_num 6 at 128 px (a 2x2 patch map). Module names are upstream's
(`main`, `conv1`, `conv2`).
"""

from __future__ import annotations

import torch
from torch import nn

from fme.core.errors import ConfigError


class GANimationCritic(nn.Module):
    """image (B, 3, S, S) in [-1, 1] -> {"score": (B, 1, s, s), "aus": (B, c_dim)}."""

    def __init__(
        self, image_size: int = 128, c_dim: int = 17, conv_dim: int = 64, repeat_num: int = 6
    ):
        super().__init__()
        side = int(image_size) >> int(repeat_num)
        if side < 1 or side << int(repeat_num) != int(image_size):
            raise ConfigError(
                f"the critic's {repeat_num} stride-2 layers need an image side divisible by "
                f"{2**repeat_num}, not {image_size}",
                hint="Change train.size or model.critic.repeat_num.",
            )
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01, True)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01, True)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, side, bias=False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.main(image)
        return {"score": self.conv1(h), "aus": self.conv2(h).flatten(1)}
