"""Schema: migrations equal the ORM, SQLite pragmas, and integrity enforced by the database."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from study_helpers import make_db, make_method_dirs

from db.engine import database_url, make_engine
from db.migrate import current, downgrade, upgrade
from db.models import Base, ExpertRating, Participant, Study, Vote
from study.design import create_study, enroll


def test_migrated_schema_equals_orm_metadata(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert current(url) == "0004"
    engine = make_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        tables = set(inspect(conn).get_table_names())
    assert set(Base.metadata.tables) <= tables
    downgrade(url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_sqlite_pragmas_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv("FME_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///fme.db"
    monkeypatch.setenv("FME_DATABASE_URL", "sqlite:///x.db")
    assert database_url() == "sqlite:///x.db"
    assert database_url("sqlite:///y.db") == "sqlite:///y.db"
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()


@pytest.fixture()
def study(tmp_path):
    url, engine, factory = make_db(tmp_path / "i.db")
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    with factory() as s:
        create_study(s, "s", dirs, sets=[("A", "B")])
        p = enroll(s, "s", age=30, gender="f")
        pair_id = p.assignments[0].pair_id
    yield factory, p, pair_id
    engine.dispose()


def _fails(factory, row) -> bool:
    with factory() as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            return True
    return False


def test_integrity_lives_in_the_schema(study):
    factory, p, pair_id = study
    vote = dict(participant_id=p.id, pair_id=pair_id, response_ms=10)
    assert not _fails(factory, Vote(choice="A", **vote))
    assert _fails(factory, Vote(choice="B", **vote))  # unique (participant, pair)
    assert _fails(
        factory, Vote(choice="C", participant_id=p.id, pair_id=pair_id + 1, response_ms=1)
    )
    assert _fails(factory, Vote(choice="A", participant_id=9999, pair_id=pair_id, response_ms=1))
    with factory() as s:
        video_id = s.scalar(text("SELECT id FROM videos LIMIT 1"))
        expert_id = s.execute(
            text(
                "INSERT INTO experts (study_id, name, token, created_at) "
                "VALUES (1, 'e', 'tok', CURRENT_TIMESTAMP) RETURNING id"
            )
        ).scalar()
        s.commit()
    ok = dict(expert_id=expert_id, video_id=video_id)
    assert _fails(factory, ExpertRating(upper=4, lower=0, noise=0, **ok))
    assert _fails(factory, ExpertRating(upper=0, lower=-1, noise=0, **ok))
    assert not _fails(factory, ExpertRating(upper=3, lower=3, noise=3, **ok))
    assert _fails(factory, Participant(study_id=1, token="t2", consent_at=p.consent_at, age=12))
    assert _fails(factory, Study(name="s"))  # unique name


def test_stopping_rule_is_fixed_at_creation_and_migrated_for_old_studies(tmp_path):
    from sqlalchemy import select

    from fme.core.errors import ConfigError

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, revision="0003")
    engine = make_engine(url)
    with engine.begin() as conn:  # two studies made before the stopping rule existed
        conn.execute(
            text(
                "INSERT INTO studies (name, seed, max_catch_failures, catch_per_participant, "
                "is_open, created_at, target_finished, min_view_s, min_view_loop) VALUES "
                "('with', 0, 0, 0, 1, '2026-01-01', 31, 0, 0), "
                "('without', 0, 0, 0, 1, '2026-01-01', NULL, 0, 0)"
            )
        )
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, planned_n FROM studies")).all())
    assert rows == {"with": 31, "without": None}
    engine.dispose()

    url2, engine2, factory = make_db(tmp_path / "new.db")
    dirs = make_method_dirs(tmp_path / "v", ["A", "B"])
    with factory() as s:
        create_study(
            s, "seq", dirs, sets=[("A", "B")], planned_n=40, looks="0.5,1", spending="pocock"
        )
        made = s.scalar(select(Study).where(Study.name == "seq"))
        assert (made.planned_n, made.sequential_looks, made.sequential_spending) == (
            40,
            "0.5,1",
            "pocock",
        )
        with pytest.raises(ConfigError, match="needs a planned N"):
            create_study(s, "bad", dirs, sets=[("A", "B")], looks="0.5,1")
        with pytest.raises(ConfigError, match="increasing"):
            create_study(s, "bad", dirs, sets=[("A", "B")], planned_n=40, looks="0.7,0.5")
        assert s.scalar(select(Study).where(Study.name == "bad")) is None
    engine2.dispose()


def test_a_zero_byte_database_file_is_said_when_it_is_set_up_anew(tmp_path, caplog, capsys):
    from fme.cli import main

    empty = tmp_path / "fme.db"
    empty.write_bytes(b"")
    with caplog.at_level("WARNING", logger="db.migrate"):
        assert main(["study", "list", "--db", f"sqlite:///{empty}"]) == 0
    said = [r.getMessage() for r in caplog.records if r.name == "db.migrate"]
    assert len(said) == 1 and "0 bytes" in said[0] and str(empty) in said[0], said
    caplog.clear()
    upgrade(f"sqlite:///{empty}")  # now a database: no second word about it
    assert not [r for r in caplog.records if r.name == "db.migrate"]
