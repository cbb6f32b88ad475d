"""AU fidelity: hand-made curves, then the synthetic corpus's cross-identity truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from eval.metrics.objective import au_fidelity_of, video_au_track
from fme.cli import main
from generation.au import AU_NAMES, AUTrack
from generation.au.fidelity import LOWER_FACE, UPPER_FACE, au_fidelity, events
from generation.data.video import read_video, write_mp4
from generation.synth import load_identity, load_track, render_clip, render_cross, write_corpus
from generation.synth.corpus import SynthConfig

DRIVER = "sub02/EP01_01"


def _track(columns: dict[str, list[float]], n: int) -> AUTrack:
    values = np.zeros((n, len(AU_NAMES)))
    for au, curve in columns.items():
        values[:, AU_NAMES.index(au)] = curve
    return AUTrack(values)


CURVE = [0, 0, 0, 1, 3, 5, 3, 1, 0, 0, 0, 0]


def test_events_by_hand():
    # level = 0 + 0.2 * 5 = 1: frames above it are 4, 5, 6
    assert events(np.array(CURVE, float)) == (4, 5, 6)
    assert events(np.array([0, 2, 0, 5, 4, 0.0])) == (3, 3, 4)  # the run around the apex


def test_identical_shifted_and_still_curves():
    driving = _track({"AU12": CURVE, "AU01": [v / 5 for v in CURVE]}, 12)
    same = au_fidelity(driving, driving)
    assert same.r == {"AU01": pytest.approx(1.0), "AU12": pytest.approx(1.0)}
    assert same.r_upper == pytest.approx(1.0) and same.r_lower == pytest.approx(1.0)
    assert same.mae_upper == 0 and same.timing_error == 0

    late = _track({"AU12": np.roll(CURVE, 2), "AU01": np.roll(CURVE, 2) / 5}, 12)
    shifted = au_fidelity(driving, late)
    assert (shifted.onset_error, shifted.apex_error, shifted.offset_error) == (2, 2, 2)
    assert shifted.r["AU12"] < 0.5

    still = au_fidelity(driving, _track({}, 12))
    assert still.r["AU12"] == 0.0 and np.isnan(still.apex_error)
    # MAE: mean |curve| = 13 / 12 for AU12; the other lower-face AUs (0 in both) add 0
    assert still.mae["AU12"] == pytest.approx(13 / 12)
    assert still.mae_lower == pytest.approx(13 / 12 / len(LOWER_FACE))
    assert set(UPPER_FACE) | set(LOWER_FACE) == set(AU_NAMES)
    with pytest.raises(ValueError):
        au_fidelity(driving, _track({}, 11))


def test_a_curve_that_barely_moves_counts_as_still():
    """r only for generated curves spanning `still` (0.1) units or more: the same shape at
    1/100 of the size (0.05 units) is the tracker's noise level, r 0; at 1/10 (0.5), r 1."""
    driving = _track({"AU12": CURVE}, 12)
    tiny_track = _track({"AU12": [v / 100 for v in CURVE]}, 12)
    tiny = au_fidelity(driving, tiny_track)
    small = au_fidelity(driving, _track({"AU12": [v / 10 for v in CURVE]}, 12))
    assert tiny.r["AU12"] == 0.0 and small.r["AU12"] == pytest.approx(1.0)
    assert au_fidelity(driving, tiny_track, still=0.01).r["AU12"] == pytest.approx(1.0)
    # MAE is not affected: |5 - 0.05| at the apex etc.
    assert tiny.mae["AU12"] == pytest.approx(13 / 12 * 0.99)


def test_not_estimated_aus_are_left_out():
    driving = _track({"AU45": CURVE}, 12)
    generated = replace(driving, meta={"not_estimated": ["AU45"]})
    out = au_fidelity(driving, generated)
    assert "AU45" not in out.r and "AU45" not in out.mae


@pytest.fixture(scope="module")
def cross(tmp_path_factory):
    """sub01's face driven by sub02's clip: the truth, a half-strength rendering, the target
    unchanged, and the driving clip's AU track from its own frames."""
    out = tmp_path_factory.mktemp("fid")
    write_corpus(out, SynthConfig(subjects=2, clips_per_subject=1, size=128, fps=30, seed=1),
                 progress=False)  # fmt: skip
    truth, _ = render_cross(out, "sub01", DRIVER)
    ident = load_identity(out, "sub01")
    track = load_track(out, DRIVER)
    half, _ = render_clip(
        ident.image, ident.landmarks, replace(track, au_intensity=track.au_intensity * 0.5)
    )
    driving = read_video(out / "CASME2_RAW_selected" / "sub02" / "EP01_01")
    onset = track.onset
    return {
        "dir": out,
        "onset": onset,
        "truth": truth,
        "half": half,
        "still": np.repeat(truth[onset : onset + 1], len(truth), 0),
        "driving": driving,
        "driving_au": video_au_track(driving, onset),
    }


def _mean_r(f) -> float:
    return float(np.nanmean([f.r_upper, f.r_lower]))


def _mean_mae(f) -> float:
    return float(np.nanmean([f.mae_upper, f.mae_lower]))


@pytest.mark.slow
def test_truth_scores_best_and_the_unchanged_target_worst(cross):
    onset, d = cross["onset"], cross["driving_au"]
    assert max(d.values.max(0)) > 0.3  # the driving clip moves
    truth = au_fidelity_of(cross["truth"], d, onset)
    half = au_fidelity_of(cross["half"], d, onset)
    still = au_fidelity_of(cross["still"], d, onset)
    assert _mean_r(truth) > 0.8
    assert _mean_r(still) == 0.0 and np.isnan(still.apex_error)
    assert _mean_r(truth) > _mean_r(still) + 0.5
    # MAE orders all three: full motion < half the motion < none
    assert _mean_mae(truth) < _mean_mae(half) < _mean_mae(still)
    assert truth.apex_error <= 2  # frames at 30 fps


@pytest.mark.slow
def test_metrics_command_writes_au_fidelity(cross, tmp_path):
    name = "sub02_EP01_01-sub01.mp4"
    for set_name in ("truth", "still"):
        write_mp4(tmp_path / set_name / name, cross[set_name], fps=30)
    write_mp4(tmp_path / "driving" / "sub02_EP01_01.mp4", cross["driving"], fps=30)
    out = tmp_path / "metrics"
    args = ["eval", "metrics", "--set", str(tmp_path / "truth"), "--set", str(tmp_path / "still")]
    assert main([*args, "--driving", str(tmp_path / "driving"), "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "metrics.csv").set_index("set")
    # a face half whose AUs the driving clip leaves still has no r (an all-NaN column is
    # left out of the table)
    r = table.filter(like="au_r_").mean(axis=1)
    mae = table.filter(like="au_mae_").mean(axis=1)
    assert r["truth"] > r["still"] + 0.3
    assert mae["truth"] < mae["still"]
    per_au = pd.read_csv(out / "au_fidelity.csv")
    assert {"set", "AU", "r", "MAE"} <= set(per_au.columns) and len(per_au) > 0
    videos = pd.read_csv(out / "metrics_per_video.csv")
    assert any(c.startswith("r_AU") for c in videos.columns)
