"""Subject-independent splits: no subject on both sides, every subject tested, seeded."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fme.core.errors import ConfigError
from generation.data.splits import (
    leave_one_subject_out,
    select,
    split_7_3,
    subject_kfold,
    unique_subjects,
)

SUBJECTS = [f"sub{i:02d}" for i in range(1, 12)]  # 11 subjects


@dataclass(frozen=True)
class Item:
    subject: str
    name: str


def test_kfold_partitions_subjects():
    folds = subject_kfold(SUBJECTS, k=3, seed=1)
    assert len(folds) == 3
    tests = [t for _, t in folds]
    assert sorted(s for t in tests for s in t) == SUBJECTS  # each subject tested exactly once
    assert sorted(len(t) for t in tests) == [3, 4, 4]
    for train, test in folds:
        assert not set(train) & set(test)
        assert sorted(train + test) == SUBJECTS


def test_kfold_seed_decides_and_repeats():
    assert subject_kfold(SUBJECTS, 3, seed=1) == subject_kfold(SUBJECTS, 3, seed=1)
    assert subject_kfold(SUBJECTS, 3, seed=1) != subject_kfold(SUBJECTS, 3, seed=2)
    # input order and duplicates do not change the split
    assert subject_kfold(SUBJECTS[::-1] + SUBJECTS, 3, seed=1) == subject_kfold(SUBJECTS, 3, 1)


def test_loso():
    splits = leave_one_subject_out([Item(s, "a") for s in SUBJECTS[:4]] + [Item("sub01", "b")])
    assert [t for _, t in splits] == [["sub01"], ["sub02"], ["sub03"], ["sub04"]]
    assert splits[2][0] == ["sub01", "sub02", "sub04"]


def test_7_3_split_sizes_and_items():
    ((train, test),) = split_7_3(SUBJECTS, seed=0)
    assert len(test) == 3 and len(train) == 8  # round(0.3 * 11) = 3
    assert sorted(train + test) == SUBJECTS and not set(train) & set(test)
    assert split_7_3(SUBJECTS, seed=0) == split_7_3(SUBJECTS, seed=0)
    assert {tuple(split_7_3(SUBJECTS, seed=s)[0][1]) for s in range(10)} != {tuple(test)}
    items = [Item(s, f"{s}-{k}") for s in SUBJECTS for k in range(2)]
    chosen = select(items, test)
    assert len(chosen) == 6 and {i.subject for i in chosen} == set(test)
    ((_, test2),) = split_7_3(["a", "b"], seed=0)
    assert len(test2) == 1  # never all subjects on one side


def test_too_few_subjects():
    with pytest.raises(ConfigError, match="at least 4 subjects"):
        subject_kfold(SUBJECTS[:3], k=4)
    with pytest.raises(ConfigError, match="at least 2 subjects"):
        split_7_3(["only"], seed=0)
    assert unique_subjects([Item("b", ""), "a", Item("a", "")]) == ["a", "b"]
