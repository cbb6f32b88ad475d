"""The Python front door (`import fme`): the same frames as the command, typed results,
one `animate` signature for every family, and a light `import fme`."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
import torch
from engine_helpers import astronaut, make_prepared, small_model_config

import fme
from fme.core.errors import ConfigError, FMEError
from generation.models import FAMILIES, VARIANT_MODULES, build_model
from generation.models.base import AnimationModel


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("prep"), subjects=2, clips_per_subject=1)


def test_import_fme_is_light_and_resolves_the_api_on_use():
    code = (
        "import sys, fme; heavy = [m for m in ('torch', 'generation', 'eval', 'study') "
        "if m in sys.modules]; print(heavy); print(callable(fme.animate))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]
    with pytest.raises(AttributeError):
        fme.no_such_function  # noqa: B018


def test_every_family_animates_through_one_signature():
    base = list(inspect.signature(AnimationModel.animate).parameters)
    assert base[-3:] == ["mode", "adapt_movement_scale", "condition"]
    import importlib

    modules = [*FAMILIES.values(), *VARIANT_MODULES.values()]
    classes = {importlib.import_module(name).MODEL_CLASS for name in modules}
    assert len(classes) >= 5
    for cls in classes:
        assert list(inspect.signature(cls.animate).parameters) == base, cls.__name__
    # motion families make no per-frame condition; the AU-driven ones override it
    assert AnimationModel.driving_condition(None, None, None, None) is None


def test_api_animate_gives_the_frames_of_the_command(prepared, tmp_path):
    from PIL import Image

    from fme.cli import main
    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.data.video import read_video

    torch.manual_seed(0)
    model = build_model("fomm", small_model_config("fomm")).eval()
    ckpt = save_checkpoint(tmp_path / "m.pt", model, step=0)
    target = tmp_path / "target.png"
    Image.fromarray(astronaut()).save(target)
    driving = prepared / "casme2" / "sub02" / "EP01_01"

    loaded = fme.load(ckpt, device="cpu")
    video = fme.animate(loaded, target, driving, device="cpu")
    assert isinstance(video, fme.Animation)
    assert video.frames.shape == (8, 64, 64, 3) and len(video) == 8
    assert video.fps == 200.0 and video.fps_note == "the casme2 dataset's rate"  # CASME II's
    assert video.driving is not None and video.side_by_side().frames.shape == (8, 64, 128, 3)
    written = video.write(tmp_path / "api.mp4")

    out = tmp_path / "cli.mp4"
    args = ["animate", "--checkpoint", str(ckpt), "--target", str(target)]
    assert main([*args, "--driving", str(driving), "--out", str(out), "--device", "cpu"]) == 0
    ours, theirs = read_video(written), read_video(out)
    assert ours.shape == theirs.shape
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() == 0
    # a path is loaded on the way; an onset outside the clip is the user's mistake
    again = fme.animate(ckpt, target, driving, device="cpu", fps=30)
    assert again.fps == 30.0 and np.array_equal(again.frames, video.frames)
    with pytest.raises(FMEError):
        fme.animate(loaded, target, driving, device="cpu", onset=99)


def test_animation_without_its_driving_frames_cannot_stand_beside_them():
    video = fme.Animation(np.zeros((2, 8, 8, 3), np.uint8), 25.0, 0)
    with pytest.raises(ConfigError):
        video.side_by_side()


def test_api_prepare_refuses_a_missing_dataset_folder_in_one_error(tmp_path):
    with pytest.raises(FMEError, match="missing"):
        fme.prepare("casme2", tmp_path / "missing", tmp_path / "out")
