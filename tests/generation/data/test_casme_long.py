"""CAS(ME)² and CAS(ME)³ part A readers on fixture trees laid out as the distributions
(and MEB's and MEAN's loaders) have them: long task videos, clips cut from onset to offset,
labels by the composite-style 3-class rule."""

from __future__ import annotations

import pandas as pd
import pytest
from data_helpers import write_frames

from fme.core.errors import DataError
from generation.data.readers import dataset_name, read_dataset_report

CASME3_COLUMNS = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]  # fmt: skip


def write_casme3(root, split: bool = False):
    """part_A/spNO.<n>/<task>/color/<i>.jpg and the JpgIndex label sheet."""
    rows = [
        ["spNO.1", "a", 10, 14, 18, "R12", 1, "happy"],
        ["spNO.1", "a", 30, 25, 36, "4+7", 2, "disgust"],  # apex before onset: corrected
        ["spNO.1", "b", 5, 7, 9, "1+2+5", 3, "surprise"],
        ["spNO.2", "a", 40, 42, 45, "14", 4, "others"],
        ["spNO.2", "c", 3, "/", 8, "ref(10)+15", 5, "sad"],
    ]
    for subject, task, *_ in rows:
        folder = root / "part_A" / subject / task / "color"
        if not folder.is_dir():
            write_frames(folder, range(1, 50), "{}.jpg".format)
    if split:  # a copy with MEB's split clip folders: a2/ holds the second ME of a/
        write_frames(root / "part_A" / "spNO.1" / "a2" / "color", range(30, 37), "{}.jpg".format)
    table = pd.DataFrame(rows, columns=CASME3_COLUMNS)
    table.to_excel(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", index=False)
    return root


def test_casme3_part_a(tmp_path):
    root = write_casme3(tmp_path / "CASME3")
    assert dataset_name("CAS(ME)^3") == dataset_name("cas(me)³") == "casme3"
    report = read_dataset_report("casme3", root)
    clips = {c.key: c for c in report.clips}
    assert list(clips) == [
        "casme3/spNO.1/a",
        "casme3/spNO.1/a2",  # the second ME of the same task video, named as MEB does
        "casme3/spNO.1/b",
        "casme3/spNO.2/a",
        "casme3/spNO.2/c",
    ]
    a = clips["casme3/spNO.1/a"]
    assert a.frame_numbers == tuple(range(10, 19))  # onset..offset of the long video
    assert a.frames[0].parent == root / "part_A/spNO.1/a/color" and a.frames[0].name == "10.jpg"
    assert (a.onset, a.apex, a.offset, a.aus) == (10, 14, 18, ("R12",))
    second = clips["casme3/spNO.1/a2"]
    assert second.frame_numbers == tuple(range(30, 37)) and second.apex == 33
    assert "apex 25 outside onset..offset (30-36)" in second.corrections[0]
    assert {k: c.label for k, c in clips.items()} == {
        "casme3/spNO.1/a": "positive",
        "casme3/spNO.1/a2": "negative",
        "casme3/spNO.1/b": "surprise",
        "casme3/spNO.2/a": None,  # others
        "casme3/spNO.2/c": "negative",  # sad
    }
    assert clips["casme3/spNO.2/c"].au_cell.refs_text == "10"
    assert report.label_source == "emotion" and not report.left_out


def test_casme3_split_clip_folders(tmp_path):
    root = write_casme3(tmp_path / "CASME3", split=True)
    report = read_dataset_report("casme3", tmp_path)  # one level above the dataset root
    second = next(c for c in report.clips if c.clip_id == "a2")
    assert second.frames[0].parent == root / "part_A/spNO.1/a2/color"


def write_casme_sq(root):
    """CAS(ME)^2code_final.xlsx (three sheets, no header) and rawpic long videos."""
    rows = [
        [1, "disgust1_1", 20, 24, 28, "4+7", "negative", "micro-expression", "disgust"],
        [1, "disgust1_2", 40, 60, 90, "4", "negative", "macro-expression", "disgust"],
        [1, "happy1_1", 5, 8, 11, "R12", "positive", "micro-expression", "happy"],
        [2, "disgust1_1", 30, "/", 36, "9", "others", "micro-expression", "unknown"],
        [2, "anger1_1", "x1", 3, 9, "4", "negative", "micro-expression", "anger"],
    ]
    subjects = [["", 15, 1], ["", 16, 2]]  # sheet 2: folder code, subject number
    videos = [["0101", "disgust1"], ["0502", "happy1"], ["0401", "anger1"]]  # sheet 3
    for code, video in ((15, "0101disgustingteeth"), (15, "0502"), (16, "0101disgustingteeth")):
        write_frames(
            root / "rawpic" / f"s{code}" / f"{code}_{video}", range(1, 100), "img{}.jpg".format
        )
    with pd.ExcelWriter(root / "CAS(ME)^2code_final.xlsx") as xl:
        pd.DataFrame(rows).to_excel(xl, sheet_name="Sheet1", index=False, header=False)
        pd.DataFrame(subjects).to_excel(xl, sheet_name="naming rule2", index=False, header=False)
        pd.DataFrame(videos).to_excel(xl, sheet_name="naming rule1", index=False, header=False)
    return root


def test_casme_sq_part_a(tmp_path):
    (tmp_path / "CASME_sq").mkdir()
    root = write_casme_sq(tmp_path / "CASME_sq")
    assert dataset_name("CAS(ME)^2") == dataset_name("CAS(ME)²") == "casme_sq"
    assert dataset_name("CASME II") == "casme2"
    report = read_dataset_report("casme_sq", root)
    clips = {c.key: c for c in report.clips}
    assert list(clips) == [
        "casme_sq/s15/disgust1_1",
        "casme_sq/s15/happy1_1",
        "casme_sq/s16/disgust1_1",
    ]
    d = clips["casme_sq/s15/disgust1_1"]
    assert d.frame_numbers == tuple(range(20, 29))
    assert d.frames[0] == root / "rawpic/s15/15_0101disgustingteeth/img20.jpg"
    assert (d.apex, d.aus, d.label) == (24, ("4", "7"), "negative")
    assert clips["casme_sq/s15/happy1_1"].label == "positive"
    other = clips["casme_sq/s16/disgust1_1"]
    assert other.label is None and other.apex == 33  # others; '/' apex: the middle
    (bad,) = report.left_out
    assert bad.reason == "sheet row 5: onset 'x1' is not a frame number; correct the cell"
    assert "1 macro-expression rows skipped (micro-expressions only)" in report.notes


@pytest.mark.parametrize("name", ["casme3", "casme_sq"])
def test_missing_frames_name_what_was_searched(tmp_path, name):
    (tmp_path / "x").mkdir()
    pd.DataFrame([[1]]).to_excel(tmp_path / "x" / "notes.xlsx")
    with pytest.raises(DataError, match="up to 3 levels below"):
        read_dataset_report(name, tmp_path)
