"""ConvNeXt-V2 (tiny: depths 3-3-9-3, widths 96-192-384-768) with LivePortrait's heads:
canonical keypoints, scale, 66-bin pitch / yaw / roll, translation and expression.
Names as the reference's `ConvNeXtV2` (`downsample_layers`, `stages`, `norm`, `fc_*`)."""

from __future__ import annotations

from torch import nn

from generation.models.liveportrait.blocks import GRN, LayerNorm


class Block(nn.Module):
    """Depthwise 7x7 -> LayerNorm -> 4x MLP with GELU and GRN, residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    def __init__(
        self,
        in_chans: int = 3,
        depths=(3, 3, 9, 3),
        dims=(96, 192, 384, 768),
        num_kp: int = 21,
        num_bins: int = 66,
    ):
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4),
                    LayerNorm(dims[0], eps=1e-6, data_format="channels_first"),
                )
            ]
        )
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm(dims[i], eps=1e-6, data_format="channels_first"),
                    nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2),
                )
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*[Block(dims[i]) for _ in range(depths[i])]) for i in range(4)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        last = dims[-1]
        self.fc_kp = nn.Linear(last, 3 * num_kp)
        self.fc_scale = nn.Linear(last, 1)
        self.fc_pitch = nn.Linear(last, num_bins)
        self.fc_yaw = nn.Linear(last, num_bins)
        self.fc_roll = nn.Linear(last, num_bins)
        self.fc_t = nn.Linear(last, 3)
        self.fc_exp = nn.Linear(last, 3 * num_kp)

    def forward_features(self, x):
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x.mean([-2, -1]))

    def forward(self, x) -> dict:
        x = self.forward_features(x)
        return {
            "pitch": self.fc_pitch(x),
            "yaw": self.fc_yaw(x),
            "roll": self.fc_roll(x),
            "t": self.fc_t(x),
            "exp": self.fc_exp(x),
            "scale": self.fc_scale(x),
            "kp": self.fc_kp(x),
        }
