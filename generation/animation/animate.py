"""Animation: a target face driven by a driving clip, with any `AnimationModel`.

The target is prepared like the training data (`prepare_target`: dlib face on the
image, the same square crop with margin, grayscale in 3 channels, the 68 landmarks in
crop pixels). The motion is taken relative to the driving clip's onset frame: the model
moves the target as the driving face moved since its onset. The source is encoded once
per video, the driving frames go through the model in batches, under
`torch.inference_mode`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fme.core.errors import ConfigError, DataError, VideoError
from generation.animation.magnify import Magnification, magnify_driving
from generation.data.frame_pairs import load_frame, rescale_landmarks
from generation.data.prepared import load_prepared
from generation.data.video import frame_rate, iter_video, read_image, to_rgb
from generation.face.detect import (
    crop_box,
    crop_resize,
    detect_faces,
    landmarks68,
    largest_face,
    to_gray,
)
from generation.face.prepare import to_crop_coords
from generation.face.presence import follow_face, frame_ranges
from generation.models.base import hull_area


def normalized_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (N, 2) centred on their mean and divided by the square root of their
    convex hull's area: the reference demo's `normalize_kp`, which makes faces of any
    position and size comparable (a flat set is only centred)."""
    points = np.asarray(landmarks, dtype=np.float64)
    points = points - points.mean(axis=0, keepdims=True)
    area = hull_area(points)
    return points / np.sqrt(area) if area > 0 else points


def best_frame(target_landmarks: np.ndarray, driving_landmarks: np.ndarray, present=None) -> int:
    """The driving frame whose normalised landmarks are nearest the target's (the least
    sum of squared differences; the first on ties), as the reference demo's
    `find_best_frame` does, here on the cached dlib / tracked landmarks; only frames with
    a face (`present`, a bool per frame; None: all) are candidates."""
    target = normalized_landmarks(target_landmarks)
    costs = np.array([((normalized_landmarks(lm) - target) ** 2).sum() for lm in driving_landmarks])
    if present is not None and np.asarray(present, bool).any():
        costs[~np.asarray(present, bool)] = np.inf
    return int(np.argmin(costs))


def target_faces(image: np.ndarray, source=None) -> list[tuple[int, int, int, int]]:
    """dlib's frontal faces of a target image, the largest first (ties: the first found);
    FaceNotFoundError naming `source` when there is none."""
    gray = to_gray(np.asarray(image))
    boxes = detect_faces(gray)
    if not boxes:
        largest_face(gray, source)  # raises FaceNotFoundError naming the file
    return boxes


def pick_face(boxes, index: int, source=None):
    """Face `index` (0: the largest) of `target_faces`; ConfigError naming the option."""
    if not 0 <= int(index) < len(boxes):
        raise ConfigError(
            f"--face {index}: the target has {len(boxes)} face(s), numbered 0-{len(boxes) - 1} "
            "largest first",
            source,
        )
    return boxes[int(index)]


def describe_faces(boxes, index: int = 0) -> str:
    """One line: how many faces the target has and which one is taken."""
    sides = ", ".join(f"{b[2] - b[0]}" for b in boxes)
    b = boxes[index]
    return (
        f"target: {len(boxes)} faces (widths {sides} px, largest first); took face {index} "
        f"({b[2] - b[0]} px at x={b[0]}, y={b[1]}); --face N takes another"
    )


def prepare_target(
    image_path: str | Path,
    size: int,
    margin: float = 0.25,
    color: bool = False,
    face=0,
):
    """(image (size, size, 3) uint8, landmarks (68, 2) float32) of a target face photo.

    As `fme prepare` does for a clip's onset frame: grayscale (in 3 channels; `color` keeps
    the photo's colour), dlib's face `face` (an index into `target_faces`, 0: the largest,
    or a box), the square box grown by `margin`, resized to `size`, the landmarks mapped
    into the crop. FaceNotFoundError names the file when dlib finds no face.
    """
    return prepare_face(read_image(image_path), size, margin, image_path, color, face)


def prepare_face(
    image: np.ndarray, size: int, margin: float = 0.25, source=None, color: bool = False, face=0
):
    """`prepare_target` for an image already in memory."""
    gray = to_gray(np.asarray(image))
    box_face = tuple(face) if not isinstance(face, (int, np.integer)) else None
    if box_face is None:
        box_face = pick_face(target_faces(gray, source), int(face), source)
    box = crop_box(box_face, gray.shape, margin)
    lms = landmarks68(gray, box_face, upsample=0)
    if color:
        out = crop_resize(to_rgb(np.asarray(image)), box, size)
    else:
        out = np.repeat(crop_resize(gray, box, size)[..., None], 3, axis=-1)
    return np.ascontiguousarray(out), to_crop_coords(lms, box, size)


@dataclass
class DrivingClip:
    """Frames (T, H, W, 3) uint8 with their landmarks (T, 68, 2) and the onset index; `fps`
    the clip's own frame rate when known (a video's container rate, a prepared clip's
    dataset rate), `path` where it was read from, `au_track` its AU curves when they come
    from a CSV source (`generation.au.sources`; None: the landmark estimator's)."""

    frames: np.ndarray
    landmarks: np.ndarray
    onset_index: int = 0
    name: str = ""
    dataset: str = ""
    emotion: str = ""
    label: str = ""
    #: (T,) bool: the frame has a face (a held frame does not); None: not checked
    present: np.ndarray | None = None
    #: what the face pass found to say ('12 of 169 frames without a face (...)')
    warnings: list[str] = field(default_factory=list)
    fps: float | None = None
    path: Path | None = None
    au_track: object = None


def _find_manifest_row(clip_dir: Path):
    for root in clip_dir.parents:
        if (root / "manifest.csv").is_file():
            try:
                clips = load_prepared(root)
            except DataError:
                return None
            for clip in clips:
                if clip.dir.resolve() == clip_dir.resolve():
                    return clip
            return None
    return None


def _prepared_presence(npz: Path, n_frames: int):
    """(present per frame or None, warnings) of a prepared clip (files from before the
    face was checked on every frame: None, no warning)."""
    try:
        with np.load(npz) as data:
            if "face_present" not in data:
                return None, []
            present = np.asarray(data["face_present"], bool)
    except Exception:  # read above already; a damaged key is no presence information
        return None, []
    if len(present) != n_frames or present.all():
        return (present if len(present) == n_frames else None), []
    gone = np.flatnonzero(~present)
    return present, [
        f"{npz.parent}: {len(gone)} of {n_frames} prepared frames hold a frame with a face "
        f"(no face on frames {frame_ranges(gone)})"
    ]


def load_driving(
    path: str | Path,
    size: int,
    margin: float = 0.25,
    onset: int = 0,
    no_face: str = "hold",
    color: bool = False,
) -> DrivingClip:
    """A driving clip from a prepared clip folder (frames/ + landmarks.npz, grayscale as
    `fme prepare` wrote them), or from a video or frame folder, which is prepared here
    (`prepare_video`: the face searched from frame `onset` on, checked on every frame;
    `no_face` says what a frame without one gets; `color` keeps the video's colour). A clip
    of fewer than two frames is a DataError naming it."""
    clip = _read_driving(Path(path), size, margin, onset, no_face, color)
    if len(clip.frames) < 2:
        raise DataError(
            f"the driving clip has {len(clip.frames)} frame(s); a clip needs two or more",
            path,
            "Drive with a video or frame folder of at least two frames.",
        )
    return clip


def _read_driving(
    path: Path, size: int, margin: float, onset: int, no_face: str, color: bool
) -> DrivingClip:
    if (path / "landmarks.npz").is_file() and (path / "frames").is_dir():
        from generation.data.video import list_frames

        files = list_frames(path / "frames")
        try:
            with np.load(path / "landmarks.npz") as data:
                lms = data["landmarks"].astype(np.float32)
        except Exception as err:  # a truncated or foreign file: zipfile, pickle, key errors
            raise DataError(
                f"the prepared clip's landmarks.npz cannot be read ({err.__class__.__name__})",
                path / "landmarks.npz",
                "Run `fme prepare` again: it redoes damaged clips.",
            ) from None
        if len(files) != len(lms):
            raise DataError(
                f"{len(files)} frames but {len(lms)} landmark sets",
                path,
                "Run `fme prepare` again.",
            )
        if lms.size and not np.isfinite(lms).all():
            bad = int((~np.isfinite(lms)).any(axis=(1, 2)).sum()) if lms.ndim == 3 else len(lms)
            raise DataError(
                f"the prepared clip's landmarks.npz holds NaN or infinite points ({bad} frames)",
                path / "landmarks.npz",
                "Run `fme prepare` again on this clip (delete its folder first).",
            )
        frames, scales = zip(*(load_frame(f, size) for f in files)) if files else ((), ())
        lms = np.stack([rescale_landmarks(lm, s) for lm, s in zip(lms, scales)]) if files else lms
        present, warnings = _prepared_presence(path / "landmarks.npz", len(files))
        row = _find_manifest_row(path)
        return DrivingClip(
            np.stack(frames) if files else np.zeros((0, size, size, 3), np.uint8),
            lms,
            row.onset_index if row else 0,
            row.key if row else path.name,
            row.dataset if row else "",
            row.emotion if row else "",
            (row.label or "") if row else "",
            present,
            warnings,
            fps=row.frame_rate if row else None,
            path=path,
        )
    if (path / "frames").is_dir():
        raise DataError(
            "a prepared clip folder without landmarks.npz",
            path,
            "Run `fme prepare` again: it redoes unfinished clips.",
        )
    return prepare_video(path, size, margin, onset, no_face, color)


def prepare_video(
    path: str | Path,
    size: int,
    margin: float = 0.25,
    onset: int = 0,
    no_face: str = "hold",
    color: bool = False,
) -> DrivingClip:
    """Prepare a raw video or frame folder as `fme prepare` does, read one frame at a time:
    the face searched from frame `onset` on (the first frame with one is the clip's onset,
    its dlib face crops every frame), checked on every frame, landmarks tracked from the
    onset (`generation.face.presence.follow_face`; `no_face`: hold, skip or refuse).
    `color`: the kept frames read again in colour and cropped the same (grayscale in three
    channels otherwise). The clip keeps the video's frame rate and path."""
    path = Path(path)
    crops: list[np.ndarray] = []
    box: list = []

    def keep(k: int, gray: np.ndarray, face) -> None:
        if not box:
            box.append(crop_box(face, gray.shape, margin))
        crops.append(crop_resize(gray, box[0], size))

    track = follow_face(
        lambda start: iter_video(path, start), onset, no_face, on_frame=keep, source=path
    )
    frames = np.repeat(np.stack(crops)[..., None], 3, axis=-1)
    lms = to_crop_coords(track.landmarks, box[0], size)
    kept = [int(k) for k in track.kept]
    if color:
        wanted: dict[int, list[int]] = {}
        for n, k in enumerate(kept):  # a held frame repeats an earlier one
            wanted.setdefault(k, []).append(n)
        colour = np.empty_like(frames)
        for k, frame in enumerate(iter_video(path, 0)):
            for n in wanted.get(k, ()):
                colour[n] = crop_resize(to_rgb(frame), box[0], size)
        frames = colour
    onset_index = kept.index(track.start)
    warnings = [f"{path}: {track.missing_text()}"] if not track.present.all() else []
    if track.start > onset:
        warnings.append(f"{path}: the first face is on frame {track.start}; it is the onset")
    return DrivingClip(
        frames,
        lms,
        onset_index,
        path.stem,
        present=track.present[kept],
        warnings=warnings,
        fps=frame_rate(path),
        path=path,
    )


def resize_frames(frames: np.ndarray, landmarks: np.ndarray, size: int):
    """Frames (T, H, W, 3) resized to size x size, landmarks moved with them."""
    from PIL import Image

    t, h, w = frames.shape[:3]
    if h == size and w == size:
        return frames, np.asarray(landmarks, dtype=np.float32)
    out = np.stack(
        [
            np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BILINEAR))
            for f in frames
        ]
    )
    scale = np.array([size / w, size / h], dtype=np.float64)
    lms = ((np.asarray(landmarks, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    return out, lms


def _to_tensor(frames: np.ndarray, device):
    import torch

    x = torch.from_numpy(np.array(frames, copy=True)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def prior_keypoints(model) -> str:
    """The model's `prior.keypoints` ("per_frame" when it has none)."""
    prior = model.config.get("prior") if isinstance(model.config, dict) else None
    return (prior or {}).get("keypoints", "per_frame")


def model_channels(model) -> int:
    """The image channels the model takes (3 unless its config says otherwise)."""
    common = model.config.get("common") if isinstance(model.config, dict) else None
    return int((common or {}).get("num_channels", 3))


def model_size(model) -> int | None:
    size = model.config.get("image_size") if isinstance(model.config, dict) else None
    return int(size) if size else None


def animate_clip(
    model,
    target: np.ndarray,
    target_landmarks: np.ndarray,
    driving: np.ndarray,
    driving_landmarks: np.ndarray,
    mode: str = "relative",
    batch_size: int = 16,
    device: str = "cpu",
    onset_index: int = 0,
    adapt_movement_scale: bool | None = None,
    autocast: str | None = None,
    progress: bool = False,
    find_best_frame: bool = False,
    present: np.ndarray | None = None,
    magnify: Magnification | None = None,
    motion_scale: float = 1.0,
    au_track=None,
) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of `target` driven by `driving` (T, H', W', 3).

    Modes (`model.check_mode`): "relative", motion relative to the driving frame
    `onset_index`; "standard" (alias "absolute"), the driving motion as it is; "avd", the
    family's AVD network (MRAA after `fme train --stage avd`). `find_best_frame`: the
    initial frame is `best_frame` of the landmarks instead of `onset_index`; the
    reference demo animates forwards from it and backwards from it to the first frame,
    both halves relative to it, which is this same animation frame by frame; `present`
    (a bool per driving frame) keeps frames without a face out of that choice. Images are
    resized to the model's size for the network and the result back to the target's size
    (a model with a super-resolution stage returns its larger frames as they are).
    `adapt_movement_scale` (None: the model's default) and `autocast` ("bf16"/"fp16",
    CUDA or CPU) are passed to the model when it takes them.

    `magnify` (relative mode): the driving frames (at the model's size) magnified by linear
    Eulerian magnification and their landmarks by the same gain (`magnify_driving`, from the
    onset frame), then the motion the model takes divided by the gain 1 + alpha, back to
    the clip's scale. `motion_scale`: a plain factor on that motion (the keypoint / region
    displacement from the onset; LivePortrait: the expression delta). `au_track`: the driving clip's AU
    curves from a CSV source, for the AU-driven models (None: the estimator's).
    """
    import torch
    from PIL import Image

    target = np.asarray(target)
    driving = np.asarray(driving)
    if driving.ndim != 4 or driving.shape[-1] != 3:
        raise VideoError(f"driving frames must be (T, H, W, 3), got {driving.shape}")
    if len(driving) < 2:
        raise DataError(
            f"the driving clip has {len(driving)} frame(s); a clip needs two or more",
            hint="Drive with a video or frame folder of at least two frames.",
        )
    if len(driving_landmarks) != len(driving):
        raise DataError(f"{len(driving)} driving frames but {len(driving_landmarks)} landmark sets")
    mode = model.check_mode(mode)
    th, tw = target.shape[:2]
    size = model_size(model) or th
    target_in, target_lm = resize_frames(target[None], np.asarray(target_landmarks)[None], size)
    drive_in, drive_lm = resize_frames(driving, driving_landmarks, size)
    if find_best_frame:
        # on the frames the network sees, as the reference demo (which resizes to 256 first):
        # a non-square target or clip changes its shapes there
        onset_index = best_frame(target_lm[0], drive_lm, present)
    if not 0 <= onset_index < len(driving):
        raise DataError(
            f"--onset {onset_index} is outside the {len(driving)} driving frames",
            hint=f"Give --onset a frame index from 0 to {len(driving) - 1}.",
        )
    scale = float(motion_scale)
    if magnify is not None or scale != 1.0:
        if mode != "relative":
            raise ConfigError(
                "--magnify and --motion-scale act on relative motion: use --mode relative"
            )
        if magnify is not None and magnify.alpha > 0:
            drive_in, drive_lm = magnify_driving(drive_in, drive_lm, magnify, onset_index)
            scale /= magnify.gain
    if prior_keypoints(model) == "onset":
        from generation.face.prior import onset_landmarks

        drive_lm = onset_landmarks(drive_lm, onset_index)

    device = torch.device(device)
    if device.type == "cpu":
        from generation.animation.memory import reuse_large_allocations

        reuse_large_allocations()  # batched activations reused, not mapped anew per layer
    amp = contextlib.nullcontext()
    if autocast:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[autocast]
        amp = torch.autocast(device_type=device.type, dtype=dtype)
    # AU-driven families (FAMGAN, TPSMM-AU) make one condition per frame from the whole
    # clip; the motion families return None
    condition = model.driving_condition(
        DrivingClip(drive_in, drive_lm, onset_index, au_track=au_track),
        target_in[0],
        target_lm[0],
        mode=mode,
    )
    if condition is not None:
        condition = torch.from_numpy(np.asarray(condition))
    was_training = model.training
    model.eval()
    out = None
    try:
        with torch.inference_mode(), amp, model.scaled_motion(scale):
            src = _to_tensor(target_in, device)
            src_lm = torch.from_numpy(np.array(target_lm, np.float32)).to(device)
            state = model.encode_source(src, src_lm)
            init = _to_tensor(drive_in[onset_index : onset_index + 1], device)
            init_lm = torch.from_numpy(
                np.array(drive_lm[onset_index : onset_index + 1], np.float32)
            ).to(device)
            starts = range(0, len(driving), max(1, batch_size))
            if progress:
                from tqdm import tqdm

                starts = tqdm(starts, desc="animate", unit="batch")
            for start in starts:
                stop = min(start + batch_size, len(driving))
                frames = _to_tensor(drive_in[start:stop], device)
                lms = torch.from_numpy(np.array(drive_lm[start:stop], np.float32)).to(device)
                pred = model.animate(
                    state,
                    frames,
                    lms,
                    init,
                    init_lm,
                    mode=mode,
                    adapt_movement_scale=adapt_movement_scale,
                    condition=None if condition is None else condition[start:stop].to(device),
                )
                pred = pred.float().clamp(0, 1).mul(255).round().byte()
                if out is None:  # the model's side (larger with a super-resolution stage)
                    out = np.empty((len(driving), *pred.shape[2:], 3), dtype=np.uint8)
                out[start:stop] = pred.permute(0, 2, 3, 1).cpu().numpy()
    finally:
        model.train(was_training)
    if out.shape[1:3] == (size, size) and (th, tw) != (size, size):
        out = np.stack(
            [
                np.asarray(Image.fromarray(f).resize((tw, th), Image.Resampling.BILINEAR))
                for f in out
            ]
        )
    return out


def set_animation_options(
    model,
    region: str | None = None,
    stitching: bool | None = None,
    multiplier: float | None = None,
    driving_option: str | None = None,
) -> None:
    """LivePortrait's animation options (`--animation-region`, `--no-stitching`,
    `--driving-multiplier`, `--pose-friendly`) into the model's config; None leaves an
    option as the checkpoint has it. Given to another family, a ConfigError."""
    given = {
        "region": region,
        "stitching": stitching,
        "multiplier": multiplier,
        "driving_option": driving_option,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return
    anim = model.config.get("animation") if isinstance(model.config, dict) else None
    if model.family != "liveportrait" or not isinstance(anim, dict):
        names = ", ".join(sorted(given))
        raise ConfigError(
            f"the {model.variant} model has no LivePortrait animation options ({names})",
            hint="--animation-region, --no-stitching, --driving-multiplier and --pose-friendly "
            "are for a LivePortrait checkpoint; --motion-scale works for every keypoint family.",
        )
    new = {**anim, **given}
    model.check_animation(new)
    anim.update(new)


def use_super_resolution(model, weights: str | Path | None) -> str | None:
    """Turn the model's super-resolution stage on with the user's weights file (`fme
    animate` and `fme megc --super-resolution`), or off with "none". None keeps the
    checkpoint's own setting, whose weights file is then loaded now, before any frame is
    animated (a path that no longer exists is one line naming it and the option that
    replaces it). A model without such a stage (every variant but famgan) refuses a file.
    Returns the weights file of the stage in use (None: no stage)."""
    has_stage = hasattr(model, "set_super_resolution")
    if weights is None:
        own = (model.config.get("super_resolution") or {}).get("weights")
        if not (own and has_stage):
            return None
        try:
            model.set_super_resolution(own)
        except ConfigError as err:
            raise ConfigError(
                f"the checkpoint's super-resolution weights (model.super_resolution."
                f"weights) cannot be used: {err.message}",
                own,
                "Give --super-resolution WEIGHTS (an RRDBNet x4 file), or "
                "--super-resolution none to animate without that stage.",
            ) from err
        return own
    if str(weights).lower() == "none":
        if has_stage:
            model.set_super_resolution(None)
        return None
    if not has_stage:
        raise ConfigError(
            f"--super-resolution: the {model.variant} model has no super-resolution stage",
            hint="Use it with a famgan checkpoint, or leave it off.",
        )
    model.set_super_resolution(weights)
    return str(weights)


def side_by_side(*clips: np.ndarray) -> np.ndarray:
    """Clips (T, H, W, 3) of one length placed left to right (resized to the first's height)."""
    from PIL import Image

    h = clips[0].shape[1]
    parts = []
    for clip in clips:
        if clip.shape[1] != h:
            w = round(clip.shape[2] * h / clip.shape[1])
            clip = np.stack([np.asarray(Image.fromarray(f).resize((w, h))) for f in clip])
        parts.append(clip)
    return np.concatenate(parts, axis=2)
