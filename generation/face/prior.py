"""The facial prior: 68 dlib landmarks -> 18 keypoints -> 18 maps -> one prior channel.

The keypoints are computed from the landmarks of *each* frame (the landmarks that
`fme prepare` cached), so they move with the face; nothing here detects landmarks.

Coordinates: landmarks are pixel (x, y) of the image they were found in; keypoints
handed to the networks are (x, y) in [-1, 1] with -1 and 1 at the centres of the first
and last pixel (`generation.models.blocks.pixels_to_normalized`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fme.core.errors import ConfigError

#: dlib-68 indices (0-based) of prior keypoints 1-12.
DIRECT_LANDMARKS: tuple[int, ...] = (19, 24, 27, 38, 41, 43, 46, 48, 54, 55, 57, 59)
#: dlib-68 indices of prior keypoints 13-18 and their shift in units of the inner-eye
#: distance ed = x(42) - x(39): (index, dx / ed, dy / ed).
SHIFTED_LANDMARKS: tuple[tuple[int, float, float], ...] = (
    (31, -0.5, 0.0),
    (35, 0.5, 0.0),
    (41, 0.0, 0.5),
    (46, 0.0, 0.5),
    (48, -0.5, 0.0),
    (54, 0.5, 0.0),
)
NUM_PRIOR_KEYPOINTS = len(DIRECT_LANDMARKS) + len(SHIFTED_LANDMARKS)  # 18

#: the reference code's kernel width, in cells of a 64x64 grid
CODE_SIGMA = 0.75
CODE_MAP_SIZE = 64
#: the journal's kernel width, in normalised [-1, 1] coordinates
JOURNAL_SIGMA = 0.01

Kernel = Literal["code", "journal"]


def prior_keypoints(landmarks):
    """The 18 prior keypoints of dlib-68 landmarks: (..., 68, 2) -> (..., 18, 2).

    Works on numpy arrays and torch tensors, in the landmarks' own units (pixels).
    Rows 0-11 are landmarks 19, 24, 27, 38, 41, 43, 46, 48, 54, 55, 57, 59 (0-based).
    With the inner-eye distance ed = x(42) - x(39), rows 12-17 are landmark 31 moved by
    -ed/2 in x, 35 by +ed/2 in x, 41 by +ed/2 in y, 46 by +ed/2 in y, 48 by -ed/2 in x
    and 54 by +ed/2 in x.

    This follows the authors' released code. It departs from Eq. 6 of the journal
    paper, which prints a different combination of landmarks and offsets for the six
    shifted points; the code is what produced the published results, so we follow it.
    """
    if landmarks.shape[-2:] != (68, 2):
        raise ConfigError(f"prior_keypoints needs (..., 68, 2) landmarks, got {landmarks.shape}")
    index = list(DIRECT_LANDMARKS) + [i for i, _, _ in SHIFTED_LANDMARKS]
    shift = np.zeros((NUM_PRIOR_KEYPOINTS, 2), dtype=np.float64)
    for row, (_, dx, dy) in enumerate(SHIFTED_LANDMARKS, start=len(DIRECT_LANDMARKS)):
        shift[row] = (dx, dy)
    ed = landmarks[..., 42, 0] - landmarks[..., 39, 0]
    if isinstance(landmarks, torch.Tensor):
        shift_t = torch.as_tensor(shift, dtype=landmarks.dtype, device=landmarks.device)
        return landmarks[..., index, :] + ed[..., None, None] * shift_t
    landmarks = np.asarray(landmarks)
    out = landmarks[..., index, :] + ed[..., None, None] * shift
    return out.astype(landmarks.dtype if landmarks.dtype.kind == "f" else np.float64)


def prior_maps(
    keypoints: torch.Tensor,
    size: int = CODE_MAP_SIZE,
    kernel: Kernel = "code",
    sigma: float | None = None,
) -> torch.Tensor:
    """One map per keypoint on a size x size grid: (B, K, 2) in [-1, 1] -> (B, K, size, size).

    kernel "code" (default, the authors' code): exp(-sqrt(d) / (2 sigma^2)) with d the
    Euclidean distance in grid cells and sigma = 0.75, divided by its maximum, and values
    below the map's spatial mean set to zero.
    kernel "journal" (the paper's text): exp(-d^2 / sigma^2) with d in normalised [-1, 1]
    coordinates and sigma = 0.01, divided by its maximum (a keypoint between grid
    points still peaks at 1); nothing is zeroed.
    """
    if kernel not in ("code", "journal"):
        raise ConfigError(f"unknown prior kernel {kernel!r}; choose 'code' or 'journal'")
    coords = torch.arange(size, device=keypoints.device, dtype=torch.float32)
    kp = keypoints.float()
    if kernel == "code":
        sigma = CODE_SIGMA if sigma is None else sigma
        cells = (kp + 1.0) * ((size - 1) / 2.0)  # (B, K, 2) in grid cells
        dx = coords[None, None, None, :] - cells[..., 0, None, None]
        dy = coords[None, None, :, None] - cells[..., 1, None, None]
        d = torch.sqrt(dx.square() + dy.square())
        maps = torch.exp(-torch.sqrt(d) / (2.0 * sigma**2))
    else:
        sigma = JOURNAL_SIGMA if sigma is None else sigma
        grid = coords * (2.0 / max(size - 1, 1)) - 1.0
        dx = grid[None, None, None, :] - kp[..., 0, None, None]
        dy = grid[None, None, :, None] - kp[..., 1, None, None]
        maps = torch.exp(-(dx.square() + dy.square()) / sigma**2)
    maps = maps / maps.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    if kernel == "code":
        mean = maps.mean(dim=(-2, -1), keepdim=True)
        maps = torch.where(maps < mean, torch.zeros_like(maps), maps)
    return maps


def ewp(maps: torch.Tensor) -> torch.Tensor:
    """Equal-weight prior: the maps summed and divided by their maximum, (B, 1, H, W)."""
    total = maps.sum(dim=1, keepdim=True)
    return total / total.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


class AWP(nn.Module):
    """Adaptive-weight prior: a learnable fusion of the 18 maps into one channel.

    The authors' layout: conv 3x3 18->9, conv 3x3 9->1 (a ReLU between them here, so
    the two layers are not one linear filter). Trained through the animation loss: its
    output is the prior channel that the keypoint detector reads.

    `init="ewp"` (the default; not the authors') starts the layers as the plain sum of the
    maps (hidden unit j adds maps 2j and 2j+1 with its centre tap, the output adds the
    hidden units), i.e. EWP before its normalisation, and training moves the weights from
    there; `init="random"` is PyTorch's default initialisation, as the authors' code. On
    the synthetic benchmark the random start left mraa-awp's regions without a usable prior
    at the start of a short run.
    """

    def __init__(self, num_maps: int = NUM_PRIOR_KEYPOINTS, hidden: int = 9, init: str = "ewp"):
        super().__init__()
        if init not in ("ewp", "random"):
            raise ConfigError(f"unknown AWP init {init!r}; choose 'ewp' or 'random'")
        self.conv1 = nn.Conv2d(num_maps, hidden, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(hidden, 1, kernel_size=3, padding=1)
        if init == "ewp":
            with torch.no_grad():
                for conv in (self.conv1, self.conv2):
                    conv.weight.zero_()
                    conv.bias.zero_()
                for k in range(num_maps):
                    self.conv1.weight[k * hidden // num_maps, k, 1, 1] = 1.0
                self.conv2.weight[0, :, 1, 1] = 1.0

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(maps)))


class FacialPrior(nn.Module):
    """Pixel landmarks -> (keypoints in [-1, 1], prior channel).

    `forward(landmarks (B, 68, 2), image_size, out_size=None)` returns keypoints
    (B, 18, 2) as (x, y) in [-1, 1] and the prior channel (B, 1, S, S): the 18 maps built
    on a `map_size` grid (64, the authors' grid), fused by EWP or AWP, then resized to
    `out_size` (an int or (h, w)) when given.
    """

    def __init__(
        self,
        fusion: Literal["ewp", "awp"] = "ewp",
        kernel: Kernel = "code",
        map_size: int = CODE_MAP_SIZE,
        sigma: float | None = None,
        awp_init: str = "ewp",
    ):
        super().__init__()
        if fusion not in ("ewp", "awp"):
            raise ConfigError(f"unknown prior fusion {fusion!r}; choose 'ewp' or 'awp'")
        if kernel not in ("code", "journal"):
            raise ConfigError(f"unknown prior kernel {kernel!r}; choose 'code' or 'journal'")
        self.fusion = fusion
        self.kernel = kernel
        self.map_size = int(map_size)
        self.sigma = sigma
        self.awp = AWP(init=awp_init) if fusion == "awp" else None

    def keypoints(self, landmarks: torch.Tensor, image_size) -> torch.Tensor:
        """(B, 68, 2) pixel landmarks -> (B, 18, 2) keypoints in [-1, 1]."""
        h, w = _pair(image_size)
        kp = prior_keypoints(torch.as_tensor(landmarks).float())
        scale = kp.new_tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)])
        return kp * scale - 1.0

    def channel(self, keypoints: torch.Tensor, out_size=None) -> torch.Tensor:
        """The prior channel (B, 1, S, S) of normalised keypoints (B, 18, 2)."""
        maps = prior_maps(keypoints, self.map_size, self.kernel, self.sigma)
        fused = self.awp(maps) if self.awp is not None else ewp(maps)
        if out_size is not None:
            size = _pair(out_size)
            if tuple(fused.shape[-2:]) != size:
                shrink = size[0] < fused.shape[-2]
                # the anti-aliased resize has no bf16 CPU kernel: resize in fp32 under autocast
                fused = F.interpolate(
                    fused.float(), size=size, mode="bilinear", align_corners=False, antialias=shrink
                ).to(fused.dtype)
        return fused

    def forward(
        self, landmarks: torch.Tensor, image_size, out_size=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        kp = self.keypoints(landmarks, image_size)
        return kp, self.channel(kp, out_size)


def _pair(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


#: `prior.keypoints` of a model config: "per_frame" (the default: each frame's prior
#: keypoints from its own landmarks) or "onset" (the MEGC2021 entry as submitted, MM'21:
#: the keypoints, and so the prior maps, computed once per driving clip from its onset
#: frame and shared by all its frames; the animator applies it, `onset_landmarks`)
PRIOR_KEYPOINTS: tuple[str, ...] = ("per_frame", "onset")


def check_prior_keypoints(value: str) -> str:
    """`value` when it is one of PRIOR_KEYPOINTS, else ConfigError."""
    if value not in PRIOR_KEYPOINTS:
        raise ConfigError(
            f"prior.keypoints {value!r}: choose {' or '.join(repr(v) for v in PRIOR_KEYPOINTS)}"
        )
    return value


def onset_landmarks(landmarks, onset_index: int):
    """Landmarks (T, 68, 2) with every frame's replaced by the onset frame's: the prior
    keypoints of "onset" mode, one set for the whole clip."""
    import numpy as np

    landmarks = np.asarray(landmarks)
    return np.repeat(landmarks[onset_index : onset_index + 1], len(landmarks), axis=0)
