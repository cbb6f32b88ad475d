"""Engine and sessions: SQLite by default (`sqlite:///fme.db`), any SQLAlchemy URL through
`FME_DATABASE_URL`.

SQLite connections run in WAL mode with a busy timeout (concurrent volunteers wait for the
write lock instead of failing) and with foreign keys enforced. The wait is bounded (10 s,
`FME_DB_BUSY_TIMEOUT` seconds): a writer that holds the lock longer makes the command stop
with one line naming the database and the processes that have it open.

A URL that cannot be opened is the user's to fix: `make_engine` and `open_engine` (and
`db.migrate`) turn every failure to parse it, import its driver, connect or migrate into
the project's error, with the URL (password masked) and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from fme.core.errors import ConfigError, DataError, FMEError, StorageError
from fme.core.outputs import blocking_file, writable

DEFAULT_URL = "sqlite:///fme.db"


def database_url(url: str | None = None) -> str:
    """`url`, else `FME_DATABASE_URL`, else `sqlite:///fme.db`."""
    return url or os.environ.get("FME_DATABASE_URL") or DEFAULT_URL


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s() * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


#: how long a SQLite writer waits for another's write lock (seconds; FME_DB_BUSY_TIMEOUT)
DEFAULT_BUSY_TIMEOUT_S = 10.0


def busy_timeout_s() -> float:
    """FME_DB_BUSY_TIMEOUT (seconds, 0.1-600), else 10."""
    text = os.environ.get("FME_DB_BUSY_TIMEOUT", "")
    try:
        value = float(text) if text.strip() else DEFAULT_BUSY_TIMEOUT_S
    except ValueError:
        value = DEFAULT_BUSY_TIMEOUT_S
    return min(max(value, 0.1), 600.0)


def _holders(database: str) -> list[str]:
    """The other processes of this machine that have the SQLite file (or its -wal) open,
    as `pid N (command)` (Linux /proc; empty elsewhere or when none can be seen)."""
    try:
        target = os.path.realpath(database)
    except OSError:
        return []
    names = {target, target + "-wal", target + "-journal"}
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & names:
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                cmd = "?"
            cmd = cmd if len(cmd) <= 80 else cmd[:77] + "..."
            found.append(f"pid {entry.name} ({cmd})")
        if len(found) >= 3:
            break
    return found


def _translate(context) -> BaseException | None:
    """SQLAlchemy's handle_error hook: "database is locked" becomes the project's one-line
    error."""
    return database_locked(context.sqlalchemy_exception, str(context.engine.url))


def database_locked(err: BaseException, url: str = "") -> FMEError | None:
    """The one line for SQLite's "database is locked" (another writer held the write lock
    longer than the busy timeout); None for any other error."""
    if not isinstance(err, exc.DBAPIError):
        return None
    reason = _reason(err)
    if "database is locked" in reason or "database table is locked" in reason:
        database = None
        try:
            database = make_url(url).database if url else None
        except Exception:
            database = None
        who = _holders(database) if database else []
        held = f", held by {', '.join(who)}" if who else ""
        shown = shown_url(url) if url else "the SQLite database"
        return DataError(
            f"{shown}: the database is locked by another writer (waited "
            f"{busy_timeout_s():g} s{held})",
            hint="Wait for the other `fme` command or the app's admin page to finish, then "
            "run this again (FME_DB_BUSY_TIMEOUT=SECONDS waits longer).",
        )
    return None


def shown_url(url: str) -> str:
    """`url` with its password masked (`***`), for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: mask anything between `user:` and `@`
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", str(url))


_DRIVERS = {
    "postgresql": "install psycopg (pip install 'psycopg[binary]')",
    "mysql": "install a MySQL driver (pip install mysqlclient, or use mysql+pymysql:// "
    "with pip install pymysql)",
    "mariadb": "install mariadb (pip install mariadb)",
}
_URL_HINT = (
    "Give --db (or FME_DATABASE_URL) a SQLAlchemy URL, e.g. sqlite:///studies.db or "
    "postgresql+psycopg://user:password@host/dbname."
)
_STUDY_DB = "Give --db a study database, or a new file name to start one."


def _reason(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    return " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database, an in-memory one, a `file:` URI
    or text that is not a URL (which `make_engine` answers)."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)


def _check_sqlite_file(url: str) -> None:
    """A SQLite file URL whose folder is missing, a file, or not writable."""
    path = sqlite_file(url)
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{shown_url(url)} is a folder, not a database file", hint=_STUDY_DB)
    blocker = blocking_file(path)
    if blocker is not None:
        raise ConfigError(
            f"{shown_url(url)}: the database lies under the file {blocker}",
            hint="Give --db a path in a folder.",
        )
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"{shown_url(url)}: the folder {folder} does not exist",
            hint=f"Create the folder (mkdir -p {folder}) or fix --db.",
        )
    if not writable(folder) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(
            f"{shown_url(url)}: cannot write the database in {folder}",
            hint="Give --db a file in a folder you can write to.",
        )


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn a failure to open, connect to or migrate `url` into ConfigError/DataError."""
    shown = shown_url(url)
    try:
        yield
    except FMEError:
        raise
    except exc.NoSuchModuleError as err:
        kind = str(url).split(":", 1)[0]
        raise ConfigError(
            f"{shown}: unknown database kind {kind!r} ({_reason(err)})", hint=_URL_HINT
        ) from None
    except exc.ArgumentError as err:
        raise ConfigError(f"{shown}: not a database URL ({_reason(err)})", hint=_URL_HINT) from None
    except ImportError as err:
        backend = str(url).split(":", 1)[0].split("+", 1)[0]
        fix = _DRIVERS.get(backend, "install the Python driver named in the URL")
        raise ConfigError(
            f"{shown}: the database driver is not installed ({err})", hint=f"To use it, {fix}."
        ) from None
    except exc.DBAPIError as err:
        reason = _reason(err)
        if any(t in reason for t in ("database or disk is full", "disk I/O error")):
            raise StorageError(
                f"{shown}: the disk holding the database is full or failing ({reason})",
                hint="Free some space (or give --db a file on another disk), then run the "
                "command again; nothing was written to the database.",
            ) from None
        if "not a database" in reason or "malformed" in reason:
            raise DataError(
                f"{shown}: this file is not a study database ({reason})", hint=_STUDY_DB
            ) from None
        if str(url).startswith("sqlite"):
            raise ConfigError(
                f"{shown}: cannot open the database ({reason})", hint=_STUDY_DB
            ) from None
        raise ConfigError(
            f"{shown}: cannot connect to the database ({reason})",
            hint="Check that the server is running and the host, port, user, password and "
            "database name in --db (or FME_DATABASE_URL).",
        ) from None
    except exc.SQLAlchemyError as err:
        raise DataError(
            f"{shown}: this database is not a study database of FME Studio ({_reason(err)})",
            hint=_STUDY_DB,
        ) from None


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for `url` (see `database_url`); SQLite gets WAL, busy timeout, foreign keys.

    ConfigError when the URL cannot be parsed, its driver is missing, or a SQLite file's
    folder is missing or not writable (nothing is connected yet: see `open_engine`)."""
    url = database_url(url)
    with database_errors(url):
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            _check_sqlite_file(url)
            connect_args = kwargs.pop("connect_args", {})
            connect_args.setdefault("timeout", busy_timeout_s())
            connect_args.setdefault("check_same_thread", False)
            engine = create_engine(url, connect_args=connect_args, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "handle_error", _translate)
            return engine
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "handle_error", _translate)
        return engine


def open_engine(url: str | None = None, **kwargs) -> Engine:
    """`make_engine`, then one connection, so that a server that refuses or a file that is
    not a database is answered now, as the project's error."""
    url = database_url(url)
    engine = make_engine(url, **kwargs)
    with database_errors(url):
        try:
            with engine.connect():
                pass
        except BaseException:
            engine.dispose()
            raise
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (the app reads them afterwards)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
