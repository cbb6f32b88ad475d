"""Dataset readers on small fixture trees: layouts, awkward variants, error cases."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from data_helpers import (
    CASME2_COLUMNS,
    CASME2_ROWS,
    SAMM_ROWS,
    Row,
    tiny_image,
    write_casme2,
    write_samm,
    write_smic,
)
from PIL import Image

from fme.core.errors import ConfigError, DataError
from generation.data.readers import (
    au_number,
    dataset_name,
    megc2019_label,
    parse_aus,
    parse_frame,
    read_dataset,
    read_dataset_report,
)


def _by_id(clips):
    return {c.clip_id: c for c in clips}


def _gray_value(path) -> int:
    return int(np.asarray(Image.open(path))[0, 0])


# --- CASME II --------------------------------------------------------------------------


def test_casme2_reads_clips_frames_and_labels(tmp_path):
    root = write_casme2(tmp_path / "CASME2")
    report = read_dataset_report("casme2", root, labels="emotion")
    clips = _by_id(report.clips)
    assert len(clips) == 6 and not report.left_out
    c = clips["EP02_01f"]
    assert (c.dataset, c.subject, c.key) == ("casme2", "sub01", "casme2/sub01/EP02_01f")
    assert c.frame_numbers == tuple(range(46, 59))
    # frames are in numeric order although 'img100' < 'img46' as strings elsewhere
    assert [_gray_value(p) for p in c.frames] == list(range(46, 59))
    assert (c.onset, c.apex, c.offset) == (46, 51, 58)
    assert (c.onset_index, c.apex_index, c.offset_index) == (0, 5, 12)
    assert c.aus == ("4", "7") and c.emotion == "disgust" and c.label == "negative"
    assert clips["EP03_02"].aus == ("R12", "L14") and clips["EP03_02"].label == "positive"
    # unknown apex ('/') is the middle frame between onset and offset
    assert clips["EP03_02"].apex == 8 + (15 - 8) // 2
    assert clips["EP01_11f"].aus == ("12",) and clips["EP01_11f"].label == "negative"
    assert clips["EP06_01"].aus == ("1", "2") and clips["EP06_01"].label == "surprise"
    assert clips["EP07_04"].label is None and clips["EP09_05"].label is None
    assert report.label_counts == {"negative": 2, "positive": 1, "surprise": 1}
    assert report.composite_left_out == {"fear": 1, "others": 1}
    assert "| left out of the composite: fear | 1 |" in report.summary()
    assert all(c.emotion_label == c.label for c in report.clips)


def test_casme2_labels_come_from_the_published_list(tmp_path):
    root = write_casme2(tmp_path / "CASME2")
    report = read_dataset_report("casme2", root)
    clips = _by_id(report.clips)
    # the list: sub01 EP02_01f positive (the fixture's emotion says disgust), sub02
    # EP01_11f negative, sub02 EP06_01f negative (the sheet's EP06_01 lacks the 'f'),
    # sub03 EP07_04 negative; sub01 EP03_02 and sub03 EP09_05 are not listed
    assert {k: c.label for k, c in clips.items()} == {
        "EP02_01f": "positive",
        "EP03_02": None,
        "EP01_11f": "negative",
        "EP06_01": "negative",
        "EP07_04": "negative",
        "EP09_05": None,
    }
    assert clips["EP02_01f"].emotion_label == "negative"
    assert clips["EP06_01"].emotion_label == "surprise"
    assert clips["EP07_04"].emotion_label is None  # fear
    assert report.label_counts == {"negative": 3, "positive": 1, "surprise": 0}
    assert report.label_source == "composite"
    assert len(report.composite_missing) == 145 - 4
    assert "| listed in the composite but not read | 141 casme2/sub01/EP19_05f" in (
        report.summary()
    )


def test_casme2_frame_numbers_cross_the_digit_boundary(tmp_path):
    rows = (Row(1, "EP01_01", 95, 104, 95, 100, 104, "4", "disgust"),)
    root = write_casme2(tmp_path / "c", rows=rows)
    (clip,) = read_dataset("casme2", root)
    assert clip.frame_numbers == tuple(range(95, 105))
    assert [p.name for p in clip.frames[4:6]] == ["img99.jpg", "img100.jpg"]


@pytest.mark.parametrize(
    "variant",
    [
        dict(subject_folder="sub{}", sheet_subject="{:02d}"),  # sub1 folders, '01' in the sheet
        dict(subject_folder="sub{:02d}", sheet_subject="{}"),  # sub01 folders, 1 in the sheet
        dict(subject_folder="sub{:02d}", sheet_subject="sub{}"),
        dict(frames_dir="Cropped", frame_name="reg_img{}.jpg"),
        dict(frame_name="img{:03d}.bmp"),  # leading zeros, bmp
        dict(frame_name="img{}.png"),
    ],
)
def test_casme2_variants(tmp_path, variant):
    root = write_casme2(tmp_path / "c", **variant)
    clips = _by_id(read_dataset("casme2", root))
    assert len(clips) == 6
    assert {c.subject for c in clips.values()} == {"sub01", "sub02", "sub03"}
    assert clips["EP01_11f"].frame_numbers == tuple(range(95, 104))
    assert [_gray_value(p) for p in clips["EP01_11f"].frames] == list(range(95, 104))


def test_casme2_clip_folder_without_the_f_suffix_and_other_case(tmp_path):
    root = write_casme2(tmp_path / "c")
    base = root / "CASME2_RAW_selected"
    (base / "sub01" / "EP02_01f").rename(base / "sub01" / "EP02_01")
    (base / "sub02" / "EP06_01").rename(base / "sub02" / "ep06_01")
    clips = _by_id(read_dataset("casme2", root))
    assert clips["EP02_01f"].frames[0].parent.name == "EP02_01"
    assert clips["EP06_01"].frames[0].parent.name == "ep06_01"


def test_casme2_sheet_with_header_rows_and_string_frame_numbers(tmp_path):
    root = write_casme2(tmp_path / "c", rows=CASME2_ROWS[:1])
    sheet = root / "CASME2-coding-20140508.xlsx"
    table = [["CASME II coding", None, None, None, None, None, None], [None] * 7, CASME2_COLUMNS]
    table.append(["01", "EP02_01f", "046", " 51 ", 58.0, "AU4 + AU7", "Disgust"])
    pd.DataFrame(table).to_excel(sheet, index=False, header=False)
    (clip,) = read_dataset("casme2", root)
    assert (clip.onset, clip.apex, clip.offset) == (46, 51, 58)
    assert clip.aus == ("4", "7") and clip.emotion_label == "negative"
    assert clip.label == "positive"  # the published list's label


def test_casme2_missing_column_names_it(tmp_path):
    other = ["Subject", "Filename", "Onset", "Apex", "Offset Frame", "AUs", "Feeling"]
    root = write_casme2(tmp_path / "c", columns=other)
    with pytest.raises(DataError) as err:
        read_dataset("casme2", root)
    msg = str(err.value)
    assert "'Estimated Emotion'" in msg and "CASME2-coding-20140508.xlsx" in msg
    assert "'OnsetFrame'" not in msg  # 'Onset' is an accepted spelling


def test_missing_root_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="root not found") as err:
        read_dataset("casme2", tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    (tmp_path / "empty").mkdir()
    for name in ("casme2", "samm", "smic"):
        with pytest.raises(DataError, match="empty"):
            read_dataset(name, tmp_path / "empty")


def test_casme2_without_sheet_or_frames_names_what_is_missing(tmp_path):
    root = write_casme2(tmp_path / "c")
    shutil.rmtree(root / "CASME2_RAW_selected")
    with pytest.raises(DataError, match="CASME2_RAW_selected"):
        read_dataset("casme2", root)
    root2 = write_casme2(tmp_path / "d")
    (root2 / "CASME2-coding-20140508.xlsx").unlink()
    with pytest.raises(DataError, match=r"CASME2-coding-\*\.xlsx"):
        read_dataset("casme2", root2)


def test_missing_folders_and_frames_are_left_out_and_the_rest_read(tmp_path):
    root = write_casme2(tmp_path / "c")
    base = root / "CASME2_RAW_selected"
    shutil.rmtree(base / "sub01" / "EP03_02")  # clip folder gone
    (base / "sub02" / "EP01_11f" / "img99.jpg").unlink()  # a gap in the frames
    (base / "sub02" / "EP06_01" / "img6.jpg").unlink()  # the offset frame gone
    shutil.rmtree(base / "sub03")  # a whole subject gone
    report = read_dataset_report("casme2", root)
    assert [c.clip_id for c in report.clips] == ["EP02_01f"]
    reasons = {x.clip_id: x.reason for x in report.left_out}
    assert reasons["EP03_02"] == "clip folder not found"
    assert "1 frame(s) missing (99)" in reasons["EP01_11f"]
    assert "offset 6" in reasons["EP06_01"]
    assert reasons["EP07_04"] == reasons["EP09_05"] == "subject folder not found"
    assert str(base / "sub02" / "EP01_11f") in next(
        x.message for x in report.left_out if x.clip_id == "EP01_11f"
    )


def test_no_readable_clip_is_an_error(tmp_path):
    root = write_casme2(tmp_path / "c", rows=CASME2_ROWS[:1])
    for f in (root / "CASME2_RAW_selected" / "sub01" / "EP02_01f").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="no readable casme2 clips.*no image frames"):
        read_dataset("casme2", root)


# --- SAMM --------------------------------------------------------------------------------


def test_samm_reads_below_header_rows(tmp_path):
    root = write_samm(tmp_path / "SAMM_root")
    report = read_dataset_report("samm", root, labels="emotion")
    clips = _by_id(report.clips)
    assert len(clips) == len(SAMM_ROWS) and not report.left_out
    c = clips["006_1_2"]
    assert (c.subject, c.frames[0].name) == ("006", "006_05562.jpg")
    assert (c.onset, c.apex, c.offset) == (5563, 5566, 5569)
    assert (c.onset_index, c.apex_index, c.offset_index) == (1, 4, 7)
    assert c.aus == ("R12", "R15") and c.emotion == "contempt" and c.label == "negative"
    assert clips["006_5_1"].label == "negative"
    assert clips["007_7_1"].label == "surprise" and clips["007_7_1"].subject == "007"
    assert clips["011_2_3"].label == "positive"
    assert clips["011_2_3"].apex == 202  # -1 in the sheet: the middle frame
    assert clips["011_3_1"].label is None
    assert report.composite_left_out == {"other": 1}
    (fixed,) = report.corrected
    assert fixed.clip_id == "011_2_3"
    assert fixed.corrections[0].endswith("apex '-1' missing: set to the middle frame 202")
    assert "SAMM_Micro_FACS_Codes_v2.xlsx row 18" in fixed.corrections[0]
    # the published list's labels: 006_5_1 is not listed, 011_2_3 and 011_3_1 are negative
    listed = _by_id(read_dataset("samm", root))
    assert {k: c.label for k, c in listed.items()} == {
        "006_1_2": "negative",
        "006_5_1": None,
        "007_7_1": "surprise",
        "011_2_3": "negative",
        "011_3_1": "negative",
    }


@pytest.mark.parametrize("variant", [dict(header_rows=0), dict(frames_dir=".", ext=".png", pad=0)])
def test_samm_variants(tmp_path, variant):
    frames_dir = variant.get("frames_dir", "SAMM")
    root = write_samm(tmp_path / "s", **variant)
    clips = _by_id(read_dataset("samm", root))
    assert len(clips) == len(SAMM_ROWS)
    assert clips["007_7_1"].frame_numbers == tuple(range(880, 889))
    if frames_dir == ".":
        assert clips["007_7_1"].frames[0].name == "007_880.png"


def test_samm_sheet_with_other_columns(tmp_path):
    root = write_samm(tmp_path / "s")
    pd.DataFrame({"Participant": [6], "Clip": ["006_1_2"]}).to_excel(
        root / "SAMM_Micro_FACS_Codes_v2.xlsx", index=False
    )
    with pytest.raises(DataError, match="no column 'Subject'.*'Onset Frame'"):
        read_dataset("samm", root)


# --- SMIC-HS -----------------------------------------------------------------------------


def test_smic_reads_the_class_folders(tmp_path):
    root = write_smic(tmp_path / "SMIC")
    clips = _by_id(read_dataset("smic", root))
    assert set(clips) == {"s1_po_01", "s1_ne_02", "s3_sur_01", "s20_sur_01"}
    c = clips["s3_sur_01"]
    assert (c.subject, c.emotion, c.label, c.aus) == ("s3", "surprise", "surprise", ())
    assert (c.onset, c.apex, c.offset) == (1200, 1204, 1209)
    assert c.frames[0].name == "image001200.bmp"
    assert clips["s1_po_01"].label == "positive" and clips["s1_ne_02"].label == "negative"
    assert clips["s20_sur_01"].subject == "s20"
    assert [_gray_value(p) for p in clips["s20_sur_01"].frames] == list(range(5, 13))


def test_smic_accepts_the_hs_folder_itself_and_unpadded_names(tmp_path):
    root = write_smic(tmp_path / "SMIC", ext=".jpg", pad=0)
    clips = _by_id(read_dataset("smic", root / "HS"))
    assert clips["s20_sur_01"].frame_numbers == tuple(range(5, 13))
    assert clips["s20_sur_01"].frames[-1].name == "image12.jpg"


def test_smic_without_hs_folder(tmp_path):
    tiny_image(tmp_path / "x" / "readme.png", 0)
    with pytest.raises(DataError, match="no HS folder"):
        read_dataset("smic", tmp_path / "x")


# --- labels and small parsers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "emotion", "label"),
    [
        ("casme2", "happiness", "positive"),
        ("casme2", "disgust", "negative"),
        ("casme2", "repression", "negative"),
        ("casme2", "surprise", "surprise"),
        ("casme2", "fear", None),
        ("casme2", "sadness", None),
        ("casme2", "others", None),
        ("CASME II", "Happiness", "positive"),
        ("samm", "Anger", "negative"),
        ("samm", "contempt", "negative"),
        ("samm", "fear", "negative"),
        ("samm", "sadness", "negative"),
        ("samm", "disgust", "negative"),
        ("samm", "happiness", "positive"),
        ("samm", "surprise", "surprise"),
        ("samm", "other", None),
        ("smic", "negative", "negative"),
        ("SMIC-HS", "po", "positive"),
    ],
)
def test_megc2019_composite(dataset, emotion, label):
    assert megc2019_label(dataset, emotion) == label


def test_unknown_dataset_name():
    assert dataset_name("CASME-II") == "casme2" and dataset_name("smic_hs") == "smic"
    with pytest.raises(ConfigError, match="unknown dataset 'mmew'"):
        dataset_name("mmew")


def test_parse_aus_and_frames():
    assert parse_aus("R12+L14") == ("R12", "L14")
    assert parse_aus("4+7") == ("4", "7")
    assert parse_aus("AU1 + AU2+ au5") == ("1", "2", "5")
    assert parse_aus(12.0) == ("12",)
    assert parse_aus(float("nan")) == () and parse_aus("/") == ()
    assert [au_number(t) for t in parse_aus("R12B+L14+4")] == [12, 14, 4]
    assert parse_frame("046") == 46 and parse_frame(46.0) == 46 and parse_frame(" 7 ") == 7
    assert (
        parse_frame("/") is None and parse_frame(-1) is None and parse_frame(float("nan")) is None
    )


# --- quirky rows as the real sheets have them --------------------------------------------

QUIRKY_SAMM = (
    # SAMM's own rows: apex after the offset, apex before the onset; every frame present
    Row(28, "028_4_1", 1071, 1134, 1071, 1143, 1134, "(R6 or R12)+R15", "Happiness"),
    Row(32, "032_3_1", 4896, 4970, 4896, 1930, 4970, "ref(7B)+43", "Surprise"),
    Row(6, "006_1_2", 10, 14, 10, "/", 14, "10A/B", "Contempt"),
    Row(6, "006_1_3", 20, 24, 20, 22, 24, "ref(L10)+A12B", "Anger"),
    Row(7, "007_3_1", 30, 34, 30, 32, 34, "A/L12", "Disgust"),
    Row(7, "007_5_3", 40, 44, 40, 42, 44, "A9E+ref(10)", "Surprise"),
    Row(11, "011_2_1", 50, 54, 50, 52, 54, "R14+17+soft focus", "Anger"),
    Row(11, "011_2_2", 60, 64, 60, 62, 64, "R14A or 17A or 24A", "Anger"),
    Row(11, "011_3_1", 70, 74, 70, 72, 74, "4A/B", "Contempt"),
    Row(11, "011_4_1", 80, 84, "80a", 82, 84, "4", "Anger"),  # onset is not a number
)


def test_quirky_samm_rows_are_corrected_and_kept(tmp_path):
    from generation.face.prepare import PrepareConfig, prepare_clips

    root = write_samm(tmp_path / "SAMM", rows=QUIRKY_SAMM)
    report = read_dataset_report("samm", root)
    clips = _by_id(report.clips)
    assert len(clips) == 9
    a, b = clips["028_4_1"], clips["032_3_1"]
    assert (
        (a.onset, a.apex, a.offset)
        == (1071, 1071 + (1134 - 1071) // 2, 1134)
        == (
            1071,
            1102,
            1134,
        )
    )
    assert (b.onset, b.apex, b.offset) == (4896, 4933, 4970)
    assert a.label == b.label == "negative"  # both are in the composite (label 0)
    sheet = root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    assert a.corrections == (
        f"{sheet} row 15: apex 1143 outside onset..offset (1071-1134): "
        "set to the middle frame 1102",
    )
    assert "apex 1930 outside onset..offset (4896-4970)" in b.corrections[0]
    assert "apex '/' missing: set to the middle frame 12" in clips["006_1_2"].corrections[0]
    assert {c.clip_id for c in report.corrected} == {"028_4_1", "032_3_1", "006_1_2"}
    # AU cells: the raw text beside the parsed codes
    assert (a.aus, a.au_cell.raw, a.au_cell.alternatives_text) == (
        ("R15",),
        "(R6 or R12)+R15",
        "R6|R12",
    )
    assert (b.aus, b.au_cell.refs_text) == (("43",), "7B")
    assert clips["011_2_1"].au_cell.notes == ("soft focus",)
    assert clips["011_2_2"].aus == () and clips["011_3_1"].au_cell.alternatives_text == "4A|4B"
    # onset that is not a number: an error naming the sheet row, not a silent default
    (bad,) = report.left_out
    assert bad.clip_id == "011_4_1"
    assert bad.reason == "sheet row 24: Onset Frame '80a' is not a frame number; correct the cell"
    assert bad.message.startswith(f"{sheet}: samm 011/011_4_1: sheet row 24: Onset Frame")
    # report.csv lists the corrected clips (kept) beside the problems
    out = tmp_path / "prep"
    result = prepare_clips([a, b], out, PrepareConfig(size=16), report.left_out, progress=False)
    rows = pd.read_csv(out / "report.csv", dtype=str).fillna("")
    corrected = rows[rows.stage == "corrected"]
    assert list(corrected.clip_id) == ["028_4_1", "032_3_1"]
    assert "apex 1143 outside onset..offset" in corrected.reason.iloc[0]
    assert "011_4_1" in set(rows[rows.stage == "read"].clip_id)
    assert all(p.stage != "corrected" for p in result.problems)
