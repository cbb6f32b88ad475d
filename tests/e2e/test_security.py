"""Security of the running app, checked from outside the process.

- `fme study serve` without `--host` listens on loopback only (read from the kernel's
  socket table, not from the command line).
- A registered video whose row is pointed outside the study's folders, or whose file is
  swapped on disk, is not served: the volunteer sees an error and no video bytes.
- An unknown or overlong participant token gets an error page, not a pair.
(The browser tests check the admin password, its rate limit, the length limits of the
inputs and that no method, folder or file name reaches the page.)
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest
from e2e_helpers import AppServer, free_port, read_ledger, video_digests
from st_client import Volunteer, run_async

pytestmark = [pytest.mark.slow]


def _listening(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    out = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                out.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                out.append(socket.inet_ntop(socket.AF_INET6, words))
    return out


def _fme() -> str:
    found = shutil.which("fme") or str(Path(sys.executable).with_name("fme"))
    if not Path(found).exists():
        pytest.skip("the fme command is not installed (pip install -e .)")
    return found


def test_serve_listens_on_loopback_only_by_default(apps):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system")
    url = apps.study("serve-default")
    port = free_port()
    server = AppServer(
        database_url=url,
        workdir=apps.root / "serve-default",
        port=port,
        command=[_fme(), "study", "serve", "--db", url, "--port", str(port)],
    )
    apps.servers.append(server)
    server.start()
    addresses = _listening(port)
    server.stop()
    assert addresses, f"nothing listens on {port}"
    assert all(a.startswith("127.") or a == "::1" for a in addresses), addresses


def _copy_videos(video_dirs: dict[str, Path], root: Path) -> dict[str, Path]:
    """A private copy of the method folders (this test changes files on disk)."""
    src_root = next(iter(video_dirs.values())).parent
    shutil.copytree(src_root, root)
    return {label: root / d.name for label, d in video_dirs.items()}


def _set_path(url: str, video_id: int, path: str) -> None:
    from db.engine import make_engine, session_factory
    from db.models import Video

    engine = make_engine(url)
    with session_factory(engine)() as s:
        s.get(Video, video_id).path = path
        s.commit()
    engine.dispose()


def _pair_videos(url: str, pair_id: int) -> list[tuple[int, str]]:
    """(video id, registered path) of a pair's A and B videos."""
    from db.engine import make_engine, session_factory
    from db.models import Pair, Video

    engine = make_engine(url)
    with session_factory(engine)() as s:
        pair = s.get(Pair, pair_id)
        out = [(i, s.get(Video, i).path) for i in (pair.video_a_id, pair.video_b_id)]
    engine.dispose()
    return out


def test_videos_outside_the_study_folders_are_not_served(apps, tmp_path):
    dirs = _copy_videos(apps.video_dirs, tmp_path / "videos")
    url = apps.study("outside", video_dirs=dirs)
    server = apps.serve("outside", url)
    digests = video_digests(url)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    leak = elsewhere / "leak.mp4"
    shutil.copy(next(iter(dirs.values())) / "s20_sur_01-normalized_asianFemale.mp4", leak)
    leak_bytes = leak.read_bytes()

    async def walk() -> list:
        v = Volunteer(server.url, name="outside")
        screen = await v.consent(await v.open())
        slots = read_ledger(url, digests).slots[v.token]
        shown = [screen]
        # 1. the next pair's A video now points outside every folder of the study
        a_id, a_path = _pair_videos(url, slots[1].pair_id)[0]
        _set_path(url, a_id, str(leak))
        shown.append(await v.vote(screen, "left"))
        _set_path(url, a_id, a_path)
        # 2. the same pair after a reload is served again (the row points back inside)
        shown.append(await v.open())
        # 3. the file itself is swapped on disk: its SHA-256 no longer matches
        _, b_path = _pair_videos(url, slots[2].pair_id)[1]
        Path(b_path).write_bytes(leak_bytes)
        shown.append(await v.vote(shown[-1], "right"))
        await v.close()
        return shown

    first, outside, back, swapped = run_async(walk())
    assert len(first.videos()) == 2
    assert "cannot be shown" in outside.text and outside.videos() == {}
    assert leak_bytes not in "".join(outside.iframes).encode()
    assert back.pair == (2, outside.pair[1]) and len(back.videos()) == 2
    assert "cannot be shown" in swapped.text and swapped.videos() == {}


def test_unknown_or_overlong_tokens_get_an_error_page(apps):
    url = apps.study("tokens")
    server = apps.serve("tokens", url)

    async def visit(token: str):
        v = Volunteer(server.url, token=token)
        screen = await v.open()
        await v.close()
        return screen

    for token in ("not-a-token", "x" * 5000):
        screen = run_async(visit(token))
        assert "not valid" in screen.text, screen.text[:300]
        assert screen.pair is None and screen.videos() == {}
    assert server.proc.poll() is None
