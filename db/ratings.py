"""Expert ratings: the MEGC rubric, upper face, lower face and noise, each 0-3 per video.

An expert who rates a video again replaces their earlier rating (one row per expert and
video, guaranteed by a unique constraint).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Expert, ExpertRating, Video, utcnow
from fme.core.errors import DataError

SCORE_RANGE = (0, 3)


@dataclass(frozen=True)
class RatingResult:
    rating_id: int
    replaced: bool


def expert_by_token(session: Session, token: str) -> Expert:
    """The expert with this token; DataError for an unknown token."""
    expert = None
    if isinstance(token, str) and 0 < len(token) <= 64:
        expert = session.scalar(select(Expert).where(Expert.token == token))
    if expert is None:
        raise DataError("unknown expert token", hint="Ask the study admin for your expert link.")
    return expert


def check_score(name: str, value: int) -> int:
    lo, hi = SCORE_RANGE
    if isinstance(value, bool) or int(value) != value or not lo <= int(value) <= hi:
        raise DataError(f"{name} score must be an integer {lo}-{hi}, got {value!r}")
    return int(value)


def record_rating(
    session: Session, token: str, video_id: int, upper: int, lower: int, noise: int
) -> RatingResult:
    """Store (or replace) an expert's scores for one of the study's method videos."""
    scores = {k: check_score(k, v) for k, v in dict(upper=upper, lower=lower, noise=noise).items()}
    expert = expert_by_token(session, token)
    video = session.get(Video, video_id)
    if video is None or video.study_id != expert.study_id or video.kind != "method":
        session.rollback()
        raise DataError(f"video {video_id} is not one of this study's videos to rate")
    rating = session.scalar(
        select(ExpertRating).where(
            ExpertRating.expert_id == expert.id, ExpertRating.video_id == video_id
        )
    )
    replaced = rating is not None
    if rating is None:
        rating = ExpertRating(expert_id=expert.id, video_id=video_id, **scores)
        session.add(rating)
    else:
        for k, v in scores.items():
            setattr(rating, k, v)
        rating.created_at = utcnow()
    session.commit()
    return RatingResult(rating.id, replaced)


def rated_video_ids(session: Session, expert: Expert) -> set[int]:
    return set(
        session.scalars(select(ExpertRating.video_id).where(ExpertRating.expert_id == expert.id))
    )


def rating_count(session: Session, expert: Expert) -> int:
    return int(
        session.scalar(
            select(func.count(ExpertRating.id)).where(ExpertRating.expert_id == expert.id)
        )
        or 0
    )
