"""The AU engine's other two sources: OpenFace CSVs and the datasets' FACS codes."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import write_casme2

from fme.core.errors import DataError
from generation.au import AU_NAMES
from generation.au.facs import clip_facs_track, facs_track, parse_code, ramp
from generation.au.openface import read_openface_csv
from generation.data.readers import read_dataset


def _openface_csv(path, spaces: bool = True, aus=AU_NAMES, rows: int = 3):
    """A CSV laid out as OpenFace's FeatureExtraction writes it (leading spaces in headers)."""
    sep = ", " if spaces else ","
    cols = ["frame", "face_id", "timestamp", "confidence", "success"]
    cols += [f"{a}_r" for a in aus] + [f"{a}_c" for a in aus]
    lines = [sep.join(cols)]
    for t in range(rows):
        intens = [f"{(k + 1) * 0.1 + t:.2f}" for k in range(len(aus))]
        row = [str(t + 1), "0", f"{0.04 * t:.3f}", "0.98", "0" if t == 1 else "1"]
        row += intens + ["1"] * len(aus)
        lines.append(sep.join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_openface_csv_with_leading_spaces(tmp_path):
    track = read_openface_csv(_openface_csv(tmp_path / "of.csv"))
    assert track.source == "openface" and track.names == AU_NAMES
    assert track.values.shape == (3, 17)
    # AU12 is the 9th of OpenFace's 17 columns: 0.9 + t; AU45 the 17th: 1.7 + t
    np.testing.assert_allclose(track.column("AU12"), [0.9, 1.9, 2.9], atol=1e-6)
    np.testing.assert_allclose(track.column("AU45"), [1.7, 2.7, 3.7], atol=1e-6)
    assert track.fps == pytest.approx(25.0)  # timestamps 0.04 s apart
    assert track.meta["failed_frames"] == [1] and track.meta["frames"] == [1, 2, 3]
    assert track.meta["not_estimated"] == []


def test_openface_csv_without_spaces_and_with_some_aus(tmp_path):
    path = _openface_csv(tmp_path / "of.csv", spaces=False, aus=("AU04", "AU12"))
    track = read_openface_csv(path, fps=100.0)
    np.testing.assert_allclose(track.column("AU12"), [0.2, 1.2, 2.2], atol=1e-6)
    assert np.all(track.column("AU01") == 0)
    assert track.fps == 100.0  # the caller's rate wins over the timestamps
    assert "AU01" in track.meta["not_estimated"] and "AU04" not in track.meta["not_estimated"]


def test_openface_bad_files_raise_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_openface_csv(tmp_path / "missing.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="AU01_r"):
        read_openface_csv(tmp_path / "other.csv")


def test_parse_facs_codes():
    assert parse_code("R12") == ("R", 12, None)
    assert parse_code("4B") == ("", 4, 2.0)
    assert parse_code("AU1") == ("", 1, None)
    assert parse_code("L14E") == ("L", 14, 5.0)
    assert parse_code("12.0") == ("", 12, None)
    with pytest.raises(DataError):
        parse_code("smile")


def test_facs_curves_are_piecewise_linear_with_the_coded_peak():
    track = facs_track(("R12", "14", "4B", "43", "4?"), n_frames=9, onset_index=1, apex_index=3,
                       offset_index=7, fps=200.0)  # fmt: skip
    # 0 at and before the onset (1), 1 at the apex (3), 0 at and after the offset (7)
    ramp12 = [0, 0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0]
    np.testing.assert_allclose(track.column("AU12"), ramp12)
    np.testing.assert_allclose(track.column("AU14"), ramp12)
    np.testing.assert_allclose(track.column("AU04"), 2 * np.array(ramp12))  # B -> 2
    assert np.all(track.column("AU01") == 0)
    assert track.source == "facs" and track.fps == 200.0
    assert track.meta["sides"] == {"AU12": "R"} and track.meta["ignored"] == ["43", "4?"]
    np.testing.assert_allclose(ramp(5, 1, 1, 3), [0, 1, 0.5, 0, 0])  # apex at the onset
    with pytest.raises(DataError):
        ramp(5, 3, 1, 4)


def test_facs_track_of_dataset_clips(tmp_path):
    clips = {c.clip_id: c for c in read_dataset("casme2", write_casme2(tmp_path / "casme2"))}
    disgust = clip_facs_track(clips["EP02_01f"])  # frames 46-58, apex 51, AUs 4+7
    assert disgust.n_frames == 13
    expected = [0, 0.2, 0.4, 0.6, 0.8, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7, 0]
    np.testing.assert_allclose(disgust.column("AU04"), expected, atol=1e-6)
    np.testing.assert_allclose(disgust.column("AU07"), expected, atol=1e-6)
    happy = clip_facs_track(clips["EP03_02"])  # R12+L14, apex '/' -> the middle frame
    assert happy.meta["sides"] == {"AU12": "R", "AU14": "L"}
    assert int(np.argmax(happy.column("AU12"))) == happy.meta["apex_index"] == 3
    assert facs_track("4+7", 13, 0, 5, 12).meta["codes"] == ["4", "7"]  # a sheet string


def test_sources_are_importable_from_the_package():
    import generation.au as au
    from generation.au.estimator import clip_au_track
    from generation.au.openface import read_openface_csv as reader

    assert au.clip_au_track is clip_au_track and au.read_openface_csv is reader
    assert au.facs_track is facs_track
    with pytest.raises(AttributeError):
        au.no_such_source  # noqa: B018
