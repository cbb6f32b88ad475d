"""Sub-pixel landmarks: the Lucas-Kanade tracker recovers known shifts, `fme prepare`'s
tracked landmarks carry the micro-motion of the synthetic corpus far better than per-frame
dlib, and a lost track falls back to dlib."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import synth_corpus
from scipy import ndimage
from skimage import data as skdata

from generation.data.readers import read_dataset
from generation.face.detect import detect_faces, inter_ocular, landmarks68, to_gray
from generation.face.prepare import PrepareConfig, prepare_clips
from generation.face.tracking import lk_track, track_landmarks


def _face():
    gray = to_gray(skdata.astronaut())
    box = detect_faces(gray)[0]
    return gray, box


def test_lk_recovers_subpixel_shifts_of_a_real_face():
    gray, box = _face()
    lms = landmarks68(gray, box)
    shifts = np.array([[0.0, 0.0], [0.3, -0.2], [-0.45, 0.6], [1.7, 0.8]])  # (dx, dy)
    ref = gray.astype(np.float32) / 255
    frames = np.stack([ndimage.shift(ref, (dy, dx), order=3, mode="nearest") for dx, dy in shifts])
    tracked = lk_track(ref, frames, lms, window=15, levels=3)
    moved = (tracked - lms[None]).reshape(len(shifts), -1, 2)
    # every landmark moves by the frame's shift, to a few hundredths of a pixel
    err = np.abs(np.median(moved, axis=1) - shifts)
    assert err.max() < 0.03, err
    assert np.abs(moved - shifts[:, None]).mean() < 0.06


def test_upsampled_dlib_landmarks_are_subpixel_and_agree_with_whole_pixels():
    gray, box = _face()
    whole = landmarks68(gray, box)
    fine = landmarks68(gray, box, upsample=4)
    auto = landmarks68(gray, box, upsample=0)
    assert np.allclose(whole, np.round(whole))
    assert not np.allclose(fine, np.round(fine))  # quarter pixels
    iod = float(inter_ocular(whole))
    assert np.linalg.norm(fine - whole, axis=-1).mean() < 0.03 * iod
    assert np.linalg.norm(auto - whole, axis=-1).mean() < 0.03 * iod


def test_upsampled_landmarks_map_back_with_the_pixel_centre_convention():
    """landmarks68(I, box, upsample=2) is dlib on I enlarged twice, mapped back by
    (x + 0.5) / 2 - 0.5: a half-pixel slip would move every point by 0.25 px."""
    from PIL import Image

    gray, box = _face()
    big = np.asarray(
        Image.fromarray(gray).resize((gray.shape[1] * 2, gray.shape[0] * 2), Image.BICUBIC)
    )
    big_box = tuple(int(round((v + 0.5) * 2 - 0.5)) for v in box)
    expected = (landmarks68(big, big_box) + 0.5) / 2 - 0.5
    got = landmarks68(gray, box, upsample=2)
    assert np.abs(got - expected).mean() < 0.05, np.abs(got - expected).mean()


def test_a_lost_track_falls_back_to_dlib():
    gray, box = _face()
    x0, y0, x1, y1 = 100, 0, 400, 300
    frames = np.stack([gray, gray, np.roll(gray, 40, axis=1)])  # the face jumps 40 px
    per_frame = np.stack([landmarks68(f, box) for f in frames])
    onset = landmarks68(gray, box, upsample=0)
    tracked, fallbacks = track_landmarks(frames[:, y0:y1, x0:x1], (x0, y0), onset, per_frame)
    assert fallbacks == 1
    np.testing.assert_array_equal(tracked[2], per_frame[2])
    np.testing.assert_allclose(tracked[1], onset, atol=0.05)  # a still frame stays still


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synth_corpus(out, subjects=2, clips=2, size=128)
    return out


@pytest.mark.slow
def test_tracked_motion_beats_per_frame_dlib_on_the_corpus(corpus):
    """The apex motion of the 18 prior keypoints, % IOD: tracked (measured 0.2-0.3) against
    per-frame dlib (about 1.5, more than the motion itself, about 0.9)."""
    from fme.bench.tracking import motion_errors

    errors = motion_errors(corpus, ("dlib per frame", "tracker"))
    assert errors.fallbacks == 0
    assert len(errors.size) == 4
    track, dlib, size = (
        float(np.mean(v))
        for v in (errors.apex["tracker"], errors.apex["dlib per frame"], errors.size)
    )
    assert track < 0.5 * size, (track, size)
    assert track < 0.5 * dlib, (track, dlib)


@pytest.mark.slow
def test_prepare_records_the_landmark_method_and_redoes_a_change(corpus, tmp_path):
    clips = read_dataset("casme2", corpus)[:1]
    out = tmp_path / "prepared"
    first = prepare_clips(clips, out, PrepareConfig(size=64), progress=False)
    npz = next(out.glob("casme2/*/*/landmarks.npz"))
    with np.load(npz) as z:
        assert str(z["landmark_method"]) == "track"
        tracked = z["landmarks"].copy()
    # a file written before the option (no key) counts as per-frame dlib
    with np.load(npz) as z:
        old = {k: z[k] for k in z.files if k != "landmark_method"}
    np.savez(npz, **old)
    redo = prepare_clips(clips, out, PrepareConfig(size=64), progress=False)
    assert (redo.processed, redo.cached) == (1, 0)
    np.savez(npz, **old)
    kept = prepare_clips(clips, out, PrepareConfig(size=64, landmarks="dlib"), progress=False)
    assert (kept.processed, kept.cached) == (0, 1)
    prepare_clips(clips, out, PrepareConfig(size=64), progress=False)
    again = prepare_clips(clips, out, PrepareConfig(size=64, landmarks="dlib"), progress=False)
    assert (first.processed, again.processed, again.cached) == (1, 1, 0)
    with np.load(npz) as z:
        assert str(z["landmark_method"]) == "dlib"
        # dlib's whole pixels of the 128 px frames, mapped into the 64 px crop
        assert not np.allclose(z["landmarks"], tracked)
