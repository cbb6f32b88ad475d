"""`tpsmm-au`, the MEGC2022 entry: 50 landmark keypoints as the fixed TPS control points,
the AU-difference vector in every decoder stage, training from the AU engine's tracks,
animation from the driving onset."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import make_prepared

from fme.core.errors import ConfigError
from generation.config import build_run_config, config_path, merge, read_yaml
from generation.models import build_model, default_config
from generation.models.tpsmm.au import LANDMARK_KEYPOINTS, TPS_GROUPS

VARIANT = "tpsmm-au"


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_changes() -> dict:
    return {
        "dense_motion": {"block_expansion": 8, "max_features": 32, "num_blocks": 3},
        "inpainting": {"block_expansion": 8, "max_features": 32},
        "avd": {"id_bottle_size": 16, "pose_bottle_size": 16},
        "loss": {"vgg_weights": False, "scales": [1, 0.5]},
    }


def tiny_model():
    torch.manual_seed(0)
    return build_model(VARIANT, merge(default_config(VARIANT, "small"), tiny_changes()))


def _landmarks(b: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 68, 2, generator=g) * (size - 8) + 4


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("prep"), subjects=4, clips_per_subject=2)


# ---- config and keypoints --------------------------------------------------------------


def test_configs_are_the_entrys():
    paper = default_config(VARIANT, "paper")
    assert paper["num_tps"] == 10 and paper["bg_predictor"]["enabled"] is False
    assert paper["inpainting"] == {"block_expansion": 64, "max_features": 512, "num_down_blocks": 3}
    assert paper["dense_motion"]["max_features"] == 1024 and paper["image_size"] == 256
    assert paper["schedule"]["dropout_maxp"] == 0.7 and paper["schedule"]["dropout_startp"] == 0
    assert paper["animation"]["adapt_movement_scale"] is False
    assert default_config(VARIANT, "small")["image_size"] == 64
    with pytest.raises(ConfigError, match="10 transforms"):
        build_model(VARIANT, merge(default_config(VARIANT), {"num_tps": 8}))
    with pytest.raises(ConfigError, match="unknown"):
        build_model(VARIANT, merge(default_config(VARIANT), {"au": {"gain": 1}}))
    # the vanilla config is untouched by the variant (no `au` section, background on)
    assert (
        "au" not in default_config("tpsmm") and default_config("tpsmm")["bg_predictor"]["enabled"]
    )


def test_the_50_landmarks_and_their_groups_are_the_entrys():
    # kpmaker.py of MEA-LAB-421/MEGC2022-Generation: parts 1 2 5 8 9 10 13 16 17, 18-28, 31-60
    entry = [1, 2, 5, 8, 9, 10, 13, 16, 17, *range(18, 29), *range(31, 61)]
    assert list(LANDMARK_KEYPOINTS) == entry and len(entry) == 50
    assert [list(g) for g in TPS_GROUPS] == [entry[5 * k : 5 * k + 5] for k in range(10)]
    assert TPS_GROUPS[4] == (31, 32, 33, 34, 35)  # the nose base is one transform


def test_the_landmarks_are_the_fixed_control_points():
    model = tiny_model()
    assert model.kp_detector is None and model.bg_predictor is None
    assert not any(n.startswith("kp_detector.") for n, _ in model.named_parameters())
    lms = _landmarks(2)
    image = torch.rand(2, 3, 64, 64)
    kp = model.keypoints(image, lms)
    # by hand: pixel centres 0..63 -> [-1, 1]
    expected = lms.numpy()[:, list(LANDMARK_KEYPOINTS)] * (2 / 63) - 1
    np.testing.assert_allclose(kp.numpy(), expected, atol=1e-6)
    # the image does not move them
    torch.testing.assert_close(model.keypoints(torch.rand(2, 3, 64, 64), lms), kp)
    with pytest.raises(ConfigError, match="landmarks"):
        model.keypoints(image, None)
    # and they are what the splines interpolate: transform k takes its 5 driving points
    # (nearly, the system is regularised by 0.01) to the source's
    from generation.models.tpsmm.tps import KeypointTPS

    kp_s = model.keypoints(image, _landmarks(2, seed=1))
    tps = KeypointTPS(kp.view(2, 10, 5, 2), kp_s.view(2, 10, 5, 2))
    torch.testing.assert_close(tps.control_points, kp.view(2, 10, 5, 2))
    moved = torch.stack(
        [tps.warp_coordinates(kp[:, 5 * k : 5 * k + 5])[:, k] for k in range(10)], 1
    )
    err = (moved - kp_s.view(2, 10, 5, 2)).abs().max()
    assert err < 0.1 * (kp_s - kp).abs().max(), err


# ---- the AU vector in every decoder stage ------------------------------------------------


def test_the_au_vector_enters_every_decoder_stage():
    model = tiny_model()
    model.eval()
    net = model.inpainting_network
    assert net.num_cond_channels == 17 and net.num_down_blocks == 3
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        net.resblock[2 * i].register_forward_pre_hook(
            lambda _m, args, i=i: seen.__setitem__(i, args[0].detach())
        )
        for i in range(net.num_down_blocks)
    ]
    x = torch.rand(2, 3, 64, 64)
    lms = _landmarks(2)
    aus = torch.rand(2, 17) * 3
    try:
        _, out = model.training_losses(x, x.flip(0), lms, lms.flip(0), aus)
    finally:
        for h in hooks:
            h.remove()
    for i in range(3):  # each stage's input ends with the vector / 5, constant over space
        tail = seen[i][:, -17:]
        want = (aus / 5)[:, :, None, None].expand_as(tail)
        torch.testing.assert_close(tail, want)
    # perturbation: a different AU vector changes the output
    _, other = model.training_losses(x, x.flip(0), lms, lms.flip(0), aus + 1)
    assert (other["prediction"] - out["prediction"]).abs().max() > 1e-5


def test_the_au_vector_gets_a_gradient_through_every_decoder_stage():
    model = tiny_model()
    model.train()
    model.config["au"]["noise"] = 0.0
    x = torch.rand(2, 3, 64, 64)
    lms = _landmarks(2)
    aus = (torch.rand(2, 17) * 3).requires_grad_(True)
    losses, _ = model.training_losses(x, x.flip(0), lms, lms.flip(0), aus)
    sum(losses.values()).backward()
    assert aus.grad is not None and aus.grad.abs().sum() > 0
    net = model.inpainting_network
    for i in range(net.num_down_blocks):
        # the weights reading the 17 condition channels, in each stage's up block and
        # residual blocks, all get a gradient
        for conv in (net.up_blocks[i].conv, net.resblock[2 * i + 1].conv1):
            assert conv.weight.grad[:, -17:].abs().sum() > 0, (i, conv)


def test_vanilla_inpainting_has_no_condition_channels():
    van = build_model("tpsmm", merge(default_config("tpsmm"), tiny_changes()))
    au = tiny_model()
    assert van.inpainting_network.num_cond_channels == 0
    a, b = van.inpainting_network.state_dict(), au.inpainting_network.state_dict()
    assert list(a) == list(b)  # the reference's names, so its decoder layout
    grown = {n for n in a if a[n].shape != b[n].shape}
    assert grown and all(n.startswith(("resblock.", "up_blocks.")) for n in grown)
    for n in grown:  # by the 17 condition channels, nothing else
        assert sorted(set(b[n].shape) - set(a[n].shape)) == [a[n].shape[0] + 17] or (
            b[n].shape[1] == a[n].shape[1] + 17
        ), n


# ---- data path, training, animation ------------------------------------------------------


def _run(iterations: int):
    overrides = {"iterations": iterations, "batch_size": 4, "log_every": 1, "sample_every": 0,
                 "checkpoint_every": 0, "holdout": 0.25, "lr": 1e-3}  # fmt: skip
    data = read_yaml(config_path("cpu-64"))
    data["model"] = tiny_changes()
    return build_run_config(VARIANT, data, "cpu-64", overrides)


def test_training_inputs_are_the_au_engines_differences(prepared):
    from generation.au import clip_au_track
    from generation.data.prepared import load_prepared

    clips = load_prepared(prepared)
    model = tiny_model()
    dataset = model.training_dataset(clips, _run(1).train)
    for i in range(4):
        item = dataset[i]
        c, s, d, *_ = dataset.pair_indices(i)
        track = clip_au_track(dataset.clips[c].clip).values
        batch = {k: (v[None] if torch.is_tensor(v) else v) for k, v in item.items()}
        diff = model.training_inputs(batch)[4][0]
        np.testing.assert_allclose(diff.numpy(), track[d] - track[s], atol=1e-6)


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    from generation.training.train import train

    out = tmp_path_factory.mktemp("run") / VARIANT
    result = train(_run(30), prepared, out, device="cpu", progress=False)
    return out, result


@pytest.mark.slow
def test_training_lowers_the_loss(trained):
    out, result = trained
    with (out / "log.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30
    assert "bg" not in rows[0] or rows[-1]["bg"] == ""
    rec = np.array([float(r["perceptual"]) for r in rows])
    assert rec[-6:].mean() < 0.7 * rec[:6].mean(), (rec[:6].mean(), rec[-6:].mean())
    assert result.model.variant == VARIANT


@pytest.mark.slow
def test_animation_takes_the_driving_clips_au_differences_from_its_onset(trained, prepared):
    from generation.animation.animate import animate_clip, load_driving
    from generation.au import estimate_from_landmarks
    from generation.checkpoints.checkpoint import load_model

    out, _ = trained
    model = load_model(out / "checkpoint.pt")
    assert model.variant == VARIANT
    clip_dir = sorted(Path(prepared).glob("casme2/*/*"))[0]
    drive = load_driving(clip_dir, 64)
    onset = 2
    cond = model.driving_condition(drive, None, None)
    track = estimate_from_landmarks(drive.landmarks, drive.onset_index).values
    np.testing.assert_allclose(cond, track - track[drive.onset_index], atol=1e-6)
    seen = []
    original = model.driving_condition

    def spy(clip, *args, **kwargs):
        seen.append(clip.onset_index)
        return original(clip, *args, **kwargs)

    model.driving_condition = spy
    target = drive.frames[0]
    video = animate_clip(model, target, drive.landmarks[0], drive.frames, drive.landmarks,
                         onset_index=onset)  # fmt: skip
    assert seen == [onset] and video.shape == drive.frames.shape
    # the condition is used: a large AU change gives other frames
    model.driving_condition = lambda clip, *a, **k: np.full((len(clip.frames), 17), 4.0, np.float32)
    moved = animate_clip(model, target, drive.landmarks[0], drive.frames, drive.landmarks,
                         onset_index=onset)  # fmt: skip
    assert np.abs(moved.astype(int) - video.astype(int)).max() > 0
