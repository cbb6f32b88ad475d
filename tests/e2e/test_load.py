"""Load: 100 volunteers at once against one running app on loopback.

Each volunteer speaks the app's own websocket protocol (as the browser does): opens the
study link, consents, and casts a few votes; every tenth double-clicks one vote and reloads
at once. What each volunteer saw acknowledged (the next pair came back) is compared with
the database: 0 lost, 0 duplicated, nothing stored that nobody clicked, and every screen
showed the pair the database assigned at that position. The p95 time from click to the
next pair is printed and written to artifacts/load.json (a figure, not an assertion).
"""

from __future__ import annotations

import json
import os
import time

import pytest
from e2e_helpers import check_acks, pairs_per_volunteer, read_ledger, video_digests
from load_run import run_load

pytestmark = [pytest.mark.slow]

N_VOLUNTEERS = int(os.environ.get("FME_LOAD_VOLUNTEERS", "100"))
VOTES = 3
TIMEOUT_S = 300.0


def test_hundred_volunteers_lose_and_duplicate_nothing(apps, artifacts):
    url = apps.study("load")
    server = apps.serve("load", url)
    digests = video_digests(url)

    t0 = time.perf_counter()
    result = run_load(server.url, n=N_VOLUNTEERS, votes=VOTES, seed=1, timeout=TIMEOUT_S)
    summary = result.summary()
    assert not result.errors, f"{len(result.errors)} volunteers failed: {result.errors[:5]}"
    assert server.proc.poll() is None, "the app died under load:\n" + server.log_tail()

    ledger = read_ledger(url, digests)
    counts = check_acks(ledger, result.volunteers)
    assert counts == dict(
        acked=N_VOLUNTEERS * VOTES, lost=0, wrong_pair=0, extra=0, duplicated=0
    ), counts
    # Exactly the acknowledged votes are stored: one row per volunteer and pair.
    assert ledger.n_vote_rows == N_VOLUNTEERS * VOTES
    assert len({v.token for v in result.volunteers}) == N_VOLUNTEERS
    for v in result.volunteers:
        assert len(ledger.votes[v.token]) == VOTES
        # The screen after the last vote came from the database: the next pair.
        assert v.screens[-1].pair == (VOTES + 1, pairs_per_volunteer()), v.screens[-1].text

    summary.update(
        counts,
        test_wall_s=round(time.perf_counter() - t0, 2),
        votes_per_volunteer=VOTES,
        database="sqlite",
        command=" ".join(server.command),
        cpu_count=os.cpu_count(),
    )
    (artifacts / "load.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\nload: {N_VOLUNTEERS} volunteers x {VOTES} votes in {summary['wall_s']} s; "
        f"click -> next pair p50 {summary['latency_p50_s']} s, "
        f"p95 {summary['latency_p95_s']} s, max {summary['latency_max_s']} s"
    )
