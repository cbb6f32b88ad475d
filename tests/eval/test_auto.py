"""Automatic evaluation (Table VI): fixed predictions against a hand computation, set
labels from manifests and file names, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from eval.auto import REAL, SetResult, score_predictions, table_vi, vanilla_of
from eval.clips import parse_video_name, video_set_items
from eval.recognizers import RecognizerInfo, build, save_recognizer
from fme.cli import main
from fme.core.errors import DataError
from generation.data.video import write_mp4

LABELS = ("negative", "positive", "surprise")


def _result(label, y_true, preds):
    return SetResult(label, score_predictions(label, y_true, preds), pd.DataFrame())


def test_table_vi_from_fixed_predictions_equals_hand_computation():
    y = [0, 0, 1, 1, 2, 2]
    perfect = [0, 0, 1, 1, 2, 2]
    results = [
        _result("FOMM+AWP", y, {"mc3_18": perfect, "r2plus1d_18": perfect, "r3d_18": perfect}),
        _result(
            "FOMM",
            y,
            {"mc3_18": perfect, "r2plus1d_18": [0, 1, 1, 1, 2, 0], "r3d_18": [0] * 6},
        ),
        _result(REAL, y, {"mc3_18": perfect, "r2plus1d_18": perfect, "r3d_18": perfect}),
    ]
    t = table_vi(results).set_index("Method")
    assert list(t.index) == [REAL, "FOMM+AWP", "FOMM"]  # the reference row first
    assert list(t.columns[:6]) == [
        "MC3-18 F1",
        "MC3-18 Acc",
        "R(2+1)D-18 F1",
        "R(2+1)D-18 Acc",
        "R3D-18 F1",
        "R3D-18 Acc",
    ]
    # FOMM, R(2+1)D-18: confusion rows [1,1,0], [0,2,0], [1,0,1]
    #   F1_neg = 2*1/(2+1+1) = 0.5, F1_pos = 2*2/(4+1) = 0.8, F1_sur = 2*1/(2+0+1) = 2/3
    r21 = (0.5 + 0.8 + 2 / 3) / 3
    assert t.loc["FOMM", "R(2+1)D-18 F1"] == pytest.approx(r21)
    assert t.loc["FOMM", "R(2+1)D-18 Acc"] == pytest.approx(4 / 6)
    # FOMM, R3D-18 predicts "negative" always: F1_neg = 2*2/(4+4) = 0.5, others 0
    assert t.loc["FOMM", "R3D-18 F1"] == pytest.approx(0.5 / 3)
    assert t.loc["FOMM", "R3D-18 Acc"] == pytest.approx(2 / 6)
    avg_f1 = (1.0 + r21 + 0.5 / 3) / 3  # 0.607407...
    avg_acc = (1.0 + 4 / 6 + 2 / 6) / 3
    assert t.loc["FOMM", "Average F1"] == pytest.approx(avg_f1)
    assert t.loc["FOMM", "Average F1"] == pytest.approx(0.6074074, abs=1e-7)
    assert t.loc["FOMM", "Average Acc"] == pytest.approx(avg_acc)
    assert t.loc["FOMM+AWP", "vs vanilla"] == "FOMM"
    assert t.loc["FOMM+AWP", "Gain F1"] == pytest.approx(1.0 - avg_f1)
    assert t.loc["FOMM+AWP", "Gain Acc"] == pytest.approx(1.0 - avg_acc)
    assert np.isnan(t.loc["FOMM", "Gain F1"]) and np.isnan(t.loc[REAL, "Gain F1"])


def test_vanilla_of_prior_variants():
    labels = ["FOMM", "FOMM+EWP", "FOMM+AWP", "MRAA", "mraa-awp"]
    assert vanilla_of("FOMM+AWP", labels) == "FOMM"
    assert vanilla_of("mraa-awp", labels) == "MRAA"
    assert vanilla_of("FOMM", labels) is None
    assert vanilla_of("fomm-ewp", ["mraa"]) is None


def test_parse_driving_and_template_names():
    assert parse_video_name("007_7_1-normalized_westernMale") == (
        "007_7_1",
        "normalized_westernMale",
    )
    assert parse_video_name("sub17_EP01_13-normalized_asianFemale") == (
        "sub17_EP01_13",
        "normalized_asianFemale",
    )
    # a driving name with '-' of its own: split where a known template starts
    assert parse_video_name("clip-a-b-normalized_asianMale") == ("clip-a-b", "normalized_asianMale")
    assert parse_video_name("my-clip-face7", templates=["face7"]) == ("my-clip", "face7")
    assert parse_video_name("drv-tpl") == ("drv", "tpl")  # unknown template: the last '-'
    assert parse_video_name("noname") is None


def test_set_without_manifest_or_parseable_names_is_a_clear_error(tmp_path):
    (tmp_path / "video1.mp4").write_bytes(b"")
    (tmp_path / "video2.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="manifest.csv") as err:
        video_set_items(tmp_path)
    assert "video1.mp4" in str(err.value) and str(tmp_path) in str(err.value)

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "somebody_else-normalized_asianMale.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="no known label"):
        video_set_items(unknown)
    # with a lookup (e.g. from the real clips' prepared data) the same name resolves
    items = video_set_items(unknown, {"somebody_else": "positive"})
    assert [(i.driving, i.template, i.label) for i in items] == [
        ("somebody_else", "normalized_asianMale", "positive")
    ]

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a-b.mp4").write_bytes(b"")
    (bad / "manifest.csv").write_text("path,emotion\na-b.mp4,happiness\n")
    with pytest.raises(DataError, match="`label` column"):
        video_set_items(bad)


def _clip(label: int, n: int, size: int) -> np.ndarray:
    frames = np.full((n, size, size, 3), 40 + 60 * label, np.uint8)
    frames[:, size // 4 : size // 2, size // 4 : size // 2] = 220
    return frames


@pytest.fixture
def recognizers(tmp_path):
    folder = tmp_path / "recognizers"
    for name in ("r3d_18", "mc3_18"):
        torch.manual_seed(len(name))
        model = build(name, 3, width=0.0625)
        info = RecognizerInfo(name, 0.0625, LABELS, frames=4, size=16)
        save_recognizer(folder / f"{name}.pt", model, info)
    return folder


def test_auto_command_writes_table_consistent_with_predictions(tmp_path, recognizers, capsys):
    parsed = tmp_path / "fomm"  # labels from MEGC driving names
    drivers = {"007_7_1": 2, "022_3_3": 1, "018_3_1": 0, "sub17_EP01_13": 2}
    for d, label in drivers.items():
        write_mp4(parsed / f"{d}-normalized_westernMale.mp4", _clip(label, 6, 24), fps=25)
    listed = tmp_path / "fomm-awp"  # labels from a manifest, one video of another size
    rows = []
    for k, (label, size) in enumerate([(0, 16), (1, 16), (2, 32)]):
        write_mp4(listed / f"v{k}.mp4", _clip(label, 5, size), fps=25)
        rows.append(
            {"driving": f"d{k}", "template": "t", "label": LABELS[label], "path": f"v{k}.mp4"}
        )
    pd.DataFrame(rows).to_csv(listed / "manifest.csv", index=False)

    out = tmp_path / "out"
    status = main(
        [
            "eval",
            "auto",
            "--recognizers",
            str(recognizers),
            "--set",
            f"fomm={parsed}",
            "--set",
            f"fomm-awp={listed}",
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    table = pd.read_csv(out / "table_vi.csv").set_index("Method")
    preds = pd.read_csv(out / "predictions.csv")
    assert len(preds) == 2 * (4 + 3)
    for (set_name, backbone), g in preds.groupby(["set", "backbone"]):
        y = [LABELS.index(v) for v in g["label"]]
        p = [LABELS.index(v) for v in g["prediction"]]
        display = {"r3d_18": "R3D-18", "mc3_18": "MC3-18"}[backbone]
        f1 = score_predictions("", y, {"x": p})["x"].f1
        assert table.loc[set_name, f"{display} F1"] == pytest.approx(f1)
        assert table.loc[set_name, f"{display} Acc"] == pytest.approx(np.mean(np.equal(y, p)))
    assert table.loc["fomm-awp", "vs vanilla"] == "fomm"
    assert table.loc["fomm-awp", "Gain F1"] == pytest.approx(
        table.loc["fomm-awp", "Average F1"] - table.loc["fomm", "Average F1"]
    )
    notes = (out / "notes.txt").read_text()
    assert "resized videos to 16x16" in notes and "sampled 4 frames" in notes
    for suffix in (".md", ".tex", ".html"):
        assert (out / f"table_vi{suffix}").stat().st_size > 0
    assert "note: fomm" in capsys.readouterr().out


def test_auto_rejects_another_architecture_checkpoint(tmp_path, recognizers, capsys):
    # an R3D checkpoint that claims to be R(2+1)D
    payload = torch.load(recognizers / "r3d_18.pt", weights_only=True)
    payload["backbone"] = "r2plus1d_18"
    torch.save(payload, recognizers / "r2plus1d_18.pt")
    videos = tmp_path / "set"
    write_mp4(videos / "007_7_1-normalized_westernMale.mp4", _clip(2, 4, 16))
    status = main(
        ["eval", "auto", "--recognizers", str(recognizers), "--set", f"x={videos}", "--quiet"]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "r2plus1d_18.pt" in err and "looks like r3d_18" in err


def test_auto_real_row_from_prepared_clips_and_name_lookup(tmp_path, recognizers):
    from eval_helpers import write_prepared

    real = write_prepared(tmp_path / "prep", [0, 1], clips_per_class=1, frames=4, size=16)
    videos = tmp_path / "gen"
    # driving names as `<subject>_<clip_id>`: labels come from the prepared manifest
    write_mp4(videos / "sub00_EP02_01-normalized_asianMale.mp4", _clip(1, 4, 16))
    write_mp4(videos / "sub01_EP03_01-normalized_asianMale.mp4", _clip(2, 4, 16))
    out = tmp_path / "out"
    status = main(
        [
            "eval",
            "auto",
            "--recognizers",
            str(recognizers),
            "--set",
            f"g={videos}",
            "--real",
            str(real),
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    preds = pd.read_csv(out / "predictions.csv")
    gen = preds[preds["set"] == "g"].sort_values(["backbone", "video"])
    assert list(gen["label"][:2]) == ["positive", "surprise"]
    real_rows = preds[preds["set"] == REAL]
    # only the two driving clips of the set are the reference, not all six real clips
    assert sorted(set(real_rows["video"])) == ["synthetic/sub00/EP02_01", "synthetic/sub01/EP03_01"]
    assert list(pd.read_csv(out / "table_vi.csv")["Method"]) == [REAL, "g"]


def test_generated_video_sampled_from_driving_onset_to_offset(tmp_path):
    from dataclasses import replace

    from eval.clips import VideoItem

    frames = np.zeros((10, 16, 16, 3), np.uint8)
    frames[3:8] = 200  # the driving clip's onset..offset
    write_mp4(tmp_path / "v.mp4", frames)
    item = VideoItem("v.mp4", "t", "positive", tmp_path / "v.mp4", span=(3, 7, 10))
    clip, original = item.read(frames=4, size=16)
    assert original == (10, 16, 16) and clip.min() > 150
    # a video of another length than the driving clip: sampled over its whole length
    whole, _ = replace(item, span=(3, 7, 12)).read(frames=4, size=16)
    assert whole[0].max() < 50 and whole[-1].max() < 50
