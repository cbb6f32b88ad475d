"""Augmented recognition (the paper's Table VII): recognizers trained on real plus
generated clips, L = L_real + lambda * L_gen.

Protocol: the MEGC2019 composite split 7:3 by subject. The composite is the published list
(`generation.data.composite`): `fme prepare` labels a clip with the list's label and leaves
the clips the list leaves out unlabelled, and only labelled clips take part here. Generated clips come only from
the training split: each training clip's first (onset) frame is a target, and other
training clips drive it (n training clips give up to n(n-1) generated clips). The ratio
R.D.:G.D. = 1:k asks for k generated clips per real training clip. No subject of the test
split is used anywhere in generation or training; `plan_pairs` checks it.

Generated clips are cached under OUT/generated/<generator id>/ (one .npz per
target x driver pair, at the recognizer's frame count and size), so a second run with the
same generator only trains.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.clips import FRAMES, SIZE, ClipBank, fit_frames, label_index, sample_indices
from fme.core.errors import ConfigError, DataError
from fme.core.options import int_list
from fme.core.outputs import atomic_open, write_csv_atomic, write_text_atomic
from generation.data.clip import LABELS

log = logging.getLogger(__name__)

# generator(target (H,W,3) uint8, target_landmarks (68,2), driving (T,H,W,3) uint8,
#           driving_landmarks (T,68,2)) -> generated frames (T,H',W',3) uint8
Generator = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SourceClip:
    """A real training clip as generation needs it: frames and landmarks, onset to offset."""

    key: str
    subject: str
    label: str
    frame_paths: tuple[Path, ...]
    landmarks: np.ndarray  # (len(frame_paths), 68, 2)

    def frames_at(self, index: Sequence[int]) -> np.ndarray:
        from generation.data.video import read_image

        return np.stack([read_image(self.frame_paths[i]) for i in index])


def source_clips(roots: Sequence[str | Path]) -> list[SourceClip]:
    """Labelled clips of prepared folders with their landmarks, onset to offset."""
    from generation.data.prepared import load_prepared

    out = []
    for root in roots:
        for clip in load_prepared(root):
            if clip.label not in LABELS:
                continue
            paths = list(clip.frame_paths())
            lo, hi = sorted((int(clip.onset_index), int(clip.offset_index)))
            hi = min(hi, len(paths) - 1)
            lo = min(lo, hi)
            out.append(
                SourceClip(
                    key=clip.key,
                    subject=f"{clip.dataset}/{clip.subject}",
                    label=clip.label,
                    frame_paths=tuple(paths[lo : hi + 1]),
                    landmarks=np.asarray(clip.landmarks())[lo : hi + 1],
                )
            )
    if not out:
        raise DataError("no labelled prepared clips", ", ".join(map(str, roots)))
    return out


def real_bank(
    clips: Sequence[SourceClip],
    frames: int,
    size: int,
    progress: bool = True,
    transform: str = "square",
) -> ClipBank:
    from tqdm import tqdm

    arrays = []
    for c in tqdm(clips, desc="reading real clips", unit="clip", disable=not progress):
        index = sample_indices(0, len(c.frame_paths) - 1, frames)
        arrays.append(fit_frames(c.frames_at(index), size, transform))
    labels = np.array([label_index(c.label, c.key) for c in clips], dtype=int)
    return ClipBank(np.stack(arrays), labels, [c.subject for c in clips], [c.key for c in clips])


def plan_pairs(
    train: Sequence[SourceClip],
    n_wanted: int,
    seed: int,
    test_subjects: Sequence[str] = (),
) -> list[tuple[int, int]]:
    """(target index, driver index) pairs over the training clips, i != j, in a seeded
    random order; at most n(n-1). Raises when a test subject would be used."""
    forbidden = set(test_subjects)
    leaked = sorted({c.subject for c in train} & forbidden)
    if leaked:
        raise AssertionError(f"test subjects in the generation pool: {leaked}")
    n = len(train)
    total = n * (n - 1)
    n_wanted = max(0, min(n_wanted, total))
    if n_wanted == 0:
        return []
    rng = np.random.default_rng(seed)
    flat = rng.choice(total, size=n_wanted, replace=False) if total > 0 else np.array([], int)
    pairs = []
    for f in flat:
        i, r = divmod(int(f), n - 1)
        j = r if r < i else r + 1  # skip the diagonal
        pairs.append((i, j))
    return pairs


def _safe(key: str) -> str:
    return key.replace("/", "_").replace("\\", "_")


def generate_bank(
    train: Sequence[SourceClip],
    pairs: Sequence[tuple[int, int]],
    generator: Generator,
    cache_dir: Path,
    frames: int = FRAMES,
    size: int = SIZE,
    progress: bool = True,
    transform: str = "square",
) -> tuple[ClipBank, int]:
    """Generated clips for `pairs` (label = the driver's), from the cache when present.
    Returns the bank and how many clips were newly generated."""
    from tqdm import tqdm

    cache_dir.mkdir(parents=True, exist_ok=True)
    clips, labels, subjects, keys = [], [], [], []
    made = 0
    for i, j in tqdm(pairs, desc="generating clips", unit="clip", disable=not progress):
        target, driver = train[i], train[j]
        path = cache_dir / f"{_safe(target.key)}__{_safe(driver.key)}.npz"
        clip = None
        if path.is_file():
            try:
                with np.load(path) as z:
                    clip = z["clip"]
            except (OSError, ValueError, KeyError):
                clip = None  # a damaged cache entry is made again
        if clip is None or clip.shape != (frames, size, size, 3):
            idx = sample_indices(0, len(driver.frame_paths) - 1, frames)
            out = generator(
                target.frames_at([0])[0],
                target.landmarks[0],
                driver.frames_at(idx),
                driver.landmarks[idx],
            )
            clip = fit_frames(np.asarray(out, dtype=np.uint8), size, transform)
            with atomic_open(path, "wb") as fh:
                np.savez_compressed(fh, clip=clip, label=driver.label)
            made += 1
        clips.append(clip)
        labels.append(label_index(driver.label, driver.key))
        subjects.append(target.subject)
        keys.append(f"{target.key}<-{driver.key}")
    if not clips:
        empty = np.zeros((0, frames, size, size, 3), np.uint8)
        return ClipBank(empty, np.zeros(0, int), [], []), 0
    return ClipBank(np.stack(clips), np.array(labels, dtype=int), subjects, keys), made


def checkpoint_generator(path: str | Path, device: str = "cpu") -> tuple[Generator, str]:
    """A Generator from a trained animation checkpoint, and an id for the cache."""
    from generation.animation.animate import animate_clip
    from generation.checkpoints.checkpoint import load_model

    path = Path(path)
    if not path.is_file():
        raise ConfigError("animation checkpoint not found", path, "Train one with `fme train`.")
    model = load_model(path, device=device)
    stat = path.stat()
    ident = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()

    def generate(target, target_lm, driving, driving_lm):
        return animate_clip(
            model, target, target_lm, driving, driving_lm, mode="relative", device=device
        )

    return generate, ident[:12]


@dataclass(frozen=True)
class AugmentRow:
    ratio: int
    backbone: str
    n_real: int
    n_generated: int
    f1: float
    uar: float
    accuracy: float


def run_protocol(
    clips: Sequence[SourceClip],
    generator: Generator,
    generator_id: str,
    out: Path,
    ratios: Sequence[int],
    backbones: Sequence[str],
    base_config,
    max_generated: int | None = None,
    progress: bool = True,
    kinetics: dict | None = None,
) -> tuple[list[AugmentRow], dict]:
    """Split 7:3 by subject, generate from the training split only, train and score every
    (ratio, backbone). `kinetics` (backbone -> eval.kinetics.KineticsWeights) starts each
    backbone from its file, every clip then seen as those weights were trained. Returns
    the rows and a record of what was used."""
    from dataclasses import replace

    from eval.scores import ClassificationScores
    from eval.train import predict, split_subjects, train_recognizer

    subjects = [c.subject for c in clips]
    (train_s, test_s) = split_subjects(subjects, "7:3", base_config.seed)[0]
    train = [c for c in clips if c.subject in set(train_s)]
    test = [c for c in clips if c.subject in set(test_s)]
    if not train or not test:
        raise DataError("the 7:3 split left no training or no test clips; add subjects")
    frames, size = base_config.frames, base_config.size
    kinetics = kinetics or {}
    transform = "kinetics" if kinetics else "square"
    want = max(ratios) * len(train)
    if max_generated is not None:
        want = min(want, max_generated)
    pairs = plan_pairs(train, want, base_config.seed, test_s)
    suffix = "-kinetics" if transform == "kinetics" else ""
    cache = out / "generated" / f"{generator_id}-t{frames}-s{size}{suffix}"
    gen_all, made = generate_bank(train, pairs, generator, cache, frames, size, progress, transform)
    record = {
        "train_subjects": train_s,
        "test_subjects": test_s,
        "n_train": len(train),
        "n_test": len(test),
        "n_pairs": len(pairs),
        "newly_generated": made,
        "generation_subjects": sorted(
            {train[i].subject for i, _ in pairs} | {train[j].subject for _, j in pairs}
        ),
        "cache": str(cache),
        "transform": transform,
        "kinetics": {b: w.record() for b, w in kinetics.items()},
    }
    real_train = real_bank(train, frames, size, progress, transform)
    real_test = real_bank(test, frames, size, progress, transform)
    rows = []
    for backbone in backbones:
        for ratio in ratios:
            n_gen = min(ratio * len(train), len(gen_all))
            gen = gen_all.subset(np.arange(n_gen)) if n_gen else None
            weights = kinetics.get(backbone)
            config = replace(
                base_config,
                backbone=backbone,
                kinetics=weights.path if weights else None,
            )
            res = train_recognizer(config, real_train, gen, progress=progress)
            pred = predict(res.model, real_test, device=config.device).argmax(1)
            sc = ClassificationScores.of(real_test.labels, pred, len(LABELS))
            rows.append(AugmentRow(ratio, backbone, len(train), n_gen, sc.f1, sc.uar, sc.accuracy))
            log.info("%s 1:%d F1 %.3f acc %.3f", backbone, ratio, sc.f1, sc.accuracy)
    return rows, record


def stale_label_notes(roots: Sequence[str | Path]) -> list[str]:
    """Notes for prepared folders whose manifest predates the published composite list
    (no `emotion_label` column: their labels came from the emotion rule)."""
    import csv

    notes = []
    for root in roots:
        manifest = Path(root) / "manifest.csv"
        with manifest.open(newline="") as fh:
            header = next(csv.reader(fh), [])
        if "emotion_label" not in header:
            notes.append(
                f"{manifest}: prepared before the published MEGC2019 composite list labelled "
                "the clips (labels from the emotion rule); run `fme prepare` again for the "
                "composite's clip set"
            )
    return notes


def composite_coverage(clips: Sequence[SourceClip]) -> dict[str, dict[str, int]]:
    """Per dataset: labelled clips used, and how many clips the published list holds."""
    from generation.data.composite import COMPOSITE_COUNTS

    used: dict[str, int] = {}
    for c in clips:
        dataset = c.key.split("/", 1)[0]
        used[dataset] = used.get(dataset, 0) + 1
    return {
        d: {"used": n, "listed_in_composite": COMPOSITE_COUNTS.get(d, 0)}
        for d, n in sorted(used.items())
    }


def table_vii(rows: Sequence[AugmentRow]):
    """One row per R.D.:G.D. ratio, F1 and accuracy per backbone (the Table VII layout)."""
    import pandas as pd

    from eval.recognizers import DISPLAY_NAMES

    ratios = sorted({r.ratio for r in rows})
    backbones = list(dict.fromkeys(r.backbone for r in rows))
    out = []
    for ratio in ratios:
        row: dict[str, object] = {"R.D.:G.D.": f"1:{ratio}"}
        for b in backbones:
            hit = [r for r in rows if r.ratio == ratio and r.backbone == b]
            name = DISPLAY_NAMES.get(b, b)
            row[f"{name} F1"] = hit[0].f1 if hit else float("nan")
            row[f"{name} Acc"] = hit[0].accuracy if hit else float("nan")
            row["generated"] = hit[0].n_generated if hit else 0
        out.append(row)
    return pd.DataFrame(out)


def run_augment(args: argparse.Namespace, generator: Generator | None = None) -> int:
    """`fme eval augment` (a `generator` may be injected by tests and benchmarks)."""
    from eval.recognizers import parse_backbones
    from eval.train import kinetics_files
    from fme.core.locks import locked
    from fme.core.outputs import output_dir

    try:  # a list from the parser, or the text a caller passes
        ratios = sorted(
            set(args.ratios if isinstance(args.ratios, list) else int_list(args.ratios))
        )
    except argparse.ArgumentTypeError as err:
        raise ConfigError(f"--ratios: {err}") from None
    backbones = parse_backbones(args.backbones)
    kinetics = kinetics_files(args, backbones)  # checked before generating or training
    out = output_dir(args.out, existing="replace")
    with locked(out):  # the clip cache in --out/generated is shared by the runs into --out
        return _augment(args, out, ratios, backbones, kinetics, generator)


AUGMENT_FILES = ("table_vii.csv", "table_vii.md", "table_vii.tex", "runs.csv", "protocol.json")


def _augment(args, out: Path, ratios, backbones, kinetics, generator) -> int:
    import pandas as pd

    from eval.table import write_tables
    from eval.train import TrainConfig, resolve_device
    from fme.core.outputs import output_set

    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    if generator is None:
        if not args.checkpoint:
            raise ConfigError("--checkpoint is required: a trained animation model (`fme train`)")
        generator, gen_id = checkpoint_generator(args.checkpoint, device)
    else:
        gen_id = getattr(generator, "cache_id", "injected")
    config = TrainConfig(
        width=args.width,
        frames=args.frames,
        size=args.size,
        iterations=args.iterations,
        batch_size=args.batch_size,
        gen_batch_size=args.batch_size,
        lr=args.lr,
        gen_weight=args.gen_weight,
        class_weights=args.class_weights,
        seed=args.seed,
        device=device,
    )
    clips = source_clips(args.data)
    rows, record = run_protocol(
        clips,
        generator,
        gen_id,
        out,
        ratios,
        backbones,
        config,
        args.max_generated,
        progress=not args.quiet,
        kinetics=kinetics,
    )
    record["clips_per_dataset"] = composite_coverage(clips)
    record["notes"] = stale_label_notes(args.data)
    for note in record["notes"]:
        log.warning(note)
        print(f"note: {note}")
    frame = table_vii(rows)
    # the tables are swapped in together; the clip cache (generated/) stays as it is
    with output_set(out, "fme eval augment", owns=lambda _: list(AUGMENT_FILES)) as stage:
        write_tables(
            frame,
            stage / "table_vii",
            caption="Augmented recognition: real plus generated training clips",
        )
        write_csv_atomic(pd.DataFrame([r.__dict__ for r in rows]), stage / "runs.csv", index=False)
        write_text_atomic(stage / "protocol.json", json.dumps(record, indent=1))
        print((stage / "table_vii.md").read_text())
    return 0
