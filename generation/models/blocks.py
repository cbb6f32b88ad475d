"""Building blocks shared by the FOMM and MRAA networks.

Coordinates follow the reference code: a point is (x, y) in [-1, 1], where -1 and 1 are
the centres of the first and last pixel (`make_coordinate_grid`). `grid_sample` follows
each family's reference: FOMM samples with `align_corners=True` (the torch 1.0 default its
published checkpoints were trained under), MRAA with `align_corners=False` (torch 1.4). Attribute names (`conv`, `norm`, `down_blocks`, `up_blocks`,
`encoder`, `decoder`, the buffer `weight` of the anti-alias filter) are the upstream
ones, so that upstream checkpoints load into networks built from these blocks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fme.core.errors import ConfigError


def make_coordinate_grid(
    height: int,
    width: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The (height, width, 2) grid of pixel-centre coordinates (x, y) in [-1, 1].

    Computed as the reference code does, 2 * (i / (n - 1)) - 1, so that its values (and
    the moments and flows built on them) agree with the reference's to the last bit.
    """

    def axis(n: int) -> torch.Tensor:
        if n <= 1:
            return torch.zeros(1, device=device, dtype=dtype)
        return 2 * (torch.arange(n, device=device, dtype=dtype) / (n - 1)) - 1

    yy, xx = torch.meshgrid(axis(height), axis(width), indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def pixels_to_normalized(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates (x, y) of a (height, width) image -> [-1, 1] (pixel centres)."""
    scale = points.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    return points * scale - 1.0


def normalized_to_pixels(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of `pixels_to_normalized`."""
    scale = points.new_tensor([(width - 1) / 2.0, (height - 1) / 2.0])
    return (points + 1.0) * scale


def kp2gaussian(value: torch.Tensor, size: tuple[int, int], variance: float) -> torch.Tensor:
    """Gaussian-like heatmaps exp(-|z - kp|^2 / (2 variance)) of keypoints.

    value: (..., K, 2) keypoints in [-1, 1]; returns (..., K, h, w).
    """
    h, w = size
    grid = make_coordinate_grid(h, w, value.device, value.dtype)
    diff = grid - value[..., None, None, :]
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / variance)


def grid_sample(
    inp: torch.Tensor,
    grid: torch.Tensor,
    padding_mode: str = "zeros",
    align_corners: bool = True,
    channels_last: bool = False,
) -> torch.Tensor:
    """`F.grid_sample` (bilinear) in float32, `align_corners` as the family's reference
    (True: FOMM, the default; False: MRAA); the result in the input's dtype.

    Sampling positions are kept in float32 even under bf16/fp16 autocast: a bf16 grid
    would misplace samples by about an eighth of a pixel at 64x64. An input shared by
    the batch (expanded) is cast once. `channels_last` (the fast inference path, see
    `fast_inference`): a 4-d result in channels-last memory, in the same single copy as
    its cast, as the next convolution takes it.
    """
    out_dtype = inp.dtype
    if inp.dtype != torch.float32 and inp.shape[0] > 1 and inp.stride(0) == 0:
        inp = inp[:1].float().expand_as(inp)
    out = F.grid_sample(
        inp.float(),
        grid.float(),
        mode="bilinear",
        padding_mode=padding_mode,
        align_corners=align_corners,
    )
    if channels_last and out.dim() == 4:
        return to_channels_last(out, out_dtype)
    return out if out_dtype == torch.float32 else out.to(out_dtype)


def gather_warp(
    features: torch.Tensor, grid: torch.Tensor, scale: torch.Tensor | None = None
) -> torch.Tensor:
    """`grid_sample(features, grid)` (bilinear, zero padding, `align_corners=True`) of one
    image's features (1, C, H, W) at a batch of grids (B, h, w, 2), times `scale`
    (B, 1, h, w) when given, in fp32 and channels-last memory: the fast inference path's
    warp of features that every frame of a batch shares.

    Each output pixel is the weighted sum of four rows of the (H W, C) pixel table (one
    `embedding_bag`), a read of C contiguous values where `F.grid_sample` reads each
    channel plane apart and an expanded batch in NCHW; taps outside the image read an
    appended zero row. `scale` (an occlusion mask) multiplies the four weights. The same
    arithmetic as `F.grid_sample` in fp32 up to rounding."""
    _, c, hs, ws = features.shape
    b, h, w, _ = grid.shape
    table = features[:1].float().permute(0, 2, 3, 1).reshape(hs * ws, c)
    table = torch.cat([table, table.new_zeros(1, c)])
    grid = grid.float()
    x = (grid[..., 0] + 1) * (0.5 * (ws - 1))
    y = (grid[..., 1] + 1) * (0.5 * (hs - 1))
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    index, weight = [], []
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = (xi >= 0) & (xi < ws) & (yi >= 0) & (yi < hs)
            index.append(torch.where(inside, yi * ws + xi, hs * ws))
            weight.append(wy * wx)
    weights = torch.stack(weight, -1)
    if scale is not None:
        weights = weights * scale.float().reshape(b, h, w, 1)
    out = F.embedding_bag(
        torch.stack(index, -1).view(-1, 4),
        table,
        per_sample_weights=weights.view(-1, 4),
        mode="sum",
    )
    return out.view(b, h, w, c).permute(0, 3, 1, 2)


#: the most output channels `narrow_conv` computes as one matrix product and shifted sums
NARROW_CONV_MAX_OUT = 4


def narrow_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` for a conv of few output channels (at most `NARROW_CONV_MAX_OUT`, stride
    1, "same" zero padding, one group) in x's dtype, NCHW: per image, one matrix product
    gives every tap's contribution (taps x out channels, H x W) from the channels-last
    image, then the taps' planes are added at their offsets. oneDNN computes such a conv
    with its output channels as the vector lanes, 1 or 3 of 16 busy (TPSMM's 7x7 output
    and occlusion heads at 256 px); here the lanes run along the image rows."""
    out_ch, in_ch, kh, kw = conv.weight.shape
    b, _, h, w = x.shape
    dtype = compute_dtype(x)
    weight = conv.weight.detach().to(dtype).permute(2, 3, 0, 1).reshape(kh * kw * out_ch, in_ch)
    ph, pw = conv.padding
    rows = x.to(dtype).permute(0, 2, 3, 1).reshape(b, h * w, in_ch)  # a view when channels-last
    out = x.new_empty((b, out_ch, h, w), dtype=dtype)
    for i in range(b):
        taps = torch.matmul(weight, rows[i].t()).view(kh, kw, out_ch, h, w)
        # output (y, x) adds tap (dy, dx) of input (y + oy, x + ox), oy = dy - ph, where inside
        acc = out[i].copy_(taps[ph, pw])
        for dy in range(kh):
            for dx in range(kw):
                oy, ox = dy - ph, dx - pw
                if oy or ox:
                    ya, yb, xa, xb = max(0, -oy), min(h, h - oy), max(0, -ox), min(w, w - ox)
                    acc[:, ya:yb, xa:xb].add_(taps[dy, dx, :, ya + oy : yb + oy, xa + ox : xb + ox])
    if conv.bias is not None:
        out += conv.bias.detach().to(dtype).view(1, -1, 1, 1)
    return out


def narrow_conv_applies(conv: nn.Conv2d) -> bool:
    """Whether `narrow_conv` computes `conv` (few outputs, stride 1, same padding)."""
    kh, kw = conv.kernel_size
    return (
        conv.out_channels <= NARROW_CONV_MAX_OUT
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding == (kh // 2, kw // 2)
        and kh % 2 == 1
        and kw % 2 == 1
        and conv.padding_mode == "zeros"
    )


def head_conv(conv: nn.Conv2d, x: torch.Tensor, fast: bool) -> torch.Tensor:
    """`conv(x)`, by `narrow_conv` on the fast inference path where it applies."""
    if fast and narrow_conv_applies(conv):
        return narrow_conv(conv, x)
    return conv(x)


def to_channels_last(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """x (4-d) in `dtype` (default its own) and channels-last memory, in one copy at most."""
    return x.to(x.dtype if dtype is None else dtype, memory_format=torch.channels_last)


def fast_inference(module: nn.Module) -> bool:
    """Eval mode without autograd, and the fast path not turned off for `module` (see
    `set_batch_norm_folding`): batch norms folded into the convolutions, instance norms
    computed per image by `instance_norm_inference`."""
    return not (
        module.training
        or torch.is_grad_enabled()
        or not module.__dict__.get("fold_batch_norm", True)
    )


def set_batch_norm_folding(module: nn.Module, enabled: bool) -> None:
    """Whether the blocks inside `module` fold their batch norms into the convolutions at
    inference (`inference_conv`; the default). Off, they compute conv then norm as the
    reference does, in its rounding: for a network whose outputs an ill-conditioned step
    magnifies (MRAA's region affines are inverted)."""
    for sub in module.modules():
        sub.__dict__["fold_batch_norm"] = bool(enabled)


#: the normalisation layers a block can use: FOMM and MRAA use batch norm, TPSMM an
#: affine instance norm (statistics of each image, no running statistics)
NORMS: tuple[str, ...] = ("batch", "instance")


def norm_layer(kind: str, features: int) -> nn.Module:
    """`nn.BatchNorm2d(features, affine=True)` ("batch") or
    `nn.InstanceNorm2d(features, affine=True)` ("instance")."""
    if kind == "batch":
        return nn.BatchNorm2d(features, affine=True)
    if kind == "instance":
        return nn.InstanceNorm2d(features, affine=True)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {kind!r}")


def instance_norm_inference(
    norm: nn.InstanceNorm2d, x: torch.Tensor, relu: bool = False
) -> torch.Tensor:
    """`norm(x)` (then ReLU, in place on the fresh result) for inference, in x's dtype and
    memory format: each image's statistics by one batch norm in training mode over that
    image alone (its per-channel kernel is vectorised over channels-last memory, and it
    accumulates a bf16 input in fp32 with the norm's fp32 affine), written straight into
    that image's block of one output (stacking separate results cost a copy of the whole
    batch per norm). `F.instance_norm` folds the batch into the channels of an NCHW copy
    instead, about ten times slower on a channels-last bf16 batch."""
    weight, bias = norm.weight, norm.bias
    if x.shape[0] == 1 or torch.is_grad_enabled():  # out= takes no autograd
        parts = [
            F.batch_norm(x[i : i + 1], None, None, weight, bias, True, 0.0, norm.eps)
            for i in range(x.shape[0])
        ]
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
    else:
        out = torch.empty_like(x)  # x's memory format: each image's rows are one block
        stats = x.dtype if weight is None else weight.dtype  # as the kernel saves them
        mean, invstd = x.new_empty(0, dtype=stats), x.new_empty(0, dtype=stats)
        for i in range(x.shape[0]):
            torch.ops.aten.native_batch_norm.out(
                x[i : i + 1],
                weight,
                bias,
                None,
                None,
                True,
                0.0,
                norm.eps,
                out=out[i : i + 1],
                save_mean=mean,
                save_invstd=invstd,
            )
    return out.relu_() if relu else out


def _norm_relu(norm: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """ReLU(norm(x)) on the fast path, for a norm that was not folded into x's conv."""
    if isinstance(norm, nn.InstanceNorm2d):
        return instance_norm_inference(norm, x, relu=True)
    return F.relu(x if norm is None else norm(x), inplace=True)


def _foldable(norm: nn.Module | None) -> nn.BatchNorm2d | None:
    """The norm a convolution's weights can take in (a batch norm in eval mode)."""
    return norm if isinstance(norm, nn.BatchNorm2d) else None


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a convolution runs in here: the autocast dtype when autocast is on."""
    device = x.device.type
    if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def _folded_weights(
    conv: nn.Conv2d, norm: nn.BatchNorm2d | None, dtype: torch.dtype, device, upsampled: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """conv's weights with the eval-mode `norm` folded in, cast to `dtype`, cached on the
    conv; `upsampled` gives the four 2x2 phase kernels of `_upsample_conv`."""
    tensors = [conv.weight, conv.bias]
    if norm is not None:
        tensors += [norm.weight, norm.bias, norm.running_mean, norm.running_var]
    key = (dtype, device, upsampled) + tuple(
        (t.data_ptr(), t._version) if t is not None else None for t in tensors
    )
    cache = conv.__dict__.get("_inference_cache")
    if cache is not None and cache[0] == key:
        return cache[1], cache[2]
    weight = conv.weight.detach().float()
    bias = (
        conv.bias.detach().float()
        if conv.bias is not None
        else torch.zeros(weight.shape[0], device=weight.device)
    )
    if norm is not None:
        scale = torch.rsqrt(norm.running_var.float() + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.detach().float()
        shift = -norm.running_mean.float() * scale
        if norm.bias is not None:
            shift = shift + norm.bias.detach().float()
        weight = weight * scale[:, None, None, None]
        bias = bias * scale + shift
    if upsampled:
        # Row phase a of a 3-tap kernel over a nearest-x2 image is a 2-tap kernel over
        # the small image: a = 0 -> (w0, w1 + w2) at offsets (-1, 0); a = 1 ->
        # (w0 + w1, w2) at offsets (0, +1). The same for columns.
        phase = weight.new_tensor([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])
        weight = torch.stack(
            [
                torch.einsum("ik,ockl,jl->ocij", phase[a], weight, phase[b])
                for a in (0, 1)
                for b in (0, 1)
            ]
        )  # (4, Cout, Cin, 2, 2)
    if upsampled:
        weight = weight.flatten(0, 1)  # (4 Cout, Cin, 2, 2), the phases' convs as one
    weight = weight.to(device, dtype).contiguous(memory_format=torch.channels_last)
    bias = bias.to(device, dtype)
    if upsampled:
        bias = bias.repeat(4)
    conv.__dict__["_inference_cache"] = (key, weight, bias)
    return weight, bias


def inference_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d | None, x: torch.Tensor) -> torch.Tensor:
    """conv(x) followed by the eval-mode `norm`, as one convolution.

    Used only in eval mode without autograd (animation): the batch norm is folded into the
    convolution weights, and the folded weights are cached in the compute dtype (bf16/fp16
    under autocast), so neither the norm nor a per-call weight cast is paid per frame. The
    cache follows in-place updates of the parameters (their version counters) and moves.
    """
    dtype = compute_dtype(x)
    weight, bias = _folded_weights(conv, norm, dtype, x.device, upsampled=False)
    return F.conv2d(
        to_channels_last(x, dtype),
        weight,
        bias,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )


def _upsample_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d | None, x: torch.Tensor) -> torch.Tensor:
    """`inference_conv(conv, norm, nearest_x2(x))` for a 3x3, padding-1 conv, computed on
    the small image: the four output phases are 2x2 convs of x (4 taps instead of 9 per
    output pixel, and no upsampled copy), run as one padded conv with 4x the output
    channels, (h+1) x (w+1) pixels of them; output pixel (2i + a, 2j + b) is phase (a, b)
    at (i + a, j + b). In channels-last memory that interleave is one strided view, read
    by a single copy into the channels-last result."""
    dtype = compute_dtype(x)
    weight, bias = _folded_weights(conv, norm, dtype, x.device, upsampled=True)
    b, _, h, w = x.shape
    c = weight.shape[0] // 4
    out = F.conv2d(to_channels_last(x, dtype), weight, bias, padding=1)  # (b, 4c, h+1, w+1)
    o = out.permute(0, 2, 3, 1).contiguous()  # (b, h+1, w+1, 4c): a no-op when channels-last
    sb, sh, sw, _ = o.stride()
    # y[n, i, a, j, bb, ch] = o[n, i + a, j + bb, (2a + bb) c + ch]
    phases = o.as_strided((b, h, 2, w, 2, c), (sb, sh, sh + 2 * c, sw, sw + c, 1))
    y = phases.contiguous().view(b, 2 * h, 2 * w, c)
    return y.permute(0, 3, 1, 2)


def _phase_decomposable(conv: nn.Conv2d) -> bool:
    return (
        conv.kernel_size == (3, 3)
        and conv.padding == (1, 1)
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur then subsampling by `scale` (band-limited downsampling).

    sigma = (1/scale - 1)/2, kernel 2*round(4 sigma)+1, as in the reference; the kernel is
    the buffer `weight` (channels, 1, k, k). When 1/scale is an integer the blur is
    evaluated only at the kept pixels (a strided convolution), which gives the same
    result as blurring everything and keeping every (1/scale)-th pixel.
    """

    def __init__(self, channels: int, scale: float, persistent: bool = True):
        super().__init__()
        self.scale = float(scale)
        self.channels = channels
        sigma = (1.0 / scale - 1.0) / 2.0
        size = 2 * round(sigma * 4) + 1
        self.ka = size // 2
        self.kb = self.ka - 1 if size % 2 == 0 else self.ka
        if sigma > 0:
            r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2.0
            g = torch.exp(-(r**2) / (2 * sigma**2))
            kernel = g[:, None] * g[None, :]
        else:
            kernel = torch.ones(size, size)
        kernel = kernel / kernel.sum()
        self.register_buffer(
            "weight", kernel.view(1, 1, size, size).repeat(channels, 1, 1, 1), persistent
        )
        inv = 1.0 / scale
        self.stride = int(round(inv)) if abs(inv - round(inv)) < 1e-6 else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        weight = self.weight.to(out.dtype)
        if self.stride:
            return F.conv2d(out, weight, groups=self.channels, stride=self.stride)
        out = F.conv2d(out, weight, groups=self.channels)
        return F.interpolate(out, scale_factor=(self.scale, self.scale))


class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN, ReLU, conv, BN, ReLU, conv, + input)."""

    def __init__(self, in_features: int, kernel_size=3, padding=1, norm: str = "batch"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size, padding=padding)
        self.norm1 = norm_layer(norm, in_features)
        self.norm2 = norm_layer(norm, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fast_inference(self):
            folded = _foldable(self.norm2)
            out = inference_conv(self.conv1, folded, _norm_relu(self.norm1, x))
            out = _norm_relu(None if folded is not None else self.norm2, out)
            out = inference_conv(self.conv2, None, out)
            # an fp32 stream under autocast stays fp32: the bf16 branch adds to it
            return out.add_(x) if out.dtype == x.dtype else x + out
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class _ConvNormBlock(nn.Module):
    """A conv and its norm (`conv`, `norm`: the upstream names), applied as conv, norm,
    ReLU; on the fast inference path as one folded convolution."""

    def __init__(
        self, in_features: int, out_features: int, kernel_size, padding, groups, norm: str
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_features, out_features, kernel_size, padding=padding, groups=groups
        )
        self.norm = norm_layer(norm, out_features)

    def conv_norm_relu(self, x: torch.Tensor) -> torch.Tensor:
        if fast_inference(self):
            folded = _foldable(self.norm)
            out = inference_conv(self.conv, folded, x)
            return _norm_relu(None if folded is not None else self.norm, out)
        return F.relu(self.norm(self.conv(x)))


class UpBlock2d(_ConvNormBlock):
    """Nearest x2 upsampling, conv, BN, ReLU."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size=3,
        padding=1,
        groups=1,
        norm: str = "batch",
    ):
        super().__init__(in_features, out_features, kernel_size, padding, groups, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fast_inference(self) and _phase_decomposable(self.conv):
            folded = _foldable(self.norm)
            out = _upsample_conv(self.conv, folded, x)
            return _norm_relu(None if folded is not None else self.norm, out)
        return self.conv_norm_relu(F.interpolate(x, scale_factor=2.0))


class DownBlock2d(_ConvNormBlock):
    """Conv, BN, ReLU, 2x2 average pooling."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size=3,
        padding=1,
        groups=1,
        norm: str = "batch",
    ):
        super().__init__(in_features, out_features, kernel_size, padding, groups, norm)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv_norm_relu(x))


class SameBlock2d(_ConvNormBlock):
    """Conv, BN, ReLU at the same resolution."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        groups=1,
        kernel_size=3,
        padding=1,
        norm: str = "batch",
    ):
        super().__init__(in_features, out_features, kernel_size, padding, groups, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_norm_relu(x)


def _width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * (2**level))


class Encoder(nn.Module):
    """Hourglass encoder: returns the input and the output of every down block."""

    def __init__(
        self,
        block_expansion: int,
        in_features: int,
        num_blocks=3,
        max_features=256,
        norm: str = "batch",
    ):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                in_features if i == 0 else _width(block_expansion, max_features, i),
                _width(block_expansion, max_features, i + 1),
                norm=norm,
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder: up blocks with skip concatenation; `out_filters` channels out.

    `out_channels` lists the input width of every up block and then `out_filters` (the
    reference TPSMM's `Decoder.out_channels`): entries 1.. are the widths of the stages
    that `forward_stages` returns.
    """

    def __init__(
        self,
        block_expansion: int,
        in_features: int,
        num_blocks=3,
        max_features=256,
        norm: str = "batch",
    ):
        super().__init__()
        blocks = []
        self.out_channels: list[int] = []
        for i in reversed(range(num_blocks)):
            width_in = (1 if i == num_blocks - 1 else 2) * _width(
                block_expansion, max_features, i + 1
            )
            self.out_channels.append(width_in)
            blocks.append(UpBlock2d(width_in, _width(block_expansion, max_features, i), norm=norm))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.out_channels.append(self.out_filters)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        features = list(features)
        out = features.pop()
        for block in self.up_blocks:
            out = block(out)
            out = torch.cat([out, features.pop()], dim=1)
        return out

    def forward_stages(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The output of every up block after its skip concatenation, coarsest first."""
        features = list(features)
        out = features.pop()
        stages = []
        for block in self.up_blocks:
            out = block(out)
            out = torch.cat([out, features.pop()], dim=1)
            stages.append(out)
        return stages


class Hourglass(nn.Module):
    """U-Net style encoder-decoder; the input needs a side divisible by 2**num_blocks."""

    def __init__(
        self,
        block_expansion: int,
        in_features: int,
        num_blocks=3,
        max_features=256,
        norm: str = "batch",
    ):
        super().__init__()
        self.num_blocks = num_blocks
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, norm)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features, norm)
        self.out_filters = self.decoder.out_filters
        self.out_channels = self.decoder.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every decoder stage (see `Decoder.forward_stages`)."""
        return self.decoder.forward_stages(self.encoder(x))


def hourglass_min_size(num_blocks: int) -> int:
    """The smallest input side an hourglass of `num_blocks` down blocks accepts (2**n)."""
    return int(math.pow(2, num_blocks))


def check_hourglass_input(size: int, name: str, section: dict) -> None:
    """ConfigError unless an hourglass config section (`scale_factor`, `num_blocks`) can
    take a `size`-pixel image after its downscaling."""
    inner = size * float(section["scale_factor"])
    need = hourglass_min_size(int(section["num_blocks"]))
    if inner < need or abs(inner - round(inner)) > 1e-6 or round(inner) % need:
        raise ConfigError(
            f"image_size {size} with {name}.scale_factor {section['scale_factor']} gives a "
            f"{inner:g}-pixel input, which an hourglass of {section['num_blocks']} blocks "
            f"cannot take (it needs a multiple of {need})",
            hint="Use the 'small' config below 128 px, or change num_blocks/scale_factor.",
        )


def downscaled_size(
    height: int, width: int, scale_factor: float, down: AntiAliasInterpolation2d | None
) -> tuple[int, int]:
    """The (h, w) an image of (height, width) has after `down` (None: scale 1)."""
    if scale_factor == 1 or down is None:
        return height, width
    if down.stride:
        s = down.stride
        return -(-height // s), -(-width // s)
    return int(height * scale_factor), int(width * scale_factor)


def add_codec_layers(
    module: nn.Module,
    num_channels: int,
    block_expansion: int,
    max_features: int,
    num_down_blocks: int,
    num_bottleneck_blocks: int,
) -> None:
    """The encoder/decoder layers FOMM's and MRAA's generators share, under their upstream
    names: `first`, `down_blocks`, `up_blocks`, `bottleneck` (r0, r1, ...), `final`."""

    def width(level: int) -> int:
        return _width(block_expansion, max_features, level)

    module.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
    module.down_blocks = nn.ModuleList(
        DownBlock2d(width(i), width(i + 1), kernel_size=(3, 3), padding=(1, 1))
        for i in range(num_down_blocks)
    )
    module.up_blocks = nn.ModuleList(
        UpBlock2d(
            width(num_down_blocks - i),
            width(num_down_blocks - i - 1),
            kernel_size=(3, 3),
            padding=(1, 1),
        )
        for i in range(num_down_blocks)
    )
    module.bottleneck = nn.Sequential()
    for i in range(num_bottleneck_blocks):
        module.bottleneck.add_module(
            f"r{i}", ResBlock2d(width(num_down_blocks), kernel_size=(3, 3), padding=(1, 1))
        )
    module.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
