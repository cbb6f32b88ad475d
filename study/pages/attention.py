"""Timing and attention on a voting screen: the gate that holds the vote buttons until the
participant has watched, a time-limit countdown, and the page's blur/focus events.

It is a JavaScript-only Streamlit component (`st.components.v2`) mounted inside the pair's
form, so its state travels with the vote (a form sends its widgets' values only when one
of its submit buttons, the vote buttons, is pressed) and never causes a rerun by itself.

- Gate: the buttons stay disabled until `wait_ms` has passed since the pair appeared and,
  with `loops`, until both videos of the player frame have wrapped around once. The server
  holds the same rule (`required_ms`), so a key press or a scripted click that comes too
  early is refused there too.
- Time limit: a countdown to `limit_ms`; a later vote is stored and flagged `over_time`.
- Events: like jsPsych's interaction data, every time the page loses the focus (`blur`: the
  participant switched tab or window) or gets it back (`focus`), with the milliseconds since
  the pair appeared. Focus moving into the player frame is not leaving the page and is not
  counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

JS = """
export default function (component) {
  const { setStateValue, data, parentElement } = component;
  const t0 = performance.now();
  const since = () => Math.round(performance.now() - t0);
  const events = [];
  let away = false;
  const note = (type) => { events.push({event: type, time: since()});
    setStateValue("events", events.slice()); };
  const onBlur = () => setTimeout(() => {
    const inside = document.activeElement && document.activeElement.tagName === "IFRAME";
    if (!inside && !away) { away = true; note("blur"); }
  }, 0);
  const onFocus = () => { if (away) { away = false; note("focus"); } };
  window.addEventListener("blur", onBlur);
  window.addEventListener("focus", onFocus);

  const status = document.createElement("div");
  status.setAttribute("data-role", "gate");
  status.style.cssText = "font-size: 14px; color: #555; min-height: 1.2em; text-align: center;";
  parentElement.appendChild(status);
  const wrapped = {left: !data.loops, right: !data.loops};
  const last = {};
  const buttons = () => [...document.querySelectorAll("button")].filter(
    (b) => /^The (left|right) video/.test(b.innerText));
  const tick = () => {
    if (data.loops) {
      for (const f of document.querySelectorAll("iframe")) {
        const doc = f.contentDocument;
        if (!doc) continue;
        for (const v of doc.querySelectorAll("video[data-role]")) {
          const role = v.dataset.role;
          if (last[role] !== undefined && v.currentTime < last[role] - 0.05) wrapped[role] = true;
          last[role] = v.currentTime;
        }
      }
    }
    const open = since() >= data.wait_ms && wrapped.left && wrapped.right;
    for (const b of buttons()) b.disabled = !open;
    document.body.dataset.voteOpen = open ? "1" : "0";
    let text = "";
    if (!open) {
      const left = Math.max(0, Math.ceil((data.wait_ms - since()) / 1000));
      text = left > 0 ? "Please watch both videos: you can choose in " + left + " s."
                      : "Please watch both videos to the end.";
    } else if (data.limit_ms > 0) {
      const left = Math.ceil((data.limit_ms - since()) / 1000);
      text = left > 0 ? "Time left for this pair: " + left + " s."
                      : "Time is up for this pair: please choose now.";
    }
    status.textContent = text;
  };
  tick();
  const timer = setInterval(tick, 100);
  return () => {
    clearInterval(timer);
    window.removeEventListener("blur", onBlur);
    window.removeEventListener("focus", onFocus);
    for (const b of buttons()) b.disabled = false;
  };
}
"""


@dataclass(frozen=True)
class Gate:
    """When the vote buttons of a pair open, and its time limit, in milliseconds."""

    wait_ms: int  # after the pair appears (the longer of min_view_s and one loop)
    loops: bool  # also wait in the browser until both videos have wrapped once
    limit_ms: int  # 0: no limit


def gate_for(study, durations_s: tuple[float, float], rate: float) -> Gate:
    """The study's rule for a pair whose videos last `durations_s` at playback `rate`."""
    loop_ms = max(durations_s) / max(rate, 1e-6) * 1000 if study.min_view_loop else 0.0
    wait = max(float(study.min_view_s or 0) * 1000, loop_ms)
    limit = float(study.pair_time_limit_s or 0) * 1000
    return Gate(int(round(wait)), bool(study.min_view_loop), int(round(limit)))


@dataclass(frozen=True)
class Attention:
    """What the browser reported for a pair: its blur count and the events as JSON."""

    blur_count: int | None
    focus_events: str | None


def read_attention(state) -> Attention:
    """The component's state (as Streamlit keeps it) -> blur count and events JSON."""
    events = None
    if state is not None:
        events = state.get("events") if hasattr(state, "get") else getattr(state, "events", None)
    if not isinstance(events, list):
        return Attention(None, None)
    clean = [
        {"event": e["event"], "time": int(e["time"])}
        for e in events[:500]
        if isinstance(e, dict) and e.get("event") in ("blur", "focus") and "time" in e
    ]
    return Attention(sum(e["event"] == "blur" for e in clean), json.dumps(clean))


_RENDERER = None


def attention_tracker(key: str, gate: Gate):
    """Mount the tracker (inside the pair's form) and return its current state."""
    global _RENDERER
    if _RENDERER is None:
        from streamlit.components.v2 import component

        _RENDERER = component("fme_attention", js=JS)
    return _RENDERER(
        key=key,
        data={"wait_ms": gate.wait_ms, "loops": gate.loops, "limit_ms": gate.limit_ms},
        on_events_change=lambda: None,
    )
