"""Fitting and scoring the landmark AU estimator on the synthetic corpus.

`corpus_samples` reads a corpus written by `fme synth`: per clip, its ground-truth AU
intensities (converted to the 17 OpenFace AUs on the 0-5 scale, `truth_track`), its exact
landmarks and, with `track=True`, the landmarks the project's tracker finds on its frames
(`generation.face.tracking.track_clip`, what `fme prepare` caches). `fit` trains on some
subjects; `per_au_pearson` scores others, one Pearson r per AU over all their frames; `cross_validate` holds out every subject once (subject folds) and pools the
held-out predictions, so that every AU of the corpus is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generation.au import AU_NAMES, AUTrack
from generation.au.estimator import INTENSITY_UNIT_IOD, LandmarkAUModel
from generation.au.features import displacements
from generation.data.readers import read_dataset
from generation.data.video import read_image
from generation.face.detect import largest_face, to_gray
from generation.face.tracking import track_clip


@dataclass
class Sample:
    """One synthetic clip: its truth and its landmarks (exact, and tracked if asked)."""

    subject: str
    clip_id: str
    onset: int
    truth: AUTrack
    exact: np.ndarray  # (T, 68, 2)
    tracked: np.ndarray | None = None


def truth_track(au_names, au_intensity: np.ndarray, fps: float | None = None) -> AUTrack:
    """A ground-truth file's intensities (T, A) in IOD -> AUTrack on the 0-5 scale."""
    values = np.zeros((len(au_intensity), len(AU_NAMES)), dtype=np.float32)
    for j, name in enumerate(au_names):
        key = f"AU{int(str(name).removeprefix('AU')):02d}"
        values[:, AU_NAMES.index(key)] = np.asarray(au_intensity)[:, j] / INTENSITY_UNIT_IOD
    return AUTrack(values=values, source="synthetic truth", fps=fps)


def synthetic_aus(au_names) -> tuple[str, ...]:
    """The OpenFace names of a synthetic library's AUs, in AU_NAMES order."""
    keys = {f"AU{int(str(n).removeprefix('AU')):02d}" for n in au_names}
    return tuple(a for a in AU_NAMES if a in keys)


def corpus_samples(corpus: str | Path, track: bool = False, progress: bool = False) -> list[Sample]:
    """Every clip of a synthetic corpus as a `Sample` (tracked landmarks with `track`)."""
    from tqdm import tqdm

    corpus = Path(corpus)
    out = []
    for clip in tqdm(read_dataset("casme2", corpus), desc="AU samples", disable=not progress):
        with np.load(corpus / "ground_truth" / clip.subject / f"{clip.clip_id}.npz") as z:
            truth = truth_track(z["au_names"], z["au_intensity"], float(z["fps"]))
            exact = z["landmarks"].astype(np.float64)
        sample = Sample(clip.subject, clip.clip_id, clip.onset_index, truth, exact)
        if track:
            sample.tracked = tracked_landmarks(clip.frames, clip.onset_index)
        out.append(sample)
    return out


def tracked_landmarks(frame_paths, onset_index: int) -> np.ndarray:
    """The tracker's landmarks (T, 68, 2) of a clip's frames (dlib on the onset, then LK)."""
    gray = np.stack([to_gray(read_image(f)) for f in frame_paths])
    face = largest_face(gray[onset_index], frame_paths[onset_index])
    landmarks, _ = track_clip(gray, face, onset_index)
    return landmarks


def _landmarks(sample: Sample, which: str) -> np.ndarray:
    lm = sample.tracked if which == "tracked" else sample.exact
    if lm is None:
        raise ValueError("the samples were read without tracking (corpus_samples(track=True))")
    return lm


def stack(samples: list[Sample], which: str = "tracked") -> tuple[np.ndarray, np.ndarray]:
    """All frames' displacements (N, 68, 2) and true intensities (N, 17)."""
    disp = [displacements(_landmarks(s, which), s.onset) for s in samples]
    return np.concatenate(disp), np.concatenate([s.truth.values for s in samples])


def fit(
    samples: list[Sample],
    aus: tuple[str, ...],
    which: str = "tracked",
    ridge: float = 1e-3,
    meta: dict | None = None,
) -> LandmarkAUModel:
    """The estimator fitted on `samples` (their `which` landmarks) for AUs `aus`."""
    disp, y = stack(samples, which)
    return LandmarkAUModel.fit(disp, y, aus, ridge, meta)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two series (NaN when either is constant)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def per_au_pearson(
    model: LandmarkAUModel, samples: list[Sample], which: str = "tracked"
) -> dict[str, float]:
    """Pearson r per AU between estimated and true intensities over all frames of
    `samples` (NaN for an AU the samples never move or the model never estimates)."""
    disp, y = stack(samples, which)
    pred = model.predict(disp)
    return {au: pearson(pred[:, k], y[:, k]) for k, au in enumerate(AU_NAMES)}


def subject_folds(samples: list[Sample], folds: int, seed: int = 0) -> list[set[str]]:
    """The subjects split into `folds` groups of near-equal size (seeded shuffle)."""
    subjects = sorted({s.subject for s in samples})
    folds = min(max(int(folds), 2), len(subjects))
    order = np.random.default_rng([seed, 17]).permutation(len(subjects))
    return [{subjects[i] for i in order[k::folds]} for k in range(folds)]


def cross_validate(
    samples: list[Sample],
    aus: tuple[str, ...],
    folds: int = 3,
    ridge: float = 1e-3,
    seed: int = 0,
    which: tuple[str, ...] = ("tracked", "exact"),
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Held-out predictions of every frame: for each fold, the model fitted on the other
    subjects' tracked landmarks predicts this fold's clips from their `which` landmarks.
    Returns {which: (predicted (N, 17), true (N, 17))}, frames in sample order."""
    groups = subject_folds(samples, folds, seed)
    fold_of = {s: k for k, g in enumerate(groups) for s in g}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    models = [
        fit([s for s in samples if s.subject not in g], aus, "tracked", ridge) for g in groups
    ]
    for w in which:
        preds, truths = [], []
        for s in samples:
            model = models[fold_of[s.subject]]
            preds.append(model.predict(displacements(_landmarks(s, w), s.onset)))
            truths.append(s.truth.values)
        out[w] = (np.concatenate(preds), np.concatenate(truths))
    return out
