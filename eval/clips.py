"""Video clips as recognizer input: T frames from onset to offset, 112x112 RGB, normalised.

Two sources:
- prepared clips (`fme prepare`, `generation.data.prepared`): T frames sampled evenly from
  the onset to the offset frame;
- generated sets (folders of `<driving>-<template>.mp4`, from `fme megc` or any other
  generator): T frames sampled evenly over the whole video, the 3-class label of each video
  from the set's `manifest.csv` or, without one, from its driving clip's name.

Clips are held in memory as uint8 arrays (a `ClipBank`), converted to normalised float
tensors (B, 3, T, H, W) batch by batch.

Two frame transforms (`TRANSFORMS`), chosen by whether a recognizer starts from Kinetics
weights:
- "square" (default, recognizers trained from scratch): the central square, resized to
  112 with antialiasing;
- "kinetics": exactly torchvision's video-classification preset of its Kinetics-400
  weights (`torchvision/transforms/_presets.py`, `VideoClassification(crop_size=(112, 112),
  resize_size=(128, 171))`): every frame resized to 128x171 bilinearly without antialias
  on the uint8 frames (rounded back to uint8), the central 112x112 (top-left at
  round((128-112)/2), round((171-112)/2)), then /255 and the same MEAN/STD.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fme.core.errors import ConfigError, DataError
from generation.data.clip import LABELS

log = logging.getLogger(__name__)

# torchvision's normalisation for its Kinetics-400 video models.
MEAN: tuple[float, float, float] = (0.43216, 0.394666, 0.37645)
STD: tuple[float, float, float] = (0.22803, 0.22145, 0.216989)
SIZE = 112
FRAMES = 16
TRANSFORMS: tuple[str, ...] = ("square", "kinetics")
KINETICS_RESIZE: tuple[int, int] = (128, 171)
KINETICS_CROP = 112

# Template names of the MEGC generation tasks (MEGC2021 and MEGC2022).
KNOWN_TEMPLATES: tuple[str, ...] = (
    "normalized_westernMale",
    "normalized_asianFemale",
    "normalized_westernFemale",
    "normalized_asianMale",
)
# Driving clips of MEGC2021 with their 3-class labels (docs/design.md); used when a set has no
# manifest and `generation.animation.megc` is not importable.
MEGC2021_LABELS: dict[str, str] = {
    "007_7_1": "surprise",
    "022_3_3": "positive",
    "018_3_1": "negative",
    "sub17_EP01_13": "surprise",
    "sub19_EP01_01f": "positive",
    "sub01_EP19_06f": "negative",
    "s20_sur_01": "surprise",
    "s3_po_05": "positive",
    "s11_ne_02": "negative",
}
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def sample_indices(start: int, stop: int, n: int) -> np.ndarray:
    """`n` frame positions spread evenly from `start` to `stop` inclusive (repeats allowed
    when the clip is shorter than `n`)."""
    if stop < start:
        start, stop = stop, start
    return np.rint(np.linspace(start, stop, n)).astype(int)


def square_resize(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) uint8: centre square crop, then bilinear
    resize with antialiasing."""
    import torch
    import torch.nn.functional as F

    t, h, w, _ = frames.shape
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        frames = frames[:, top : top + s, left : left + s]
    if frames.shape[1] == size:
        return np.ascontiguousarray(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def kinetics_resize(
    frames: np.ndarray, crop: int = KINETICS_CROP, resize: tuple[int, int] = KINETICS_RESIZE
) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, crop, crop, 3) uint8 as torchvision's Kinetics preset makes
    them: bilinear resize to `resize` (align_corners False, no antialias) rounded to uint8,
    then the central crop."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=resize, mode="bilinear", align_corners=False, antialias=False)
    x = x.round().clamp(0, 255).to(torch.uint8)
    top = int(round((resize[0] - crop) / 2.0))
    left = int(round((resize[1] - crop) / 2.0))
    x = x[:, :, top : top + crop, left : left + crop]
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


def fit_frames(frames: np.ndarray, size: int, transform: str = "square") -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) uint8 by one of TRANSFORMS."""
    if transform == "kinetics":
        if size != KINETICS_CROP:
            raise ConfigError(
                f"the Kinetics transform crops {KINETICS_CROP} px, not {size}",
                hint=f"Use --size {KINETICS_CROP} with --kinetics.",
            )
        return kinetics_resize(frames)
    if transform != "square":
        raise ConfigError(f"unknown clip transform {transform!r}; one of {', '.join(TRANSFORMS)}")
    return square_resize(frames, size)


def to_input(clips: np.ndarray):
    """uint8 (B, T, H, W, 3) -> normalised float tensor (B, 3, T, H, W)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(clips)).float().div_(255.0)
    x = x.permute(0, 4, 1, 2, 3)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1, 1)
    return (x - mean) / std


@dataclass(frozen=True)
class VideoItem:
    """One clip to score or train on: where its frames are, its subject and label."""

    key: str
    subject: str
    label: str | None
    path: Path
    # prepared clips: the frames from onset to offset; None for a video file
    frame_paths: tuple[Path, ...] | None = None
    dataset: str = ""
    driving: str = ""
    template: str = ""
    # generated video: (onset_index, offset_index, n_frames) of its driving clip; frames are
    # then sampled from onset to offset when the video has the driving clip's length
    span: tuple[int, int, int] | None = None

    def read(
        self, frames: int = FRAMES, size: int = SIZE, transform: str = "square"
    ) -> tuple[np.ndarray, tuple]:
        """(frames, size, size, 3) uint8 and the original (n_frames, height, width)."""
        from generation.data.video import read_image, read_video

        if self.frame_paths is not None:
            idx = sample_indices(0, len(self.frame_paths) - 1, frames)
            images = np.stack([read_image(self.frame_paths[i]) for i in idx])
            original = (len(self.frame_paths), *images.shape[1:3])
        else:
            video = read_video(self.path)
            if len(video) < 2:
                raise DataError(
                    f"{len(video)} frame(s): a clip needs two or more to be recognised",
                    self.path,
                    "Render it again, or take it out of the set.",
                )
            original = video.shape[:3]
            lo, hi = 0, len(video) - 1
            if self.span is not None and self.span[2] == len(video):
                lo, hi = self.span[0], self.span[1]
            images = video[sample_indices(lo, hi, frames)]
        return fit_frames(images, size, transform), original


@dataclass
class ClipBank:
    """Clips in memory: uint8 (N, T, S, S, 3), class indices (N,), subjects and keys."""

    clips: np.ndarray
    labels: np.ndarray
    subjects: list[str]
    keys: list[str]
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Sequence[int] | np.ndarray) -> ClipBank:
        index = np.asarray(index, dtype=int)
        return ClipBank(
            self.clips[index],
            self.labels[index],
            [self.subjects[i] for i in index],
            [self.keys[i] for i in index],
        )

    @staticmethod
    def concat(banks: Iterable[ClipBank]) -> ClipBank:
        banks = [b for b in banks if len(b)]
        if not banks:
            raise DataError("no clips to concatenate")
        return ClipBank(
            np.concatenate([b.clips for b in banks]),
            np.concatenate([b.labels for b in banks]),
            [s for b in banks for s in b.subjects],
            [k for b in banks for k in b.keys],
        )


def label_index(label: str, where: str | Path) -> int:
    if label not in LABELS:
        raise DataError(f"label {label!r} is not one of {', '.join(LABELS)}", where)
    return LABELS.index(label)


def load_bank(
    items: Sequence[VideoItem],
    frames: int = FRAMES,
    size: int = SIZE,
    name: str = "clips",
    progress: bool = True,
    transform: str = "square",
) -> ClipBank:
    """Read every item into memory (tqdm bar), frames made `size` square by `transform`;
    items of another size or frame count than the majority are resampled and a note says
    so (logged and kept in `bank.notes`)."""
    from tqdm import tqdm

    if not items:
        raise DataError(f"{name}: no clips to load")
    clips, originals = [], []
    for item in tqdm(items, desc=f"reading {name}", unit="clip", disable=not progress):
        arr, original = item.read(frames, size, transform)
        clips.append(arr)
        originals.append(original)
    labels = np.array([label_index(i.label or "", i.path) for i in items], dtype=int)
    bank = ClipBank(np.stack(clips), labels, [i.subject for i in items], [i.key for i in items])
    bank.notes = resample_notes(name, originals, frames, size)
    for note in bank.notes:
        log.info(note)
    return bank


def resample_notes(name: str, originals: Sequence[tuple], frames: int, size: int) -> list[str]:
    """Say which sizes and frame counts were resampled to `frames` x `size` x `size`."""
    notes = []
    shapes = Counter((h, w) for _, h, w in originals)
    counts = Counter(n for n, _, _ in originals)
    odd_shapes = {s: c for s, c in shapes.items() if s != (size, size)}
    if odd_shapes:
        listed = ", ".join(f"{c} of {h}x{w}" for (h, w), c in sorted(odd_shapes.items()))
        notes.append(f"{name}: resized videos to {size}x{size} ({listed})")
    if len(counts) > 1 or (counts and next(iter(counts)) != frames):
        listed = ", ".join(f"{c} with {n}" for n, c in sorted(counts.items()))
        notes.append(f"{name}: sampled {frames} frames from videos of other lengths ({listed})")
    if len(shapes) > 1:
        notes.append(f"{name}: videos of {len(shapes)} different sizes in one set")
    return notes


# ---- prepared clips --------------------------------------------------------------------


def prepared_items(roots: Sequence[str | Path], labelled_only: bool = True) -> list[VideoItem]:
    """Clips of one or more `fme prepare` outputs, frames from onset to offset.

    With `labelled_only`, clips the MEGC2019 composite leaves out (empty label) are skipped.
    """
    from generation.data.prepared import load_prepared

    items = []
    for root in roots:
        for clip in load_prepared(root):
            label = clip.label or None
            if labelled_only and label not in LABELS:
                continue
            paths = list(clip.frame_paths())
            lo, hi = sorted((int(clip.onset_index), int(clip.offset_index)))
            lo = max(0, min(lo, len(paths) - 1))
            hi = max(lo, min(hi, len(paths) - 1))
            items.append(
                VideoItem(
                    key=clip.key,
                    subject=f"{clip.dataset}/{clip.subject}",
                    label=label,
                    path=Path(clip.dir),
                    frame_paths=tuple(paths[lo : hi + 1]),
                    dataset=clip.dataset,
                    driving=clip.clip_id,
                )
            )
    if not items:
        raise DataError(
            "no labelled clips (negative/positive/surprise) in the prepared data",
            ", ".join(str(r) for r in roots),
            "Prepare CASME II, SAMM or SMIC-HS (or the synthetic corpus) with `fme prepare`.",
        )
    return items


def is_prepared_root(path: str | Path) -> bool:
    manifest = Path(path) / "manifest.csv"
    if not manifest.is_file():
        return False
    with manifest.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    return "onset_index" in header and "clip_id" in header


def prepared_driver_lookup(
    roots: Sequence[str | Path],
) -> dict[str, tuple[str, tuple[int, int, int]]]:
    """Driving-clip name (`clip_id` and `<subject>_<clip_id>`) -> (label, (onset_index,
    offset_index, n_frames)) of the labelled clips of prepared data."""
    from generation.data.prepared import load_prepared

    lookup: dict[str, tuple[str, tuple[int, int, int]]] = {}
    for root in roots:
        for clip in load_prepared(root):
            if clip.label:
                span = (int(clip.onset_index), int(clip.offset_index), int(clip.n_frames))
                lookup[clip.clip_id] = (clip.label, span)
                lookup[f"{clip.subject}_{clip.clip_id}"] = (clip.label, span)
    return lookup


# ---- generated sets --------------------------------------------------------------------


def parse_video_name(stem: str, templates: Iterable[str] = ()) -> tuple[str, str] | None:
    """`<driving>-<template>` -> (driving, template), or None when the name has no '-'.

    Driving names may contain '-', templates usually do not: the split is at the last '-'
    that starts a known template (KNOWN_TEMPLATES, `templates`, or any name beginning with
    `normalized_`); otherwise at the last '-'.
    """
    known = set(KNOWN_TEMPLATES) | set(templates)
    best = None
    for pos, ch in enumerate(stem):
        if ch != "-" or pos == 0 or pos == len(stem) - 1:
            continue
        rest = stem[pos + 1 :]
        if rest in known or rest.startswith("normalized_"):
            best = pos
    if best is None:
        best = stem.rfind("-")
        if best <= 0 or best == len(stem) - 1:
            return None
    return stem[:best], stem[best + 1 :]


def _megc_labels() -> dict[str, str]:
    labels = dict(MEGC2021_LABELS)
    try:
        from generation.animation.megc import MEGC2021_DRIVERS  # type: ignore[import-not-found]
    except ImportError:
        return labels
    try:  # accept a few plausible shapes of the engine's table
        for entry in MEGC2021_DRIVERS:
            if isinstance(entry, dict):
                name, label = entry.get("name") or entry.get("driving"), entry.get("label")
            else:
                name = getattr(entry, "name", None) or getattr(entry, "driving", None)
                label = getattr(entry, "label", None)
            if name and label in LABELS:
                labels[str(name)] = str(label)
    except TypeError:
        pass
    return labels


def _read_manifest(folder: Path) -> list[dict[str, str]] | None:
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        return None
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return []
    header = set(rows[0])
    if "label" not in header or not header & {"path", "video", "file", "filename"}:
        raise DataError(
            "manifest.csv needs a `label` column and a `path` (or `video`) column",
            manifest,
            "Write the manifest as `fme megc` does (driving, template, dataset, emotion, "
            "label, path) or remove it to have labels parsed from file names.",
        )
    return rows


def video_set_items(
    folder: str | Path,
    extra_labels: dict[str, str] | None = None,
    name: str | None = None,
) -> list[VideoItem]:
    """The videos of a generated set with their 3-class labels.

    Labels come from `folder/manifest.csv` (columns `label` and `path`) when it exists;
    otherwise each name `<driving>-<template>.<ext>` is parsed and the driving clip looked up
    in the MEGC2021 driver table and `extra_labels` (e.g. from `prepared_driver_lookup`).
    A video whose label cannot be found raises DataError naming it and what to do.
    """
    folder = Path(folder)
    name = name or folder.name
    if not folder.is_dir():
        raise DataError("generated set folder not found", folder)
    videos = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
    )
    if not videos:
        raise DataError("no videos in generated set", folder, f"Expected {VIDEO_SUFFIXES}.")
    rows = _read_manifest(folder)
    items = []
    if rows is not None:
        by_file: dict[str, dict[str, str]] = {}
        for row in rows:
            ref = row.get("path") or row.get("video") or row.get("file") or row.get("filename")
            by_file[Path(ref or "").name] = row
        missing = sorted(set(by_file) - {v.name for v in videos})
        if missing:
            log.warning(
                "%s: %d videos of manifest.csv are missing (e.g. %s)",
                folder,
                len(missing),
                missing[0],
            )
        for video in videos:
            row = by_file.get(video.name)
            if row is None:
                raise DataError(
                    f"video {video.name} is not listed in manifest.csv",
                    folder / "manifest.csv",
                    "Add a row for it (or remove the video).",
                )
            label = (row.get("label") or "").strip().lower()
            parsed = parse_video_name(video.stem) or (video.stem, "")
            driving = row.get("driving") or parsed[0]
            template = row.get("template") or parsed[1]
            label_index(label, folder / "manifest.csv")
            items.append(_item(video, driving, template, label, row.get("dataset", "")))
        return items
    lookup = _megc_labels()
    lookup.update(extra_labels or {})
    unparsed, unknown = [], []
    for video in videos:
        parsed = parse_video_name(video.stem)
        if parsed is None:
            unparsed.append(video.name)
            continue
        driving, template = parsed
        label = lookup.get(driving)
        if label is None:
            unknown.append(driving)
            continue
        items.append(_item(video, driving, template, label, ""))
    if unparsed or unknown:
        parts = []
        if unparsed:
            parts.append(
                f"{len(unparsed)} names are not `<driving>-<template>` (e.g. {unparsed[0]})"
            )
        if unknown:
            parts.append(
                f"{len(set(unknown))} driving clips have no known label "
                f"(e.g. {sorted(set(unknown))[0]})"
            )
        raise DataError(
            f"set {name!r} has no manifest.csv and " + "; ".join(parts),
            folder,
            "Add a manifest.csv with `path` and `label` columns (as `fme megc` writes), name "
            "the videos `<driving>-<template>.mp4` after MEGC driving clips, or pass the real "
            "clips' prepared data (--real) so that driving names can be looked up.",
        )
    return items


def _item(video: Path, driving: str, template: str, label: str, dataset: str) -> VideoItem:
    return VideoItem(
        key=video.name,
        subject=template or video.stem,
        label=label,
        path=video,
        dataset=dataset,
        driving=driving,
        template=template,
    )
