"""Sub-pixel landmark tracking for micro-expressions.

A micro-expression moves the face by a pixel or two; dlib's shape predictor returns whole
pixels and jitters by about as much from frame to frame, so per-frame dlib landmarks carry
more noise than motion (on the synthetic corpus, 128 px frames, the motion of the 18 prior
keypoints at the apex is 0.94 % of the inter-ocular distance and per-frame dlib misses it
by 1.48 %). `track_clip` therefore finds the landmarks once, on the onset frame, with dlib on
an upsampled face (sub-pixel), and follows them through the clip with a pyramidal
Lucas-Kanade tracker that compares every frame with the onset frame directly (no drift
from chaining frames). The same error drops to 0.23 %.

Translation-only Lucas-Kanade against the onset holds for micro motion and fails where a
region's texture changes: on a real smile the lips and teeth no longer look like the
neutral mouth and the tracked mouth points collapse while the rest of the face is fine, so
a check over all 68 points misses it. Every frame is therefore checked per facial region
(`REGIONS`: jaw, brows, nose, eyes, mouth): a region whose tracked points stray from dlib's
on that frame by more than `REGION_FALLBACK` of the inter-ocular distance keeps dlib's
points there (`fme bench tracking --real` gives the figures). `ChunkTracker` takes a clip
in chunks, so a long clip never sits in memory whole.

Coordinates are pixel (x, y) of the frame, like `generation.face.detect.landmarks68`.
"""

from __future__ import annotations

import numpy as np

from generation.face.detect import crop_box, inter_ocular, landmarks68, to_gray

#: landmark methods of `fme prepare`: "track" (this module) or "dlib" (per frame)
LANDMARK_METHODS = ("track", "dlib")


def _blur_down(x):
    import torch
    import torch.nn.functional as F

    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype) / 16
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5))
    x = F.conv2d(x, k.view(1, 1, 5, 1))
    return x[..., ::2, ::2]


def _sample(image, points):
    """Bilinear samples of image (B, 1, H, W) at pixel points (B, M, 2) -> (B, M)."""
    import torch
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    grid = torch.stack(
        [points[..., 0] / max(w - 1, 1) * 2 - 1, points[..., 1] / max(h - 1, 1) * 2 - 1], -1
    )
    out = F.grid_sample(
        image, grid[:, None], mode="bilinear", padding_mode="border", align_corners=True
    )
    return out[:, 0, 0]


def lk_track(
    reference: np.ndarray,
    frames: np.ndarray,
    points: np.ndarray,
    window: int = 7,
    levels: int = 2,
    iterations: int = 20,
) -> np.ndarray:
    """Positions (T, N, 2) in each of `frames` (T, H, W) of `points` (N, 2) of `reference`
    (H, W): translation-only pyramidal Lucas-Kanade (inverse compositional, Gaussian-weighted
    window of `window` pixels per level), every frame against the reference."""
    import torch

    ref = torch.as_tensor(np.asarray(reference, np.float32))[None, None]
    frm = torch.as_tensor(np.asarray(frames, np.float32))[:, None]
    pts = torch.as_tensor(np.asarray(points, np.float32))
    n_frames, n = frm.shape[0], pts.shape[0]
    pyramid = [(ref, frm)]
    for _ in range(levels - 1):
        r, f = pyramid[-1]
        if min(r.shape[-2:]) < 2 * window:
            break
        pyramid.append((_blur_down(r), _blur_down(f)))
    half = window // 2
    oy, ox = torch.meshgrid(
        torch.arange(-half, half + 1.0), torch.arange(-half, half + 1.0), indexing="ij"
    )
    offsets = torch.stack([ox.ravel(), oy.ravel()], -1)
    sw = torch.exp(-(offsets**2).sum(-1) / (2 * (max(half, 1) / 1.5) ** 2)).sqrt()
    m = offsets.shape[0]
    dx = torch.tensor([0.5, 0.0])
    dy = torch.tensor([0.0, 0.5])
    d = torch.zeros(n_frames, n, 2)
    for level in range(len(pyramid) - 1, -1, -1):
        r, f = pyramid[level]
        p = (pts + 0.5) / 2**level - 0.5
        loc = (p[:, None] + offsets[None]).reshape(1, n * m, 2)
        template = _sample(r, loc).view(n, m)
        gx = (_sample(r, loc + dx) - _sample(r, loc - dx)).view(n, m)
        gy = (_sample(r, loc + dy) - _sample(r, loc - dy)).view(n, m)
        grad = torch.stack([gx, gy], -1) * sw[None, :, None]
        hessian = grad.transpose(1, 2) @ grad + 1e-4 * torch.eye(2)
        inverse = torch.linalg.inv(hessian)
        for _ in range(iterations):
            at = (p[None, :, None] + d[:, :, None] + offsets[None, None]).reshape(
                n_frames, n * m, 2
            )
            err = (_sample(f, at).view(n_frames, n, m) - template[None]) * sw
            step = torch.einsum("ncd,tnd->tnc", inverse, torch.einsum("nwc,tnw->tnc", grad, err))
            d = d - step
            if float(step.abs().max()) < 1e-3:
                break
        if level > 0:
            d = d * 2
    return (pts[None] + d).numpy()


def tracker_settings(iod: float) -> tuple[int, int]:
    """(window, levels) for a face of inter-ocular distance `iod` pixels: a window of about
    a fifth of the IOD (odd, 7-31 px) and one pyramid level more per doubling above 40 px."""
    window = int(np.clip(round(iod * 0.2), 7, 31)) | 1
    levels = 2 + int(np.clip(np.round(np.log2(max(iod, 1.0) / 40.0)), 0, 2))
    return window, levels


def track_region(face_box, image_shape) -> tuple[int, int, int, int]:
    """The part of the frame the tracker looks at: the face box grown by 30 %."""
    return crop_box(face_box, image_shape, margin=0.3)


#: the facial regions the tracker is checked on (iBUG-68 indices, 0-based)
REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}
#: a region whose tracked points stray from dlib's by more than this (mean, in IOD) keeps
#: dlib's points on that frame. On the synthetic corpus, where the tracker is right, the
#: largest regional gap is 0.033 IOD (dlib's own whole-pixel noise); a tracker that lost the
#: mouth of a real smile is 0.09-0.25 IOD away (`fme bench tracking --real`).
REGION_FALLBACK = 0.05


def check_regions(
    tracked: np.ndarray, per_frame: np.ndarray, iod: float, threshold: float = REGION_FALLBACK
) -> tuple[np.ndarray, np.ndarray]:
    """Tracked landmarks (T, 68, 2) with each region that strays from dlib's `per_frame`
    (T, 68, 2) by more than `threshold` IOD (mean over the region's points) replaced by
    dlib's; returns them and the (T, len(REGIONS)) bool table of replaced regions."""
    out = np.array(tracked, dtype=np.float32, copy=True)
    per_frame = np.asarray(per_frame, dtype=np.float32)
    stray = np.zeros((len(out), len(REGIONS)), dtype=bool)
    for r, idx in enumerate(REGIONS.values()):
        i = list(idx)
        gap = np.linalg.norm(out[:, i] - per_frame[:, i], axis=-1).mean(-1)
        stray[:, r] = gap > threshold * iod
        out[np.ix_(stray[:, r], i)] = per_frame[np.ix_(stray[:, r], i)]
    return out, stray


class ChunkTracker:
    """The tracker fed a clip in chunks: every frame is compared with the reference (the
    onset) directly, so frames need not be held together; memory is one chunk's.

    `add(index, region, dlib_landmarks)` takes one frame's crop at `origin` (h, w) uint8 and
    its dlib landmarks (frame pixels); the frame `reference_index` keeps `onset_landmarks`;
    `finish()` returns {index: landmarks (68, 2)}.
    `region_fallbacks` counts the frames each region of `REGIONS` fell back to dlib on,
    `fallback_frames` the frames with any region fallen back.
    """

    def __init__(
        self,
        reference: np.ndarray,
        origin,
        onset_landmarks: np.ndarray,
        threshold: float = REGION_FALLBACK,
        reference_index: int | None = None,
        chunk: int = 32,
    ) -> None:

        self.reference = np.asarray(reference, np.float32) / 255.0
        self.offset = np.asarray(origin, np.float32)[:2]
        self.onset = np.asarray(onset_landmarks, np.float32)
        self.iod = float(inter_ocular(self.onset))
        self.window, self.levels = tracker_settings(self.iod)
        self.threshold = threshold
        self.reference_index = reference_index
        self.chunk = max(1, int(chunk))
        self.region_fallbacks = dict.fromkeys(REGIONS, 0)
        self.fallback_frames = 0
        self._buffer: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._out: dict[int, np.ndarray] = {}

    def add(self, index: int, region: np.ndarray, dlib_landmarks: np.ndarray) -> None:
        self._buffer.append((index, np.array(region), np.asarray(dlib_landmarks, np.float32)))
        if len(self._buffer) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        index, regions, per_frame = zip(*self._buffer)
        self._buffer = []
        frames = np.stack(regions).astype(np.float32) / 255.0
        tracked = lk_track(
            self.reference, frames, self.onset - self.offset, self.window, self.levels
        )
        tracked = tracked + self.offset
        fixed, stray = check_regions(tracked, np.stack(per_frame), self.iod, self.threshold)
        if self.reference_index in index:  # the reference keeps its own (sub-pixel) points
            at = index.index(self.reference_index)
            fixed[at], stray[at] = self.onset, False
        for name, count in zip(REGIONS, stray.sum(0)):
            self.region_fallbacks[name] += int(count)
        self.fallback_frames += int(stray.any(1).sum())
        for k, lm in zip(index, fixed):
            self._out[k] = lm

    def finish(self) -> dict[int, np.ndarray]:
        self._flush()
        return self._out


def track_landmarks(
    region: np.ndarray,
    origin,
    onset_landmarks: np.ndarray,
    per_frame: np.ndarray,
    onset_index: int = 0,
    fallback: float = REGION_FALLBACK,
) -> tuple[np.ndarray, int]:
    """Landmarks (T, 68, 2) tracked from `onset_landmarks` (frame pixels) through `region`
    (T, h, w) uint8, the frames cut at `origin` (x0, y0); each facial region (`REGIONS`)
    whose track strays from `per_frame` dlib landmarks (T, 68, 2) by more than `fallback`
    IOD keeps dlib's points on that frame. Returns the landmarks and the number of frames
    with a region fallen back."""
    region = np.asarray(region)
    tracker = ChunkTracker(region[onset_index], origin, onset_landmarks, fallback, onset_index)
    for k in range(len(region)):
        tracker.add(k, region[k], per_frame[k])
    found = tracker.finish()
    return np.stack([found[k] for k in range(len(region))]), tracker.fallback_frames


def track_clip(
    gray: np.ndarray, face_box, onset_index: int = 0, fallback: float = REGION_FALLBACK
) -> tuple[np.ndarray, int]:
    """Landmarks (T, 68, 2) float32 of gray frames (T, H, W) uint8 in `face_box` (onset dlib
    upsampled, then tracked), and the number of frames with a region fallen back to dlib."""
    gray = np.asarray(gray)
    per_frame = np.stack([landmarks68(g, face_box) for g in gray])
    onset = landmarks68(gray[onset_index], face_box, upsample=0)
    x0, y0, x1, y1 = track_region(face_box, gray.shape[1:])
    return track_landmarks(gray[:, y0:y1, x0:x1], (x0, y0), onset, per_frame, onset_index, fallback)


def upsample_gray(frames: np.ndarray, scale: int) -> np.ndarray:
    """Frames (T, H, W[, 3]) as grey (T, H * scale, W * scale) uint8, bicubic."""
    from PIL import Image

    return np.stack(
        [
            np.asarray(
                Image.fromarray(to_gray(f)).resize(
                    (f.shape[1] * scale, f.shape[0] * scale), Image.Resampling.BICUBIC
                )
            )
            for f in frames
        ]
    )


def scale_box(rect, scale: int) -> tuple[int, ...]:
    """A pixel box mapped into frames upsampled by `scale` (pixel centres to centres)."""
    return tuple(int(round((v + 0.5) * scale - 0.5)) for v in rect)


def lk_track_video(frames: np.ndarray, rect, onset: int, scale: int = 4) -> np.ndarray:
    """Landmarks (T, 68, 2) of small frames as `fme prepare` tracks them (dlib on the onset
    frame, then Lucas-Kanade), on the frames upsampled by `scale`, mapped back."""
    big = upsample_gray(frames, scale)
    tracked, _ = track_clip(big, scale_box(rect, scale), onset_index=onset)
    return ((tracked + 0.5) / scale - 0.5).astype(np.float32)
