"""Recognizers: torchvision's parameter counts, module names and shapes; weight loading."""

from __future__ import annotations

import pytest
import torch

from eval.recognizers import (
    BACKBONES,
    RecognizerInfo,
    build,
    guess_architecture,
    load_kinetics,
    load_recognizer,
    n_parameters,
    save_recognizer,
)
from fme.core.errors import ConfigError

# docs/design.md: torchvision's counts with 400 classes.
COUNTS = {"r3d_18": 33_371_472, "mc3_18": 11_695_440, "r2plus1d_18": 31_505_325}


@pytest.mark.parametrize("name", BACKBONES)
def test_parameter_count_matches_torchvision(name):
    assert n_parameters(build(name, 400)) == COUNTS[name]


def test_module_names_and_shapes_follow_torchvision():
    r3d = build("r3d_18", 400).state_dict()
    assert tuple(r3d["stem.0.weight"].shape) == (64, 3, 3, 7, 7)
    assert tuple(r3d["stem.1.running_var"].shape) == (64,)
    assert tuple(r3d["layer1.0.conv1.0.weight"].shape) == (64, 64, 3, 3, 3)
    assert tuple(r3d["layer1.0.conv2.1.weight"].shape) == (64,)
    assert tuple(r3d["layer2.0.downsample.0.weight"].shape) == (128, 64, 1, 1, 1)
    assert tuple(r3d["layer4.1.conv2.0.weight"].shape) == (512, 512, 3, 3, 3)
    assert tuple(r3d["fc.weight"].shape) == (400, 512)
    assert "layer1.0.downsample.0.weight" not in r3d  # stride 1, same width: no shortcut conv

    mc3 = build("mc3_18", 400).state_dict()
    assert tuple(mc3["layer1.0.conv1.0.weight"].shape) == (64, 64, 3, 3, 3)  # full 3D first
    assert tuple(mc3["layer2.0.conv1.0.weight"].shape) == (128, 64, 1, 3, 3)  # then 2D

    r21 = build("r2plus1d_18", 400).state_dict()
    assert tuple(r21["stem.0.weight"].shape) == (45, 3, 1, 7, 7)
    assert tuple(r21["stem.3.weight"].shape) == (64, 45, 3, 1, 1)
    # midplanes = 64*64*27 // (64*9 + 3*64) = 110592 // 768 = 144
    assert tuple(r21["layer1.0.conv1.0.0.weight"].shape) == (144, 64, 1, 3, 3)
    assert tuple(r21["layer1.0.conv1.0.3.weight"].shape) == (64, 144, 3, 1, 1)
    # first block of layer2: 64*128*27 // (64*9 + 3*128) = 221184 // 960 = 230, used by
    # both convolutions of the block
    assert tuple(r21["layer2.0.conv1.0.0.weight"].shape) == (230, 64, 1, 3, 3)
    assert tuple(r21["layer2.0.conv2.0.0.weight"].shape) == (230, 128, 1, 3, 3)
    assert tuple(r21["layer2.0.conv2.0.3.weight"].shape) == (128, 230, 3, 1, 1)


def test_width_multiplier_and_forward_shape():
    model = build("r2plus1d_18", 3, width=0.125).eval()
    assert tuple(model.state_dict()["fc.weight"].shape) == (3, 64)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 8, 32, 32))
    assert out.shape == (2, 3)
    assert n_parameters(model) < COUNTS["r2plus1d_18"] / 40


def test_kinetics_weights_load_and_fc_is_skipped(tmp_path):
    kinetics = build("mc3_18", 400, width=0.25)
    path = tmp_path / "mc3_18-a90a0ba3.pth"
    torch.save(kinetics.state_dict(), path)
    mine = build("mc3_18", 3, width=0.25)
    skipped = load_kinetics(mine, path)
    assert skipped == ["fc.weight", "fc.bias"]
    assert torch.equal(
        mine.state_dict()["layer3.1.conv2.0.weight"],
        kinetics.state_dict()["layer3.1.conv2.0.weight"],
    )
    assert tuple(mine.fc.weight.shape) == (3, 128)

    same = build("mc3_18", 400, width=0.25)
    assert load_kinetics(same, path) == []
    assert torch.equal(same.fc.weight, kinetics.fc.weight)


def test_other_architecture_is_a_clear_error(tmp_path):
    path = tmp_path / "r2plus1d.pth"
    torch.save(build("r2plus1d_18", 400, width=0.25).state_dict(), path)
    with pytest.raises(ConfigError, match=r"looks like r2plus1d_18, not r3d_18") as err:
        load_kinetics(build("r3d_18", 3, width=0.25), path)
    assert str(path) in str(err.value)
    assert guess_architecture(build("mc3_18", 3, 0.25).state_dict()) == "mc3_18"
    assert guess_architecture(build("r3d_18", 3, 0.25).state_dict()) == "r3d_18"


def test_recognizer_checkpoint_round_trip_and_mismatch(tmp_path):
    model = build("r3d_18", 3, width=0.125).eval()
    info = RecognizerInfo("r3d_18", 0.125, ("negative", "positive", "surprise"), 8, 32)
    path = save_recognizer(tmp_path / "r3d_18.pt", model, info)
    loaded, got = load_recognizer(path)
    assert got.backbone == "r3d_18" and got.frames == 8 and got.classes == info.classes
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    with pytest.raises(ConfigError, match="expected mc3_18"):
        load_recognizer(path, expect_backbone="mc3_18")

    # a checkpoint whose weights are of another architecture than it claims
    payload = torch.load(path, weights_only=True)
    payload["backbone"] = "mc3_18"
    torch.save(payload, tmp_path / "liar.pt")
    with pytest.raises(ConfigError, match="looks like r3d_18"):
        load_recognizer(tmp_path / "liar.pt")

    torch.save({"generator": {}}, tmp_path / "fomm.pt")
    with pytest.raises(ConfigError, match="not a recognizer checkpoint"):
        load_recognizer(tmp_path / "fomm.pt")


def test_unknown_backbone():
    with pytest.raises(ConfigError, match="unknown backbone"):
        build("resnet50", 3)
