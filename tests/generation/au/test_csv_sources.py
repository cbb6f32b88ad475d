"""AU sources: OpenFace, LibreFace and py-feat CSVs, matched by name, checked, written back."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fme.core.errors import ConfigError, DataError
from generation.au import AU_NAMES, AUTrack
from generation.au.sources import (
    AUSource,
    agreement,
    clip_track,
    find_csv,
    read_au_csv,
    write_track_csv,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "real-media" / "au"
OPENFACE_CSV = DATA / "OpenFace_Test.csv"


def _write(path: Path, header: list[str], rows: list[list]) -> Path:
    path.write_text(
        "\n".join([",".join(header)] + [",".join(str(v) for v in r) for r in rows]) + "\n"
    )
    return path


def test_libreface_columns_are_read_on_the_openface_scale(tmp_path):
    path = _write(
        tmp_path / "x.csv",
        ["frame", "au_1_intensity", "au_12_intensity", "au_6"],  # au_6: a presence, not read
        [[0, 0.5, 3.0, 1], [1, 1.5, 4.0, 0]],
    )
    track = read_au_csv(path, "libreface")
    assert track.source == "libreface"
    assert track.column("AU01").tolist() == [0.5, 1.5]
    assert track.column("AU12").tolist() == [3.0, 4.0]
    assert not track.column("AU06").any() and "AU06" in track.meta["not_estimated"]


def test_pyfeat_columns_are_scaled_to_0_5_and_au43_fills_au45(tmp_path):
    path = _write(
        tmp_path / "x.csv",
        ["frame", "AU01", "AU12", "AU43", "AU28"],
        [[0, 0.1, 0.8, 0.0, 0.3], [1, 0.2, 0.4, 1.0, 0.3]],
    )
    track = read_au_csv(path, "pyfeat")
    np.testing.assert_allclose(track.column("AU01"), [0.5, 1.0])
    np.testing.assert_allclose(track.column("AU12"), [4.0, 2.0])
    np.testing.assert_allclose(track.column("AU45"), [0.0, 5.0])


@pytest.mark.parametrize("source", ["openface", "libreface", "pyfeat"])
def test_a_csv_without_the_au_columns_names_the_file(tmp_path, source):
    path = _write(tmp_path / "other.csv", ["frame", "x_0"], [[1, 2.0]])
    with pytest.raises(DataError, match="other.csv"):
        read_au_csv(path, source)


def test_a_csv_of_another_length_names_the_file(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    shutil.copy(OPENFACE_CSV, tmp_path / "clip.openface.csv")  # 100 rows
    with pytest.raises(DataError, match=r"clip\.openface\.csv.*100 rows.*72 frames"):
        AUSource("openface").csv_track(video, 72)


def test_csvs_are_matched_by_name_beside_videos_and_in_prepared_clips(tmp_path):
    video = tmp_path / "take1.mp4"
    video.write_bytes(b"")
    (tmp_path / "take1.csv").write_text("x")
    assert find_csv(video, "openface") == tmp_path / "take1.csv"
    (tmp_path / "take1.openface.csv").write_text("x")  # the source's own name wins
    assert find_csv(video, "openface") == tmp_path / "take1.openface.csv"
    clip = tmp_path / "casme2" / "sub01" / "EP01"
    clip.mkdir(parents=True)
    (clip / "au.csv").write_text("x")
    assert find_csv(clip, "libreface") == clip / "au.csv"
    folder = tmp_path / "csvs"
    folder.mkdir()
    (folder / "sub01_EP01.pyfeat.csv").write_text("x")
    record = SimpleNamespace(subject="sub01", clip_id="EP01")
    assert find_csv(clip, "pyfeat", folder, record) == folder / "sub01_EP01.pyfeat.csv"
    with pytest.raises(DataError, match="no openface CSV.*take2"):
        find_csv(tmp_path / "take2.mp4", "openface")


def test_clip_track_reads_the_csv_for_a_csv_source_and_landmarks_otherwise(tmp_path):
    from generation.au.openface import read_openface_landmarks

    video = tmp_path / "face.mp4"
    video.write_bytes(b"")
    shutil.copy(OPENFACE_CSV, tmp_path / "face.csv")
    lms = read_openface_landmarks(OPENFACE_CSV)
    clip = SimpleNamespace(path=video, landmarks=lms, onset_index=0)
    openface = clip_track(clip, "openface")
    assert openface.source == "openface"
    np.testing.assert_allclose(
        openface.column("AU45")[:3], read_au_csv(OPENFACE_CSV, "openface").column("AU45")[:3]
    )
    assert clip_track(clip, None).source == "landmarks"


def test_unknown_source_and_csv_without_a_csv_source_are_config_errors():
    with pytest.raises(ConfigError, match="--au-source"):
        AUSource("facereader")
    with pytest.raises(ConfigError, match="--au-csv"):
        AUSource("landmarks", "x.csv")


def test_written_tracks_use_openface_names_and_read_back(tmp_path):
    values = np.random.default_rng(0).uniform(0, 5, (4, len(AU_NAMES))).round(3)
    out = write_track_csv(tmp_path / "t.csv", AUTrack(values), fps=25.0)
    header = out.read_text().splitlines()[0].split(",")
    assert header == ["frame", "timestamp", *[f"{a}_r" for a in AU_NAMES]]
    back = read_au_csv(out, "openface")
    np.testing.assert_allclose(back.values, values, atol=1e-6)
    assert back.fps == pytest.approx(25.0)
    assert out.read_text().splitlines()[1].startswith("1,0.0000,")


def test_agreement_scores_each_au_against_the_reference():
    rng = np.random.default_rng(1)
    ref = AUTrack(rng.uniform(0, 2, (50, len(AU_NAMES))))
    same = AUTrack(ref.values * 2, meta={"not_estimated": ["AU09"]})
    rows = {r["au"]: r for r in agreement(same, ref)}
    assert rows["AU01"]["r"] == pytest.approx(1.0)
    assert rows["AU01"]["mae"] == pytest.approx(float(np.abs(ref.values[:, 0]).mean()), rel=1e-5)
    assert rows["AU09"]["status"] == "not estimated"


def test_the_training_config_keeps_the_au_source():
    from generation.au.sources import train_source
    from generation.config import TrainConfig, run_config_from_dict

    train = TrainConfig(au_source="libreface", au_csv="csvs").check()
    assert train_source(train) == AUSource("libreface", "csvs")
    assert train_source(TrainConfig().check()) == AUSource()
    saved = run_config_from_dict({"variant": "famgan", "train": {"iterations": 3}})  # older run
    assert saved.train.au_source == "landmarks"
    with pytest.raises(ConfigError, match="au_source must be one of"):
        TrainConfig(au_source="facereader").check()
