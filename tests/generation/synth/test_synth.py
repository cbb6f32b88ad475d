"""The synthetic micro-expression corpus: AU library, warp, identities, CASME II layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fme.cli import main as fme_main
from fme.core.errors import DataError
from generation.face.detect import detect_faces, inter_ocular
from generation.synth import (
    AU_NAMES,
    AU_NUMBERS,
    EMOTIONS,
    SHEET_COLUMNS,
    LandmarkWarp,
    au_pattern,
    list_clip_keys,
    load_identity,
    load_track,
    make_track,
    render_clip,
    render_cross,
)
from generation.synth.corpus import plan_emotions
from generation.synth.identities import base_faces

BROWS = list(range(17, 27))
MOUTH = list(range(48, 68))
SUBJECTS, CLIPS, SIZE, FPS = 2, 3, 128, 30


def _synth(out: Path, seed: int = 0, subjects: int = SUBJECTS, clips: int = CLIPS) -> int:
    argv = ["synth", str(out), "--subjects", str(subjects), "--clips-per-subject", str(clips)]
    return fme_main([*argv, "--seed", str(seed), "--size", str(SIZE), "--fps", str(FPS)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "corpus"
    assert _synth(out) == 0
    return out


@pytest.fixture(scope="module")
def sheet(corpus) -> pd.DataFrame:
    return pd.read_excel(corpus / "CASME2-coding-synthetic.xlsx", dtype={"Subject": str})


def _region(landmarks: np.ndarray, idx: list[int], margin: float = 0.15):
    iod = inter_ocular(landmarks)
    pts = landmarks[idx]
    lo = np.floor(pts.min(0) - margin * iod).astype(int)
    hi = np.ceil(pts.max(0) + margin * iod).astype(int)
    return np.s_[lo[1] : hi[1], lo[0] : hi[0]]


# --- AU library --------------------------------------------------------------------------


def test_library_has_the_required_aus_with_unit_peaks():
    required = {1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 25, 26}
    assert required <= set(AU_NUMBERS)
    for au in AU_NUMBERS:
        peak = np.linalg.norm(au_pattern(au), axis=1).max()
        assert peak == pytest.approx(1.0)


def test_au12_moves_mouth_corners_not_brows_and_au1_2_the_reverse():
    au12 = au_pattern(12)
    moved = np.flatnonzero(np.linalg.norm(au12, axis=1) > 0)
    assert set(moved) <= set(MOUTH)
    # Corners (48 image-left, 54 image-right) go outward and up (y points down the face).
    assert au12[48, 0] < 0 < au12[54, 0]
    assert au12[48, 1] < 0 and au12[54, 1] < 0
    assert np.linalg.norm(au12[[48, 54]], axis=1).min() >= np.linalg.norm(au12, axis=1).max() - 1e-9
    brows_up = au_pattern(1) + au_pattern(2)
    moved = np.flatnonzero(np.linalg.norm(brows_up, axis=1) > 0)
    assert set(moved) <= set(BROWS)
    assert (brows_up[BROWS, 1] < 0).all()  # every brow point rises
    assert au_pattern(26)[8, 1] > 0  # jaw drop lowers the chin


@pytest.mark.parametrize(
    ("recipe", "moving", "still"), [({12: 1.0}, MOUTH, BROWS), ({1: 1.0, 2: 1.0}, BROWS, MOUTH)]
)
def test_au_motion_in_pixels_stays_in_its_region(corpus, recipe, moving, still):
    ident = load_identity(corpus, "sub01")
    track = make_track(np.random.default_rng(0), recipe, FPS, 0.05, jitter=False, noise=False)
    frames, landmarks = render_clip(ident.image, ident.landmarks, track)
    diff = np.abs(frames[track.apex].astype(float) - frames[track.onset]).mean(-1)
    inside = diff[_region(ident.landmarks, moving)].mean()
    outside = diff[_region(ident.landmarks, still)].mean()
    assert inside > 1.0
    assert outside < 0.1 * inside
    # The ground-truth landmarks agree: the still region's landmarks do not move.
    step = np.linalg.norm(landmarks[track.apex] - landmarks[track.onset], axis=1)
    assert step[still].max() == 0.0
    assert step[moving].max() == pytest.approx(0.05 * inter_ocular(ident.landmarks), rel=1e-3)


# --- warp --------------------------------------------------------------------------------


def test_warp_moves_content_with_its_landmark_and_keeps_the_border():
    size = 96
    ys, xs = np.mgrid[0:size, 0:size]
    blob = 255 * np.exp(-((xs - 40.0) ** 2 + (ys - 50.0) ** 2) / (2 * 2.0**2))
    points = np.array([[40.0, 50.0], [60.0, 30.0], [60.0, 70.0], [25.0, 30.0]])
    warp = LandmarkWarp(points, (size, size))
    shift = np.array([1.5, -1.0])
    disp = np.zeros_like(points)
    disp[0] = shift
    out = warp.warp(blob, disp)[..., 0]
    w = np.clip(out - 0.5 * out.max(), 0, None)  # the blob's core
    centroid = np.array([(w * xs).sum(), (w * ys).sum()]) / w.sum()
    np.testing.assert_allclose(centroid, [40.0 + shift[0], 50.0 + shift[1]], atol=0.15)
    field = warp.field(disp)
    np.testing.assert_allclose(field[50, 40], shift, atol=1e-3)  # interpolates its points
    np.testing.assert_allclose(field[30, 60], 0.0, atol=1e-3)
    assert np.abs(field[0]).max() < 0.05 and np.abs(field[:, -1]).max() < 0.05
    # No displacement: the image comes back exactly.
    still = warp.warp(blob, np.zeros_like(points))[..., 0]
    np.testing.assert_allclose(still, blob, atol=1e-6)


# --- corpus ------------------------------------------------------------------------------


def test_sheet_reads_back_with_casme2_columns_and_frames_on_disk(corpus, sheet):
    assert list(sheet.columns) == list(SHEET_COLUMNS)
    assert len(sheet) == SUBJECTS * CLIPS
    casme2_names = {"happiness", "disgust", "repression", "surprise"}
    assert set(sheet["Estimated Emotion"]) <= casme2_names
    for row in sheet.itertuples(index=False):
        subject, clip_id, onset, apex, offset, aus, _ = row
        folder = corpus / "CASME2_RAW_selected" / f"sub{subject}" / clip_id
        n = len(list(folder.glob("img*.png")))
        assert sorted(int(p.stem[3:]) for p in folder.glob("img*.png")) == list(range(1, n + 1))
        assert 1 <= onset < apex < offset <= n
        assert re.fullmatch(r"\d+(\+\d+)*", aus)
        truth = np.load(corpus / "ground_truth" / f"sub{subject}" / f"{clip_id}.npz")
        assert truth["landmarks"].shape == (n, 68, 2)
        assert truth["au_intensity"].shape == (n, len(AU_NAMES))
        assert str(truth["identity"]) == f"sub{subject}"
        # The sheet's AUs are exactly those with intensity in the ground truth.
        active = {int(name[2:]) for name, a in zip(AU_NAMES, truth["au_intensity"].max(0)) if a}
        assert active == {int(a) for a in aus.split("+")}


def test_classes_are_balanced():
    megc = {"happiness": "positive", "surprise": "surprise"}
    for n in (6, 7, 30):
        emotions = plan_emotions(n, seed=3)
        labels = [megc.get(e, "negative") for e in emotions]
        counts = [labels.count(c) for c in ("negative", "positive", "surprise")]
        assert max(counts) - min(counts) <= 1
        negatives = [e for e in emotions if e in ("disgust", "repression")]
        assert abs(negatives.count("disgust") - negatives.count("repression")) <= 1


def test_amplitude_profile_and_timing_of_every_clip(corpus, sheet):
    for row in sheet.itertuples(index=False):
        key = f"sub{row.Subject}/{row.Filename}"
        track = load_track(corpus, key)
        truth = np.load(corpus / "ground_truth" / f"{key}.npz")
        lm = truth["landmarks"]
        iod = inter_ocular(lm[track.onset])
        amplitude = np.linalg.norm(lm[track.apex] - lm[track.onset], axis=1).max() / iod
        assert 0.01 <= amplitude <= 0.05
        strength = np.abs(track.au_intensity).sum(1)
        assert strength[: track.onset + 1].max() == 0.0  # still up to the onset
        assert strength[track.offset :].max() == pytest.approx(0.0, abs=1e-7)
        assert strength.argmax() == track.apex
        duration = (track.offset - track.onset) / track.fps
        assert 0.2 - 2 / FPS <= duration <= 0.5 + 2 / FPS
        # Frame numbers in the sheet are 1-based positions.
        assert (row.OnsetFrame, row.ApexFrame, row.OffsetFrame) == (
            track.onset + 1,
            track.apex + 1,
            track.offset + 1,
        )


def test_dlib_finds_the_face_in_every_onset_frame(corpus, sheet):
    for row in sheet.itertuples(index=False):
        path = corpus / "CASME2_RAW_selected" / f"sub{row.Subject}" / row.Filename
        image = np.asarray(Image.open(path / f"img{row.OnsetFrame}.png").convert("RGB"))
        boxes = detect_faces(image)
        assert boxes, f"no face in {path}"
        truth = np.load(corpus / "ground_truth" / f"sub{row.Subject}" / f"{row.Filename}.npz")
        lm = truth["landmarks"][row.OnsetFrame - 1]
        left, top, right, bottom = boxes[0]
        centre = lm.mean(0)
        assert left < centre[0] < right and top < centre[1] < bottom


def test_identities_differ(corpus):
    a, b = load_identity(corpus, "sub01"), load_identity(corpus, "sub02")
    assert np.abs(a.image.astype(float) - b.image).mean() > 5.0
    assert a.params != b.params


def test_same_seed_same_corpus_other_seed_other_faces(tmp_path):
    def files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".png", ".json")
        }

    def truth(root: Path) -> dict[str, np.ndarray]:
        data = np.load(root / "ground_truth" / "sub01" / "EP01_01.npz")
        return {k: data[k] for k in data.files}

    assert _synth(tmp_path / "a", seed=5, subjects=1, clips=1) == 0
    assert _synth(tmp_path / "b", seed=5, subjects=1, clips=1) == 0
    assert _synth(tmp_path / "c", seed=6, subjects=1, clips=1) == 0
    fa, fb = files(tmp_path / "a"), files(tmp_path / "b")
    assert fa.keys() == fb.keys() and all(fa[k] == fb[k] for k in fa)
    ta, tb = truth(tmp_path / "a"), truth(tmp_path / "b")
    for k in ta:
        np.testing.assert_array_equal(ta[k], tb[k])
    a = load_identity(tmp_path / "a", 1).image.astype(float)
    c = load_identity(tmp_path / "c", 1).image.astype(float)
    assert np.abs(a - c).mean() > 2.0


def test_render_cross_reproduces_own_clip_and_transfers_motion(corpus):
    frames, landmarks = render_cross(corpus, "sub01", "sub01/EP01_01")
    folder = corpus / "CASME2_RAW_selected" / "sub01" / "EP01_01"
    on_disk = np.stack(
        [np.asarray(Image.open(folder / f"img{k}.png")) for k in range(1, len(frames) + 1)]
    )
    np.testing.assert_array_equal(frames, on_disk)
    truth = np.load(corpus / "ground_truth" / "sub01" / "EP01_01.npz")
    np.testing.assert_array_equal(landmarks, truth["landmarks"])

    # Subject 2's face driven by subject 1's clip: same motion in IOD units, other face.
    track = load_track(corpus, "casme2/sub01/EP01_01")
    cross, cross_lm = render_cross(corpus, 2, "casme2/sub01/EP01_01")
    assert cross.shape == frames.shape
    own = load_identity(corpus, "sub02")
    assert np.abs(cross[0].astype(float) - own.image).mean() < 3.0  # near neutral, noisy
    assert np.abs(cross[0].astype(float) - frames[0]).mean() > 5.0

    def motion(lm: np.ndarray) -> np.ndarray:
        return (lm[track.apex] - lm[track.onset]) / inter_ocular(lm[track.onset])

    assert np.linalg.norm(motion(landmarks), axis=1).max() > 0.01
    # Equal up to the head jitter, whose rotation moves points by their distance to the centre.
    np.testing.assert_allclose(motion(cross_lm), motion(landmarks), atol=0.008)
    assert list_clip_keys(corpus)[:CLIPS] == [f"sub01/EP0{k}_01" for k in range(1, CLIPS + 1)]


def test_render_cross_names_missing_files(corpus, tmp_path):
    with pytest.raises(DataError, match="fme synth"):
        render_cross(tmp_path, "sub01", "sub01/EP01_01")
    with pytest.raises(DataError, match="sub09"):
        render_cross(corpus, "sub09", "sub01/EP01_01")


def test_synth_refuses_a_folder_that_is_not_a_corpus(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert _synth(tmp_path, subjects=1, clips=1) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_faces_dir_adds_photos_and_skips_non_faces(tmp_path):
    import skimage.data

    Image.fromarray(skimage.data.astronaut()[:, ::-1]).save(tmp_path / "me.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    faces = base_faces(SIZE, tmp_path)
    assert [Path(f.source).name for f in faces] == ["skimage.data.astronaut", "me.png"]
    # The mirrored photo gives the mirrored crop: its nose tip sits on the other side.
    assert faces[1].landmarks[30, 0] == pytest.approx(SIZE - 1 - faces[0].landmarks[30, 0], abs=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        base_faces(SIZE, tmp_path / "empty")
    with pytest.raises(DataError, match="not found"):
        base_faces(SIZE, tmp_path / "missing")


def test_emotions_use_their_recipes_aus():
    assert EMOTIONS["happiness"].label == "positive"
    assert all(12 in r for r in EMOTIONS["happiness"].recipes)
    assert all({1, 2} <= set(r) for r in EMOTIONS["surprise"].recipes)
