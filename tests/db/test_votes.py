"""The vote path: idempotent record_vote, resume from the database, concurrent voters."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from study_helpers import SAMPLES, make_db, make_method_dirs

from db.models import Vote
from db.ratings import record_rating
from db.votes import choice_for_side, next_assignment, participant_by_token, progress, record_vote
from fme.core.errors import DataError
from study.design import create_study, enroll
from study.export import ratings_frame, study_progress, votes_frame


@pytest.fixture()
def study(tmp_path):
    url, engine, factory = make_db(tmp_path / "v.db")
    dirs = make_method_dirs(tmp_path / "v", ["A", "B", "C"])
    with factory() as s:
        create_study(
            s,
            "s",
            dirs,
            sets=[("A", "B"), ("B", "C")],
            catch=1,
            seed=2,
            media_dir=tmp_path / "media",
        )
    yield url, factory
    engine.dispose()


def _votes(s) -> int:
    return s.scalar(select(func.count(Vote.id)))


def test_second_vote_ignored_and_reported(study):
    _, factory = study
    with factory() as s:
        p = enroll(s, "s", age=25, gender="m")
        first = next_assignment(s, p)
        r1 = record_vote(s, p.token, first.pair_id, "A", 1200)
        r2 = record_vote(s, p.token, first.pair_id, "B", 50)
        assert r1.recorded and not r1.duplicate
        assert r2.duplicate and r2.vote_id == r1.vote_id and r2.choice == "A"
        assert _votes(s) == 1
        assert next_assignment(s, p).position == 1
        assert progress(s, p).done == 1


def test_bad_votes_raise_and_write_nothing(study):
    _, factory = study
    with factory() as s:
        p = enroll(s, "s", age=25, gender="m")
        q = enroll(s, "s", age=26, gender="f")
        pair = next_assignment(s, p).pair_id
        with pytest.raises(DataError, match="unknown participant"):
            record_vote(s, "no-such-token", pair, "A", 5)
        with pytest.raises(DataError, match="'A' or 'B'"):
            record_vote(s, p.token, pair, "left", 5)
        with pytest.raises(DataError, match=">= 0"):
            record_vote(s, p.token, pair, "A", -3)
        with pytest.raises(DataError, match="not assigned"):
            record_vote(s, p.token, 10_000, "A", 5)
        assert _votes(s) == 0
        assert next_assignment(s, q).pair_id is not None


def test_resume_walks_all_pairs_then_finishes(study):
    _, factory = study
    with factory() as s:
        token = enroll(s, "s", age=30, gender="f").token
    seen = []
    while True:
        with factory() as s:  # a fresh session each time, like a reload
            p = participant_by_token(s, token)
            a = next_assignment(s, p)
            if a is None:
                break
            seen.append(a.position)
            result = record_vote(s, token, a.pair_id, choice_for_side(a.a_side, "left"), 100)
    n = 2 * len(SAMPLES) + 1
    assert seen == list(range(n))
    assert result.finished
    with factory() as s:
        p = participant_by_token(s, token)
        assert p.finished_at is not None and progress(s, p).finished
        df = votes_frame(s, "s")
        assert len(df) == n and df["is_catch"].sum() == 1
        # every click was on the left: choice A exactly where A was shown on the left
        assert ((df["choice"] == "A") == (df["a_side"] == "left")).all()
        catch = df[df["is_catch"]].iloc[0]
        assert catch["catch_passed"] == (catch["choice"] == "A")
        assert set(df.loc[~df["is_catch"], "set_name"]) == {"A vs B", "B vs C"}
        prog = study_progress(s, "s")
        assert (prog.participants, prog.finished, prog.votes) == (1, 1, n)
        assert prog.catch_failures == int(not catch["catch_passed"])


def test_choice_for_side():
    assert choice_for_side("left", "left") == "A"
    assert choice_for_side("left", "right") == "B"
    assert choice_for_side("right", "right") == "A"
    assert choice_for_side("right", "left") == "B"


def test_fifty_concurrent_voters_lose_and_duplicate_nothing(study):
    """50 volunteers each click every pair twice at once (double clicks) on one SQLite file."""
    _, factory = study
    with factory() as s:
        tokens = [enroll(s, "s", age=20 + i % 50, gender="x").token for i in range(50)]
        n_pairs = len(next(iter([participant_by_token(s, tokens[0]).assignments])))
    errors: list[BaseException] = []
    counts = {"recorded": 0, "dup": 0}
    lock = threading.Lock()

    def volunteer(token: str) -> None:
        try:
            with factory() as s:
                p = participant_by_token(s, token)
                for a in list(p.assignments):
                    for _ in range(2):
                        r = record_vote(s, token, a.pair_id, "A" if a.position % 2 else "B", 10)
                        with lock:
                            counts["recorded" if r.recorded else "dup"] += 1
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=volunteer, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert counts == {"recorded": 50 * n_pairs, "dup": 50 * n_pairs}
    with factory() as s:
        assert _votes(s) == 50 * n_pairs
        rows = s.execute(select(Vote.participant_id, Vote.pair_id)).all()
        assert len(set(rows)) == len(rows)


def test_expert_ratings_checked_and_exported(study):
    _, factory = study
    from db.models import Expert, Video

    with factory() as s:
        s.add(Expert(study_id=1, name="expert 1", token="tok-e1"))
        s.commit()
        video = s.scalars(select(Video).where(Video.kind == "method")).first()
        catch_video = s.scalars(select(Video).where(Video.kind == "catch")).first()
        with pytest.raises(DataError, match="0-3"):
            record_rating(s, "tok-e1", video.id, 4, 0, 0)
        with pytest.raises(DataError, match="not one of"):
            record_rating(s, "tok-e1", catch_video.id, 1, 1, 1)
        assert len(ratings_frame(s, "s")) == 0
        assert not record_rating(s, "tok-e1", video.id, 3, 2, 1).replaced
        assert record_rating(s, "tok-e1", video.id, 2, 2, 1).replaced
        df = ratings_frame(s, "s")
        assert len(df) == 1
        row = df.iloc[0]
        assert (row["expert"], row["upper"], row["lower"], row["noise"]) == ("expert 1", 2, 2, 1)
        assert row["method"] == "A" and row["sample"] == video.sample
