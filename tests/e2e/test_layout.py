"""The voting page in Chromium at a phone's size (390x844) and at a desktop's.

Both videos and both buttons are inside the viewport's width (the page never scrolls
sideways), each button sits under its own video (its centre within the video's horizontal
extent, its top below the video's bottom), the progress reads "Pair n of N", and the
left/right arrow keys vote like the buttons: a key press stores that side's vote, a press
inside the player frame reaches the page, and two presses in one instant (a held key)
store one vote and move one pair on. Screenshots go to artifacts/screenshots/ (the
docs' voting-page*.png are copies of them).
"""

from __future__ import annotations

import time

import pytest
from browser_helpers import consent, player, shot
from e2e_helpers import expected_choice, read_ledger, video_digests

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 60_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1000, "height": 860}

BOXES_JS = """() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const frame = [...document.querySelectorAll('iframe')].find(
    f => f.contentDocument && f.contentDocument.querySelector('video'));
  const off = box(frame);
  const videos = {};
  for (const v of frame.contentDocument.querySelectorAll('video')) {
    const b = box(v); videos[v.dataset.role] = {x: b.x + off.x, y: b.y + off.y, w: b.w, h: b.h};
  }
  const buttons = {};
  for (const b of document.querySelectorAll('button')) {
    const m = b.innerText.match(/The (left|right) video/);
    if (m) buttons[m[1]] = box(b);
  }
  const root = document.scrollingElement || document.documentElement;
  const main = document.querySelector('section.stMain, [data-testid=stMain]') || root;
  return {videos, buttons, scrollWidth: Math.max(root.scrollWidth, main.scrollWidth),
          innerWidth: window.innerWidth};
}"""


def assert_fits(boxes: dict, viewport: dict) -> None:
    assert boxes["scrollWidth"] <= viewport["width"], f"scrolls sideways: {boxes}"
    for kind in ("videos", "buttons"):
        assert set(boxes[kind]) == {"left", "right"}, boxes
        for side, b in boxes[kind].items():
            assert b["w"] > 40 and b["h"] > 20, (kind, side, b)
            assert b["x"] >= 0 and b["x"] + b["w"] <= viewport["width"], (kind, side, b)
    for side in ("left", "right"):
        v, b = boxes["videos"][side], boxes["buttons"][side]
        centre = b["x"] + b["w"] / 2
        assert v["x"] <= centre <= v["x"] + v["w"], f"{side} button not under its video"
        assert b["y"] >= v["y"] + v["h"] - 1, f"{side} button above its video's bottom"
    assert boxes["videos"]["left"]["x"] < boxes["videos"]["right"]["x"]


def settled(page, viewport: dict, timeout: float = 15.0) -> None:
    """`assert_fits` once the layout has settled (the player frame takes its content's
    height a moment after the videos load; on a busy machine that moment is longer)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert_fits(page.evaluate(BOXES_JS), viewport)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def layout_app(app_factory):
    url = app_factory.study("layout")
    server = app_factory.serve("layout", url)
    yield server, url, video_digests(url)
    server.stop()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_both_videos_and_buttons_fit_and_arrows_vote(chromium, layout_app, artifacts, viewport):
    server, url, digests = layout_app
    phone = viewport is PHONE
    context = chromium.new_context(
        viewport=viewport, device_scale_factor=2 if phone else 1, has_touch=phone
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.url)
    token = consent(page)
    slots = read_ledger(url, digests).slots[token]
    total = len(slots)
    _, state = player(page, set())
    old = {v["src"] for v in state["videos"]}
    settled(page, viewport)
    name = "voting-page-phone" if phone else "voting-page"
    shot(page, artifacts, name)

    def stored() -> dict[int, str]:
        return read_ledger(url, digests).votes.get(token, {})

    # The right arrow votes for the right video.
    page.keyboard.press("ArrowRight")
    page.get_by_text(f"Pair 2 of {total}").wait_for()
    assert stored() == {slots[0].pair_id: expected_choice(slots[0].a_side, "right")}

    # A press while the player frame has the focus reaches the page's shortcut.
    frame, state = player(page, old)
    old |= {v["src"] for v in state["videos"]}
    frame.locator('video[data-role="left"]').click()
    frame.locator("body").press("ArrowLeft")
    page.get_by_text(f"Pair 3 of {total}").wait_for()
    assert stored()[slots[1].pair_id] == expected_choice(slots[1].a_side, "left")

    # Two key presses in one instant (a held key): one vote, one pair on.
    player(page, old)
    page.evaluate(
        """() => { for (let i = 0; i < 2; i++) document.dispatchEvent(
             new KeyboardEvent('keydown', {key: 'ArrowLeft', code: 'ArrowLeft', bubbles: true}));
        }"""
    )
    page.get_by_text(f"Pair 4 of {total}").wait_for()
    time.sleep(1.5)
    assert page.get_by_text(f"Pair 4 of {total}").count() == 1
    votes = stored()
    assert len(votes) == 3 and votes[slots[2].pair_id] == expected_choice(slots[2].a_side, "left")
    context.close()
