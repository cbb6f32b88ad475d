"""Study creation: pairing by sample, missing samples, bad input, assignment balance, catch."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select
from study_helpers import SAMPLES, make_db, make_method_dirs

from db.models import Assignment, CatchTrial, ComparisonSet, Pair, Study, Video
from fme.core.errors import ConfigError, DataError, FMEError, VideoError
from study.design import (
    PAPER_SETS,
    PRESETS,
    corrupt,
    create_study,
    enroll,
    parse_sample,
    plan_assignments,
)
from study.presets import LABELS

PAPER_LABELS = ["FOMM", "FOMM+EWP", "FOMM+AWP", "MRAA", "MRAA+AWP"]


@pytest.fixture()
def db(tmp_path):
    url, engine, factory = make_db(tmp_path / "s.db")
    yield factory
    engine.dispose()


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_parse_sample_splits_on_last_dash():
    assert parse_sample("a/b/sub17_EP01_13-normalized_westernMale.mp4") == (
        "sub17_EP01_13",
        "normalized_westernMale",
    )
    assert parse_sample("s3-po-05-asianMale.mp4") == ("s3-po-05", "asianMale")
    assert parse_sample("plain.mp4") == ("plain", "")


def test_paper_preset_builds_four_sets_of_matching_pairs(tmp_path, db):
    dirs = make_method_dirs(tmp_path / "v", PAPER_LABELS)
    with db() as s:
        made = create_study(s, "paper", dirs, preset="paper", seed=3)
        assert list(made.pairs_per_set) == [f"{a} vs {b}" for a, b in PAPER_SETS]
        assert set(made.pairs_per_set.values()) == {len(SAMPLES)}
        assert _count(s, Pair) == 4 * len(SAMPLES)
        for pair in s.scalars(select(Pair)):
            cs = s.get(ComparisonSet, pair.set_id)
            assert pair.video_a.sample == pair.video_b.sample == pair.sample
            assert pair.video_a.method_id == cs.method_a_id
            assert pair.video_b.method_id == cs.method_b_id
        v = s.scalars(select(Video)).first()
        assert v.n_frames == 4 and len(v.sha256) == 64 and v.driving == "007_7_1"


def test_tpsmm_preset_builds_its_three_sets_of_matching_pairs(tmp_path, db):
    labels = ["TPSMM", "TPSMM+EWP", "TPSMM+AWP", "FOMM+AWP"]
    dirs = make_method_dirs(tmp_path / "v", labels)
    with db() as s:
        made = create_study(s, "tpsmm", dirs, preset="tpsmm", seed=3)
        expected = ["TPSMM vs TPSMM+EWP", "TPSMM+EWP vs TPSMM+AWP", "TPSMM+AWP vs FOMM+AWP"]
        assert list(made.pairs_per_set) == expected
        assert set(made.pairs_per_set.values()) == {len(SAMPLES)}
        shown = set()
        for pair in s.scalars(select(Pair)):
            cs = s.get(ComparisonSet, pair.set_id)
            a, b = pair.video_a.method.label, pair.video_b.method.label
            assert cs.name == f"{a} vs {b}" and pair.video_a.sample == pair.video_b.sample
            assert pair.video_a.method.folder == str(dirs[a].resolve())
            shown.add((a, pair.sample))
        assert len(shown) == 3 * len(SAMPLES)  # each set's A once per sample
    with pytest.raises(ConfigError, match="FOMM\\+AWP"):  # the cross-family set needs FOMM+AWP
        create_study(db(), "t2", {k: v for k, v in dirs.items() if k != "FOMM+AWP"}, preset="tpsmm")


def test_presets_name_the_variants_labels_and_the_cli_offers_each(tmp_path, capsys):
    from fme.cli import main

    # every label a preset names is a training variant's label (so the demo and users can
    # build the methods), and the TPSMM variants read as the papers write them
    assert {x for sets in PRESETS.values() for pair in sets for x in pair} <= set(LABELS.values())
    assert [LABELS[v] for v in ("tpsmm", "tpsmm-ewp", "tpsmm-awp")] == [
        "TPSMM", "TPSMM+EWP", "TPSMM+AWP",
    ]  # fmt: skip
    assert PRESETS["megc2021"] == [("FAMGAN", "FOMM+EWP")]
    assert PRESETS["megc2022"] == [("TPSMM-AU", "FOMM+EWP")] and LABELS["tpsmm-au"] == "TPSMM-AU"
    assert PRESETS["liveportrait"] == [("LivePortrait", "FOMM+AWP"), ("LivePortrait", "TPSMM+AWP")]
    # `fme study create --preset` takes every preset of the table, and nothing else
    dirs = make_method_dirs(tmp_path / "v", ["TPSMM", "TPSMM+EWP", "TPSMM+AWP", "FOMM+AWP"])
    methods = [a for label, d in dirs.items() for a in ("--method", f"{label}={d}")]
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["study", "create", "t", "--preset", "tpsmm", *methods, "--db", url]) == 0
    assert f"TPSMM+AWP vs FOMM+AWP: {len(SAMPLES)} pairs" in capsys.readouterr().out
    bad = ["study", "create", "t", "--preset", "megc2023", *methods, "--db", url]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert all(f"'{name}'" in err for name in PRESETS), err


def test_missing_samples_are_reported_and_only_shared_ones_paired(tmp_path, db):
    a = make_method_dirs(tmp_path / "a", ["A"], samples=["d1-t1", "d2-t1", "d3-t1"])
    b = make_method_dirs(tmp_path / "b", ["B"], samples=["d1-t1", "d3-t1"])
    with db() as s:
        made = create_study(s, "m", {**a, **b}, sets=[("A", "B")])
        assert made.missing == {"B": ["d2-t1"]}
        assert made.pairs_per_set == {"A vs B": 2}
        assert sorted(s.scalars(select(Pair.sample))) == ["d1-t1", "d3-t1"]


def test_bad_input_raises_and_writes_nothing(tmp_path, db):
    a = make_method_dirs(tmp_path / "a", ["A"], samples=["d1-t1"])
    b = make_method_dirs(tmp_path / "b", ["B"], samples=["d9-t1"])
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "d1-t1.mp4").write_bytes(b"this is not a video")
    cases = [
        ({**a, **b}, [("A", "B")], DataError, "would be empty"),
        ({**a, "E": empty}, [("A", "E")], DataError, "no .mp4"),
        ({**a, "J": junk}, [("A", "J")], VideoError, "d1-t1.mp4"),
        ({**a, **b}, [("A", "C")], ConfigError, "'C'"),
        ({**a, "Z": tmp_path / "nope"}, [("A", "Z")], DataError, "not found"),
    ]
    with db() as s:
        for methods, sets, err, text in cases:
            with pytest.raises(err, match=text):
                create_study(s, "bad", methods, sets=sets)
            assert _count(s, Study) == 0 and _count(s, Video) == 0


def test_existing_name_is_refused(tmp_path, db):
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    with db() as s:
        create_study(s, "dup", dirs, sets=[("A", "B")])
        with pytest.raises(DataError, match="already exists"):
            create_study(s, "dup", dirs, sets=[("A", "B")])
        assert _count(s, Study) == 1


def test_symlink_leading_outside_the_folder_is_refused(tmp_path, db):
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    outside = make_method_dirs(tmp_path / "secret", ["X"], samples=["zz-t"])["X"]
    (dirs["B"] / "zz-t.mp4").symlink_to(outside / "zz-t.mp4")
    with db() as s:
        with pytest.raises(DataError, match="outside"):
            create_study(s, "sym", dirs, sets=[("A", "B")])
        assert _count(s, Video) == 0


def test_allowed_root_confines_folders(tmp_path, db):
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    with db() as s, pytest.raises(FMEError, match="outside the allowed root"):
        create_study(s, "root", dirs, sets=[("A", "B")], allowed_root=tmp_path / "other")


def test_sides_balanced_within_and_across_participants():
    pairs = list(range(10, 17))  # 7 pairs: odd count
    plans = [dict(plan_assignments(pairs, seed=5, index=k)) for k in range(6)]
    for plan in plans:
        assert sorted(plan) == pairs  # every pair once
        lefts = sum(side == "left" for side in plan.values())
        assert lefts in (3, 4)
    for j in range(3):  # each two consecutive participants see A once on each side
        for p in pairs:
            assert {plans[2 * j][p], plans[2 * j + 1][p]} == {"left", "right"}
    orders = [tuple(p for p, _ in plan_assignments(pairs, 5, k)) for k in range(6)]
    assert len(set(orders)) > 1  # orders differ between participants
    assert orders[0] == tuple(p for p, _ in plan_assignments(pairs, 5, 0))  # seeded


def test_enroll_assigns_all_pairs_and_catch_trials(tmp_path, db):
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    with db() as s:
        made = create_study(
            s, "c", dirs, sets=[("A", "B")], catch=2, seed=1, media_dir=tmp_path / "media"
        )
        assert made.n_catch == 2
        p1 = enroll(s, "c", age=30, gender="female")
        p2 = enroll(s, "c", age=41, gender="male")
        assert p1.token != p2.token and len(p1.token) >= 20
        n_pairs = _count(s, Pair)
        assert n_pairs == len(SAMPLES) + 2
        for p in (p1, p2):
            rows = s.scalars(select(Assignment).where(Assignment.participant_id == p.id)).all()
            assert sorted(a.position for a in rows) == list(range(n_pairs))
        sides = {
            (a.participant_id, a.pair_id): a.a_side for a in s.scalars(select(Assignment)).all()
        }
        for pair_id in s.scalars(select(Pair.id)):
            assert {sides[(p1.id, pair_id)], sides[(p2.id, pair_id)]} == {"left", "right"}
        trial = s.scalars(select(CatchTrial)).first()
        bad = s.get(Video, trial.corrupted_video_id)
        assert (
            bad.kind == "catch"
            and (tmp_path / "media").resolve() in (tmp_path / "media" / bad.path).resolve().parents
        )
        with pytest.raises(DataError, match="age"):
            enroll(s, "c", age=12, gender="x")


def test_corruption_is_visible():
    rng = np.random.default_rng(0)
    clip = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None, None], (3, 1, 64, 3))
    clip = clip + rng.integers(0, 3, clip.shape, dtype=np.uint8)
    bad = corrupt(clip, seed=0)
    assert bad.shape == clip.shape and bad.dtype == np.uint8
    # upside down: the top row of the corrupted clip is bright where the original is dark
    assert bad[:, :8].mean() - clip[:, :8].mean() > 100
    assert np.abs(bad.astype(int) - clip).mean() > 60
