"""MEGC generation sets: every template face x every driving clip, `<driving>-<template>.mp4`.

`MEGC2021_DRIVERS` are the nine driving clips of the MEGC2021 generation task (three
per dataset, one per 3-class label) and `MEGC2021_TEMPLATES` its two template faces;
MEGC2022 adds two templates. The templates are the user's images (a folder of photos,
their file stems the template names); the drivers are prepared clips named by their key
(`casme2/sub17/EP01_13`) or folder, or raw videos / frame folders. The synthetic corpus
can stand in for both (`identities/*.png` as templates, its prepared clips as drivers).

`make_megc_set` writes, in `out`: one H.264 MP4 per template x driver, a `manifest.csv`
(driving, template, dataset, emotion, label, path, fps, and the sha256 of the checkpoint
that made the set), and `contact_sheet.png`
with one row per video: the target, the driving onset and apex frames, the generated
apex frame and its difference against the target (amplified). The manifest is written
last, so a set with a manifest is complete.

Frame rate (`fps_policy`): the built-in MEGC lists (`megc2021`, `megc2022`) keep the MEGC
convention, every video at `MEGC_FPS` (100); a list of the user's clips keeps each driving
clip's own rate (a video's container rate, a prepared clip's dataset rate; 100 for a frame
folder, which states none); `fps` sets one rate for all. The manifest's `fps` column says
each video's rate and `MegcResult.fps_note` which rule gave it.

An `out` that already holds a set is checked before anything is rendered: a set of the
same checkpoint is written again; a set of another checkpoint is refused unless
`replace=True` (`--replace`). The new set is built aside and swapped in whole when every
video is rendered (`fme.core.outputs.output_set`), so a run killed or failing half-way
leaves the earlier set as it was, and a folder never mixes two models' videos. Replacing
removes only the files the earlier set's manifest lists: other videos in `out` (a user's
own) are kept, and one whose name the new set would take is refused before rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fme.core.digest import sha256_file
from fme.core.errors import ConfigError, DataError
from fme.core.inputs import read_text
from fme.core.outputs import not_an_input, output_dir, output_set
from generation.animation.animate import (
    animate_clip,
    load_driving,
    prepare_target,
    set_animation_options,
    use_super_resolution,
)
from generation.au.sources import as_source
from generation.checkpoints.checkpoint import load_model
from generation.data.prepared import read_csv_rows, write_csv
from generation.data.video import IMAGE_SUFFIXES, contact_sheet, write_mp4
from generation.training.train import resolve_device

MEGC_FPS = 100.0
MANIFEST_COLUMNS = (
    "driving",
    "template",
    "dataset",
    "emotion",
    "label",
    "path",
    "fps",
    "checkpoint_sha256",
    "super_resolution_sha256",
)


@dataclass(frozen=True)
class Driver:
    """A driving clip of a MEGC generation set, as a prepared-clip key."""

    dataset: str
    subject: str
    clip_id: str
    label: str
    emotion: str = ""  # taken from the prepared manifest

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip_id}"

    @property
    def name(self) -> str:
        return driving_name(self.subject, self.clip_id)


MEGC2021_DRIVERS: tuple[Driver, ...] = (
    Driver("samm", "007", "007_7_1", "surprise"),
    Driver("samm", "022", "022_3_3", "positive"),
    Driver("samm", "018", "018_3_1", "negative"),
    Driver("casme2", "sub17", "EP01_13", "surprise"),
    Driver("casme2", "sub19", "EP01_01f", "positive"),
    Driver("casme2", "sub01", "EP19_06f", "negative"),
    Driver("smic", "s20", "s20_sur_01", "surprise"),
    Driver("smic", "s3", "s3_po_05", "positive"),
    Driver("smic", "s11", "s11_ne_02", "negative"),
)
MEGC2021_TEMPLATES: tuple[str, ...] = ("normalized_westernMale", "normalized_asianFemale")
MEGC2022_TEMPLATES: tuple[str, ...] = (
    *MEGC2021_TEMPLATES,
    "normalized_westernFemale",
    "normalized_asianMale",
)
BUILT_IN_LISTS = {"megc2021": MEGC2021_DRIVERS, "megc2022": MEGC2021_DRIVERS}


def fps_policy(drivers, fps: float | None) -> tuple[float | None, str]:
    """(one rate for every video, or None: each driving clip's own; what the rule is)."""
    if fps is not None:
        return float(fps), f"{fps:g} fps for every video (--fps)"
    if isinstance(drivers, (str, Path)) and str(drivers).lower() in BUILT_IN_LISTS:
        return MEGC_FPS, f"{MEGC_FPS:g} fps for every video (the MEGC convention of {drivers})"
    return None, "each driving clip's own frame rate (100 fps where a clip states none)"


def driving_name(subject: str, clip_id: str) -> str:
    """`007_7_1`, `s20_sur_01` (ids that start with their subject), `sub17_EP01_13`."""
    return clip_id if clip_id.startswith(subject) else f"{subject}_{clip_id}"


@dataclass
class DriverSpec:
    """One entry of a driver list: a prepared clip key, a prepared clip folder or a video."""

    text: str
    dataset: str = ""
    emotion: str = ""
    label: str = ""
    name: str = ""


def read_driver_list(path: str | Path) -> list[DriverSpec]:
    """A driver list: `megc2021` / `megc2022` (built in), or a text file with one clip key
    or path a line (`#` starts a comment)."""
    text = str(path)
    if text.lower() in BUILT_IN_LISTS:
        return [
            DriverSpec(d.key, d.dataset, d.emotion, d.label, d.name)
            for d in BUILT_IN_LISTS[text.lower()]
        ]
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            "driver list not found", path, "Give a text file of clip keys/paths, or megc2021."
        )
    specs = []
    for line in read_text(path, "driver list").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            specs.append(DriverSpec(line))
    if not specs:
        raise ConfigError("the driver list is empty", path)
    return specs


def list_templates(templates_dir: str | Path) -> list[Path]:
    """Template images of a folder (.png/.jpg/.jpeg/.bmp), sorted by name."""
    folder = Path(templates_dir)
    if not folder.is_dir():
        raise ConfigError("templates folder not found", folder, "Give a folder of face photos.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError("no template images in the folder", folder, "Add .png or .jpg faces.")
    return files


def resolve_driver(spec: DriverSpec, size: int, data: Path | None, no_face: str = "hold"):
    """The DrivingClip of a driver-list entry."""
    path = Path(spec.text)
    candidates = [path]
    if data is not None and not path.is_absolute():
        candidates.insert(0, data / spec.text)
    for cand in candidates:
        try:
            found = cand.exists()
        except OSError:  # a name too long for a path: not a clip (a CSV given as the list?)
            found = False
        if found:
            clip = load_driving(cand, size, no_face=no_face)
            break
    else:
        where = f" under {data}" if data is not None else ""
        shown = spec.text if len(spec.text) <= 80 else spec.text[:77] + "..."
        raise DataError(
            f"driving clip {shown!r} not found{where}",
            data,
            "Prepare it with `fme prepare` and pass the prepared folder with --data, or list "
            "a video / frame folder path.",
        )
    parts = clip.name.split("/")
    if len(parts) == 3:  # a prepared clip's key
        clip.dataset = clip.dataset or parts[0]
        clip.name = driving_name(parts[1], parts[2])
    clip.name = spec.name or clip.name
    clip.dataset = spec.dataset or clip.dataset
    clip.emotion = spec.emotion or clip.emotion
    clip.label = spec.label or clip.label
    if len(clip.frames) < 2:
        raise DataError(f"driving clip {spec.text!r} has fewer than two frames", cand)
    return clip


@dataclass
class MegcResult:
    out: Path
    videos: list[Path] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    #: the driving clips' frames without a face, one line a clip
    warnings: list[str] = field(default_factory=list)
    fps_note: str = ""

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.csv"

    @property
    def contact_sheet(self) -> Path:
        return self.out / "contact_sheet.png"


def difference_image(generated: np.ndarray, target: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """|generated - target| amplified by `gain`, as a uint8 image."""
    diff = np.abs(generated.astype(np.float32) - target.astype(np.float32)) * gain
    return np.clip(diff, 0, 255).astype(np.uint8)


def _old_set(out: Path, checkpoint_sha: str, replace: bool, new_names: set[str]) -> list[str]:
    """The entries of the set already in `out` (its manifest's videos, the manifest and
    the contact sheet), which the new set replaces. ConfigError when it is another
    checkpoint's set and `replace` is false, or when a file the manifest does not list
    (a user's video) has a name the new set would take."""
    if not out.is_dir():
        return []
    manifest = out / "manifest.csv"
    rows = read_csv_rows(manifest) if manifest.is_file() else []
    own = [r["path"] for r in rows if r.get("path")]
    if rows:
        own += ["manifest.csv", "contact_sheet.png"]
    taken = sorted(n for n in new_names if (out / n).exists() and n not in own)
    if taken:
        raise ConfigError(
            f"--out holds {taken[0]}"
            + (f" and {len(taken) - 1} more file(s)" if len(taken) > 1 else "")
            + " that no set's manifest lists, with a name this set would write",
            out,
            "Move those files away (they may be your own videos), or choose another --out.",
        )
    made_by = {r.get("checkpoint_sha256") or "" for r in rows}
    if rows and made_by != {checkpoint_sha} and not replace:
        if made_by == {""}:
            what = "a set whose manifest does not record its checkpoint"
        else:
            what = f"the set of another checkpoint (sha256 {sorted(made_by)[0][:12]}...)"
        raise ConfigError(
            f"--out already holds {what}",
            out,
            "Pass --replace to replace that set (only the files its manifest lists) with "
            "this checkpoint's, or choose another --out.",
        )
    return own


def make_megc_set(
    checkpoint: str | Path,
    templates_dir: str | Path,
    drivers: str | Path | list[DriverSpec],
    out: str | Path,
    data: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    fps: float | None = None,
    mode: str = "relative",
    progress: bool = True,
    replace: bool = False,
    find_best_frame: bool = False,
    super_resolution: str | Path | None = None,
    no_face: str = "hold",
    magnify=None,
    motion_scale: float = 1.0,
    animation: dict | None = None,
    au_source=None,
) -> MegcResult:
    """Every template x every driver animated by the checkpoint's model into `out`
    (`mode`: standard, relative or avd; `find_best_frame`: each video relative to the
    driving frame nearest the template, see `animate_clip`; `super_resolution`: FAMGAN's
    RRDBNet x4 weights, the videos then 4x larger, the file's sha256 in the manifest;
    `no_face`: what a driving video's frame without a face gets, see `prepare_video`;
    `result.warnings` names such frames;
    `magnify` (a `Magnification`), `motion_scale`: see `animate_clip`; `animation`:
    LivePortrait's options, see `set_animation_options`).

    `fps`: one frame rate for every video; None: the rule of `fps_policy` (the module's
    docstring). `au_source` (`generation.au.sources`; None: the landmark estimator): where
    an AU-driven model's driving AU curves come from, a CSV source reading each driving
    clip's CSV. A set of another checkpoint already in `out` is refused unless `replace`
    (see the module's docstring)."""
    import time

    from PIL import Image
    from tqdm import tqdm

    start = time.perf_counter()
    out = output_dir(out, existing="reuse")
    if not Path(checkpoint).is_file():
        raise ConfigError(
            "checkpoint not found", checkpoint, "Give --checkpoint a file of `fme train`."
        )
    if data is not None and not Path(data).is_dir():
        raise ConfigError(
            "--data: prepared folder not found", data, "Give the folder `fme prepare` wrote."
        )
    checkpoint_sha = sha256_file(checkpoint)
    not_an_input(out, templates=templates_dir, data=data)
    _old_set(out, checkpoint_sha, replace, set())  # another model's set: refused at once
    dev = resolve_device(device)
    model = load_model(checkpoint, str(dev))
    sr_path = use_super_resolution(model, super_resolution)  # read before anything is written
    set_animation_options(model, **(animation or {}))
    sr_sha = sha256_file(sr_path) if sr_path else ""  # the stage in use, whoever named it
    mode = model.check_mode(mode)
    size = int(model.config["image_size"])
    fixed_fps, fps_note = fps_policy(drivers, fps)
    specs = drivers if isinstance(drivers, list) else read_driver_list(drivers)
    templates = list_templates(templates_dir)
    data_root = Path(data) if data is not None else None
    # everything is read (and every face found) before anything is written
    targets = [(p.stem, *prepare_target(p, size)) for p in templates]
    clips = [resolve_driver(s, size, data_root, no_face) for s in specs]
    src = as_source(au_source)
    if src.from_csv:  # every CSV is found and checked before anything is written
        for clip in clips:
            clip.au_track = src.csv_track(clip.path, len(clip.frames), name=clip.name)
    names = [c.name for c in clips]
    if len(set(names)) != len(names):
        raise ConfigError(f"the driver list names a clip twice: {names}")
    new_names = {f"{c.name}-{t[0]}.mp4" for c in clips for t in targets}
    own = _old_set(out, checkpoint_sha, replace, new_names | {"manifest.csv", "contact_sheet.png"})
    result = MegcResult(out, fps_note=fps_note)
    result.warnings = [w for c in clips for w in c.warnings]
    # built aside and swapped in whole: a killed or failing run leaves the earlier set
    with output_set(out, "fme megc", owns=lambda _: own) as staged:
        stage = staged.path
        sheet_rows, labels = [], []
        bar = tqdm(total=len(clips) * len(targets), desc="megc", unit="video", disable=not progress)
        for clip in clips:
            apex = int(
                np.argmax(np.abs(clip.landmarks - clip.landmarks[clip.onset_index]).sum((1, 2)))
            )
            for name, image, lms in targets:
                frames = animate_clip(
                    model,
                    image,
                    lms,
                    clip.frames,
                    clip.landmarks,
                    mode=mode,
                    batch_size=batch_size,
                    device=str(dev),
                    onset_index=clip.onset_index,
                    find_best_frame=find_best_frame,
                    present=clip.present,
                    magnify=magnify,
                    motion_scale=motion_scale,
                    au_track=clip.au_track,
                )
                rate = fixed_fps or clip.fps or MEGC_FPS
                video = write_mp4(stage / f"{clip.name}-{name}.mp4", frames, fps=rate)
                result.videos.append(out / video.name)
                result.frames += len(frames)
                result.rows.append(
                    {
                        "driving": clip.name,
                        "template": name,
                        "dataset": clip.dataset,
                        "emotion": clip.emotion,
                        "label": clip.label,
                        "path": video.name,
                        "fps": f"{rate:g}",
                        "checkpoint_sha256": checkpoint_sha,
                        "super_resolution_sha256": sr_sha,
                    }
                )
                shown = frames[apex]
                if shown.shape != image.shape:  # 4x larger with super-resolution
                    shown = np.asarray(
                        Image.fromarray(shown).resize(image.shape[1::-1], Image.Resampling.BILINEAR)
                    )
                sheet_rows.append(
                    [
                        image,
                        clip.frames[clip.onset_index],
                        clip.frames[apex],
                        shown,
                        difference_image(shown, image),
                    ]
                )
                labels.append(f"{clip.name}-{name}")
                bar.update(1)
        bar.close()
        contact_sheet(stage / "contact_sheet.png", sheet_rows, labels)
        # the manifest last: a set with a manifest is complete
        write_csv(stage / "manifest.csv", MANIFEST_COLUMNS, result.rows)
    result.seconds = time.perf_counter() - start
    return result
