"""Kinetics weights used as trained: the clip transform is torchvision's video preset
(checked against a plain numpy bilinear resize written here), every --kinetics file and the
width rule are checked before training, and the checkpoint names the file it started from."""

from __future__ import annotations

import argparse
import hashlib

import numpy as np
import pytest
import torch
from eval_helpers import write_prepared

from eval.clips import fit_frames, kinetics_resize, square_resize, to_input
from eval.kinetics import resolve_kinetics
from fme.core.errors import ConfigError

# torchvision/transforms/_presets.py VideoClassification, as its Kinetics-400 weights use it
RESIZE, CROP = (128, 171), 112
MEAN = np.array([0.43216, 0.394666, 0.37645])
STD = np.array([0.22803, 0.22145, 0.216989])


def _bilinear_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-pixel bilinear sampling (align_corners False, no antialias): source index pairs
    and weights for each output position."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.maximum(src, 0.0)
    lo = np.floor(src).astype(int)
    lo = np.minimum(lo, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, src - lo


def numpy_preset(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (3, T, 112, 112) float64 by the preset, in numpy."""
    x = frames.astype(np.float64)
    ylo, yhi, wy = _bilinear_axis(x.shape[1], RESIZE[0])
    xlo, xhi, wx = _bilinear_axis(x.shape[2], RESIZE[1])
    rows = x[:, ylo] * (1 - wy)[None, :, None, None] + x[:, yhi] * wy[None, :, None, None]
    out = (
        rows[:, :, xlo] * (1 - wx)[None, None, :, None] + rows[:, :, xhi] * wx[None, None, :, None]
    )
    out = np.clip(np.round(out), 0, 255)  # resize on uint8 rounds back to uint8
    top, left = round((RESIZE[0] - CROP) / 2), round((RESIZE[1] - CROP) / 2)  # 8, 30
    out = out[:, top : top + CROP, left : left + CROP] / 255.0
    out = (out - MEAN) / STD
    return out.transpose(3, 0, 1, 2)


@pytest.mark.parametrize("shape", [(480, 640), (200, 200)])
def test_kinetics_transform_is_torchvisions_preset(shape):
    rng = np.random.default_rng(0)
    h, w = shape
    # smooth content plus noise, so that the resize matters and rounding ties are rare
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127 + 100 * np.sin(xx / 37.0)[None, ..., None] * np.cos(yy / 23.0)[None, ..., None]
    frames = np.clip(base + rng.normal(0, 20, (3, h, w, 3)), 0, 255).astype(np.uint8)
    ours = kinetics_resize(frames)
    assert ours.shape == (3, CROP, CROP, 3) and ours.dtype == np.uint8
    x = to_input(ours[None])[0].numpy().astype(np.float64)  # (3, T, 112, 112)
    want = numpy_preset(frames)
    step = 1 / 255 / STD.min()  # one grey level, normalised
    diff = np.abs(x - want)
    assert diff.max() < step + 1e-4  # float32 vs float64 may move a rounding tie by one level
    assert (diff < 1e-5).mean() > 0.999
    assert np.array_equal(fit_frames(frames, CROP, "kinetics"), ours)
    # today's transform (central square, antialiased) sees another view of the same frames
    square = to_input(square_resize(frames, CROP)[None])[0].numpy()
    assert np.abs(square - x).mean() > 0.05


def test_the_preset_needs_112():
    with pytest.raises(ConfigError, match="--size 112"):
        fit_frames(np.zeros((1, 64, 64, 3), np.uint8), 64, "kinetics")


def _fake(path, arch: str):
    """A tiny state dict with the tensors that tell the architectures apart."""
    temporal = 1 if arch == "mc3_18" else 3
    state = {"layer2.0.conv1.0.weight": torch.zeros(2, 2, temporal, 3, 3)}
    if arch == "r2plus1d_18":
        state = {"stem.3.weight": torch.zeros(2, 2, 3, 1, 1), **state}
    torch.save(state, path)
    return path


def test_every_file_and_the_width_rule_are_checked(tmp_path):
    three = ["r3d_18", "mc3_18", "r2plus1d_18"]
    files = {a: _fake(tmp_path / f"{a}-0000.pth", a) for a in three}
    named = [f"{a}={p}" for a, p in files.items()]
    got = resolve_kinetics(named, three, 1.0, 112)
    assert {b: w.path for b, w in got.items()} == {a: str(p) for a, p in files.items()}
    assert got["mc3_18"].sha256 == hashlib.sha256(files["mc3_18"].read_bytes()).hexdigest()
    assert got["mc3_18"].record()["name"] == "mc3_18-0000.pth"
    # a folder of torchvision-named files
    assert {b: w.path for b, w in resolve_kinetics([str(tmp_path)], three, 1, 112).items()} == {
        a: str(p) for a, p in files.items()
    }
    with pytest.raises(ConfigError, match=r"Kinetics weights need --width 1 \(got --width 0.25\)"):
        resolve_kinetics(named, three, 0.25, 112)
    with pytest.raises(ConfigError, match="one file for 3 backbones.*mc3_18=FILE"):
        resolve_kinetics([str(files["r3d_18"])], three, 1, 112)
    with pytest.raises(ConfigError, match="names no file for r2plus1d_18"):
        resolve_kinetics(named[:2], three, 1, 112)
    with pytest.raises(ConfigError, match="the file for mc3_18 holds r3d_18"):
        resolve_kinetics([f"mc3_18={files['r3d_18']}"], ["mc3_18"], 1, 112)
    with pytest.raises(ConfigError, match="Kinetics weights for mc3_18 not found") as err:
        resolve_kinetics([f"mc3_18={tmp_path / 'nope.pth'}"], ["mc3_18"], 1, 112)
    assert "nope.pth" in str(err.value)
    with pytest.raises(ConfigError, match="'r3d_18' is not among --backbones"):
        resolve_kinetics(named[:2], ["mc3_18"], 1, 112)
    assert resolve_kinetics(None, three, 0.25, 64) == {}


def _cli_args(tmp_path, data, kinetics, extra=()):
    from fme.cli import build_parser

    argv = ["eval", "train-recognizers", "--data", str(data), "--out", str(tmp_path / "rec")]
    argv += ["--backbones", "mc3_18", "--frames", "4", "--iterations", "1", "--batch-size", "2"]
    argv += ["--device", "cpu", "--quiet", "--kinetics", *kinetics, *extra]
    return build_parser().parse_args(argv)


def test_cli_checks_before_any_training(tmp_path):
    from eval.train import run_training

    data = tmp_path / "missing-data"  # never read: the check comes first
    with pytest.raises(ConfigError, match="Kinetics weights need --width 1"):
        run_training(_cli_args(tmp_path, data, ["mc3_18=x.pth"], ["--width", "0.25"]))
    with pytest.raises(ConfigError, match="one file for 3 backbones"):
        args = _cli_args(tmp_path, data, [str(_fake(tmp_path / "r3d_18-1.pth", "r3d_18"))])
        args.backbones = "r3d_18,mc3_18,r2plus1d_18"
        run_training(args)
    assert not (tmp_path / "rec").exists()


@pytest.mark.slow
def test_checkpoint_records_the_kinetics_file(tmp_path):
    from eval.recognizers import build, load_recognizer
    from eval.train import run_training

    data = write_prepared(tmp_path / "prep", [1, 2, 3], 1, frames=6, size=120)
    start = build("mc3_18", 400, 1.0)
    weights = tmp_path / "mc3_18-a90a0ba3.pth"
    torch.save(start.state_dict(), weights)
    assert run_training(_cli_args(tmp_path, data, [f"mc3_18={weights}"])) == 0
    model, info = load_recognizer(tmp_path / "rec" / "mc3_18.pt")
    assert info.transform == "kinetics"
    record = info.extra["kinetics"]
    assert record["name"] == "mc3_18-a90a0ba3.pth"
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    # the backbone started from the file: a layer one step of Adam barely moves
    with torch.no_grad():
        moved = (model.layer4[1].conv2[0].weight - start.layer4[1].conv2[0].weight).abs().max()
        fresh = build("mc3_18", 3).layer4[1].conv2[0].weight - start.layer4[1].conv2[0].weight
    assert float(moved) < 1e-3 < float(fresh.abs().max())


def test_augment_uses_kinetics(tmp_path):
    from fme.commands.eval import register_augment

    parser = argparse.ArgumentParser()
    register_augment(parser.add_subparsers())
    args = parser.parse_args(
        [
            "augment",
            "--data",
            "d",
            "--out",
            str(tmp_path / "o"),
            "--kinetics",
            "mc3_18=x.pth",
            "--width",
            "0.5",
        ]  # fmt: skip
    )
    with pytest.raises(ConfigError, match="Kinetics weights need --width 1"):
        args.func(args)
    assert not (tmp_path / "o").exists()


def test_augment_trains_from_the_files_on_kinetics_views(tmp_path, monkeypatch):
    """`eval augment --kinetics` hands each backbone its file and the preset's frames."""
    import eval.train
    from eval.augment import run_augment
    from fme.commands.eval import register_augment

    data = write_prepared(tmp_path / "prep", [1, 2, 3, 4], 1, frames=4, size=120)
    files = {a: _fake(tmp_path / f"{a}-0.pth", a) for a in ("r3d_18", "mc3_18")}
    seen = []

    class Result:
        model = None

    def fake_train(config, real, generated=None, progress=True):
        seen.append((config.backbone, config.kinetics, config.transform, real.clips.shape))
        return Result()

    monkeypatch.setattr(eval.train, "train_recognizer", fake_train)
    monkeypatch.setattr(
        eval.train, "predict", lambda model, bank, device="cpu": np.ones((len(bank), 3))
    )
    parser = argparse.ArgumentParser()
    register_augment(parser.add_subparsers())
    args = parser.parse_args(
        [
            "augment",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "o"),
            "--ratios",
            "0",
            "--backbones",
            "r3d_18,mc3_18",
            "--frames",
            "4",
            "--quiet",
            "--device",
            "cpu",
            "--kinetics",
            *(f"{a}={p}" for a, p in files.items()),
        ]  # fmt: skip
    )
    assert run_augment(args, generator=lambda t, tl, d, dl: d) == 0
    assert [(b, k, t) for b, k, t, _ in seen] == [
        ("r3d_18", str(files["r3d_18"]), "kinetics"),
        ("mc3_18", str(files["mc3_18"]), "kinetics"),
    ]
    assert seen[0][3][1:] == (4, 112, 112, 3)
    import json

    record = json.loads((tmp_path / "o" / "protocol.json").read_text())
    assert record["transform"] == "kinetics"
    assert record["kinetics"]["mc3_18"]["name"] == "mc3_18-0.pth"
    assert record["notes"] == []  # written with the emotion_label column: labels are the list's


def test_auto_scores_with_each_recognizers_own_transform(tmp_path, monkeypatch):
    import eval.clips
    from eval.auto import score_bank
    from eval.clips import ClipBank
    from eval.recognizers import RecognizerInfo, build, load_recognizer, save_recognizer

    labels = ("negative", "positive", "surprise")
    recognizers = {}
    for name, transform in (("r3d_18", "kinetics"), ("mc3_18", "square")):
        info = RecognizerInfo(name, 0.0625, labels, 4, 112, transform=transform)
        path = save_recognizer(tmp_path / f"{name}.pt", build(name, 3, 0.0625), info)
        recognizers[name] = load_recognizer(path)
    assert recognizers["r3d_18"][1].transform == "kinetics"  # saved and read back
    asked = []

    def fake_load_bank(items, frames, size, name="clips", progress=True, transform="square"):
        asked.append(transform)
        return ClipBank(
            np.zeros((2, frames, size, size, 3), np.uint8), np.array([0, 1]), ["a", "b"], ["x", "y"]
        )

    monkeypatch.setattr(eval.clips, "load_bank", fake_load_bank)
    score_bank("set", recognizers, items=[], progress=False)
    assert asked == ["kinetics", "square"]
