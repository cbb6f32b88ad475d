"""The schema and the vote path on a real PostgreSQL server (FME_TEST_POSTGRES_URL).

Each run creates its own throw-away database on that server (and drops it afterwards), so
that it never meets tables of other tests. Skipped when the variable is not set.
"""

from __future__ import annotations

import os
import secrets
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from study_helpers import make_method_dirs

from db.engine import make_engine, session_factory
from db.migrate import current, upgrade
from db.models import Base, Expert, ExpertRating, Video, Vote
from db.votes import next_assignment, participant_by_token, record_vote
from study.design import create_study, enroll
from study.export import study_progress, votes_frame

URL = os.environ.get("FME_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not URL, reason="set FME_TEST_POSTGRES_URL to a PostgreSQL server"),
]


@pytest.fixture(scope="module")
def pg_url():
    name = f"fme_study_{secrets.token_hex(4)}"
    admin = make_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrated_schema_equals_orm_and_constraints_hold(pg_url, tmp_path):
    assert current(pg_url) == "0004"
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    factory = session_factory(engine)
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    with factory() as s:
        create_study(s, "schema", dirs, sets=[("A", "B")])
        video_id = s.scalar(select(Video.id).where(Video.kind == "method"))
        expert = Expert(study_id=s.scalar(text("SELECT id FROM studies")), name="e", token="t")
        s.add(expert)
        s.commit()
        s.add(ExpertRating(expert_id=expert.id, video_id=video_id, upper=4, lower=0, noise=0))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        p = enroll(s, "schema", age=30, gender="x")
        pair_id = p.assignments[0].pair_id
        s.add(Vote(participant_id=p.id, pair_id=pair_id, choice="A", response_ms=1))
        s.commit()
        s.add(Vote(participant_id=p.id, pair_id=pair_id, choice="B", response_ms=1))
        with pytest.raises(IntegrityError):
            s.commit()
    engine.dispose()


def test_vote_path_with_concurrent_voters(pg_url, tmp_path):
    engine = make_engine(pg_url, pool_size=25)
    factory = session_factory(engine)
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    with factory() as s:
        create_study(s, "votes", dirs, sets=[("A", "B")], catch=1, media_dir=tmp_path / "c")
        tokens = [enroll(s, "votes", age=25, gender="x").token for _ in range(20)]
    errors: list[BaseException] = []

    def volunteer(token: str) -> None:
        try:
            with factory() as s:
                while (a := next_assignment(s, participant_by_token(s, token))) is not None:
                    first = record_vote(s, token, a.pair_id, "A", 100)
                    again = record_vote(s, token, a.pair_id, "B", 5)  # a double click
                    assert first.recorded and again.duplicate and again.choice == "A"
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=volunteer, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with factory() as s:
        n_pairs = 2 + 1
        df = votes_frame(s, "votes")
        assert len(df) == 20 * n_pairs
        assert not df.duplicated(["participant", "pair_id"]).any()
        assert (df["choice"] == "A").all()
        progress = study_progress(s, "votes")
        assert progress.finished == 20 and progress.completion == 1.0
    engine.dispose()
