"""Training and scoring the recognizers on the MEGC2019 composite (3 classes).

`train_recognizer` is the one training loop: Adam (lr 1e-4) with step decay, batches of
32 real clips, optional class weighting, and optionally a second stream of generated
clips with L = L_real + lambda * L_gen (augmented recognition, `eval.augment`).
`fme eval train-recognizers` runs it per backbone under the subject-independent 7:3
split or leave-one-subject-out (LOSO; predictions pooled over folds before one
macro-F1, as MEB does) and writes checkpoints and score tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eval.clips import FRAMES, SIZE, ClipBank, to_input
from eval.scores import ClassificationScores
from fme.core.errors import ConfigError, DataError
from fme.core.outputs import atomic_path, write_csv_atomic, write_text_atomic
from generation.data.clip import LABELS

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    backbone: str = "r3d_18"
    width: float = 1.0
    frames: int = FRAMES
    size: int = SIZE
    iterations: int = 150
    batch_size: int = 32
    lr: float = 1e-4
    # step decay: lr *= lr_gamma every lr_step iterations (default: 2/3 of the run)
    lr_step: int | None = None
    lr_gamma: float = 0.1
    class_weights: bool = False
    # augmented recognition: batch of generated clips and lambda in L_real + lambda * L_gen
    gen_batch_size: int = 32
    gen_weight: float = 1.0
    flip: bool = True
    seed: int = 0
    device: str = "cpu"
    kinetics: str | None = None  # the torchvision Kinetics-400 file to start from

    @property
    def transform(self) -> str:
        """How clips become input (eval.clips.TRANSFORMS): as the Kinetics weights were
        trained when starting from them, else the central square."""
        return "kinetics" if self.kinetics else "square"


@dataclass
class TrainResult:
    model: object
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    clips_seen: int = 0


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available here; use cpu or auto")
    return name


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weight_vector(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights N / (C * n_c), 0 for a class absent from training."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(labels) / (present.sum() * counts[present])
    return w


class _Sampler:
    """Endless shuffled passes over range(n), seeded."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n, self.rng, self.order, self.pos = n, rng, np.array([], dtype=int), 0

    def take(self, k: int) -> np.ndarray:
        out = []
        while len(out) < k:
            if self.pos >= len(self.order):
                self.order, self.pos = self.rng.permutation(self.n), 0
            take = min(k - len(out), len(self.order) - self.pos)
            out.extend(self.order[self.pos : self.pos + take])
            self.pos += take
        return np.asarray(out, dtype=int)


def _batch(bank: ClipBank, index: np.ndarray, flip: bool, rng: np.random.Generator):
    clips = bank.clips[index]
    if flip:
        mirrored = rng.random(len(index)) < 0.5
        clips = clips.copy()
        clips[mirrored] = clips[mirrored][:, :, :, ::-1]
    return to_input(clips), bank.labels[index]


def train_recognizer(
    config: TrainConfig,
    real: ClipBank,
    generated: ClipBank | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train one recognizer on `real` (and `generated`, weighted by config.gen_weight)."""
    import time

    import torch
    from tqdm import tqdm

    from eval.recognizers import build, load_kinetics

    if len(real) == 0:
        raise DataError("no training clips")
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model = build(config.backbone, len(LABELS), config.width)
    if config.kinetics:
        skipped = load_kinetics(model, config.kinetics)
        log.info(
            "%s: Kinetics-400 weights from %s (new: %s)",
            config.backbone,
            config.kinetics,
            ", ".join(skipped) or "none",
        )
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    step = config.lr_step or max(1, (2 * config.iterations) // 3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=config.lr_gamma)
    weight = None
    if config.class_weights:
        weight = torch.tensor(class_weight_vector(real.labels, len(LABELS)), dtype=torch.float32)
        weight = weight.to(device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    rng = np.random.default_rng(config.seed)
    real_sampler = _Sampler(len(real), rng)
    gen_sampler = (
        _Sampler(len(generated), rng) if generated is not None and len(generated) else None
    )
    result = TrainResult(model=model)
    start = time.perf_counter()
    bar = tqdm(range(config.iterations), desc=f"train {config.backbone}", disable=not progress)
    for _ in bar:
        x, y = _batch(real, real_sampler.take(min(config.batch_size, len(real))), config.flip, rng)
        logits = model(x.to(device))
        loss = loss_fn(logits, torch.as_tensor(y, device=device))
        result.clips_seen += len(y)
        if gen_sampler is not None and config.gen_weight > 0:
            xg, yg = _batch(generated, gen_sampler.take(config.gen_batch_size), config.flip, rng)
            loss_gen = loss_fn(model(xg.to(device)), torch.as_tensor(yg, device=device))
            loss = loss + config.gen_weight * loss_gen
            result.clips_seen += len(yg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        result.losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{result.losses[-1]:.3f}")
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


def predict(model, bank: ClipBank, batch_size: int = 8, device: str = "cpu") -> np.ndarray:
    """Class probabilities (N, C) of every clip of `bank`."""
    import torch

    model.eval().to(device)
    out = []
    with torch.inference_mode():
        for i in range(0, len(bank), batch_size):
            x = to_input(bank.clips[i : i + batch_size]).to(device)
            out.append(torch.softmax(model(x).float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)))


# ---- splits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    subject: str


def _pairs(result) -> list[tuple[list[str], list[str]]]:
    """Normalise a splits function's result to [(train_subjects, test_subjects), ...]."""
    if isinstance(result, tuple) and len(result) == 2 and not isinstance(result[0], tuple):
        result = [result]
    pairs = []
    for train, test in result:
        pairs.append(
            (
                sorted({getattr(s, "subject", s) for s in train}),
                sorted({getattr(s, "subject", s) for s in test}),
            )
        )
    return pairs


def split_subjects(subjects: Sequence[str], protocol: str, seed: int):
    """[(train_subjects, test_subjects), ...] for "7:3" (one pair) or "loso"."""
    uniq = sorted(set(subjects))
    if len(uniq) < 2:
        raise DataError(
            f"subject-independent evaluation needs at least 2 subjects, found {len(uniq)}"
        )
    try:
        from generation.data import splits
    except ImportError:
        splits = None
    if protocol == "7:3":
        if splits is not None:
            pairs = _pairs(splits.split_7_3(uniq, seed))
        else:
            order = list(np.random.default_rng(seed).permutation(uniq))
            n_test = min(len(uniq) - 1, max(1, round(0.3 * len(uniq))))
            pairs = [(sorted(order[n_test:]), sorted(order[:n_test]))]
    elif protocol == "loso":
        if splits is not None:
            pairs = _pairs(splits.leave_one_subject_out(uniq))
        else:
            pairs = [([s for s in uniq if s != t], [t]) for t in uniq]
    else:
        raise ConfigError(f"unknown protocol {protocol!r}; choose 7:3 or loso")
    for train, test in pairs:
        if set(train) & set(test):
            raise AssertionError("a subject is in both the training and the test split")
    return pairs


# ---- the command ------------------------------------------------------------------------


def kinetics_files(args: argparse.Namespace, backbones: Sequence[str]) -> dict:
    """The checked `--kinetics` file of every backbone ({} without the option)."""
    from eval.kinetics import resolve_kinetics

    return resolve_kinetics(getattr(args, "kinetics", None), backbones, args.width, args.size)


def _config_from_args(
    args: argparse.Namespace, backbone: str, kinetics: dict | None = None
) -> TrainConfig:
    weights = (kinetics or {}).get(backbone)
    return TrainConfig(
        backbone=backbone,
        width=args.width,
        frames=args.frames,
        size=args.size,
        iterations=args.iterations,
        batch_size=args.batch_size,
        lr=args.lr,
        class_weights=args.class_weights,
        seed=args.seed,
        device=resolve_device(args.device),
        kinetics=weights.path if weights else None,
    )


def _start_record(config: TrainConfig, kinetics: dict) -> dict:
    """What a saved recognizer says about its start: the Kinetics file (name, sha256)."""
    weights = kinetics.get(config.backbone)
    return {"kinetics": weights.record() if weights else None, "transform": config.transform}


def run_training(args: argparse.Namespace) -> int:
    """`fme eval train-recognizers`."""
    from eval.recognizers import parse_backbones
    from fme.core.outputs import output_dir, output_set

    backbones = parse_backbones(args.backbones)
    kinetics = kinetics_files(args, backbones)  # every file checked before any training
    final = output_dir(args.out, existing="replace")  # checkpoints and tables written again
    # built aside and swapped into --out when every recognizer is trained
    with output_set(final, "fme eval train-recognizers", owns=_own_entries) as staged:
        return _train_all(args, staged.path, backbones, kinetics)


def _own_entries(out: Path) -> list[str]:
    """The entries of a recognizer folder that `fme eval train-recognizers` writes."""
    from eval.recognizers import BACKBONES

    return [*RECOGNIZER_FILES, *(f"{b}.pt" for b in BACKBONES)]


RECOGNIZER_FILES = (
    "splits.json",
    "scores.csv",
    "scores.md",
    "scores.tex",
    "predictions.csv",
    "losses.csv",
    "config.json",
    "losses.html",
)


def _train_all(args: argparse.Namespace, out: Path, backbones: list[str], kinetics: dict) -> int:
    import pandas as pd

    from eval.clips import load_bank, prepared_items
    from eval.recognizers import RecognizerInfo, save_recognizer
    from eval.table import write_tables

    items = prepared_items(args.data)
    transforms = {"kinetics" if b in kinetics else "square" for b in backbones}
    banks = {
        t: load_bank(items, args.frames, args.size, name="prepared clips", transform=t)
        for t in sorted(transforms)
    }
    bank = next(iter(banks.values()))
    folds = split_subjects(bank.subjects, args.protocol, args.seed)
    write_text_atomic(
        out / "splits.json", json.dumps([{"train": tr, "test": te} for tr, te in folds], indent=1)
    )
    rows, pred_rows, loss_rows = [], [], []
    subj = np.array(bank.subjects)
    for backbone in backbones:
        config = _config_from_args(args, backbone, kinetics)
        bank = banks[config.transform]
        y_true, y_pred = [], []
        for k, (train_s, test_s) in enumerate(folds):
            train = bank.subset(np.flatnonzero(np.isin(subj, train_s)))
            test = bank.subset(np.flatnonzero(np.isin(subj, test_s)))
            if len(train) == 0 or len(test) == 0:
                continue
            res = train_recognizer(config, train, progress=not args.quiet)
            probs = predict(res.model, test, device=config.device)
            pred = probs.argmax(1)
            y_true += list(test.labels)
            y_pred += list(pred)
            loss_rows += [
                {"backbone": backbone, "fold": k, "iteration": i + 1, "loss": v}
                for i, v in enumerate(res.losses)
            ]
            for key, s, t, p, pr in zip(test.keys, test.subjects, test.labels, pred, probs):
                pred_rows.append(
                    {
                        "backbone": backbone,
                        "fold": k,
                        "key": key,
                        "subject": s,
                        "label": LABELS[t],
                        "prediction": LABELS[p],
                        **{f"p_{c}": float(v) for c, v in zip(LABELS, pr)},
                    }
                )
            if args.protocol == "7:3":
                info = RecognizerInfo(
                    backbone,
                    config.width,
                    LABELS,
                    config.frames,
                    config.size,
                    extra={
                        "protocol": "7:3",
                        "seed": args.seed,
                        "train_subjects": train_s,
                        "test_subjects": test_s,
                        "iterations": config.iterations,
                        **_start_record(config, kinetics),
                    },
                    transform=config.transform,
                )
                save_recognizer(out / f"{backbone}.pt", res.model, info)
        if args.protocol == "loso":
            # the recognizer kept for scoring generated sets is fit on every subject
            res = train_recognizer(config, bank, progress=not args.quiet)
            info = RecognizerInfo(
                backbone,
                config.width,
                LABELS,
                config.frames,
                config.size,
                extra={
                    "protocol": "loso-final",
                    "seed": args.seed,
                    "iterations": config.iterations,
                    **_start_record(config, kinetics),
                },
                transform=config.transform,
            )
            save_recognizer(out / f"{backbone}.pt", res.model, info)
        sc = ClassificationScores.of(y_true, y_pred, len(LABELS))
        rows.append(
            {
                "backbone": backbone,
                "protocol": args.protocol,
                "f1": sc.f1,
                "uar": sc.uar,
                "accuracy": sc.accuracy,
                "n_test": sc.n,
            }
        )
        log.info(
            "%s (%s): F1 %.3f UAR %.3f acc %.3f on %d held-out clips",
            backbone,
            args.protocol,
            sc.f1,
            sc.uar,
            sc.accuracy,
            sc.n,
        )
    frame = pd.DataFrame(rows)
    write_tables(frame, out / "scores", caption="Recognizers on held-out subjects")
    write_csv_atomic(pd.DataFrame(pred_rows), out / "predictions.csv", index=False)
    write_csv_atomic(pd.DataFrame(loss_rows), out / "losses.csv", index=False)
    options = {k: v for k, v in vars(args).items() if k != "func"}
    write_text_atomic(
        out / "config.json",
        json.dumps({"options": options, "config": asdict(config)}, indent=1, default=str),
    )
    _loss_figure(pd.DataFrame(loss_rows), out / "losses.html")
    print((out / "scores.md").read_text())
    return 0


def _loss_figure(losses, path: Path) -> None:
    if losses.empty:
        return
    import plotly.express as px

    fig = px.line(
        losses,
        x="iteration",
        y="loss",
        color="backbone",
        line_group="fold",
        title="Recognizer training loss",
    )
    with atomic_path(path) as tmp:
        fig.write_html(tmp, include_plotlyjs="cdn")
