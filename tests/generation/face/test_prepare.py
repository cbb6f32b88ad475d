"""Face preparation on the synthetic corpus: faces found, landmarks accurate, cache reused,
bad clips reported while the others are prepared."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from data_helpers import CASME2_COLUMNS, synth_corpus, write_casme2
from PIL import Image

from fme.cli import main
from fme.core.errors import DataError
from generation.data.prepared import MANIFEST_COLUMNS, load_prepared
from generation.data.readers import read_dataset
from generation.data.video import read_image
from generation.face.detect import detect_faces, inter_ocular
from generation.face.prepare import PrepareConfig, prepare_clips, to_crop_coords

SIZE = 128


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """2 subjects x 2 clips at 128 px, written once for this module."""
    out = tmp_path_factory.mktemp("synth")
    synth_corpus(out, subjects=2, clips=2, size=SIZE)
    return out


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    clips = read_dataset("casme2", corpus)
    result = prepare_clips(clips, out, PrepareConfig(size=SIZE), progress=False)
    return out, clips, result


def _truth(corpus, clip) -> np.ndarray:
    path = corpus / "ground_truth" / clip.subject / f"{clip.clip_id}.npz"
    with np.load(path) as data:
        return data["landmarks"].astype(np.float32)


def test_to_crop_coords_maps_pixel_centres():
    box = (10, 20, 110, 120)  # 100 px square -> 50 px: half scale
    pts = np.array([[10.0, 20.0], [109.0, 119.0], [59.5, 69.5]])
    # centre of the first source pixel (x=10) lies at 0.25 in the output (pixel 0 covers 10-11)
    np.testing.assert_allclose(
        to_crop_coords(pts, box, 50), [[-0.25, -0.25], [49.25, 49.25], [24.5, 24.5]]
    )


@pytest.mark.slow
def test_dlib_finds_the_face_in_every_synthetic_onset_frame(corpus):
    clips = read_dataset("casme2", corpus)
    assert len(clips) == 4
    for clip in clips:
        boxes = detect_faces(read_image(clip.frames[clip.onset_index]))
        assert boxes, clip.key
        truth = _truth(corpus, clip)[clip.onset_index]
        left, top, right, bottom = boxes[0]
        inside = (truth[:, 0] >= left - 5) & (truth[:, 0] <= right + 5)
        inside &= (truth[:, 1] >= top - 15) & (truth[:, 1] <= bottom + 5)
        assert inside[17:].all(), clip.key  # the box holds the true face (brows may stick out)


@pytest.mark.slow
def test_prepared_clips_manifest_and_frames(prepared, corpus):
    out, clips, result = prepared
    assert (result.processed, result.cached, result.problems) == (4, 0, [])
    assert result.frames == sum(c.n_frames for c in clips)
    loaded = {p.key: p for p in load_prepared(out)}
    assert set(loaded) == {c.key for c in clips}
    with (out / "manifest.csv").open() as fh:
        assert tuple(next(csv.reader(fh))) == MANIFEST_COLUMNS
    for clip in clips:
        p = loaded[clip.key]
        assert (p.n_frames, p.onset, p.apex, p.offset) == (
            clip.n_frames,
            clip.onset,
            clip.apex,
            clip.offset,
        )
        assert (p.onset_index, p.offset_index) == (clip.onset - 1, clip.offset - 1)  # img1.png..
        assert p.label == clip.label and p.aus == "+".join(clip.aus)
        frames = p.frames()
        assert frames.shape == (clip.n_frames, SIZE, SIZE, 3)
        assert (frames[..., 0] == frames[..., 2]).all()  # grayscale replicated
        # the prepared onset frame is the crop of the original, resized
        left, top, right, bottom = p.box()
        assert right - left == bottom - top
        gray = np.asarray(Image.open(clip.frames[p.onset_index]).convert("L"))
        expect = Image.fromarray(gray[top:bottom, left:right]).resize((SIZE, SIZE))
        diff = np.abs(frames[p.onset_index, ..., 0].astype(int) - np.asarray(expect, dtype=int))
        assert diff.mean() < 2.0


@pytest.mark.slow
def test_prepared_landmarks_match_the_ground_truth(prepared, corpus):
    out, clips, _ = prepared
    for p in load_prepared(out):
        clip = next(c for c in clips if c.key == p.key)
        truth = to_crop_coords(_truth(corpus, clip), p.box(), SIZE)
        lm = p.landmarks()
        assert lm.shape == truth.shape == (clip.n_frames, 68, 2)
        iod = inter_ocular(truth)  # (T,)
        err = np.linalg.norm(lm - truth, axis=-1).mean(axis=-1) / iod
        assert err.max() < 0.03, (p.key, float(err.max()))
        # the landmarks follow the face: a landmark set shifted by 10 % IOD would fail
        assert (
            np.linalg.norm(lm + 0.1 * iod[:, None, None] - truth, axis=-1).mean(-1) / iod
        ).min() > 0.03


@pytest.mark.slow
def test_second_prepare_does_no_work_twice(prepared, corpus, tmp_path):
    out, clips, _ = prepared
    files = sorted(out.glob("casme2/*/*/frames/*.png")) + sorted(out.glob("casme2/*/*/*.npz"))
    before = {f: f.stat().st_mtime_ns for f in files}
    again = prepare_clips(clips, out, PrepareConfig(size=SIZE), progress=False)
    assert (again.processed, again.cached, again.frames) == (0, 4, 0)
    assert {f: f.stat().st_mtime_ns for f in files} == before
    assert len(load_prepared(out)) == 4
    # other settings are other work: a clip prepared at another size is done again
    copy = shutil.copytree(out, tmp_path / "copy")  # the module's output stays as it is
    one = prepare_clips(clips[:1], copy, PrepareConfig(size=96), progress=False)
    assert (one.processed, one.cached) == (1, 0)
    assert load_prepared(copy)[0].frames().shape[1:3] == (96, 96)


@pytest.mark.slow
def test_bad_clips_are_reported_and_the_rest_prepared(corpus, tmp_path, capsys):
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root, ignore=shutil.ignore_patterns("ground_truth", "identities"))
    clips = {c.key: c for c in read_dataset("casme2", root)}
    a, b, c, d = sorted(clips)
    # a: a corrupt frame; b: a missing frame; c: no face on the onset frame; d: fine
    corrupt = clips[a].frames[5]
    corrupt.write_bytes(b"not a png at all")
    clips[b].frames[3].unlink()
    onset = clips[c].frames[clips[c].onset_index]
    Image.fromarray(np.full((SIZE, SIZE, 3), 128, np.uint8)).save(onset)
    out = tmp_path / "prep"
    status = main(["prepare", "casme2", str(root), str(out), "--size", "96", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert str(corrupt) in err and "cannot decode image" in err
    assert "frame(s) missing" in err and str(clips[b].frames[0].parent) in err
    assert "no frontal face" in err and str(onset) in err
    assert [p.key for p in load_prepared(out)] == [d]
    with (out / "report.csv").open() as fh:
        report = {f"{r['dataset']}/{r['subject']}/{r['clip_id']}": r for r in csv.DictReader(fh)}
    assert sorted(report) == [a, b, c]
    assert [report[k]["stage"] for k in (a, b, c)] == ["frames", "read", "face"]
    assert not list(out.glob("casme2/*/.*partial"))  # nothing half-written is left
    assert not (out / a).exists() and not (out / c).exists()


def test_missing_root_and_empty_folder_exit_with_a_message(tmp_path, capsys):
    assert main(["prepare", "casme2", str(tmp_path / "none"), str(tmp_path / "o")]) == 2
    assert "root not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["prepare", "samm", str(tmp_path / "empty"), str(tmp_path / "o")]) == 2
    assert "empty" in capsys.readouterr().err


def test_faceless_clips_fail_one_by_one(tmp_path, capsys):
    root = write_casme2(tmp_path / "c")  # 8x8 flat images: no face anywhere
    status = main(["prepare", "casme2", str(root), str(tmp_path / "o"), "--size", "64", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("no frontal face") == 6
    assert load_prepared(tmp_path / "o") == []
    with pytest.raises(DataError, match="no manifest"):
        load_prepared(tmp_path)


@pytest.mark.slow
def test_smic_bmp_clips_join_an_existing_output(prepared, corpus, tmp_path):
    out0, clips, _ = prepared
    out = tmp_path / "prep"
    shutil.copytree(out0, out)
    source = clips[0]
    folder = tmp_path / "SMIC" / "HS" / "s1" / "micro" / "positive" / "s1_po_01"
    folder.mkdir(parents=True)
    for k, path in enumerate(source.frames):
        Image.open(path).convert("L").save(folder / f"image{1000 + k:06d}.bmp")
    assert (
        main(["prepare", "smic", str(tmp_path / "SMIC"), str(out), "--size", str(SIZE), "--quiet"])
        == 0
    )
    loaded = {p.key: p for p in load_prepared(out)}
    assert len(loaded) == 5  # the four CASME II clips are kept
    smic = loaded["smic/s1/s1_po_01"]
    n = source.n_frames
    assert (smic.onset, smic.offset, smic.onset_index, smic.offset_index) == (
        1000,
        999 + n,
        0,
        n - 1,
    )
    assert smic.apex_index == (n - 1) // 2 and smic.label == "positive"
    # the same frames as the CASME II copy of the clip (as gray BMPs): same crop, landmarks
    assert smic.box() == loaded[source.key].box()
    original = loaded[source.key].landmarks()
    iod = inter_ocular(original)[:, None]
    assert (np.linalg.norm(smic.landmarks() - original, axis=-1) / iod).mean() < 0.01


@pytest.mark.slow
def test_the_largest_face_sets_the_crop(tmp_path):
    from skimage.data import astronaut

    face = Image.fromarray(astronaut()).crop((100, 0, 300, 240))  # her head and shoulders
    canvas = Image.new("RGB", (560, 300), (90, 90, 90))
    canvas.paste(face.resize((100, 120)), (20, 90))  # small face on the left
    canvas.paste(face.resize((250, 300)), (300, 0))  # large face on the right
    root = tmp_path / "c"
    folder = root / "CASME2_RAW_selected" / "sub01" / "EP01_01"
    folder.mkdir(parents=True)
    for k in range(1, 4):
        canvas.save(folder / f"img{k}.png")
    pd.DataFrame([["01", "EP01_01", 1, 2, 3, "12", "happiness"]], columns=CASME2_COLUMNS).to_excel(
        root / "CASME2-coding-x.xlsx", index=False
    )
    assert len(detect_faces(np.asarray(canvas))) == 2
    out = tmp_path / "o"
    assert main(["prepare", "casme2", str(root), str(out), "--size", "64", "--quiet"]) == 0
    (clip,) = load_prepared(out)
    left, top, right, bottom = clip.box()
    assert left >= 250 and (left + right) / 2 > 380  # around the large face, right half


def test_a_dataset_with_no_readable_clip_still_writes_the_report(tmp_path, capsys):
    root = write_casme2(tmp_path / "c")
    shutil.rmtree(root / "CASME2_RAW_selected" / "sub01")
    shutil.rmtree(root / "CASME2_RAW_selected" / "sub02")
    shutil.rmtree(root / "CASME2_RAW_selected" / "sub03")
    (root / "CASME2_RAW_selected" / "sub04").mkdir()
    assert main(["prepare", "casme2", str(root), str(tmp_path / "o"), "--quiet"]) == 2
    assert capsys.readouterr().err.count("subject folder not found") == 6
    with (tmp_path / "o" / "report.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 6
