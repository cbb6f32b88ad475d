"""Identity embeddings (arcface_torch IResNet, facenet-pytorch InceptionResnetV1) against
their reference code on recipe-filled weights, alignment and the identity metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from metric_helpers import ROOT, assert_close, filled, inputs, keys, spread

from eval.metrics import identity
from fme.core.errors import ConfigError

torch.set_num_threads(1)
PICK = [0, 7, 15, 16, 18, 30]


def resized(size: int) -> torch.Tensor:
    d = inputs()
    x = torch.from_numpy(np.concatenate([d["real"], d["fake"]])[PICK]).permute(0, 3, 1, 2).float()
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("iresnet50", lambda: identity.build_iresnet("iresnet50")),
        ("facenet", identity.build_facenet),
    ],
)
def test_names_and_embeddings_equal_the_reference_code(name, build):
    net = build()
    _seed, ref_keys = keys(name)
    assert [
        [k, list(v.shape), str(v.dtype)] for k, v in sorted(net.state_dict().items())
    ] == ref_keys
    net = filled(net, name)
    ref = np.load(ROOT / f"{name}_embeddings.npy")[PICK]
    with torch.no_grad():
        if name == "facenet":
            ours = net((resized(160) - 127.5) / 128.0).numpy()
        else:
            ours = net((resized(112) / 255.0 - 0.5) / 0.5).numpy()
    assert_close(ours, ref, rel=1e-4)
    assert spread(ref) > 0.3


def test_loaders_check_the_files(tmp_path):
    net = identity.build_iresnet("iresnet18")
    path = tmp_path / "backbone.pth"
    torch.save(net.state_dict(), path)
    assert isinstance(identity.load_arcface(path), torch.nn.Module)
    fn = identity.build_facenet().state_dict()
    fn["logits.weight"] = torch.zeros(3, 512)  # the released file's classifier is ignored
    torch.save(fn, tmp_path / "vggface2.pt")
    identity.load_facenet(tmp_path / "vggface2.pt")
    with pytest.raises(ConfigError, match="--arcface"):
        identity.load_arcface(tmp_path / "vggface2.pt")
    with pytest.raises(ConfigError, match="--facenet"):
        identity.load_facenet(path)


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -3.0])
    r = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    src = identity.ARCFACE_TEMPLATE
    dst = scale * src @ r.T + shift
    m = identity.similarity_transform(src, dst)
    assert np.allclose(m[:, :2], scale * r) and np.allclose(m[:, 2], shift)
    # noisy points: the least-squares fit equals scikit-image's estimate
    from skimage.transform import SimilarityTransform

    noisy = dst + np.random.default_rng(0).normal(0, 2.0, dst.shape)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        ref = SimilarityTransform.from_estimate(src, noisy)
    else:
        ref = SimilarityTransform()
        ref.estimate(src, noisy)
    assert np.allclose(identity.similarity_transform(src, noisy), ref.params[:2], atol=1e-9)


def test_align_puts_the_five_points_on_the_template():
    # a 68-point face whose eyes, nose tip and mouth corners are the template x2 + 30
    lm = np.zeros((68, 2))
    five = identity.ARCFACE_TEMPLATE * 2 + 30
    lm[36:42], lm[42:48], lm[30], lm[48], lm[54] = five[0], five[1], five[2], five[3], five[4]
    frame = np.zeros((300, 300, 3), np.uint8)
    for x, y in five.round().astype(int):
        frame[y - 2 : y + 3, x - 2 : x + 3] = 255
    crop = identity.align(frame, lm)
    assert crop.shape == (112, 112, 3)
    for x, y in identity.ARCFACE_TEMPLATE.round().astype(int):
        assert crop[y, x, 0] > 200


def test_csim_aed_akd_and_leakage():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 8))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    assert identity.csim(a, a) == pytest.approx(1.0)
    assert identity.aed(a, a) == pytest.approx(0.0)
    assert identity.aed(a, -a) == pytest.approx(2.0)
    target, driver = a[0], a[1]
    gen = np.repeat(driver[None], 3, 0)  # the driver's face: full leakage
    assert identity.leakage(gen, driver, target) == pytest.approx(1 - float(driver @ target))
    lm = rng.normal(size=(4, 68, 2))
    assert identity.akd(lm, lm + np.array([3.0, 4.0])) == pytest.approx(5.0)
