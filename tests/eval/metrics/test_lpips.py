"""LPIPS v0.1 (AlexNet, VGG-16) against the lpips package (fixture: its own v0.1 heads, trunk
filled by the recipe; see tests/data/upstream/metrics/README.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_helpers import ROOT, assert_close, inputs, reference, spread

from eval.metrics import lpips
from eval.metrics.random_weights import recipe_fill
from fme.core.errors import ConfigError

torch.set_num_threads(1)
HEADS = ROOT / "lpips_v0.1"


def trunk_file(tmp_path, net: str):
    """A torchvision-format trunk file (features.* and a classifier key) filled by the recipe."""
    m = lpips.build(net)
    feats = {k: v for k, v in m.state_dict().items() if k.startswith("features.")}
    sd = recipe_fill(feats, reference()["lpips"][net]["seed"])
    sd["classifier.1.weight"] = torch.zeros(2, 2)  # torchvision's files carry the classifier too
    path = tmp_path / lpips.TRUNK_FILES[net]
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_equals_the_lpips_package(tmp_path, net):
    model = lpips.load_lpips(net, trunk_file(tmp_path, net), HEADS, "--" + net)
    d, ref = inputs(), reference()["lpips"][net]
    pick = slice(0, 8) if net == "vgg" else slice(None)
    pairs = lpips.distances(model, d["real"][pick], d["fake"][pick])
    assert_close(pairs, np.asarray(ref["pair"])[pick], rel=1e-4)
    flicker = lpips.flicker(model, d["real"][pick])
    assert_close(flicker, np.asarray(ref["consecutive_real"])[: len(flicker)], rel=1e-4)
    # the distances tell the inputs apart: noise pairs are far, consecutive frames close
    assert pairs.max() > 5 * pairs.min()
    assert flicker.mean() < pairs.mean()
    # every compared layer's normalised features vary across the fixture's 16 real images
    assert min(ref["layer_spread"]) > 0.05
    with torch.no_grad():
        x = np.concatenate([d["real"][:3], d["fake"][:3]])
        taps = model.taps(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1)
    assert all(spread(t / (t.norm(dim=1, keepdim=True) + 1e-10)) > 0.05 for t in taps)


def test_identical_frames_have_zero_distance(tmp_path):
    model = lpips.load_lpips("alex", trunk_file(tmp_path, "alex"), HEADS, "--alexnet")
    x = inputs()["real"][:3]
    assert np.allclose(lpips.distances(model, x, x), 0, atol=1e-7)
    assert lpips.flicker(model, np.repeat(x[:1], 4, 0)) == pytest.approx(np.zeros(3), abs=1e-7)


def test_missing_head_and_wrong_trunk_name_the_option(tmp_path):
    trunk = trunk_file(tmp_path, "alex")
    with pytest.raises(ConfigError, match="--lpips-dir"):
        lpips.load_lpips("alex", trunk, tmp_path, "--alexnet")
    with pytest.raises(ConfigError, match="--vgg16"):
        lpips.load_lpips("vgg", trunk, HEADS, "--vgg16")
