"""Face preparation: dataset clips -> cropped, resized, landmarked frames cached per clip.

For each clip: grayscale; dlib's frontal face on the onset frame (the largest when there
are several; a clip of one's own without a coded onset: the first frame with a face); that
box grown by a margin, made square and clamped to the image, crops every frame of the clip;
the crop is resized to `size` x `size` and written as 3-channel PNGs; the 68 landmarks of
every frame are found inside the onset face box on the full-size frame (tracked, checked
per facial region against dlib: `generation.face.tracking`) and mapped into crop pixels. The
face is checked on every frame (`generation.face.presence`); a frame without one is held,
skipped or refused (`PrepareConfig.no_face`), and counted in `report.csv` (stage
"no-face"), as are the frames where a tracked region fell back to dlib (stage
"landmarks"). Frames are read one at a time. The format is described in
`generation.data.prepared`.

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

from fme.core.errors import ConfigError, FMEError, StorageError
from fme.core.locks import locked
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
from generation.data.video import iter_video, read_image
from generation.face.detect import crop_box, crop_resize, inter_ocular
from generation.face.presence import check_policy, follow_face
from generation.face.tracking import LANDMARK_METHODS, REGIONS

REGION_NAMES = tuple(REGIONS)

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
    #: what a frame without a face gets (generation.face.presence.POLICIES)
    no_face: str = "hold"

    def check(self) -> None:
        check_policy(self.no_face)
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
    #: clips prepared with frames without a face (stage "no-face") or with tracker
    #: regions fallen back to dlib (stage "landmarks"): report.csv rows, not failures
    notes: list[Problem] = field(default_factory=list)
    faceless_frames: int = 0  # frames of this run's clips without a face
    fallback_frames: int = 0  # frames with a tracker region fallen back to dlib
    face_frames: int = 0  # frames of this run's clips with a face (the tracked ones)
    region_fallbacks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REGION_NAMES, 0))

    def add_track(self, clip: Clip, track) -> None:
        """Count a prepared clip's frames without a face and its tracker fallbacks."""
        path = str(clip.video or clip.frames[0].parent)
        self.face_frames += int(track.present.sum())
        if not track.present.all():
            self.faceless_frames += int((~track.present).sum())
            self.notes.append(
                Problem(
                    clip.dataset, clip.subject, clip.clip_id, "no-face", track.missing_text(), path
                )
            )
        if track.fallback_frames:
            self.fallback_frames += track.fallback_frames
            for region, n in track.region_fallbacks.items():
                self.region_fallbacks[region] += n
            self.notes.append(
                Problem(
                    clip.dataset,
                    clip.subject,
                    clip.clip_id,
                    "landmarks",
                    track.fallback_text(),
                    path,
                )
            )

    def fallback_text(self) -> str:
        """'tracker: 13 of 72 frames with a face fell back to dlib in a facial region
        (mouth 13, ...)'."""
        parts = [f"{r} {n}" for r, n in self.region_fallbacks.items() if n]
        detail = f" ({', '.join(parts)})" if parts else ""
        return (
            f"tracker: {self.fallback_frames} of {self.face_frames} frames with a face fell "
            f"back to dlib in a facial region{detail}"
        )

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
        "fps": f"{clip.fps:g}" if clip.fps else "",
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


def finished_clip(folder: Path, clip: Clip, config: PrepareConfig) -> Clip | None:
    """The clip as `folder` holds it when it was prepared with the same settings, verified:
    the landmarks are finite, one set per frame, and every frame decodes; else None."""
    npz = folder / "landmarks.npz"
    if not npz.is_file():
        return None
    try:
        with np.load(npz) as data:
            landmarks = data["landmarks"]
            numbers = tuple(int(n) for n in data["frame_numbers"])
            wanted = set(clip.frame_numbers)
            frames_ok = (
                numbers == clip.frame_numbers
                if config.no_face != "skip"
                else (set(numbers) <= wanted and list(numbers) == sorted(numbers))
            )
            same = (
                int(data["size"]) == config.size
                and abs(float(data["margin"]) - config.margin) < 1e-9
                and frames_ok
                and landmarks.shape == (len(numbers), 68, 2)
                and bool(np.isfinite(landmarks).all())
                # files written before the option hold per-frame dlib landmarks
                and str(data.get("landmark_method", "dlib")) == config.landmarks
                # files written before the face was checked on every frame are redone
                and str(data.get("no_face", "")) == config.no_face
            )
    except Exception:  # a damaged file: prepare the clip again
        return None
    if not same or not frames_intact(folder, len(numbers), config.size):
        return None
    position = {n: k for k, n in enumerate(clip.frame_numbers)}
    return kept_clip(clip, [position[n] for n in numbers])


def is_finished(folder: Path, clip: Clip, config: PrepareConfig) -> bool:
    """True when `folder` holds this clip prepared with the same settings, verified (see
    `finished_clip`)."""
    return finished_clip(folder, clip, config) is not None


def clip_reader(clip: Clip, timings: dict[str, float] | None = None):
    """`frames(start)`: an iterator of the clip's frames from index `start`, one at a time
    (a video file's decoded in order, frame files read one by one), timed into
    `timings["read"]`."""

    def frames(start: int):
        if clip.video is not None:
            source = iter_video(clip.video, start)
        else:
            source = (read_image(path) for path in clip.frames[start:])
        while True:
            t = time.perf_counter()
            try:
                frame = next(source)
            except StopIteration:
                return
            finally:
                if timings is not None:
                    timings["read"] += time.perf_counter() - t
            yield frame

    return frames


def kept_clip(clip: Clip, kept: Sequence[int]) -> Clip:
    """The clip with only the frames at positions `kept` (frames without a face skipped)."""
    from dataclasses import replace

    kept = [int(k) for k in kept]
    if kept == list(range(clip.n_frames)):
        return clip
    return replace(
        clip,
        frames=tuple(clip.frames[k] for k in kept),
        frame_numbers=tuple(clip.frame_numbers[k] for k in kept),
    )


def coded_clip(clip: Clip, track) -> Clip:
    """A clip of one's own: with `face_search`, its onset moved to the first frame with a
    face; an apex given as -1 (not coded) put on the frame whose landmarks
    moved most from the onset's (mean distance, in IOD)."""
    from dataclasses import replace

    if not clip.face_search and clip.apex >= 0:
        return clip
    numbers = clip.frame_numbers
    position = {int(k): row for row, k in enumerate(track.kept)}
    onset_row = position.get(track.start, 0) if clip.face_search else clip.onset_index
    onset = numbers[onset_row]
    apex = clip.apex
    if apex < 0:
        lm = track.landmarks.astype(np.float64)
        moved = np.linalg.norm(lm - lm[onset_row], axis=-1).mean(-1)
        moved = moved / max(float(inter_ocular(lm[onset_row])), 1e-9)
        moved[:onset_row] = -1.0
        apex = numbers[int(np.argmax(moved))]
    offset = max(clip.offset, apex)
    return replace(clip, onset=onset, apex=max(apex, onset), offset=max(offset, onset))


def prepare_clip(clip: Clip, out: Path, config: PrepareConfig, timings: dict[str, float]):
    """Prepare one clip into its folder under `out`; FMEError (nothing written) on failure.
    Returns the clip as written (without the frames `no_face="skip"` leaves out; onset,
    apex and offset then index the nearest frames kept) and its `FaceTrack` (frames
    without a face, tracker fallbacks)."""
    from PIL import Image

    final = clip_dir(out, clip)
    tmp = final.with_name(f".{final.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "frames").mkdir(parents=True)
    crop: list = []  # the crop box, set on the first frame
    written: list[int] = []

    def write(k: int, gray: np.ndarray, face) -> None:
        t = time.perf_counter()
        if not crop:
            crop.append(crop_box(face, gray.shape, config.margin))
        image = Image.fromarray(crop_resize(gray, crop[0], config.size))
        rgb = Image.merge("RGB", (image, image, image))
        t2 = time.perf_counter()
        timings["crop"] += t2 - t
        name = frame_name(len(written))
        written.append(k)
        rgb.save(tmp / "frames" / name, compress_level=config.png_compression)
        t3 = time.perf_counter()
        timings["write"] += t3 - t2

    source = clip.video if clip.video is not None else clip.frames[clip.onset_index]
    try:
        track = follow_face(
            clip_reader(clip, timings),
            clip.onset_index,
            config.no_face,
            config.landmarks,
            on_frame=write,
            source=source,
            search=clip.face_search,
            timings=timings,
        )
        t = time.perf_counter()
        kept = coded_clip(kept_clip(clip, track.kept), track)
        box = crop[0]
        np.savez(
            tmp / "landmarks.npz",
            landmarks=to_crop_coords(track.landmarks, box, config.size),
            box=np.array(box, dtype=np.int32),
            face_box=np.array(track.face_box, dtype=np.int32),
            frame_numbers=np.array(kept.frame_numbers, dtype=np.int64),
            size=config.size,
            margin=config.margin,
            image_shape=np.array(track.image_shape, dtype=np.int32),
            source_landmarks=track.landmarks,
            landmark_method=config.landmarks,
            no_face=config.no_face,
            face_present=track.present[track.kept],
            face_start=track.start,
            tracking_fallbacks=track.fallback_frames,
            region_fallbacks=np.array(
                [track.region_fallbacks.get(r, 0) for r in REGION_NAMES], dtype=np.int64
            ),
        )
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        timings["write"] += time.perf_counter() - t
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return kept, track


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
    config = config or PrepareConfig()
    config.check()
    out = Path(out)
    with locked(out, "OUT"):  # one run per prepared folder
        return _prepare_clips(clips, out, config, left_out, progress)


def _prepare_clips(clips, out: Path, config: PrepareConfig, left_out, progress: bool):
    from tqdm import tqdm

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
        done = finished_clip(folder, clip, config)
        if done is not None:
            result.cached += 1
            rows.append(manifest_row(done, out))
            continue
        try:
            written, track = prepare_clip(clip, out, config, result.timings)
        except StorageError:
            raise  # a full disk is not the clip's fault: stop, with the one line
        except FMEError as err:
            stage = "face" if err.__class__.__name__ == "FaceNotFoundError" else "frames"
            path = str(err.path) if err.path else str(clip.frames[0].parent)
            result.problems.append(
                Problem(clip.dataset, clip.subject, clip.clip_id, stage, str(err), path)
            )
            continue
        result.add_track(clip, track)
        result.processed += 1
        result.frames += written.n_frames
        rows.append(manifest_row(written, out))
        elapsed = sum(result.timings.values())
        bar.set_postfix(fps=f"{result.frames / max(elapsed, 1e-9):.0f}")
    names = {c.dataset for c in clips} | {x.dataset for x in left_out}
    write_csv(out / MANIFEST, MANIFEST_COLUMNS, _merge_manifest(out, rows))
    report = (
        [p.row() for p in result.problems] + corrected_rows(clips) + [p.row() for p in result.notes]
    )
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
