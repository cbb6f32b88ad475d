"""Synthetic identities: real neutral face photos made into distinct people.

A base face is a real photo (`skimage.data.astronaut()`, plus any the user gives with
`--faces DIR`) cropped square around the dlib face so that the face fills about half
the frame. An identity is a base face changed by a landmark-driven warp (eye spacing,
face width, brow height, nose length and width, mouth width and height), a skin tone,
a contrast and gamma, and possibly a mirror flip. Its neutral landmarks are found by
dlib on the final image, so they are what a detector sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fme.core.errors import DataError, FMEError
from generation.data.video import IMAGE_SUFFIXES, read_image
from generation.face.detect import detect_faces, landmarks68
from generation.synth.aus import face_axes, to_image
from generation.synth.warp import LandmarkWarp

log = logging.getLogger(__name__)

#: Crop side as a multiple of the dlib face box side (the face fills about half the frame).
CROP_FACTOR = 2.0

#: Ranges of the geometric identity parameters, in IOD.
SHAPE_RANGES: dict[str, tuple[float, float]] = {
    "eye_spacing": (-0.1, 0.1),
    "face_width": (-0.12, 0.12),
    "brow_height": (-0.06, 0.06),
    "nose_length": (-0.08, 0.08),
    "nose_width": (-0.05, 0.05),
    "mouth_width": (-0.1, 0.1),
    "mouth_height": (-0.05, 0.05),
}


@dataclass
class BaseFace:
    """A real neutral face photo, cropped and resized to size x size."""

    source: str
    image: np.ndarray
    landmarks: np.ndarray


@dataclass
class Identity:
    """One synthetic person: a neutral image, its dlib landmarks, and how it was made."""

    subject: str
    source: str
    image: np.ndarray
    landmarks: np.ndarray
    params: dict[str, float] = field(default_factory=dict)


def _find_face(image: np.ndarray, source: str) -> tuple[tuple[int, int, int, int], np.ndarray]:
    boxes = detect_faces(image)
    if not boxes:
        raise DataError(
            "dlib found no frontal face", source, "Use a frontal, neutral, well-lit face photo."
        )
    return boxes[0], landmarks68(image, boxes[0])


def crop_face(image: np.ndarray, size: int, source: str = "image") -> BaseFace:
    """The square crop of the largest face (face about half the side), resized to `size`."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, -1)
    image = np.ascontiguousarray(image[..., :3].astype(np.uint8))
    box, lm = _find_face(image, source)
    side = CROP_FACTOR * max(box[2] - box[0], box[3] - box[1])
    cx, cy = (lm.min(0) + lm.max(0)) / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
    if pad:
        image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    crop = image[y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
    resized = np.asarray(Image.fromarray(crop).resize((size, size), Image.LANCZOS))
    _, landmarks = _find_face(resized, f"{source} (cropped to {size}x{size})")
    return BaseFace(source=source, image=resized, landmarks=landmarks)


def base_faces(size: int, faces_dir: str | Path | None = None) -> list[BaseFace]:
    """The astronaut, then every usable photo in `faces_dir` (photos without a face are skipped)."""
    import skimage.data

    faces = [crop_face(skimage.data.astronaut(), size, "skimage.data.astronaut")]
    if faces_dir is None:
        return faces
    folder = Path(faces_dir)
    if not folder.is_dir():
        raise DataError("face folder not found", folder, "Pass a folder of neutral face photos.")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(
            "no images (.jpg, .png, .bmp) in the face folder", folder, "Add neutral face photos."
        )
    for path in paths:
        try:
            faces.append(crop_face(read_image(path), size, str(path)))
        except FMEError as err:
            log.warning("skipping %s", err)
    return faces


def shape_displacements(landmarks: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """Pixel displacements (68, 2) of the landmarks for the geometric identity parameters."""
    lm = np.asarray(landmarks, dtype=np.float64)
    ex, ey, iod = face_axes(lm)
    centre = lm[27:31].mean(0)
    # Signed position across the face (IOD units, + to the image right) of every landmark.
    across = (lm - centre) @ ex / iod
    d = np.zeros((68, 2))  # face coordinates, IOD
    side = np.sign(across)
    eyes = np.r_[36:48]
    brows = np.r_[17:27]
    d[eyes, 0] += side[eyes] * params["eye_spacing"] / 2
    d[brows, 0] += side[brows] * params["eye_spacing"] / 2 * 0.8
    jaw = np.r_[0:17]
    d[jaw, 0] += across[jaw] * params["face_width"]
    d[brows, 1] -= params["brow_height"]
    d[31:36, 1] += params["nose_length"]
    d[30, 1] += 0.7 * params["nose_length"]
    d[29, 1] += 0.35 * params["nose_length"]
    d[[31, 32, 34, 35], 0] += side[[31, 32, 34, 35]] * params["nose_width"] * np.r_[1, 0.5, 0.5, 1]
    mouth = np.r_[48:68]
    mouth_centre = (lm[mouth] - lm[mouth].mean(0)) @ ex / iod
    d[mouth, 0] += mouth_centre * params["mouth_width"]
    d[mouth, 1] += params["mouth_height"]
    return to_image(d, lm)


def draw_params(rng: np.random.Generator) -> dict[str, float]:
    """Random identity parameters: shape (IOD), tone gains, contrast, gamma, flip."""
    params = {k: float(rng.uniform(*r)) for k, r in SHAPE_RANGES.items()}
    params.update(
        red=float(rng.uniform(0.88, 1.12)),
        green=float(rng.uniform(0.88, 1.08)),
        blue=float(rng.uniform(0.82, 1.08)),
        contrast=float(rng.uniform(0.8, 1.2)),
        gamma=float(rng.uniform(0.85, 1.15)),
        flip=float(rng.random() < 0.5),
    )
    return params


def apply_params(base: BaseFace, params: dict[str, float]) -> np.ndarray:
    """The base image changed by `params` (shape warp, tone, contrast, gamma, flip), uint8."""
    warp = LandmarkWarp(base.landmarks, base.image.shape[:2])
    img = warp.warp(base.image, shape_displacements(base.landmarks, params), refine=4) / 255.0
    img = np.clip(img, 0.0, 1.0) ** params["gamma"]
    img = img * np.array([params["red"], params["green"], params["blue"]])
    mean = img.mean()
    img = (img - mean) * params["contrast"] + mean
    if params["flip"]:
        img = img[:, ::-1]
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def make_identity(
    subject: str, base: BaseFace, rng: np.random.Generator, attempts: int = 8
) -> Identity:
    """A new identity from `base`; parameters are redrawn until dlib finds the face."""
    for _ in range(attempts):
        params = draw_params(rng)
        image = apply_params(base, params)
        boxes = detect_faces(image)
        if boxes:
            return Identity(subject, base.source, image, landmarks68(image, boxes[0]), params)
    raise DataError(
        "dlib lost the face after every identity warp tried", base.source, "Use another photo."
    )


def make_identities(
    n: int, size: int, seed: int, faces_dir: str | Path | None = None
) -> list[Identity]:
    """`n` identities `sub01`, `sub02`, ...; subject k uses base face k modulo their number."""
    bases = base_faces(size, faces_dir)
    out = []
    for k in range(n):
        rng = np.random.default_rng([seed, 1, k])
        out.append(make_identity(subject_name(k + 1), bases[k % len(bases)], rng))
    return out


def subject_name(number: int) -> str:
    return f"sub{number:02d}"
