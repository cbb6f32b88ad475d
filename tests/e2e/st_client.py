"""A headless volunteer that speaks Streamlit's own websocket protocol (no browser).

It connects to `/_stcore/stream` like the browser does, asks for script runs (`BackMsg
rerun_script` with the URL's query string and the widget values), and collects what each
run renders (`ForwardMsg` deltas) into a `Screen`: the texts, the buttons, the progress
text and the embedded player page. `Volunteer` walks the app's volunteer flow with it:
consent, one vote per screen, and remembers each vote the app acknowledged (the next
screen came back).

Load and fault tests run many of these at once in one asyncio loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

PAIR_TEXT = re.compile(r"Pair (\d+) of (\d+)")
_B64 = re.compile(r'(left|right): "([A-Za-z0-9+/=]+)"')
FINISHED = 0  # ForwardMsg.FINISHED_SUCCESSFULLY


def embedded_videos(html: str) -> dict[str, bytes]:
    """The video bytes a player page embeds (`left: "<base64>"`), by side."""
    return {side: base64.b64decode(payload) for side, payload in _B64.findall(html)}


def run_async(coro):
    """Run a coroutine to completion in its own thread and event loop (Playwright's sync API
    keeps a loop running in the main thread, where `asyncio.run` would refuse)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="volunteers") as pool:
        return pool.submit(asyncio.run, coro).result()


class AppGone(ConnectionError):
    """The app closed the connection or stopped answering."""


@dataclass
class Screen:
    """What one script run rendered."""

    texts: list[str] = field(default_factory=list)
    buttons: dict[str, str] = field(default_factory=dict)  # label -> widget id
    widgets: dict[str, tuple[str, object]] = field(default_factory=dict)  # label -> (kind, proto)
    progress: str | None = None
    iframes: list[str] = field(default_factory=list)  # srcdoc of each embedded page
    exceptions: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def pair(self) -> tuple[int, int] | None:
        """(n, total) from the progress text "Pair n of total", or None."""
        m = PAIR_TEXT.search(self.progress or "")
        return (int(m.group(1)), int(m.group(2))) if m else None

    def videos(self) -> dict[str, bytes]:
        """The video bytes embedded in the player page, by side ("left"/"right")."""
        out: dict[str, bytes] = {}
        for doc in self.iframes:
            out.update(embedded_videos(doc))
        return out

    def video_digests(self) -> dict[str, str]:
        return {side: hashlib.sha256(b).hexdigest() for side, b in self.videos().items()}


def _collect(screen: Screen, msg: ForwardMsg) -> None:
    delta = msg.delta
    if delta.WhichOneof("type") != "new_element":
        return
    el = delta.new_element
    kind = el.WhichOneof("type")
    if kind is None:
        return
    proto = getattr(el, kind)
    if kind in ("markdown", "heading", "text", "caption", "code"):
        screen.texts.append(proto.body)
    elif kind == "alert":
        screen.texts.append(proto.body)
    elif kind == "exception":
        screen.exceptions.append(f"{proto.type}: {proto.message}")
        screen.texts.append(proto.message)
    elif kind == "progress":
        screen.progress = proto.text
        screen.texts.append(proto.text)
    elif kind == "iframe":
        screen.iframes.append(proto.srcdoc)
    elif kind == "button":
        screen.buttons[proto.label] = proto.id
    if hasattr(proto, "id") and hasattr(proto, "label") and proto.id:
        screen.widgets[proto.label] = (kind, proto)


class StreamlitSession:
    """One browser tab's worth of protocol: a websocket and the URL's query string."""

    def __init__(self, base_url: str, query: dict[str, str] | None = None, timeout: float = 60):
        self.ws_url = base_url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.query: dict[str, str] = dict(query or {})
        self.timeout = timeout
        self._ws = None

    async def connect(self) -> None:
        try:
            self._ws = await websockets.connect(
                self.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=self.timeout
            )
        except (OSError, websockets.WebSocketException, TimeoutError) as err:
            raise AppGone(f"cannot connect to {self.ws_url}: {err}") from err

    async def close(self) -> None:
        if self._ws is not None:
            try:
                await self._ws.close()
            except Exception:  # the app may already be gone
                pass
            self._ws = None

    async def rerun(self, widgets: list[WidgetState] | None = None, times: int = 1) -> Screen:
        """Ask for a script run and return what the last completed run rendered.

        A run that ends in `st.rerun()` is followed by the next one; the query string the app
        sets (`st.query_params`) is kept for later runs, as the browser keeps it in the URL.
        `times` > 1 sends the same request again at once (a double click).
        """
        if self._ws is None:
            await self.connect()
        msg = BackMsg()
        msg.rerun_script.query_string = urlencode(self.query)
        msg.rerun_script.page_script_hash = ""
        for w in widgets or []:
            msg.rerun_script.widget_states.widgets.append(w)
        try:
            for _ in range(times):
                await self._ws.send(msg.SerializeToString())
            return await asyncio.wait_for(self._read_until_finished(), self.timeout)
        except (websockets.WebSocketException, OSError, TimeoutError) as err:
            raise AppGone(f"the app stopped answering: {err!r}") from err

    async def _read_until_finished(self) -> Screen:
        screen = Screen()
        while True:
            data = await self._ws.recv()
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            kind = fwd.WhichOneof("type")
            if kind == "delta":
                _collect(screen, fwd)
            elif kind == "page_info_changed":
                self.query = dict(parse_qsl(fwd.page_info_changed.query_string))
            elif kind == "script_finished":
                if fwd.script_finished == FINISHED:
                    return screen
                screen = Screen()  # a rerun follows: keep only the last run's elements

    async def click(self, label: str, screen: Screen, times: int = 1) -> Screen:
        """Click the button labelled `label` on `screen` (`times` clicks in a row)."""
        if label not in screen.buttons:
            raise KeyError(f"no button {label!r} on the screen (buttons: {list(screen.buttons)})")
        state = WidgetState(id=screen.buttons[label], trigger_value=True)
        return await self.rerun([state], times=times)


def consent_widgets(screen: Screen, age: int = 30, gender: str = "female") -> list[WidgetState]:
    """The consent form filled in (box ticked, age, gender) and submitted."""
    states = []
    for label, (kind, proto) in screen.widgets.items():
        if kind == "checkbox":
            states.append(WidgetState(id=proto.id, bool_value=True))
        elif kind == "number_input" and label == "Age":
            states.append(WidgetState(id=proto.id, double_value=float(age)))
        elif kind in ("selectbox", "radio") and label == "Gender":
            states.append(WidgetState(id=proto.id, string_value=gender))
        elif kind == "button" and proto.is_form_submitter:
            states.append(WidgetState(id=proto.id, trigger_value=True))
    return states


@dataclass
class Ack:
    """A vote the app acknowledged: on screen `position` (0-based) the volunteer clicked `side`
    while seeing `videos` (side -> sha256 of the bytes), and the next screen came back."""

    position: int
    side: str
    videos: dict[str, str]
    latency_s: float


@dataclass
class Volunteer:
    """A volunteer walking the flow over the protocol; `acks` are the votes the app answered."""

    base_url: str
    name: str = "v"
    token: str | None = None
    acks: list[Ack] = field(default_factory=list)
    screens: list[Screen] = field(default_factory=list)
    session: StreamlitSession | None = None
    clicked: list[tuple[int, str]] = field(default_factory=list)  # (position, side) sent

    async def open(self) -> Screen:
        """Open the link (with the token when the volunteer has one) and return the screen."""
        if self.session is not None:
            await self.session.close()
        query = {"p": self.token} if self.token else {}
        self.session = StreamlitSession(self.base_url, query)
        screen = await self.session.rerun()
        self.screens.append(screen)
        return screen

    async def consent(self, screen: Screen) -> Screen:
        if "Start" not in screen.buttons:
            raise AssertionError(f"{self.name}: no consent form: {screen.text[:300]}")
        nxt = await self.session.rerun(consent_widgets(screen))
        self.token = self.session.query.get("p")
        if not self.token:
            raise AssertionError(f"{self.name}: consent gave no token: {nxt.text[-600:]}")
        self.screens.append(nxt)
        return nxt

    async def vote(self, screen: Screen, side: str) -> Screen:
        """Click "The <side> video" and wait for the next screen (the acknowledgement)."""
        pair = screen.pair
        if pair is None:
            raise AssertionError(f"{self.name}: not a voting screen: {screen.text[:300]}")
        position = pair[0] - 1
        videos = screen.video_digests()
        self.clicked.append((position, side))
        t0 = time.perf_counter()
        nxt = await self.session.click(f"The {side} video", screen)
        latency = time.perf_counter() - t0
        self.acks.append(Ack(position, side, videos, latency))
        self.screens.append(nxt)
        return nxt

    async def double_vote(self, screen: Screen, side: str) -> Screen:
        """Click twice without waiting, then reload the page (a new session with the token).

        The acknowledgement is the reloaded screen; its latency is not timed (-1).
        """
        position = screen.pair[0] - 1
        videos = screen.video_digests()
        self.clicked.append((position, side))
        await self.session.click(f"The {side} video", screen, times=2)
        nxt = await self.open()
        self.acks.append(Ack(position, side, videos, -1.0))
        return nxt

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
