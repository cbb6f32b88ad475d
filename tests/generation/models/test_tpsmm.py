"""TPSMM in the engine: its config against the reference's vox-256 file, the TPS fit
against an independent solve, the dropout schedule, training (falling loss), the AVD
stage, animation modes, `fme animate`, and the import of a reference checkpoint."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from engine_helpers import make_prepared

from fme.core.errors import ConfigError
from generation.checkpoints.checkpoint import (
    import_tpsmm,
    load_model,
    save_checkpoint,
    tpsmm_config_from_reference,
)
from generation.config import build_run_config, config_path, merge, read_yaml
from generation.models import build_model, default_config
from generation.models.tpsmm.dense_motion import dropout_softmax
from generation.models.tpsmm.tps import KeypointTPS

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "upstream" / "tpsmm"


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_changes() -> dict:
    """Model-section changes that shrink the small CPU config further (tests only)."""
    return {
        "kp_detector": {"width": 8},
        "bg_predictor": {"width": 8},
        "dense_motion": {"block_expansion": 8, "max_features": 32, "num_blocks": 3},
        "inpainting": {"block_expansion": 8, "max_features": 32},
        "avd": {"id_bottle_size": 16, "pose_bottle_size": 16},
        "loss": {"vgg_weights": False, "scales": [1, 0.5]},
    }


def tiny_config(variant: str = "tpsmm", size: int = 64) -> dict:
    cfg = merge(default_config(variant, "small"), tiny_changes())
    cfg["image_size"] = size
    return cfg


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("prep"), subjects=4, clips_per_subject=2)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ---- config ---------------------------------------------------------------------------


def test_paper_config_is_the_references_vox256_file():
    """The reference's own config/vox-256.yaml (the fixture's copy), read by the import's
    converter, gives exactly our paper config."""
    theirs = tpsmm_config_from_reference(yaml.safe_load((FIXTURE / "config.yaml").read_text()))
    ours = default_config("tpsmm", "paper")
    assert theirs == ours
    assert ours["num_tps"] == 10 and ours["inpainting"]["num_down_blocks"] == 3
    assert ours["schedule"]["dropout_until"] == pytest.approx(35 / 100)
    assert ours["schedule"]["bg_start"] == pytest.approx(10 / 100)
    assert ours["loss"]["perceptual"] == [10] * 5 and ours["loss"]["warp_loss"] == 10


def test_bad_configs_are_config_errors():
    with pytest.raises(ConfigError, match="grouping"):
        build_model("tpsmm-ewp", merge(tiny_config("tpsmm-ewp"), {"prior": {"grouping": "x"}}))
    with pytest.raises(ConfigError, match="stage"):
        build_model("tpsmm", merge(tiny_config(), {"stage": "gan"}))
    with pytest.raises(ConfigError, match="unknown TPSMM"):
        build_model("tpsmm", {**tiny_config(), "num_regions": 10})
    with pytest.raises(ConfigError, match="hourglass"):
        build_model("tpsmm", tiny_config(size=8))


# ---- TPS ------------------------------------------------------------------------------


def test_tps_matches_an_independent_float64_solve():
    """theta and the RBF weights of the regularised system, and the warp of random
    points, against numpy in float64 written from the paper's formula."""
    g = torch.Generator().manual_seed(0)
    kp_d = torch.rand(2, 3, 5, 2, generator=g) * 1.6 - 0.8
    kp_s = kp_d + 0.1 * torch.randn(2, 3, 5, 2, generator=g)
    tps = KeypointTPS(kp_d, kp_s)
    z = torch.rand(2, 7, 2, generator=g) * 2 - 1
    warped = tps.warp_coordinates(z)
    for b in range(2):
        for k in range(3):
            p = kp_d[b, k].double().numpy()
            r2 = ((p[:, None] - p[None]) ** 2).sum(-1)
            big = np.zeros((8, 8))
            big[:5, :5] = r2 * np.log(r2 + 1e-9)
            big[:5, 5:] = np.c_[p, np.ones(5)]
            big[5:, :5] = big[:5, 5:].T
            big += 0.01 * np.eye(8)
            sol = np.linalg.solve(big, np.r_[kp_s[b, k].double().numpy(), np.zeros((3, 2))])
            np.testing.assert_allclose(tps.theta[b, k].numpy(), sol[5:].T, atol=2e-5)
            np.testing.assert_allclose(tps.control_params[b, k].numpy(), sol[:5], atol=2e-4)
            q = z[b].double().numpy()
            d2 = ((q[:, None] - p[None]) ** 2).sum(-1)
            expect = np.c_[q, np.ones(7)] @ sol[5:] + (d2 * np.log(d2 + 1e-9)) @ sol[:5]
            np.testing.assert_allclose(warped[b, k].numpy(), expect, atol=2e-5)
    # control points land near their targets (the 0.01 regulariser leaves a small residual)
    at_points = tps.warp_coordinates(kp_d.view(2, 15, 2)).view(2, 3, 3, 5, 2)
    own = torch.stack([at_points[:, k, k] for k in range(3)], 1)
    assert (own - kp_s).abs().max() < 0.03


def test_tps_dropout_keeps_the_background_and_drops_tps_maps_at_rate_p():
    torch.manual_seed(0)
    logits = torch.randn(4000, 11, 2, 2)
    out = dropout_softmax(logits, 0.3)
    # normalised with +1e-6 as upstream: the sums fall short of 1 by less than 1e-3
    assert torch.allclose(out.sum(1), torch.ones(4000, 2, 2), atol=1e-3)
    dropped = out[:, 1:, 0, 0] == 0
    assert dropped.float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert not (out[:, 0] == 0).any()


def test_dropout_and_background_schedule_follow_the_reference_epochs():
    """Upstream (100 epochs): p = min(epoch / 10 * 0.3 + 0.1, 0.3) until epoch 35, then
    none; background motion from epoch 10."""
    model = build_model("tpsmm", tiny_config())
    for epoch in (0, 3, 6, 9, 20, 34, 35, 80):
        model.set_training_progress(epoch / 100)
        expect = None if epoch >= 35 else min(epoch / 10 * 0.3 + 0.1, 0.3)
        got = model.dropout_p()
        assert got == (None if expect is None else pytest.approx(expect))
        assert model.bg_active() == (epoch >= 10)


# ---- training -------------------------------------------------------------------------


def _run(variant: str, iterations: int, **train):
    overrides = {"iterations": iterations, "batch_size": 4, "log_every": 1, "sample_every": 0,
                 "checkpoint_every": 0, "holdout": 0.25, "lr": 1e-3, **train}  # fmt: skip
    data = read_yaml(config_path("cpu-64"))
    data["model"] = tiny_changes()
    return build_run_config(variant, data, "cpu-64", overrides)


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    from generation.training.train import train

    out = tmp_path_factory.mktemp("run") / "tpsmm"
    result = train(_run("tpsmm", 40), prepared, out, device="cpu", progress=False)
    return out, result


def test_training_lowers_the_loss_with_every_reference_term(trained):
    out, result = trained
    rows = _rows(out / "log.csv")
    assert len(rows) == 40
    assert {"perceptual", "equivariance_value", "warp_loss", "bg", "total"} <= set(rows[0])
    # the background term starts at 10% of training (step 4 of 40)
    assert rows[2]["bg"] == "" and float(rows[-1]["bg"]) > 0
    rec = np.array([float(r["perceptual"]) for r in rows])
    assert rec[-8:].mean() < 0.7 * rec[:8].mean(), (rec[:8].mean(), rec[-8:].mean())
    l1 = np.array([float(r["l1"]) for r in rows])
    assert l1[-8:].mean() < l1[:8].mean()
    # the background predictor was trained (its fc starts at the identity)
    fc = result.model.bg_predictor.bg_encoder.fc
    assert fc.weight.abs().sum() > 0


def test_after_backward_clips_and_decays_like_upstreams_adam():
    """Gradients clipped to max-norm 10 on the detector and dense motion; weight decay
    added as torch's Adam(weight_decay=1e-4) adds it."""
    model = build_model("tpsmm", tiny_config())
    for p in model.parameters():
        p.grad = torch.full_like(p, 50.0)
    model.set_training_progress(0.0)  # background not yet in use: not clipped
    model.after_backward()
    w = model.kp_detector.fg_encoder.fc.weight
    assert torch.allclose(w.grad, 10.0 + 1e-4 * w.detach())
    w = model.inpainting_network.final.weight
    assert torch.allclose(w.grad, 50.0 + 1e-4 * w.detach())
    w = model.bg_predictor.bg_encoder.conv1.weight
    assert torch.allclose(w.grad, 50.0 + 1e-4 * w.detach())


def test_avd_stage_trains_only_the_avd_network(trained, prepared, tmp_path):
    from generation.training.train import train

    out, first = trained
    run = _run("tpsmm", 30, batch_size=8)
    run.model["stage"] = "avd"
    result = train(run, prepared, tmp_path / "avd", device="cpu", init=out / "checkpoint.pt")
    rows = _rows(tmp_path / "avd" / "log.csv")
    loss = np.array([float(r["avd"]) for r in rows])
    assert loss[-6:].mean() < 0.8 * loss[:6].mean(), (loss[:6], loss[-6:])
    before, after = first.model.state_dict(), result.model.state_dict()
    for key in before:
        if key.startswith("avd_network.") and key.endswith("weight"):
            assert not torch.equal(before[key], after[key]), key
        elif not key.startswith("avd_network."):
            assert torch.equal(before[key], after[key]), key  # frozen, BN statistics too


# ---- animation ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["standard", "relative", "avd"])
def test_animation_modes(trained, mode):
    """A still driving clip in relative mode gives the source's own reconstruction; every
    mode gives frames of the driving length."""
    from generation.animation.animate import animate_clip

    _, result = trained
    model = result.model.eval()
    rng = np.random.default_rng(0)
    target = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    driving = (rng.random((5, 64, 64, 3)) * 255).astype(np.uint8)
    lms = np.zeros((5, 68, 2), np.float32)
    out = animate_clip(model, target, lms[0], driving, lms, mode=mode, batch_size=2)
    assert out.shape == (5, 64, 64, 3)
    if mode == "relative":
        still = animate_clip(model, target, lms[0], np.repeat(driving[:1], 3, 0), lms[:3])
        x = torch.from_numpy(target).permute(2, 0, 1)[None].float() / 255
        state = model.encode_source(x)
        own = model.animate(state, x, None, x, None, mode="standard")
        ref = (own[0].permute(1, 2, 0).numpy() * 255).round()
        assert np.abs(still.astype(float) - ref[None]).max() <= 1


def test_avd_animate_is_the_avd_mode(trained):
    _, result = trained
    model = result.model.eval()
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    state = model.encode_source(x[:1])
    a = model.avd_animate(state, x[1:])
    b = model.animate(state, x[1:], None, x[1:2], None, mode="avd")
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="mode"):
        model.animate(state, x[1:], None, x[1:2], None, mode="sideways")


# ---- checkpoints ----------------------------------------------------------------------


def test_import_of_a_reference_checkpoint_with_its_own_config(tmp_path):
    """A checkpoint in the reference's format (state dicts under its keys, optimizer and
    epoch beside them) with its own config file: every tensor taken, same outputs."""
    import subprocess
    import sys

    cfg = tiny_config()
    net = build_model("tpsmm", cfg).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ckpt = {k: m.state_dict() for k, m in net.upstream_modules().items()}
    ckpt["optimizer"] = {"state": {}, "param_groups": []}
    ckpt["epoch"] = 99
    torch.save(ckpt, tmp_path / "vox.pth.tar")
    theirs = yaml.safe_load((FIXTURE / "config.yaml").read_text())
    mp = theirs["model_params"]
    mp["generator_params"].update(block_expansion=8, max_features=32)
    mp["dense_motion_params"].update(block_expansion=8, max_features=32, num_blocks=3)
    mp["avd_network_params"] = {"id_bottle_size": 16, "pose_bottle_size": 16}
    theirs["dataset_params"]["frame_shape"] = [64, 64, 3]
    theirs["train_params"]["scales"] = [1, 0.5]
    (tmp_path / "vox.yaml").write_text(yaml.safe_dump(theirs))
    # the reference's own config names ResNet-18s of width 64: these tensors do not fit
    with pytest.raises(ConfigError, match="fg_encoder.conv1.weight"):
        import_tpsmm(tmp_path / "vox.pth.tar", tmp_path / "a.pt", config_file=tmp_path / "vox.yaml")
    # with a config of ours the widths are ours and every tensor fits
    ours = {"scale": "small", "model": {**tiny_changes(), "image_size": 64}}
    (tmp_path / "ours.yaml").write_text(yaml.safe_dump(ours))
    out = tmp_path / "b.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "fme", "import-checkpoint", "--from", "tpsmm", str(tmp_path / "vox.pth.tar"),
         "--out", str(out), "--config", str(tmp_path / "ours.yaml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    loaded = load_model(out)
    with open(str(out) + ".import.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["status"] for r in rows if not r["detail"]} == {"taken"}  # every tensor
    assert {r["tensor"]: r["detail"] for r in rows if r["detail"]}.get(
        "epoch"
    ) == "taken as the step"
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = net.animate(net.encode_source(x[:1]), x[1:], None, x[1:], None, mode="standard")
        b = loaded.animate(loaded.encode_source(x[:1]), x[1:], None, x[1:], None, mode="standard")
    assert torch.equal(a, b)


def test_save_load_round_trip_and_wrong_variant(tmp_path):
    net = build_model("tpsmm", tiny_config())
    path = save_checkpoint(tmp_path / "c.pt", net, 3)
    loaded = load_model(path)
    for (k, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ConfigError, match="variant"):
        load_model(path, variant="mraa")
    assert math.isfinite(float(sum(p.detach().sum() for p in loaded.parameters())))


@pytest.mark.slow
def test_fme_animate_and_megc_with_a_tpsmm_checkpoint(trained, prepared, tmp_path):
    """`fme animate` in each mode and a MEGC set from a tpsmm run's checkpoint."""
    import subprocess
    import sys

    from engine_helpers import write_templates

    from generation.animation.megc import DriverSpec, make_megc_set
    from generation.data.video import read_video

    out, _ = trained
    templates = write_templates(tmp_path / "templates")
    clip = prepared / "casme2" / "sub01" / "EP01_01"
    for mode in ("relative", "avd"):
        video = tmp_path / f"{mode}.mp4"
        cmd = [sys.executable, "-m", "fme", "animate", "--checkpoint", str(out / "checkpoint.pt"),
               "--target", str(templates[0]), "--driving", str(clip), "--out", str(video),
               "--mode", mode, "--device", "cpu"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert len(read_video(video)) == 8
    result = make_megc_set(
        out / "checkpoint.pt", tmp_path / "templates", [DriverSpec(str(clip))], tmp_path / "set",
        progress=False,
    )  # fmt: skip
    assert len(result.videos) == 2 and result.frames == 2 * 8


# ---- facial prior -----------------------------------------------------------------------


def _face_landmarks(batch: int, seed: int = 0) -> torch.Tensor:
    """Face-like dlib-68 points inside a 64 px image (pixels), jittered per item."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 2 * math.pi, 68)
    base = torch.stack([0.5 + 0.3 * torch.cos(3 * t) * torch.sin(t), 0.5 + 0.3 * torch.sin(2 * t)])
    return base.T * 63 + torch.randn(batch, 68, 2, generator=g)


@pytest.mark.parametrize("grouping", ["regions", "sequential"])
def test_prior_keypoints_are_the_tps_control_points_of_their_groups(grouping):
    from generation.face.prior import prior_keypoints
    from generation.models.tpsmm.model import REGION_GROUPS

    cfg = merge(tiny_config("tpsmm-ewp"), {"prior": {"grouping": grouping}})
    model = build_model("tpsmm-ewp", cfg).eval()
    assert model.kp_detector.fg_encoder.conv1.in_channels == 4  # image + prior channel
    lms = _face_landmarks(2)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        kp = model.keypoints(x, lms)
    prior = prior_keypoints(lms) * (2 / 63) - 1  # independent: pixels -> [-1, 1]
    groups = REGION_GROUPS if grouping == "regions" else [range(5 * k, 5 * k + 5) for k in range(4)]
    for k, group in enumerate(groups):
        for j, idx in enumerate(group):
            slot = 5 * k + j
            if grouping == "sequential" and idx >= 18:
                continue  # slots 18, 19 of transform 3 are learned
            assert torch.allclose(kp[:, slot], prior[:, idx], atol=1e-6), (k, j)
    learned = model.slots < 0
    expect = 50 - (30 if grouping == "regions" else 18)
    assert int(learned.sum()) == expect
    with torch.no_grad():
        free = model.kp_detector(x, torch.zeros(2, 1, 64, 64))["fg_kp"]
    assert not torch.allclose(kp[:, learned], prior.new_zeros(1))
    assert free.shape == kp.shape


def test_awp_layer_gets_a_gradient_and_equivariance_leaves_prior_points_out():
    torch.manual_seed(0)
    model = build_model("tpsmm-awp", tiny_config("tpsmm-awp"))
    model.train()
    model.set_training_progress(0.5)
    lms = _face_landmarks(2)
    x = torch.rand(2, 3, 64, 64)
    losses, _ = model.training_losses(x, x.flip(-1), lms, lms + 0.5)
    assert {"perceptual", "equivariance_value", "warp_loss", "bg"} <= set(losses)
    sum(losses.values()).backward()
    grads = [p.grad for p in model.prior.awp.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    # with every keypoint a prior point there is nothing for the equivariance term
    cfg = merge(tiny_config("tpsmm-ewp"), {"num_tps": 6, "prior": {"grouping": "regions"}})
    full = build_model("tpsmm-ewp", cfg)
    assert bool((full.slots >= 0).all())
    losses, _ = full.training_losses(x, x, lms, lms)
    assert "equivariance_value" not in losses


@pytest.mark.parametrize("variant", ["tpsmm-ewp", "tpsmm-awp"])
def test_prior_variants_train_with_a_falling_loss(variant, prepared, tmp_path):
    from generation.training.train import train

    train(_run(variant, 30), prepared, tmp_path / "run", device="cpu", progress=False)
    rec = np.array([float(r["perceptual"]) for r in _rows(tmp_path / "run" / "log.csv")])
    assert rec[-6:].mean() < 0.7 * rec[:6].mean(), (rec[:6].mean(), rec[-6:].mean())


def test_init_from_a_checkpoint_of_another_config_is_refused(prepared, tmp_path):
    from generation.training.train import train

    other = build_model("tpsmm", merge(tiny_config(), {"kp_detector": {"width": 4}}))
    ckpt = save_checkpoint(tmp_path / "other.pt", other, 0)
    with pytest.raises(ConfigError, match="another model config"):
        train(_run("tpsmm", 2), prepared, tmp_path / "run", device="cpu", init=ckpt)
    fomm = save_checkpoint(tmp_path / "fomm.pt", build_model("fomm"), 0)
    with pytest.raises(ConfigError, match="variant fomm"):
        train(_run("tpsmm", 2), prepared, tmp_path / "run", device="cpu", init=fomm)
