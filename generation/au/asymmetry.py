"""FAMGAN's step 4: the left and right halves of a face driven apart, then joined.

Each half of the driving face is mirrored into a whole face (`mirror_half`), so that its
AUs can be estimated and a whole target face generated from them; the two generated
sequences are joined, the left half of one beside the right half of the other
(`join_halves`). `half_landmarks` does the same mirroring to a landmark track, so that
each half's AU curves come from the landmark estimator without images.

Conventions. "left" and "right" are image sides (the subject's right half is the image's
left half in a frontal, unmirrored view: FACS's R12 is an image-left AU). Faces are
upright (`fme prepare` crops are); the midline is a vertical line. Images are
channel-last, (..., H, W, C), or grey (H, W). A split column `m` puts columns 0..m-1 in
the left half and m..W-1 in the right; mirroring reflects about the line between columns
m-1 and m (column c <-> 2m-1-c), repeating the edge column where the other half is wider.
"""

from __future__ import annotations

import numpy as np

from fme.core.errors import ConfigError
from generation.synth.aus import MIRROR

SIDES: tuple[str, ...] = ("left", "right")
#: dlib 68 landmarks on the midline, and those of the image-left half (mirror: MIRROR).
MIDLINE_POINTS: tuple[int, ...] = tuple(i for i, m in enumerate(MIRROR) if i == m)
LEFT_POINTS: tuple[int, ...] = (
    *range(0, 8), *range(17, 22), 31, 32, *range(36, 42), 48, 49, 50, 58, 59, 60, 61, 67,
)  # fmt: skip


def _side(side: str) -> str:
    if side not in SIDES:
        raise ConfigError(f"unknown face side {side!r}", hint="Use left or right.")
    return side


def _width_axis(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.ndim - 2


def midline_x(landmarks: np.ndarray) -> float:
    """x of the face's midline: the mean x of its midline landmarks (68, 2)."""
    return float(np.asarray(landmarks)[list(MIDLINE_POINTS), 0].mean())


def split_column(width: int, midline: float | None = None) -> int:
    """The split column m of a midline at pixel x `midline` (pixel centres at integers;
    the line between columns m-1 and m is nearest to it); None: the image centre."""
    if midline is None:
        return width // 2
    m = int(np.floor(midline + 1.0))  # the line m - 0.5 nearest to x
    if not 1 <= m <= width - 1:
        raise ConfigError(f"midline x={midline:.1f} is outside the {width}-pixel image")
    return m


def split_halves(image: np.ndarray, m: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(left, right): columns 0..m-1 and m..W-1 of an image or frames (m: the centre)."""
    img = np.asarray(image)
    axis = _width_axis(img)
    m = img.shape[axis] // 2 if m is None else m
    return np.take(img, range(m), axis), np.take(img, range(m, img.shape[axis]), axis)


def mirror_half(image: np.ndarray, side: str, m: int | None = None) -> np.ndarray:
    """A whole face made of one half of `image` and its mirror image (same shape)."""
    img = np.asarray(image)
    axis = _width_axis(img)
    w = img.shape[axis]
    m = w // 2 if m is None else m
    cols = np.arange(w)
    mirrored = 2 * m - 1 - cols
    if _side(side) == "left":
        src = np.where(cols < m, cols, np.clip(mirrored, 0, m - 1))
    else:
        src = np.where(cols >= m, cols, np.clip(mirrored, m, w - 1))
    return np.take(img, src, axis)


def join_halves(left: np.ndarray, right: np.ndarray, m: int | None = None) -> np.ndarray:
    """Columns 0..m-1 of `left` beside columns m..W-1 of `right` (same shapes)."""
    a, b = np.asarray(left), np.asarray(right)
    if a.shape != b.shape:
        raise ConfigError(f"cannot join halves of shapes {a.shape} and {b.shape}")
    axis = _width_axis(a)
    m = a.shape[axis] // 2 if m is None else m
    return np.concatenate(
        [np.take(a, range(m), axis), np.take(b, range(m, a.shape[axis]), axis)], axis
    )


def half_landmarks(landmarks: np.ndarray, side: str, midline: float | None = None) -> np.ndarray:
    """Landmarks (..., 68, 2) of the whole face that `mirror_half` makes of one side: that
    side's points and the midline kept, the other side's replaced by the mirror images
    (about x = `midline`, default each frame's `midline_x`) of their partners."""
    lm = np.array(landmarks, dtype=np.float64)
    flat = lm.reshape(-1, 68, 2)
    keep = LEFT_POINTS if _side(side) == "left" else tuple(MIRROR[i] for i in LEFT_POINTS)
    for frame in flat:
        mx = midline_x(frame) if midline is None else float(midline)
        src = frame.copy()
        for i in keep:
            j = MIRROR[i]
            frame[j] = (2 * mx - src[i, 0], src[i, 1])
    return flat.reshape(lm.shape)
