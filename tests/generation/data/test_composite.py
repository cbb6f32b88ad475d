"""The published MEGC2019 composite list as the readers' labels: a fixture made of every
listed clip (tiny frames, sheets written here) reads as 145 / 133 / 164 clips, each with the
list's label, although the fixture's emotions would give other labels."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from data_helpers import CASME2_COLUMNS, SAMM_COLUMNS, write_frames

from generation.data.clip import LABELS
from generation.data.composite import (
    COMPOSITE_COUNTS,
    COMPOSITE_CSV,
    composite_entries,
    composite_key,
    composite_label,
)
from generation.data.readers import read_dataset_report

# each label written with an emotion the emotion rule maps to another class, so a label
# that equals the list's can only come from the list
CASME2_EMOTION = {"negative": "happiness", "positive": "surprise", "surprise": "disgust"}
SAMM_EMOTION = {"negative": "Surprise", "positive": "Anger", "surprise": "Happiness"}
# labelled by CASME II's emotion rule, absent from the published list (the five)
CASME2_EXTRA = (
    ("04", "EP12_01f", "disgust"),
    ("05", "EP09_05f", "repression"),
    ("24", "EP07_01", "happiness"),
    ("24", "EP07_04f", "disgust"),
    ("24", "EP10_03", "surprise"),
)
FRAMES = range(1, 4)


def _list_rows() -> list[list[str]]:
    with COMPOSITE_CSV.open(newline="") as fh:
        return [row for row in csv.reader(fh) if row]


def test_the_shipped_list_is_the_published_one():
    rows = _list_rows()
    assert len(rows) == 442
    counts = {d: sum(r[0] == d for r in rows) for d in ("casme2", "samm", "smic")}
    assert counts == COMPOSITE_COUNTS == {"casme2": 145, "samm": 133, "smic": 164}
    entries = composite_entries()
    assert [(e.dataset, e.subject, e.clip_id, e.label) for e in entries] == [
        (d, s, c, LABELS[int(k)]) for d, s, c, k in rows
    ]
    assert len({e.key for e in entries}) == 442  # one key per clip


def test_names_normalise_both_ways():
    assert composite_key("smic", "s1", "s1_ne_01") == composite_key("smic", "s01", "s01_ne_01")
    assert composite_key("samm", "006", "006_1_2") == composite_key("samm", "6", "006_1_2")
    assert composite_label("smic", "s1", "s1_ne_01") == "negative"
    assert composite_label("samm", "006", "006_1_2") == "negative"
    assert composite_label("casme2", "sub01", "EP02_01f") == "positive"
    assert composite_label("casme2", "1", "ep02_01f") == "positive"
    # a sheet name without the list's trailing f still matches when one listed name fits
    assert composite_label("casme2", "sub01", "EP02_01") == "positive"
    # sub17 lists EP05_03 and EP05_03f with different labels: each matches itself only
    sub17 = {c: LABELS[int(k)] for d, s, c, k in _list_rows() if (d, s) == ("casme2", "sub17")}
    assert sub17["EP05_03"] != sub17["EP05_03f"]
    assert composite_label("casme2", "sub17", "EP05_03") == sub17["EP05_03"]
    assert composite_label("casme2", "17", "ep05_03f") == sub17["EP05_03f"]
    assert composite_label("casme2", "sub04", "EP12_01f") is None


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """CASME II, SAMM and SMIC-HS roots holding every listed clip, plus unlisted ones."""
    base = tmp_path_factory.mktemp("composite")
    rows = _list_rows()
    casme2, samm, smic = base / "CASME2", base / "SAMM", base / "SMIC"
    table = []
    for d, subject, clip, k in rows:
        if d != "casme2":
            continue
        write_frames(casme2 / "CASME2_RAW_selected" / subject / clip, FRAMES, "img{}.jpg".format)
        label = LABELS[int(k)]
        table.append([subject.removeprefix("sub"), clip, 1, 2, 3, "4", CASME2_EMOTION[label]])
    for subject, clip, emotion in CASME2_EXTRA:
        write_frames(
            casme2 / "CASME2_RAW_selected" / f"sub{subject}" / clip, FRAMES, "img{}.jpg".format
        )
        table.append([subject, clip, 1, 2, 3, "4", emotion])
    pd.DataFrame(table, columns=CASME2_COLUMNS).to_excel(
        casme2 / "CASME2-coding-20190701.xlsx", index=False
    )
    sheet = [[f"SAMM description line {i}"] + [None] * 10 for i in range(13)]
    sheet.append(list(SAMM_COLUMNS))
    samm_rows = [(s, c, LABELS[int(k)]) for d, s, c, k in rows if d == "samm"]
    samm_rows.append(("6", "006_9_9", None))  # an 'Other' clip, not listed
    for subject, clip, label in samm_rows:
        sub = f"{int(subject):03d}"
        write_frames(samm / "SAMM" / sub / clip, FRAMES, lambda n, s=sub: f"{s}_{n:05d}.jpg")
        emotion = SAMM_EMOTION[label] if label else "Other"
        sheet.append([int(subject), clip, "1", 1, 2, 3, 0, "Micro", "12", "", emotion])
    pd.DataFrame(sheet).to_excel(samm / "SAMM_Micro_FACS_Codes_v2.xlsx", index=False, header=False)
    for d, subject, clip, k in rows:
        if d != "smic":
            continue
        n = int(subject.removeprefix("s"))
        own = f"s{n}" + clip[len(subject) :]  # the dataset's unpadded name: s1_ne_01
        folder = smic / "HS" / f"s{n}" / "micro" / LABELS[int(k)] / own
        write_frames(folder, FRAMES, lambda i: f"image{i:06d}.bmp")
    return casme2, samm, smic


@pytest.mark.parametrize(
    ("dataset", "index", "extra"), [("casme2", 0, 5), ("samm", 1, 1), ("smic", 2, 0)]
)
def test_full_copies_count_145_133_164_with_the_lists_labels(trees, dataset, index, extra):
    report = read_dataset_report(dataset, trees[index])
    assert not report.left_out and not report.composite_missing
    assert len(report.clips) == COMPOSITE_COUNTS[dataset] + extra
    want = {e.key: e.label for e in composite_entries() if e.dataset == dataset}
    got = {composite_key(dataset, c.subject, c.clip_id): c.label for c in report.clips}
    listed = {k: v for k, v in got.items() if v is not None}
    assert listed == want  # every listed clip read, each with the list's label
    assert len(listed) == COMPOSITE_COUNTS[dataset]
    expected_counts = {lab: sum(v == lab for v in want.values()) for lab in LABELS}
    assert report.label_counts == expected_counts
    for lab, n in expected_counts.items():
        assert f"| composite {lab} (published list) | {n} |" in report.summary()
    if dataset != "smic":  # SMIC's class folders are the labels themselves
        assert all(c.emotion_label != c.label for c in report.clips if c.label)
    if dataset == "casme2":
        unlisted = {c.clip_id: c for c in report.clips if c.label is None}
        assert set(unlisted) == {clip for _, clip, _ in CASME2_EXTRA}
        # the emotion rule labels all five; it stays available as emotion_label
        assert all(c.emotion_label in LABELS for c in unlisted.values())


def test_emotion_labels_on_request(trees):
    report = read_dataset_report("casme2", trees[0], labels="emotion")
    assert report.label_source == "emotion"
    assert sum(report.label_counts.values()) == 150  # the count by the emotion rule


def test_table_vii_notes_a_manifest_from_before_the_list(tmp_path):
    from eval.augment import stale_label_notes

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "manifest.csv").write_text(
        "dataset,subject,clip_id,label\ncasme2,sub04,EP12_01f,negative\n"
    )
    (new / "manifest.csv").write_text("dataset,subject,clip_id,label,emotion_label\n")
    (note,) = stale_label_notes([old, new])
    assert str(old / "manifest.csv") in note and "run `fme prepare` again" in note
