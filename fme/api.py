"""The front door for Python users: the toolkit's main jobs as functions with typed results.

    import fme

    model = fme.load("runs/fomm-awp/checkpoint.pt")          # ours, or fme.import_reference(...)
    video = fme.animate(model, "face.jpg", "clip.mp4")      # an Animation: frames, fps, onset
    video.write("out.mp4")
    fme.make_megc_set("runs/fomm-awp/checkpoint.pt", "templates/", "drivers.txt", "megc/")

The `fme` command's handlers call these same functions, so a script and the command give
the same result for the same arguments. Every function raises the `FMEError` family
(`fme.core.errors`) for a mistake the user can fix; its message names the file or option.

This module is the roof: it imports the library packages (generation, eval, study) and no
library module imports it. `import fme` alone imports nothing heavy; the names below are
resolved on first use (`fme.__getattr__`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fme.core.errors import ConfigError

if TYPE_CHECKING:  # heavy imports only for the type checker
    import pandas as pd

    from eval.auto import AutoResult
    from generation.animation.megc import MegcResult
    from generation.checkpoints.checkpoint import ImportReport
    from generation.face.prepare import PrepareResult
    from study.report import StudyReport

__all__ = [
    "Animation",
    "PreparedDataset",
    "animate",
    "import_reference",
    "load",
    "make_megc_set",
    "prepare",
    "report_study",
    "score_sets",
]

#: The frame rate `animate` writes when neither the call nor the clip gives one: the MEGC
#: sets' convention (CASME II and SAMM are recorded at 200 fps and shown at 100).
DEFAULT_FPS = 100.0


def load(checkpoint: str | Path, device: str = "auto", super_resolution: str | Path | None = None):
    """A trained model from a checkpoint of ours (`fme train` or `fme import-checkpoint`),
    in eval mode on `device` ("auto": CUDA when available, else CPU).

    `super_resolution`: a weights file for the model's super-resolution stage (FAMGAN's
    RRDBNet x4); a model without the stage refuses it. A checkpoint of the reference code
    is imported first with `import_reference`.
    """
    from generation.animation.animate import use_super_resolution
    from generation.checkpoints.checkpoint import load_model
    from generation.training.train import resolve_device

    model = load_model(checkpoint, str(resolve_device(device)))
    use_super_resolution(model, super_resolution)
    return model


def import_reference(
    family: str | None,
    file: str | Path,
    out: str | Path,
    variant: str | None = None,
    *,
    scale: str = "paper",
    config: str | Path | None = None,
    size: int | None = None,
) -> ImportReport:
    """Convert a checkpoint of the published FOMM, MRAA or TPSMM code into ours at `out`
    (strict: every tensor is accounted for in the report). `family` None: told from the
    file. Load the result with `load(out)`."""
    from generation.checkpoints.checkpoint import import_checkpoint

    return import_checkpoint(family, file, out, variant, scale=scale, config_file=config, size=size)


@dataclass
class Animation:
    """A generated clip: `frames` (T, H, W, 3) uint8 RGB, the rate it plays at, and the
    driving frame the motion was taken relative to."""

    frames: np.ndarray
    fps: float
    onset_index: int
    driving: np.ndarray | None = field(default=None, repr=False)
    #: what the user should know: frames of the driving clip without a face, and how
    #: they were treated
    warnings: list[str] = field(default_factory=list)
    #: where `fps` came from ("--fps", "the driving video's rate", ...)
    fps_note: str = ""
    #: the target's faces (left, top, right, bottom), largest first, and the one taken
    faces: list = field(default_factory=list)
    face: int = 0

    def __len__(self) -> int:
        return len(self.frames)

    def side_by_side(self) -> Animation:
        """The driving clip left of the generated one (same length and rate)."""
        from generation.animation.animate import side_by_side

        if self.driving is None:
            raise ConfigError("this animation kept no driving frames to put beside it")
        frames = side_by_side(self.driving, self.frames)
        return Animation(
            frames,
            self.fps,
            self.onset_index,
            self.driving,
            self.warnings,
            self.fps_note,
            self.faces,
            self.face,
        )

    def write(self, path: str | Path) -> Path:
        """An H.264 MP4 browsers play (written whole through a temporary name)."""
        from generation.data.video import write_mp4

        return write_mp4(Path(path), self.frames, fps=self.fps)


def animate(
    model,
    target: str | Path,
    driving: str | Path,
    *,
    mode: str = "relative",
    onset: int | None = None,
    fps: float | None = None,
    batch_size: int = 16,
    device: str = "auto",
    adapt_scale: bool = False,
    find_best_frame: bool = False,
    no_face: str = "hold",
    magnify: Any = None,
    motion_scale: float = 1.0,
    animation: dict[str, Any] | None = None,
    progress: bool = False,
    size: int | None = None,
    color: bool = False,
    face: int = 0,
    au_source: Any = None,
) -> Animation:
    """Drive the face in `target` (an image) with `driving` (a video, a frame folder or a
    prepared clip), motion relative to the driving onset.

    `model`: a loaded model (`load`) or a checkpoint path. `onset`: the driving frame the
    motion is taken relative to (default: the clip's onset, frame 0 of a plain video).
    `fps`: the output's rate (default `DEFAULT_FPS`). Frames come at the target's size.
    A driving video's face is searched from `onset` on; `no_face` says what its frames
    without a face get ("hold" the last good frame, "skip", "refuse"), and the
    animation's `warnings` name them. `magnify` (a
    `generation.animation.magnify.Magnification`) magnifies the driving motion before the
    model reads it and brings it back to the clip's scale; `motion_scale` multiplies it;
    `animation`: LivePortrait's options (region, stitching, multiplier, driving_option).
    `fps` None: the driving clip's own rate (a video's container rate, a prepared clip's
    dataset rate), `DEFAULT_FPS` when it states none; the animation's `fps_note` says
    which. `size`: the output side (default the model's); `color`: keep the target's (and a
    driving video's) colour; `face`: the target's face, 0 the largest (`faces` lists them).
    `au_source` (`generation.au.sources`): where an AU-driven model's driving AU curves come
    from (None: the landmark estimator; a CSV source reads the driving clip's CSV).
    """
    from generation.animation.animate import (
        animate_clip,
        load_driving,
        model_channels,
        pick_face,
        prepare_face,
        set_animation_options,
        target_faces,
    )
    from generation.au.sources import as_source
    from generation.data.video import read_image
    from generation.training.train import resolve_device

    dev = resolve_device(device)
    if isinstance(model, str | Path):
        model = load(model, str(dev))
    if color and model_channels(model) != 3:
        raise ConfigError(
            f"--color: the model takes {model_channels(model)} channel(s), not 3",
            hint="Leave --color off for this model.",
        )
    set_animation_options(model, **(animation or {}))
    model_side = int(model.config["image_size"])
    image = read_image(target)
    boxes = target_faces(image, target)
    box = pick_face(boxes, face, target)
    target_face, face_landmarks = prepare_face(
        image, size or model_side, source=target, color=color, face=box
    )
    clip = load_driving(driving, model_side, onset=onset or 0, no_face=no_face, color=color)
    src = as_source(au_source)
    if src.from_csv:
        clip.au_track = src.csv_track(driving, len(clip.frames))
    onset_index = clip.onset_index
    if onset is not None and (Path(driving) / "landmarks.npz").is_file():
        onset_index = onset  # a prepared clip's frame index
    frames = animate_clip(
        model,
        target_face,
        face_landmarks,
        clip.frames,
        clip.landmarks,
        mode=mode,
        batch_size=batch_size,
        device=str(dev),
        onset_index=onset_index,
        adapt_movement_scale=True if adapt_scale else None,
        progress=progress,
        find_best_frame=find_best_frame,
        present=clip.present,
        magnify=magnify,
        motion_scale=motion_scale,
        au_track=clip.au_track,
    )
    if fps is not None:
        rate, note = float(fps), "--fps"
    elif clip.fps:
        rate = float(clip.fps)
        note = f"the {clip.dataset} dataset's rate" if clip.dataset else "the driving video's rate"
    else:
        rate, note = DEFAULT_FPS, "the driving clip states no rate: the MEGC convention"
    return Animation(
        frames, rate, onset_index, clip.frames, list(clip.warnings), note, boxes, int(face)
    )


def make_megc_set(
    checkpoint: str | Path,
    templates: str | Path,
    drivers: str | Path | Sequence[Any],
    out: str | Path,
    **options: Any,
) -> MegcResult:
    """Every template face driven by every listed driving clip, in `out` with its
    manifest and contact sheet (`generation.animation.megc.make_megc_set`; the options are
    its keyword arguments: data, device, batch_size, fps, mode, replace, ...)."""
    from generation.animation.megc import make_megc_set as make

    return make(checkpoint, templates, drivers, out, **options)


@dataclass
class PreparedDataset:
    """What `prepare` did: the reader's report (clips found, left out, notes) and the
    preparation's result (clips prepared or cached, frames, problems, the manifest)."""

    read: Any
    result: PrepareResult

    @property
    def manifest(self) -> Path:
        return self.result.manifest


def prepare(
    dataset: str,
    root: str | Path,
    out: str | Path,
    *,
    size: int = 256,
    margin: float = 0.25,
    labels: str = "composite",
    landmarks: str = "track",
    no_face: str = "hold",
    seed: int = 0,
    progress: bool = False,
) -> PreparedDataset:
    """Read a dataset folder (`casme2`, `samm`, `smic`, `casme_sq`, `casme3`, `synthetic`,
    or `videos`: every video file or frame folder under `root` is a clip, with an optional
    `clips.csv`) and prepare its clips into `out` (face crop, landmarks of every frame, a
    manifest). Finished clips are verified and kept; the rest are prepared. `no_face`: what
    frames without a face get (hold the last good frame, skip, refuse)."""
    from fme.core.outputs import output_dir
    from generation.data.readers import READERS, dataset_name
    from generation.face.prepare import PrepareConfig, prepare_clips

    output_dir(out, "OUT", existing="reuse")
    config = PrepareConfig(
        size=size, margin=margin, seed=seed, landmarks=landmarks, no_face=no_face
    )
    config.check()
    if dataset == "videos":
        from generation.data.readers.videos import read_videos

        report = read_videos(root, labels)
    else:
        report = READERS[dataset_name(dataset)](root, labels)
    result = prepare_clips(report.clips, out, config, report.left_out, progress)
    return PreparedDataset(report, result)


def score_sets(
    recognizers: str | Path,
    sets: dict[str, str | Path],
    real: str | Path | None = None,
    out: str | Path | None = None,
    *,
    device: str = "auto",
    progress: bool = False,
) -> AutoResult:
    """Table VI: recognizers trained by `fme eval train-recognizers` (a folder) score each
    generated set (label -> folder of `<driving>-<template>.mp4`) and the real driving
    clips; the tables, predictions and figure are written to `out` (default
    RECOGNIZERS/auto)."""
    from eval.auto import score_sets as score

    return score(recognizers, sets, real, out, device=device, progress=progress)


def report_study(
    votes: pd.DataFrame, ratings: pd.DataFrame | None = None, **options: Any
) -> StudyReport:
    """The study report of a votes table (`fme study export`'s votes.csv, or read from the
    database) and optional expert ratings: a `StudyReport` whose `write(folder)` writes
    every table and figure and whose `layout(name)` renders one table
    (`study.report.study_report`'s keyword arguments: alpha, n_boot, seed, ...)."""
    from study.report import study_report

    return study_report(votes, ratings, **options)
