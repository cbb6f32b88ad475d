"""LivePortrait as a family: the small config end to end, the relative rule's properties,
the released folder layout (strict import, one-line errors), and `fme animate` /
`fme import-checkpoint` on random weights in that layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import astronaut, astronaut_face, shift_image

from fme.core.errors import ConfigError
from generation.animation.animate import animate_clip
from generation.checkpoints.checkpoint import import_checkpoint, load_model
from generation.models import build_model, default_config
from generation.models.liveportrait.motion import (
    keypoint_info,
    relative_keypoints,
    transform_keypoints,
)
from generation.models.liveportrait.release import BASE_FILES, RETARGETING_FILE


def small_model(seed=0):
    torch.manual_seed(seed)
    return build_model("liveportrait", default_config("liveportrait", "small")).eval()


def write_release(model, folder: Path, prefix: str = "module.") -> Path:
    """`model`'s weights in the reference's released folder layout."""
    nets = model.upstream_modules()
    for name, rel in BASE_FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        torch.save(nets[name].state_dict(), folder / rel)
    (folder / RETARGETING_FILE).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            key: {prefix + k: v for k, v in nets[key].state_dict().items()}
            for key in ("retarget_shoulder", "retarget_mouth", "retarget_eye")
        },
        folder / RETARGETING_FILE,
    )
    return folder


def _clip(n=5):
    face, lms = astronaut_face()
    moves = [(0.0, 0.0)] + [(1.5 * np.sin(k), 1.0 * np.cos(k) - 1) for k in range(1, n)]
    frames = np.stack([shift_image(face, dx, dy) for dx, dy in moves])
    return face, lms, frames, np.stack([lms + np.array(m, np.float32) for m in moves])


def test_animate_gives_the_decoder_s_double_size_and_batches_alike():
    model = small_model()
    face, lms, frames, marks = _clip(5)
    out = animate_clip(model, face, lms, frames, marks, batch_size=2)
    assert out.shape == (5, 128, 128, 3) and out.dtype == np.uint8
    whole = animate_clip(model, face, lms, frames, marks, batch_size=16)
    assert np.abs(out.astype(int) - whole.astype(int)).max() <= 1
    # the frames move with the driving clip
    assert np.abs(out[1:].astype(int) - out[:1].astype(int)).mean() > 0.05


def test_relative_rule_at_the_onset_is_the_source_and_scales_linearly():
    torch.manual_seed(0)
    info = {
        "kp": torch.randn(1, 21, 3),
        "exp": 0.1 * torch.randn(1, 21, 3),
        "scale": torch.tensor([[1.3]]),
        "t": torch.tensor([[0.1, -0.2, 0.3]]),
        "pitch": torch.tensor([[4.0]]),
        "yaw": torch.tensor([[-8.0]]),
        "roll": torch.tensor([[2.0]]),
    }
    from generation.models.liveportrait.motion import rotation_matrix

    info["R"] = rotation_matrix(info["pitch"], info["yaw"], info["roll"])
    drv = {k: v.clone() for k, v in info.items()}
    init = {k: v.clone() for k, v in info.items()}
    drv["exp"] = drv["exp"] + 0.05 * torch.randn(1, 21, 3)
    init["exp"] = init["exp"] + 0.05 * torch.randn(1, 21, 3)
    x_s = transform_keypoints(info)
    # the driving onset frame itself gives the source's keypoints (tz zeroed: x_s has none)
    same = relative_keypoints(info, init, init)
    assert torch.allclose(same, x_s, atol=1e-6)
    # the expression delta scales linearly, and only the expression moves for region exp
    base = relative_keypoints(info, drv, init, region="exp", expression_scale=0.0)
    one = relative_keypoints(info, drv, init, region="exp")
    half = relative_keypoints(info, drv, init, region="exp", expression_scale=0.5)
    assert torch.allclose(base, x_s, atol=1e-6)
    assert torch.allclose(half - base, 0.5 * (one - base), atol=1e-6)
    expected = 1.3 * (drv["exp"] - init["exp"])
    assert torch.allclose(one - x_s, expected, atol=1e-5)
    # region lip moves the lip keypoints only
    lip = relative_keypoints(info, drv, init, region="lip")
    moved = (lip - x_s).abs().sum(-1)[0] > 1e-6
    assert moved.nonzero().flatten().tolist() == [6, 12, 14, 17, 19, 20]


def test_keypoint_info_pose_bins_are_degrees():
    bins = torch.full((1, 66), -1e4)
    bins[0, 40] = 0.0  # all mass on bin 40: 40 * 3 - 97.5 degrees
    raw = {
        "pitch": bins,
        "yaw": bins,
        "roll": bins,
        "t": torch.zeros(1, 3),
        "exp": torch.zeros(1, 63),
        "scale": torch.ones(1, 1),
        "kp": torch.zeros(1, 63),
    }
    info = keypoint_info(raw)
    assert torch.allclose(info["pitch"], torch.tensor([[22.5]]))
    assert torch.allclose(info["R"] @ info["R"].transpose(1, 2), torch.eye(3)[None], atol=1e-6)


def test_import_of_the_released_layout_is_strict_and_round_trips(tmp_path):
    model = small_model(1)
    folder = write_release(model, tmp_path / "liveportrait")
    out = tmp_path / "lp.pt"
    report = import_checkpoint("liveportrait", folder, out, scale="small")
    assert report.variant == "liveportrait" and not report.unused and not report.initialised
    loaded = load_model(out)
    ours = model.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, ours[key]), key
    # without the "module." prefix as well
    folder2 = write_release(model, tmp_path / "plain", prefix="")
    import_checkpoint("liveportrait", folder2, tmp_path / "lp2.pt", scale="small")


def test_import_names_a_missing_or_foreign_file(tmp_path):
    model = small_model(1)
    folder = write_release(model, tmp_path / "w")
    (folder / BASE_FILES["warping_module"]).unlink()
    with pytest.raises(ConfigError, match="warping_module.pth"):
        import_checkpoint("liveportrait", folder, tmp_path / "a.pt", scale="small")
    folder = write_release(model, tmp_path / "x")
    torch.save({"foo.weight": torch.zeros(3)}, folder / BASE_FILES["spade_generator"])
    with pytest.raises(ConfigError, match="spade_generator") as err:
        import_checkpoint("liveportrait", folder, tmp_path / "b.pt", scale="small")
    assert "foreign" in str(err.value) and "\n" not in str(err.value).strip()
    # the paper shapes do not take the small weights: strict
    folder = write_release(model, tmp_path / "y")
    with pytest.raises(ConfigError, match="do not fit"):
        import_checkpoint("liveportrait", folder, tmp_path / "c.pt", scale="paper")
    assert not (tmp_path / "a.pt").exists() and not (tmp_path / "c.pt").exists()


@pytest.mark.slow  # ~25 s: dlib on the target and the driving video
def test_fme_import_then_animate_on_random_weights_in_the_reference_layout(tmp_path, capsys):
    from PIL import Image

    from fme.cli import main
    from generation.data.video import probe, write_mp4

    folder = write_release(small_model(2), tmp_path / "liveportrait")
    ckpt = tmp_path / "lp.pt"
    assert (
        main(
            [
                "import-checkpoint",
                "--from",
                "liveportrait",
                str(folder),
                "--out",
                str(ckpt),
                "--scale",
                "small",
            ]
        )
        == 0
    )
    target = tmp_path / "target.png"
    Image.fromarray(astronaut()).save(target)
    frames = np.stack([shift_image(astronaut(), 2 * np.sin(k), 0) for k in range(6)])
    driving = write_mp4(tmp_path / "driving.mp4", frames, fps=30)
    out = tmp_path / "out.mp4"
    args = [
        "animate",
        "--checkpoint",
        str(ckpt),
        "--target",
        str(target),
        "--driving",
        str(driving),
        "--device",
        "cpu",
    ]
    assert main([*args, "--out", str(out), "--animation-region", "exp", "--magnify", "2"]) == 0
    info = probe(out)
    assert info.n_frames == 6 and (info.width, info.height) == (128, 128)
    # a missing file: one line, exit 2, nothing written
    (folder / RETARGETING_FILE).unlink()
    capsys.readouterr()
    assert (
        main(
            [
                "import-checkpoint",
                "--from",
                "liveportrait",
                str(folder),
                "--out",
                str(tmp_path / "bad.pt"),
                "--scale",
                "small",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "stitching_retargeting_module.pth" in err[0]
    assert not (tmp_path / "bad.pt").exists()


@pytest.mark.slow  # ~1 min: a LivePortrait MEGC set, its metrics and a study of it
def test_a_liveportrait_set_goes_through_the_metrics_and_a_liveportrait_study(tmp_path, capsys):
    """The protocols, on random weights: `fme megc` with a LivePortrait checkpoint, the set
    scored by `fme eval metrics` (motion and identity against its drivers and templates),
    and `fme study create --preset liveportrait` pairing it with the trained families."""
    import shutil

    import pandas as pd
    from engine_helpers import make_prepared, write_templates

    from fme.cli import main
    from generation.checkpoints.checkpoint import save_checkpoint

    prep = make_prepared(tmp_path / "prep", subjects=2, clips_per_subject=1, n_frames=5)
    write_templates(tmp_path / "tpl")
    ckpt = save_checkpoint(tmp_path / "lp.pt", small_model(3), step=0)
    (tmp_path / "drivers.txt").write_text("casme2/sub01/EP01_01\ncasme2/sub02/EP01_01\n")
    lp = tmp_path / "sets" / "lp"
    megc = ["megc", "--checkpoint", str(ckpt), "--templates", str(tmp_path / "tpl"),
            "--drivers", str(tmp_path / "drivers.txt"), "--data", str(prep), "--out", str(lp),
            "--quiet", "--device", "cpu"]  # fmt: skip
    assert main(megc) == 0
    manifest = pd.read_csv(lp / "manifest.csv")
    assert len(manifest) == 4 and all((lp / p).is_file() for p in manifest["path"])

    out = tmp_path / "metrics"
    metrics = ["eval", "metrics", "--set", str(lp), "--driving", str(prep), "--templates",
               str(tmp_path / "tpl"), "--out", str(out), "--quiet"]  # fmt: skip
    assert main(metrics) == 0
    table = pd.read_csv(out / "metrics.csv").set_index("set")
    assert list(table.index) == ["lp"]
    assert len(pd.read_csv(out / "metrics_per_video.csv")) == 4
    for column in ("identity_cosine", "motion_correlation", "jitter"):
        assert np.isfinite(table.loc["lp", column]), column

    for label in ("fomm_awp", "tpsmm_awp"):  # stand-ins for the trained families' sets
        shutil.copytree(lp, tmp_path / "sets" / label)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    capsys.readouterr()
    create = ["study", "create", "lp", "--preset", "liveportrait",
              "--method", f"LivePortrait={lp}",
              "--method", f"FOMM+AWP={tmp_path / 'sets' / 'fomm_awp'}",
              "--method", f"TPSMM+AWP={tmp_path / 'sets' / 'tpsmm_awp'}", "--db", url]  # fmt: skip
    assert main(create) == 0
    said = capsys.readouterr().out
    assert (
        "LivePortrait vs FOMM+AWP: 4 pairs" in said and "LivePortrait vs TPSMM+AWP: 4 pairs" in said
    )
