"""Votes checked before any statistics: one study, one vote per participant and pair, no
method against itself, catch trials known.

`screen_votes` is the report's first step. It

- keeps one study: a votes CSV whose `study` column names several studies is refused
  unless one is chosen (`study=`), since pair ids repeat across studies and their votes
  would merge;
- removes exact duplicate rows and a participant's second (and later) vote on a pair,
  keeping the first (by `created_at` when present, else by row order), and counts both
  (`duplicates="refuse"` refuses them instead);
- recognises catch trials without an `is_catch` column by what the export writes (set
  "catch", method B "corrupted"; the intact video is A, so `catch_passed` is a vote for A),
  and refuses rows that look half like catch trials, naming the column to add.

`study.stats.check_votes` (which every statistic runs) refuses what is left: several
studies, a repeated vote, a set of a method against itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from fme.core.errors import DataError
from study.record import OneRow
from study.tables import Column, Table

CATCH_SET = "catch"
CATCH_METHOD = "corrupted"


@dataclass(frozen=True)
class VoteScreen(OneRow):
    """What `screen_votes` found: rows in, rows kept, exact duplicates and second votes
    removed, catch rows recognised without `is_catch`, and the study kept."""

    rows: int
    kept: int
    exact_duplicates: int
    second_votes: int
    catch_recognised: int
    study: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def tables(self) -> list:

        frame = pd.DataFrame(
            [
                ("rows read", self.rows),
                ("exact duplicate rows removed", self.exact_duplicates),
                ("second votes on a pair removed (first kept)", self.second_votes),
                ("catch votes recognised without is_catch", self.catch_recognised),
                ("rows kept", self.kept),
            ],
            columns=["check", "count"],
        ).set_index("check")
        study = f" of study {self.study}" if self.study else ""
        return [
            Table(
                "vote_checks",
                frame,
                [Column("check", "check"), Column("count", "rows", kind="int")],
                f"Votes checked before the statistics{study}: one study, one vote per "
                "participant and pair, catch trials known, no method against itself",
            )
        ]


def recognise_catch(votes: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A frame without `is_catch` gets it from the export's signature; rows that match it
    only in part are refused."""
    if "is_catch" in votes.columns:
        return votes, 0
    set_name = votes["set_name"].astype(str).str.strip()
    method_b = votes["method_b"].astype(str).str.strip()
    method_a = votes["method_a"].astype(str).str.strip()
    both = (set_name == CATCH_SET) & (method_b == CATCH_METHOD)
    half = (
        (set_name == CATCH_SET) | (method_b == CATCH_METHOD) | (method_a == CATCH_METHOD)
    ) & ~both
    if half.any():
        row = int(half.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{int(half.sum())} vote(s) look like catch trials (set {set_name.iat[row]!r}, "
            f"methods {method_a.iat[row]!r} vs {method_b.iat[row]!r}) but the votes have no "
            "is_catch column",
            hint="Add an is_catch column (true for catch trials, false otherwise), or export "
            "the votes again from the admin page.",
        )
    out = votes.copy()
    out["is_catch"] = both.to_numpy()
    if both.any() and "catch_passed" not in out.columns:
        choice = out["choice"].astype(str).str.strip().str.upper()
        out["catch_passed"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
        out.loc[both, "catch_passed"] = (choice[both] == "A").to_numpy()
    return out, int(both.sum())


def select_study(votes: pd.DataFrame, study: str | None = None) -> tuple[pd.DataFrame, str]:
    """One study's votes; several studies without a choice are refused."""
    if "study" not in votes.columns:
        if study is not None:
            raise DataError(
                f"the votes have no study column, so study {study!r} cannot be chosen",
                hint="Leave out --study, or export the votes again (the export has it).",
            )
        return votes, ""
    names = votes["study"].astype(str).str.strip()
    present = sorted(names.unique())
    if study is not None:
        if study not in present:
            raise DataError(
                f"no votes of study {study!r}; the votes hold {', '.join(present[:5])}",
                hint="Name one of those studies with --study.",
            )
        return votes.loc[names == study].reset_index(drop=True), study
    if len(present) > 1:
        raise DataError(
            f"the votes hold {len(present)} studies ({', '.join(present[:5])}); their pair ids "
            "repeat, so their votes would merge",
            hint="Report one study at a time: pass --study NAME.",
        )
    return votes, present[0] if present else ""


def screen_votes(
    votes: pd.DataFrame, *, study: str | None = None, duplicates: str = "first"
) -> tuple[pd.DataFrame, VoteScreen]:
    """The votes the statistics may use, and what was removed (see the module)."""
    if duplicates not in ("first", "refuse"):
        raise ValueError(f"duplicates must be 'first' or 'refuse', got {duplicates!r}")
    rows = len(votes)
    df, name = select_study(votes, study)
    df, recognised = recognise_catch(df)
    keys = [c for c in ("participant", "pair_id") if c in df.columns]
    notes: list[str] = []
    exact = second = 0
    if len(keys) == 2:
        df = df.copy()
        df["_order"] = range(len(df))
        if "created_at" in df.columns:
            df = df.sort_values(["created_at", "_order"], kind="stable")
        ident = df[keys].astype(str)
        compare = [c for c in df.columns if c != "_order"]
        exact_mask = df[compare].astype(str).duplicated(keep="first")
        exact = int(exact_mask.sum())
        later = ident.duplicated(keep="first") & ~exact_mask
        second = int(later.sum())
        if duplicates == "refuse" and (exact or second):
            raise DataError(
                f"{exact} duplicated row(s) and {second} second vote(s) of a participant on a pair",
                hint="Each participant votes once per pair; export the votes again.",
            )
        df = df.loc[~(exact_mask | later)].sort_values("_order").drop(columns="_order")
        df = df.reset_index(drop=True)
        if exact:
            notes.append(f"{exact} exact duplicate row(s) removed.")
        if second:
            notes.append(
                f"{second} second vote(s) of a participant on a pair removed (the first counts)."
            )
    if recognised:
        notes.append(
            f"{recognised} catch-trial vote(s) recognised by set {CATCH_SET!r} and method "
            f"{CATCH_METHOD!r} (the votes have no is_catch column)."
        )
    return df, VoteScreen(rows, len(df), exact, second, recognised, name, tuple(notes))
