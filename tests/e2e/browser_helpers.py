"""What the Chromium tests share: finding the player frame, its videos' state and bytes,
and screenshots."""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import parse_qs, urlparse

from st_client import embedded_videos

PLAYER_JS = """() => ({
  ready: document.body ? document.body.dataset.ready : null,
  videos: [...document.querySelectorAll('video')].map(v => ({
    role: v.dataset.role, readyState: v.readyState, t: v.currentTime, duration: v.duration,
    paused: v.paused, rate: v.playbackRate, src: v.currentSrc || v.src}))
})"""


def shot(page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / "screenshots" / f"{name}.png"), full_page=True)


def player_frames(page) -> list:
    """The frames of the page's <iframe> elements (looked up through the elements: the frame
    list alone can miss a srcdoc frame that was just replaced)."""
    frames = []
    for handle in page.query_selector_all("iframe"):
        try:
            frame = handle.content_frame()
        except Exception:
            frame = None
        if frame is not None:
            frames.append(frame)
    return frames


def player(page, old_srcs: set[str], timeout: float = 60.0):
    """The player frame once both of its (new) videos can play: (frame, state)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        seen = []
        for frame in player_frames(page):
            try:
                state = frame.evaluate(PLAYER_JS)
            except Exception as err:
                seen.append(repr(err)[:200])
                continue
            seen.append(state)
            srcs = {v["src"] for v in state["videos"]}
            if state["ready"] == "1" and len(state["videos"]) == 2 and not srcs & old_srcs:
                return frame, state
        time.sleep(0.05)
    info = (page.frames, page.main_frame, page.locator("iframe").count())
    raise AssertionError(f"the player never became ready: {seen} {info}")


def frame_digests(frame) -> dict[str, str]:
    return {s: hashlib.sha256(b).hexdigest() for s, b in embedded_videos(frame.content()).items()}


def consent(page, age: int = 41, gender: str = "female") -> str:
    """Tick, fill and submit the consent form; the participant token from the URL."""
    page.get_by_role("heading", name="Which video looks more natural?").wait_for()
    page.get_by_text("I am 18 or older and I agree to take part").click()
    page.get_by_label("Age").fill(str(age))
    page.get_by_text(gender, exact=True).click()
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"Pair 1 of \d+")).wait_for()
    return parse_qs(urlparse(page.url).query)["p"][0]
