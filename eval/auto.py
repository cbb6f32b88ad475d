"""Automatic evaluation (the paper's Table VI): recognizers trained on real clips score
generated sets.

Each generated video carries its driving clip's 3-class label; every recognizer
(MC3-18, R(2+1)D-18, R3D-18) predicts a class per video; a set's score per backbone is
macro-F1 and accuracy, and the figure is the average over the backbones. The real
driving clips are the reference row; a prior variant (`fomm-awp`) is compared with its
vanilla model (`fomm`) when both are scored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eval.scores import ClassificationScores
from fme.core.errors import ConfigError
from fme.core.outputs import atomic_path, write_csv_atomic, write_text_atomic
from generation.data.clip import LABELS

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

REAL = "Real"
#: the files of `fme eval auto` in its --out (others there are kept)
AUTO_FILES = (
    "table_vi.csv",
    "table_vi.md",
    "table_vi.tex",
    "predictions.csv",
    "notes.txt",
    "table_vi.html",
)
# Column order of Table VI.
TABLE_ORDER: tuple[str, ...] = ("mc3_18", "r2plus1d_18", "r3d_18")


@dataclass(frozen=True)
class SetResult:
    """One scored set: per-backbone scores and the predictions behind them."""

    label: str
    scores: dict[str, ClassificationScores]
    predictions: pd.DataFrame

    @property
    def mean_f1(self) -> float:
        return float(np.mean([s.f1 for s in self.scores.values()]))

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean([s.accuracy for s in self.scores.values()]))


def score_predictions(
    label: str, y_true: Sequence[int], predictions: Mapping[str, Sequence[int]]
) -> dict[str, ClassificationScores]:
    """Per-backbone scores of fixed predictions (class indices into LABELS)."""
    return {b: ClassificationScores.of(y_true, p, len(LABELS)) for b, p in predictions.items()}


def _normalise(label: str) -> str:
    return label.strip().lower().replace("+", "-").replace(" ", "-").replace("_", "-")


def vanilla_of(label: str, labels: Sequence[str]) -> str | None:
    """The set a prior variant is compared with: the longest proper '-'-prefix of its
    name that is another set's label (`FOMM+AWP` -> `FOMM`, `mraa-awp` -> `mraa`)."""
    norm = {_normalise(x): x for x in labels}
    parts = _normalise(label).split("-")
    for n in range(len(parts) - 1, 0, -1):
        prefix = "-".join(parts[:n])
        if prefix in norm and norm[prefix] != label:
            return norm[prefix]
    return None


def table_vi(results: Sequence[SetResult], backbones: Sequence[str] | None = None) -> pd.DataFrame:
    """The Table VI layout: one row per set (real clips first when present), per-backbone
    F1 and accuracy, their averages, and each prior variant's gain over its vanilla model."""
    import pandas as pd

    from eval.recognizers import DISPLAY_NAMES

    if backbones is None:
        present = {b for r in results for b in r.scores}
        backbones = [b for b in TABLE_ORDER if b in present] + sorted(present - set(TABLE_ORDER))
    ordered = sorted(results, key=lambda r: r.label != REAL)
    labels = [r.label for r in ordered if r.label != REAL]
    by_label = {r.label: r for r in ordered}
    rows = []
    for r in ordered:
        row: dict[str, object] = {"Method": r.label}
        for b in backbones:
            s = r.scores.get(b)
            name = DISPLAY_NAMES.get(b, b)
            row[f"{name} F1"] = s.f1 if s else float("nan")
            row[f"{name} Acc"] = s.accuracy if s else float("nan")
        row["Average F1"] = r.mean_f1
        row["Average Acc"] = r.mean_accuracy
        base = vanilla_of(r.label, labels) if r.label != REAL else None
        row["vs vanilla"] = base or ""
        row["Gain F1"] = r.mean_f1 - by_label[base].mean_f1 if base else float("nan")
        row["Gain Acc"] = r.mean_accuracy - by_label[base].mean_accuracy if base else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def load_recognizers(folder: str | Path) -> dict[str, tuple]:
    """Every `*.pt` recognizer checkpoint of a folder, by backbone (model, info)."""
    from eval.recognizers import load_recognizer

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(
            "recognizer folder not found",
            folder,
            "Train recognizers with `fme eval train-recognizers --out DIR`.",
        )
    found: dict[str, tuple] = {}
    for path in sorted(folder.glob("*.pt")):
        model, info = load_recognizer(path)
        if info.backbone in found:
            raise ConfigError(
                f"two checkpoints of {info.backbone} in one folder",
                path,
                "Keep one checkpoint per backbone.",
            )
        found[info.backbone] = (model, info)
    if not found:
        raise ConfigError(
            "no recognizer checkpoints (*.pt) in folder",
            folder,
            "Train recognizers with `fme eval train-recognizers --out DIR`.",
        )
    return found


def score_bank(
    label: str, recognizers: Mapping[str, tuple], items, device: str = "cpu", progress: bool = True
) -> tuple[SetResult, list[str]]:
    """Read a set's videos once per input shape and score them with every recognizer."""
    import pandas as pd

    from eval.clips import load_bank
    from eval.train import predict

    banks: dict[tuple[int, int, str], object] = {}
    notes: list[str] = []
    scores, frames = {}, []
    for backbone, (model, info) in recognizers.items():
        # frames seen as the recognizer was trained (Kinetics-started ones: 128x171, crop)
        shape = (info.frames, info.size, info.transform)
        if shape not in banks:
            banks[shape] = load_bank(
                items, info.frames, info.size, name=label, progress=progress, transform=shape[2]
            )
            notes += banks[shape].notes
        bank = banks[shape]
        probs = predict(model, bank, device=device)
        pred = probs.argmax(1)
        scores[backbone] = ClassificationScores.of(bank.labels, pred, len(LABELS))
        frames.append(
            pd.DataFrame(
                {
                    "set": label,
                    "backbone": backbone,
                    "video": bank.keys,
                    "label": [LABELS[i] for i in bank.labels],
                    "prediction": [LABELS[i] for i in pred],
                }
            )
        )
    return SetResult(label, scores, pd.concat(frames, ignore_index=True)), notes


def _parse_sets(pairs: Sequence[str]) -> list[tuple[str, Path]]:
    out = []
    for text in pairs:
        label, sep, folder = text.partition("=")
        if not sep or not label or not folder:
            raise ConfigError(f"--set {text!r}: write LABEL=DIR, e.g. --set fomm-awp=megc/fomm-awp")
        if label == REAL:
            raise ConfigError(f"--set {text!r}: the label {REAL!r} is kept for --real")
        out.append((label, Path(folder)))
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise ConfigError("--set labels must be distinct")
    return out


@dataclass
class AutoResult:
    """Table VI of scored sets: the table (one row per set, the real clips first), every
    video's prediction per backbone, the notes of reading, and the files written."""

    table: pd.DataFrame
    predictions: pd.DataFrame
    notes: list[str]
    out: Path

    def markdown(self) -> str:
        return (self.out / "table_vi.md").read_text()


def parse_sets(pairs: Sequence[str]) -> dict[str, Path]:
    """`--set LABEL=DIR` options as {label: folder} (labels distinct, `Real` kept for
    the real clips)."""
    return dict(_parse_sets(pairs))


def score_sets(
    recognizers: str | Path,
    sets: Mapping[str, str | Path],
    real: str | Path | None = None,
    out: str | Path | None = None,
    *,
    device: str = "auto",
    progress: bool = True,
) -> AutoResult:
    """Score each generated set (label -> folder of `<driving>-<template>.mp4`) and the
    real driving clips with every recognizer in the folder `recognizers`; write Table VI
    (CSV, Markdown, LaTeX, HTML), `predictions.csv`, `notes.txt` and a figure to `out`
    (default RECOGNIZERS/auto)."""
    import pandas as pd

    from eval.clips import (
        is_prepared_root,
        prepared_driver_lookup,
        prepared_items,
        video_set_items,
    )
    from eval.table import write_tables
    from eval.train import resolve_device
    from fme.core.outputs import not_an_input, output_dir, output_set

    if real and not Path(real).exists():
        raise ConfigError(
            "--real: folder not found",
            real,
            "Give the real driving clips: a prepared folder or a labelled video folder.",
        )
    out = Path(out or Path(recognizers) / "auto")
    output_dir(out, existing="replace")
    not_an_input(out, recognizers=recognizers)
    device = resolve_device(device)
    sets = [(label, Path(folder)) for label, folder in sets.items()]
    if not sets and not real:
        raise ConfigError("nothing to score: give --set LABEL=DIR (and optionally --real DIR)")
    loaded = load_recognizers(recognizers)
    real_prepared = real and is_prepared_root(real)
    drivers = prepared_driver_lookup([real]) if real_prepared else {}
    lookup = {name: label for name, (label, _) in drivers.items()}
    set_items = []
    for label, folder in sets:
        items = video_set_items(folder, lookup, label)
        # frames from the driving clip's onset to offset, as for the real clips
        items = [
            replace(i, span=drivers[i.driving][1]) if i.driving in drivers else i for i in items
        ]
        set_items.append((label, items))
    jobs = []
    if real:
        if real_prepared:
            real_items = prepared_items([real])
            used = {i.driving for _, items in set_items for i in items}
            chosen = [
                r
                for r in real_items
                if r.driving in used or f"{r.key.split('/')[1]}_{r.driving}" in used
            ]
            if chosen:
                log.info("real clips: the %d driving clips of the sets", len(chosen))
                real_items = chosen
        else:
            real_items = video_set_items(real, None, REAL)
        jobs.append((REAL, real_items))
    jobs += set_items
    results, notes, preds = [], [], []
    for label, items in jobs:
        res, n = score_bank(label, loaded, items, device, progress=progress)
        results.append(res)
        notes += n
        preds.append(res.predictions)
    frame = table_vi(results)
    predictions = pd.concat(preds, ignore_index=True)
    # the tables and predictions are swapped into --out together, or not at all
    with output_set(out, "fme eval auto", owns=lambda _: list(AUTO_FILES)) as stage:
        write_tables(
            frame,
            stage / "table_vi",
            caption="Automatic evaluation: macro-F1 and accuracy of recognizers trained on "
            "real clips",
        )
        write_csv_atomic(predictions, stage / "predictions.csv", index=False)
        write_text_atomic(stage / "notes.txt", "\n".join(notes) + ("\n" if notes else ""))
        _figure(frame, stage / "table_vi.html")
    return AutoResult(frame, predictions, notes, out)


def _figure(frame: pd.DataFrame, path: Path) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for col in [c for c in frame.columns if c.endswith(" F1") and not c.startswith("Gain")]:
        fig.add_bar(name=col.removesuffix(" F1"), x=frame["Method"], y=frame[col])
    fig.update_layout(barmode="group", title="Macro-F1 per recognizer", yaxis_title="macro-F1")
    with atomic_path(path) as tmp:
        fig.write_html(tmp, include_plotlyjs="cdn")
