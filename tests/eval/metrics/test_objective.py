"""Objective metrics on the synthetic corpus: identity, motion fidelity, jitter, background,
and the ground-truth scores."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from eval.metrics.objective import (
    background_change,
    identity_similarity,
    jitter,
    motion_fidelity,
    reference_scores,
    track_landmarks,
)
from fme.cli import main
from generation.data.video import read_video, write_mp4
from generation.synth import SynthConfig, load_identity, render_cross, write_corpus

DRIVER = "sub02/EP01_01"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    write_corpus(
        out, SynthConfig(subjects=2, clips_per_subject=1, size=128, fps=30, seed=0), progress=False
    )
    cross, cross_lm = render_cross(out, "sub01", DRIVER)  # sub01's face, sub02's motion
    with np.load(out / "ground_truth" / "sub02" / "EP01_01.npz") as z:
        driving_lm = z["landmarks"].astype(np.float32)
    driving = read_video(out / "CASME2_RAW_selected" / "sub02" / "EP01_01")
    return {
        "dir": out,
        "target": load_identity(out, "sub01").image,
        "cross": cross,
        "cross_lm": cross_lm,
        "driving": driving,
        "driving_lm": driving_lm,
    }


def test_identity_separates_same_from_different_identity(corpus):
    same_cos, same_dist = identity_similarity(corpus["target"], corpus["cross"], max_frames=4)
    diff_cos, diff_dist = identity_similarity(corpus["target"], corpus["driving"], max_frames=4)
    assert same_cos > diff_cos
    assert same_dist < 0.6 * diff_dist  # descriptor distance: same face far closer
    assert same_cos > 0.99


def test_motion_fidelity_high_for_ground_truth_low_for_still(corpus):
    still = np.repeat(corpus["cross_lm"][:1], len(corpus["cross_lm"]), axis=0)
    gt_corr, gt_err = motion_fidelity(corpus["cross_lm"], corpus["driving_lm"])
    st_corr, st_err = motion_fidelity(still, corpus["driving_lm"])
    assert gt_corr > 0.95
    assert st_corr == 0.0
    assert gt_err < 0.5 * st_err

    # through dlib tracking of the rendered frames (noisier, still clearly above a still video)
    tracked = track_landmarks(corpus["cross"])
    tr_corr, _ = motion_fidelity(tracked, corpus["driving_lm"])
    still_frames = np.repeat(corpus["cross"][:1], len(corpus["cross"]), axis=0)
    still_corr, _ = motion_fidelity(track_landmarks(still_frames), corpus["driving_lm"])
    assert tr_corr > 0.2 and still_corr == 0.0


def test_jitter_background_and_reference_scores(corpus):
    lm = corpus["cross_lm"]
    assert jitter(np.repeat(lm[:1], 5, axis=0)) == 0.0
    noisy = lm + np.random.default_rng(0).normal(0, 1.0, lm.shape)
    assert jitter(noisy) > jitter(lm) + 0.01

    frames = corpus["cross"]
    assert background_change(np.repeat(frames[:1], 4, axis=0), lm[0]) == 0.0
    flicker = np.repeat(frames[:1], 4, axis=0).astype(np.int16)
    flicker[1:, :10] += 40  # the top rows (outside the face) change by 40 grey levels
    change = background_change(np.clip(flicker, 0, 255).astype(np.uint8), lm[0])
    assert 0.0 < change < 40 / 255

    l1, ssim, psnr = reference_scores(frames, frames)
    assert l1 == 0.0 and ssim == pytest.approx(1.0) and psnr == np.inf
    still = np.repeat(frames[:1], len(frames), axis=0)
    l1_s, ssim_s, _ = reference_scores(still, frames)
    assert l1_s > 0 and ssim_s < 1.0


@pytest.mark.slow
def test_metrics_command_ranks_ground_truth_above_still(tmp_path, corpus):
    name = "sub02_EP01_01-sub01.mp4"
    truth_set, still_set = tmp_path / "truth", tmp_path / "still"
    write_mp4(truth_set / name, corpus["cross"], fps=30)
    write_mp4(still_set / name, np.repeat(corpus["cross"][:1], len(corpus["cross"]), 0), fps=30)
    templates, driving = tmp_path / "templates", tmp_path / "driving"
    templates.mkdir()
    shutil.copy(corpus["dir"] / "identities" / "sub01.png", templates / "sub01.png")
    write_mp4(driving / "sub02_EP01_01.mp4", corpus["driving"], fps=30)
    out = tmp_path / "metrics"
    status = main(
        [
            "eval",
            "metrics",
            "--set",
            str(truth_set),
            "--set",
            str(still_set),
            "--templates",
            str(templates),
            "--driving",
            str(driving),
            "--synth",
            str(corpus["dir"]),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert status == 0
    table = pd.read_csv(out / "metrics.csv").set_index("set")
    # H.264 noise moves dlib's landmarks a little even on a still video
    assert abs(table.loc["still", "motion_correlation"]) < 0.15
    assert table.loc["truth", "motion_correlation"] > table.loc["still", "motion_correlation"] + 0.1
    assert table.loc["truth", "psnr"] > table.loc["still", "psnr"]
    assert table.loc["truth", "identity_cosine"] > 0.98
    assert (out / "metrics.md").read_text().startswith("| set |")


def _one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_what_a_set_does_not_match_is_refused_in_one_line_before_any_metric(
    tmp_path, corpus, capsys
):
    """Driving clips or templates that match none of the set's names, a video the manifest
    lists but the folder lacks, and a one-frame video: exit 2, one line, no output."""
    name = "sub02_EP01_01-sub01.mp4"
    good = tmp_path / "good"
    write_mp4(good / name, corpus["cross"][:6], fps=30)
    templates, other = tmp_path / "templates", tmp_path / "other"
    templates.mkdir()
    shutil.copy(corpus["dir"] / "identities" / "sub01.png", templates / "sub01.png")
    write_mp4(other / "clip_a.mp4", corpus["driving"][:4], fps=30)  # no clip of the set's name
    listed = shutil.copytree(good, tmp_path / "listed")
    (listed / "manifest.csv").write_text(
        f"path,driving,template\n{name},sub02_EP01_01,sub01\ngone.mp4,sub02_EP01_01,sub02\n"
    )
    short = tmp_path / "short"
    write_mp4(short / name, corpus["cross"][:1], fps=30)
    out = tmp_path / "m"
    cases = [
        (["--set", str(good), "--driving", str(other)], "--driving"),
        (["--set", str(good), "--templates", str(other)], "--templates"),
        (["--set", str(listed)], "gone.mp4"),
        (["--set", str(short)], "1 frame(s)"),
    ]
    for argv, named in cases:
        assert main(["eval", "metrics", *argv, "--out", str(out), "--quiet"]) == 2, argv
        assert named in _one_line(capsys), argv
        assert not out.exists()
