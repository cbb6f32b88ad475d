"""dlib face detection and the 68 landmarks, with the model files of `face_recognition_models`.

The package's `__init__` imports `pkg_resources`, which recent setuptools no longer ships, so
its folder is located with `importlib.util.find_spec` without importing it.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from fme.core.errors import ConfigError, FaceNotFoundError

Box = tuple[int, int, int, int]  # left, top, right, bottom (pixels; right/bottom exclusive)


def model_path(name: str) -> Path:
    """Path of a model file shipped by `face_recognition_models` (e.g. the 68-point model)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the package face_recognition_models is not installed",
            hint="Run `pip install face-recognition-models` (or `make setup`).",
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise ConfigError("dlib model file missing", path, "Reinstall face-recognition-models.")
    return path


@lru_cache(maxsize=1)
def face_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def landmark_predictor():
    import dlib

    return dlib.shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale (ITU-R 601 luma) of an (H, W) or (H, W, 3) image."""
    if image.ndim == 2:
        return np.ascontiguousarray(image.astype(np.uint8))
    rgb = image[..., :3].astype(np.float32)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.ascontiguousarray(np.clip(np.rint(gray), 0, 255).astype(np.uint8))


def detect_faces(image: np.ndarray, upsample: int = 1) -> list[Box]:
    """Frontal faces found by dlib, the largest first."""
    rects = face_detector()(to_gray(image), upsample)
    boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)


def largest_face(image: np.ndarray, source: str | Path | None = None) -> Box:
    """The largest frontal face, or FaceNotFoundError naming `source`."""
    boxes = detect_faces(image)
    if not boxes:
        raise FaceNotFoundError(
            "dlib found no frontal face",
            source,
            "Use a frontal, well-lit face, or leave this clip out.",
        )
    return boxes[0]


def landmarks68(image: np.ndarray, box: Box, upsample: int = 1) -> np.ndarray:
    """The 68 dlib landmarks (x, y) in pixels, float32 (68, 2), inside `box`.

    dlib returns whole pixels. `upsample` k > 1 runs the predictor on the face's
    surroundings enlarged k times (bicubic), which gives landmarks to 1/k pixel; 0 picks
    k so that the face box is at least 400 pixels wide (at most 8).
    """
    import dlib

    if upsample == 1:
        rect = dlib.rectangle(int(box[0]), int(box[1]), int(box[2]), int(box[3]))
        shape = landmark_predictor()(to_gray(image), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    from PIL import Image

    gray = to_gray(image)
    side = max(int(box[2]) - int(box[0]), int(box[3]) - int(box[1]), 1)
    k = int(upsample) if upsample > 1 else int(np.clip(np.ceil(400 / side), 1, 8))
    if k == 1:
        return landmarks68(gray, box, 1)
    x0, y0, x1, y1 = crop_box(box, gray.shape, margin=0.25)
    region = Image.fromarray(gray[y0:y1, x0:x1])
    big = np.asarray(region.resize(((x1 - x0) * k, (y1 - y0) * k), Image.Resampling.BICUBIC))
    inner = tuple(int(round((v - o + 0.5) * k - 0.5)) for v, o in zip(box, (x0, y0, x0, y0)))
    found = landmarks68(big, inner, 1)  # type: ignore[arg-type]
    return ((found + 0.5) / k - 0.5 + np.array([x0, y0], np.float32)).astype(np.float32)


def crop_box(box: Box, image_shape: tuple[int, ...], margin: float = 0.25) -> Box:
    """The square around `box` grown by `margin` of its side on each side, inside the image."""
    h, w = int(image_shape[0]), int(image_shape[1])
    left, top, right, bottom = box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    side = max(right - left, bottom - top) * (1 + 2 * margin)
    side = min(side, w, h)
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    s = int(round(side))
    return (x0, y0, min(x0 + s, w), min(y0 + s, h))


def crop_resize(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """`image` cut to `box` (left, top, right, bottom) and resized to size x size, bilinear,
    as `fme prepare` crops its frames."""
    from PIL import Image

    left, top, right, bottom = (int(v) for v in box)
    crop = Image.fromarray(np.asarray(image)[top:bottom, left:right])
    return np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR))


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the eye centres (landmarks 36-41 and 42-47), shape (...)."""
    left = landmarks[..., 36:42, :].mean(axis=-2)
    right = landmarks[..., 42:48, :].mean(axis=-2)
    return np.linalg.norm(right - left, axis=-1)
