"""Recruitment platforms: the ids a study link carries in, and where a participant goes out.

Prolific appends `PROLIFIC_PID`, `STUDY_ID` and `SESSION_ID` to the study URL; MTurk
(external question) appends `workerId`, `hitId` and `assignmentId`; SONA and others are set
up to append any parameter, and the generic one is `participant_id` (SONA:
`participant_id=%SURVEY_CODE%`). `platform_ids` reads them from a link's query string.

At the end a participant gets the study's completion code and is sent to its completion
URL (Prolific's `https://app.prolific.com/submissions/complete?cc=CODE`), or, when the catch
rule excludes them (more failed catch trials than `Study.max_catch_failures`), the screen-out
code and URL. `exit_for` decides which.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from db.models import LABEL_LEN, Study
from fme.core.errors import ConfigError

# platform -> (participant id, study id, session id) parameter names, first match wins
PLATFORM_PARAMS: dict[str, tuple[str, str | None, str | None]] = {
    "prolific": ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    "mturk": ("workerId", "hitId", "assignmentId"),
    "generic": ("participant_id", None, None),
}
_ID = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,64}$")


@dataclass(frozen=True)
class PlatformIds:
    """A participant's ids on a recruitment platform, as the study link carried them."""

    platform: str
    pid: str
    study_id: str | None = None
    session_id: str | None = None


def _clean(value) -> str | None:
    """A platform id as text, or None when missing or not an id (bad characters, too long,
    or an unfilled placeholder such as `{{%PROLIFIC_PID%}}`)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    value = str(value).strip()
    return value if _ID.match(value) else None


def platform_ids(query: Mapping) -> PlatformIds | None:
    """The platform ids in a link's query parameters (None when there are none)."""
    for platform, (pid_key, study_key, session_key) in PLATFORM_PARAMS.items():
        pid = _clean(query.get(pid_key))
        if pid is None:
            continue
        return PlatformIds(
            platform=platform,
            pid=pid,
            study_id=_clean(query.get(study_key)) if study_key else None,
            session_id=_clean(query.get(session_key)) if session_key else None,
        )
    return None


def check_exit_url(url: str | None, what: str = "completion URL") -> str | None:
    """An http(s) URL (or None); ConfigError naming the option otherwise."""
    if url is None or not str(url).strip():
        return None
    url = str(url).strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 1000:
        raise ConfigError(
            f"{what} {url!r} is not an http(s) URL",
            hint="Paste the full link the platform gives, e.g. "
            "https://app.prolific.com/submissions/complete?cc=C1234ABC.",
        )
    return url


def check_code(code: str | None, what: str = "completion code") -> str | None:
    if code is None or not str(code).strip():
        return None
    code = str(code).strip()
    if len(code) > LABEL_LEN or not re.match(r"^[\w\-]+$", code):
        raise ConfigError(
            f"{what} {code!r} is not valid",
            hint=f"Use 1-{LABEL_LEN} letters, digits, - or _ (as the platform shows it).",
        )
    return code


@dataclass(frozen=True)
class Exit:
    """Where a participant who is done goes: the kind, the code to show, the URL to open."""

    kind: str  # "complete" or "screenout"
    code: str | None
    url: str | None


def exit_for(study: Study, excluded: bool) -> Exit:
    """Completion, or screen-out when the catch rule excludes the participant and the study
    has a screen-out URL or code (without one, an excluded participant completes as before
    and is left out of the analysis)."""
    if excluded and (study.screenout_url or study.screenout_code):
        return Exit("screenout", study.screenout_code, study.screenout_url)
    return Exit("complete", study.completion_code, study.completion_url)
