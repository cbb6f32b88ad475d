"""MEGC sets: every template x driver as an H.264 MP4, manifest, contact sheet; frame rates."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from engine_helpers import make_prepared, small_model_config, write_templates

from fme.core.errors import DataError
from generation.animation.megc import (
    MEGC2021_DRIVERS,
    MEGC2021_TEMPLATES,
    MEGC2022_TEMPLATES,
    driving_name,
    make_megc_set,
    read_driver_list,
)
from generation.models import build_model


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    # 9 drivers: 3 subjects x 3 clips of 6 frames
    return make_prepared(
        tmp_path_factory.mktemp("prep"), subjects=3, clips_per_subject=3, n_frames=6
    )


def _checkpoint(folder, variant):
    from generation.checkpoints.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model(variant, small_model_config(variant))
    return save_checkpoint(folder / f"{variant}.pt", model, step=0)


def test_the_megc2021_list():
    assert len(MEGC2021_DRIVERS) == 9
    for dataset in ("samm", "casme2", "smic"):
        rows = [d for d in MEGC2021_DRIVERS if d.dataset == dataset]
        assert sorted(d.label for d in rows) == ["negative", "positive", "surprise"]
    names = [d.name for d in MEGC2021_DRIVERS]
    assert "007_7_1" in names and "sub19_EP01_01f" in names and "s11_ne_02" in names
    assert len(set(names)) == 9
    assert len(MEGC2021_TEMPLATES) * len(names) == 18
    assert len(MEGC2022_TEMPLATES) * len(names) == 36
    specs = read_driver_list("megc2021")
    assert [s.text for s in specs][3] == "casme2/sub17/EP01_13"
    assert driving_name("sub01", "EP19_06f") == "sub01_EP19_06f"


def _check_set(out, n_drivers, n_templates, n_frames, fps=200.0):
    from generation.data.video import probe

    with (out / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_drivers * n_templates
    assert list(rows[0]) == [
        *("driving", "template", "dataset", "emotion", "label", "path", "fps"),
        *("checkpoint_sha256", "super_resolution_sha256"),
    ]
    for row in rows:
        assert row["path"] == f"{row['driving']}-{row['template']}.mp4"
        info = probe(out / row["path"])
        assert info.codec == "h264" and info.n_frames == n_frames
        # a list of the user's clips keeps each clip's own rate: CASME II's 200 fps
        assert info.fps == pytest.approx(fps) and float(row["fps"]) == pytest.approx(fps)
    assert len(list(out.glob("*.mp4"))) == n_drivers * n_templates
    from PIL import Image

    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.height >= n_drivers * n_templates * 64
    return rows


@pytest.mark.slow
def test_fme_megc_writes_every_template_by_driver(prepared, tmp_path):
    from fme.cli import main

    ckpt = _checkpoint(tmp_path, "fomm-ewp")
    templates = tmp_path / "templates"
    write_templates(templates)
    keys = [f"casme2/sub{s:02d}/EP{k:02d}_01" for s in (1, 2, 3) for k in (1, 2, 3)]
    drivers = tmp_path / "drivers.txt"
    drivers.write_text("# synthetic stand-ins\n" + "\n".join(keys) + "\n")
    out = tmp_path / "set"
    args = ["megc", "--checkpoint", str(ckpt), "--templates", str(templates)]
    args += ["--drivers", str(drivers), "--data", str(prepared), "--out", str(out), "--quiet"]
    assert main([*args, "--device", "cpu"]) == 0
    rows = _check_set(out, 9, 2, 6)
    names = {r["path"] for r in rows}
    assert "sub01_EP01_01-normalized_westernMale.mp4" in names
    assert "sub03_EP03_01-normalized_asianFemale.mp4" in names
    row = next(r for r in rows if r["driving"] == "sub02_EP01_01")
    assert row["dataset"] == "casme2" and row["label"] == "positive"
    assert row["emotion"] == "happiness"


@pytest.mark.slow
def test_megc_with_an_mraa_checkpoint(prepared, tmp_path):
    ckpt = _checkpoint(tmp_path, "mraa-awp")
    templates = tmp_path / "templates"
    write_templates(templates)
    drivers = [prepared / "casme2" / "sub01" / "EP01_01", prepared / "casme2" / "sub02" / "EP02_01"]
    from generation.animation.megc import DriverSpec

    specs = [DriverSpec(str(p)) for p in drivers]
    result = make_megc_set(ckpt, templates, specs, tmp_path / "set", progress=False)
    rows = _check_set(tmp_path / "set", 2, 2, 6)
    assert {r["driving"] for r in rows} == {"sub01_EP01_01", "sub02_EP02_01"}
    assert result.frames == 4 * 6
    # the difference column of the contact sheet is not blank: generated != target
    from generation.animation.megc import difference_image

    diff = difference_image(np.full((4, 4, 3), 10, np.uint8), np.zeros((4, 4, 3), np.uint8))
    assert (diff == 40).all()


def test_a_missing_driver_writes_nothing(prepared, tmp_path):
    ckpt = _checkpoint(tmp_path, "fomm")
    templates = tmp_path / "templates"
    write_templates(templates)
    drivers = tmp_path / "drivers.txt"
    drivers.write_text("casme2/sub01/EP01_01\ncasme2/sub09/EP01_01\n")
    out = tmp_path / "set"
    with pytest.raises(DataError, match="sub09"):
        make_megc_set(ckpt, templates, drivers, out, data=prepared, progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_the_frame_rate_rule_of_a_set():
    from generation.animation.megc import MEGC_FPS, fps_policy

    assert fps_policy("megc2021", None) == (
        MEGC_FPS,
        "100 fps for every video (the MEGC convention of megc2021)",
    )
    rate, note = fps_policy(["a clip"], None)
    assert rate is None and "own frame rate" in note
    assert fps_policy("megc2022", 25.0)[0] == 25.0


@pytest.mark.slow
def test_a_video_driver_keeps_its_container_rate(tmp_path):
    from engine_helpers import astronaut_face, shift_image

    from generation.animation.megc import DriverSpec
    from generation.data.video import probe, write_mp4

    face, _ = astronaut_face(96)
    video = write_mp4(
        tmp_path / "take1.mp4", [shift_image(face, 0.5 * k, 0) for k in range(5)], fps=30
    )
    ckpt = _checkpoint(tmp_path, "fomm")
    templates = tmp_path / "templates"
    write_templates(templates)
    result = make_megc_set(
        ckpt, templates, [DriverSpec(str(video))], tmp_path / "set", progress=False
    )
    assert "own frame rate" in result.fps_note
    with (tmp_path / "set" / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["fps"] for r in rows} == {"30"}
    assert probe(tmp_path / "set" / rows[0]["path"]).fps == pytest.approx(30)
