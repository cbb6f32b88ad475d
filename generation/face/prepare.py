"""Face preparation: dataset clips -> cropped, resized, landmarked frames cached per clip.

For each clip: grayscale; dlib's frontal face on the onset frame (the largest when there
are several); that box grown by a margin, made square and clamped to the image, crops every
frame of the clip; the crop is resized to `size` x `size` and written as 3-channel PNGs;
the 68 landmarks of every frame are predicted inside the onset face box on the full-size
frame and mapped into crop pixels. The format is described in `generation.data.prepared`.

A clip is written to a temporary folder and renamed into place when complete. A re-run
skips a clip folder only once it is verified: a `landmarks.npz` of the same settings with
one set of landmarks per frame, and every frame present, decodable and of the prepared
size; a damaged clip is prepared again. A clip whose face is not found, or whose frames are
missing or corrupt, goes to `report.csv` beside the manifest and is skipped; the other clips
go on. A clip whose sheet row the reader corrected (an apex outside onset..offset, see
`generation.data.readers`) is prepared and listed in `report.csv` with the stage "corrected".

Nothing is lost on a re-run: the manifest keeps the rows of every clip this run did not
prepare or verify (other datasets, and clips of this one it could not read this time whose
finished folders are still on disk), and it is written atomically.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fme.core.errors import ConfigError, FMEError, VideoError
from generation.data.clip import Clip
from generation.data.prepared import (
    MANIFEST,
    MANIFEST_COLUMNS,
    REPORT,
    REPORT_COLUMNS,
    frame_name,
    read_csv_rows,
    write_csv,
)
from generation.data.readers import LeftOut, aus_text, read_dataset_report
from generation.data.video import read_image
from generation.face.detect import crop_box, crop_resize, landmarks68, largest_face, to_gray
from generation.face.tracking import LANDMARK_METHODS, track_landmarks, track_region

STAGES = ("read", "detect", "landmarks", "crop", "write")


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of `fme prepare`."""

    size: int = 256
    margin: float = 0.25
    seed: int = 0  # preparation is deterministic; kept for the record
    png_compression: int = 1
    #: "track": dlib on the onset frame (sub-pixel), then tracked (generation.face.tracking);
    #: "dlib": dlib on every frame (whole pixels)
    landmarks: str = "track"

    def check(self) -> None:
        if self.landmarks not in LANDMARK_METHODS:
            raise ConfigError(
                f"unknown landmark method {self.landmarks!r}; choose one of {LANDMARK_METHODS}"
            )
        if not 16 <= self.size <= 2048:
            raise ConfigError(f"--size {self.size} is outside 16-2048")
        if not 0 <= self.margin <= 2:
            raise ConfigError(f"--margin {self.margin} is outside 0-2")


@dataclass(frozen=True)
class Problem:
    """A clip left out of the preparation, with the stage that failed."""

    dataset: str
    subject: str
    clip_id: str
    stage: str  # read (the dataset reader), face, frames
    reason: str
    path: str = ""

    def row(self) -> dict[str, object]:
        return {c: getattr(self, c) for c in REPORT_COLUMNS}

    @property
    def message(self) -> str:
        where = f"{self.path}: " if self.path and self.path not in self.reason else ""
        return f"{where}{self.dataset} {self.subject}/{self.clip_id}: {self.reason}"


@dataclass
class PrepareResult:
    out: Path
    n_clips: int = 0
    processed: int = 0  # clips prepared by this run
    cached: int = 0  # clips already finished, skipped
    frames: int = 0  # frames prepared by this run
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def manifest(self) -> Path:
        return self.out / MANIFEST

    @property
    def report(self) -> Path:
        return self.out / REPORT


def to_crop_coords(points: np.ndarray, box: Sequence[int], size: int) -> np.ndarray:
    """Map (..., 2) pixel (x, y) of the original image into the resized crop of `box`.

    Pixel centres map to pixel centres: u = (x - left + 0.5) * size / width - 0.5.
    """
    left, top, right, bottom = (float(v) for v in box)
    scale = np.array([size / (right - left), size / (bottom - top)], dtype=np.float64)
    origin = np.array([left, top], dtype=np.float64)
    out = (np.asarray(points, dtype=np.float64) - origin + 0.5) * scale - 0.5
    return out.astype(np.float32)


def clip_dir(out: Path, clip: Clip) -> Path:
    return out / clip.dataset / clip.subject / clip.clip_id


def manifest_row(clip: Clip, out: Path) -> dict[str, object]:
    return {
        "dataset": clip.dataset,
        "subject": clip.subject,
        "clip_id": clip.clip_id,
        "n_frames": clip.n_frames,
        "onset": clip.onset,
        "apex": clip.apex,
        "offset": clip.offset,
        "onset_index": clip.onset_index,
        "apex_index": clip.apex_index,
        "offset_index": clip.offset_index,
        "emotion": clip.emotion,
        "label": clip.label or "",
        "aus": aus_text(clip.aus),
        "path": clip_dir(out, clip).relative_to(out).as_posix(),
        "emotion_label": clip.emotion_label or "",
        "au_cell": clip.au_cell.raw,
        "au_alternatives": clip.au_cell.alternatives_text,
        "au_refs": clip.au_cell.refs_text,
        "au_notes": clip.au_cell.notes_text,
    }


def frames_intact(folder: Path, n_frames: int, size: int) -> bool:
    """Every frame 0..n_frames-1 of a prepared clip decodes at size x size, and no other."""
    from PIL import Image

    frames = folder / "frames"
    if not frames.is_dir() or len(list(frames.glob("*.png"))) != n_frames:
        return False
    for k in range(n_frames):
        try:
            with Image.open(frames / frame_name(k)) as im:
                im.load()
                if im.size != (size, size):
                    return False
        except Exception:  # missing, truncated or not an image
            return False
    return True


def is_finished(folder: Path, clip: Clip, config: PrepareConfig) -> bool:
    """True when `folder` holds this clip prepared with the same settings, verified: the
    landmarks are finite, one set per frame, and every frame decodes."""
    npz = folder / "landmarks.npz"
    if not npz.is_file():
        return False
    try:
        with np.load(npz) as data:
            landmarks = data["landmarks"]
            same = (
                int(data["size"]) == config.size
                and abs(float(data["margin"]) - config.margin) < 1e-9
                and tuple(int(n) for n in data["frame_numbers"]) == clip.frame_numbers
                and landmarks.shape == (clip.n_frames, 68, 2)
                and bool(np.isfinite(landmarks).all())
                # files written before the option hold per-frame dlib landmarks
                and str(data.get("landmark_method", "dlib")) == config.landmarks
            )
    except Exception:  # a damaged file: prepare the clip again
        return False
    return same and frames_intact(folder, clip.n_frames, config.size)


def _gray(path: Path) -> np.ndarray:
    return to_gray(read_image(path))


def prepare_clip(clip: Clip, out: Path, config: PrepareConfig, timings: dict[str, float]) -> Path:
    """Prepare one clip into its folder under `out`; FMEError (nothing written) on failure."""
    from PIL import Image

    t = time.perf_counter()
    onset_path = clip.frames[clip.onset_index]
    onset = _gray(onset_path)
    timings["read"] += time.perf_counter() - t
    t = time.perf_counter()
    face = largest_face(onset, onset_path)
    box = crop_box(face, onset.shape, config.margin)
    timings["detect"] += time.perf_counter() - t

    final = clip_dir(out, clip)
    tmp = final.with_name(f".{final.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "frames").mkdir(parents=True)
    try:
        source_lm = np.zeros((clip.n_frames, 68, 2), dtype=np.float32)
        rx0, ry0, rx1, ry1 = track_region(face, onset.shape)
        region = np.zeros((clip.n_frames, ry1 - ry0, rx1 - rx0), dtype=np.uint8)
        for k, path in enumerate(clip.frames):
            t = time.perf_counter()
            gray = onset if k == clip.onset_index else _gray(path)
            if gray.shape != onset.shape:
                raise VideoError(
                    f"frame size {gray.shape[::-1]} differs from the onset frame's "
                    f"{onset.shape[::-1]}",
                    path,
                    "Replace the frame or remove the clip.",
                )
            t2 = time.perf_counter()
            timings["read"] += t2 - t
            source_lm[k] = landmarks68(gray, face)
            region[k] = gray[ry0:ry1, rx0:rx1]
            t3 = time.perf_counter()
            timings["landmarks"] += t3 - t2
            crop = Image.fromarray(crop_resize(gray, box, config.size))
            rgb = Image.merge("RGB", (crop, crop, crop))
            t4 = time.perf_counter()
            timings["crop"] += t4 - t3
            rgb.save(tmp / "frames" / frame_name(k), compress_level=config.png_compression)
            timings["write"] += time.perf_counter() - t4
        t = time.perf_counter()
        fallbacks = 0
        if config.landmarks == "track":
            start = landmarks68(onset, face, upsample=0)
            source_lm, fallbacks = track_landmarks(
                region, (rx0, ry0), start, source_lm, clip.onset_index
            )
        timings["landmarks"] += time.perf_counter() - t
        t = time.perf_counter()
        np.savez(
            tmp / "landmarks.npz",
            landmarks=to_crop_coords(source_lm, box, config.size),
            box=np.array(box, dtype=np.int32),
            face_box=np.array(face, dtype=np.int32),
            frame_numbers=np.array(clip.frame_numbers, dtype=np.int64),
            size=config.size,
            margin=config.margin,
            image_shape=np.array(onset.shape[:2], dtype=np.int32),
            source_landmarks=source_lm,
            landmark_method=config.landmarks,
            tracking_fallbacks=fallbacks,
        )
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        timings["write"] += time.perf_counter() - t
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def corrected_rows(clips: Sequence[Clip]) -> list[dict[str, object]]:
    """report.csv rows (stage "corrected") for clips kept with a corrected sheet row."""
    return [
        {
            "dataset": c.dataset,
            "subject": c.subject,
            "clip_id": c.clip_id,
            "stage": "corrected",
            "reason": "; ".join(c.corrections),
            "path": str(c.frames[0].parent),
        }
        for c in clips
        if c.corrections
    ]


def _merge_rows(path: Path, dataset_names: set[str], rows: list[dict[str, object]]):
    """Rows of other datasets already in a CSV, then this run's rows."""
    kept = [r for r in read_csv_rows(path) if r.get("dataset") not in dataset_names]
    return kept + rows


def _key(row: dict) -> tuple[str, str, str]:
    return (str(row.get("dataset")), str(row.get("subject")), str(row.get("clip_id")))


def _merge_manifest(out: Path, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The manifest's rows in their order, each replaced by this run's row of the same clip;
    a row of a clip this run did not prepare or verify is kept while its folder is still on
    disk; this run's other rows come last."""
    new = {_key(r): r for r in rows}
    merged: list[dict[str, object]] = []
    for row in read_csv_rows(out / MANIFEST):
        key = _key(row)
        if key in new:
            merged.append(new.pop(key))
        elif (out / str(row.get("path", "")) / "landmarks.npz").is_file():
            merged.append(row)
    return merged + list(new.values())


def prepare_clips(
    clips: Sequence[Clip],
    out: str | Path,
    config: PrepareConfig | None = None,
    left_out: Sequence[LeftOut] = (),
    progress: bool = True,
) -> PrepareResult:
    """Prepare clips under `out`, skipping finished ones; write the manifest and report.

    The manifest and report keep the rows of datasets not in `clips`, so several datasets
    can share one output folder.
    """
    from tqdm import tqdm

    config = config or PrepareConfig()
    config.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = PrepareResult(out=out, n_clips=len(clips))
    result.problems += [
        Problem(x.dataset, x.subject, x.clip_id, "read", x.reason, x.path) for x in left_out
    ]
    rows = []
    bar = tqdm(clips, desc="prepare", unit="clip", disable=not progress)
    for clip in bar:
        folder = clip_dir(out, clip)
        if is_finished(folder, clip, config):
            result.cached += 1
            rows.append(manifest_row(clip, out))
            continue
        try:
            prepare_clip(clip, out, config, result.timings)
        except FMEError as err:
            stage = "face" if err.__class__.__name__ == "FaceNotFoundError" else "frames"
            path = str(err.path) if err.path else str(clip.frames[0].parent)
            result.problems.append(
                Problem(clip.dataset, clip.subject, clip.clip_id, stage, str(err), path)
            )
            continue
        result.processed += 1
        result.frames += clip.n_frames
        rows.append(manifest_row(clip, out))
        elapsed = sum(result.timings.values())
        bar.set_postfix(fps=f"{result.frames / max(elapsed, 1e-9):.0f}")
    names = {c.dataset for c in clips} | {x.dataset for x in left_out}
    write_csv(out / MANIFEST, MANIFEST_COLUMNS, _merge_manifest(out, rows))
    report = [p.row() for p in result.problems] + corrected_rows(clips)
    write_csv(out / REPORT, REPORT_COLUMNS, _merge_rows(out / REPORT, names, report))
    result.seconds = time.perf_counter() - start
    return result


def prepare_dataset(
    name: str,
    root: str | Path,
    out: str | Path,
    config: PrepareConfig | None = None,
    progress: bool = True,
) -> PrepareResult:
    """Read a dataset (casme2, samm, smic) and prepare all its readable clips."""
    report = read_dataset_report(name, root)
    return prepare_clips(report.clips, out, config, report.left_out, progress)
