"""Subject-independent splits: k-fold by subject, leave-one-subject-out, and 7:3.

Every function takes subject names, or items with a `.subject` (Clip, PreparedClip), and
returns a list of `(train_subjects, test_subjects)` pairs of sorted subject lists, so that
no subject is ever on both sides. The same seed gives the same split on any machine.
`select(items, subjects)` then picks the items of a side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np

from fme.core.errors import ConfigError

T = TypeVar("T")
Split = tuple[list[str], list[str]]


def subject_of(item: object) -> str:
    """The subject of an item (its `.subject`) or the item itself when it is a name."""
    return str(getattr(item, "subject", item))


def unique_subjects(items: Iterable[object]) -> list[str]:
    """Sorted distinct subjects of names or items with `.subject`."""
    return sorted({subject_of(x) for x in items})


def _need(subjects: list[str], n: int, what: str) -> None:
    if len(subjects) < n:
        raise ConfigError(
            f"{what} needs at least {n} subjects, found {len(subjects)}",
            hint="Add subjects or choose another protocol.",
        )


def _shuffled(subjects: list[str], seed: int) -> list[str]:
    order = np.random.default_rng(seed).permutation(len(subjects))
    return [subjects[i] for i in order]


def subject_kfold(subjects: Iterable[object], k: int = 5, seed: int = 0) -> list[Split]:
    """k folds of whole subjects: each subject is tested exactly once; fold sizes differ by
    at most one subject."""
    subs = unique_subjects(subjects)
    if k < 2:
        raise ConfigError(f"k-fold needs k >= 2, got {k}")
    _need(subs, k, f"{k}-fold splitting")
    order = _shuffled(subs, seed)
    folds = [sorted(order[i::k]) for i in range(k)]
    return [(sorted(set(subs) - set(test)), test) for test in folds]


def leave_one_subject_out(subjects: Iterable[object]) -> list[Split]:
    """One split per subject, which alone is the test side."""
    subs = unique_subjects(subjects)
    _need(subs, 2, "leave-one-subject-out")
    return [([s for s in subs if s != t], [t]) for t in subs]


def split_7_3(subjects: Iterable[object], seed: int = 0, test_fraction: float = 0.3) -> list[Split]:
    """One split with about 30 % of the subjects (at least one, never all) for testing."""
    subs = unique_subjects(subjects)
    _need(subs, 2, "a 7:3 split")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test fraction must lie in (0, 1), got {test_fraction}")
    n_test = min(len(subs) - 1, max(1, round(test_fraction * len(subs))))
    order = _shuffled(subs, seed)
    return [(sorted(order[n_test:]), sorted(order[:n_test]))]


def select(items: Sequence[T], subjects: Iterable[str]) -> list[T]:
    """The items whose subject is in `subjects`, in their order."""
    keep = set(subjects)
    return [x for x in items if subject_of(x) in keep]
