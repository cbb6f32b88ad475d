"""G, the SPADE decoder: warped features (B, 256, 64, 64) -> image (B, 3, 512, 512) in
[0, 1] (x2 pixel shuffle at the end when `upscale` is 2). Names as the reference's
`SPADEDecoder`; `spade_hidden` (the SPADE MLPs' width) is 128 there, narrower only in our
small test config."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.liveportrait.blocks import SPADEResnetBlock


class SPADEDecoder(nn.Module):
    def __init__(
        self,
        upscale: int = 1,
        max_features: int = 256,
        block_expansion: int = 64,
        out_channels: int = 64,
        num_down_blocks: int = 2,
        spade_hidden: int = 128,
    ):
        super().__init__()
        width = min(max_features, block_expansion * 2**num_down_blocks)
        self.upscale = upscale
        self.fc = nn.Conv2d(width, 2 * width, 3, padding=1)
        for i in range(6):
            setattr(
                self, f"G_middle_{i}", SPADEResnetBlock(2 * width, 2 * width, width, spade_hidden)
            )
        self.up_0 = SPADEResnetBlock(2 * width, width, width, spade_hidden)
        self.up_1 = SPADEResnetBlock(width, out_channels, width, spade_hidden)
        self.up = nn.Upsample(scale_factor=2)
        if upscale is None or upscale <= 1:
            self.conv_img = nn.Conv2d(out_channels, 3, 3, padding=1)
        else:
            self.conv_img = nn.Sequential(
                nn.Conv2d(out_channels, 3 * 4, kernel_size=3, padding=1),
                nn.PixelShuffle(upscale_factor=2),
            )

    def forward(self, feature):
        x = self.fc(feature)
        for i in range(6):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        x = self.up_0(self.up(x), feature)
        x = self.up_1(self.up(x), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))
