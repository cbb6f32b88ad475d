"""Test helpers for the study side: tiny method folders of MP4s and a migrated database."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from db.engine import make_engine, session_factory
from db.migrate import upgrade

SAMPLES = ["007_7_1-normalized_westernMale", "sub17_EP01_13-normalized_asianFemale"]


def tiny_clip(seed: int, n: int = 4, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def make_method_dirs(
    root: Path, labels: list[str], samples: list[str] | None = None, n_frames: int = 4
) -> dict[str, Path]:
    """One folder per label holding `<sample>.mp4` for each sample (distinct content)."""
    from generation.data.video import write_mp4

    samples = SAMPLES if samples is None else samples
    dirs = {}
    for i, label in enumerate(labels):
        folder = root / label.replace("+", "_").lower()
        folder.mkdir(parents=True, exist_ok=True)
        for j, sample in enumerate(samples):
            write_mp4(folder / f"{sample}.mp4", tiny_clip(100 * i + j, n_frames), fps=10)
        dirs[label] = folder
    return dirs


def make_db(path: Path):
    """A migrated SQLite database file: (url, engine, session factory)."""
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    return url, engine, session_factory(engine)


def write_votes_csv(path: Path, pairs: int = 4, participants: int = 6, flip: int = 0):
    """A votes CSV as the admin page exports it: one set (FOMM vs FOMM+EWP), every
    participant voting on every pair, choices and sides by a fixed pattern (`flip` shifts
    the choices: another study's votes). Returns the frame."""
    import pandas as pd

    rows = [
        {
            "set_name": "FOMM vs FOMM+EWP",
            "method_a": "FOMM",
            "method_b": "FOMM+EWP",
            "pair_id": i + 1,
            "sample": f"drv{i}-tmpl",
            "participant": f"p{j}",
            "choice": "A" if (i + j + flip) % 3 else "B",
            "a_side": "left" if (i + j) % 2 else "right",
            "is_catch": 0,
        }
        for i in range(pairs)
        for j in range(participants)
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame
