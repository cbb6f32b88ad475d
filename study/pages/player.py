"""Two videos side by side, in sync, looping, at a chosen playback rate (an HTML component).

The video bytes travel inside the component as base64 and become blob: URLs in the
browser, so no media URL, path or file name reaches the page. The right video follows the
left one's clock (drift above 40 ms is corrected), both loop, and both play at `rate`.
Each <video> carries `data-role` ("left"/"right") and the page sets `data-ready="1"` on
the body once both can play (browser tests wait for it).

The layout is fluid: the two videos share the width in two equal halves separated by
`GAP_PX` (the gap of Streamlit's `st.columns(gap="small")`), each up to its display size,
so that a column of buttons below puts each button under its video, on a phone as on a
desktop. Left/right arrow keys pressed while the player has the focus are passed on to the
page, where the vote buttons' shortcuts listen.
"""

from __future__ import annotations

import base64
import html

GAP_PX = 16

_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body {{ margin: 0; font-family: sans-serif; }}
.row {{ display: flex; gap: {gap}px; justify-content: center; }}
.cell {{ flex: 1 1 0; min-width: 0; text-align: center; }}
.cap {{ font-size: 15px; color: #444; margin: 2px 0 4px; }}
video {{ display: block; width: 100%; max-width: {width}px; height: auto; margin: 0 auto;
  aspect-ratio: {width} / {height};
  background: #000; }}
</style></head><body data-ready="0">
<div class="row">
  <div class="cell"><div class="cap">{left_caption}</div>
    <video data-role="left" muted playsinline loop preload="auto"></video></div>
  <div class="cell"><div class="cap">{right_caption}</div>
    <video data-role="right" muted playsinline loop preload="auto"></video></div>
</div>
<script>
(function() {{
  const data = {{left: "{left}", right: "{right}"}};
  const rate = {rate};
  function blobUrl(b64) {{
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return URL.createObjectURL(new Blob([bytes], {{type: "video/mp4"}}));
  }}
  const left = document.querySelector('video[data-role="left"]');
  const right = document.querySelector('video[data-role="right"]');
  let ready = 0;
  for (const [v, key] of [[left, "left"], [right, "right"]]) {{
    v.addEventListener("canplay", () => {{
      v.playbackRate = rate;
      if (++ready === 2) {{
        left.currentTime = 0; right.currentTime = 0;
        left.play(); right.play();
        document.body.dataset.ready = "1";
      }}
    }}, {{once: true}});
    v.src = blobUrl(data[key]);
    v.playbackRate = rate;
  }}
  // Left/right arrows pressed while the player has the focus reach the page's shortcuts.
  document.addEventListener("keydown", (e) => {{
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const top = window.parent && window.parent.document;
    if (top) top.dispatchEvent(new KeyboardEvent("keydown", {{
      key: e.key, code: e.code, keyCode: e.keyCode, bubbles: true}}));
  }});
  setInterval(() => {{
    if (ready < 2) return;
    if (right.duration && Math.abs(right.currentTime - left.currentTime) > 0.04) {{
      right.currentTime = Math.min(left.currentTime, right.duration);
    }}
    if (left.paused) left.play();
    if (right.paused) right.play();
  }}, 200);
}})();
</script></body></html>"""


def display_size(width: int, height: int, max_width: int = 340) -> tuple[int, int]:
    """Displayed size of each video: up to `max_width` wide, at least 200, aspect kept."""
    w = max(200, min(max_width, width * 2))
    return w, max(1, round(w * height / max(1, width)))


def player_html(
    left: bytes,
    right: bytes,
    *,
    width: int,
    height: int,
    rate: float = 1.0,
    captions: tuple[str, str] = ("Left", "Right"),
) -> str:
    """The component's HTML: both videos embedded, nothing but their bytes and captions."""
    if not rate > 0:
        raise ValueError(f"playback rate must be > 0, got {rate}")
    w, h = display_size(width, height)
    return _TEMPLATE.format(
        left=base64.b64encode(left).decode("ascii"),
        right=base64.b64encode(right).decode("ascii"),
        rate=float(rate),
        width=w,
        height=h,
        gap=GAP_PX,
        left_caption=html.escape(captions[0]),
        right_caption=html.escape(captions[1]),
    )


def show_pair(
    left: bytes,
    right: bytes,
    *,
    width: int,
    height: int,
    rate: float = 1.0,
    captions: tuple[str, str] = ("Left", "Right"),
) -> None:
    """Render the two videos in the page (an iframe holding `player_html`)."""
    import streamlit as st

    _, h = display_size(width, height)
    page = player_html(left, right, width=width, height=height, rate=rate, captions=captions)
    if hasattr(st, "iframe"):  # Streamlit >= 1.52: the frame takes its content's height
        st.iframe(page, height="content")
    else:
        import streamlit.components.v1 as components

        components.html(page, height=h + 40)
