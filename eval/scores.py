"""Classification scores: confusion matrix, macro-F1, UAR and accuracy, by hand.

Conventions (those of scikit-learn's defaults, which the MEGC baselines use):
- macro-F1 averages the per-class F1 over the classes that occur in the truth or in the
  predictions; a class with no true and no predicted sample is left out; a class with
  precision + recall = 0 counts 0.
- UAR (unweighted average recall) averages recall over the classes present in the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; rows are true classes, columns predictions."""
    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    if t.shape != p.shape:
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    cm = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(cm, (t, p), 1)
    return cm


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 of each class (NaN where the class has neither true nor predicted samples)."""
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    denom = support + predicted  # 2TP + FP + FN
    f1 = np.full(len(cm), np.nan)
    present = denom > 0
    f1[present] = 2 * tp[present] / denom[present]
    return f1


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    f1 = per_class_f1(confusion_matrix(y_true, y_pred, n_classes))
    return float(np.nanmean(f1)) if np.any(~np.isnan(f1)) else float("nan")


def uar(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    return float(np.mean(t == p)) if len(t) else float("nan")


@dataclass(frozen=True)
class ClassificationScores:
    """Macro-F1, UAR and accuracy of one set of predictions, with its confusion matrix."""

    f1: float
    uar: float
    accuracy: float
    n: int
    confusion: np.ndarray

    @classmethod
    def of(
        cls, y_true: Sequence[int], y_pred: Sequence[int], n_classes: int
    ) -> ClassificationScores:
        return cls(
            f1=macro_f1(y_true, y_pred, n_classes),
            uar=uar(y_true, y_pred, n_classes),
            accuracy=accuracy(y_true, y_pred),
            n=len(y_true),
            confusion=confusion_matrix(y_true, y_pred, n_classes),
        )

    def row(self) -> dict[str, float | int]:
        return {"f1": self.f1, "uar": self.uar, "accuracy": self.accuracy, "n": self.n}
