"""`fme animate`'s output: the driving clip's frame rate, the model's size or --size,
grayscale or --color, and which target face (--face)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_helpers import astronaut, astronaut_face, shift_image, small_model_config
from PIL import Image

from generation.models import build_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.data.video import write_mp4

    root = tmp_path_factory.mktemp("animate")
    torch.manual_seed(0)
    ckpt = save_checkpoint(root / "m.pt", build_model("fomm", small_model_config("fomm")), step=0)
    face, _ = astronaut_face(96)
    video = write_mp4(root / "drive.mp4", [shift_image(face, 0.6 * k, 0) for k in range(6)], fps=30)
    target = root / "target.png"
    Image.fromarray(astronaut()).save(target)
    # two faces: the astronaut's face and a smaller mirrored copy beside it
    big, _ = astronaut_face(160)
    small = np.asarray(Image.fromarray(big).resize((120, 120)))[:, ::-1]
    pair = np.full((200, 320, 3), 128, np.uint8)
    pair[20:180, :160] = big
    pair[40:160, 180:300] = small
    two = root / "two.png"
    Image.fromarray(pair).save(two)
    return root, ckpt, video, target, two


def _animate(files, *extra, target=None):
    from fme.cli import main

    root, ckpt, video, default_target, _ = files
    out = root / f"out{abs(hash(extra)) % 10**8}.mp4"
    args = ["animate", "--checkpoint", str(ckpt), "--target", str(target or default_target)]
    code = main([*args, "--driving", str(video), "--out", str(out), "--device", "cpu", *extra])
    return code, out


@pytest.mark.slow
def test_the_output_keeps_the_driving_videos_frame_rate_unless_fps(files, capsys):
    from generation.data.video import probe

    code, out = _animate(files)
    assert code == 0
    info = probe(out)
    assert info.fps == pytest.approx(30) and info.n_frames == 6
    assert (info.width, info.height) == (64, 64)  # the model's size
    said = capsys.readouterr().out
    assert "30 fps, the driving video's rate" in said and "64x64 px, grayscale" in said
    code, out = _animate(files, "--fps", "12.5")
    assert code == 0 and probe(out).fps == pytest.approx(12.5)


@pytest.mark.slow
def test_size_and_color(files, capsys):
    from generation.data.video import probe, read_video

    code, out = _animate(files, "--size", "48", "--color")
    assert code == 0
    info = probe(out)
    assert (info.width, info.height) == (48, 48)
    assert "48x48 px, colour" in capsys.readouterr().out
    # the target the network sees: gray in 3 channels by default, the photo's colours with --color
    from generation.animation.animate import prepare_target

    _, _, _, target, _ = files
    gray, _ = prepare_target(target, 48)
    colour, _ = prepare_target(target, 48, color=True)
    assert np.array_equal(gray[..., 0], gray[..., 2])
    assert np.abs(colour[..., 0].astype(int) - colour[..., 2]).mean() > 10  # the astronaut's
    default = read_video(_animate(files, "--size", "48")[1]).astype(int)
    assert np.abs(read_video(out).astype(int) - default).mean() > 1  # colour in, colour out


@pytest.mark.slow
def test_several_faces_are_listed_and_face_chooses_one(files, capsys):
    from generation.animation.animate import prepare_target, target_faces
    from generation.data.video import read_image

    _, _, _, _, two = files
    boxes = target_faces(read_image(two))
    assert len(boxes) == 2 and boxes[0][2] - boxes[0][0] > boxes[1][2] - boxes[1][0]
    code, _ = _animate(files, target=two)
    assert code == 0
    said = capsys.readouterr().out
    assert "target: 2 faces" in said and "took face 0" in said
    first, _ = prepare_target(two, 32, face=0)
    second, _ = prepare_target(two, 32, face=1)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 5  # another crop
    code, _ = _animate(files, "--face", "1", target=two)
    assert code == 0 and "took face 1" in capsys.readouterr().out
    code, out = _animate(files, "--face", "2", target=two)
    assert code == 2 and not out.exists()
    assert "--face 2: the target has 2 face(s)" in capsys.readouterr().err
