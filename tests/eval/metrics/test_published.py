"""The published-table metrics inside `fme eval metrics`: weights from paths, one line for
each metric left out, FVD's clip length, the tables' notes, and a whole run on random-weight
files."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from eval.metrics import published as pm
from eval.table import write_tables
from fme.cli import main
from fme.core.errors import ConfigError


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    """No weights from a real hub cache leak into the tests."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def test_absent_weights_leave_each_metric_out_with_one_line_naming_its_file():
    nets = pm.load_nets(pm.resolve_weights({}))
    assert nets.inception is None and nets.i3d is None and not nets.lpips and nets.embedder is None
    text = "\n".join(nets.notes)
    assert len(nets.notes) == 5 and all("\n" not in n for n in nets.notes)
    for needle in ("--inception pt_inception-2015-12-05-*.pth", "--i3d i3d_pretrained_400.pt", "--alexnet",
                   "--vgg16", "--lpips-dir alex.pth", "--arcface", "--facenet"):  # fmt: skip
        assert needle in text


def test_weights_are_found_by_name_in_a_folder_and_in_the_hub_cache(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    (w / "i3d_pretrained_400.pt").write_bytes(b"x")
    (w / "alex.pth").write_bytes(b"x")
    hub = tmp_path / "torch-home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    found = pm.resolve_weights({}, str(w))
    assert found.get("i3d") == w / "i3d_pretrained_400.pt"
    assert found.get("lpips_alex") == w / "alex.pth"
    assert found.get("inception") == hub / "pt_inception-2015-12-05-6726825d.pth"
    assert found.get("vgg16") is None and found.get("arcface") is None


def test_an_option_naming_a_missing_file_is_one_line_and_status_2(tmp_path, capsys):
    (tmp_path / "set").mkdir()
    status = main(
        ["eval", "metrics", "--set", str(tmp_path / "set"), "--inception", str(tmp_path / "no.pth")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and "--inception" in err[0] and "no.pth" in err[0]
    with pytest.raises(ConfigError, match="--lpips-dir"):
        pm.resolve_weights({"lpips_dir": str(tmp_path / "absent")})


def test_fvd_refuses_short_clips_with_one_line():
    acc = pm.SetAccumulator(i3d=[np.zeros((1, 400))], short=["a.mp4 (12 frames)"])
    notes: list[str] = []
    real = {"i3d": (np.random.default_rng(0).normal(size=(4, 400)), np.arange(4))}
    values = pm.set_values(acc, real, "set1", 16, 10, 1000, notes)
    assert "fvd" not in values
    assert len(notes) == 1 and "a.mp4 (12 frames)" in notes[0] and "--fvd-frames" in notes[0]


def test_set_values_give_fid_kid_fvd_with_intervals():
    rng = np.random.default_rng(0)
    acc = pm.SetAccumulator(
        pool3=[rng.normal(size=(5, 32)) for _ in range(4)],
        i3d=[rng.normal(size=(1, 16)) for _ in range(6)],
    )
    real = {
        "pool3": (rng.normal(0.5, 1, size=(30, 32)), np.repeat(np.arange(6), 5)),
        "i3d": (rng.normal(size=(6, 16)), np.arange(6)),
    }
    v = pm.set_values(acc, real, "s", 16, 50, 1000, [])
    assert v["fid_lo"] <= v["fid"] * 1.5 and v["fid_hi"] >= v["fid_lo"]
    assert v["kid_subset"] == 20 and v["fvd_clips"] == 6 and v["fvd_lo"] <= v["fvd_hi"]


def test_tables_mark_the_columns_that_need_weights(tmp_path):
    frame = pd.DataFrame({"set": ["a"], "psnr": [30.0], "fid": [12.0], "lpips_alex": [0.1]})
    rename, notes = pm.column_tags(list(frame.columns), "arcface")
    assert rename == {"fid": "fid [Inc]", "lpips_alex": "lpips_alex [Alex]"}
    md, _csv, tex = None, None, None
    paths = write_tables(frame.rename(columns=rename), tmp_path / "t", notes=notes)
    md, tex = paths[1].read_text(), paths[2].read_text()
    assert "| fid [Inc] |" in md and "pt_inception-2015-12-05-6726825d.pth" in md
    assert r"95 \% bootstrap" in tex and "alexnet-owt-7be5be79.pth" in tex


@pytest.mark.slow
def test_metrics_on_random_weight_files_print_every_column(tmp_path, capsys):
    from generation.data.video import read_video, write_mp4
    from generation.synth import SynthConfig, render_cross, write_corpus

    synth = tmp_path / "synth"
    write_corpus(
        synth, SynthConfig(subjects=2, clips_per_subject=1, size=96, fps=30, seed=0), progress=False
    )
    gen, templates, driving = tmp_path / "gen", tmp_path / "templates", tmp_path / "driving"
    templates.mkdir()
    for ident, drv in (("sub01", "sub02"), ("sub02", "sub01")):
        frames, _ = render_cross(synth, ident, f"{drv}/EP01_01")
        write_mp4(gen / f"{drv}_EP01_01-{ident}.mp4", frames, fps=30)
        shutil.copy(synth / "identities" / f"{ident}.png", templates / f"{ident}.png")
        write_mp4(
            driving / f"{drv}_EP01_01.mp4",
            read_video(synth / "CASME2_RAW_selected" / drv / "EP01_01"),
            fps=30,
        )
    assert main(["eval", "random-weights", "--out", str(tmp_path / "w")]) == 0
    out = tmp_path / "out"
    args = ["eval", "metrics", "--set", str(gen), "--templates", str(templates), "--driving", str(driving),
            "--synth", str(synth), "--weights", str(tmp_path / "w"), "--feature-cache", str(tmp_path / "cache"),
            "--bootstrap", "20", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    table = pd.read_csv(out / "metrics.csv")
    for col in ("fid", "fid_lo", "fid_hi", "kid", "fvd", "fvd_lo", "fvd_hi", "lpips_alex", "lpips_vgg",
                "flicker_alex", "flicker_vgg", "csim", "aed", "akd", "leakage"):  # fmt: skip
        assert np.isfinite(table.loc[0, col]), col
    assert "fid [Inc]" in (out / "metrics.md").read_text()
    assert "note:" not in capsys.readouterr().err
    # the real set's features were cached: a second run reads them
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()) == ["i3d", "pool3"]


@pytest.mark.slow
def test_demo_sets_with_random_weight_files_print_every_set_column(tmp_path):
    """On the sets `fme demo --no-serve --out DIR` made, when FME_E2E_DEMO_DIR names DIR."""
    import os
    from pathlib import Path

    demo = os.environ.get("FME_E2E_DEMO_DIR")
    if not demo or not (Path(demo) / "sets").is_dir():
        pytest.skip("set FME_E2E_DEMO_DIR to a folder made by `fme demo --out DIR --no-serve`")
    demo = Path(demo)
    sets = sorted(p for p in (demo / "sets").iterdir() if p.is_dir())[:2]
    assert main(["eval", "random-weights", "--out", str(tmp_path / "w")]) == 0
    args = ["eval", "metrics", "--templates", str(demo / "megc-inputs" / "templates"),
            "--driving", str(demo / "prepared"),
            "--weights", str(tmp_path / "w"), "--feature-cache", str(tmp_path / "cache"),
            "--bootstrap", "20", "--fvd-frames", "9", "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    for s in sets:
        args += ["--set", str(s)]
    assert main(args) == 0
    table = pd.read_csv(tmp_path / "out" / "metrics.csv")
    for col in ("fid", "kid", "fvd", "flicker_alex", "flicker_vgg", "csim"):
        assert table[col].notna().all(), col
