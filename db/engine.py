"""Engine and sessions: SQLite by default (`sqlite:///fme.db`), any SQLAlchemy URL through
`FME_DATABASE_URL`.

SQLite connections run in WAL mode with a busy timeout (concurrent volunteers wait for the
write lock instead of failing) and with foreign keys enforced.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///fme.db"
BUSY_TIMEOUT_MS = 30_000


def database_url(url: str | None = None) -> str:
    """`url`, else `FME_DATABASE_URL`, else `sqlite:///fme.db`."""
    return url or os.environ.get("FME_DATABASE_URL") or DEFAULT_URL


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for `url` (see `database_url`); SQLite gets WAL, busy timeout, foreign keys."""
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (the app reads them afterwards)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
