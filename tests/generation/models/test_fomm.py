"""FOMM variants, their upstream parameter names, and the losses (CPU, small sizes)."""

from __future__ import annotations

import logging

import pytest
import torch

from fme.core.errors import ConfigError
from generation.models import build_model, default_config
from generation.training.losses import (
    RandomTransform,
    ReconstructionLoss,
    Vgg19,
    equivariance_losses,
    load_vgg19,
)

VARIANTS = ("fomm", "fomm-ewp", "fomm-awp")


def _scene(shift: float, size: int = 64) -> torch.Tensor:
    """A smooth synthetic 'face': a coloured blob with two dark eyes, moved by `shift` px."""
    yy, xx = torch.meshgrid(torch.arange(size * 1.0), torch.arange(size * 1.0), indexing="ij")
    s = size / 64
    img = torch.stack([0.3 + 0.4 * xx / (size - 1), 0.2 + 0.5 * yy / (size - 1), 0.4 + 0 * xx])
    cx = 32 * s + shift
    blob = torch.exp(-((xx - cx) ** 2 / (60 * s * s) + (yy - 30 * s) ** 2 / (100 * s * s)))
    eyes = sum(
        torch.exp(-((xx - cx + dx * s) ** 2 + (yy - 26 * s) ** 2) / (6 * s * s)) for dx in (-6, 6)
    )
    img = img * (1 - blob) + blob * torch.tensor([0.9, 0.7, 0.6])[:, None, None] - 0.5 * eyes
    return img.clamp(0, 1)


def _landmarks(batch: int, size: int = 64, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 68, 2, generator=g) * (size * 0.5) + size * 0.25


def _model(variant: str, **loss):
    torch.manual_seed(0)
    cfg = default_config(variant, "small")
    cfg["loss"].update(loss)
    return build_model(variant, cfg)


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_shapes_and_losses(variant):
    model = _model(variant).train()
    b = 2
    src, drv = torch.rand(b, 3, 64, 64), torch.rand(b, 3, 64, 64)
    lm = _landmarks(b)
    losses, out = model.training_losses(src, drv, lm, lm + 1.5)
    k = 10 if variant == "fomm" else 18
    assert out["prediction"].shape == (b, 3, 64, 64)
    assert out["kp_source"].shape == out["kp_driving"].shape == (b, k, 2)
    assert out["occlusion_map"].shape == (b, 1, 32, 32)  # dense motion at scale 0.5
    assert out["mask"].shape == (b, k + 1, 32, 32)
    torch.testing.assert_close(out["mask"].sum(1), torch.ones(b, 32, 32))
    expected = {"reconstruction", "equivariance_jacobian"}
    if variant == "fomm":
        expected.add("equivariance_value")  # prior variants take their positions as given
    assert set(losses) == expected
    assert all(v.ndim == 0 and torch.isfinite(v) and v > 0 for v in losses.values())
    assert set(model.param_groups()) == {"generator", "kp_detector"}  # small: no GAN
    assert model.perceptual is False  # no VGG weights here: the L1 pyramid

    model.eval()
    with torch.inference_mode():
        state = model.encode_source(src[:1], lm[:1])
        frames = model.animate(state, drv, lm, drv[:1], lm[:1])
    assert frames.shape == (b, 3, 64, 64)
    assert 0 <= frames.min() and frames.max() <= 1


def test_prior_keypoints_replace_learned_positions_and_move_with_landmarks():
    model = _model("fomm-ewp").eval()
    assert model.kp_detector.kp is None  # no position head: positions come from the prior
    image = torch.rand(2, 3, 64, 64)
    lm = _landmarks(1).repeat(2, 1, 1)
    lm[1, :, 0] += 5.0  # second frame: the face moved 5 px right
    with torch.no_grad():
        kp = model.detect(image, lm)
    torch.testing.assert_close(kp["value"], model.prior.keypoints(lm, 64))
    torch.testing.assert_close(
        kp["value"][1, :, 0] - kp["value"][0, :, 0], torch.full((18,), 10 / 63)
    )
    assert kp["jacobian"].shape == (2, 18, 2, 2)
    with pytest.raises(ConfigError):
        model.detect(image, None)


def test_awp_receives_gradient_through_training_losses_and_changes():
    model = _model("fomm-awp").train()
    awp = model.prior.awp
    assert any(p is awp.conv1.weight for p in model.param_groups()["kp_detector"])
    before = awp.conv1.weight.detach().clone()
    lm = _landmarks(2)
    losses, _ = model.training_losses(
        torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), lm, lm + 2
    )
    sum(losses.values()).backward()
    assert awp.conv1.weight.grad.abs().sum() > 0
    assert awp.conv2.weight.grad.abs().sum() > 0
    opt = torch.optim.Adam(model.param_groups()["kp_detector"], lr=1e-3)
    opt.step()
    assert not torch.equal(before, awp.conv1.weight)


def test_upstream_parameter_names_and_shapes_paper_config():
    """Exact upstream FOMM vox-256 names; shapes worked out from the vox-256 config."""
    model = build_model("fomm", default_config("fomm", "paper"))
    sd = {
        f"{name}.{k}": tuple(v.shape)
        for name, module in model.upstream_modules().items()
        for k, v in module.state_dict().items()
    }
    expected = {
        # 32 (block_expansion) + 3 input channels = 35 channels into the heads
        "kp_detector.kp.weight": (10, 35, 7, 7),
        "kp_detector.jacobian.weight": (40, 35, 7, 7),
        "kp_detector.jacobian.bias": (40,),
        # scale 0.25: sigma 1.5, kernel 2 * round(6) + 1 = 13
        "kp_detector.down.weight": (3, 1, 13, 13),
        "kp_detector.predictor.encoder.down_blocks.0.conv.weight": (64, 3, 3, 3),
        "kp_detector.predictor.encoder.down_blocks.4.conv.weight": (1024, 512, 3, 3),
        "kp_detector.predictor.decoder.up_blocks.0.conv.weight": (512, 1024, 3, 3),
        "kp_detector.predictor.decoder.up_blocks.4.norm.running_var": (32,),
        # (10 + 1) * (3 + 1) = 44 channels into the dense-motion hourglass
        "generator.dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight": (
            128,
            44,
            3,
            3,
        ),
        # hourglass out: 64 + 44 = 108
        "generator.dense_motion_network.mask.weight": (11, 108, 7, 7),
        "generator.dense_motion_network.occlusion.weight": (1, 108, 7, 7),
        "generator.dense_motion_network.down.weight": (3, 1, 13, 13),
        "generator.first.conv.weight": (64, 3, 7, 7),
        "generator.down_blocks.1.conv.weight": (256, 128, 3, 3),
        "generator.bottleneck.r5.conv2.weight": (256, 256, 3, 3),
        "generator.bottleneck.r0.norm1.num_batches_tracked": (),
        "generator.up_blocks.0.conv.weight": (128, 256, 3, 3),
        "generator.up_blocks.1.conv.weight": (64, 128, 3, 3),
        "generator.final.weight": (3, 64, 7, 7),
        "discriminator.discs.1.down_blocks.0.conv.weight_orig": (64, 3, 4, 4),
        "discriminator.discs.1.down_blocks.3.conv.weight_orig": (512, 256, 4, 4),
        "discriminator.discs.1.down_blocks.3.norm.weight": (512,),
        "discriminator.discs.1.conv.weight_orig": (1, 512, 1, 1),
        "discriminator.discs.1.conv.weight_u": (1,),
    }
    for key, shape in expected.items():
        assert sd.get(key) == shape, key
    assert "discriminator.discs.1.down_blocks.0.norm.weight" not in sd  # first block: no norm
    assert "generator.bottleneck.r6.conv1.weight" not in sd  # exactly 6 bottleneck blocks
    assert not any(k.startswith("prior") for k in sd)


def test_prior_detector_reads_the_prior_channel_paper_config():
    model = build_model("fomm-awp", default_config("fomm-awp", "paper"))
    sd = {k: tuple(v.shape) for k, v in model.kp_detector.state_dict().items()}
    assert sd["predictor.encoder.down_blocks.0.conv.weight"] == (64, 4, 3, 3)  # RGB + prior
    assert sd["jacobian.weight"] == (72, 36, 7, 7)  # 18 keypoints * 4
    assert "kp.weight" not in sd
    assert tuple(model.prior.awp.conv1.weight.shape) == (9, 18, 3, 3)


def test_upstream_state_dict_round_trip_loads_strictly(tmp_path):
    model = _model("fomm").eval()
    path = tmp_path / "vox.pth.tar"
    torch.save({k: m.state_dict() for k, m in model.upstream_modules().items()}, path)
    fresh = _model("fomm")
    torch.manual_seed(123)
    for p in fresh.parameters():  # make sure the load really overwrites everything
        p.data.normal_()
    ckpt = torch.load(path, weights_only=True)
    for name, module in fresh.upstream_modules().items():
        module.load_state_dict(ckpt[name], strict=True)
    fresh.eval()
    src, drv = _scene(0)[None], _scene(3)[None]
    with torch.no_grad():
        a = model.animate(model.encode_source(src), drv, None, src, None)
        b = fresh.animate(fresh.encode_source(src), drv, None, src, None)
    torch.testing.assert_close(a, b)


def test_encode_once_animation_matches_full_forward_and_relative_identity():
    model = _model("fomm").eval()
    src = _scene(0)[None]
    drv = torch.stack([_scene(2), _scene(-3), _scene(5)])
    with torch.no_grad():
        state = model.encode_source(src)
        absolute = model.animate(state, drv, None, src, None, mode="absolute")
        kp_s = model.kp_detector(src)
        kp_d = model.kp_detector(drv)
        full = model.generator(src.expand(3, -1, -1, -1), kp_d, kp_s)["prediction"]
        torch.testing.assert_close(absolute, full, atol=1e-5, rtol=1e-4)
        # relative mode with the initial frame as driving: exactly the source keypoints
        rel = model.animate(state, drv[:1], None, drv[:1], None, mode="relative")
        same = model.generator(src, kp_s, kp_s)["prediction"]
        torch.testing.assert_close(rel, same, atol=1e-5, rtol=1e-4)
    with pytest.raises(ConfigError):
        model.animate(state, drv, None, src, None, mode="sideways")


def test_bf16_autocast_stays_close_to_fp32():
    model = _model("fomm-ewp").eval()
    src, drv = _scene(0)[None], torch.stack([_scene(2), _scene(4)])
    lm = _landmarks(1)
    lms = torch.cat([lm + 1, lm + 2])
    with torch.inference_mode():
        ref = model.animate(model.encode_source(src, lm), drv, lms, src, lm)
        model.set_autocast("bf16")
        low = model.animate(model.encode_source(src, lm), drv, lms, src, lm)
    assert low.dtype == torch.float32
    assert (low - ref).abs().mean() < 0.02
    with pytest.raises(ConfigError):
        model.set_autocast("fp8")


@pytest.mark.slow
def test_short_overfit_lowers_reconstruction_loss():
    model = _model("fomm-awp").train()
    src, drv = _scene(0)[None], _scene(4)[None]
    lm = _landmarks(1)
    opts = [torch.optim.Adam(p, lr=2e-4, betas=(0.5, 0.999)) for p in model.param_groups().values()]
    history = []
    for _ in range(40):
        losses, out = model.training_losses(src, drv, lm, lm + torch.tensor([4.0, 0.0]))
        for opt in opts:
            opt.zero_grad()
        sum(losses.values()).backward()
        for opt in opts:
            opt.step()
        history.append(losses["reconstruction"].item())
    first, last = sum(history[:5]) / 5, sum(history[-5:]) / 5
    assert last < 0.4 * first, (first, last)


def test_gan_terms_and_discriminator_group():
    model = _model("fomm", generator_gan=1, discriminator_gan=1).train()
    groups = model.param_groups()
    assert set(groups) == {"generator", "kp_detector", "discriminator"}
    assert groups["discriminator"] and groups["generator"]  # else the all() checks are vacuous
    src, drv = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    losses, out = model.training_losses(src, drv, None, None)
    assert {"generator_gan", "feature_matching"} <= set(losses)
    d_losses = model.discriminator_losses(drv, out)
    assert set(d_losses) == {"discriminator_gan"} and d_losses["discriminator_gan"] > 0
    for p in groups["discriminator"]:
        p.grad = None
    d_losses["discriminator_gan"].backward()
    assert all(p.grad is not None for p in groups["discriminator"])
    assert all(p.grad is None for p in groups["generator"])  # prediction was detached


def test_config_errors():
    cfg = default_config("fomm", "small")
    cfg["generator"]["num_bottlenecks"] = 3
    with pytest.raises(ConfigError, match="num_bottlenecks"):
        build_model("fomm", cfg)
    with pytest.raises(ConfigError, match="hourglass"):  # vox hourglass below 128 px
        build_model("fomm", {**default_config("fomm", "paper"), "image_size": 64})
    with pytest.raises(ConfigError, match="18"):
        build_model("fomm-ewp", default_config("fomm", "small"))
    cfg = default_config("fomm", "small")
    cfg["generator"]["dense_motion"]["heatmaps"] = "sum"
    with pytest.raises(ConfigError, match="heatmaps"):
        build_model("fomm", cfg)


def test_dense_motion_heatmap_input_and_old_configs():
    """ "both" adds the driving heatmaps to the hourglass input (K+1 more channels); the paper
    config keeps upstream's difference; a config written before the option (no key) builds
    the upstream network, so its checkpoint still loads."""
    small, paper = default_config("fomm", "small"), default_config("fomm", "paper")
    assert small["generator"]["dense_motion"]["heatmaps"] == "both"
    assert paper["generator"]["dense_motion"]["heatmaps"] == "difference"

    def first_conv(cfg):
        dmn = build_model("fomm", cfg).generator.dense_motion_network
        return next(m for m in dmn.hourglass.modules() if isinstance(m, torch.nn.Conv2d))

    k1 = small["common"]["num_kp"] + 1
    assert first_conv(small).in_channels == k1 * 5
    old = default_config("fomm", "small")
    del old["generator"]["dense_motion"]["heatmaps"]
    assert first_conv(old).in_channels == k1 * 4
    # a partial section is filled from the small defaults, as every other key is
    partial = default_config("fomm", "small")
    partial["generator"]["dense_motion"] = {"num_blocks": 3}
    assert first_conv(partial).in_channels == k1 * 5
    bad = default_config("fomm", "small")
    bad["generator"] = None
    with pytest.raises(ConfigError, match="generator"):
        build_model("fomm", bad)


# ---- losses ------------------------------------------------------------------------------

# torchvision vgg19 `features` convolutions up to relu5_1, written down by hand.
TORCHVISION_VGG19 = {
    0: (64, 3),
    2: (64, 64),
    5: (128, 64),
    7: (128, 128),
    10: (256, 128),
    12: (256, 256),
    14: (256, 256),
    16: (256, 256),
    19: (512, 256),
    21: (512, 512),
    23: (512, 512),
    25: (512, 512),
    28: (512, 512),
}


def test_vgg19_keys_and_shapes_equal_torchvision():
    sd = Vgg19().state_dict()
    expected = {}
    for i, (out_c, in_c) in TORCHVISION_VGG19.items():
        expected[f"features.{i}.weight"] = (out_c, in_c, 3, 3)
        expected[f"features.{i}.bias"] = (out_c,)
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    feats = Vgg19()(torch.rand(1, 3, 32, 32))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (64, 32, 32),
        (128, 16, 16),
        (256, 8, 8),
        (512, 4, 4),
        (512, 2, 2),
    ]


def test_vgg19_loads_a_torchvision_file_and_warns_without_one(tmp_path, monkeypatch, caplog):
    torch.manual_seed(0)
    source = Vgg19()
    state = dict(source.state_dict())
    state["features.30.weight"] = torch.zeros(512, 512, 3, 3)  # layers past relu5_1 ...
    state["classifier.0.weight"] = torch.zeros(4, 8)  # ... and the classifier are ignored
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    vgg = load_vgg19(path)
    torch.testing.assert_close(vgg.features[28].weight, source.features[28].weight)
    assert not any(p.requires_grad for p in vgg.parameters())

    with pytest.raises(ConfigError, match="not found"):
        load_vgg19(tmp_path / "missing.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match="torchvision"):
        load_vgg19(tmp_path / "bad.pth")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    with caplog.at_level(logging.WARNING):
        assert load_vgg19(None) is None
    assert "L1 pyramid" in caplog.text
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth")
    assert isinstance(load_vgg19(None), Vgg19)  # found in torch's hub cache


def test_l1_pyramid_fallback_value():
    loss = ReconstructionLoss([1, 0.5], [10, 10, 10, 10, 10], vgg=None)
    a = torch.zeros(1, 3, 16, 16)
    b = torch.full((1, 3, 16, 16), 0.1)
    # constant images stay constant under the blur: 2 scales * 50 * 0.1 (borders aside)
    value = loss(a, b).item()
    assert 9.0 < value <= 10.0 + 1e-5


def test_random_transform_jacobian_inverse_and_equivariance_zero():
    torch.manual_seed(0)
    t = RandomTransform(3, sigma_affine=0.05, sigma_tps=0.005, points_tps=5)
    z = torch.rand(3, 10, 2) * 1.6 - 0.8
    zz = z.clone().requires_grad_(True)
    warped = t.warp_coordinates(zz)
    rows = [torch.autograd.grad(warped[..., i].sum(), zz, retain_graph=True)[0] for i in range(2)]
    torch.testing.assert_close(t.jacobian(z), torch.stack(rows, dim=-2))
    torch.testing.assert_close(t.warp_coordinates(t.inverse(z)), z, atol=1e-5, rtol=0)
    # a perfectly equivariant detector scores 0 on both terms
    jd = torch.eye(2).expand(3, 10, 2, 2) + 0.1 * torch.randn(3, 10, 2, 2)
    kp_t_value = t.inverse(z)
    kp_t = {"value": kp_t_value, "jacobian": torch.linalg.inv(t.jacobian(kp_t_value)) @ jd}
    losses = equivariance_losses({"value": z, "jacobian": jd}, kp_t, t, 10.0, 10.0)
    assert losses["equivariance_value"] < 1e-4 and losses["equivariance_jacobian"] < 1e-4
    # identity transform leaves a frame unchanged
    ident = RandomTransform(1, sigma_affine=0.0, sigma_tps=0.0)
    frame = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(ident.transform_frame(frame), frame)


def test_inference_path_folds_batch_norm_exactly_and_follows_updates():
    """Animation (eval, no autograd) folds BN into the convs; it must equal the plain path."""
    model = _model("fomm-ewp")
    g = torch.Generator().manual_seed(5)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):  # non-trivial statistics and affine terms
            mod.running_mean.copy_(0.1 * torch.randn(mod.num_features, generator=g))
            mod.running_var.copy_(0.5 + torch.rand(mod.num_features, generator=g))
            mod.weight.data.copy_(0.5 + torch.rand(mod.num_features, generator=g))
            mod.bias.data.copy_(0.1 * torch.randn(mod.num_features, generator=g))
    model.eval()
    src, drv = _scene(0)[None], torch.stack([_scene(2), _scene(-2)])
    lm = _landmarks(1)
    lms = torch.cat([lm + 2, lm - 2])

    def plain():  # autograd on: the unfused modules
        kp_s, kp_d = model.detect(src, lm), model.detect(drv, lms)
        return model.generator(src.expand(2, -1, -1, -1), kp_d, kp_s)["prediction"].detach()

    with torch.inference_mode():
        fast = model.animate(model.encode_source(src, lm), drv, lms, src, lm, mode="absolute")
    torch.testing.assert_close(fast, plain(), atol=1e-5, rtol=1e-4)
    with torch.no_grad():  # an in-place update (an optimizer step, a load) must be seen
        model.generator.up_blocks[-1].norm.bias.add_(0.2)
        model.generator.bottleneck.r0.conv1.weight.mul_(1.05)
        fast2 = model.animate(model.encode_source(src, lm), drv, lms, src, lm, mode="absolute")
    assert (fast2 - fast).abs().max() > 1e-3
    torch.testing.assert_close(fast2, plain(), atol=1e-5, rtol=1e-4)


def test_upblock_phase_decomposition_equals_upsample_then_conv():
    """Inference computes nearest-x2 + 3x3 conv as four 2x2 convs on the small image."""
    from generation.models.blocks import UpBlock2d

    torch.manual_seed(0)
    block = UpBlock2d(6, 5)
    block.norm.running_mean.normal_()
    block.norm.running_var.uniform_(0.5, 2.0)
    block.norm.weight.data.uniform_(0.5, 1.5)
    block.eval()
    x = torch.randn(2, 6, 7, 9)  # odd sizes: the borders must be right too
    plain = block(x).detach()  # autograd on: upsample, conv, BN
    with torch.no_grad():
        fast = block(x)
    assert fast.shape == plain.shape == (2, 5, 14, 18)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-4)
