"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet or VGG-16 trunk, as the `lpips` package.

The trunk is torchvision's `features` stack under torchvision's names (`features.0.weight`
...), so the ImageNet files `alexnet-owt-7be5be79.pth` / `vgg16-397923af.pth` load as they
are (their `classifier.*` keys are ignored). The linear heads are the `lpips` package's v0.1
files `alex.pth` / `vgg.pth` (keys `lin0.model.1.weight` ...), from a folder the user gives.

Distance of two RGB images in [-1, 1]: shift/scale each channel (the package's
ScalingLayer), take the trunk's activations after the five ReLUs it taps, unit-normalise
each over channels (+1e-10), square the difference, weight the channels by the head (1x1
convolution), average over space, sum over the five layers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.metrics.fid import load_state
from fme.core.errors import ConfigError, DataError

NETS = ("alex", "vgg")
#: the ImageNet trunk files (torchvision's names) and the heads' names in the lpips wheel
TRUNK_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
HEAD_FILES = {"alex": "alex.pth", "vgg": "vgg.pth"}
#: indices of the ReLUs whose outputs are compared (torchvision's `features` numbering)
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _features(net: str):
    import torch.nn as nn

    if net == "alex":
        layers = [
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2),
        ]  # fmt: skip
    elif net == "vgg":
        layers, cin = [], 3
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                cin = v
    else:
        raise ConfigError(f"unknown LPIPS network {net!r}; choose one of {', '.join(NETS)}")
    return nn.Sequential(*layers)


def build(net: str):
    """The LPIPS module for `net` ('alex' or 'vgg'), random weights, eval mode."""
    import torch
    import torch.nn as nn

    class LPIPS(nn.Module):
        def __init__(self):
            super().__init__()
            self.net_name = net
            self.features = _features(net)
            for k, c in enumerate(CHANNELS[net]):
                head = nn.Module()
                head.model = nn.Sequential(nn.Identity(), nn.Conv2d(c, 1, 1, bias=False))
                setattr(self, f"lin{k}", head)
            self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

        def taps(self, x):
            out, taps = [], TAPS[self.net_name]
            h = (x - self.shift) / self.scale
            for i, layer in enumerate(self.features):
                h = layer(h)
                if i in taps:
                    out.append(h)
                    if i == taps[-1]:
                        break
            return out

        def forward(self, x0, x1):
            """Per-pair distance (N,) of images N x 3 x H x W in [-1, 1]."""
            total = 0
            for k, (a, b) in enumerate(zip(self.taps(x0), self.taps(x1))):
                a = a / (torch.sqrt((a * a).sum(1, keepdim=True)) + 1e-10)
                b = b / (torch.sqrt((b * b).sum(1, keepdim=True)) + 1e-10)
                d = getattr(self, f"lin{k}").model((a - b) ** 2)
                total = total + d.mean((2, 3), keepdim=True)
            return total.flatten()

    return LPIPS().eval()


def load_lpips(
    net: str,
    trunk: str | Path,
    heads_dir: str | Path,
    trunk_option: str,
    heads_option: str = "--lpips-dir",
):
    """LPIPS with the trunk from a torchvision ImageNet file and the v0.1 head from
    `heads_dir/<net>.pth`."""
    import torch

    model = build(net)
    sd = load_state(trunk, trunk_option)
    feats = {k: v for k, v in sd.items() if k.startswith("features.")}
    want = {k for k in model.state_dict() if k.startswith("features.")}
    if set(feats) != want:
        raise ConfigError(
            f"is not torchvision's {net} trunk (features.* keys differ); give {TRUNK_FILES[net]} with {trunk_option}",
            path=trunk,
        )
    head_path = Path(heads_dir) / HEAD_FILES[net]
    if not head_path.is_file():
        raise ConfigError(
            f"has no {HEAD_FILES[net]} (the lpips package's weights/v0.1/{HEAD_FILES[net]}); check {heads_option}",
            path=heads_dir,
        )
    try:
        heads = torch.load(
            head_path, map_location="cpu", weights_only=True
        )  # the wheel's files hold CUDA tensors
    except Exception as err:  # noqa: BLE001
        raise ConfigError(
            f"not a torch weights file; check {heads_option}", path=head_path
        ) from err
    want_heads = {k for k in model.state_dict() if k.startswith("lin")}
    if set(heads) != want_heads:
        raise ConfigError(
            f"is not an LPIPS v0.1 {net} head (keys differ); check {heads_option}", path=head_path
        )
    model.load_state_dict({**feats, **heads}, strict=True)
    return model.eval()


def _to_tensor(frames: np.ndarray):
    import torch

    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise DataError(f"frames must be N x H x W x 3 RGB, got shape {a.shape}")
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1 if a.dtype == np.uint8 else x * 2 - 1


def distances(model, a: np.ndarray, b: np.ndarray, batch: int = 16) -> np.ndarray:
    """LPIPS of frame pairs (a[i], b[i]); uint8 frames (or floats in [0, 1]) N x H x W x 3."""
    import torch

    if len(a) != len(b):
        raise DataError(f"LPIPS compares frame pairs: {len(a)} and {len(b)} frames")
    out = []
    with torch.no_grad():
        for i in range(0, len(a), batch):
            out.append(model(_to_tensor(a[i : i + batch]), _to_tensor(b[i : i + batch])).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def flicker(model, frames: np.ndarray) -> np.ndarray:
    """LPIPS between consecutive frames (N - 1 values): temporal flicker."""
    return distances(model, frames[:-1], frames[1:])
