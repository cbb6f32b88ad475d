"""FAMGAN's fine-grained modulation, each step against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fme.core.errors import ConfigError
from generation.au import AU_NAMES, AUTrack
from generation.au.asymmetry import (
    LEFT_POINTS,
    MIDLINE_POINTS,
    half_landmarks,
    join_halves,
    midline_x,
    mirror_half,
    split_column,
    split_halves,
)
from generation.au.modulation import (
    SCALE_OFFSETS,
    modulated_track,
    moving_mean,
    multiscale_average,
    transfer,
)
from generation.synth.aus import MIRROR


def test_multiscale_average_is_the_mean_over_the_five_resized_copies():
    seen = []

    def estimator(img):  # the "AU vector" of an image: its height, width and area
        seen.append(img.shape)
        h, w = img.shape[:2]
        return np.array([h, w, h * w], dtype=float)

    out = multiscale_average(np.zeros((20, 30, 3), np.uint8), estimator)
    assert SCALE_OFFSETS == (-10, -5, 0, 5, 10)
    assert seen == [(10, 20, 3), (15, 25, 3), (20, 30, 3), (25, 35, 3), (30, 40, 3)]
    # heights 10..30 -> 20; widths 20..40 -> 30; areas 200+375+600+875+1200 = 3250 -> 650
    np.testing.assert_allclose(out, [20.0, 30.0, 650.0])


def test_multiscale_average_on_frames_keeps_one_vector_per_frame():
    frames = np.stack([np.full((24, 24, 3), v, np.uint8) for v in (10, 50, 90)])

    def estimator(clip):  # per frame: its mean grey level (a constant image resizes to itself)
        assert clip.ndim == 4 and len(clip) == 3
        return AUTrack(np.repeat(clip.mean((1, 2, 3))[:, None], len(AU_NAMES), 1))

    out = multiscale_average(frames, estimator)
    assert out.shape == (3, len(AU_NAMES))
    np.testing.assert_allclose(out[:, 0], [10, 50, 90])
    with pytest.raises(ConfigError):
        multiscale_average(np.zeros((8, 8), np.uint8), lambda x: np.zeros(1))  # 8 - 10 < 1


def test_moving_mean_over_2n_plus_1_frames_cut_at_the_ends():
    y = np.array([1.0, 2.0, 6.0, 3.0, 0.0])
    # n = 1: (1+2)/2, (1+2+6)/3, (2+6+3)/3, (6+3+0)/3, (3+0)/2
    np.testing.assert_allclose(moving_mean(y, 1), [1.5, 3.0, 11 / 3, 3.0, 1.5])
    # n = 2: (1+2+6)/3, (1+2+6+3)/4, 12/5, (2+6+3+0)/4, (6+3+0)/3
    np.testing.assert_allclose(moving_mean(y, 2), [3.0, 3.0, 2.4, 2.75, 3.0])
    np.testing.assert_allclose(moving_mean(y, 0), y)
    two = np.stack([y, 10 * y], 1)  # columns are filtered apart
    np.testing.assert_allclose(moving_mean(two, 1)[:, 1], 10 * moving_mean(y, 1))
    with pytest.raises(ConfigError):
        moving_mean(y, -1)


TARGET = np.array([2.0, 0.0, 1.0])
DRIVING = np.array([[1.0, 0.0, 0.0], [1.5, 0.5, 0.0], [3.0, 1.0, 0.5], [1.0, 0.0, 0.0]])


def test_transfer_from_the_onset_the_texts_rule_is_the_default():
    out = transfer(TARGET, DRIVING, alpha=0.1)
    # 0.1 * y_t = [0.2, 0, 0.1]; changes from frame 0: 0, [.5 .5 0], [2 1 .5], 0
    expected = [[0.2, 0, 0.1], [0.7, 0.5, 0.1], [2.2, 1.0, 0.6], [0.2, 0, 0.1]]
    np.testing.assert_allclose(out, expected)
    from_second = transfer(TARGET, DRIVING, alpha=0.1, onset_index=1)
    np.testing.assert_allclose(from_second[0], [0.2 - 0.5, -0.5, 0.1])


def test_transfer_from_the_previous_frame_the_printed_equation():
    out = transfer(TARGET, DRIVING, alpha=0.1, reference="previous")
    # changes: 0 (frame 0), [.5 .5 0], [1.5 .5 .5], [-2 -1 -.5]
    expected = [[0.2, 0, 0.1], [0.7, 0.5, 0.1], [1.7, 0.5, 0.6], [-1.8, -1.0, -0.4]]
    np.testing.assert_allclose(out, expected)
    with pytest.raises(ConfigError):
        transfer(TARGET, DRIVING, reference="apex")


def test_modulated_track_smooths_then_transfers():
    n = len(AU_NAMES)
    driving = AUTrack(np.outer([0.0, 0.0, 3.0, 0.0, 0.0], np.ones(n)), meta={"clip": "c"})
    target = AUTrack(np.ones((1, n)))
    out = modulated_track(target, driving, alpha=0.5, n=1)
    # moving mean (n=1): [0, 1, 1, 1, 0]; minus onset (0); plus 0.5 * 1
    np.testing.assert_allclose(out.values[:, 0], [0.5, 1.5, 1.5, 1.5, 0.5])
    assert out.meta["reference"] == "onset" and out.meta["driving"] == "c"


GREY = np.arange(5)[None, :] + 10 * np.arange(2)[:, None]  # 2 x 5, value = col + 10 * row


def test_split_and_mirror_halves_by_hand():
    left, right = split_halves(GREY)  # m = 5 // 2 = 2
    np.testing.assert_array_equal(left, [[0, 1], [10, 11]])
    np.testing.assert_array_equal(right, [[2, 3, 4], [12, 13, 14]])
    # left half mirrored about the line between columns 1 and 2: 0 1 | 1 0 (0 repeated)
    np.testing.assert_array_equal(mirror_half(GREY, "left")[0], [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(mirror_half(GREY, "right")[0], [3, 2, 2, 3, 4])
    np.testing.assert_array_equal(mirror_half(GREY, "left", m=3)[1], [10, 11, 12, 12, 11])
    with pytest.raises(ConfigError):
        mirror_half(GREY, "top")


def test_halves_of_colour_frames_join_along_the_width():
    frames = np.stack([np.stack([GREY] * 3, -1)] * 4)  # (T=4, H=2, W=5, C=3)
    a, b = frames, frames + 100
    joined = join_halves(a, b)
    assert joined.shape == frames.shape
    np.testing.assert_array_equal(joined[2, 0, :, 1], [0, 1, 102, 103, 104])
    np.testing.assert_array_equal(mirror_half(frames, "left")[3, 1, :, 0], [10, 11, 11, 10, 10])
    with pytest.raises(ConfigError):
        join_halves(a, b[:, :, :4])


def test_split_column_puts_the_midline_between_two_columns():
    assert split_column(4) == 2
    assert split_column(100, 49.5) == 50  # the line 49.5 lies between columns 49 and 50
    assert split_column(100, 49.8) == 50
    assert split_column(100, 50.2) == 51
    with pytest.raises(ConfigError):
        split_column(100, 120.0)


def test_half_landmarks_mirror_one_side_onto_the_other():
    rng = np.random.default_rng(0)
    lm = rng.uniform(0, 100, (68, 2))
    out = half_landmarks(lm, "left", midline=50.0)
    for i in LEFT_POINTS:
        np.testing.assert_allclose(out[i], lm[i])
        np.testing.assert_allclose(out[MIRROR[i]], [100.0 - lm[i, 0], lm[i, 1]])
    np.testing.assert_allclose(out[list(MIDLINE_POINTS)], lm[list(MIDLINE_POINTS)])
    right = half_landmarks(lm, "right", midline=50.0)
    np.testing.assert_allclose(right[0], [100.0 - lm[16, 0], lm[16, 1]])  # jaw 0 <- 16
    assert len(LEFT_POINTS) + len(MIDLINE_POINTS) + len(LEFT_POINTS) == 68
    sym = half_landmarks(lm, "left")  # default midline: the midline landmarks' mean x
    assert midline_x(sym) == pytest.approx(midline_x(lm))


def test_one_sided_au_shows_on_its_half_only():
    """A smile on the image-left half only (FACS R12): the left half mirrored into a whole
    face reads as the same smile on both sides, the right half as none."""
    from skimage.data import astronaut

    from generation.au.estimator import estimate_from_landmarks
    from generation.synth.aus import au_pattern, to_image
    from generation.synth.identities import crop_face

    neutral = crop_face(astronaut(), 128).landmarks.astype(np.float64)
    pattern = au_pattern(12)
    one_side = np.zeros_like(pattern)
    one_side[list(LEFT_POINTS)] = pattern[list(LEFT_POINTS)]
    # IOD of the most-moving landmark: the lip corners rise 0 to 0.04 IOD, read about 0-1
    a = np.array([0.0, 0.03, 0.06])
    both = neutral + a[:, None, None] * to_image(pattern, neutral)[None]
    left = neutral + a[:, None, None] * to_image(one_side, neutral)[None]
    full = estimate_from_landmarks(both).column("AU12")
    assert full[2] > 0.5
    from_left = estimate_from_landmarks(half_landmarks(left, "left")).column("AU12")
    from_right = estimate_from_landmarks(half_landmarks(left, "right")).column("AU12")
    # mirroring in the image about a vertical line, a face with some roll (the astronaut's)
    # is rebuilt slightly rolled the other way: the lip-corner cue, measured in the eye
    # corners' frame, reads 12% more on the mirrored half here
    np.testing.assert_allclose(from_left, full, atol=0.15 * full[2])
    assert from_right.max() < 0.1 * full[2]
