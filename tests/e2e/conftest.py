"""Fixtures of the end-to-end tests: real videos, a study in a database, the app served by
`streamlit run app.py` on a free loopback port, Chromium, and a PostgreSQL server that the
test starts itself. Missing parts (chromium, playwright, PostgreSQL binaries) skip the
tests that need them, with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest
from e2e_helpers import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    AppServer,
    create_demo_study,
    make_videos,
    start_postgres,
)

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def video_dirs(tmp_path_factory) -> dict[str, Path]:
    """The five methods' folders of real H.264 MP4s (made once per session)."""
    return make_videos(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Apps:
    """Makes studies and serves them; every server it started is stopped at the end."""

    def __init__(self, root: Path, video_dirs: dict[str, Path]):
        self.root = root
        self.video_dirs = video_dirs
        self.servers: list[AppServer] = []

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.root / name / 'fme.db'}"

    def study(
        self, name: str, url: str | None = None, video_dirs: dict[str, Path] | None = None
    ) -> str:
        """A fresh database at `url` (default: a new SQLite file) holding the demo study."""
        (self.root / name).mkdir(parents=True, exist_ok=True)
        url = url or self.sqlite_url(name)
        create_demo_study(url, video_dirs or self.video_dirs, self.root / name / "catch")
        return url

    def serve(self, name: str, url: str, env: dict[str, str] | None = None) -> AppServer:
        server = AppServer(database_url=url, workdir=self.root / name, extra_env=env)
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def app_factory(tmp_path_factory, video_dirs):
    made = Apps(tmp_path_factory.mktemp("apps"), video_dirs)
    yield made
    made.close()


@pytest.fixture()
def apps(app_factory):
    """The session's `Apps`; every server started during the test is stopped when it ends."""
    before = len(app_factory.servers)
    yield app_factory
    for server in app_factory.servers[before:]:
        server.stop()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server started for this session (initdb + pg_ctl on a free port)."""
    try:
        server = start_postgres()
    except FileNotFoundError as err:
        pytest.skip(f"PostgreSQL is not installed ({err}); CI installs Debian postgresql")
    except Exception as err:  # initdb/pg_ctl failed: report why
        pytest.skip(f"could not start PostgreSQL: {err} {getattr(err, 'stderr', b'')!r}")
    yield server
    server.stop()


@pytest.fixture()
def pg_database(postgres):
    """A fresh database on the session's PostgreSQL server: its URL."""
    return postgres.create_database(f"fme_e2e_{secrets.token_hex(4)}")


def chromium_path() -> str | None:
    path = os.environ.get("FME_CHROMIUM") or "/usr/bin/chromium"
    return path if Path(path).exists() else shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (set FME_CHROMIUM or apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
