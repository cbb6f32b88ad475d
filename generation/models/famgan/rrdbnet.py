"""RRDBNet x4 (ESRGAN's generator) under Real-ESRGAN's module names: FAMGAN's optional
super-resolution stage.

FAMGAN (MM'21) upsamples its generated frames with RealSR. We ship no weights and fetch
none: `load_rrdbnet(path)` builds the network and loads a state dict a user owns (a
Real-ESRGAN `RealESRGAN_x4plus.pth`-style file: the tensors, or a dict holding them under
`params_ema` / `params`), strictly, so that a file of another architecture fails loudly.

Architecture (Real-ESRGAN's `RRDBNet`, scale 4): `conv_first` 3x3 -> `num_feat`; `body`: a
sequence of `num_block` RRDBs, each three residual dense blocks `rdb1..rdb3` of five 3x3
convolutions `conv1..conv5` (each seeing the block input and every earlier output, growth
`num_grow_ch`, LeakyReLU 0.2, the fifth's output scaled by 0.2 and added to the input), the
RRDB's output again 0.2 x + input; `conv_body` and a long skip; two nearest x2 upsamplings
each followed by `conv_up1` / `conv_up2` and LeakyReLU; `conv_hr`, LeakyReLU, `conv_last`.
Input and output in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fme.core.errors import ConfigError, brief


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for i in range(5):
            out = num_feat if i == 4 else num_grow_ch
            setattr(self, f"conv{i + 1}", nn.Conv2d(num_feat + i * num_grow_ch, out, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            conv = getattr(self, f"conv{i}")
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 3, 4H, 4W). Real-ESRGAN x4plus: 64 / 23 / 32."""

    scale = 4

    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def load_rrdbnet(
    path: str | Path, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32
) -> RRDBNet:
    """An RRDBNet in eval mode with the user's weights from `path`, loaded strictly."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            "--super-resolution is a folder, expected the weights file",
            path,
            "Give the RRDBNet x4 .pth file (e.g. RealESRGAN_x4plus.pth).",
        )
    if not path.is_file():
        raise ConfigError(
            "super-resolution weights not found",
            path,
            "Give an RRDBNet x4 state dict (Real-ESRGAN module names), or leave it off.",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise ConfigError(f"cannot read super-resolution weights ({brief(err)})", path) from err
    if isinstance(state, dict):
        for key in ("params_ema", "params"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    net = RRDBNet(num_feat, num_block, num_grow_ch)
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ConfigError(
            f"the file is not an RRDBNet x4 of {num_feat} features, {num_block} blocks, "
            f"growth {num_grow_ch} ({str(err)[:200]})",
            path,
            "Set model.super_resolution.num_feat/num_block/num_grow_ch to the file's.",
        ) from err
    return net.eval()
