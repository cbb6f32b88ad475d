"""LivePortrait's building blocks: 2-D / 3-D convolution blocks with batch norm, the 3-D
hourglass of the dense motion network, SPADE normalisation and its residual block (with
spectral-normalised convolutions), and ConvNeXt-V2's LayerNorm and GRN.

Module and parameter names are the reference's (KwaiVGI/LivePortrait, `src/modules/util.py`),
so that its released state dicts load strictly. Written here from the architecture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def coordinate_grid_3d(depth: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(D, H, W, 3) grid of (x, y, z) in [-1, 1] (x right, y down, z in), each axis
    2 i / (n - 1) - 1, in the dtype and on the device of `like`."""

    def axis(n: int) -> torch.Tensor:
        v = torch.arange(n).type(like.dtype).to(like.device)
        return 2 * (v / (n - 1)) - 1

    x, y, z = axis(width), axis(height), axis(depth)
    xx = x.view(1, 1, -1).expand(depth, height, width)
    yy = y.view(1, -1, 1).expand(depth, height, width)
    zz = z.view(-1, 1, 1).expand(depth, height, width)
    return torch.stack([xx, yy, zz], dim=3)


def gaussian_volumes(
    kp: torch.Tensor, spatial: tuple[int, int, int], variance: float
) -> torch.Tensor:
    """(B, K, D, H, W): exp(-|grid - kp|^2 / (2 variance)) for keypoints (B, K, 3)."""
    grid = coordinate_grid_3d(*spatial, like=kp)
    diff = grid.view(1, 1, *grid.shape) - kp.view(*kp.shape[:2], 1, 1, 1, 3)
    return torch.exp(-0.5 * (diff**2).sum(-1) / variance)


class SameBlock2d(nn.Module):
    """conv 3x3 -> batch norm -> ReLU (or leaky ReLU), same resolution."""

    def __init__(self, in_features: int, out_features: int, lrelu: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.ac = nn.LeakyReLU() if lrelu else nn.ReLU()

    def forward(self, x):
        return self.ac(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """conv 3x3 -> batch norm -> ReLU -> 2x2 average pooling."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x):
        return self.pool(F.relu(self.norm(self.conv(x))))


class ResBlock3d(nn.Module):
    """Pre-activation 3-D residual block: x + conv(relu(bn(conv(relu(bn(x))))))."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(features, affine=True)
        self.norm2 = nn.BatchNorm3d(features, affine=True)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class DownBlock3d(nn.Module):
    """conv 3x3x3 -> batch norm -> ReLU -> (1, 2, 2) average pooling (depth kept)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)
        self.pool = nn.AvgPool3d(kernel_size=(1, 2, 2))

    def forward(self, x):
        return self.pool(F.relu(self.norm(self.conv(x))))


class UpBlock3d(nn.Module):
    """nearest x(1, 2, 2) -> conv 3x3x3 -> batch norm -> ReLU."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=(1, 2, 2))
        return F.relu(self.norm(self.conv(x)))


class Encoder(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        chans = [in_features] + [
            min(max_features, block_expansion * 2 ** (i + 1)) for i in range(num_blocks)
        ]
        self.down_blocks = nn.ModuleList(
            DownBlock3d(chans[i], chans[i + 1]) for i in range(num_blocks)
        )

    def forward(self, x):
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            width = min(max_features, block_expansion * 2 ** (i + 1))
            in_filters = width if i == num_blocks - 1 else 2 * width
            blocks.append(UpBlock3d(in_filters, min(max_features, block_expansion * 2**i)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, skips):
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass(nn.Module):
    """3-D U-Net: `num_blocks` down blocks, up blocks with skip concatenation."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x):
        return self.decoder(self.encoder(x))


class SpectralConv2d(nn.Conv2d):
    """A Conv2d whose weight is `weight_orig / sigma`, sigma = u . (W v) with W the weight
    as an (out, -1) matrix: the state-dict layout of `torch.nn.utils.spectral_norm`
    (`weight_orig`, buffers `weight_u`, `weight_v`). In training mode one power iteration
    refreshes u and v before each forward, as that function does."""

    def __init__(self, *args, eps: float = 1e-12, **kwargs):
        super().__init__(*args, **kwargs)
        weight = self.weight.detach()
        del self.weight
        self.weight_orig = nn.Parameter(weight)
        out = weight.shape[0]
        self.register_buffer("weight_u", F.normalize(torch.randn(out), dim=0, eps=eps))
        self.register_buffer(
            "weight_v", F.normalize(torch.randn(weight[0].numel()), dim=0, eps=eps)
        )
        self.eps = eps

    def spectral_weight(self) -> torch.Tensor:
        w = self.weight_orig
        mat = w.reshape(w.shape[0], -1)
        u, v = self.weight_u, self.weight_v
        if self.training:
            with torch.no_grad():
                v = F.normalize(torch.mv(mat.t(), u), dim=0, eps=self.eps, out=v)
                u = F.normalize(torch.mv(mat, v), dim=0, eps=self.eps, out=u)
            u, v = u.clone(), v.clone()
        sigma = torch.dot(u, torch.mv(mat, v))
        return w / sigma

    def forward(self, x):
        return self._conv_forward(x, self.spectral_weight(), self.bias)


class SPADE(nn.Module):
    """Instance norm (no affine) modulated by (1 + gamma(seg)) and beta(seg)."""

    def __init__(self, norm_nc: int, label_nc: int, hidden: int = 128):
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x, seg):
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """SPADE residual block with spectral-normalised convolutions (leaky ReLU 0.2)."""

    def __init__(self, fin: int, fout: int, label_nc: int, hidden: int = 128):
        super().__init__()
        self.learned_shortcut = fin != fout
        mid = min(fin, fout)
        self.conv_0 = SpectralConv2d(fin, mid, kernel_size=3, padding=1)
        self.conv_1 = SpectralConv2d(mid, fout, kernel_size=3, padding=1)
        if self.learned_shortcut:
            self.conv_s = SpectralConv2d(fin, fout, kernel_size=1, bias=False)
        self.norm_0 = SPADE(fin, label_nc, hidden)
        self.norm_1 = SPADE(mid, label_nc, hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_nc, hidden)

    def forward(self, x, seg):
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension ("channels_last") or over dim 1 of NCHW
    ("channels_first", computed as mean / biased variance / sqrt(var + eps))."""

    def __init__(self, dim: int, eps: float = 1e-6, data_format: str = "channels_last"):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps
        self.data_format = data_format

    def forward(self, x):
        if self.data_format == "channels_last":
            return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    """ConvNeXt-V2 global response normalisation of NHWC features."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x
