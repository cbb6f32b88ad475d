"""Training: loss falls, log/checkpoint/config written, resume, hold-out, flip, configs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from engine_helpers import astronaut, make_prepared, run_config

from fme.core.errors import ConfigError
from generation.config import build_run_config, load_run_config, read_yaml
from generation.data.frame_pairs import (
    FLIP_PERMUTATION,
    FramePairs,
    flip_landmarks,
    holdout_split,
    subject_key,
)
from generation.data.prepared import load_prepared


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("prep"), subjects=4, clips_per_subject=2)


def _log_rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_training_lowers_loss_logs_checkpoints_and_resumes(prepared, tmp_path):
    import torch

    from generation.checkpoints.checkpoint import read_checkpoint
    from generation.training.train import train

    out = tmp_path / "run"
    run = run_config("fomm", iterations=20, lr=1e-3, checkpoint_every=10, batch_size=2)
    result = train(run, prepared, out, device="cpu", progress=False)
    rows = _log_rows(out / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 21))
    l1 = np.array([float(r["l1"]) for r in rows])
    assert l1[-4:].mean() < 0.6 * l1[:4].mean()
    assert {"reconstruction", "total", "lr", "seconds"} <= set(rows[0])

    state = read_checkpoint(out / "checkpoint.pt")
    assert state["variant"] == "fomm" and state["step"] == 20
    assert state["config"]["train"]["iterations"] == 20
    assert state["config"]["model"]["image_size"] == 64
    assert (out / "checkpoints" / "step_000010.pt").is_file()
    assert read_yaml(out / "config.yaml")["variant"] == "fomm"
    # lr / 10 at 60% of training: step 12
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[10] == pytest.approx(1e-3) and lrs[12] == pytest.approx(1e-4)

    # a run folder with a checkpoint is not overwritten without --resume
    with pytest.raises(ConfigError, match="--resume"):
        train(run, prepared, out, device="cpu", progress=False)
    with pytest.raises(ConfigError, match="fomm"):
        train(run_config("fomm-ewp", 24), prepared, out, device="cpu", resume=True)

    more = run_config("fomm", iterations=24, lr=1e-3, checkpoint_every=10, batch_size=2)
    resumed = train(more, prepared, out, device="cpu", resume=True, progress=False)
    assert resumed.start_step == 20 and resumed.step == 24
    steps = [int(r["step"]) for r in _log_rows(out / "log.csv")]
    assert steps == list(range(1, 25))
    assert read_checkpoint(out / "checkpoint.pt")["step"] == 24
    # the resumed weights started from the checkpoint, not from scratch
    before = result.model.state_dict()
    after = resumed.model.state_dict()
    key = next(k for k in before if k.endswith("weight"))
    assert not torch.equal(before[key], after[key])
    assert resumed.losses["l1"] < l1[:4].mean()


def test_holdout_subjects_never_in_training_pairs(prepared):
    clips = load_prepared(prepared)
    train_clips, held = holdout_split(clips, 0.25, seed=3)
    held_subjects = {subject_key(c) for c in held}
    assert len(held_subjects) == 1
    assert not held_subjects & {subject_key(c) for c in train_clips}
    pairs = FramePairs(train_clips, 64, augment=False, seed=0)
    seen = {subject_key(pairs.clips[pairs[i]["clip"]].clip) for i in range(len(pairs))}
    assert seen == {subject_key(c) for c in train_clips}
    assert not seen & held_subjects
    # the split depends on the seed, not on the order of the clips
    again = holdout_split(list(reversed(clips)), 0.25, seed=3)[1]
    assert {subject_key(c) for c in again} == held_subjects


def test_pairs_come_from_one_clip_with_its_landmarks(prepared):
    clips = load_prepared(prepared)
    pairs = FramePairs(clips, 64, augment=False, seed=1)
    for i in range(6):
        c, s, d, flip, _, _ = pairs.pair_indices(i)
        item = pairs[i]
        assert s != d and not flip and item["clip"] == c
        lms = clips[c].landmarks()
        np.testing.assert_allclose(item["source_landmarks"].numpy(), lms[s])
        np.testing.assert_allclose(item["driving_landmarks"].numpy(), lms[d])
        frame = clips[c].frames()[d]
        np.testing.assert_allclose(item["driving"].permute(1, 2, 0).numpy() * 255, frame, atol=0.51)
    # landmarks follow a resize to another size (pixel centres kept)
    half = FramePairs(clips, 32, augment=False, seed=1)[0]
    c, s, *_ = pairs.pair_indices(0)
    expected = (clips[c].landmarks()[s] + 0.5) * 0.5 - 0.5
    np.testing.assert_allclose(half["source_landmarks"].numpy(), expected, atol=1e-5)


def test_flip_permutation_pairs():
    perm = np.array(FLIP_PERMUTATION)
    assert sorted(perm) == list(range(68))
    assert (perm[perm] == np.arange(68)).all()  # an involution
    pairs = {0: 16, 8: 8, 17: 26, 21: 22, 30: 30, 31: 35, 33: 33, 36: 45, 39: 42, 40: 47}
    pairs |= {41: 46, 48: 54, 51: 51, 55: 59, 57: 57, 60: 64, 62: 62, 65: 67, 66: 66}
    for a, b in pairs.items():
        assert perm[a] == b and perm[b] == a


def test_flip_matches_dlib_on_the_mirrored_face():
    from generation.face.detect import detect_faces, landmarks68

    image = astronaut()
    box = detect_faces(image)[0]
    lms = landmarks68(image, box)
    mirrored = image[:, ::-1].copy()
    w = image.shape[1]
    mbox = detect_faces(mirrored)[0]
    found = landmarks68(mirrored, mbox)
    flipped = flip_landmarks(lms, w)
    iod = np.linalg.norm(lms[36:42].mean(0) - lms[42:48].mean(0))
    err = np.linalg.norm(found - flipped, axis=1)
    assert err.mean() < 0.08 * iod
    # without the permutation the points land on the wrong side of the face
    wrong = lms.copy()
    wrong[:, 0] = (w - 1) - wrong[:, 0]
    assert np.linalg.norm(found - wrong, axis=1).mean() > 3 * err.mean()
    # and the item's flip moves image and landmarks together
    assert flipped[36, 0] < flipped[45, 0]


def test_augmented_item_is_flipped_consistently(prepared):
    clips = load_prepared(prepared)
    pairs = FramePairs(clips, 64, augment=True, seed=0)
    i = next(i for i in range(40) if pairs.pair_indices(i)[3])
    c, s, d, flip, gain, bias = pairs.pair_indices(i)
    item = pairs[i]
    expected = flip_landmarks(clips[c].landmarks()[s], 64)
    np.testing.assert_allclose(item["source_landmarks"].numpy(), expected, atol=1e-5)
    frame = clips[c].frames()[s][:, ::-1].astype(np.float32) / 255
    frame = np.clip((frame - 0.5) * gain + 0.5 + bias, 0, 1)
    np.testing.assert_allclose(item["source"].permute(1, 2, 0).numpy(), frame, atol=1e-5)


def test_driving_jitter_moves_frame_and_landmarks_together(prepared):
    from scipy import ndimage

    clips = load_prepared(prepared)
    plain = FramePairs(clips, 64, augment=False, seed=3)
    jittered = FramePairs(clips, 64, augment=False, seed=3, driving_jitter=0.05)
    moved = [i for i in range(40) if jittered.driving_affine(i) is not None]
    assert 10 <= len(moved) <= 30  # about half the items
    assert plain.driving_affine(moved[0]) is None
    i = moved[0]
    affine = jittered.driving_affine(i)
    assert not np.allclose(affine, np.eye(2, 3), atol=1e-3)
    a, b = plain[i], jittered[i]
    assert torch.equal(a["source"], b["source"])  # the pair is the same; only driving moves
    np.testing.assert_array_equal(a["source_landmarks"], b["source_landmarks"])
    lm = a["driving_landmarks"].numpy().astype(np.float64)
    expected = lm @ affine[:, :2].T + affine[:, 2]
    np.testing.assert_allclose(b["driving_landmarks"].numpy(), expected, atol=1e-4)
    # the warped frame at a moved point shows what the frame had at the point
    before, after = a["driving"][0].numpy(), b["driving"][0].numpy()
    ys, xs = np.mgrid[16:48:3, 16:48:3]
    pts = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float64)
    to = pts @ affine[:, :2].T + affine[:, 2]
    want = ndimage.map_coordinates(before, [pts[:, 1], pts[:, 0]], order=1)
    got = ndimage.map_coordinates(after, [to[:, 1], to[:, 0]], order=1)
    wrong = ndimage.map_coordinates(after, [pts[:, 1], pts[:, 0]], order=1)
    assert np.abs(got - want).mean() < 0.02
    assert np.abs(wrong - want).mean() > 2 * np.abs(got - want).mean()


def test_configs_validate_and_fill_the_model_section(tmp_path):
    from generation.models import default_config

    for variant in ("fomm-awp", "mraa"):
        for size, scale in ((64, "small"), (128, "small"), (256, "paper")):
            run = load_run_config(variant, size=size)
            assert run.scale == scale and run.model["image_size"] == size
            reference = default_config(variant, scale)
            assert set(run.model) == set(reference)
    run = load_run_config("fomm", "cpu-64", train_overrides={"iterations": 100})
    assert run.train.lr == 2e-4 and run.train.betas == (0.5, 0.999)
    assert run.train.milestone_steps() == [60, 90]
    run.save(tmp_path / "config.yaml")
    again = build_run_config("fomm", read_yaml(tmp_path / "config.yaml"))
    assert again.model == run.model and again.train == run.train

    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {iterations: 5, learning_rate: 0.1}\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_run_config("fomm", bad)
    bad.write_text("model: {generator: {no_such_key: 1}}\n")
    with pytest.raises(ConfigError, match="no_such_key"):
        load_run_config("fomm", bad)
    bad.write_text("variant: mraa\n")
    with pytest.raises(ConfigError, match="mraa"):
        load_run_config("fomm", bad)
    with pytest.raises(ConfigError, match="not found"):
        load_run_config("fomm", tmp_path / "missing.yaml")
