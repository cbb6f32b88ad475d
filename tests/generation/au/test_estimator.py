"""The landmark AU estimator: its features, its fit, the packaged model on new subjects."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fme.core.errors import DataError
from generation.au import AU_NAMES, AUTrack
from generation.au.estimator import (
    INTENSITY_UNIT_IOD,
    MODEL_PATH,
    LandmarkAUModel,
    clip_au_track,
    estimate_from_landmarks,
    load_model,
)
from generation.au.features import displacements
from generation.au.training import (
    Sample,
    corpus_samples,
    cross_validate,
    pearson,
    per_au_pearson,
    synthetic_aus,
    truth_track,
)
from generation.data.prepared import MANIFEST, MANIFEST_COLUMNS, load_prepared, write_csv
from generation.synth.aus import AU_NAMES as SYNTH_AUS
from generation.synth.aus import au_pattern, expression, to_image
from generation.synth.corpus import SynthConfig, load_identity, write_corpus

#: Held-out r the packaged model must reach on new synthetic subjects (see the test).
MIN_MEAN_R = 0.8
MIN_AU_R = 0.5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three subjects the packaged model never saw (it was fitted on seed 0's)."""
    out = tmp_path_factory.mktemp("au-corpus")
    config = SynthConfig(subjects=3, clips_per_subject=4, seed=11, size=128, fps=50)
    write_corpus(out, config, progress=False)
    return out


@pytest.fixture(scope="module")
def samples(corpus):
    return corpus_samples(corpus, track=True)


def test_displacements_are_face_frame_motion_in_iod_and_ignore_head_pose(corpus):
    neutral = load_identity(corpus, "sub01").landmarks.astype(np.float64)
    iod = np.linalg.norm(neutral[42:48].mean(0) - neutral[36:42].mean(0))
    a = np.array([0.0, 0.5, 1.0])  # AU12 intensities (IOD) per frame
    moved = neutral + a[:, None, None] * to_image(au_pattern(12), neutral)[None]
    disp = displacements(moved, 0)
    assert np.abs(disp[0]).max() == 0
    # AU12 moves none of the alignment points: its pattern comes back exactly
    np.testing.assert_allclose(disp[2], au_pattern(12), atol=1e-9)
    np.testing.assert_allclose(disp[1], 0.5 * au_pattern(12), atol=1e-9)
    # the same track rotated by 20 degrees, scaled by 1.7 and shifted: the same features
    th = np.deg2rad(20)
    rot = 1.7 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    posed = moved @ rot.T + np.array([13.0, -4.0])
    np.testing.assert_allclose(displacements(posed, 0), disp, atol=1e-9)
    # a head that moves from frame to frame (no expression) gives no motion
    head = np.stack([neutral @ (r * np.eye(2)) + s for r, s in ((1, 0), (1.1, 3), (0.9, -2))])
    assert np.abs(displacements(head, 1)).max() < 1e-9
    assert iod > 20


def test_truth_track_maps_the_library_to_openface_names_and_units():
    intensity = np.array([[0.0, 0.03], [0.06, 0.0]])
    track = truth_track(["AU1", "AU12"], intensity, fps=100.0)
    assert track.column("AU01").tolist() == pytest.approx([0.0, 0.06 / INTENSITY_UNIT_IOD])
    assert track.column("AU12").tolist() == pytest.approx([1.0, 0.0])
    assert synthetic_aus(SYNTH_AUS) == tuple(
        a for a in AU_NAMES if a not in {"AU20", "AU23", "AU45"}
    )


def _random_expressions(neutral: np.ndarray, seed: int, n: int = 300):
    """Landmarks (n, 68, 2) of a face moved by the library's 14 AUs at independent random
    intensities (0-0.05 IOD; frame 0 neutral) and the truth as an AUTrack."""
    rng = np.random.default_rng(seed)
    intensity = rng.uniform(0, 0.05, (n, len(SYNTH_AUS)))
    intensity[0] = 0
    moved = neutral[None] + to_image(expression(intensity), neutral)
    return moved, truth_track(SYNTH_AUS, intensity)


def test_fit_recovers_independent_aus_on_another_face(corpus, tmp_path):
    """On exact landmarks the library is linear in its AUs, so the fitted mapping must
    recover every AU's intensity on a face it was not fitted on."""
    aus = synthetic_aus(SYNTH_AUS)
    faces = [load_identity(corpus, s).landmarks.astype(np.float64) for s in ("sub01", "sub02")]
    train_lm, train_y = _random_expressions(faces[0], 0)
    test_lm, test_y = _random_expressions(faces[1], 1)
    model = LandmarkAUModel.fit(displacements(train_lm, 0), train_y.values, aus, ridge=1e-8)
    disp = displacements(test_lm, 0)
    np.testing.assert_allclose(model.predict(disp, clip=False), test_y.values, atol=0.1)
    r = per_au_pearson(model, [Sample("sub02", "x", 0, test_y, test_lm)], "exact")
    assert min(r[a] for a in aus) > 0.99, r  # every AU, at 0-1.7 units
    # saved and loaded, the same predictions
    path = model.save(tmp_path / "m.json")
    again = LandmarkAUModel.load(path)
    np.testing.assert_allclose(again.predict(disp), model.predict(disp), atol=1e-3)
    data = json.loads(path.read_text())
    data["regions"]["AU01"] = [17, 18]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="region"):
        LandmarkAUModel.load(tmp_path / "bad.json")
    data = json.loads(path.read_text()) | {"intensity_unit_iod": 0.05}
    (tmp_path / "unit.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="unit"):
        LandmarkAUModel.load(tmp_path / "unit.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(DataError):
        LandmarkAUModel.load(tmp_path / "junk.json")
    with pytest.raises(DataError):
        load_model(tmp_path / "none.json")


def test_cross_validation_scores_every_subject_once(samples):
    aus = synthetic_aus(SYNTH_AUS)
    cv = cross_validate(samples, aus, folds=3, ridge=1e-2)
    pred, truth = cv["tracked"]
    assert len(pred) == len(truth) == sum(s.truth.n_frames for s in samples)
    np.testing.assert_allclose(truth, np.concatenate([s.truth.values for s in samples]))


def test_packaged_model_on_new_subjects_beats_the_threshold(samples):
    """The packaged model (fitted by `fme bench au --save` on seed 0's 16 subjects) on
    three subjects of another seed, from the tracker's landmarks. `fme bench au` measures a
    cross-validated mean r of 0.95 over the 14 AUs, none below 0.85 (AU 14): a mean below
    0.8 on new subjects would say the model does not generalise as the bench reports, and
    one AU below 0.5 (a quarter of its variance) that the AU is not being read. A model
    that missed an AU's pattern gives r near 0 on it; one fitted on the wrong region, on
    co-occurrence alone, well under 0.8 on the AUs that do not always co-occur."""
    model = load_model()
    assert model.estimated == synthetic_aus(SYNTH_AUS)
    assert model.not_estimated == ("AU20", "AU23", "AU45")
    assert MODEL_PATH.stat().st_size < 20_000  # small package data
    r = per_au_pearson(model, samples, "tracked")
    scored = {a: v for a, v in r.items() if not np.isnan(v)}
    assert len(scored) >= 8, scored  # the clips move most of the library's AUs
    assert np.mean(list(scored.values())) > MIN_MEAN_R, scored
    assert min(scored.values()) > MIN_AU_R, scored


def test_estimate_from_landmarks_gives_an_au_track(samples):
    s = samples[0]
    track = estimate_from_landmarks(s.tracked, s.onset, fps=100.0)
    assert isinstance(track, AUTrack) and track.names == AU_NAMES
    assert track.values.shape == (s.truth.n_frames, 17)
    assert np.all(track.values[s.onset] == 0)  # relative to the onset
    assert track.values.min() >= 0 and track.values.max() <= 5
    assert track.meta["not_estimated"] == ["AU09", "AU14", "AU20"]
    assert np.all(track.column("AU20") == 0)
    assert pearson(track.values.sum(1), s.truth.values.sum(1)) > 0.8


def test_clip_au_track_reads_prepared_clips_and_their_folders(samples, tmp_path):
    s = samples[1]
    folder = tmp_path / "prep" / "casme2" / s.subject / s.clip_id
    folder.mkdir(parents=True)
    np.savez(folder / "landmarks.npz", landmarks=s.tracked.astype(np.float32))
    row = dict.fromkeys(MANIFEST_COLUMNS, "")
    row |= {"dataset": "casme2", "subject": s.subject, "clip_id": s.clip_id}
    row |= {"n_frames": s.truth.n_frames, "onset": s.onset + 1, "apex": 0, "offset": 0}
    row |= {"onset_index": s.onset, "apex_index": 0, "offset_index": 0}
    row |= {"path": f"casme2/{s.subject}/{s.clip_id}", "aus": "12"}
    write_csv(tmp_path / "prep" / MANIFEST, MANIFEST_COLUMNS, [row])
    clip = load_prepared(tmp_path / "prep")[0]
    by_record = clip_au_track(clip)
    by_folder = clip_au_track(folder)
    expected = estimate_from_landmarks(s.tracked, s.onset).values
    np.testing.assert_allclose(by_record.values, expected, atol=1e-5)
    np.testing.assert_allclose(by_folder.values, expected, atol=1e-5)
    assert by_folder.meta["clip"] == clip.key and by_folder.meta["onset_index"] == s.onset
    bare = tmp_path / "bare"
    bare.mkdir()
    np.savez(bare / "landmarks.npz", landmarks=s.tracked.astype(np.float32))
    assert clip_au_track(bare).meta["onset_index"] == 0  # no manifest above: frame 0
    with pytest.raises(DataError, match="landmarks.npz"):
        clip_au_track(tmp_path)


def test_clip_au_track_takes_any_record_with_landmarks_and_an_onset(samples):
    from types import SimpleNamespace

    from generation.animation.animate import DrivingClip

    s = samples[1]
    expected = estimate_from_landmarks(s.tracked, s.onset).values
    frames = np.zeros((len(s.tracked), 8, 8, 3), np.uint8)
    driving = clip_au_track(DrivingClip(frames, s.tracked, s.onset, name="drv"))
    simple = clip_au_track(SimpleNamespace(landmarks=s.tracked, onset_index=s.onset))
    method = clip_au_track(SimpleNamespace(landmarks=lambda: s.tracked, onset_index=s.onset))
    for track in (driving, simple, method):
        np.testing.assert_allclose(track.values, expected, atol=1e-5)
        assert track.meta["onset_index"] == s.onset
    assert driving.meta["clip"] == "drv" and "clip" not in simple.meta
    assert clip_au_track(SimpleNamespace(landmarks=s.tracked, onset_index=0)).values[0].max() == 0


@pytest.mark.slow
def test_bench_au_writes_the_table_and_a_loadable_model(tmp_path, capsys):
    import pandas as pd

    from fme.cli import main

    model_path, out = tmp_path / "model.json", tmp_path / "out"
    argv = ["bench", "au", "--subjects", "3", "--clips-per-subject", "2", "--frame-size", "96"]
    argv += ["--fps", "30", "--folds", "3", "--save", str(model_path), "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out / "au_bench.csv")
    assert list(table["AU"]) == list(AU_NAMES)
    assert np.isnan(table.set_index("AU").loc["AU45", "held-out r (tracked landmarks)"])
    model = load_model(model_path)
    assert model.estimated == synthetic_aus(SYNTH_AUS)
    assert set(model.meta["cross_validated_r"]) <= set(model.estimated)
    assert "mean held-out r" in capsys.readouterr().out
