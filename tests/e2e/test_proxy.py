"""The app deployed as the study guide (docs/guides/study.md) says: two `fme study serve --base-url-path fme` processes
on one database behind Debian's nginx, which runs docs/nginx-fme.conf (websocket upgrades,
sticky sessions by a route cookie) on a free loopback port as a non-daemon child.

A volunteer walks through the proxy in Chromium (consent, votes, a reload that resumes at
the right pair) with the websocket upgraded through nginx and every request of the browser
sent to one app process. Then 100 volunteers vote at once through the proxy, spread over
both processes on one PostgreSQL: 0 lost and 0 duplicated votes. The database is
FME_TEST_POSTGRES_URL's server (a fresh database on it) or a PostgreSQL server the test
starts; without either, the browser test runs on SQLite and the load test is skipped.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from browser_helpers import consent, player, shot
from e2e_helpers import (
    AppServer,
    NginxProxy,
    check_acks,
    expected_choice,
    nginx_bin,
    pairs_per_volunteer,
    read_ledger,
    start_postgres,
    video_digests,
)
from load_run import run_load

pytestmark = [pytest.mark.slow]

PREFIX = "fme"
WAIT_MS = 60_000
N_VOLUNTEERS = int(os.environ.get("FME_LOAD_VOLUNTEERS", "100"))
VOTES = 3


@dataclass
class Deployment:
    url: str  # the database
    database: str  # "postgresql" or "sqlite"
    apps: list[AppServer]
    proxy: NginxProxy

    @property
    def base(self) -> str:
        return f"{self.proxy.url}/{PREFIX}"


def _postgres_url(stack) -> str | None:
    """A fresh database on FME_TEST_POSTGRES_URL's server, else on a server started here."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"fme_proxy_{secrets.token_hex(4)}"
    given = os.environ.get("FME_TEST_POSTGRES_URL")
    if given:
        engine = create_engine(given, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return make_url(given).set(database=name).render_as_string(hide_password=False)
    try:
        server = start_postgres()
    except Exception:  # no binaries, or initdb failed: the caller falls back to SQLite
        return None
    stack.append(server.stop)
    return server.create_database(name)


@pytest.fixture(scope="module")
def deployment(app_factory):
    if nginx_bin() is None:
        pytest.skip("nginx is not installed (apt-get install nginx, or set FME_NGINX)")
    cleanup: list = []
    pg = _postgres_url(cleanup)
    url = app_factory.study("proxy", url=pg)
    apps = []
    for i in range(2):
        server = AppServer(
            database_url=url, workdir=app_factory.root / "proxy" / f"app{i}", base_path=PREFIX
        )
        app_factory.servers.append(server)
        apps.append(server.start())
    proxy = NginxProxy(app_factory.root / "proxy" / "nginx", [a.port for a in apps]).start()
    yield Deployment(url, "postgresql" if pg else "sqlite", apps, proxy)
    proxy.stop()
    for server in apps:
        server.stop()
    for stop in cleanup:
        stop()


def _stream_upstreams(proxy: NginxProxy) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for path, upstream, _ in proxy.upstreams():
        if path.startswith(f"/{PREFIX}/_stcore/stream"):
            counts[upstream] += 1
    return dict(counts)


def _stream_lines(proxy: NginxProxy) -> list[str]:
    return [
        line for line in proxy.log().splitlines() if line.startswith(f"/{PREFIX}/_stcore/stream")
    ]


@pytest.mark.browser
def test_volunteer_through_nginx_under_a_prefix(chromium, deployment, artifacts):
    proxy = deployment.proxy
    digests = video_digests(deployment.url)
    context = chromium.new_context(viewport={"width": 1000, "height": 860})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(deployment.base + "/")
    token = consent(page, age=52, gender="other")
    assert urlparse(page.url).path == f"/{PREFIX}/"
    slots = read_ledger(deployment.url, digests).slots[token]
    total = len(slots)
    sides = []
    for n in (1, 2):
        page.get_by_text(f"Pair {n} of {total}").wait_for()
        player(page, set())
        side = slots[n - 1].correct_side or ("left" if n == 1 else "right")
        sides.append(side)
        page.get_by_role("button", name=f"The {side} video").click()
    page.get_by_text(f"Pair 3 of {total}").wait_for()
    shot(page, artifacts, "proxy-01-pair-3")
    page.reload()
    page.get_by_text(f"Pair 3 of {total}").wait_for()
    stored = read_ledger(deployment.url, digests).votes[token]
    assert stored == {s.pair_id: expected_choice(s.a_side, d) for s, d in zip(slots, sides)}
    context.close()

    # nginx logs a websocket when it closes: the first visit's and the reload's
    deadline = time.monotonic() + 10
    while len(_stream_lines(proxy)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_stream_lines(proxy)) >= 2, proxy.log()
    # the snippet's log keeps no query strings: the participant's token (in the reloaded
    # page's ?p=...) and any platform id stay out of it
    assert "?" not in proxy.log() and token not in proxy.log(), proxy.log()
    rows = proxy.upstreams()
    assert all(" 101 " in line for line in _stream_lines(proxy)), _stream_lines(proxy)
    by_route: dict[str, set[str]] = defaultdict(set)
    for _path, upstream, route in rows:
        if route != "-":
            by_route[route].add(upstream)
    assert by_route and all(len(u) == 1 for u in by_route.values()), dict(by_route)


def test_two_processes_on_postgres_take_a_hundred_volunteers(deployment, artifacts):
    if deployment.database != "postgresql":
        pytest.skip("no PostgreSQL (set FME_TEST_POSTGRES_URL or install postgresql)")
    digests = video_digests(deployment.url)
    before = _stream_upstreams(deployment.proxy)
    t0 = time.perf_counter()
    result = run_load(deployment.base, n=N_VOLUNTEERS, votes=VOTES, seed=5, timeout=240.0)
    assert not result.errors, f"{len(result.errors)} volunteers failed: {result.errors[:5]}"
    for app in deployment.apps:
        assert app.proc.poll() is None, "an app died under load:\n" + app.log_tail()
    ledger = read_ledger(deployment.url, digests)
    counts = check_acks(ledger, result.volunteers)
    assert counts == dict(
        acked=N_VOLUNTEERS * VOTES, lost=0, wrong_pair=0, extra=0, duplicated=0
    ), counts
    for v in result.volunteers:
        assert len(ledger.votes[v.token]) == VOTES
        assert v.screens[-1].pair == (VOTES + 1, pairs_per_volunteer()), v.screens[-1].text
    after = _stream_upstreams(deployment.proxy)
    served = {u: after.get(u, 0) - before.get(u, 0) for u in after}
    assert len(served) == 2 and min(served.values()) >= N_VOLUNTEERS // 5, served
    summary = result.summary()
    summary.update(
        counts,
        websockets_per_process=served,
        test_wall_s=round(time.perf_counter() - t0, 2),
        votes_per_volunteer=VOTES,
        database="postgresql",
        processes=2,
        proxy="nginx " + " ".join(str(a.port) for a in deployment.apps),
        cpu_count=os.cpu_count(),
    )
    (artifacts / "load-proxy.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\nproxy load: {N_VOLUNTEERS} volunteers x {VOTES} votes through nginx on 2 processes "
        f"in {summary['wall_s']} s; p50 {summary['latency_p50_s']} s, "
        f"p95 {summary['latency_p95_s']} s; websockets per process {served}"
    )
