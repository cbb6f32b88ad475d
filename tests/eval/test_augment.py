"""Augmented recognition: the loss L_real + lambda L_gen, generation only from training
subjects, the cache, and the Table VII layout."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from eval_helpers import TINY_RECOGNIZER_ARGS, motion_bank, write_prepared

from eval.augment import plan_pairs, run_augment, source_clips
from eval.train import TrainConfig, train_recognizer
from fme.commands.eval import register_augment
from generation.data.video import read_image


def test_plan_pairs_distinct_off_diagonal_and_capped():
    clips = [type("C", (), {"subject": f"s{i % 2}"})() for i in range(4)]
    pairs = plan_pairs(clips, 100, seed=0)
    assert len(pairs) == 4 * 3 and len(set(pairs)) == 12
    assert all(i != j for i, j in pairs)
    assert plan_pairs(clips, 5, seed=1) == plan_pairs(clips, 5, seed=1)
    assert len(plan_pairs(clips, 5, seed=1)) == 5
    with pytest.raises(AssertionError, match="test subjects"):
        plan_pairs(clips, 5, seed=0, test_subjects=["s1"])


def test_loss_is_real_plus_lambda_generated():
    real = motion_bank([0, 1], clips_per_class=2, frames=4, size=16)
    gen = motion_bank([2], clips_per_class=2, frames=4, size=16, seed=5)
    first = {}
    for lam in (0.0, 1.0, 2.0):
        config = TrainConfig(
            backbone="mc3_18",
            width=0.0625,
            frames=4,
            size=16,
            iterations=1,
            batch_size=4,
            gen_batch_size=4,
            gen_weight=lam,
            seed=0,
        )
        first[lam] = train_recognizer(config, real, gen, progress=False).losses[0]
    l_gen = first[2.0] - first[1.0]
    assert l_gen > 0.5  # cross-entropy of an untrained 3-class model is about log 3
    assert first[1.0] == pytest.approx(first[0.0] + l_gen, rel=1e-5)
    alone = train_recognizer(
        TrainConfig(
            backbone="mc3_18", width=0.0625, frames=4, size=16, iterations=1, batch_size=4, seed=0
        ),
        real,
        None,
        progress=False,
    )
    assert alone.losses[0] == pytest.approx(first[0.0])


def _args(data, out):
    parser = argparse.ArgumentParser()
    register_augment(parser.add_subparsers())
    return parser.parse_args(
        [
            "augment",
            "--data",
            str(data),
            "--out",
            str(out),
            "--ratios",
            "0,1,2",
            "--backbones",
            "r3d_18",
            *TINY_RECOGNIZER_ARGS,
        ]
    )


def test_augment_uses_training_subjects_only_and_caches(tmp_path):
    data = write_prepared(tmp_path / "prep", [0, 1, 2, 3], clips_per_class=1, frames=6, size=16)
    calls = []

    def generator(target, target_lm, driving, driving_lm):
        calls.append((target.copy(), driving.copy()))
        assert driving.shape[0] == 4 and driving_lm.shape == (4, 68, 2)
        return driving[:, ::-1]  # a "generated" clip: the driver, mirrored

    out = tmp_path / "aug"
    assert run_augment(_args(data, out), generator=generator) == 0
    record = json.loads((out / "protocol.json").read_text())
    train_s, test_s = set(record["train_subjects"]), set(record["test_subjects"])
    assert test_s and not train_s & test_s
    assert set(record["generation_subjects"]) <= train_s
    n_train = record["n_train"]
    assert n_train > 0  # else no calls and the frame checks below are vacuous
    assert record["n_pairs"] == len(calls) == record["newly_generated"] == 2 * n_train

    # every target is the onset frame of a training clip, and no frame of a test clip is used
    clips = source_clips([data])
    onsets = {c.subject: [] for c in clips}
    for c in clips:
        onsets[c.subject].append(read_image(c.frame_paths[0]))
    test_frames = [read_image(p) for c in clips if c.subject in test_s for p in c.frame_paths]
    for target, driving in calls:
        assert any(np.array_equal(target, f) for s in train_s for f in onsets[s])
        for image in [target, *driving]:
            assert not any(np.array_equal(image, f) for f in test_frames)

    table = pd.read_csv(out / "table_vii.csv")
    assert list(table["R.D.:G.D."]) == ["1:0", "1:1", "1:2"]
    assert list(table["generated"]) == [0, n_train, 2 * n_train]
    assert {"R3D-18 F1", "R3D-18 Acc"} <= set(table.columns)

    # a second run finds every generated clip in the cache and only trains
    calls.clear()
    assert run_augment(_args(data, out), generator=generator) == 0
    assert calls == []
    assert json.loads((out / "protocol.json").read_text())["newly_generated"] == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "table_vii.csv"), table)
