"""Animation: frame count and size, relative motion, batching, bad input, `fme animate`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_helpers import astronaut, astronaut_face, make_prepared, shift_image, small_model_config

from fme.core.errors import DataError, FaceNotFoundError
from generation.animation.animate import animate_clip, load_driving, prepare_target
from generation.models import build_model

VARIANTS = ("fomm", "fomm-awp", "mraa-awp")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("prep"), subjects=2, clips_per_subject=1)


def _model(variant):
    torch.manual_seed(0)
    return build_model(variant, small_model_config(variant)).eval()


def _driving(n=7):
    face, lms = astronaut_face()
    moves = [(0.0, 0.0)] + [(1.5 * np.sin(k), 1.0 * np.cos(k) - 1) for k in range(1, n)]
    frames = np.stack([shift_image(face, dx, dy) for dx, dy in moves])
    landmarks = np.stack([lms + np.array(m, dtype=np.float32) for m in moves])
    return frames, landmarks


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_has_driving_length_and_target_size(variant):
    model = _model(variant)
    face, lms = astronaut_face()
    # a target of another size: the output comes back at the target's size
    from PIL import Image

    target = np.asarray(Image.fromarray(face).resize((80, 80)))
    target_lm = (lms + 0.5) * 80 / 64 - 0.5
    frames, landmarks = _driving(7)
    out = animate_clip(model, target, target_lm, frames, landmarks, batch_size=3)
    assert out.shape == (7, 80, 80, 3) and out.dtype == np.uint8
    # batching does not change the frames
    whole = animate_clip(model, target, target_lm, frames, landmarks, batch_size=16)
    assert np.abs(out.astype(int) - whole.astype(int)).max() <= 1
    assert model.training is False


@pytest.mark.parametrize("variant", VARIANTS)
def test_relative_motion_from_a_still_driving_clip_is_the_reconstruction(variant):
    model = _model(variant)
    face, lms = astronaut_face()
    other, other_lm = _driving(7)
    # every driving frame equals the onset frame: no motion, so the target comes back as
    # the model reconstructs it from itself
    still = np.repeat(other[3:4], 5, axis=0)
    still_lm = np.repeat(other_lm[3:4], 5, axis=0)
    out = animate_clip(model, face, lms, still, still_lm, onset_index=2)
    with torch.inference_mode():
        src = torch.from_numpy(np.array(face)).permute(2, 0, 1)[None].float() / 255
        src_lm = torch.from_numpy(np.array(lms))[None]
        state = model.encode_source(src, src_lm)
        rec = model.animate(state, src, src_lm, src, src_lm, mode="relative")
    rec = (rec.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).numpy()
    for frame in out:
        assert np.abs(frame.astype(int) - rec.astype(int)).max() <= 2


def test_bad_driving_clips_are_refused():
    model = _model("fomm")
    face, lms = astronaut_face()
    frames, landmarks = _driving(3)
    with pytest.raises(DataError, match="two or more"):
        animate_clip(model, face, lms, frames[:1], landmarks[:1])
    with pytest.raises(DataError, match="landmark"):
        animate_clip(model, face, lms, frames, landmarks[:2])
    with pytest.raises(DataError, match="onset"):
        animate_clip(model, face, lms, frames, landmarks, onset_index=3)


def test_prepare_target_crops_like_prepare(tmp_path):
    from PIL import Image

    path = tmp_path / "face.png"
    Image.fromarray(astronaut()).save(path)
    image, lms = prepare_target(path, 64)
    assert image.shape == (64, 64, 3)
    assert (image[..., 0] == image[..., 1]).all()  # grayscale in 3 channels
    # the face fills the crop with the margin: eyes in the upper half, chin below
    assert 10 < lms[36, 1] < 32 and lms[8, 1] > 40
    assert 0 <= lms.min() and lms.max() < 64
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(blank)
    with pytest.raises(FaceNotFoundError, match="blank.png"):
        prepare_target(blank, 64)


def test_load_driving_reads_a_prepared_clip_with_its_onset(prepared):
    folder = prepared / "casme2" / "sub01" / "EP01_01"
    clip = load_driving(folder, 32)
    lms = np.load(folder / "landmarks.npz")["landmarks"]
    assert clip.frames.shape == (8, 32, 32, 3) and clip.onset_index == 0
    np.testing.assert_allclose(clip.landmarks, (lms + 0.5) * 0.5 - 0.5, atol=1e-5)
    assert clip.name == "casme2/sub01/EP01_01" and clip.label == "negative"


@pytest.mark.slow
def test_fme_animate_writes_an_mp4_with_the_driving_length(prepared, tmp_path):
    from PIL import Image

    from fme.cli import main
    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.data.video import probe

    ckpt = save_checkpoint(tmp_path / "m.pt", _model("mraa"), step=0)
    target = tmp_path / "target.png"
    Image.fromarray(astronaut()).save(target)
    out = tmp_path / "out.mp4"
    driving = prepared / "casme2" / "sub02" / "EP01_01"
    args = ["animate", "--checkpoint", str(ckpt), "--target", str(target)]
    assert main([*args, "--driving", str(driving), "--out", str(out), "--device", "cpu"]) == 0
    info = probe(out)
    assert info.n_frames == 8 and (info.width, info.height) == (64, 64)
    assert info.codec == "h264" and info.fps == pytest.approx(200)  # CASME II's rate
    # a target without a face: exit 2, nothing written
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((96, 96, 3), 200, np.uint8)).save(blank)
    out2 = tmp_path / "none.mp4"
    args = ["animate", "--checkpoint", str(ckpt), "--target", str(blank)]
    assert main([*args, "--driving", str(driving), "--out", str(out2)]) == 2
    assert not out2.exists()
