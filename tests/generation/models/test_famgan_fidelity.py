"""After a short `famgan` training on the synthetic corpus, a held-out face driven
by another subject's clip follows the clip's AU curves better than the unchanged target,
and not as well as the rendered truth (the AU-fidelity ranking truth > trained > unchanged).

The setting is `fme bench generation`'s (`fme.bench.generation`): 6 subjects, half held out,
each held-out identity driven by every clip of the other held-out subjects (12 videos), the
generated frames tracked as `fme prepare` tracks (dlib on the onset, then Lucas-Kanade), the
AU curves from the landmark estimator and compared by `generation.au.fidelity.au_fidelity`
(`fme.bench.generation.au_scores`). The driving clip's curves come from its own prepared
landmarks; the unchanged target's AUs are 0. Training: the packaged `famgan-64` (our paired
term and onset-source pairs on, the generator stepped every step), batch 4, lr 1e-3 as the
bench, STEPS steps, seed 0.

Measured here (seed 0, 1000 steps; 2 min on the shared machine): the mean AU r (per video,
the mean of its upper- and lower-face r) was 0.55 for the trained model (9 of 12 videos
above 0), 0.97 for the truth and 0 for the unchanged target; with GANimation's losses and
sampling (`loss.paired: 0`, `pairs.onset_source: 0`, `generator_every: 5`) and 500 steps
the faces barely move and r is 0 on every video (their AU curves span less than the
metric's `still`); our model after 500 steps: 0.14 (3 videos moving). The AU MAE is
0.0351 against the unchanged target's 0.0356: too close to test at this length. With the
geometric landmark estimator, a driving clip of the library's AU 14-only recipe moves no AU
the estimator reads (AU 14 is reported as not estimated), so its videos score no r and are
left out of the ranking.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fme.bench.generation import Scores, au_scores, make_pairs
from generation.face.tracking import lk_track_video

pytestmark = pytest.mark.slow

SIZE = 64
STEPS = 1000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from data_helpers import synth_prepared

    root = tmp_path_factory.mktemp("fid")
    synth_prepared(root, subjects=6, clips=2, size=128, prepared_size=SIZE)
    return root


def _mean_r(scores: Scores) -> np.ndarray:
    """Per video: the mean of its upper- and lower-face r (a half the clip leaves still is
    left out)."""
    return np.nanmean(np.array([scores.au_r_upper, scores.au_r_lower], dtype=float), axis=0)


def test_trained_famgan_follows_the_driving_au_curve(corpus, tmp_path):
    from generation.animation.animate import animate_clip, resize_frames
    from generation.config import load_run_config
    from generation.training.train import train

    torch.set_num_threads(1)
    torch.manual_seed(0)
    overrides = {"iterations": STEPS, "batch_size": 4, "lr": 1e-3, "milestones": (1.0,),
                 "holdout": 0.5, "seed": 0, "sample_every": 0, "checkpoint_every": 0,
                 "log_every": 50}  # fmt: skip
    run = load_run_config("famgan", size=SIZE, train_overrides=overrides)
    assert run.model["loss"]["paired"] > 0 and run.model["schedule"]["generator_every"] == 1
    model = train(run, corpus / "prepared", tmp_path / "run", device="cpu", progress=False).model

    pairs = make_pairs(corpus / "corpus", corpus / "prepared", SIZE, 0.5, 0)
    assert len(pairs) == 12
    truth, trained, still = Scores(), Scores(), Scores()
    for pair in pairs:
        au_scores(pair, lk_track_video(pair.truth, pair.face_rect, pair.onset), truth)
        au_scores(pair, None, still)
        driving, driving_lm = resize_frames(pair.driving, pair.driving_landmarks, SIZE)
        pred = animate_clip(
            model, pair.target_image, pair.target_landmarks, driving, driving_lm,
            onset_index=pair.onset,
        )  # fmt: skip
        assert np.abs(pred.astype(int) - pair.target_image.astype(int)).max() > 0  # it moves
        au_scores(pair, lk_track_video(pred, pair.face_rect, pair.onset), trained)
    r_truth, r_trained, r_still = (_mean_r(s) for s in (truth, trained, still))
    # a driving clip whose AUs the landmark estimator does not see move (AU 9, 14 or 20 only,
    # reported as not estimated) scores no r on any video: left out of the ranking
    scored = ~np.isnan(r_still)
    assert scored.sum() >= 8, r_still
    r_truth, r_trained, r_still = r_truth[scored], r_trained[scored], r_still[scored]
    assert np.all(r_still == 0)  # a still face has no correlation with any curve
    assert r_truth.mean() > 0.9
    # the ranking, with margins: truth > trained > unchanged
    assert r_trained.mean() > r_still.mean() + 0.2, r_trained
    assert r_truth.mean() > r_trained.mean() + 0.2, r_trained
    assert (r_trained > 0).mean() >= 0.6, r_trained  # most videos, not one lucky one
