"""The facial prior: keypoint rule, maps, EWP/AWP, FacialPrior (generation/face/prior.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fme.core.errors import ConfigError
from generation.face.prior import AWP, FacialPrior, ewp, prior_keypoints, prior_maps


def _landmarks() -> np.ndarray:
    """Landmark i at (10 + i, 200 - i), except x(39) = 50 and x(42) = 60 (so ed = 10)."""
    lm = np.stack([10.0 + np.arange(68), 200.0 - np.arange(68)], axis=1).astype(np.float32)
    lm[39, 0] = 50.0
    lm[42, 0] = 60.0
    return lm


# Worked out by hand from the DESIGN rule with landmark i = (10 + i, 200 - i), ed = 10.
EXPECTED = np.array(
    [
        [29, 181],  # 19
        [34, 176],  # 24
        [37, 173],  # 27
        [48, 162],  # 38
        [51, 159],  # 41
        [53, 157],  # 43
        [56, 154],  # 46
        [58, 152],  # 48
        [64, 146],  # 54
        [65, 145],  # 55
        [67, 143],  # 57
        [69, 141],  # 59
        [36, 169],  # 31 (41, 169), x - ed/2
        [50, 165],  # 35 (45, 165), x + ed/2
        [51, 164],  # 41 (51, 159), y + ed/2
        [56, 159],  # 46 (56, 154), y + ed/2
        [53, 152],  # 48 (58, 152), x - ed/2
        [69, 146],  # 54 (64, 146), x + ed/2
    ],
    dtype=np.float32,
)


def test_prior_keypoints_match_hand_computation_numpy_and_torch():
    lm = _landmarks()
    np.testing.assert_allclose(prior_keypoints(lm), EXPECTED)
    batch = torch.from_numpy(np.stack([lm, lm + 3.0]))  # (2, 68, 2)
    out = prior_keypoints(batch)
    assert out.shape == (2, 18, 2)
    np.testing.assert_allclose(out[0].numpy(), EXPECTED)
    np.testing.assert_allclose(out[1].numpy(), EXPECTED + 3.0)  # ed unchanged by a shift


def test_prior_keypoints_scale_with_eye_distance():
    lm = _landmarks()
    lm[42, 0] = 70.0  # ed = 20: the shifted rows move twice as far
    out = prior_keypoints(lm)
    np.testing.assert_allclose(out[12], [31, 169])
    np.testing.assert_allclose(out[14], [51, 169])


def test_prior_keypoints_reject_wrong_shape():
    with pytest.raises(ConfigError):
        prior_keypoints(np.zeros((5, 2)))


def _numpy_code_map(cx: float, cy: float, size: int = 64, sigma: float = 0.75) -> np.ndarray:
    ii, jj = np.mgrid[0:size, 0:size].astype(np.float64)
    d = np.hypot(jj - cx, ii - cy)
    m = np.exp(-np.sqrt(d) / (2 * sigma**2))
    m = m / m.max()
    m[m < m.mean()] = 0.0
    return m


def test_code_kernel_matches_direct_numpy_formula():
    cells = np.array([[20.3, 40.7], [0.0, 63.0], [31.5, 31.5]])
    kp = torch.tensor(cells / 63.0 * 2.0 - 1.0, dtype=torch.float32)[None]  # (1, 3, 2)
    maps = prior_maps(kp, 64, "code").numpy()[0]
    for k, (cx, cy) in enumerate(cells):
        expected = _numpy_code_map(cx, cy)
        np.testing.assert_allclose(maps[k], expected, atol=2e-6)
        assert maps[k].max() == pytest.approx(1.0)
        assert (maps[k] == 0).sum() == (expected == 0).sum() > 0
    # the peak is at the nearest grid cell
    assert np.unravel_index(maps[0].argmax(), (64, 64)) == (41, 20)


def test_journal_kernel_is_gaussian_in_normalised_units():
    kp = torch.tensor([[[2 * 10 / 63 - 1, 2 * 30 / 63 - 1]]])  # exactly on cell (x=10, y=30)
    m = prior_maps(kp, 64, "journal", sigma=0.05)[0, 0]
    assert m[30, 10] == pytest.approx(1.0)
    cell = 2 / 63
    assert m[30, 11].item() == pytest.approx(np.exp(-(cell**2) / 0.05**2), rel=1e-4)
    assert m[31, 11].item() == pytest.approx(np.exp(-2 * cell**2 / 0.05**2), rel=1e-4)


def test_ewp_is_normalised_sum():
    torch.manual_seed(0)
    kp = torch.rand(2, 18, 2) * 1.6 - 0.8
    maps = prior_maps(kp, 32)
    fused = ewp(maps)
    assert fused.shape == (2, 1, 32, 32)
    for b in range(2):
        total = maps[b].sum(0)
        torch.testing.assert_close(fused[b, 0], total / total.max())
        assert fused[b].max().item() == pytest.approx(1.0)


def test_awp_shape_and_gradient():
    awp = AWP()
    assert awp.conv1.weight.shape == (9, 18, 3, 3)
    assert awp.conv2.weight.shape == (1, 9, 3, 3)
    maps = prior_maps(torch.zeros(1, 18, 2), 16)
    awp(maps).sum().backward()
    assert awp.conv1.weight.grad.abs().sum() > 0
    assert awp.conv2.weight.grad.abs().sum() > 0


def test_awp_starts_as_the_sum_of_the_maps():
    kp = torch.rand(2, 18, 2) * 1.6 - 0.8
    maps = prior_maps(kp, 32)
    torch.testing.assert_close(AWP()(maps), maps.sum(1, keepdim=True))
    torch.manual_seed(0)
    random = AWP(init="random")(maps)
    assert not torch.allclose(random, maps.sum(1, keepdim=True), atol=0.1)
    with pytest.raises(ConfigError, match="init"):
        AWP(init="zeros")


def test_facial_prior_keypoints_follow_landmarks_every_frame():
    """Two frames of one clip with different landmarks give different keypoints (no freezing)."""
    lm = torch.from_numpy(_landmarks())
    moved = lm.clone()
    moved[:, 0] += 12.7  # the face moves 12.7 px to the right
    prior = FacialPrior("ewp")
    kp, channel = prior(torch.stack([lm, moved]), image_size=(256, 256), out_size=32)
    assert kp.shape == (2, 18, 2) and channel.shape == (2, 1, 32, 32)
    expected0 = torch.from_numpy(EXPECTED) * (2 / 255) - 1
    torch.testing.assert_close(kp[0], expected0)
    torch.testing.assert_close(kp[1, :, 0] - kp[0, :, 0], torch.full((18,), 12.7 * 2 / 255))
    torch.testing.assert_close(kp[1, :, 1], kp[0, :, 1])
    assert not torch.allclose(channel[0], channel[1])


def test_facial_prior_rejects_unknown_fusion():
    with pytest.raises(ConfigError):
        FacialPrior("sum")


def test_awp_channel_resizes_under_cpu_bf16_autocast():
    """The anti-aliased resize has no bf16 CPU kernel; the channel must still come out."""

    prior = FacialPrior("awp", map_size=64)
    landmarks = torch.rand(2, 68, 2) * 100 + 14
    kp = prior.keypoints(landmarks, 128)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        channel = prior.channel(kp, out_size=32)
    reference = prior.channel(kp, out_size=32)
    assert channel.shape == (2, 1, 32, 32)
    assert torch.allclose(channel.float(), reference, atol=0.05)
