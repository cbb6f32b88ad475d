"""`--motion-scale` and `--magnify` reach every keypoint family through `animate_clip`:
a zero factor leaves the target still (the model's reconstruction of itself), the
magnification's landmarks move by 1 + alpha, and the bring-back divides by it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_helpers import astronaut_face, shift_image, small_model_config

from fme.core.errors import ConfigError
from generation.animation.animate import animate_clip, set_animation_options
from generation.animation.magnify import Magnification, magnify_landmarks
from generation.models import build_model, default_config


def _clip(n=5):
    face, lms = astronaut_face()
    moves = [(0.0, 0.0)] + [(2.0 * np.sin(k), 1.5 * np.cos(k) - 1.5) for k in range(1, n)]
    frames = np.stack([shift_image(face, dx, dy) for dx, dy in moves])
    return face, lms, frames, np.stack([lms + np.array(m, np.float32) for m in moves])


@pytest.mark.parametrize("variant", ["fomm", "liveportrait"])
def test_zero_motion_scale_keeps_the_target_still(variant):
    torch.manual_seed(0)
    if variant == "liveportrait":  # its factor is on the expression: drive the expression only
        model = build_model(variant, default_config(variant, "small")).eval()
        set_animation_options(model, region="exp")
    else:
        model = build_model(variant, small_model_config(variant)).eval()
    face, lms, frames, marks = _clip(3)
    still = animate_clip(model, face, lms, frames, marks, motion_scale=1e-9)
    moving = animate_clip(model, face, lms, frames, marks)
    assert np.abs(still.astype(int) - still[:1].astype(int)).max() <= 1
    assert np.abs(moving.astype(int) - moving[:1].astype(int)).max() > 2
    assert model.motion_scale == 1.0  # restored after the animation


def test_magnify_brings_the_motion_back_to_the_clip_s_scale():
    # the model sees landmarks moved by 1 + alpha and takes 1 / (1 + alpha) of the motion
    seen = {}
    torch.manual_seed(0)
    model = build_model("fomm", small_model_config("fomm")).eval()
    original = model.animate

    def spy(state, driving, landmarks, initial, initial_landmarks, **kw):
        seen.setdefault("scale", model.motion_scale)
        seen.setdefault("landmarks", []).append(landmarks.clone())
        return original(state, driving, landmarks, initial, initial_landmarks, **kw)

    model.animate = spy
    face, lms, frames, marks = _clip()
    animate_clip(model, face, lms, frames, marks, magnify=Magnification(3.0), motion_scale=2.0)
    assert seen["scale"] == pytest.approx(2.0 / 4.0)
    got = torch.cat(seen["landmarks"]).numpy()
    np.testing.assert_allclose(got - got[:1], 4.0 * (marks - marks[:1]), atol=1e-4)
    np.testing.assert_allclose(magnify_landmarks(marks, 0.0), marks)


def test_families_without_a_displacement_and_foreign_options_are_refused():
    torch.manual_seed(0)
    fomm = build_model("fomm", small_model_config("fomm")).eval()
    face, lms, frames, marks = _clip(3)
    with pytest.raises(ConfigError, match="relative"):
        animate_clip(fomm, face, lms, frames, marks, mode="standard", motion_scale=2.0)
    with pytest.raises(ConfigError, match="LivePortrait"):
        set_animation_options(fomm, region="exp")
    famgan = build_model("famgan", small_model_config("famgan"))
    with pytest.raises(ConfigError, match="cannot scale"):
        with famgan.scaled_motion(0.5):
            pass
    lp = build_model("liveportrait", default_config("liveportrait", "small"))
    set_animation_options(lp, region="lip", stitching=False, multiplier=1.2)
    anim = lp.config["animation"]
    assert (anim["region"], anim["stitching"], anim["multiplier"]) == ("lip", False, 1.2)
    with pytest.raises(ConfigError, match="region"):
        set_animation_options(lp, region="nose")
