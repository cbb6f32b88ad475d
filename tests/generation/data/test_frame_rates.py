"""Frame rates kept: a video's container rate, a prepared clip's dataset rate."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
from engine_helpers import astronaut_face, make_prepared, shift_image

from generation.data.clip import DATASET_FPS, dataset_fps


def test_dataset_rates_and_a_synthetic_corpus_own(tmp_path):
    assert dataset_fps("casme2") == 200.0 and dataset_fps("smic") == 100.0
    assert dataset_fps("casme3") == 30.0 and dataset_fps("unknown") is None
    (tmp_path / "synth.json").write_text(json.dumps({"fps": 50.0}))
    assert dataset_fps("casme2", tmp_path) == 50.0
    assert set(DATASET_FPS) == {"casme2", "samm", "smic", "casme_sq", "casme3"}


def test_a_prepared_clip_keeps_its_rate(tmp_path):
    from generation.animation.animate import load_driving
    from generation.data.prepared import load_prepared

    root = make_prepared(tmp_path / "prep", subjects=1, clips_per_subject=2, n_frames=4, size=32)
    folder = root / "casme2" / "sub01" / "EP01_01"
    assert load_driving(folder, 32).fps == 200.0  # no fps column: CASME II's rate
    with (root / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[0]["fps"] = "50"
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0]])
        writer.writeheader()
        writer.writerows(rows)
    clips = load_prepared(root)
    assert clips[0].frame_rate == 50.0 and clips[1].frame_rate == 200.0
    assert load_driving(folder, 32).fps == 50.0


def test_a_video_keeps_its_container_rate(tmp_path):
    from generation.animation.animate import load_driving
    from generation.data.video import frame_rate, write_mp4

    face, _ = astronaut_face(96)
    video = write_mp4(tmp_path / "v.mp4", [shift_image(face, k * 0.5, 0) for k in range(4)], fps=30)
    assert frame_rate(video) == pytest.approx(30.0)
    clip = load_driving(video, 32)
    assert clip.fps == pytest.approx(30.0) and clip.path == video
    folder = tmp_path / "frames"
    folder.mkdir()
    assert frame_rate(folder) is None


def test_prepare_writes_the_rate_in_the_manifest(tmp_path):
    from generation.data.clip import Clip
    from generation.face.prepare import manifest_row

    frames = tuple(tmp_path / f"{k}.png" for k in (1, 2, 3))
    clip = Clip("casme2", "sub01", "EP01", frames, (1, 2, 3), 1, 2, 3, "happiness", "positive")
    assert manifest_row(replace(clip, fps=200.0), tmp_path)["fps"] == "200"
    assert manifest_row(clip, tmp_path)["fps"] == ""
