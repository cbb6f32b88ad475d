"""What the app's pages share: the database, the admin password and its rate limit.

The database is `FME_DATABASE_URL` (else `sqlite:///fme.db`), migrated once per process.
The admin password comes from `FME_ADMIN_PASSWORD` or `admin_password` in Streamlit
secrets; there is no default. Failed tries are counted per client and in total, and a
client (or everyone, past the total) must wait once the limit is reached.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

MAX_FAILURES = 5  # per client within WINDOW_S
MAX_FAILURES_TOTAL = 30  # all clients within WINDOW_S
WINDOW_S = 300.0
PASSWORD_MAX_CHARS = 200


@st.cache_resource(show_spinner=False)
def _factory(url: str) -> sessionmaker[Session]:
    from db.migrate import migrated_sessions

    return migrated_sessions(url)


def session() -> Session:
    """A new session on the app's database (use as a context manager)."""
    from db.engine import database_url

    return _factory(database_url())()


def admin_password() -> str | None:
    """The configured admin password, or None when none is set."""
    value = os.environ.get("FME_ADMIN_PASSWORD")
    if value:
        return value
    try:
        loaded = getattr(st.secrets, "load_if_toml_exists", lambda: True)()
        value = st.secrets.get("admin_password") if loaded else None
    except Exception:  # no secrets file, or one that does not parse
        value = None
    return str(value) if value else None


@dataclass
class RateLimiter:
    """Failed tries per client and in total, over a sliding window."""

    max_failures: int = MAX_FAILURES
    max_total: int = MAX_FAILURES_TOTAL
    window_s: float = WINDOW_S
    _fails: dict[str, deque] = field(default_factory=dict)
    _total: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _trim(self, q: deque, now: float) -> None:
        while q and now - q[0] > self.window_s:
            q.popleft()

    def wait_s(self, client: str, now: float | None = None) -> float:
        """Seconds this client must wait before another try (0 when it may try now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._fails.setdefault(client, deque())
            self._trim(q, now)
            self._trim(self._total, now)
            waits = [0.0]
            if len(q) >= self.max_failures:
                waits.append(self.window_s - (now - q[0]))
            if len(self._total) >= self.max_total:
                waits.append(self.window_s - (now - self._total[0]))
            return max(waits)

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._fails.setdefault(client, deque()).append(now)
            self._total.append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)


@st.cache_resource(show_spinner=False)
def rate_limiter() -> RateLimiter:
    return RateLimiter()


def client_id() -> str:
    """The client's address when Streamlit knows it (else one shared bucket)."""
    try:
        ip = st.context.ip_address
    except Exception:
        ip = None
    return ip if isinstance(ip, str) and ip else "unknown"


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    message: str


def check_login(password: str, configured: str, limiter: RateLimiter, client: str) -> LoginResult:
    """Compare in constant time; refuse while the client is rate-limited."""
    wait = limiter.wait_s(client)
    if wait > 0:
        return LoginResult(False, f"Too many failed tries. Try again in {int(wait) + 1} s.")
    if len(password) <= PASSWORD_MAX_CHARS and hmac.compare_digest(
        password.encode("utf-8"), configured.encode("utf-8")
    ):
        limiter.succeeded(client)
        return LoginResult(True, "")
    limiter.failed(client)
    return LoginResult(False, "Wrong password.")


def require_admin() -> bool:
    """Show the login form unless this session is signed in; True when signed in."""
    configured = admin_password()
    if configured is None:
        st.warning(
            "The admin page is disabled: no admin password is set. Set one before starting "
            "the app, e.g. `export FME_ADMIN_PASSWORD='a long secret'` (or "
            '`admin_password = "..."` in `.streamlit/secrets.toml`), then restart '
            "`fme study serve`."
        )
        return False
    if st.session_state.get("admin_ok"):
        return True
    with st.form("admin-login"):
        password = st.text_input("Admin password", type="password", max_chars=PASSWORD_MAX_CHARS)
        submitted = st.form_submit_button("Sign in")
    if submitted:
        result = check_login(password or "", configured, rate_limiter(), client_id())
        if result.ok:
            st.session_state["admin_ok"] = True
            st.rerun()
        st.error(result.message)
    return False


def open_study_names(sess: Session) -> list[str]:
    from sqlalchemy import select

    from db.models import Study

    return list(sess.scalars(select(Study.name).where(Study.is_open).order_by(Study.id)))
