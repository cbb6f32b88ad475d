"""Study data out of the database: votes and expert ratings as frames and CSV, and progress.

`votes_frame` has one row per vote with the columns the statistics read (study, set_name,
method_a, method_b, pair_id, sample, participant, choice, a_side, response_ms, is_catch,
catch_passed, created_at, and the participant's recruitment-platform ids: platform,
platform_pid, platform_study_id, platform_session_id); catch trials have set_name "catch",
method_b "corrupted" and catch_passed True when the intact video was chosen. Participants
appear as `p<id>`, never by their token (the token lets its holder vote).
`participants_frame` has one row per participant (demographics, platform ids). Each vote
also carries what the page saw while its pair was shown: blur_count (how often the page
lost the focus), focus_events (JSON, as jsPsych records them) and over_time (after the
study's time limit); the progress table sums them per participant (blurs, over_time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from db.models import (
    Assignment,
    CatchTrial,
    ComparisonSet,
    Expert,
    ExpertRating,
    Method,
    Pair,
    Participant,
    Study,
    Video,
    Vote,
)
from fme.core.outputs import output_set, write_csv_atomic
from study.design import get_study

VOTE_COLUMNS = [
    "study",
    "set_name",
    "method_a",
    "method_b",
    "pair_id",
    "sample",
    "participant",
    "choice",
    "a_side",
    "response_ms",
    "is_catch",
    "catch_passed",
    "created_at",
    "platform",
    "platform_pid",
    "platform_study_id",
    "platform_session_id",
    "blur_count",
    "focus_events",
    "over_time",
]
# Recruitment-platform ids: exported for the researcher (to approve or pay participants on
# the platform), never shown on a page.
PLATFORM_COLUMNS = ["platform", "platform_pid", "platform_study_id", "platform_session_id"]
RATING_COLUMNS = ["expert", "method", "video", "sample", "upper", "lower", "noise"]


def participant_label(participant_id: int) -> str:
    return f"p{participant_id:04d}"


def votes_frame(session: Session, study_name: str) -> pd.DataFrame:
    """Every vote of the study, one row each (columns VOTE_COLUMNS), in vote order."""
    study = get_study(session, study_name)
    ma, mb = aliased(Method), aliased(Method)
    stmt = (
        select(
            Vote.id,
            ComparisonSet.name.label("set_name"),
            ma.label.label("method_a"),
            mb.label.label("method_b"),
            Pair.id.label("pair_id"),
            Pair.sample,
            Pair.is_catch,
            Vote.participant_id,
            Vote.choice,
            Assignment.a_side,
            Vote.response_ms,
            CatchTrial.correct,
            Vote.created_at,
            Video.method_id.label("catch_method_id"),
            Participant.platform,
            Participant.platform_pid,
            Participant.platform_study_id,
            Participant.platform_session_id,
            Vote.blur_count,
            Vote.focus_events,
            Vote.over_time,
        )
        .join(Pair, Pair.id == Vote.pair_id)
        .join(
            Assignment,
            (Assignment.pair_id == Vote.pair_id)
            & (Assignment.participant_id == Vote.participant_id),
        )
        .outerjoin(ComparisonSet, ComparisonSet.id == Pair.set_id)
        .outerjoin(ma, ma.id == ComparisonSet.method_a_id)
        .outerjoin(mb, mb.id == ComparisonSet.method_b_id)
        .outerjoin(CatchTrial, CatchTrial.pair_id == Pair.id)
        .join(Video, Video.id == Pair.video_a_id)
        .join(Participant, Participant.id == Vote.participant_id)
        .where(Pair.study_id == study.id)
        .order_by(Vote.id)
    )
    rows = session.execute(stmt).all()
    labels = dict(session.execute(select(Method.id, Method.label)).all())
    records = []
    for r in rows:
        catch = bool(r.is_catch)
        records.append(
            {
                "study": study.name,
                "set_name": "catch" if catch else r.set_name,
                "method_a": labels.get(r.catch_method_id) if catch else r.method_a,
                "method_b": "corrupted" if catch else r.method_b,
                "pair_id": r.pair_id,
                "sample": r.sample,
                "participant": participant_label(r.participant_id),
                "choice": r.choice,
                "a_side": r.a_side,
                "response_ms": r.response_ms,
                "is_catch": catch,
                "catch_passed": (r.choice == r.correct) if catch else pd.NA,
                "created_at": r.created_at,
                **{c: getattr(r, c) for c in PLATFORM_COLUMNS},
                "blur_count": r.blur_count,
                "focus_events": r.focus_events,
                "over_time": bool(r.over_time),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=VOTE_COLUMNS)
    frame["is_catch"] = frame["is_catch"].astype(bool)
    frame["catch_passed"] = frame["catch_passed"].astype("boolean")
    frame["pair_id"] = frame["pair_id"].astype("int64")
    frame["response_ms"] = frame["response_ms"].astype("int64")
    return frame


def ratings_frame(session: Session, study_name: str) -> pd.DataFrame:
    """Every expert rating of the study (columns RATING_COLUMNS)."""
    study = get_study(session, study_name)
    stmt = (
        select(
            Expert.name,
            Method.label,
            Video.path,
            Video.sample,
            ExpertRating.upper,
            ExpertRating.lower,
            ExpertRating.noise,
        )
        .join(Expert, Expert.id == ExpertRating.expert_id)
        .join(Video, Video.id == ExpertRating.video_id)
        .join(Method, Method.id == Video.method_id)
        .where(Expert.study_id == study.id)
        .order_by(Expert.id, Method.id, Video.sample)
    )
    records = [
        {
            "expert": r.name,
            "method": r.label,
            "video": f"{r.label}/{Path(r.path).name}",
            "sample": r.sample,
            "upper": r.upper,
            "lower": r.lower,
            "noise": r.noise,
        }
        for r in session.execute(stmt).all()
    ]
    return pd.DataFrame.from_records(records, columns=RATING_COLUMNS)


PARTICIPANT_COLUMNS = [
    "participant",
    "started",
    "finished_at",
    "age",
    "gender",
    "vision",
    "country",
    "comment",
    *PLATFORM_COLUMNS,
]


def participants_frame(session: Session, study_name: str) -> pd.DataFrame:
    """One row per participant: demographics, start and finish, and the platform's ids
    (columns PARTICIPANT_COLUMNS), for the researcher's records and the platform's payments."""
    study = get_study(session, study_name)
    people = session.scalars(
        select(Participant).where(Participant.study_id == study.id).order_by(Participant.id)
    ).all()
    return pd.DataFrame.from_records(
        [
            {
                "participant": participant_label(p.id),
                "started": p.created_at,
                "finished_at": p.finished_at,
                **{c: getattr(p, c) for c in PARTICIPANT_COLUMNS[3:]},
            }
            for p in people
        ],
        columns=PARTICIPANT_COLUMNS,
    )


EXPORT_FILES = ("votes.csv", "ratings.csv", "participants.csv")


def export_csv(session: Session, study_name: str, out_dir: str | Path) -> dict[str, Path]:
    """Write `votes.csv`, `ratings.csv` and `participants.csv` of the study into `out_dir`;
    their paths.

    The three are read in one transaction and swapped into `out_dir` together (see
    `fme.core.outputs.output_set`): a re-export killed or failing half-way leaves the
    earlier export whole, never a `votes.csv` cut at a line end."""
    out = Path(out_dir)
    frames = {
        "votes": votes_frame(session, study_name),
        "ratings": ratings_frame(session, study_name),
        "participants": participants_frame(session, study_name),
    }
    with output_set(out, "fme study export", owns=lambda _: list(EXPORT_FILES)) as stage:
        for what, frame in frames.items():
            write_csv_atomic(frame, stage / f"{what}.csv", index=False)
    return {what: out / f"{what}.csv" for what in frames}


@dataclass(frozen=True)
class StudyProgress:
    """Live progress of a study, counted in the database."""

    participants: int
    finished: int
    votes: int
    assigned: int
    catch_votes: int
    catch_failures: int
    excluded: int
    ratings: int
    frame: pd.DataFrame  # one row per participant

    @property
    def completion(self) -> float:
        return self.votes / self.assigned if self.assigned else 0.0


def study_progress(session: Session, study_name: str) -> StudyProgress:
    """Participants, completion, catch-trial failures and exclusions (the study's rule)."""
    study: Study = get_study(session, study_name)
    people = session.execute(
        select(Participant.id, Participant.created_at, Participant.finished_at)
        .where(Participant.study_id == study.id)
        .order_by(Participant.id)
    ).all()
    assigned = dict(
        session.execute(
            select(Assignment.participant_id, func.count(Assignment.id))
            .join(Participant, Participant.id == Assignment.participant_id)
            .where(Participant.study_id == study.id)
            .group_by(Assignment.participant_id)
        ).all()
    )
    # per participant in one pass over the votes: (votes, blurs, votes over the time limit)
    per_voter = {
        pid: (int(n), int(blurs or 0), int(late or 0))
        for pid, n, blurs, late in session.execute(
            select(
                Vote.participant_id,
                func.count(Vote.id),
                func.sum(Vote.blur_count),
                func.sum(case((Vote.over_time, 1), else_=0)),
            )
            .join(Participant, Participant.id == Vote.participant_id)
            .where(Participant.study_id == study.id)
            .group_by(Vote.participant_id)
        ).all()
    }
    catch_rows = session.execute(
        select(Vote.participant_id, Vote.choice, CatchTrial.correct)
        .join(CatchTrial, CatchTrial.pair_id == Vote.pair_id)
        .join(Participant, Participant.id == Vote.participant_id)
        .where(Participant.study_id == study.id)
    ).all()
    failures: dict[int, int] = {}
    catch_votes: dict[int, int] = {}
    for pid, choice, correct in catch_rows:
        catch_votes[pid] = catch_votes.get(pid, 0) + 1
        failures[pid] = failures.get(pid, 0) + int(choice != correct)
    ratings = session.scalar(
        select(func.count(ExpertRating.id))
        .join(Expert, Expert.id == ExpertRating.expert_id)
        .where(Expert.study_id == study.id)
    )
    frame = pd.DataFrame(
        [
            {
                "participant": participant_label(p.id),
                "started": p.created_at,
                "votes": per_voter.get(p.id, (0, 0, 0))[0],
                "pairs": assigned.get(p.id, 0),
                "finished": p.finished_at is not None,
                "catch_trials": catch_votes.get(p.id, 0),
                "catch_failures": failures.get(p.id, 0),
                "excluded": failures.get(p.id, 0) > study.max_catch_failures,
                "blurs": per_voter.get(p.id, (0, 0, 0))[1],
                "over_time": per_voter.get(p.id, (0, 0, 0))[2],
            }
            for p in people
        ],
        columns=[
            "participant",
            "started",
            "votes",
            "pairs",
            "finished",
            "catch_trials",
            "catch_failures",
            "excluded",
            "blurs",
            "over_time",
        ],
    )
    return StudyProgress(
        participants=len(people),
        finished=int(frame["finished"].sum()) if len(frame) else 0,
        votes=sum(n for n, _, _ in per_voter.values()),
        assigned=sum(assigned.values()),
        catch_votes=sum(catch_votes.values()),
        catch_failures=sum(failures.values()),
        excluded=int(frame["excluded"].sum()) if len(frame) else 0,
        ratings=int(ratings or 0),
        frame=frame,
    )
