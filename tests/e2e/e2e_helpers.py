"""Real parts for the end-to-end tests: a study of real H.264 videos, the app as a server
process, a throw-away PostgreSQL server, and the database facts the tests compare with.

Everything here runs real programs (`streamlit run app.py`, `initdb`/`pg_ctl`) on loopback
ports and cleans up after itself; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
ARTIFACTS = REPO / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

# The demo study: the paper's five methods and four comparison sets, two samples each.
# Labels, folder names and sample (file) names are distinctive so that a leak is found.
METHOD_FOLDERS = {
    "FOMM": "outdir_fomm",
    "FOMM+EWP": "outdir_fomm_ewp",
    "FOMM+AWP": "outdir_fomm_awp",
    "MRAA": "outdir_mraa",
    "MRAA+AWP": "outdir_mraa_awp",
}
SAMPLES = ["sub17_EP01_13-normalized_westernMale", "s20_sur_01-normalized_asianFemale"]
DRIVING_FOLDER = "outdir_driving"  # the driving clips `<driving>.mp4` shown to experts
SETS = [
    ("FOMM", "FOMM+EWP"),
    ("FOMM+EWP", "FOMM+AWP"),
    ("MRAA", "MRAA+AWP"),
    ("MRAA+AWP", "FOMM+AWP"),
]
STUDY = "pilot-study"
CATCH = 1
N_FRAMES = 8
FPS = 10.0
SIZE = 64


def forbidden_words(root: Path | None = None) -> list[str]:
    """Strings that must never reach the browser: labels, folder and file names, the root."""
    words = list(METHOD_FOLDERS) + list(METHOD_FOLDERS.values()) + [DRIVING_FOLDER]
    words += SAMPLES + [f"{s}.mp4" for s in SAMPLES] + ["EWP", "AWP", "MRAA", "FOMM"]
    words += [s.split("-")[0] for s in SAMPLES] + ["normalized_westernMale", "catch_000"]
    if root is not None:
        words.append(str(root))
    return sorted(set(words))


def names_in_database(url: str) -> list[str]:
    """Every method label, method folder name and video file name (and stem) of a database:
    what the volunteer's browser must never receive."""
    from sqlalchemy import select

    from db.engine import make_engine, session_factory
    from db.models import Method, Video

    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            words = set(s.scalars(select(Method.label)))
            words |= {Path(f).name for f in s.scalars(select(Method.folder))}
            for path in s.scalars(select(Video.path)):
                words |= {Path(path).name, Path(path).stem, Path(path).parent.name}
    finally:
        engine.dispose()
    return sorted(w for w in words if len(w) >= 3)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _face_frames(seed: int) -> np.ndarray:
    """N_FRAMES of a real face crop (skimage's astronaut), drifting, with a moving bar and a
    tint per method, so that the two sides of a pair differ and motion is visible."""
    from skimage.data import astronaut
    from skimage.transform import resize

    face = astronaut()[20:220, 140:340]
    rng = np.random.default_rng(seed)
    tint = rng.uniform(0.75, 1.0, size=3)
    frames = []
    for t in range(N_FRAMES):
        dy, dx = int(4 * np.sin(t / N_FRAMES * 2 * np.pi)), t
        crop = face[10 + dy : 190 + dy, 10 + dx : 190 + dx]
        img = resize(crop, (SIZE, SIZE), anti_aliasing=True) * 255 * tint
        img[-6:, : int((t + 1) * SIZE / N_FRAMES)] = (255, 255, 0)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def make_videos(root: Path) -> dict[str, Path]:
    """One folder of `<driving>-<template>.mp4` per method, and the driving clips
    (`<driving>.mp4`) in `root / DRIVING_FOLDER`."""
    from generation.data.video import write_mp4

    dirs = {}
    for i, (label, folder) in enumerate(METHOD_FOLDERS.items()):
        d = root / folder
        for j, sample in enumerate(SAMPLES):
            write_mp4(d / f"{sample}.mp4", _face_frames(10 * i + j), fps=FPS)
        dirs[label] = d
    for j, sample in enumerate(SAMPLES):
        write_mp4(root / DRIVING_FOLDER / f"{sample.split('-')[0]}.mp4", _face_frames(99 + j), FPS)
    return dirs


def create_demo_study(url: str, video_dirs: dict[str, Path], media_dir: Path) -> None:
    """Migrate the database at `url` and create the demo study in it (the driving clips are
    beside the method folders)."""
    from db.engine import make_engine, session_factory
    from db.migrate import upgrade
    from study.design import create_study

    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            create_study(
                s,
                STUDY,
                video_dirs,
                sets=SETS,
                catch=CATCH,
                seed=7,
                media_dir=media_dir,
                driving_dir=next(iter(video_dirs.values())).parent / DRIVING_FOLDER,
            )
    finally:
        engine.dispose()


def pairs_per_volunteer() -> int:
    return len(SETS) * len(SAMPLES) + CATCH


# --- the app as a server process ----------------------------------------------------------


def serve_command(port: int, base_path: str = "") -> list[str]:
    """The command line the app is served with: `fme study serve`'s own (`streamlit run
    app.py --server.headless true --server.address 127.0.0.1 --server.port P ...`), with the
    file watcher off (tests never edit the code) and without Streamlit's full garbage
    collection after every script run (`runner.postScriptGC`), which costs ~4x the run itself
    with this app's imports; set FME_E2E_POST_SCRIPT_GC=1 to keep it and measure that."""
    try:
        from fme.commands.study import serve_command as app_serve_command

        cmd = list(app_serve_command("127.0.0.1", port, APP, base_url_path=base_path))
    except (ImportError, TypeError):
        cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true"]
        cmd += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    cmd += ["--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    if "--runner.postScriptGC" not in cmd and os.environ.get("FME_E2E_POST_SCRIPT_GC") != "1":
        cmd += ["--runner.postScriptGC", "false"]
    if "--browser.gatherUsageStats" not in cmd:
        cmd += ["--browser.gatherUsageStats", "false"]
    return cmd


@dataclass
class AppServer:
    """`streamlit run app.py` on a loopback port, with its own database and admin password."""

    database_url: str
    workdir: Path
    port: int = 0
    password: str = "correct horse battery staple"
    proc: subprocess.Popen | None = None
    command: list[str] | None = None
    starts: int = 0
    extra_env: dict[str, str] | None = None
    base_path: str = ""  # served under /base_path/ (a reverse proxy's prefix)

    @property
    def url(self) -> str:
        prefix = f"/{self.base_path}" if self.base_path else ""
        return f"http://127.0.0.1:{self.port}{prefix}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"app-{self.port}.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("FME_VIDEO_ROOT", None)
        env.update(
            FME_DATABASE_URL=self.database_url,
            FME_ADMIN_PASSWORD=self.password,
            OMP_NUM_THREADS="1",
            STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env or {})
        return env

    def start(self, timeout: float = 90.0) -> AppServer:
        self.port = self.port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")  # noqa: SIM115 (kept open for the child)
        self.command = self.command or serve_command(self.port, self.base_path)
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{self.log_tail()}")
            if health(self.url):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the app did not answer in {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the app (its whole process group): no clean shutdown of anything."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            self.kill()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def health(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        return False


# --- PostgreSQL started by the test -------------------------------------------------------


def pg_bin() -> Path | None:
    """The folder of initdb/pg_ctl: FME_PG_BIN, else the newest /usr/lib/postgresql/*/bin."""
    env = os.environ.get("FME_PG_BIN")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster on a loopback port (as `postgres` when run as root)."""

    bin_dir: Path
    root: Path
    port: int = 0

    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> PostgresServer:
        self.port = self.port or free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        data = self.root / "data"
        run = self._as_owner()
        subprocess.run(
            [*run, str(self.bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        subprocess.run(
            [*run, str(self.bin_dir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log")]
            + ["-w", "-t", "60", "-o", opts, "start"],
            check=True,
            capture_output=True,
        )
        return self

    def stop(self) -> None:
        subprocess.run(
            [*self._as_owner(), str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data")]
            + ["-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)


def start_postgres() -> PostgresServer:
    """Start a cluster in a fresh folder under /tmp (readable by the postgres user)."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl)")
    root = Path(tempfile.mkdtemp(prefix="fme-e2e-pg-"))
    os.chmod(root, 0o700)
    return PostgresServer(bin_dir, root).start()


# --- what the database says --------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A participant's screen: the pair, A's side, and what the left/right videos must be."""

    position: int
    pair_id: int
    a_side: str
    left: str  # sha256 of the blinded bytes of the left video
    right: str
    correct_side: str | None = None  # catch trials: the side of the uncorrupted video


def video_digests(url: str) -> dict[int, str]:
    """sha256 of the bytes the app serves for every video (the app's own blinding code)."""
    from sqlalchemy import select

    from db.engine import make_engine, session_factory
    from db.models import Video
    from study.media import video_bytes

    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            ids = list(s.scalars(select(Video.id)))
            return {i: hashlib.sha256(video_bytes(s, i)).hexdigest() for i in ids}
    finally:
        engine.dispose()


@dataclass
class Ledger:
    """Each participant's screens and stored votes, read from the database."""

    slots: dict[str, list[Slot]]  # token -> slots by position
    votes: dict[str, dict[int, str]]  # token -> {pair_id: choice}
    n_vote_rows: int


def read_ledger(url: str, digests: dict[int, str]) -> Ledger:
    from sqlalchemy import func, select

    from db.engine import make_engine, session_factory
    from db.models import Assignment, CatchTrial, Pair, Participant, Vote

    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            slots: dict[str, list[Slot]] = {}
            correct = dict(s.execute(select(CatchTrial.pair_id, CatchTrial.correct)).all())
            rows = s.execute(
                select(Participant.token, Assignment.position, Assignment.a_side, Pair)
                .join(Assignment, Assignment.participant_id == Participant.id)
                .join(Pair, Pair.id == Assignment.pair_id)
                .order_by(Participant.token, Assignment.position)
            ).all()
            for token, position, a_side, pair in rows:
                a, b = digests[pair.video_a_id], digests[pair.video_b_id]
                left, right = (a, b) if a_side == "left" else (b, a)
                other = "right" if a_side == "left" else "left"
                good = {"A": a_side, "B": other}.get(correct.get(pair.id, ""))
                slots.setdefault(token, []).append(
                    Slot(position, pair.id, a_side, left, right, good)
                )
            votes: dict[str, dict[int, str]] = {}
            for token, pair_id, choice in s.execute(
                select(Participant.token, Vote.pair_id, Vote.choice).join(
                    Vote, Vote.participant_id == Participant.id
                )
            ):
                votes.setdefault(token, {})[pair_id] = choice
            n_rows = s.scalar(select(func.count(Vote.id)))
            return Ledger(slots, votes, int(n_rows or 0))
    finally:
        engine.dispose()


def expected_choice(a_side: str, side: str) -> str:
    """What a click on `side` means when A is on `a_side` (worked out here, not imported)."""
    return "A" if a_side == side else "B"


def votes_per_set(url: str) -> dict[str, tuple[int, int]]:
    """Votes for A and for B per comparison set (catch trials have no set), counted in SQL."""
    from sqlalchemy import text

    from db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT cs.name, SUM(CASE WHEN v.choice = 'A' THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN v.choice = 'B' THEN 1 ELSE 0 END) FROM votes v "
                    "JOIN pairs p ON p.id = v.pair_id "
                    "JOIN comparison_sets cs ON cs.id = p.set_id GROUP BY cs.name"
                )
            ).all()
    finally:
        engine.dispose()
    return {name: (int(a), int(b)) for name, a, b in rows}


def check_acks(ledger: Ledger, volunteers) -> dict[str, int]:
    """Compare what each volunteer saw acknowledged with the database.

    Returns counts: acked, lost (acked but not stored or stored with another choice),
    wrong_pair (the screen's videos were not the pair at that position), extra (stored votes
    nobody clicked), duplicated (more stored rows than distinct (participant, pair)).
    """
    acked = lost = wrong_pair = extra = 0
    for v in volunteers:
        slots = ledger.slots.get(v.token, [])
        stored = ledger.votes.get(v.token, {})
        clicked_pairs = set()
        for position, _side in v.clicked:
            if position < len(slots):
                clicked_pairs.add(slots[position].pair_id)
        extra += len(set(stored) - clicked_pairs)
        for ack in v.acks:
            acked += 1
            slot = slots[ack.position]
            if ack.videos != {"left": slot.left, "right": slot.right}:
                wrong_pair += 1
            if stored.get(slot.pair_id) != expected_choice(slot.a_side, ack.side):
                lost += 1
    return dict(
        acked=acked,
        lost=lost,
        wrong_pair=wrong_pair,
        extra=extra,
        duplicated=ledger.n_vote_rows - sum(len(v) for v in ledger.votes.values()),
    )


# --- nginx in front of the app ------------------------------------------------------------

NGINX_SNIPPET = REPO / "docs" / "nginx-fme.conf"


def nginx_bin() -> Path | None:
    env = os.environ.get("FME_NGINX")
    for candidate in (env, shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


@dataclass
class NginxProxy:
    """Debian's nginx as a non-daemon child on a free loopback port, running the study guide's
    snippet (docs/nginx-fme.conf) with the test's app ports, logs in its own folder."""

    root: Path
    app_ports: list[int]
    port: int = 0
    proc: subprocess.Popen | None = None

    def config(self) -> str:
        snippet = NGINX_SNIPPET.read_text()
        servers = "".join(f"    server 127.0.0.1:{p};\n" for p in self.app_ports)
        stock = "    server 127.0.0.1:8501;\n    server 127.0.0.1:8502;\n"
        log = "/var/log/nginx/fme-access.log"
        assert stock in snippet and "listen 80;" in snippet and log in snippet, (
            "docs/nginx-fme.conf changed"
        )
        snippet = (
            snippet.replace(stock, servers)
            .replace("listen 80;", f"listen 127.0.0.1:{self.port};")
            .replace(log, str(self.root / "access.log"))
        )
        temp = "\n".join(
            f"    {kind}_temp_path {self.root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}daemon off;\nworker_processes 1;\npid {self.root / 'nginx.pid'};\n"
            f"error_log {self.root / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"{temp}\n"
            f"{snippet}\n}}\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> NginxProxy:
        binary = nginx_bin()
        if binary is None:
            raise FileNotFoundError("nginx")
        self.port = self.port or free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(self.config())
        self.proc = subprocess.Popen(
            [
                str(binary),
                "-p",
                str(self.root),
                "-c",
                str(conf),
                "-e",
                str(self.root / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "stderr.log", "w"),  # noqa: SIM115
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log('stderr.log')}{self.log('error.log')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not listen in time: " + self.log("error.log"))

    def log(self, name: str = "access.log") -> str:
        try:
            return (self.root / name).read_text(errors="replace")
        except OSError:
            return ""

    def upstreams(self) -> list[tuple[str, str, str]]:
        """(request path, upstream address, route cookie) of every proxied request."""
        rows = []
        for line in self.log().splitlines():
            parts = line.split()
            if len(parts) >= 4:
                rows.append((parts[0], parts[2].removeprefix("upstream="), parts[3][6:]))
        return rows

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
