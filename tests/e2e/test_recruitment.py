"""A study hosted for a recruitment platform, in Chromium.

A Prolific-style link (`?study=...&PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...`) goes from
consent through every pair to the completion code and the redirect to the completion URL
(answered by a route of the browser context: nothing leaves the machine); the ids are in
the participant's record and never on a page; the same link in a new browser comes back to
its own finished session. The admin closes the study from the admin page: a returning
participant is told their answers are saved, a new one that the study is closed, and no
vote is lost; reopened, the returning participant continues at their next pair.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
from browser_helpers import consent, player, shot
from e2e_helpers import STUDY, expected_choice, read_ledger, video_digests

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 60_000
VIEWPORT = {"width": 1000, "height": 860}
DONE = "https://app.prolific.com/submissions/complete?cc=C7D2E1F0"


@pytest.fixture(scope="module")
def hosted(app_factory):
    from db.engine import make_engine, session_factory
    from study.design import configure_study

    url = app_factory.study("recruitment")
    engine = make_engine(url)
    with session_factory(engine)() as s:
        configure_study(
            s,
            STUDY,
            completion_url=DONE,
            completion_code="C7D2E1F0",
            demographics="age,gender",
            consent_text="You are invited to a **paid online study** of short face videos.",
        )
    engine.dispose()
    server = app_factory.serve("recruitment", url)
    yield server, url, video_digests(url)
    server.stop()


def _participant(url: str, token: str):
    from sqlalchemy import func, select

    from db.engine import make_engine, session_factory
    from db.models import Participant

    engine = make_engine(url)
    with session_factory(engine)() as s:
        p = s.scalar(select(Participant).where(Participant.token == token))
        n = s.scalar(select(func.count(Participant.id)))
        out = (p.platform, p.platform_pid, p.platform_study_id, p.platform_session_id, n)
    engine.dispose()
    return out


def _consent(page) -> str:
    page.get_by_text("paid online study").wait_for()
    assert page.get_by_label("Country (optional)").count() == 0  # not asked by this study
    return consent(page, age=29, gender="male")


def test_prolific_link_from_entry_to_completion_redirect(chromium, hosted, artifacts):
    server, url, digests = hosted
    pid = "5e8f0b3c9a1d2e4f6a7b8c9d"
    link = f"{server.url}/?study={STUDY}&PROLIFIC_PID={pid}&STUDY_ID=65aa01&SESSION_ID=sess42"
    context = chromium.new_context(viewport=VIEWPORT)
    landed: list[str] = []

    def platform(route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Prolific: complete</h1>")

    context.route("https://app.prolific.com/**", platform)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(link)
    token = _consent(page)
    assert _participant(url, token) == ("prolific", pid, "65aa01", "sess42", 1)
    slots = read_ledger(url, digests).slots[token]
    old: set[str] = set()
    for n, slot in enumerate(slots, 1):
        page.get_by_text(f"Pair {n} of {len(slots)}").wait_for()
        _, state = player(page, old)
        old |= {v["src"] for v in state["videos"]}
        assert pid not in page.content()
        side = slot.correct_side or ("left" if n % 2 else "right")
        page.get_by_role("button", name=f"The {side} video").click()
    page.get_by_text("C7D2E1F0").wait_for()
    shot(page, artifacts, "prolific-01-completion")
    assert page.get_by_role("link", name="Back to the recruitment platform").get_attribute(
        "href"
    ) == (DONE)
    page.get_by_role("heading", name="Prolific: complete").wait_for()
    assert landed == [DONE] and page.url == DONE
    stored = read_ledger(url, digests).votes[token]
    assert len(stored) == len(slots)

    # The same link in a new browser: its own finished session, not a second one.
    other = chromium.new_context(viewport=VIEWPORT)
    other.route("https://app.prolific.com/**", platform)
    again = other.new_page()
    again.set_default_timeout(WAIT_MS)
    again.goto(link)
    again.get_by_text("C7D2E1F0").wait_for()
    assert parse_qs(urlparse(again.url).query)["p"] == [token]
    assert _participant(url, token)[-1] == 1
    other.close()
    context.close()


def _admin_button(page, server, name: str) -> None:
    """Sign in on the admin page and press `name` in the Hosting tab."""
    page.goto(server.url + "/admin")
    page.get_by_label("Admin password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("tab", name="Hosting").click()
    page.get_by_role("button", name=name).click()
    state = "closed" if name.startswith("Close") else "open"
    page.get_by_text(re.compile(f"The study is {state}")).wait_for()


def test_close_and_reopen_from_the_admin_page(chromium, hosted, artifacts):
    server, url, digests = hosted
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{server.url}/?study={STUDY}")
    token = _consent(page)
    slots = read_ledger(url, digests).slots[token]
    for n in (1, 2):
        page.get_by_text(f"Pair {n} of {len(slots)}").wait_for()
        player(page, set())
        side = slots[n - 1].correct_side or "left"
        page.get_by_role("button", name=f"The {side} video").click()
    page.get_by_text(f"Pair 3 of {len(slots)}").wait_for()
    before = read_ledger(url, digests).votes[token]
    assert before == {
        s.pair_id: expected_choice(s.a_side, s.correct_side or "left") for s in slots[:2]
    }

    admin = context.new_page()
    admin.set_default_timeout(WAIT_MS)
    _admin_button(admin, server, "Close the study")
    shot(admin, artifacts, "admin-09-hosting-closed")

    # The open tab votes on its pair: refused and said so, nothing stored.
    page.get_by_role("button", name="The left video").click()
    page.get_by_text("Study paused").wait_for()
    page.get_by_text("2 answer(s) are saved").wait_for()
    shot(page, artifacts, "volunteer-paused")
    # A new visitor is told the study is closed and gets no consent form.
    visitor = context.new_page()
    visitor.goto(f"{server.url}/?study={STUDY}")
    visitor.get_by_text("This study is closed").wait_for()
    assert visitor.get_by_role("button", name="Start").count() == 0
    assert read_ledger(url, digests).votes[token] == before

    _admin_button(admin, server, "Reopen the study")
    page.reload()
    page.get_by_text(f"Pair 3 of {len(slots)}").wait_for()
    player(page, set())
    page.get_by_role("button", name="The right video").click()
    page.get_by_text(f"Pair 4 of {len(slots)}").wait_for()
    time.sleep(0.3)
    after = read_ledger(url, digests).votes[token]
    assert after == {**before, slots[2].pair_id: expected_choice(slots[2].a_side, "right")}
    context.close()
