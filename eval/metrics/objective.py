"""Objective metrics of generated videos (beyond the paper).

- identity: cosine similarity of dlib's 128-D face descriptor
  (`dlib_face_recognition_resnet_model_v1.dat`) between the target face and each generated
  frame (also the mean Euclidean descriptor distance; dlib's same-person threshold is 0.6);
- motion fidelity: displacement of the AU-region landmarks (brows, eyes, nose, mouth) from
  the first frame, in inter-ocular units, after removing the head's translation (nose
  bridge), generated vs driving: Pearson correlation of the signed displacements over
  time and their mean error;
- temporal jitter: mean second difference of the generated landmarks (inter-ocular units);
- change outside the face: mean absolute change from the first frame of pixels outside
  the face's hull (fraction of 255);
- with ground truth (the synthetic corpus's `render_cross`): L1, SSIM and PSNR;
- AU fidelity (`generation.au.fidelity`): the driving clip's AU curves (the landmark AU
  estimator on its prepared landmarks) against the generated video's (the same estimator
  on the landmarks the project's tracker finds in its frames, `generation.face.tracking`):
  Pearson r and MAE per AU, their means over the upper face (AU 1, 2, 4, 5, 6, 7) and the
  lower face, and the onset/apex/offset timing error in frames.
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from eval.clips import (
    VIDEO_SUFFIXES,
    is_prepared_root,
    parse_video_name,
    sample_indices,
    square_resize,
)
from fme.core.errors import ConfigError, DataError, FaceNotFoundError

log = logging.getLogger(__name__)

# AU regions as dlib-68 index ranges.
REGIONS: dict[str, tuple[int, ...]] = {
    "brows": tuple(range(17, 27)),
    "eyes": tuple(range(36, 48)),
    "nose": tuple(range(31, 36)),
    "mouth": tuple(range(48, 68)),
}
AU_POINTS: tuple[int, ...] = tuple(i for r in REGIONS.values() for i in r)
# Rigid reference for head translation: the nose bridge.
ANCHOR: tuple[int, ...] = (27, 28, 29, 30)


@dataclass(frozen=True)
class VideoMetrics:
    """Metrics of one generated video; NaN where the input for a metric is missing."""

    video: str
    identity_cosine: float = float("nan")
    identity_distance: float = float("nan")
    motion_correlation: float = float("nan")
    motion_error: float = float("nan")
    jitter: float = float("nan")
    background_change: float = float("nan")
    l1: float = float("nan")
    ssim: float = float("nan")
    psnr: float = float("nan")
    au_r_upper: float = float("nan")
    au_r_lower: float = float("nan")
    au_mae_upper: float = float("nan")
    au_mae_lower: float = float("nan")
    au_onset_error: float = float("nan")
    au_apex_error: float = float("nan")
    au_offset_error: float = float("nan")
    # per AU: {"r_AU12": ..., "mae_AU12": ...}; flattened into columns by `summary_frame`
    au_per_au: dict[str, float] = field(default_factory=dict, compare=False)
    # the published-table metrics (`eval.metrics.published`): {"lpips_alex": ..., "csim": ...}
    published: dict[str, float] = field(default_factory=dict, compare=False)


# ---- landmarks ----------------------------------------------------------------------------


def face_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """dlib's largest face, or for a face crop where dlib finds none, the box that
    `fme prepare`'s 0.25 margin implies (the central 2/3 of the frame)."""
    from generation.face.detect import detect_faces

    boxes = detect_faces(image)
    if boxes:
        return boxes[0]
    h, w = image.shape[:2]
    return (round(w / 6), round(h / 6), round(5 * w / 6), round(5 * h / 6))


def track_landmarks(frames: np.ndarray) -> np.ndarray:
    """(T, 68, 2) dlib landmarks with the first frame's face box kept for every frame."""
    from generation.face.detect import landmarks68

    box = face_box(frames[0])
    return np.stack([landmarks68(f, box) for f in frames])


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the eye centres of a (68, 2) landmark set."""
    left = landmarks[36:42].mean(0)
    right = landmarks[42:48].mean(0)
    return float(np.linalg.norm(right - left))


def displacement(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) displacement from the first frame in inter-ocular units, the nose
    bridge's translation removed."""
    lm = np.asarray(landmarks, dtype=np.float64)
    iod = max(inter_ocular(lm[0]), 1e-6)
    d = lm - lm[:1]
    d = d - d[:, list(ANCHOR)].mean(axis=1, keepdims=True)
    return d / iod


def resample_time(x: np.ndarray, n: int) -> np.ndarray:
    """Linear resampling of the first axis to `n` steps."""
    if len(x) == n:
        return x
    src = np.linspace(0, 1, len(x))
    dst = np.linspace(0, 1, n)
    flat = x.reshape(len(x), -1)
    out = np.stack([np.interp(dst, src, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape((n, *x.shape[1:]))


def smooth_track(landmarks: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over time (sigma in frames; 0 leaves the track unchanged)."""
    from scipy.ndimage import gaussian_filter1d

    lm = np.asarray(landmarks, dtype=np.float64)
    return gaussian_filter1d(lm, sigma, axis=0, mode="nearest") if sigma > 0 else lm


def motion_fidelity(
    generated: np.ndarray, driving: np.ndarray, smooth: float = 2.0
) -> tuple[float, float]:
    """(correlation, error) of the AU-region motion of two (T, 68, 2) landmark tracks.

    Both tracks are smoothed over time (`smooth` frames: dlib's frame-to-frame noise is of
    the order of a micro-expression's amplitude) and turned into displacements from their
    first frame in inter-ocular units (`displacement`). Correlation: Pearson's r between
    the signed displacement vectors of the AU points over all frames (0 when either video
    does not move). Error: their mean distance. Tracks of different lengths are resampled
    in time to the driving track's.
    """
    dg = displacement(smooth_track(generated, smooth))
    dd = displacement(smooth_track(driving, smooth))
    dg = resample_time(dg, len(dd))
    idx = list(AU_POINTS)
    a, b = dg[:, idx].ravel(), dd[:, idx].ravel()
    corr = 0.0 if a.std() < 1e-9 or b.std() < 1e-9 else float(np.corrcoef(a, b)[0, 1])
    error = float(np.linalg.norm(dg[:, idx] - dd[:, idx], axis=-1).mean())
    return corr, error


def jitter(landmarks: np.ndarray) -> float:
    """Mean second difference of the landmarks, inter-ocular units (0 for < 3 frames)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if len(lm) < 3:
        return 0.0
    acc = lm[2:] - 2 * lm[1:-1] + lm[:-2]
    return float(np.linalg.norm(acc, axis=-1).mean() / max(inter_ocular(lm[0]), 1e-6))


def background_change(frames: np.ndarray, landmarks0: np.ndarray, grow: float = 0.15) -> float:
    """Mean |frame_t - frame_0| / 255 outside the face hull (grown by `grow` of its size)."""
    from scipy.spatial import ConvexHull
    from skimage.draw import polygon

    h, w = frames.shape[1:3]
    pts = np.asarray(landmarks0, dtype=np.float64)
    centre = pts.mean(0)
    pts = centre + (pts - centre) * (1 + grow)
    # extend upwards to cover the forehead: mirror the brows above themselves
    brows = pts[17:27]
    top = brows - np.array([0.0, 0.6 * (pts[8, 1] - brows[:, 1].mean())])
    hull_pts = np.concatenate([pts, top])
    hull = hull_pts[ConvexHull(hull_pts).vertices]
    rr, cc = polygon(hull[:, 1], hull[:, 0], shape=(h, w))
    outside = np.ones((h, w), dtype=bool)
    outside[rr, cc] = False
    if not outside.any():
        return 0.0
    diff = np.abs(frames.astype(np.float32) - frames[:1].astype(np.float32)).mean(-1)
    return float(diff[:, outside].mean() / 255.0)


# ---- identity -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _face_model():
    import dlib

    from generation.face.detect import model_path

    return dlib.face_recognition_model_v1(
        str(model_path("dlib_face_recognition_resnet_model_v1.dat"))
    )


def face_descriptor(image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
    """dlib's 128-D descriptor of the face in `image` (landmarks found when not given)."""
    import dlib

    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    if landmarks is None:
        from generation.face.detect import landmarks68

        landmarks = landmarks68(image, face_box(image))
    lm = np.asarray(landmarks)
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
    parts = dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in lm])
    shape = dlib.full_object_detection(rect, parts)
    return np.array(_face_model().compute_face_descriptor(image, shape), dtype=np.float64)


def identity_similarity(
    target: np.ndarray, frames: np.ndarray, landmarks: np.ndarray | None = None, max_frames: int = 8
) -> tuple[float, float]:
    """(mean cosine similarity, mean Euclidean distance) of the target's descriptor and
    those of up to `max_frames` evenly spaced frames."""
    ref = face_descriptor(target)
    idx = np.unique(np.rint(np.linspace(0, len(frames) - 1, min(max_frames, len(frames)))))
    cos, dist = [], []
    for i in idx.astype(int):
        d = face_descriptor(frames[i], None if landmarks is None else landmarks[i])
        cos.append(float(ref @ d / (np.linalg.norm(ref) * np.linalg.norm(d) + 1e-12)))
        dist.append(float(np.linalg.norm(ref - d)))
    return float(np.mean(cos)), float(np.mean(dist))


# ---- ground truth ---------------------------------------------------------------------------


def reference_scores(generated: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(L1 in [0, 1], SSIM, PSNR dB) averaged over frames; the truth is resampled to the
    generated video's frame count and size when they differ."""
    from skimage.metrics import structural_similarity

    if len(truth) != len(generated):
        truth = truth[sample_indices(0, len(truth) - 1, len(generated))]
    if truth.shape[1:3] != generated.shape[1:3]:
        truth = square_resize(truth, generated.shape[1])
    g = generated.astype(np.float64) / 255.0
    t = truth.astype(np.float64) / 255.0
    l1 = float(np.abs(g - t).mean())
    ssim = float(
        np.mean(
            [structural_similarity(a, b, channel_axis=-1, data_range=1.0) for a, b in zip(g, t)]
        )
    )
    mse = ((g - t) ** 2).reshape(len(g), -1).mean(1)
    with np.errstate(divide="ignore"):
        psnr = float(np.mean(10 * np.log10(1.0 / mse)))  # inf for identical videos
    return l1, ssim, psnr


# ---- AU fidelity ----------------------------------------------------------------------------


def video_au_track(frames: np.ndarray, onset_index: int = 0):
    """The landmark AU track of a video (T, H, W, 3) from its onset frame
    (`generation.au.estimator.estimate_from_frames`, in `face_box`'s box)."""
    from generation.au.estimator import estimate_from_frames

    return estimate_from_frames(frames, onset_index, face_box(frames[onset_index]))


def au_fidelity_of(frames: np.ndarray, driving_au, onset_index: int = 0, generated_au=None):
    """`generation.au.fidelity.au_fidelity` of a generated video against the driving AU
    track; the video's track (`generated_au`, e.g. its OpenFace CSV; None: the landmark
    estimator on `frames`) is resampled in time to the driving clip's length."""
    from generation.au import AUTrack
    from generation.au.fidelity import au_fidelity

    # the driving onset at the same relative time of a video of another length
    onset = round(onset_index * (len(frames) - 1) / max(driving_au.n_frames - 1, 1))
    if generated_au is None:
        generated_au = video_au_track(frames, min(onset, len(frames) - 1))
    generated = generated_au
    values = resample_time(generated.values, driving_au.n_frames)
    return au_fidelity(driving_au, AUTrack(values, generated.names, meta=generated.meta))


def _au_values(result) -> dict:
    per_au = {f"r_{a}": v for a, v in result.r.items()}
    per_au |= {f"mae_{a}": v for a, v in result.mae.items()}
    return {**result.summary(), "au_per_au": per_au}


# ---- one video, one set ------------------------------------------------------------------


def video_metrics(
    name: str,
    frames: np.ndarray,
    target: np.ndarray | None = None,
    driving_landmarks: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    driving_au=None,
    onset_index: int = 0,
    extra=None,
    generated_au=None,
) -> VideoMetrics:
    """Every metric whose input is given, for one generated clip (T, H, W, 3) uint8
    (`driving_au`: the driving clip's `AUTrack`, for AU fidelity; `onset_index`: the
    driving onset, where the generated video's AU motion is measured from; `extra`: a
    callable (frames, landmarks) -> {column: value} for the published-table metrics;
    `generated_au`: the video's own `AUTrack` from a CSV source, None: the landmark
    estimator's)."""
    lm = track_landmarks(frames)
    values: dict[str, float] = {
        "jitter": jitter(lm),
        "background_change": background_change(frames, lm[0]),
    }
    if target is not None:
        values["identity_cosine"], values["identity_distance"] = identity_similarity(
            target, frames, lm
        )
    if driving_landmarks is not None:
        values["motion_correlation"], values["motion_error"] = motion_fidelity(
            lm, driving_landmarks
        )
    if truth is not None:
        values["l1"], values["ssim"], values["psnr"] = reference_scores(frames, truth)
    if driving_au is not None:
        values |= _au_values(au_fidelity_of(frames, driving_au, onset_index, generated_au))
    if extra is not None:
        values["published"] = extra(frames, lm)
    return VideoMetrics(video=name, **values)


def _find_template(folder: Path | None, name: str) -> Path | None:
    if folder is None or not name:
        return None
    for suffix in (".png", ".jpg", ".jpeg", ".bmp"):
        p = folder / f"{name}{suffix}"
        if p.is_file():
            return p
    return None


def _find_driving(source: Path | None, driving: str, cache: dict):
    """The prepared clip (`generation.data.prepared`) named `driving` in a prepared
    `source`, or the video or frame folder `source/<driving>[.*]`; None when absent."""
    if source is None or not driving:
        return None
    key = ("where", driving)
    if key not in cache:
        if is_prepared_root(source):
            from generation.data.prepared import load_prepared

            if "prepared" not in cache:
                cache["prepared"] = load_prepared(source)
            names = lambda clip: (clip.clip_id, f"{clip.subject}_{clip.clip_id}")  # noqa: E731
            found = next((c for c in cache["prepared"] if driving in names(c)), None)
        else:
            candidates = [source / driving, *sorted(source.glob(f"{driving}.*"))]
            found = next((c for c in candidates if c.exists()), None)
        cache[key] = found
    return cache[key]


def _from_driving(source, driving: str, cache: dict, what: str, of_video, of_clip, absent=None):
    """`of_video(path)` or `of_clip(prepared clip)` of the driving clip `driving` (cached
    under `what`); `absent` when it is not found."""
    key = (what, driving)
    if key not in cache:
        where = _find_driving(source, driving, cache)
        if where is None:
            cache[key] = absent
        else:
            cache[key] = of_video(where) if isinstance(where, Path) else of_clip(where)
    return cache[key]


def _driving_landmarks(source: Path | None, driving: str, cache: dict) -> np.ndarray | None:
    """Landmarks of a whole driving clip (a prepared clip's, as `fme megc` drives with them,
    or tracked on a video named after it); None when it cannot be found."""
    from generation.data.video import read_video

    return _from_driving(
        source, driving, cache, "landmarks",
        lambda path: track_landmarks(read_video(path)), lambda clip: clip.landmarks(),
    )  # fmt: skip


def _driving_frames(source: Path | None, driving: str, cache: dict) -> np.ndarray | None:
    """Frames of a driving clip (prepared clip or video named after it); None if absent."""
    from generation.data.video import read_video

    return _from_driving(source, driving, cache, "frames", read_video, lambda clip: clip.frames())


def _driving_au(source: Path | None, driving: str, cache: dict, au_source=None):
    """(AU track, onset index) of a driving clip: from `au_source`
    (`generation.au.sources.AUSource`; None: the landmark estimator on a prepared clip's
    cached landmarks (its onset) or on a video's tracked ones (frame 0)), or from the
    clip's CSV for a CSV source."""
    from generation.au.estimator import clip_au_track
    from generation.au.sources import as_source
    from generation.data.video import probe, read_video

    src = as_source(au_source)
    if src.from_csv:
        of_video = lambda path: (src.csv_track(path, probe(path).n_frames), 0)  # noqa: E731
        of_clip = lambda clip: (src.csv_track(clip.dir, clip.n_frames, clip), clip.onset_index)  # noqa: E731
    else:
        of_video = lambda path: (video_au_track(read_video(path)), 0)  # noqa: E731
        of_clip = lambda clip: (clip_au_track(clip), clip.onset_index)  # noqa: E731
    return _from_driving(source, driving, cache, "au", of_video, of_clip, absent=(None, 0))


def _check_matches(
    folder: Path, manifest: dict, rows: dict, tdir: Path | None, dsrc: Path | None, cache
) -> None:
    """Every video the manifest lists is in the set, and the videos' driving clips and
    templates (`rows`, per video) are found in `--driving` and `--templates`: none found is
    a DataError naming the option, some missing one warning line with their number (their
    metrics are left out); never silent."""
    listed = [name for name in manifest if name and not (folder / name).is_file()]
    if listed:
        raise DataError(
            f"{len(listed)} video(s) the manifest lists are missing, e.g. {listed[0]}",
            folder,
            "Render the set again (fme megc), or give a complete set.",
        )
    for option, where, key, what, find in (
        ("--driving", dsrc, "driving", "driving clip", lambda n: _find_driving(dsrc, n, cache)),
        ("--templates", tdir, "template", "template", lambda n: _find_template(tdir, n)),
    ):
        if where is None:
            continue
        names = sorted({row.get(key, "") for row in rows.values() if row.get(key)})
        missing = [name for name in names if find(name) is None]
        if missing and len(missing) == len(names):
            raise DataError(
                f"{option}: none of the set's {len(names)} {what} name(s) is found there "
                f"(e.g. {missing[0]!r})",
                where,
                f"Give {option} the folder of the {what}s the set was made from "
                f"({'a prepared folder or videos' if key == 'driving' else 'images'} named "
                f"as in the videos' names or manifest.csv).",
            )
        if missing:
            log.warning(
                "%s %s: %d of %d %s name(s) not found (e.g. %r): their videos' metrics that "
                "need them are left out",
                option,
                where,
                len(missing),
                len(names),
                what,
                missing[0],
            )


def _truth(corpus: Path | None, row: dict[str, str]) -> np.ndarray | None:
    if corpus is None:
        return None
    identity = row.get("identity_subject") or row.get("template", "")
    clip_key = row.get("clip_key") or row.get("driving", "")
    if not identity or not clip_key:
        return None
    match = re.fullmatch(r"(sub\d+)_(.+)", clip_key)
    if "/" not in clip_key and match:  # CASME II style driving name sub02_EP01_01
        clip_key = f"{match[1]}/{match[2]}"
    from generation.synth import render_cross

    frames, _ = render_cross(corpus, identity, clip_key)
    return frames


def check_set(
    folder: str | Path,
    templates: str | Path | None = None,
    driving: str | Path | None = None,
    synth: str | Path | None = None,
    cache: dict | None = None,
) -> tuple[list[Path], dict[str, dict[str, str]]]:
    """The videos of a generated set and each one's row (`driving`, `template`, ...: from
    manifest.csv or the name `<driving>-<template>.mp4`), checked against `templates` and
    `driving` (`_check_matches`) before any metric is computed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("generated set folder not found", folder)
    rows: dict[str, dict[str, str]] = {}
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as fh:
            for row in csv.DictReader(fh):
                rows[Path(row.get("path") or row.get("video") or "").name] = row
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise DataError("no videos in generated set", folder)
    tdir = Path(templates) if templates else None
    dsrc = Path(driving) if driving else None
    from generation.data.video import probe

    video_rows = {}
    for video in videos:
        n_frames = probe(video).n_frames  # packets counted, nothing decoded
        if n_frames < 2:
            raise DataError(
                f"{video.name} has {n_frames} frame(s); a generated clip needs two or more",
                folder,
                "Render the set again, or take that video out of the folder.",
            )
        row = dict(rows.get(video.name, {}))
        if not row.get("driving"):
            parsed = parse_video_name(video.stem)
            if parsed is None and (tdir or dsrc or synth):
                raise DataError(
                    f"cannot tell the driving clip and template of {video.name}",
                    folder,
                    "Name videos `<driving>-<template>.mp4` or add a manifest.csv with "
                    "`path`, `driving` and `template` columns.",
                )
            row["driving"], row["template"] = parsed or ("", "")
        video_rows[video.name] = row
    _check_matches(folder, rows, video_rows, tdir, dsrc, {} if cache is None else cache)
    return videos, video_rows


def set_metrics(
    folder: str | Path,
    templates: str | Path | None = None,
    driving: str | Path | None = None,
    synth: str | Path | None = None,
    progress: bool = True,
    published=None,
    au_source=None,
    checked: tuple[list[Path], dict[str, dict[str, str]]] | None = None,
    cache: dict | None = None,
) -> list[VideoMetrics]:
    """Metrics of every video of a generated set (names `<driving>-<template>.mp4` or a
    manifest with `path`, `driving`, `template`; for ground truth optionally
    `identity_subject` and `clip_key`). `published`: an `eval.metrics.published.PublishedRun`
    that adds the published-table metrics of each video (and gathers the set's features).
    `au_source` (`generation.au.sources`; None: the landmark estimator) gives the AU curves
    of AU fidelity: a CSV source reads the driving clip's CSV and each generated video's
    (`<video>.<source>.csv` or `<video>.csv` beside it, or in the source's `csv` folder).
    `checked`: what `check_set` returned for this folder (it is checked here otherwise);
    `cache`: the driving clips read so far, shared by the sets of one run (all read the same
    `driving` with the same AU source)."""
    from generation.au.sources import as_source

    au_src = as_source(au_source)
    from tqdm import tqdm

    from generation.data.video import read_image, read_video

    tdir = Path(templates) if templates else None
    dsrc = Path(driving) if driving else None
    cache = {} if cache is None else cache
    videos, video_rows = checked or check_set(folder, tdir, dsrc, synth, cache)
    folder = Path(folder)
    out = []
    for video in tqdm(videos, desc=f"metrics {folder.name}", unit="video", disable=not progress):
        row = video_rows[video.name]
        frames = read_video(video)
        tpath = _find_template(tdir, row.get("template", ""))
        target = read_image(tpath) if tpath is not None else None
        driving_au, onset = _driving_au(dsrc, row.get("driving", ""), cache, au_src)
        truth = _truth(Path(synth) if synth else None, row)
        extra = None
        if published is not None:
            name = row.get("driving", "")
            dframes = (
                _driving_frames(dsrc, name, cache) if published.nets.embedder is not None else None
            )
            extra = published.video_extra(video.name, target, truth, name, dframes)
        generated_au = None
        if au_src.from_csv and driving_au is not None:
            generated_au = au_src.csv_track(video, len(frames))
        try:
            out.append(
                video_metrics(
                    video.name,
                    frames,
                    target,
                    _driving_landmarks(dsrc, row.get("driving", ""), cache),
                    truth,
                    driving_au,
                    onset,
                    extra,
                    generated_au,
                )
            )
        except FaceNotFoundError as err:
            log.warning("%s: skipped (%s)", video.name, err)
    return out


def summary_frame(metrics: Sequence[VideoMetrics]):
    """One row per video; the per-AU fidelity values as columns `r_AU01`, `mae_AU01`, ..."""
    import pandas as pd

    rows = []
    for m in metrics:
        row = asdict(m)
        row |= row.pop("au_per_au")
        row |= row.pop("published")
        rows.append(row)
    return pd.DataFrame(rows)


def per_au_table(all_videos):
    """Per set and AU: mean r and MAE over the set's videos (from `summary_frame` rows)."""
    import pandas as pd

    from generation.au import AU_NAMES

    rows = []
    for set_name, group in all_videos.groupby("set", sort=False):
        for au in AU_NAMES:
            r = group.get(f"r_{au}")
            mae = group.get(f"mae_{au}")
            if (r is None or r.isna().all()) and (mae is None or mae.isna().all()):
                continue
            rows.append(
                {
                    "set": set_name,
                    "AU": au,
                    "videos": int(r.notna().sum()) if r is not None else 0,
                    "r": float(r.mean()) if r is not None else float("nan"),
                    "MAE": float(mae.mean()) if mae is not None else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["set", "AU", "videos", "r", "MAE"])


def _weights(args: argparse.Namespace):
    """The weight files the options and `--weights` name (ConfigError for one not found)."""
    from eval.metrics import published as pm

    return pm.resolve_weights(
        {
            "inception": args.inception,
            "alexnet": args.alexnet,
            "vgg16": args.vgg16,
            "lpips_dir": args.lpips_dir,
            "i3d": args.i3d,
            "arcface": args.arcface,
            "facenet": args.facenet,
        },
        args.weights,
    )


def _published_run(args: argparse.Namespace, weights):
    """The published-table metrics' run (networks, real-set features), and its notes."""
    import sys

    from eval.metrics import published as pm

    nets = pm.load_nets(weights)
    real: dict = {}
    real_dir = args.real or (args.driving if args.driving else None)
    if nets.inception is not None or nets.i3d is not None:
        if real_dir is None:
            nets.notes.append(
                "FID/KID/FVD left out: no real set; give --real DIR (real videos or images) or --driving"
            )
        else:
            cache = Path(args.feature_cache) if args.feature_cache else None
            real = pm.real_features(
                nets, pm.real_videos(real_dir), weights, cache, args.fvd_frames, not args.quiet
            )
            if nets.i3d is not None and "i3d" not in real:
                nets.notes.append(
                    f"FVD left out: fewer than 2 real clips of at least {args.fvd_frames} frames in {real_dir}"
                )
    run = pm.PublishedRun(
        nets,
        real,
        track_landmarks,
        args.fvd_frames,
        args.bootstrap,
        args.kid_subset_size,
        not args.quiet,
    )
    for line in run.notes:
        print(f"note: {line}", file=sys.stderr)
    return run


def run_metrics(args: argparse.Namespace) -> int:
    """`fme eval metrics`, without autograd (a context, so a caller in-process keeps it)."""
    import torch

    with torch.no_grad():
        return _run_metrics(args)


def _run_metrics(args: argparse.Namespace) -> int:
    import sys

    import pandas as pd

    from eval.metrics.published import column_tags
    from eval.table import write_tables
    from fme.core.outputs import output_dir, output_set, write_csv_atomic
    from generation.au.sources import AUSource

    for option, folder in (
        ("--templates", args.templates),
        ("--driving", args.driving),
        ("--synth", args.synth),
        ("--real", getattr(args, "real", None)),
    ):
        if folder and not Path(folder).exists():
            raise ConfigError(
                f"{option}: not found",
                folder,
                f"Give {option} an existing folder, or leave it out (its metrics are then not computed).",
            )
    if args.fvd_frames < 9:
        raise ConfigError(
            f"--fvd-frames {args.fvd_frames}: the I3D needs clips of at least 9 frames"
        )
    out = Path(args.out or Path(args.set[0]) / "metrics")
    output_dir(out, existing="replace")  # checked before the weights are looked for
    weights = _weights(args)
    # the driving clips' landmarks, frames and AU tracks, read once for every set
    cache: dict = {}
    checked = {  # every set matched to --templates/--driving before any network loads
        folder: check_set(folder, args.templates, args.driving, args.synth, cache)
        for folder in args.set
    }
    run = _published_run(args, weights)
    frames = []
    set_rows = []
    for folder in args.set:
        run.start_set()
        per_video = summary_frame(
            set_metrics(
                folder,
                args.templates,
                args.driving,
                args.synth,
                not args.quiet,
                published=run,
                au_source=AUSource(args.au_source or "landmarks", args.au_csv),
                checked=checked[folder],
                cache=cache,
            )
        )
        per_video.insert(0, "set", Path(folder).name)
        frames.append(per_video)
        set_rows.append({"set": Path(folder).name, **run.finish_set(Path(folder).name)})
    for line in run.notes[len(run.nets.notes) :]:
        print(f"note: {line}", file=sys.stderr)
    all_videos = pd.concat(frames, ignore_index=True)
    per_au = [c for c in all_videos.columns if c.startswith(("r_AU", "mae_AU"))]
    numeric = all_videos.drop(columns=["video", *per_au]).groupby("set", sort=False).mean()
    numeric = numeric.dropna(axis=1, how="all").reset_index()
    per_set = pd.DataFrame(set_rows)
    if len(per_set.columns) > 1:
        numeric = numeric.merge(per_set, on="set", how="left")
    rename, notes = column_tags(list(numeric.columns), run.nets.embedder_name)
    notes += [f"not computed: {line}" for line in run.notes]
    own = [
        "metrics_per_video.csv",
        *(f"{s}.{x}" for s in ("metrics", "au_fidelity") for x in ("csv", "md", "tex")),
    ]
    # the tables are swapped into --out together, or not at all
    with output_set(out, "fme eval metrics", owns=lambda _: own) as stage:
        write_csv_atomic(all_videos, stage / "metrics_per_video.csv", index=False)
        write_tables(
            numeric.rename(columns=rename),
            stage / "metrics",
            caption="Objective metrics of generated sets",
            notes=notes,
        )
        # the CSV keeps the plain column names
        write_csv_atomic(numeric, stage / "metrics.csv", index=False)
        print((stage / "metrics.md").read_text())
        if per_au:
            write_tables(
                per_au_table(all_videos), stage / "au_fidelity", caption="AU fidelity per AU"
            )
            print((stage / "au_fidelity.md").read_text())
    return 0
