"""The action-unit (AU) library: FACS action units as displacements of the dlib 68 landmarks.

Each AU is a pattern of displacements in units of the inter-ocular distance (IOD), in the
face's own frame: x along the line from the image-left eye to the image-right eye, y
perpendicular to it and pointing down the face. A pattern's largest landmark displacement
is 1; an AU at intensity `a` moves its landmarks by at most `a` IOD. Patterns are written
for the image-left half of the face and mirrored; "outward" is away from the midline.

Landmark indices (0-based dlib 68): jaw 0-16, brows 17-21 / 22-26, nose bridge 27-30, nose
base 31-35, eyes 36-41 / 42-47 (36 and 45 outer corners), outer lips 48-59 (48 and 54
corners), inner lips 60-67.

Emotions are AU combinations (CASME II names; the MEGC2019 3-class label beside them):
happiness ~ 6+12 (positive); disgust ~ 4+7, 9+10 and repression ~ 14, 15+17 (negative);
surprise ~ 1+2, +5, +26.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: dlib 68 index of each landmark's mirror image (left <-> right).
MIRROR: tuple[int, ...] = (
    *range(16, -1, -1),  # jaw
    *range(26, 16, -1),  # brows
    27, 28, 29, 30,  # nose bridge
    35, 34, 33, 32, 31,  # nose base
    45, 44, 43, 42, 47, 46,  # eye 36-41 -> 42-47
    39, 38, 37, 36, 41, 40,  # eye 42-47 -> 36-41
    54, 53, 52, 51, 50, 49, 48,  # outer upper lip
    59, 58, 57, 56, 55,  # outer lower lip
    64, 63, 62, 61, 60,  # inner upper lip
    67, 66, 65,  # inner lower lip
)  # fmt: skip

_MIDLINE = frozenset(i for i, m in enumerate(MIRROR) if i == m)

# Image-left half (and midline) of each AU: index -> (outward, down), before normalising.
_HALF_PATTERNS: dict[int, dict[int, tuple[float, float]]] = {
    1: {21: (0.0, -1.0), 20: (0.0, -0.75), 19: (0.0, -0.35), 18: (0.0, -0.1)},
    2: {17: (0.1, -0.8), 18: (0.05, -1.0), 19: (0.0, -0.7), 20: (0.0, -0.3)},
    4: {
        21: (-0.5, 0.7), 20: (-0.3, 1.0), 19: (-0.15, 0.8), 18: (0.0, 0.5), 17: (0.0, 0.2),
        37: (0.0, 0.15), 38: (0.0, 0.2),
    },
    5: {37: (0.0, -1.0), 38: (0.0, -1.0), 36: (0.0, -0.15), 39: (0.0, -0.15)},
    6: {40: (0.0, -1.0), 41: (0.0, -0.9), 36: (0.1, -0.4), 1: (0.0, -0.3), 2: (0.0, -0.25)},
    7: {40: (0.0, -0.9), 41: (0.0, -1.0), 37: (0.0, 0.45), 38: (0.0, 0.4)},
    9: {
        31: (0.1, -0.7), 32: (0.0, -0.6), 33: (0.0, -0.5), 30: (0.0, -0.4), 29: (0.0, -0.3),
        28: (0.0, -0.1), 21: (-0.2, 0.6), 20: (0.0, 0.3), 39: (0.0, -0.2), 40: (0.0, -0.2),
        50: (0.0, -0.4), 51: (0.0, -0.4), 61: (0.0, -0.3), 62: (0.0, -0.3),
    },
    10: {
        50: (0.0, -1.0), 51: (0.0, -0.9), 49: (0.05, -0.7), 61: (0.0, -0.9), 62: (0.0, -0.85),
        48: (0.0, -0.2), 60: (0.0, -0.3), 31: (0.1, -0.3), 32: (0.0, -0.2), 33: (0.0, -0.15),
    },
    12: {
        48: (0.75, -0.65), 60: (0.7, -0.6), 49: (0.3, -0.35), 59: (0.35, -0.3),
        61: (0.2, -0.2), 67: (0.2, -0.2), 50: (0.1, -0.1), 58: (0.1, -0.1),
    },
    14: {48: (0.8, 0.0), 60: (0.8, 0.0), 49: (0.3, 0.0), 59: (0.3, 0.0), 61: (0.2, 0.0),
         67: (0.2, 0.0)},
    15: {
        48: (0.15, 1.0), 60: (0.1, 0.9), 59: (0.0, 0.5), 49: (0.0, 0.3), 67: (0.0, 0.4),
        61: (0.0, 0.2), 58: (0.0, 0.2),
    },
    17: {
        57: (0.0, -1.0), 58: (0.0, -0.85), 59: (0.0, -0.45), 66: (0.0, -0.7), 67: (0.0, -0.6),
        8: (0.0, -0.6), 7: (0.0, -0.5), 6: (0.0, -0.25), 48: (0.0, -0.15),
    },
    25: {
        66: (0.0, 1.0), 67: (0.0, 0.85), 62: (0.0, -0.4), 61: (0.0, -0.35), 57: (0.0, 0.6),
        58: (0.0, 0.5), 59: (0.0, 0.25),
    },
    26: {
        8: (0.0, 1.0), 7: (0.0, 0.95), 6: (0.0, 0.75), 5: (0.0, 0.45), 4: (0.0, 0.15),
        57: (0.0, 0.9), 58: (0.0, 0.85), 59: (0.0, 0.6), 66: (0.0, 0.95), 67: (0.0, 0.85),
        48: (0.0, 0.25), 60: (0.0, 0.3),
    },
}  # fmt: skip

#: The AUs of the library, in the column order of `au_intensity` arrays.
AU_NUMBERS: tuple[int, ...] = tuple(sorted(_HALF_PATTERNS))
AU_NAMES: tuple[str, ...] = tuple(f"AU{n}" for n in AU_NUMBERS)


def _full_pattern(half: dict[int, tuple[float, float]]) -> np.ndarray:
    pattern = np.zeros((68, 2))
    for idx, (out, down) in half.items():
        if idx in _MIDLINE:
            if out:
                raise ValueError(f"midline landmark {idx} cannot move outward")
            pattern[idx] = (0.0, down)
            continue
        # Image-left half: outward is -x; its mirror moves +x.
        pattern[idx] = (-out, down)
        pattern[MIRROR[idx]] = (out, down)
    return pattern / np.linalg.norm(pattern, axis=1).max()


#: (A, 68, 2) unit patterns in face coordinates, in AU_NUMBERS order.
PATTERNS: np.ndarray = np.stack([_full_pattern(_HALF_PATTERNS[n]) for n in AU_NUMBERS])


def au_pattern(au: int) -> np.ndarray:
    """The (68, 2) unit displacement pattern of one AU in face coordinates (IOD units)."""
    if au not in _HALF_PATTERNS:
        raise KeyError(f"AU{au} is not in the library (have {', '.join(AU_NAMES)})")
    return PATTERNS[AU_NUMBERS.index(au)]


@dataclass(frozen=True)
class Emotion:
    """A CASME II emotion, its MEGC2019 label, and the AU combinations that express it."""

    name: str
    label: str
    recipes: tuple[dict[int, float], ...]


EMOTIONS: dict[str, Emotion] = {
    e.name: e
    for e in (
        Emotion(
            "happiness",
            "positive",
            ({6: 0.6, 12: 1.0}, {12: 1.0}, {6: 0.5, 12: 1.0, 25: 0.4}),
        ),
        Emotion(
            "disgust",
            "negative",
            ({4: 1.0, 7: 0.7}, {9: 1.0, 10: 0.8}, {4: 0.8, 9: 1.0}),
        ),
        Emotion(
            "repression",
            "negative",
            ({14: 1.0}, {15: 1.0, 17: 0.8}, {14: 0.8, 17: 0.7}),
        ),
        Emotion(
            "surprise",
            "surprise",
            ({1: 1.0, 2: 1.0}, {1: 1.0, 2: 1.0, 5: 0.7}, {1: 0.9, 2: 0.9, 26: 1.0}),
        ),
    )
}

#: Emotions used for each MEGC2019 class, in turn.
CLASS_EMOTIONS: dict[str, tuple[str, ...]] = {
    "negative": ("disgust", "repression"),
    "positive": ("happiness",),
    "surprise": ("surprise",),
}


def au_string(aus: dict[int, float] | list[int] | tuple[int, ...]) -> str:
    """CASME II style AU code: {4: 1.0, 7: 0.7} -> '4+7'."""
    return "+".join(str(a) for a in sorted(aus))


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit x (eye to eye), unit y (down the face) and the IOD of neutral landmarks (68, 2)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    left, right = lm[36:42].mean(0), lm[42:48].mean(0)
    v = right - left
    iod = float(np.linalg.norm(v))
    ex = v / iod
    ey = np.array([-ex[1], ex[0]])
    return ex, ey, iod


def to_image(face_disp: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Displacements in face coordinates (IOD units, (..., 68, 2)) -> image pixels."""
    ex, ey, iod = face_axes(landmarks)
    d = np.asarray(face_disp, dtype=np.float64)
    return iod * (d[..., :1] * ex + d[..., 1:2] * ey)


def expression(au_intensity: np.ndarray) -> np.ndarray:
    """Face-coordinate displacements (..., 68, 2) of AU intensities (..., A) in AU_NAMES order."""
    a = np.asarray(au_intensity, dtype=np.float64)
    return np.tensordot(a, PATTERNS, axes=([-1], [0]))


def apex_intensity(recipe: dict[int, float], amplitude: float) -> np.ndarray:
    """AU intensities (A,) of `recipe` scaled so that the largest landmark moves `amplitude` IOD."""
    weights = np.zeros(len(AU_NUMBERS))
    for au, w in recipe.items():
        weights[AU_NUMBERS.index(au)] = w
    peak = np.linalg.norm(expression(weights), axis=-1).max()
    return weights * (amplitude / peak)
