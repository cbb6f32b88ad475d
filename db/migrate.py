"""Alembic migrations packaged inside `db/`: `upgrade(url)` brings a database to the newest
schema (creating it when empty), programmatically, without an alembic.ini.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.engine import (
    database_errors,
    database_url,
    make_engine,
    open_engine,
    session_factory,
    shown_url,
    sqlite_file,
)
from fme.core.errors import DataError

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)


def _say_if_empty(url: str) -> None:
    """A warning line when a SQLite file of 0 bytes (what a full disk or a truncation can
    leave of a database) is about to become a new database."""
    path = sqlite_file(url)
    if path is not None and path.is_file() and path.stat().st_size == 0:
        log.warning(
            "%s is an empty file (0 bytes): set up as a new study database with no studies; "
            "if it held studies, restore it from a backup",
            path,
        )


@contextmanager
def _quiet():
    """Alembic logs each step at INFO; keep `fme -v` for that."""
    logger = logging.getLogger("alembic")
    level = logger.level
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def alembic_config(url: str | None = None, engine: Engine | None = None):
    """An Alembic config pointing at `db/migrations` and at `url` (or a ready engine)."""
    with _quiet():
        from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(url: str | None = None, revision: str = "head", engine: Engine | None = None) -> None:
    """Run every migration up to `revision` on `url` (or on `engine`); a database that cannot
    be opened or is not ours is the project's error (see `db.engine.database_errors`)."""
    with _quiet():
        from alembic import command
        from alembic.util import CommandError

        if engine is not None and url is None:
            url = engine.url.render_as_string(hide_password=False)
        url = database_url(url)
        own = engine is None
        if own:
            _say_if_empty(url)
        engine = open_engine(url) if own else engine
        try:
            with database_errors(url):
                command.upgrade(alembic_config(url, engine), revision)
        except CommandError as err:
            raise DataError(
                f"{shown_url(url)}: this database's schema is not one this version of "
                f"FME Studio knows ({err})",
                hint="Open it with the version that made it, or give --db another database.",
            ) from None
        finally:
            if own:
                engine.dispose()


def migrated_sessions(url: str | None = None, **engine_kwargs) -> sessionmaker[Session]:
    """Migrate `url` to the newest schema and return sessions on it (one engine for both;
    `engine_kwargs` go to `make_engine`)."""
    _say_if_empty(database_url(url))
    engine = open_engine(url, **engine_kwargs)
    upgrade(url, engine=engine)
    return session_factory(engine)


def downgrade(url: str | None = None, revision: str = "base", engine: Engine | None = None) -> None:
    with _quiet():
        from alembic import command

        command.downgrade(alembic_config(url, engine), revision)


def current(url: str | None = None) -> str | None:
    """The revision a database is at (None when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
