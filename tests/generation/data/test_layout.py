"""Dataset copies laid out as researchers keep them: the sheet and the frame tree are found
by what they hold, up to three levels below the folder given; a choice between two
candidates is stated; a failed search names what was searched."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from data_helpers import SAMM_COLUMNS, write_casme2, write_samm, write_smic

from fme.core.errors import DataError
from generation.data.readers import read_dataset_report


def _move(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))


def test_casme2_cropped_two_levels_below(tmp_path):
    # CASME2/Cropped-updated/Cropped/sub01/EP02_01f/reg_img46.jpg, the sheet in CASME2/
    root = write_casme2(tmp_path / "CASME2", frames_dir="Cropped", frame_name="reg_img{}.jpg")
    _move(root / "Cropped", root / "Cropped-updated" / "Cropped")
    report = read_dataset_report("casme2", root)
    assert len(report.clips) == 6 and not report.left_out
    c = next(c for c in report.clips if c.clip_id == "EP02_01f")
    assert c.frames[0] == root / "Cropped-updated/Cropped/sub01/EP02_01f/reg_img46.jpg"
    assert not report.notes  # one candidate: nothing to say


def test_casme2_preprocessed_folder_with_the_sheet_beside_cropped(tmp_path):
    inner = tmp_path / "CASME2" / "CASME2_preprocessed_Li Xiaobai"
    write_casme2(inner, frames_dir="Cropped", frame_name="reg_img{}.jpg")
    for root in (tmp_path / "CASME2", inner):  # the folder above, or the folder itself
        report = read_dataset_report("casme2", root)
        assert len(report.clips) == 6
        assert report.clips[0].frames[0].parent.parent.parent == inner / "Cropped"


def test_casme2_raw_one_level_deeper(tmp_path):
    # CASME2_RAW/CASME2-RAW/sub01/EP02_01f/img1.jpg: whole videos, the sheet at the top
    root = write_casme2(tmp_path / "CASME2_RAW", frames_dir="CASME2-RAW")
    _move(root / "CASME2-RAW", root / "CASME2_RAW" / "CASME2-RAW")
    report = read_dataset_report("casme2", root)
    assert len(report.clips) == 6
    assert report.clips[0].frames[0].parts[-5:-3] == ("CASME2_RAW", "CASME2-RAW")


def test_two_frame_trees_the_choice_is_said(tmp_path):
    root = write_casme2(tmp_path / "c")  # CASME2_RAW_selected/
    shutil.copytree(root / "CASME2_RAW_selected", root / "Cropped")
    report = read_dataset_report("casme2", root)
    assert report.clips[0].frames[0].is_relative_to(root / "CASME2_RAW_selected")
    (note,) = report.notes
    assert note.startswith("frames: took CASME2_RAW_selected (6 clips); also found Cropped (6")
    assert "comes first in the order CASME2_RAW_selected" in note
    # a copy that holds more of the sheet's clips wins, and the note says so
    shutil.rmtree(root / "CASME2_RAW_selected" / "sub03")
    report = read_dataset_report("casme2", root)
    assert report.clips[0].frames[0].is_relative_to(root / "Cropped")
    assert "took Cropped (6 clips)" in report.notes[0]
    assert "it holds the most clips of the sheet" in report.notes[0]


def test_two_sheets_the_newest_is_taken_and_said(tmp_path):
    root = write_casme2(tmp_path / "c", sheet_name="CASME2-coding-20190701.xlsx")
    shutil.copy(root / "CASME2-coding-20190701.xlsx", root / "CASME2-coding-20140508.xlsx")
    report = read_dataset_report("casme2", root)
    assert report.notes[0] == (
        "sheet: took CASME2-coding-20190701.xlsx; also found CASME2-coding-20140508.xlsx: "
        "the shallowest, then the last by name (the newest version)"
    )


def test_a_sheet_of_another_name_found_by_its_columns(tmp_path):
    root = write_casme2(tmp_path / "c")
    _move(root / "CASME2-coding-20140508.xlsx", root / "annotations" / "labels.xlsx")
    report = read_dataset_report("casme2", root)
    assert len(report.clips) == 6
    assert "sheet: took annotations/labels.xlsx, whose header has the columns" in report.notes


def test_samm_nested_and_micro_only_sheet(tmp_path):
    root = write_samm(tmp_path / "SAMM_root")
    _move(root / "SAMM", root / "data" / "SAMM_CROP" / "SAMM")
    sheet = root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    micro = pd.read_excel(sheet, header=None)
    with pd.ExcelWriter(sheet) as xl:  # a first sheet without the table, then MICRO_ONLY
        pd.DataFrame([["FACS key"], ["/ means or"]]).to_excel(
            xl, sheet_name="KEY", index=False, header=False
        )
        micro.to_excel(xl, sheet_name="MICRO_ONLY", index=False, header=False)
    report = read_dataset_report("samm", root)
    assert len(report.clips) == 5
    assert report.clips[0].frames[0].is_relative_to(root / "data/SAMM_CROP/SAMM")
    (fixed,) = report.corrected  # 011_2_3's apex -1, located in its sheet
    assert fixed.corrections[0].startswith(f"{sheet} [MICRO_ONLY] row 18: apex '-1' missing")


def test_messages_name_what_was_searched(tmp_path):
    root = write_casme2(tmp_path / "c")
    deep = root / "a" / "b" / "c" / "d"
    _move(root / "CASME2_RAW_selected", deep / "CASME2_RAW_selected")  # four levels below
    with pytest.raises(DataError) as err:
        read_dataset_report("casme2", root)
    msg = str(err.value)
    assert str(root) in msg and "up to 3 levels below" in msg
    assert "sub01/EP02_01f/img46.jpg" in msg and "CASME2_RAW_selected or" in msg
    assert "folders searched" in msg
    empty = tmp_path / "nothing"
    (empty / "x").mkdir(parents=True)
    pd.DataFrame([[1]], columns=["a"]).to_excel(empty / "x" / "other.xlsx", index=False)
    with pytest.raises(DataError, match=r"SAMM_Micro_FACS_Codes\*\.xlsx.*1 spreadsheets looked at"):
        read_dataset_report("samm", empty)


def test_smic_hs_nested_beside_nir(tmp_path):
    root = tmp_path / "SMIC"
    write_smic(root / "SMIC_all_raw", hs_dir="HS")
    write_smic(root / "SMIC_all_raw", hs_dir="NIR", clips=((1, "positive", "s1_po_01", 1, 3),))
    report = read_dataset_report("smic", root)
    assert len(report.clips) == 4
    assert report.clips[0].frames[0].is_relative_to(root / "SMIC_all_raw" / "HS")
    assert (
        "took SMIC_all_raw/HS (4 clips); also found SMIC_all_raw/NIR (1 clips)" in (report.notes[0])
    )


def test_samm_columns_still_checked(tmp_path):
    root = write_samm(tmp_path / "s")
    pd.DataFrame([SAMM_COLUMNS[:3]]).to_excel(root / "SAMM_Micro_FACS_Codes_v2.xlsx")
    with pytest.raises(DataError, match="no column"):
        read_dataset_report("samm", root)


def test_the_synthetic_corpus_is_labelled_by_emotion_from_the_folder_above(tmp_path):
    root = write_casme2(tmp_path / "corpus")
    (root / "synth.json").write_text("{}")  # what write_corpus leaves beside its sheet
    for given in (root, tmp_path):
        report = read_dataset_report("casme2", given)
        assert report.label_source == "emotion"
        by_id = {c.clip_id: c.label for c in report.clips}
        assert by_id["EP02_01f"] == "negative"  # disgust; the published list says positive


def test_the_published_list_is_refused_for_the_synthetic_corpus(tmp_path):
    """`--labels composite` on the synthetic corpus labelled a clip whose name happened to
    be in the published CASME II list: refused in one line naming the option."""
    from fme.core.errors import ConfigError

    root = write_casme2(tmp_path / "corpus")
    (root / "synth.json").write_text("{}")
    with pytest.raises(ConfigError, match="--labels composite: this is the synthetic corpus"):
        read_dataset_report("casme2", root, labels="composite")
    assert read_dataset_report("casme2", root, labels="emotion").label_source == "emotion"
