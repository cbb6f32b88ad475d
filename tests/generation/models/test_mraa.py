"""MRAA with and without the facial prior: shapes, PCA regions, prior centres, AWP
gradient, upstream state dicts, animation modes, and a short training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fme.core.errors import ConfigError
from generation.models import build_model, default_config
from generation.models.base import hull_area
from generation.models.mraa.model import MRAA, relative_regions
from generation.models.mraa.model import default_config as mraa_default_config
from generation.models.mraa.region_predictor import (
    covariance_sqrt,
    heatmap_moments,
    inverse2x2,
    symmetric_eig2x2,
)

VARIANTS = ("mraa", "mraa-ewp", "mraa-awp")


@pytest.fixture(autouse=True)
def _one_thread():
    """These networks are tiny: one thread is as fast, and does not spin-wait when the
    cores are busy with other work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(variant: str, be: int = 8) -> dict:
    """The small config shrunk further for CPU tests (3-block hourglasses)."""
    cfg = default_config(variant, "small")
    cfg["loss"]["vgg_weights"] = False  # always the L1 pyramid, even with VGG cached
    cfg["loss"]["scales"] = [1, 0.5]
    cfg["region_predictor"].update(block_expansion=be, max_features=8 * be, num_blocks=3)
    cfg["bg_predictor"].update(block_expansion=be, max_features=4 * be, num_blocks=3)
    cfg["generator"].update(block_expansion=be, max_features=4 * be, num_bottleneck_blocks=1)
    cfg["generator"]["pixelwise_flow_predictor_params"].update(
        block_expansion=be, max_features=8 * be, num_blocks=3
    )
    return cfg


def fake_landmarks(batch: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Face-like 68 points: a jittered template inside the image (pixels)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 2 * math.pi, 68)
    base = torch.stack([0.5 + 0.3 * torch.cos(3 * t) * torch.sin(t), 0.5 + 0.3 * torch.sin(2 * t)])
    base = base.T * torch.tensor([w - 1.0, h - 1.0])
    return base + torch.randn(batch, 68, 2, generator=g)


# ---- PCA region parameters -------------------------------------------------------------


def gaussian_heatmap(mean, covar, size: int = 128) -> torch.Tensor:
    """A normalised Gaussian on the [-1, 1] pixel-centre grid, (1, 1, size, size)."""
    r = torch.linspace(-1, 1, size, dtype=torch.float64)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    d = torch.stack([xx - mean[0], yy - mean[1]], -1)
    p = torch.linalg.inv(torch.tensor(covar, dtype=torch.float64))
    g = torch.exp(-0.5 * torch.einsum("hwi,ij,hwj->hw", d, p, d))
    return (g / g.sum()).float()[None, None]


def test_pca_affine_recovers_known_covariance():
    # major axis at 30 degrees with sd 0.2, minor axis sd 0.1
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    rot = np.array([[c, -s], [s, c]])
    covar = rot @ np.diag([0.04, 0.01]) @ rot.T
    heat = gaussian_heatmap((0.1, -0.2), covar)
    mean, cov = heatmap_moments(heat)
    assert torch.allclose(mean[0, 0], torch.tensor([0.1, -0.2]), atol=1e-4)
    assert torch.allclose(cov[0, 0], torch.tensor(covar, dtype=torch.float32), atol=2e-4)
    affine, u, d = covariance_sqrt(cov)
    # by hand: U = rotation(30 deg), sqrt(L) = (0.2, 0.1), affine = U diag(0.2, 0.1)
    expected = torch.tensor([[0.2 * c, -0.1 * s], [0.2 * s, 0.1 * c]])
    assert torch.allclose(affine[0, 0], expected, atol=1e-3)
    assert torch.allclose(torch.diagonal(d[0, 0]), torch.tensor([0.2, 0.1]), atol=1e-3)
    assert torch.linalg.det(u[0, 0]).item() == pytest.approx(1.0, abs=1e-5)


def test_pca_axes_for_axis_aligned_and_isotropic_covariances():
    covar = torch.tensor(
        [[[0.01, 0.0], [0.0, 0.04]], [[0.09, 0.0], [0.0, 0.01]], [[0.02, 0.0], [0.0, 0.02]]]
    )
    values, u = symmetric_eig2x2(covar)
    assert torch.allclose(values, torch.tensor([[0.04, 0.01], [0.09, 0.01], [0.02, 0.02]]))
    # vertical major axis: U is the +90 degree rotation; horizontal or isotropic: I
    assert torch.allclose(u[0], torch.tensor([[0.0, -1.0], [1.0, 0.0]]), atol=1e-6)
    assert torch.allclose(u[1], torch.eye(2), atol=1e-6)
    assert torch.allclose(u[2], torch.eye(2), atol=1e-6)
    affine, _, _ = covariance_sqrt(covar)
    assert torch.allclose(affine[0], torch.tensor([[0.0, -0.1], [0.2, 0.0]]), atol=1e-6)
    assert torch.allclose(affine @ affine.transpose(-1, -2), covar, atol=1e-7)


def test_covariance_about_given_centre_adds_the_offset():
    # parallel-axis rule: second moment about c = covar + (mean - c)(mean - c)^T
    heat = gaussian_heatmap((0.0, 0.0), [[0.02, 0.005], [0.005, 0.01]])
    _, cov = heatmap_moments(heat, centres=torch.tensor([[[0.1, -0.2]]]))
    expected = torch.tensor([[0.02 + 0.01, 0.005 - 0.02], [0.005 - 0.02, 0.01 + 0.04]])
    assert torch.allclose(cov[0, 0], expected, atol=2e-4)


def test_inverse2x2_and_hull_area():
    m = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    assert torch.allclose(inverse2x2(m), torch.tensor([[0.6, -0.2], [-0.2, 0.4]]))
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0.5]])
    assert hull_area(square) == pytest.approx(4.0)
    assert hull_area(np.array([[0, 0], [3, 0], [0, 4]])) == pytest.approx(6.0)
    assert hull_area(np.array([[0, 0], [1, 1], [2, 2]])) == pytest.approx(0.0)


def test_relative_regions_scale_and_compose():
    unit = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    a_s = torch.diag(torch.tensor([0.2, 0.1])).expand(1, 4, 2, 2)
    a_0 = torch.diag(torch.tensor([0.3, 0.3])).expand(1, 4, 2, 2)
    source = {"shift": 2 * unit, "affine": a_s}  # hull area 4
    initial = {"shift": unit, "affine": a_0}  # hull area 1 -> movement scale 2
    covar_d = torch.tensor([[0.05, 0.01], [0.01, 0.02]]).expand(1, 4, 2, 2)
    driving = {"shift": unit + torch.tensor([0.1, -0.05]), "affine": rot @ a_0, "covar": covar_d}
    new = relative_regions(source, driving, initial)
    assert torch.allclose(new["shift"], 2 * unit + torch.tensor([0.2, -0.1]))
    assert torch.allclose(new["affine"], (rot @ a_s).expand(1, 4, 2, 2), atol=1e-6)
    # the reference keeps the driving frame's own covariance (not A A^T of the new affine)
    assert torch.equal(new["covar"], covar_d)
    fixed = relative_regions(source, driving, initial, adapt_movement_scale=False)
    assert torch.allclose(fixed["shift"], 2 * unit + torch.tensor([0.1, -0.05]))


# ---- the models ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_forward_shapes(variant, size):
    h, w = size
    model = build_model(variant, tiny_config(variant))
    k = 10 if variant == "mraa" else 18
    source, driving = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
    lm_s, lm_d = fake_landmarks(2, h, w, 0), fake_landmarks(2, h, w, 1)
    losses, out = model.training_losses(source, driving, lm_s, lm_d)
    expected = {"reconstruction", "equivariance_affine"}
    if variant == "mraa":  # with a prior the centres are given: no shift equivariance
        expected.add("equivariance_shift")
    assert set(losses) == expected
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    assert out["prediction"].shape == (2, 3, h, w)
    assert out["deformed"].shape == (2, 3, h, w)
    assert out["occlusion_map"].shape == (2, 1, h // 2, w // 2)
    assert out["driving_shift"].shape == (2, k, 2)
    assert out["driving_affine"].shape == (2, k, 2, 2)
    assert out["bg_params"].shape == (2, 3, 3)

    model.eval()
    state = model.encode_source(source[:1], lm_s[:1])
    frames = torch.rand(3, 3, h, w)
    for mode in ("relative", "standard"):
        video = model.animate(
            state, frames, fake_landmarks(3, h, w, 2), driving[:1], lm_d[:1], mode
        )
        assert video.shape == (3, 3, h, w)
        assert video.min() >= 0 and video.max() <= 1


def test_config_checks():
    assert default_config("mraa", "paper")["num_regions"] == 10
    assert default_config("mraa-awp", "paper")["num_regions"] == 18
    cfg = tiny_config("mraa-ewp")
    cfg["num_regions"] = 10
    with pytest.raises(ConfigError, match="18"):
        build_model("mraa-ewp", cfg)
    with pytest.raises(ConfigError, match="unknown MRAA config key"):
        build_model("mraa", {"generator": {"skip": True}})
    # 5 hourglass blocks at scale 0.25 need 128 px or more
    with pytest.raises(ConfigError, match="hourglass"):
        build_model("mraa", {**default_config("mraa", "paper"), "image_size": 64})
    with pytest.raises(ConfigError, match="not an MRAA variant"):
        mraa_default_config("fomm", "small")
    # a partial config is completed from the small default
    model = build_model("mraa", {"loss": {"vgg_weights": False}})
    assert model.config["generator"] == default_config("mraa", "small")["generator"]
    model.eval()
    x = torch.rand(1, 3, 64, 64)
    state = model.encode_source(x, None)
    with pytest.raises(ConfigError, match="avd"):
        model.animate(state, x, None, x, None, mode="avd")
    standard = model.animate(state, x.flip(-1), None, x, None, mode="standard")
    assert torch.equal(standard, model.animate(state, x.flip(-1), None, x, None, mode="absolute"))
    with pytest.raises(ConfigError, match="landmarks"):
        build_model("mraa-ewp", tiny_config("mraa-ewp")).regions(x, None)


def test_awp_layer_receives_gradient():
    model = build_model("mraa-awp", tiny_config("mraa-awp"))
    awp = model.prior.awp
    assert awp is not None
    params = list(awp.parameters())
    assert params  # else the checks below pass vacuously
    trained = {id(p) for p in model.param_groups()["reconstruction"]}
    assert all(id(p) in trained for p in params)
    lm = fake_landmarks(2, 64, 64)
    losses, _ = model.training_losses(
        torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), lm, lm + 1
    )
    sum(losses.values()).backward()
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all()
        assert p.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", ["mraa-ewp", "mraa-awp"])
def test_region_centres_are_the_prior_keypoints(variant):
    model = build_model(variant, tiny_config(variant)).eval()
    h, w = 64, 96
    lm = fake_landmarks(2, h, w)
    image = torch.rand(2, 3, h, w)
    # the 18 keypoints by hand: 12 landmarks, then 6 moved by half the inner-eye distance
    direct = [19, 24, 27, 38, 41, 43, 46, 48, 54, 55, 57, 59]
    ed = lm[:, 42, 0] - lm[:, 39, 0]
    moved = [
        lm[:, 31] - torch.stack([ed / 2, 0 * ed], -1),
        lm[:, 35] + torch.stack([ed / 2, 0 * ed], -1),
        lm[:, 41] + torch.stack([0 * ed, ed / 2], -1),
        lm[:, 46] + torch.stack([0 * ed, ed / 2], -1),
        lm[:, 48] - torch.stack([ed / 2, 0 * ed], -1),
        lm[:, 54] + torch.stack([ed / 2, 0 * ed], -1),
    ]
    pixels = torch.cat([lm[:, direct], torch.stack(moved, 1)], 1)
    expected = torch.stack([pixels[..., 0] * 2 / (w - 1) - 1, pixels[..., 1] * 2 / (h - 1) - 1], -1)
    with torch.no_grad():
        regions = model.regions(image, lm)
        assert torch.allclose(regions["shift"], expected, atol=1e-5)
        # landmarks 2 px right and 1 px up: every centre moves by that, in [-1, 1] units
        shifted = model.regions(image, lm + torch.tensor([2.0, -1.0]))["shift"]
    step = torch.tensor([2 * 2 / (w - 1), -1 * 2 / (h - 1)])
    assert torch.allclose(shifted - regions["shift"], step.expand_as(shifted), atol=1e-5)
    # the prior channel enters the region predictor: the shapes change with the landmarks
    assert not torch.allclose(shifted, regions["shift"])


def test_vanilla_upstream_state_dicts_load_strictly(tmp_path):
    torch.manual_seed(1)
    first = build_model("mraa", tiny_config("mraa"))
    path = tmp_path / "upstream.pth"
    torch.save({k: m.state_dict() for k, m in first.upstream_modules().items()}, path)
    torch.manual_seed(2)
    second = build_model("mraa", tiny_config("mraa"))
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) == {"generator", "region_predictor", "bg_predictor"}
    for key, module in second.upstream_modules().items():
        module.load_state_dict(checkpoint[key], strict=True)
    first.eval(), second.eval()
    x, y = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64)
    a = first.animate(first.encode_source(x, None), y, None, y[:1], None)
    b = second.animate(second.encode_source(x, None), y, None, y[:1], None)
    assert torch.equal(a, b)


def test_paper_config_has_the_upstream_names_and_shapes():
    model = build_model("mraa", default_config("mraa", "paper"))
    shapes = {
        k: {n: tuple(t.shape) for n, t in m.state_dict().items()}
        for k, m in model.upstream_modules().items()
    }
    # vox256 by hand: 10 regions; hourglass 32/1024/5 on 3 channels -> 35 filters out
    rp = shapes["region_predictor"]
    assert rp["regions.weight"] == (10, 35, 7, 7)
    assert rp["down.weight"] == (3, 1, 13, 13)  # scale 0.25: sigma 1.5, kernel 13
    assert rp["predictor.encoder.down_blocks.4.conv.weight"] == (1024, 512, 3, 3)
    assert rp["predictor.decoder.up_blocks.0.conv.weight"] == (512, 1024, 3, 3)
    assert not any(n.startswith("jacobian") for n in rp)
    bg = shapes["bg_predictor"]
    assert bg["fc.weight"] == (6, 1024) and bg["fc.bias"] == (6,)
    assert bg["encoder.down_blocks.0.conv.weight"] == (64, 6, 3, 3)
    gen = shapes["generator"]
    # flow hourglass input: (10 + 1) motions x (3 warped channels + 1 heatmap) = 44
    assert gen["pixelwise_flow_predictor.hourglass.encoder.down_blocks.0.conv.weight"] == (
        128,
        44,
        3,
        3,
    )
    assert gen["pixelwise_flow_predictor.mask.weight"] == (11, 108, 7, 7)
    assert gen["pixelwise_flow_predictor.occlusion.weight"] == (1, 108, 7, 7)
    assert gen["first.conv.weight"] == (64, 3, 7, 7)
    assert gen["down_blocks.1.conv.weight"] == (256, 128, 3, 3)
    assert gen["up_blocks.0.conv.weight"] == (128, 256, 3, 3)
    assert gen["bottleneck.r5.conv2.weight"] == (256, 256, 3, 3)
    assert gen["final.weight"] == (3, 64, 7, 7)
    assert "bottleneck.r6.conv1.weight" not in gen
    with torch.no_grad():
        assert torch.equal(model.bg_predictor.fc.bias, torch.tensor([1.0, 0, 0, 0, 1, 0]))


def test_animate_is_batched_and_matches_the_generator():
    torch.manual_seed(0)
    model = build_model("mraa-awp", tiny_config("mraa-awp")).eval()
    x, frames = torch.rand(1, 3, 64, 64), torch.rand(4, 3, 64, 64)
    lm_x, lm_f = fake_landmarks(1, 64, 64, 3), fake_landmarks(4, 64, 64, 4)
    state = model.encode_source(x, lm_x)
    batch = model.animate(state, frames, lm_f, frames[:1], lm_f[:1])
    single = torch.cat(
        [
            model.animate(state, frames[i : i + 1], lm_f[i : i + 1], frames[:1], lm_f[:1])
            for i in range(4)
        ]
    )
    assert torch.allclose(batch, single, atol=1e-5)
    # driving frame == initial frame: the source's shifts and affines drive the generator,
    # with the driving frame's own covariance (the reference's relative rule)
    with torch.no_grad():
        src = model.regions(x, lm_x)
        drv = model.regions(frames[:1], lm_f[:1])
        new = {"shift": src["shift"], "affine": src["affine"], "covar": drv["covar"]}
        still = model.generator(x, new, src)["prediction"]
    assert torch.allclose(batch[0], still[0], atol=1e-4)
    # different driving landmarks give a different animation
    assert (batch[1:] - batch[0]).abs().amax() > 1e-4


def test_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    model = build_model("mraa-awp", tiny_config("mraa-awp")).eval()
    x, frames = torch.rand(1, 3, 64, 64), torch.rand(3, 3, 64, 64)
    lm_x, lm_f = fake_landmarks(1, 64, 64, 1), fake_landmarks(3, 64, 64, 2)
    fp32 = model.animate(model.encode_source(x, lm_x), frames, lm_f, frames[:1], lm_f[:1])
    model.set_autocast("bf16")
    bf16 = model.animate(model.encode_source(x, lm_x), frames, lm_f, frames[:1], lm_f[:1])
    assert bf16.dtype == torch.float32
    assert (bf16 - fp32).abs().mean() < 0.02
    assert (bf16 - fp32).abs().mean() > 0  # autocast did take effect


@pytest.mark.parametrize("variant", ["mraa", "mraa-awp"])
def test_equivariance_losses_vanish_without_a_transform(variant):
    cfg = tiny_config(variant)
    cfg["transform"] = {"sigma_affine": 0.0, "sigma_tps": 0.0, "points_tps": 5}
    model = build_model(variant, cfg).eval()
    lm = fake_landmarks(2, 64, 64)
    with torch.no_grad():
        losses, _ = model.training_losses(
            torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), lm, lm
        )
    for name in ("equivariance_shift", "equivariance_affine"):
        if name in losses:
            assert losses[name].item() < 1e-4
    cfg["transform"] = {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5}
    model = build_model(variant, cfg).eval()
    with torch.no_grad():
        losses, _ = model.training_losses(
            torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), lm, lm
        )
    assert losses["equivariance_affine"].item() > 1e-3


# ---- a short training run ----------------------------------------------------------------


def astronaut_frames(n: int = 6, size: int = 64, seed: int = 0):
    """Frames of the astronaut's face under small random similarity transforms, and
    their dlib landmarks moved by the same transforms: (n, 3, S, S), (n, 68, 2)."""
    from skimage import data
    from skimage import transform as sktf

    from generation.face.detect import crop_box, detect_faces, landmarks68

    image = data.astronaut()
    box = detect_faces(image)[0]
    landmarks = landmarks68(image, box)
    x0, y0, x1, y1 = crop_box(box, image.shape, 0.25)
    crop = sktf.resize(image[y0:y1, x0:x1], (size, size), anti_aliasing=True)
    base = (landmarks - [x0, y0]) * (size / (x1 - x0))
    rng = np.random.default_rng(seed)
    centre = np.array([size / 2 - 0.5, size / 2 - 0.5])
    frames, points = [], []
    for _ in range(n):
        angle = np.deg2rad(rng.uniform(-5, 5))
        a = rng.uniform(0.95, 1.05) * np.array(
            [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        )
        matrix = np.eye(3)
        matrix[:2, :2] = a
        matrix[:2, 2] = centre + rng.uniform(-3, 3, 2) - a @ centre
        tf = sktf.AffineTransform(matrix=matrix)
        frames.append(sktf.warp(crop, tf.inverse, mode="edge"))
        points.append(base @ a.T + matrix[:2, 2])
    video = torch.tensor(np.stack(frames), dtype=torch.float32).permute(0, 3, 1, 2)
    return video.contiguous(), torch.tensor(np.stack(points), dtype=torch.float32)


@pytest.mark.slow
def test_mraa_awp_training_lowers_reconstruction_loss():
    frames, landmarks = astronaut_frames()
    pairs = [(i, j) for i in range(len(frames)) for j in range(len(frames)) if i != j]
    src = torch.tensor([p[0] for p in pairs])
    drv = torch.tensor([p[1] for p in pairs])
    torch.manual_seed(0)
    model: MRAA = build_model("mraa-awp", tiny_config("mraa-awp"))

    def evaluate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            losses, out = model.training_losses(
                frames[src], frames[drv], landmarks[src], landmarks[drv]
            )
        model.train()
        return losses["reconstruction"].item(), (
            out["prediction"] - frames[drv]
        ).abs().mean().item()

    before, l1_before = evaluate()
    copy_source = (frames[src] - frames[drv]).abs().mean().item()
    groups = model.param_groups()
    optimizer = torch.optim.Adam(groups["reconstruction"], lr=2e-3, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, len(pairs), (2,), generator=g)
        s, d = src[idx], drv[idx]
        losses, _ = model.training_losses(frames[s], frames[d], landmarks[s], landmarks[d])
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    after, l1_after = evaluate()
    assert after < 0.35 * before
    # better than showing the unchanged source: the motion is transferred
    assert l1_after < 0.5 * copy_source
    assert l1_after < 0.3 * l1_before


@pytest.mark.parametrize("variant", ["mraa", "mraa-ewp"])
def test_initial_regions_are_reused_only_for_the_same_input(variant):
    """The initial frame's regions come from the driving batch or the cache when its
    pixels (and, with a prior, its landmarks) are the same; otherwise one more pass."""
    from engine_helpers import astronaut_face, shift_image, small_model_config

    torch.manual_seed(0)
    model = build_model(variant, small_model_config(variant)).eval()
    face, lms = astronaut_face()
    frames = np.stack([shift_image(face, dx, 0.0) for dx in (0.0, 1.0, 2.0)])
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    marks = torch.from_numpy(np.stack([lms + dx for dx in (0.0, 1.0, 2.0)])).float()
    src_lm = torch.from_numpy(np.array(lms, np.float32))[None]
    source = torch.from_numpy(np.array(face)).permute(2, 0, 1)[None].float() / 255
    state = model.encode_source(source, src_lm)
    calls = []
    regions = model.regions
    model.regions = lambda *a, **k: calls.append(1) or regions(*a, **k)

    def passes(driving, driving_lm, init_lm) -> int:
        calls.clear()
        model.animate(state, driving, driving_lm, x[:1], init_lm, mode="relative")
        return len(calls)

    assert passes(x, marks, marks[:1]) == 1  # the initial frame is the batch's first
    assert passes(x[1:], marks[1:], marks[:1]) == 1  # cached
    # other landmarks of the same pixels: new regions only where the prior follows them
    assert passes(x[1:], marks[1:], marks[:1] + 1.0) == (1 if variant == "mraa" else 2)
