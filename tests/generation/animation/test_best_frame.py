"""The reference demo's find_best_frame, and the MM'21 entry's onset prior keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_helpers import astronaut_face, shift_image, small_model_config

from fme.core.errors import ConfigError
from generation.animation.animate import animate_clip, best_frame, normalized_landmarks
from generation.config import merge
from generation.models import build_model


def test_normalized_landmarks_ignore_position_and_size():
    _, lms = astronaut_face()
    moved = 2.5 * lms + np.array([7.0, -3.0])
    assert np.allclose(normalized_landmarks(lms), normalized_landmarks(moved), atol=1e-5)
    # unit hull area after normalisation (checked by scipy's ConvexHull)
    from scipy.spatial import ConvexHull

    assert ConvexHull(normalized_landmarks(lms)).volume == pytest.approx(1.0)


def test_best_frame_is_the_nearest_shape():
    _, lms = astronaut_face()
    rng = np.random.default_rng(0)
    driving = [lms + rng.normal(0, 2.0, lms.shape) for _ in range(6)]
    driving[4] = 1.7 * lms + 3.0  # the target's shape, moved and scaled
    assert best_frame(lms, np.stack(driving)) == 4


@pytest.mark.parametrize("variant", ["fomm", "mraa"])
def test_find_best_frame_animates_forwards_and_backwards_from_it(variant):
    torch.manual_seed(0)
    model = build_model(variant, small_model_config(variant)).eval()
    face, lms = astronaut_face()
    moves = [(2.0, 1.0), (1.0, 0.0), (0.0, 0.0), (-1.0, 1.0), (-2.0, 0.5)]
    frames = np.stack([shift_image(face, dx, dy) for dx, dy in moves])
    marks = np.stack([lms + np.array(m, np.float32) for m in moves])
    marks[0] = marks[0] * 1.3  # other shapes than the target's, except frame 2
    marks[3] = marks[3] * 0.8
    marks[4] = marks[4][::-1]
    assert best_frame(lms, marks) == 2
    out = animate_clip(model, face, lms, frames, marks, find_best_frame=True, batch_size=1)
    # the reference demo: forwards from frame 2, backwards from it, both relative to it
    forward = animate_clip(model, face, lms, frames[2:], marks[2:], batch_size=1)
    backward = animate_clip(model, face, lms, frames[2::-1], marks[2::-1], batch_size=1)
    joined = np.concatenate([backward[::-1], forward[1:]])
    assert np.abs(out.astype(int) - joined.astype(int)).max() <= 1
    default = animate_clip(model, face, lms, frames, marks, batch_size=1)  # from frame 0
    assert np.abs(out.astype(int) - default.astype(int)).max() > 1


def test_find_best_frame_compares_the_shapes_the_network_sees():
    # the reference demo resizes the source and the clip to the model's size first; a clip
    # twice as wide as it is high is squeezed in x, so its best frame is the one whose
    # landmarks are the target's stretched twice in x, not the one equal to the target's
    torch.manual_seed(0)
    model = build_model("fomm", small_model_config("fomm")).eval()
    face, lms = astronaut_face()
    wide = np.repeat(face, 2, axis=1)  # (size, 2 size, 3)
    frames = np.stack([wide, shift_image(wide, 1.0, 0.0), shift_image(wide, -1.0, 1.0)])
    stretched = (lms + 0.5) * np.array([2.0, 1.0]) - 0.5  # the target after the resize
    marks = np.stack([stretched * 1.1 + 2.0, lms + 1.0, stretched + np.array([1.0, 0.0])])
    marks = marks.astype(np.float32)
    assert best_frame(lms, marks) == 1  # the raw coordinates would choose frame 1
    out = animate_clip(model, face, lms, frames, marks, find_best_frame=True, batch_size=1)
    from_2 = animate_clip(model, face, lms, frames, marks, onset_index=2, batch_size=1)
    from_1 = animate_clip(model, face, lms, frames, marks, onset_index=1, batch_size=1)
    assert np.array_equal(out, from_2)
    assert np.abs(out.astype(int) - from_1.astype(int)).max() > 1


def test_onset_prior_keypoints_share_the_onset_frame():
    variant = "mraa-ewp"
    torch.manual_seed(0)
    per_frame = build_model(variant, small_model_config(variant)).eval()
    config = merge(small_model_config(variant), {"prior": {"keypoints": "onset"}})
    onset = build_model(variant, config).eval()
    onset.load_state_dict(per_frame.state_dict())
    face, lms = astronaut_face()
    moves = [(0.0, 0.0), (1.5, 0.0), (0.0, 1.5)]
    frames = np.stack([shift_image(face, dx, dy) for dx, dy in moves])
    marks = np.stack([lms + np.array(m, np.float32) for m in moves])
    a = animate_clip(onset, face, lms, frames, marks, onset_index=0)
    # the same as giving every frame the onset frame's landmarks
    b = animate_clip(per_frame, face, lms, frames, np.repeat(marks[:1], 3, 0), onset_index=0)
    assert np.array_equal(a, b)
    c = animate_clip(per_frame, face, lms, frames, marks, onset_index=0)
    assert np.abs(a.astype(int) - c.astype(int)).max() > 1
    with pytest.raises(ConfigError, match="prior.keypoints"):
        build_model(variant, merge(config, {"prior": {"keypoints": "once"}}))
