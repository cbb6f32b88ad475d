"""A set's driving and template names: from its manifest, never guessed from an ambiguous name."""

from __future__ import annotations

import csv

import pytest
from study_helpers import make_method_dirs

from fme.core.errors import DataError
from study.design import scan_folder

# templates named like real photos: "0-f1-su-ph" holds three '-'
SAMPLES = ["EP01-0-f1-su-ph", "EP02-0-f1-su-ph", "s3_po_05-1-m2-su-ph"]
TRUTH = {
    "EP01-0-f1-su-ph.mp4": ("EP01", "0-f1-su-ph"),
    "EP02-0-f1-su-ph.mp4": ("EP02", "0-f1-su-ph"),
    "s3_po_05-1-m2-su-ph.mp4": ("s3_po_05", "1-m2-su-ph"),
}


def _manifest(folder, rows, columns=("driving", "template", "path")):
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for name, (driving, template) in rows.items():
            writer.writerow({"driving": driving, "template": template, "path": name})


def test_names_come_from_the_sets_manifest(tmp_path):
    folder = make_method_dirs(tmp_path, ["A"], SAMPLES)["A"]
    _manifest(folder, TRUTH)
    found = {v.path.name: (v.driving, v.template) for v in scan_folder(folder)}
    assert found == TRUTH


def test_ambiguous_names_without_a_manifest_are_refused_naming_the_file(tmp_path):
    folder = make_method_dirs(tmp_path, ["A"], SAMPLES)["A"]
    with pytest.raises(DataError, match=r"EP01-0-f1-su-ph\.mp4.*more than one '-'.*manifest"):
        scan_folder(folder)


def test_a_manifest_without_the_name_columns_is_refused(tmp_path):
    folder = make_method_dirs(tmp_path, ["A"], SAMPLES)["A"]
    _manifest(folder, {}, columns=("video", "label"))
    with pytest.raises(DataError, match=r"manifest\.csv.*no column path, driving, template"):
        scan_folder(folder)


def test_plain_names_still_split_without_a_manifest(tmp_path):
    folder = make_method_dirs(tmp_path, ["A"], ["007_7_1-normalized_westernMale"])["A"]
    (video,) = scan_folder(folder)
    assert (video.driving, video.template) == ("007_7_1", "normalized_westernMale")
