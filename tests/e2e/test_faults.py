"""Faults: SIGKILL the app in the middle of a 20-volunteer run, restart it, and check that
nothing acknowledged was lost and everyone goes on where the database says.

The volunteers vote continuously over the app's websocket protocol; once all have
consented and 40 votes are acknowledged, the app's process group gets SIGKILL (no clean
shutdown) while clicks are in flight. Then: every vote a volunteer saw acknowledged is in
the database with the side they clicked, nothing is stored that nobody clicked, no vote is
stored twice; the app restarts on the same database and port, every volunteer's reload
shows the next unanswered pair (its number and its two videos), and one more vote each is
stored. Once on SQLite, once on a PostgreSQL server the test starts itself.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from e2e_helpers import check_acks, pairs_per_volunteer, read_ledger, video_digests
from st_client import AppGone, Volunteer, run_async

pytestmark = [pytest.mark.slow]

N_VOLUNTEERS = 20
KILL_AFTER_ACKS = 40
RUN_TIMEOUT_S = 180.0


async def _vote_until_gone(v: Volunteer, rng: random.Random, consented: asyncio.Event) -> None:
    screen = await v.consent(await v.open())
    consented.set()
    try:
        while screen.pair is not None:
            await asyncio.sleep(rng.uniform(0, 0.1))
            screen = await v.vote(screen, rng.choice(["left", "right"]))
    except AppGone:
        return


async def _run_until_killed(server, volunteers: list[Volunteer]) -> int:
    """Volunteers vote until the app is killed; returns the acknowledged votes at the kill."""
    events = [asyncio.Event() for _ in volunteers]
    tasks = [
        asyncio.ensure_future(_vote_until_gone(v, random.Random(i), e))
        for i, (v, e) in enumerate(zip(volunteers, events))
    ]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RUN_TIMEOUT_S
    while loop.time() < deadline:
        if any(t.done() and t.exception() for t in tasks):
            break
        acked = sum(len(v.acks) for v in volunteers)
        if all(e.is_set() for e in events) and acked >= KILL_AFTER_ACKS:
            break
        await asyncio.sleep(0.01)
    in_flight = sum(len(v.clicked) - len(v.acks) for v in volunteers)
    acked_at_kill = sum(len(v.acks) for v in volunteers)
    server.kill()
    done, pending = await asyncio.wait(tasks, timeout=120)
    assert not pending, "volunteers hung after the kill"
    for t in done:
        if t.exception() is not None:
            raise t.exception()
    print(f"\nkilled the app at {acked_at_kill} acknowledged votes, {in_flight} clicks in flight")
    for v in volunteers:
        await v.close()
    return acked_at_kill


async def _resume(volunteers: list[Volunteer], ledger) -> list[tuple[str, tuple, tuple]]:
    """Every volunteer reloads their link; (name, shown, expected) where they differ. A
    volunteer who had answered every pair before the kill (a fast machine lets the first to
    consent finish while the others still read the consent page) sees no pair."""
    wrong = []
    for i, v in enumerate(volunteers):
        screen = await v.open()
        done = len(ledger.votes.get(v.token, {}))
        if done == len(ledger.slots[v.token]):
            if screen.pair is not None:
                wrong.append((v.name, (screen.pair,), (None,)))
            await v.close()
            continue
        slot = ledger.slots[v.token][done]
        shown = (screen.pair, screen.video_digests())
        expected = ((done + 1, pairs_per_volunteer()), {"left": slot.left, "right": slot.right})
        if shown != expected:
            wrong.append((v.name, shown, expected))
            continue
        await v.vote(screen, "left" if i % 2 else "right")
        await v.close()
    return wrong


def _kill_and_restart(apps, name: str, url: str) -> None:
    server = apps.serve(name, url)
    digests = video_digests(url)
    volunteers = [Volunteer(server.url, name=f"volunteer-{i:02d}") for i in range(N_VOLUNTEERS)]

    acked_at_kill = run_async(_run_until_killed(server, volunteers))
    assert server.proc.poll() is not None, "the app is still running after SIGKILL"
    assert acked_at_kill >= KILL_AFTER_ACKS

    ledger = read_ledger(url, digests)
    counts = check_acks(ledger, volunteers)
    assert counts["lost"] == 0, counts
    assert counts["wrong_pair"] == 0, counts
    assert counts["extra"] == 0, counts
    assert counts["duplicated"] == 0, counts
    # Clicks that were in flight at the kill may or may not be stored, never twice.
    for v in volunteers:
        assert len(v.acks) <= len(ledger.votes.get(v.token, {})) <= len(v.clicked)

    server.start()  # same database, same port
    wrong = run_async(_resume(volunteers, ledger))
    assert not wrong, f"{len(wrong)} volunteers resumed at the wrong pair: {wrong[:3]}"

    after = read_ledger(url, digests)
    counts = check_acks(after, volunteers)
    assert counts == dict(
        acked=sum(len(v.acks) for v in volunteers), lost=0, wrong_pair=0, extra=0, duplicated=0
    ), counts
    for v in volunteers:
        before = len(ledger.votes.get(v.token, {}))
        finished = before == len(ledger.slots[v.token])
        assert len(after.votes[v.token]) == before + (0 if finished else 1)


def test_sigkill_mid_run_sqlite(apps):
    _kill_and_restart(apps, "faults-sqlite", apps.study("faults-sqlite"))


@pytest.mark.postgres
def test_sigkill_mid_run_postgresql(apps, pg_database):
    _kill_and_restart(apps, "faults-pg", apps.study("faults-pg", url=pg_database))
