"""Classification scores against hand computations; recognizer training on held-out subjects."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from eval_helpers import TINY_RECOGNIZER_ARGS, motion_bank, write_prepared

from eval.recognizers import load_recognizer
from eval.scores import ClassificationScores, accuracy, confusion_matrix, macro_f1, uar
from eval.train import TrainConfig, class_weight_vector, split_subjects, train_recognizer
from fme.cli import main

LABELS = ("negative", "positive", "surprise")


def test_scores_by_hand():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 1, 1, 2]
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[3, 1, 0], [0, 2, 0], [0, 1, 1]]
    # F1_0 = 2*3/(2*3+0+1) = 6/7; F1_1 = 2*2/(4+2+0) = 2/3; F1_2 = 2*1/(2+0+1) = 2/3
    assert macro_f1(y_true, y_pred, 3) == pytest.approx((6 / 7 + 2 / 3 + 2 / 3) / 3)
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(0.7301587, abs=1e-7)
    # recalls 3/4, 2/2, 1/2
    assert uar(y_true, y_pred, 3) == pytest.approx(0.75)
    assert accuracy(y_true, y_pred) == pytest.approx(6 / 8)


def test_scores_absent_classes():
    # class 2 neither true nor predicted: left out of the macro average
    assert macro_f1([0, 0, 1], [0, 1, 1], 3) == pytest.approx(2 / 3)
    # class 2 predicted but never true: F1 0 counts; UAR only over true classes
    assert macro_f1([0, 0], [0, 2], 3) == pytest.approx((2 / 3 + 0) / 2)
    assert uar([0, 0], [0, 2], 3) == pytest.approx(0.5)
    s = ClassificationScores.of([], [], 3)
    assert math.isnan(s.f1) and s.n == 0


def test_class_weights_inverse_frequency():
    w = class_weight_vector(np.array([0, 0, 0, 1]), 3)
    # N / (C_present * n_c) = 4 / (2*3), 4 / (2*1), absent class 0
    assert w == pytest.approx([4 / 6, 2.0, 0.0])


def test_splits_are_subject_independent():
    subjects = [f"d/s{i}" for i in range(10) for _ in range(3)]
    ((train, test),) = split_subjects(subjects, "7:3", seed=1)
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(subjects)
    assert 2 <= len(test) <= 4
    assert split_subjects(subjects, "7:3", seed=1) == split_subjects(subjects, "7:3", seed=1)
    folds = split_subjects(subjects, "loso", seed=0)
    assert len(folds) == 10 and all(len(te) == 1 for _, te in folds)
    assert sorted(te[0] for _, te in folds) == sorted(set(subjects))


@pytest.mark.slow
def test_train_recognizers_learns_held_out_subjects(tmp_path):
    data = write_prepared(tmp_path / "prep", list(range(8)), clips_per_class=2, frames=8)
    out = tmp_path / "rec"
    status = main(
        [
            "eval",
            "train-recognizers",
            "--data",
            str(data),
            "--out",
            str(out),
            "--backbones",
            "r3d_18",
            "--width",
            "0.125",
            "--frames",
            "8",
            "--size",
            "32",
            "--iterations",
            "40",
            "--batch-size",
            "12",
            "--lr",
            "3e-3",
            "--seed",
            "0",
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert status == 0
    (split,) = json.loads((out / "splits.json").read_text())
    assert not set(split["train"]) & set(split["test"]) and len(split["test"]) >= 2
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds["subject"]) == set(split["test"])  # scored on held-out subjects only
    assert len(preds) == 6 * len(split["test"])  # the unlabelled clip is left out
    scores = pd.read_csv(out / "scores.csv").set_index("backbone")
    y = [LABELS.index(v) for v in preds["label"]]
    p = [LABELS.index(v) for v in preds["prediction"]]
    assert scores.loc["r3d_18", "f1"] == pytest.approx(macro_f1(y, p, 3))
    assert scores.loc["r3d_18", "accuracy"] >= 0.8  # chance is 1/3
    model, info = load_recognizer(out / "r3d_18.pt")
    assert (info.backbone, info.width, info.frames, info.size) == ("r3d_18", 0.125, 8, 32)
    assert info.classes == LABELS and info.extra["test_subjects"] == split["test"]


def test_loso_pools_predictions_before_one_f1(tmp_path):
    data = write_prepared(tmp_path / "prep", [0, 1, 2], clips_per_class=1, frames=4, size=16)
    out = tmp_path / "rec"
    status = main(
        [
            "eval",
            "train-recognizers",
            "--data",
            str(data),
            "--out",
            str(out),
            "--protocol",
            "loso",
            "--backbones",
            "mc3_18",
            *TINY_RECOGNIZER_ARGS,
        ]
    )
    assert status == 0
    preds = pd.read_csv(out / "predictions.csv")
    assert sorted(preds["fold"].unique()) == [0, 1, 2] and len(preds) == 9
    assert all(g["subject"].nunique() == 1 for _, g in preds.groupby("fold"))
    y = [LABELS.index(v) for v in preds["label"]]
    p = [LABELS.index(v) for v in preds["prediction"]]
    scores = pd.read_csv(out / "scores.csv")
    assert scores.loc[0, "f1"] == pytest.approx(macro_f1(y, p, 3))
    assert scores.loc[0, "n_test"] == 9
    assert (out / "mc3_18.pt").is_file()  # the final model, fit on every subject


def test_training_is_reproducible():
    bank = motion_bank([0, 1], clips_per_class=2, frames=4, size=16)
    config = TrainConfig(
        backbone="mc3_18", width=0.0625, frames=4, size=16, iterations=3, batch_size=4, seed=3
    )
    a = train_recognizer(config, bank, progress=False)
    b = train_recognizer(config, bank, progress=False)
    assert a.losses == b.losses
    assert a.clips_seen == 12
