"""The synthetic micro-expression corpus, written in the CASME II layout.

`write_corpus(out, config)` writes::

    OUT/synth.json                                 the settings (seed, size, fps, ...)
    OUT/CASME2-coding-synthetic.xlsx               coding sheet with CASME II's columns
    OUT/CASME2_RAW_selected/subNN/EPxx_01/imgK.png frames img1.png .. imgT.png
    OUT/ground_truth/subNN/EPxx_01.npz             per-frame truth of each clip
    OUT/identities/subNN.png, subNN.npz            each subject's neutral face, landmarks

so that `fme prepare casme2 OUT PREP` reads it like the real dataset. A ground-truth file
holds `landmarks` (T, 68, 2) float32 in frame pixels, `au_names` (A,), `au_intensity`
(T, A) in IOD, `identity`, `fps`, the head `jitter` (T, 3), 0-based `onset`, `apex`,
`offset`, `noise_std`, `noise_seed`, `emotion`, `label`, `aus` and `frame_numbers`.
`render_cross` renders any subject's face with any clip's track from these files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fme.core.errors import ConfigError, DataError
from fme.core.outputs import write_text_atomic
from generation.data.clip import LABELS
from generation.synth.aus import AU_NAMES, CLASS_EMOTIONS, EMOTIONS, au_string
from generation.synth.identities import Identity, make_identities, subject_name
from generation.synth.render import face_warp, render_clip
from generation.synth.track import ClipTrack, make_track

FRAMES_DIR = "CASME2_RAW_selected"
SHEET_NAME = "CASME2-coding-synthetic.xlsx"
SHEET_COLUMNS = (
    "Subject",
    "Filename",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
)
_OWNED = (FRAMES_DIR, "ground_truth", "identities", SHEET_NAME)


@dataclass(frozen=True)
class SynthConfig:
    """Settings of `fme synth`."""

    subjects: int = 4
    clips_per_subject: int = 3
    seed: int = 0
    size: int = 256
    fps: float = 100.0
    faces_dir: str | None = None

    def check(self) -> None:
        if self.subjects < 1 or self.clips_per_subject < 1:
            raise ConfigError("--subjects and --clips-per-subject must be at least 1")
        if not 96 <= self.size <= 1024:
            raise ConfigError(f"--size {self.size} is outside 96-1024", hint="dlib needs faces")
        if not 10 <= self.fps <= 1000:
            raise ConfigError(f"--fps {self.fps} is outside 10-1000")


@dataclass(frozen=True)
class SynthClip:
    """One written clip, as in its coding-sheet row (onset/apex/offset are frame numbers)."""

    subject: str
    clip_id: str
    emotion: str
    label: str
    aus: str
    onset: int
    apex: int
    offset: int
    n_frames: int

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.clip_id}"

    def sheet_row(self) -> dict[str, object]:
        return dict(
            zip(
                SHEET_COLUMNS,
                (
                    self.subject.removeprefix("sub"),
                    self.clip_id,
                    self.onset,
                    self.apex,
                    self.offset,
                    self.aus,
                    self.emotion,
                ),
            )
        )


def clip_id(k: int) -> str:
    """Id of a subject's k-th clip (0-based): EP01_01, EP02_01, ..."""
    return f"EP{k + 1:02d}_01"


def plan_emotions(n_clips: int, seed: int) -> list[str]:
    """CASME II emotions for `n_clips` clips, the three MEGC2019 classes balanced.

    Class counts differ by at most one; negative clips alternate disgust and repression.
    """
    rng = np.random.default_rng([seed, 2])
    classes = [LABELS[i % len(LABELS)] for i in range(n_clips)]
    order = rng.permutation(n_clips)
    used: dict[str, int] = {c: 0 for c in LABELS}
    out = []
    for i in order:
        label = classes[i]
        names = CLASS_EMOTIONS[label]
        out.append(names[used[label] % len(names)])
        used[label] += 1
    return out


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"img{k}.png", compress_level=1)


def _save_identity(out: Path, ident: Identity) -> None:
    folder = out / "identities"
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ident.image).save(folder / f"{ident.subject}.png")
    np.savez(
        folder / f"{ident.subject}.npz",
        landmarks=ident.landmarks.astype(np.float32),
        source=ident.source,
        params=json.dumps(ident.params, sort_keys=True),
    )


def _save_truth(path: Path, clip: SynthClip, track: ClipTrack, landmarks: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        landmarks=landmarks.astype(np.float32),
        au_names=np.array(track.au_names),
        au_intensity=track.au_intensity.astype(np.float32),
        identity=clip.subject,
        fps=track.fps,
        jitter=track.jitter.astype(np.float32),
        onset=track.onset,
        apex=track.apex,
        offset=track.offset,
        noise_std=track.noise_std,
        noise_seed=track.noise_seed,
        emotion=clip.emotion,
        label=clip.label,
        aus=clip.aus,
        frame_numbers=np.arange(1, track.n_frames + 1),
    )


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError("output path is a file", out, "Choose a folder.")
    if out.is_dir() and any(out.iterdir()) and not (out / "synth.json").is_file():
        raise ConfigError(
            "output folder is not empty and holds no synthetic corpus",
            out,
            "Choose an empty or new folder.",
        )
    for name in _OWNED:  # an earlier corpus here is replaced, not mixed with the new one
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_corpus(out: str | Path, config: SynthConfig, progress: bool = True) -> list[SynthClip]:
    """Write the corpus of `config` to `out` (see the module docstring); returns its clips."""
    import pandas as pd
    from tqdm import tqdm

    config.check()
    out = Path(out)
    _prepare_out(out)
    identities = make_identities(config.subjects, config.size, config.seed, config.faces_dir)
    emotions = plan_emotions(config.subjects * config.clips_per_subject, config.seed)
    clips: list[SynthClip] = []
    bar = tqdm(total=len(emotions), desc="synth clips", unit="clip", disable=not progress)
    for s, ident in enumerate(identities):
        _save_identity(out, ident)
        warp = face_warp(ident.image.shape, ident.landmarks)
        for k in range(config.clips_per_subject):
            emotion = EMOTIONS[emotions[s * config.clips_per_subject + k]]
            rng = np.random.default_rng([config.seed, 3, s, k])
            recipe = emotion.recipes[int(rng.integers(len(emotion.recipes)))]
            track = make_track(rng, recipe, config.fps)
            frames, landmarks = render_clip(ident.image, ident.landmarks, track, warp)
            clip = SynthClip(
                subject=ident.subject,
                clip_id=clip_id(k),
                emotion=emotion.name,
                label=emotion.label,
                aus=au_string(recipe),
                onset=track.onset + 1,
                apex=track.apex + 1,
                offset=track.offset + 1,
                n_frames=track.n_frames,
            )
            _write_frames(out / FRAMES_DIR / clip.subject / clip.clip_id, frames)
            _save_truth(
                out / "ground_truth" / clip.subject / f"{clip.clip_id}.npz", clip, track, landmarks
            )
            clips.append(clip)
            bar.update(1)
    bar.close()
    sheet = pd.DataFrame([c.sheet_row() for c in clips], columns=list(SHEET_COLUMNS))
    sheet.to_excel(out / SHEET_NAME, index=False)
    settings = asdict(config) | {"au_names": list(AU_NAMES), "n_clips": len(clips)}
    write_text_atomic(out / "synth.json", json.dumps(settings, indent=2) + "\n")
    return clips


# --- reading a written corpus back -------------------------------------------------------


def _subject(subject: str | int) -> str:
    text = str(subject).strip()
    digits = text.lower().removeprefix("sub")
    if not digits.isdigit():
        raise DataError(f"not a subject name: {subject!r}", hint="Use e.g. sub01, 01 or 1.")
    return subject_name(int(digits))


def _clip_parts(clip_key: str) -> tuple[str, str]:
    parts = [p for p in str(clip_key).replace("\\", "/").split("/") if p]
    if len(parts) < 2:
        raise DataError(f"not a clip key: {clip_key!r}", hint="Use e.g. sub01/EP01_01.")
    return _subject(parts[-2]), parts[-1]


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DataError("missing file of the synthetic corpus", path, "Run `fme synth` first.")
    return path


def list_clip_keys(corpus_dir: str | Path) -> list[str]:
    """Keys `subNN/EPxx_yy` of every clip with ground truth, sorted."""
    root = Path(corpus_dir) / "ground_truth"
    if not root.is_dir():
        raise DataError("no ground_truth folder", root, "Run `fme synth` first.")
    return sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("sub*/*.npz"))


def load_identity(corpus_dir: str | Path, subject: str | int) -> Identity:
    """A subject's neutral image and landmarks as written by `write_corpus`."""
    name = _subject(subject)
    folder = Path(corpus_dir) / "identities"
    image = np.asarray(Image.open(_need(folder / f"{name}.png")).convert("RGB"))
    with np.load(_need(folder / f"{name}.npz")) as data:
        landmarks = data["landmarks"].astype(np.float32)
        source = str(data["source"])
        params = json.loads(str(data["params"]))
    return Identity(name, source, image, landmarks, params)


def load_track(corpus_dir: str | Path, clip_key: str) -> ClipTrack:
    """The motion track of a clip (`subNN/EPxx_yy`) from its ground-truth file."""
    subject, cid = _clip_parts(clip_key)
    with np.load(_need(Path(corpus_dir) / "ground_truth" / subject / f"{cid}.npz")) as data:
        return ClipTrack(
            fps=float(data["fps"]),
            au_intensity=data["au_intensity"].astype(np.float32),
            jitter=data["jitter"].astype(np.float32),
            onset=int(data["onset"]),
            apex=int(data["apex"]),
            offset=int(data["offset"]),
            noise_std=float(data["noise_std"]),
            noise_seed=int(data["noise_seed"]),
            au_names=tuple(str(a) for a in data["au_names"]),
        )


def render_cross(
    corpus_dir: str | Path, identity_subject: str | int, clip_key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Subject `identity_subject`'s face driven by clip `clip_key`'s track.

    Returns frames (T, H, W, 3) uint8 and landmarks (T, 68, 2) float32: the ground truth
    for "target j driven by clip i". With the clip's own subject it reproduces the clip.
    """
    ident = load_identity(corpus_dir, identity_subject)
    track = load_track(corpus_dir, clip_key)
    if track.au_names != AU_NAMES:
        raise DataError(
            "the corpus was written with another AU library",
            Path(corpus_dir),
            "Re-run `fme synth` with this version.",
        )
    return render_clip(ident.image, ident.landmarks, track)
