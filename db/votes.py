"""The vote path: find a participant, the next unanswered pair, and record a vote once.

`record_vote` is idempotent: a second vote for the same (participant, pair) is ignored and
reported (`VoteResult.duplicate`), never stored twice; the unique constraint on the votes
table guarantees it even when two requests race. Progress always comes from the database.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from db.models import Assignment, CatchTrial, Participant, Study, Vote, utcnow
from fme.core.errors import DataError

log = logging.getLogger(__name__)

CHOICES = ("A", "B")
SIDES = ("left", "right")
MAX_RESPONSE_MS = 24 * 3600 * 1000
MAX_EVENTS_CHARS = 20_000
_RETRIES = 5
# SQLite has one writer at a time; threads of one process (the app's sessions) queue on this
# lock instead of on SQLite's busy handler, which sleeps in growing steps (long tails).
_SQLITE_WRITE = threading.Lock()


class StudyClosed(DataError):
    """A vote for a study that is closed (nothing was stored)."""


@dataclass(frozen=True)
class VoteResult:
    """What happened to a vote: stored (`recorded`) or ignored as a repeat (`duplicate`)."""

    recorded: bool
    vote_id: int
    choice: str
    finished: bool

    @property
    def duplicate(self) -> bool:
        return not self.recorded


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def participant_by_token(session: Session, token: str) -> Participant:
    """The participant with this token; DataError for an unknown token."""
    participant = None
    if isinstance(token, str) and 0 < len(token) <= 64:
        participant = session.scalar(select(Participant).where(Participant.token == token))
    if participant is None:
        raise DataError(
            "unknown participant token",
            hint="Open the study link again without the token to start a new session.",
        )
    return participant


def choice_for_side(a_side: str, side: str) -> str:
    """The choice ("A"/"B") a click on `side` means when A is shown on `a_side`."""
    if a_side not in SIDES or side not in SIDES:
        raise DataError(f"side must be one of {SIDES}, got {a_side!r} and {side!r}")
    return "A" if a_side == side else "B"


def _unanswered(participant_id: int):
    voted = exists(
        select(Vote.id).where(
            Vote.participant_id == participant_id, Vote.pair_id == Assignment.pair_id
        )
    )
    return select(Assignment).where(Assignment.participant_id == participant_id, ~voted)


def next_assignment(session: Session, participant: Participant) -> Assignment | None:
    """The participant's first assignment (by position) without a vote; None when done."""
    stmt = _unanswered(participant.id).order_by(Assignment.position).limit(1)
    return session.scalar(stmt)


def progress(session: Session, participant: Participant) -> Progress:
    """Votes given and pairs assigned, counted in the database."""
    total = session.scalar(
        select(func.count(Assignment.id)).where(Assignment.participant_id == participant.id)
    )
    done = session.scalar(select(func.count(Vote.id)).where(Vote.participant_id == participant.id))
    return Progress(int(done or 0), int(total or 0))


def _insert(session: Session, values: dict) -> int | None:
    """Insert the vote unless one exists for (participant, pair); the new id or None."""
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = (
            insert(Vote)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["participant_id", "pair_id"])
            .returning(Vote.id)
        )
        return session.scalar(stmt)
    try:  # other backends: rely on the unique constraint
        with session.begin_nested():
            vote = Vote(**values)
            session.add(vote)
        return vote.id
    except IntegrityError:
        return None


def record_vote(
    session: Session,
    token: str,
    pair_id: int,
    choice: str,
    response_ms: int,
    *,
    shown_at: datetime | None = None,
    playback_rate: float = 1.0,
    blur_count: int | None = None,
    focus_events: str | None = None,
    over_time: bool = False,
) -> VoteResult:
    """Store the participant's vote for `pair_id` and commit; a repeat is ignored and reported.

    Raises DataError (and writes nothing) for an unknown token, a pair not assigned to this
    participant, a choice other than "A"/"B", or a negative response time, and StudyClosed
    (a DataError) while the participant's study is closed.
    """
    if choice not in CHOICES:
        raise DataError(f"a vote is 'A' or 'B', got {choice!r}")
    response_ms = int(response_ms)
    if response_ms < 0:
        raise DataError(f"response time must be >= 0 ms, got {response_ms}")
    response_ms = min(response_ms, MAX_RESPONSE_MS)
    if not playback_rate > 0:
        raise DataError(f"playback rate must be > 0, got {playback_rate}")
    if blur_count is not None and int(blur_count) < 0:
        raise DataError(f"blur count must be >= 0, got {blur_count}")
    if focus_events is not None and len(focus_events) > MAX_EVENTS_CHARS:
        focus_events = None  # a page that sends this much is not a person switching tabs
    row = None
    if isinstance(token, str) and 0 < len(token) <= 64:
        row = session.execute(
            select(Participant.id, Assignment.id, Study.is_open)
            .join(Study, Study.id == Participant.study_id)
            .outerjoin(
                Assignment,
                (Assignment.participant_id == Participant.id) & (Assignment.pair_id == pair_id),
            )
            .where(Participant.token == token)
        ).first()
    if row is None:
        session.rollback()
        participant_by_token(session, "")  # raises: unknown token
    participant_id, assigned, is_open = row
    if not is_open:
        session.rollback()
        raise StudyClosed(
            "the study is closed at the moment; the vote was not stored",
            hint="Your earlier answers are saved; open your link again when it reopens.",
        )
    if assigned is None:
        session.rollback()
        raise DataError(
            f"pair {pair_id} is not assigned to this participant; the vote was not stored"
        )
    values = dict(
        participant_id=participant_id,
        pair_id=int(pair_id),
        choice=choice,
        response_ms=response_ms,
        playback_rate=float(playback_rate),
        shown_at=shown_at,
        created_at=utcnow(),
        blur_count=int(blur_count) if blur_count is not None else None,
        focus_events=focus_events,
        over_time=bool(over_time),
    )
    sqlite = session.get_bind().dialect.name == "sqlite"
    for attempt in range(_RETRIES):
        try:
            with _SQLITE_WRITE if sqlite else nullcontext():
                vote_id, finished = _insert_and_finish(session, values, participant_id)
            break
        except OperationalError:  # "database is locked" beyond the busy timeout
            session.rollback()
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    if vote_id is not None:
        return VoteResult(True, vote_id, choice, finished)
    existing = session.execute(
        select(Vote.id, Vote.choice).where(
            Vote.participant_id == participant_id, Vote.pair_id == pair_id
        )
    ).one()
    left = session.scalar(select(func.count()).select_from(_unanswered(participant_id).subquery()))
    log.debug(
        "ignored a second vote of participant %s for pair %s (kept %s)",
        participant_id,
        pair_id,
        existing.choice,
    )
    return VoteResult(False, existing.id, existing.choice, not left)


def _insert_and_finish(session: Session, values: dict, participant_id: int):
    """Insert, mark the participant finished after their last pair, commit."""
    vote_id = _insert(session, values)
    finished = False
    if vote_id is not None:
        left = session.scalar(
            select(func.count()).select_from(_unanswered(participant_id).subquery())
        )
        if not left:
            finished = True
            session.execute(
                update(Participant)
                .where(Participant.id == participant_id)
                .values(finished_at=utcnow())
            )
    session.commit()
    return vote_id, finished


def catch_failures(session: Session, participant: Participant) -> int:
    """The participant's votes on catch trials that chose the corrupted video."""
    return int(
        session.scalar(
            select(func.count(Vote.id))
            .join(CatchTrial, CatchTrial.pair_id == Vote.pair_id)
            .where(Vote.participant_id == participant.id, Vote.choice != CatchTrial.correct)
        )
        or 0
    )
