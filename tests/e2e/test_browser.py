"""The app in a real browser: Debian's headless Chromium driven by Playwright.

A volunteer consents and judges every pair of a demo study (the paper's five methods and
four sets, real H.264 videos) while the videos really play: both reach `readyState >= 2`,
their `currentTime` advances and wraps (they loop), and the slow-motion choice sets the
playback rate. Every screen shows the two videos the database assigned at that position;
a double click stores one vote; a reload half-way resumes at the right pair; the stored
votes are the clicked sides. The admin is refused with a wrong password, rate-limited after
repeated failures, and, signed in, sees the votes in the results table, adds an expert who
then scores a video. No page, frame or request carries a method name, folder or file name.
Screenshots of every page go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlparse

import pytest
from browser_helpers import PLAYER_JS, frame_digests, player, player_frames, shot
from e2e_helpers import (
    DRIVING_FOLDER,
    STUDY,
    expected_choice,
    forbidden_words,
    names_in_database,
    read_ledger,
    video_digests,
    votes_per_set,
)
from st_client import Volunteer, embedded_videos, run_async

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 60_000
VIEWPORT = {"width": 1000, "height": 860}
_LONG_B64 = re.compile(r"[A-Za-z0-9+/=]{120,}")


@pytest.fixture(scope="module")
def served(app_factory):
    """The demo study on SQLite, served; the app may only register folders under the
    videos' root (FME_VIDEO_ROOT)."""
    url = app_factory.study("browser")
    root = next(iter(app_factory.video_dirs.values())).parent
    server = app_factory.serve("browser", url, env={"FME_VIDEO_ROOT": str(root)})
    yield server, url, video_digests(url)
    server.stop()


def page_html(page) -> str:
    """The page's DOM and every frame's DOM (the player pages included)."""
    parts = [page.content()]
    for frame in player_frames(page):
        try:
            parts.append(frame.content())
        except Exception:  # a frame replaced while we read it
            pass
    return "\n".join(parts)


TOKEN_PARAMS = ("p", "expert")


def assert_blind(html: str, requests: list[str], forbidden: list[str]) -> None:
    """No forbidden word in the HTML (outside the embedded videos), in the videos' bytes,
    or in any URL the browser requested; no video file was requested at all."""
    for payload in embedded_videos(html).values():
        # compressed video bytes match a 3-letter word by chance (~0.3 % per 50 kB);
        # a tag that names a method or file carries the longer names too
        for word in (w for w in forbidden if len(w) >= 6):
            assert word.encode() not in payload, f"{word!r} inside an embedded video"
    text = _LONG_B64.sub("", html)
    for word in forbidden:
        assert word not in text, f"{word!r} reaches the page"
    for url in requests:
        path = urlparse(url).path.lower()
        assert not path.endswith((".mp4", ".webm", ".mov", ".avi")), f"video URL {url}"
        assert not path.startswith("/media/"), f"Streamlit media URL {url}"
        # the participant/expert token is random URL-safe base64 ("...-eWPb..." happens)
        parsed = urlparse(url)
        query = "&".join(f"{k}={v}" for k, v in parse_qsl(parsed.query) if k not in TOKEN_PARAMS)
        visible = f"{parsed.netloc}{parsed.path}?{query}#{parsed.fragment}".lower()
        for word in forbidden:
            assert word.lower() not in visible, f"{word!r} in the URL {url}"


def watch(frame, seconds: float, step: float = 0.08) -> list[dict]:
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(frame.evaluate(PLAYER_JS))
        time.sleep(step)
    return samples


def assert_plays(samples: list[dict], wraps: bool) -> None:
    """Both videos have data (readyState >= 2), their clocks advance and, when `wraps`, loop."""
    for role in ("left", "right"):
        states = [next(v for v in s["videos"] if v["role"] == role) for s in samples]
        ready = [v["readyState"] for v in states]
        # HAVE_CURRENT_DATA or better; a loop or a sync seek may drop it to 1 for a moment.
        assert ready[0] >= 2 and sum(r >= 2 for r in ready) >= 0.75 * len(ready), (role, ready)
        times = [v["t"] for v in states]
        assert any(b > a + 0.01 for a, b in zip(times, times[1:])), f"{role} stuck: {times}"
        if wraps:
            duration = states[0]["duration"]
            assert any(b < a - duration / 3 for a, b in zip(times, times[1:])), (
                f"{role} never wrapped (duration {duration}): {times}"
            )


def test_volunteer_completes_the_study_while_videos_play(chromium, served, artifacts):
    server, url, digests = served
    _complete_study(chromium, server, url, digests, artifacts, "volunteer")


def test_volunteer_completes_the_fme_demo_study(chromium, apps, artifacts, tmp_path):
    """The same walk through the study `fme demo --out DIR --no-serve` built (a copy of
    DIR/fme.db), when FME_E2E_DEMO_DIR names that folder."""
    demo = os.environ.get("FME_E2E_DEMO_DIR")
    if not demo:
        pytest.skip("set FME_E2E_DEMO_DIR to a folder made by `fme demo --out DIR --no-serve`")
    db = Path(demo) / "fme.db"
    if not db.exists():
        pytest.skip(f"{db} does not exist: run `fme demo --out {demo} --no-serve` first")
    shutil.copy(db, tmp_path / "fme.db")
    url = f"sqlite:///{tmp_path / 'fme.db'}"
    server = apps.serve("demo", url)
    _complete_study(chromium, server, url, video_digests(url), artifacts, "demo-volunteer")


def _complete_study(chromium, server, url, digests, artifacts, prefix: str) -> None:
    forbidden = sorted(set(forbidden_words() + names_in_database(url)))
    context = chromium.new_context(viewport=VIEWPORT)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    html: list[str] = []

    page.goto(server.url)
    page.get_by_role("heading", name="Which video looks more natural?").wait_for()
    # Free-text inputs are length-limited in the browser itself (Streamlit enforces it in
    # its script: typing stops at the limit, a longer paste is refused).
    country = page.get_by_label("Country (optional)")
    country.press_sequentially("y" * 70)
    assert len(country.input_value()) == 64
    comment = page.get_by_label("Anything we should know? (optional)")
    comment.fill("z" * 600)
    assert len(comment.input_value()) <= 500
    shot(page, artifacts, f"{prefix}-01-consent")
    html.append(page_html(page))
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Please tick the consent box").wait_for()
    page.get_by_text("I am 18 or older and I agree to take part").click()
    page.get_by_label("Age").fill("34")
    page.get_by_text("prefer not to say", exact=True).click()
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"Pair 1 of \d+")).wait_for()
    token = parse_qs(urlparse(page.url).query)["p"][0]
    slots = read_ledger(url, digests).slots[token]
    total = len(slots)
    assert _participant(url, token) == (34, "prefer not to say", "y" * 64)

    rng = random.Random(3)
    sides: list[str] = []
    old_srcs: set[str] = set()
    for position, slot in enumerate(slots):
        n = position + 1
        page.get_by_text(f"Pair {n} of {total}").wait_for()
        frame, state = player(page, old_srcs)
        old_srcs |= {v["src"] for v in state["videos"]}
        want = {"left": slot.left, "right": slot.right}
        assert frame_digests(frame) == want, f"pair {n} shows other videos"
        assert_plays(watch(frame, 1.8 if position == 0 else 0.5), wraps=position == 0)
        shot(page, artifacts, f"{prefix}-{n + 1:02d}-pair-{n}")
        html.append(page_html(page))
        if position == 1:  # slow motion: the same pair again, at half speed
            page.get_by_text("Slow (1/2)").click()
            frame, state = player(page, old_srcs)
            old_srcs |= {v["src"] for v in state["videos"]}
            assert [v["rate"] for v in state["videos"]] == [0.5, 0.5]
            assert frame_digests(frame) == want
            assert_plays(watch(frame, 0.5), wraps=False)
            page.get_by_text("Normal speed").click()
            frame, state = player(page, old_srcs)
            old_srcs |= {v["src"] for v in state["videos"]}
            assert [v["rate"] for v in state["videos"]] == [1.0, 1.0]
        if position == total // 2:  # reload half-way: the same pair comes back
            page.reload()
            page.get_by_text(f"Pair {n} of {total}").wait_for()
            frame, state = player(page, old_srcs)
            old_srcs |= {v["src"] for v in state["videos"]}
            assert frame_digests(frame) == want, "the reload did not resume at the right pair"
            shot(page, artifacts, f"{prefix}-{n + 1:02d}-pair-{n}-after-reload")
        side = slot.correct_side or rng.choice(["left", "right"])
        sides.append(side)
        button = page.get_by_role("button", name=f"The {side} video")
        if position == 2:  # a real double click stores one vote and moves one pair on
            button.dblclick()
            page.get_by_text(f"Pair {n + 1} of {total}").wait_for()
            time.sleep(1.5)
            assert page.get_by_text(f"Pair {n + 1} of {total}").count() == 1
            assert len(read_ledger(url, digests).votes[token]) == n
        else:
            button.click()

    page.get_by_role("heading", name="Thank you!").wait_for()
    shot(page, artifacts, f"{prefix}-{total + 2:02d}-thank-you")
    html.append(page_html(page))
    stored = read_ledger(url, digests).votes[token]
    assert stored == {s.pair_id: expected_choice(s.a_side, side) for s, side in zip(slots, sides)}

    # A return visit with the same link (a new browser) goes to the thank-you page.
    other = chromium.new_context(viewport=VIEWPORT)
    again = other.new_page()
    again.goto(page.url)
    again.get_by_role("heading", name="Thank you!").wait_for(timeout=WAIT_MS)
    other.close()

    for doc in html:
        assert_blind(doc, requests, forbidden)
    context.close()


def _participant(url: str, token: str) -> tuple:
    from sqlalchemy import select

    from db.engine import make_engine, session_factory
    from db.models import Participant

    engine = make_engine(url)
    with session_factory(engine)() as s:
        p = s.scalar(select(Participant).where(Participant.token == token))
        out = (p.age, p.gender, p.country)
    engine.dispose()
    return out


async def _vote_everything(base_url: str, n: int) -> None:
    for i in range(n):
        v = Volunteer(base_url, name=f"protocol-{i}")
        screen = await v.consent(await v.open())
        while screen.pair is not None:
            screen = await v.vote(screen, "left" if i % 2 else "right")
        await v.close()


def results_table(page) -> dict[str, tuple[int, int]]:
    """The "votes per comparison set" table as the browser shows it."""
    table = page.locator("table").filter(has_text="votes_a").first
    header = [c.inner_text().strip() for c in table.locator("[role=columnheader]").all()]
    out = {}
    for row in table.locator("tbody [role=row]").all():
        cells = dict(zip(header, [c.inner_text().strip() for c in row.locator("td").all()]))
        out[cells["set_name"]] = (int(cells["votes_a"]), int(cells["votes_b"]))
    return out


def sign_in(page, password: str) -> None:
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_admin_sees_the_votes_and_wrong_passwords_are_refused(
    chromium, served, artifacts, tmp_path
):
    server, url, digests = served
    # Two more volunteers over the protocol (in a thread: Playwright owns this one's loop),
    # so that the table holds votes whichever tests ran before.
    run_async(_vote_everything(server.url, 2))
    expected = votes_per_set(url)
    assert sum(a + b for a, b in expected.values()) >= 16

    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.url + "/admin")
    page.get_by_label("Admin password").wait_for()
    page.get_by_label("Admin password").fill("p" * 300)
    assert len(page.get_by_label("Admin password").input_value()) <= 200
    shot(page, artifacts, "admin-01-sign-in")

    sign_in(page, "not the password")
    page.get_by_text("Wrong password.").wait_for()
    assert page.get_by_role("tab", name="Results").count() == 0
    shot(page, artifacts, "admin-02-wrong-password")

    sign_in(page, server.password)
    page.get_by_role("tab", name="Progress").wait_for()
    page.get_by_text(re.compile(r"\d+ votes of \d+ assigned")).wait_for()
    shot(page, artifacts, "admin-03-progress")

    page.get_by_role("tab", name="Results").click()
    page.get_by_text("Votes per comparison set").wait_for()
    page.locator("table").filter(has_text="votes_a").first.wait_for(state="attached")
    assert results_table(page) == expected
    page.get_by_text("Computing the report...").wait_for(state="hidden")
    time.sleep(1.0)  # let the figures draw before the screenshot
    shot(page, artifacts, "admin-04-results")

    page.get_by_role("tab", name="Export").click()
    n_votes = sum(a + b for a, b in expected.values())
    page.get_by_role("button", name=re.compile(r"Votes CSV \(\d+ rows\)")).wait_for()
    shown = page.get_by_role("button", name=re.compile(r"Votes CSV")).inner_text()
    assert int(re.search(r"\((\d+) rows\)", shown).group(1)) >= n_votes  # catch votes too
    shot(page, artifacts, "admin-05-export")

    # A folder outside FME_VIDEO_ROOT cannot be registered.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    page.get_by_role("tab", name="Create study").click()
    page.get_by_label("Study name").fill("outside-study")
    page.get_by_label("Methods, one per line: LABEL=FOLDER").fill(f"X={outside}\nY={outside}")
    page.get_by_label("Comparison sets, one per line: A:B").fill("X:Y")
    page.get_by_role("button", name="Create study").click()
    page.get_by_text("outside the allowed root").wait_for()
    shot(page, artifacts, "admin-06-create-refused")

    page.get_by_role("tab", name="Experts").click()
    page.get_by_label("Expert name or code").fill("expert-1")
    page.get_by_role("button", name="Add expert").click()
    page.get_by_text("/expert?expert=").wait_for()
    link = page.get_by_text("/expert?expert=").inner_text().strip()
    shot(page, artifacts, "admin-07-experts")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Admin password").wait_for()
    for _ in range(5):
        sign_in(page, "guess")
        page.get_by_text("Wrong password.").wait_for()
    sign_in(page, server.password)  # the right one, but too many failures just before
    page.get_by_text("Too many failed tries").wait_for()
    assert page.get_by_role("tab", name="Results").count() == 0
    shot(page, artifacts, "admin-08-rate-limited")
    context.close()

    _expert_scores_one_video(chromium, server, url, digests, link, artifacts)

    names = {s for s in expected}
    assert names == {f"{a} vs {b}" for a, b in _sets()}
    from sqlalchemy import select

    from db.engine import make_engine, session_factory
    from db.models import Study

    engine = make_engine(url)
    with session_factory(engine)() as s:
        assert list(s.scalars(select(Study.name))) == [STUDY]
    engine.dispose()


def _sets():
    from e2e_helpers import SETS

    return SETS


def _expert_scores_one_video(chromium, server, url, digests, link, artifacts) -> None:
    from sqlalchemy import select

    from db.engine import make_engine, session_factory
    from db.models import ExpertRating, Video

    context = chromium.new_context(viewport=VIEWPORT)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.url + link)
    page.get_by_text(re.compile(r"0 of \d+ videos scored")).wait_for()
    frame, _ = player(page, set())
    assert_plays(watch(frame, 0.5), wraps=False)
    shown = frame_digests(frame)
    shot(page, artifacts, "expert-01-scoring")
    html = page_html(page)

    by_digest = {d: i for i, d in digests.items()}
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as s:
        generated = s.get(Video, by_digest[shown["right"]])
        driving = s.get(Video, by_digest[shown["left"]])
        assert generated.kind == "method" and driving.kind == "driving"
        assert driving.sample == generated.driving  # the generated video's own driving clip

    scores = {"Upper face": "2", "Lower face": "1", "Noise (3 = clean)": "3"}
    for label, value in scores.items():
        group = page.get_by_role("radiogroup", name=label)
        group.get_by_text(value, exact=True).click()
    page.get_by_role("button", name="Save and next").click()
    page.get_by_text(re.compile(r"1 of \d+ videos scored")).wait_for()
    shot(page, artifacts, "expert-02-next-video")
    with factory() as s:
        rating = s.scalar(select(ExpertRating).where(ExpertRating.video_id == generated.id))
        assert (rating.upper, rating.lower, rating.noise) == (2, 1, 3)
    engine.dispose()
    assert_blind(html, requests, forbidden_words() + [DRIVING_FOLDER])
    context.close()
