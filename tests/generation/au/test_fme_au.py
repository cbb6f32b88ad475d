"""`fme au`: any source's AU track written with OpenFace's column names, and compared."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from engine_helpers import astronaut_face, make_prepared, shift_image

from fme.cli import main
from generation.au import AU_NAMES

DATA = Path(__file__).resolve().parents[2] / "data" / "real-media" / "au"
HEADER = ["frame", "timestamp", *[f"{a}_r" for a in AU_NAMES]]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_openface_landmarks_in_agreement_table_out(tmp_path, capsys):
    out = tmp_path / "lm.csv"
    csv_in = str(DATA / "OpenFace_Test.csv")
    assert main(["au", csv_in, "--out", str(out), "--compare", csv_in]) == 0
    rows = _rows(out)
    assert list(rows[0]) == HEADER and len(rows) == 100 and rows[0]["frame"] == "1"
    said = capsys.readouterr().out
    assert "reference each cue's median" in said
    assert "one curve for AU06 and AU07" in said and "not estimated (0): AU09, AU14, AU20" in said
    au45 = next(line for line in said.splitlines() if line.startswith("| AU45 |"))
    assert float(au45.split("|")[4]) >= 0.85  # r with OpenFace's blink


def test_a_videos_pyfeat_csv_rewritten_in_openface_names(tmp_path, capsys):
    from generation.data.video import write_mp4

    face, _ = astronaut_face(96)
    video = write_mp4(tmp_path / "take.mp4", [shift_image(face, k, 0) for k in range(4)], fps=30)
    names = ["frame", "AU01", "AU12", "AU43"]
    values = [[k, 0.1 * k, 0.2, 0.05 * k] for k in range(4)]
    (tmp_path / "take.pyfeat.csv").write_text(
        "\n".join([",".join(names)] + [",".join(map(str, v)) for v in values]) + "\n"
    )
    out = tmp_path / "t.csv"
    assert main(["au", str(video), "--au-source", "pyfeat", "--out", str(out)]) == 0
    rows = _rows(out)
    assert [float(r["AU01_r"]) for r in rows] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert [float(r["AU45_r"]) for r in rows] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert [float(r["timestamp"]) for r in rows] == pytest.approx(
        [0, 1 / 30, 2 / 30, 3 / 30], abs=1e-4
    )
    assert "take.pyfeat.csv" in capsys.readouterr().out


def test_a_prepared_clip_from_its_onset_at_its_dataset_rate(tmp_path):
    root = make_prepared(tmp_path / "prep", subjects=1, clips_per_subject=1, n_frames=5, size=32)
    out = tmp_path / "t.csv"
    assert main(["au", str(root / "casme2" / "sub01" / "EP01_01"), "--out", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == 5 and float(rows[1]["timestamp"]) == pytest.approx(1 / 200)
    assert all(float(v) == 0 for k, v in rows[0].items() if k.endswith("_r"))  # the onset
