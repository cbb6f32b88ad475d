"""The study schema: SQLAlchemy 2.0 typed ORM.

A study holds methods (each a folder of generated videos), their videos, comparison sets
(method A vs method B) of pairs, participants with their assignments and votes, catch
trials, experts and their ratings. Integrity lives here, not in the app: one vote per
participant per pair (unique), foreign keys, and check constraints on every closed value
(choices, sides, scores 0-3). Schema changes are Alembic migrations in `db/migrations/`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names, so migrations on every backend name them the same way.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Length limits of free text (the app's inputs use the same numbers).
NAME_LEN = 100
LABEL_LEN = 64
PATH_LEN = 1000
TOKEN_LEN = 64
TEXT_LEN = 500
URL_LEN = 1000
CONSENT_LEN = 20_000
# The demographics fields a study may ask (Study.demographics lists a subset, in order).
DEMOGRAPHICS = ("age", "gender", "vision", "country", "comment")


def utcnow() -> datetime:
    """Timezone-aware UTC now (stored as UTC)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    # Exclusion rule: a participant who fails more than this many catch trials is excluded.
    max_catch_failures: Mapped[int] = mapped_column(Integer, default=0)
    catch_per_participant: Mapped[int] = mapped_column(Integer, default=0)
    # Folders besides the methods' from which videos may be served: the corrupted catch clips
    # the study wrote (media_dir) and the driving clips shown to experts (driving_dir).
    media_dir: Mapped[str | None] = mapped_column(String(PATH_LEN))
    driving_dir: Mapped[str | None] = mapped_column(String(PATH_LEN))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Lifecycle: enrolment stops once this many participants have finished (None: no target).
    target_finished: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Hosting on a recruitment platform: consent text (Markdown; None: the app's own), the
    # demographics asked (comma-separated DEMOGRAPHICS; None: all of them, "" none), and where
    # a participant goes at the end: the completion URL and code, or, when the catch rule
    # excludes them, the screen-out URL and code.
    consent_text: Mapped[str | None] = mapped_column(Text)
    demographics: Mapped[str | None] = mapped_column(String(100))
    completion_url: Mapped[str | None] = mapped_column(String(URL_LEN))
    completion_code: Mapped[str | None] = mapped_column(String(LABEL_LEN))
    screenout_url: Mapped[str | None] = mapped_column(String(URL_LEN))
    screenout_code: Mapped[str | None] = mapped_column(String(LABEL_LEN))
    # Timing: the vote buttons enable after `min_view_s` seconds and, with `min_view_loop`,
    # once both videos have played through once; a vote after `pair_time_limit_s` seconds
    # is stored and flagged (Vote.over_time).
    min_view_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    min_view_loop: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    pair_time_limit_s: Mapped[float | None] = mapped_column(Float)
    # Stopping rule, fixed at creation: the planned number of finished participants (the
    # admin page shows no p-value before it is reached; None: none planned, results shown
    # once the study is closed) and, optionally, a group-sequential plan: interim looks at
    # these fractions of planned_n (comma-separated, e.g. "0.5,0.75,1") with an alpha-spending
    # rule ("obrien-fleming" or "pocock") at overall level sequential_alpha.
    planned_n: Mapped[int | None] = mapped_column(Integer)
    sequential_looks: Mapped[str | None] = mapped_column(String(100))
    sequential_spending: Mapped[str | None] = mapped_column(String(20))
    sequential_alpha: Mapped[float | None] = mapped_column(Float)

    methods: Mapped[list[Method]] = relationship(back_populates="study", order_by="Method.id")
    sets: Mapped[list[ComparisonSet]] = relationship(
        back_populates="study", order_by="ComparisonSet.position"
    )

    __table_args__ = (
        CheckConstraint("max_catch_failures >= 0", name="max_catch_failures"),
        CheckConstraint("catch_per_participant >= 0", name="catch_per_participant"),
        CheckConstraint("target_finished IS NULL OR target_finished > 0", name="target"),
        CheckConstraint("min_view_s >= 0", name="min_view_s"),
        CheckConstraint("pair_time_limit_s IS NULL OR pair_time_limit_s > 0", name="time_limit"),
        CheckConstraint("planned_n IS NULL OR planned_n > 1", name="planned_n"),
        CheckConstraint(
            "sequential_alpha IS NULL OR (sequential_alpha > 0 AND sequential_alpha < 1)",
            name="sequential_alpha",
        ),
    )


class Method(Base):
    __tablename__ = "methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(LABEL_LEN))
    folder: Mapped[str] = mapped_column(String(PATH_LEN))

    study: Mapped[Study] = relationship(back_populates="methods")
    videos: Mapped[list[Video]] = relationship(back_populates="method")

    __table_args__ = (UniqueConstraint("study_id", "label", name="uq_methods_study_label"),)


class Video(Base):
    """A video file of a study: a method's output, a driving clip, or a corrupted catch clip."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    method_id: Mapped[int | None] = mapped_column(ForeignKey("methods.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="method")
    path: Mapped[str] = mapped_column(String(PATH_LEN))
    sha256: Mapped[str] = mapped_column(String(64))
    n_frames: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sample: Mapped[str] = mapped_column(String(NAME_LEN))
    driving: Mapped[str] = mapped_column(String(NAME_LEN))
    template: Mapped[str] = mapped_column(String(NAME_LEN), default="")

    method: Mapped[Method | None] = relationship(back_populates="videos")

    __table_args__ = (
        CheckConstraint("kind IN ('method', 'driving', 'catch')", name="kind"),
        CheckConstraint("n_frames > 0", name="n_frames"),
        UniqueConstraint("study_id", "kind", "method_id", "sample", name="uq_videos_sample"),
    )


class ComparisonSet(Base):
    __tablename__ = "comparison_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN * 2 + 8))
    position: Mapped[int] = mapped_column(Integer)
    method_a_id: Mapped[int] = mapped_column(ForeignKey("methods.id", ondelete="CASCADE"))
    method_b_id: Mapped[int] = mapped_column(ForeignKey("methods.id", ondelete="CASCADE"))

    study: Mapped[Study] = relationship(back_populates="sets")
    method_a: Mapped[Method] = relationship(foreign_keys=[method_a_id])
    method_b: Mapped[Method] = relationship(foreign_keys=[method_b_id])
    pairs: Mapped[list[Pair]] = relationship(back_populates="set", order_by="Pair.id")

    __table_args__ = (
        UniqueConstraint("study_id", "name", name="uq_comparison_sets_study_name"),
        CheckConstraint("method_a_id <> method_b_id", name="distinct_methods"),
    )


class Pair(Base):
    """Two videos of the same sample shown side by side: A's and B's (or a catch trial)."""

    __tablename__ = "pairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    set_id: Mapped[int | None] = mapped_column(ForeignKey("comparison_sets.id", ondelete="CASCADE"))
    sample: Mapped[str] = mapped_column(String(NAME_LEN))
    video_a_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    video_b_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    is_catch: Mapped[bool] = mapped_column(Boolean, default=False)

    set: Mapped[ComparisonSet | None] = relationship(back_populates="pairs")
    video_a: Mapped[Video] = relationship(foreign_keys=[video_a_id])
    video_b: Mapped[Video] = relationship(foreign_keys=[video_b_id])
    catch_trial: Mapped[CatchTrial | None] = relationship(back_populates="pair")

    __table_args__ = (
        CheckConstraint("video_a_id <> video_b_id", name="distinct_videos"),
        # A scored pair belongs to a set; a catch pair to none.
        CheckConstraint(
            "(is_catch AND set_id IS NULL) OR (NOT is_catch AND set_id IS NOT NULL)",
            name="catch_or_set",
        ),
    )


class CatchTrial(Base):
    """An attention check: one side of the pair is visibly corrupted; `correct` is the other."""

    __tablename__ = "catch_trials"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), unique=True)
    corrupted_video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    correct: Mapped[str] = mapped_column(String(1))
    corruption: Mapped[str] = mapped_column(String(LABEL_LEN))

    pair: Mapped[Pair] = relationship(back_populates="catch_trial")

    __table_args__ = (CheckConstraint("correct IN ('A', 'B')", name="correct"),)


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(TOKEN_LEN), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    consent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    age: Mapped[int | None] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(32))
    # Optional fields.
    vision: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(LABEL_LEN))
    comment: Mapped[str | None] = mapped_column(String(TEXT_LEN))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Recruitment platform (prolific, mturk, generic) and the ids its link carried: the
    # participant's platform id (PROLIFIC_PID, workerId, participant_id), and the platform's
    # study and session ids. One session per platform id and study (unique), so a returning
    # platform id resumes its own session. Exported with the votes; never shown on a page.
    platform: Mapped[str | None] = mapped_column(String(16))
    platform_pid: Mapped[str | None] = mapped_column(String(LABEL_LEN))
    platform_study_id: Mapped[str | None] = mapped_column(String(LABEL_LEN))
    platform_session_id: Mapped[str | None] = mapped_column(String(LABEL_LEN))

    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="participant", order_by="Assignment.position"
    )

    __table_args__ = (
        CheckConstraint("age IS NULL OR (age >= 18 AND age <= 120)", name="age"),
        UniqueConstraint("study_id", "platform_pid", name="uq_participants_study_platform_pid"),
    )


class Assignment(Base):
    """Pair `pair_id` is the participant's `position`-th screen, with A on `a_side`."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    a_side: Mapped[str] = mapped_column(String(5))

    participant: Mapped[Participant] = relationship(back_populates="assignments")
    pair: Mapped[Pair] = relationship()

    __table_args__ = (
        UniqueConstraint("participant_id", "pair_id", name="uq_assignments_participant_pair"),
        UniqueConstraint("participant_id", "position", name="uq_assignments_participant_pos"),
        CheckConstraint("a_side IN ('left', 'right')", name="a_side"),
        CheckConstraint("position >= 0", name="position"),
    )


class Vote(Base):
    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    choice: Mapped[str] = mapped_column(String(1))
    response_ms: Mapped[int] = mapped_column(Integer)
    playback_rate: Mapped[float] = mapped_column(Float, default=1.0)
    shown_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Attention while the pair was on screen, as jsPsych records it: how often the page lost
    # the focus, and the blur/focus events as JSON [{"event": "blur", "time": ms}, ...]
    # (ms since the pair was shown); None when the browser sent none.
    blur_count: Mapped[int | None] = mapped_column(Integer)
    focus_events: Mapped[str | None] = mapped_column(Text)
    over_time: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    __table_args__ = (
        UniqueConstraint("participant_id", "pair_id", name="uq_votes_participant_pair"),
        CheckConstraint("choice IN ('A', 'B')", name="choice"),
        CheckConstraint("response_ms >= 0", name="response_ms"),
        CheckConstraint("playback_rate > 0", name="playback_rate"),
        CheckConstraint("blur_count IS NULL OR blur_count >= 0", name="blur_count"),
    )


class Expert(Base):
    __tablename__ = "experts"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    token: Mapped[str] = mapped_column(String(TOKEN_LEN), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("study_id", "name", name="uq_experts_study_name"),)


class ExpertRating(Base):
    """MEGC rubric: upper face, lower face and noise, each 0-3 (at most 9 per video)."""

    __tablename__ = "expert_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    upper: Mapped[int] = mapped_column(Integer)
    lower: Mapped[int] = mapped_column(Integer)
    noise: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("expert_id", "video_id", name="uq_expert_ratings_expert_video"),
        CheckConstraint("upper >= 0 AND upper <= 3", name="upper"),
        CheckConstraint("lower >= 0 AND lower <= 3", name="lower"),
        CheckConstraint("noise >= 0 AND noise <= 3", name="noise"),
    )
