"""Eulerian motion magnification on a synthetic clip whose motion is known: a grating
shifted by sub-pixel amounts. The shift is read back from the phase of its Fourier
coefficient; magnification by alpha multiplies it by 1 + alpha (within the linear
approximation), and alpha 0 leaves the frames as they are."""

from __future__ import annotations

import numpy as np
import pytest

from fme.core.errors import ConfigError
from generation.animation.magnify import collapse, laplacian_pyramid, magnify_clip, motion_gain

WAVELENGTH = 32.0
SHIFTS = np.array([0.0, 0.1, 0.2, 0.3, 0.3, 0.2, 0.1, 0.05])


def grating_clip(shifts=SHIFTS, size=64, wavelength=WAVELENGTH):
    x = np.arange(size)
    k = 2 * np.pi / wavelength
    rows = [127.5 + 100 * np.cos(k * (x - d)) for d in shifts]
    frames = np.stack([np.repeat(r[None, :, None], size, 0).repeat(3, 2) for r in rows])
    return np.round(frames).astype(np.uint8)


def measured_shift(frames, wavelength=WAVELENGTH):
    k = 2 * np.pi / wavelength
    coeff = np.fft.fft(frames[..., 0].astype(float).mean(1), axis=1)[
        :, int(frames.shape[2] / wavelength)
    ]
    return -np.angle(coeff / coeff[0]) / k


def test_pyramid_collapses_to_the_image():
    import torch

    x = torch.rand(2, 3, 37, 50) * 255
    assert torch.allclose(collapse(laplacian_pyramid(x, 5)), x, atol=1e-3)


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_magnification_multiplies_small_motion_by_one_plus_alpha(alpha):
    clip = grating_clip()
    plain = measured_shift(clip)
    np.testing.assert_allclose(plain[1:], SHIFTS[1:], atol=0.02)
    # no attenuation (cutoff 1 px): the linear model's 1 + alpha
    full = measured_shift(magnify_clip(clip, alpha, cutoff=1.0))
    np.testing.assert_allclose(full[1:], motion_gain(alpha) * SHIFTS[1:], rtol=0.12, atol=0.03)
    # the paper's attenuation of fine levels: less, never more, and still most of it
    att = measured_shift(magnify_clip(clip, alpha))
    assert np.all(att[1:] <= full[1:] + 0.01)
    assert np.all(att[1:] >= 0.75 * motion_gain(alpha) * SHIFTS[1:])
    # the onset frame is not moved (the change since the onset is what is magnified)
    assert abs(att[0]) < 1e-6


def test_alpha_zero_and_a_still_clip_are_unchanged():
    clip = grating_clip()
    assert np.array_equal(magnify_clip(clip, 0.0), clip)
    still = np.repeat(clip[:1], 5, axis=0)
    assert np.abs(magnify_clip(still, 5.0).astype(int) - still.astype(int)).max() <= 1


def test_band_filter_keeps_the_band_only():
    # a 5 Hz oscillation at 100 fps passes a 2-10 Hz band and not a 20-40 Hz one
    t = np.arange(40)
    shifts = 0.2 * np.sin(2 * np.pi * 5 * t / 100)
    clip = grating_clip(shifts)
    inside = measured_shift(magnify_clip(clip, 2.0, temporal="band", low=2, high=10, cutoff=1))
    outside = measured_shift(magnify_clip(clip, 2.0, temporal="band", low=20, high=40, cutoff=1))
    plain = measured_shift(clip)
    gain_in = np.abs(inside).max() / np.abs(plain).max()
    gain_out = np.abs(outside).max() / np.abs(plain).max()
    assert 2.5 < gain_in < 3.3 and 0.9 < gain_out < 1.1


def test_bad_options_are_one_line_errors():
    clip = grating_clip()
    with pytest.raises(ConfigError, match="magnif"):
        magnify_clip(clip, -1.0)
    with pytest.raises(ConfigError, match="temporal filter"):
        magnify_clip(clip, 2.0, temporal="iir")
    with pytest.raises(ConfigError, match="onset"):
        magnify_clip(clip, 2.0, onset=99)
