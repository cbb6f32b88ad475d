"""MRAA's AVD network: reference names load strictly, its stage learns, `--mode avd`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import astronaut_face, make_prepared, small_model_config

from fme.core.errors import ConfigError
from generation.checkpoints.checkpoint import import_checkpoint, load_model, save_checkpoint
from generation.models import build_model
from generation.models.mraa.avd import AVDNetwork, random_axis_scale

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "upstream" / "mraa"


def reference_avd_state(num_regions: int, id_bottle: int, pose_bottle: int) -> dict:
    """A state dict laid out as the reference's `avd_network` (written out by hand from
    its layer list: Linear / BatchNorm1d / ReLU x3, then Linear, in nn.Sequential)."""
    gen = torch.Generator().manual_seed(5)
    size = 6 * num_regions
    state = {}

    def linear(name, n_in, n_out):
        state[f"{name}.weight"] = torch.randn(n_out, n_in, generator=gen) * 0.05
        state[f"{name}.bias"] = torch.randn(n_out, generator=gen) * 0.05

    def norm(name, n):
        state[f"{name}.weight"] = 1 + 0.1 * torch.randn(n, generator=gen)
        state[f"{name}.bias"] = 0.1 * torch.randn(n, generator=gen)
        state[f"{name}.running_mean"] = 0.1 * torch.randn(n, generator=gen)
        state[f"{name}.running_var"] = 1 + 0.1 * torch.rand(n, generator=gen)
        state[f"{name}.num_batches_tracked"] = torch.tensor(100)

    for part, bottle in (("id_encoder", id_bottle), ("pose_encoder", pose_bottle)):
        widths = [size, 256, 512, 1024]
        for i in range(3):
            linear(f"{part}.{3 * i}", widths[i], widths[i + 1])
            norm(f"{part}.{3 * i + 1}", widths[i + 1])
        linear(f"{part}.9", 1024, bottle)
    widths = [id_bottle + pose_bottle, 1024, 512, 256]
    for i in range(3):
        linear(f"decoder.{3 * i}", widths[i], widths[i + 1])
        norm(f"decoder.{3 * i + 1}", widths[i + 1])
    linear("decoder.9", 256, size)
    return state


def test_a_reference_avd_network_loads_strictly_and_drives_avd_mode(tmp_path):
    up = torch.load(FIXTURE / "checkpoint.pth", weights_only=True)
    up["avd_network"] = reference_avd_state(10, 64, 64)
    file = tmp_path / "with_avd.pth"
    torch.save(up, file)
    out = tmp_path / "mraa.pt"
    report = import_checkpoint("mraa", file, out, config_file=FIXTURE / "config.yaml", size=128)
    assert not report.unused and not report.initialised and not report.missing_modules
    model = load_model(out)
    # the sizes of the reference YAML (avd_network_params), every tensor the file's
    assert model.config["avd_network"] == {"id_bottle_size": 64, "pose_bottle_size": 64}
    strict = AVDNetwork(10, 64, 64)
    strict.load_state_dict(up["avd_network"], strict=True)
    for name, tensor in model.avd_network.state_dict().items():
        assert torch.equal(tensor, up["avd_network"][name]), name
    assert "avd" in model.animation_modes()
    # mode "avd": the generator is driven by the AVD network's regions
    ref = torch.load(FIXTURE / "reference_outputs.pt", weights_only=True)
    x = ref["frames_uint8"].float() / 255
    state = model.encode_source(x[:1])
    pred = model.animate(state, x[1:], None, x[1:2], None, mode="avd")
    with torch.no_grad():
        drv = model.regions(x[1:], None)
        regions = strict.eval()(state.regions, drv)
        src = {k: v.expand(3, *v.shape[1:]) for k, v in state.regions.items()}
        expected = model.generator(x[:1].expand(3, -1, -1, -1), regions, src)["prediction"]
    assert (pred - expected).abs().max() < 1e-4
    relative = model.animate(state, x[1:], None, x[1:2], None, mode="relative")
    assert (pred - relative).abs().max() > 1e-3


def test_models_without_avd_refuse_the_mode():
    for variant in ("fomm", "mraa"):
        model = build_model(variant, small_model_config(variant))
        assert model.animation_modes() == ("standard", "relative")
        with pytest.raises(ConfigError, match="no trained AVD network"):
            model.check_mode("avd")
        assert model.check_mode("absolute") == "standard"
        with pytest.raises(ConfigError, match="unknown animation mode"):
            model.check_mode("sideways")


def test_random_axis_scale_scales_x_and_y_per_sample():
    regions = {"shift": torch.ones(4, 3, 2), "affine": torch.eye(2).expand(4, 3, 2, 2)}
    out = random_axis_scale(regions, 0.25, torch.Generator().manual_seed(0))
    factors = out["shift"][:, 0]  # (4, 2): one factor per axis and sample
    assert ((factors >= 0.75) & (factors <= 1.25)).all()
    assert torch.allclose(out["shift"], factors[:, None, :].expand(4, 3, 2))
    assert torch.allclose(out["affine"], torch.diag_embed(factors)[:, None].expand(4, 3, 2, 2))


@pytest.mark.slow
def test_the_avd_stage_lowers_its_loss_and_feeds_fme_animate(tmp_path):
    from PIL import Image

    from fme.cli import main
    from generation.data.video import probe

    data = make_prepared(tmp_path / "prep", subjects=2, clips_per_subject=1, n_frames=5)
    torch.manual_seed(0)
    model = build_model("mraa", small_model_config("mraa"))
    ckpt = save_checkpoint(tmp_path / "mraa.pt", model, step=12)
    (tmp_path / "avd.yaml").write_text(
        "avd: {batch_size: 6, id_bottle_size: 16, pose_bottle_size: 16, log_every: 4}\n"
    )
    run = ["train", "--stage", "avd", "--data", str(data), "--out", str(tmp_path / "avd")]
    assert main([*run, "--config", str(tmp_path / "avd.yaml")]) == 2  # no --resume-from
    run += ["--resume-from", str(ckpt), "--config", str(tmp_path / "avd.yaml")]
    assert main([*run, "--iterations", "24", "--device", "cpu", "--quiet"]) == 0
    with (tmp_path / "avd" / "avd_log.csv").open() as fh:
        totals = [float(r["total"]) for r in csv.DictReader(fh)]
    assert len(totals) >= 4
    assert np.mean(totals[-2:]) < 0.7 * totals[0]
    trained = load_model(tmp_path / "avd" / "checkpoint.pt")
    # the frozen networks are the checkpoint's; only the AVD network was added
    for name, tensor in model.state_dict().items():
        assert torch.equal(trained.state_dict()[name], tensor), name
    assert trained.config["avd_network"] == {"id_bottle_size": 16, "pose_bottle_size": 16}
    face, _ = astronaut_face()
    Image.fromarray(face).save(tmp_path / "target.png")
    driving = str(next(data.glob("*/*/*/frames")).parent)
    animate = ["animate", "--target", str(tmp_path / "target.png"), "--driving", driving]
    out = tmp_path / "avd.mp4"
    args = [*animate, "--checkpoint", str(tmp_path / "avd" / "checkpoint.pt"), "--out", str(out)]
    assert main([*args, "--mode", "avd", "--find-best-frame", "--device", "cpu"]) == 0
    assert probe(out).n_frames == 5
    # the reconstruction checkpoint has no AVD network: one line, exit 2, nothing written
    none = tmp_path / "none.mp4"
    args = [*animate, "--checkpoint", str(ckpt), "--out", str(none), "--mode", "avd"]
    assert main(args) == 2 and not none.exists()


def test_revert_axis_swap_signs_the_identity_by_the_pose():
    # the reference: A_id times sign((A_id A_pose^-1)[0, 0]), per sample and region, so the
    # output does not change when the identity's PCA frame comes out with the other sign
    torch.manual_seed(0)
    net = AVDNetwork(3, 8, 8).eval()
    off = AVDNetwork(3, 8, 8, revert_axis_swap=False).eval()
    off.load_state_dict(net.state_dict())
    gen = torch.Generator().manual_seed(1)
    identity = {
        "shift": torch.rand(4, 3, 2, generator=gen),
        "affine": torch.randn(4, 3, 2, 2, generator=gen),
    }
    pose = {
        "shift": torch.rand(4, 3, 2, generator=gen),
        "affine": torch.randn(4, 3, 2, 2, generator=gen),
    }
    flipped = {"shift": identity["shift"], "affine": -identity["affine"]}
    a_id, a_pose = identity["affine"].double().numpy(), pose["affine"].double().numpy()
    sign = np.sign((a_id @ np.linalg.inv(a_pose))[..., 0, 0])[..., None, None]
    assert (sign < 0).any() and (sign > 0).any()  # both cases occur
    signed = {"shift": identity["shift"], "affine": torch.from_numpy(a_id * sign).float()}
    with torch.no_grad():
        out, out_flipped = net(identity, pose), net(flipped, pose)
        expected = off(signed, pose)
        unsigned, unsigned_flipped = off(identity, pose), off(flipped, pose)
    for key in ("shift", "affine", "covar"):
        assert torch.allclose(out[key], expected[key], atol=1e-5), key
        assert torch.allclose(out[key], out_flipped[key], atol=1e-5), key
    assert (unsigned["shift"] - unsigned_flipped["shift"]).abs().max() > 1e-3
