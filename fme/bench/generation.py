"""`fme bench generation`: the objective check of the variants on the synthetic corpus.

It writes a small synthetic corpus (`generation.synth`), prepares it like a dataset
(`generation.face.prepare`), trains each variant briefly at a small size with the same
subject hold-out as `fme train`, and then, on the held-out subjects only, drives each
held-out identity j with every held-out clip i of another subject. The corpus renders
the truth of "j driven by i" (`render_cross`), cropped as `fme prepare` crops j.

Per video: per-frame L1 (0-1 intensities) and SSIM against the truth, and the error of
the driven landmark motion: the landmarks of the generated frames (upsampled x4, in the
target's face box) minus those at the onset frame, against the true motion of the
landmarks, at the frames around the apex (+-2) and on the 20 landmarks the expression
moves most, in % of the inter-ocular distance. The landmarks are tracked as `fme prepare`
tracks them (dlib on the onset frame, then Lucas-Kanade: `generation.face.tracking`); the
column "dlib" measures with dlib on every frame instead, a coarser measure. The baseline
returns the target unchanged (its motion is 0; its error is the size of the true motion);
"measure on the truth" applies both measures to the rendered truth: their floors.
AU fidelity (`au_scores`): the landmark estimator's AU curves of the tracked frames against
the driving clip's, by `generation.au.fidelity.au_fidelity` (r of the upper and the lower
face, MAE); on the truth row the rendered truth's, the baseline's AUs 0.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fme.bench.common import markdown
from fme.core.outputs import write_csv_atomic, write_text_atomic
from generation.animation.magnify import Magnification
from generation.face.tracking import lk_track_video, scale_box, upsample_gray
from generation.models import TRAINABLE_VARIANTS

BASELINE = "target unchanged"
MEASURE_FLOOR = "measure on the truth"


@dataclass
class Pair:
    """One evaluation video: identity `target` driven by clip `clip_key`."""

    target: str
    clip_key: str
    target_image: np.ndarray  # (S, S, 3) uint8 at the driving onset
    target_landmarks: np.ndarray  # (68, 2) dlib, crop pixels
    face_rect: tuple[float, float, float, float]  # dlib face box in crop pixels
    driving: np.ndarray  # (T, S, S, 3)
    driving_landmarks: np.ndarray
    onset: int
    apex: int
    truth: np.ndarray  # (T, S, S, 3)
    truth_landmarks: np.ndarray  # (T, 68, 2) exact, crop pixels
    moving: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # landmark indices


@dataclass
class Scores:
    l1: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)
    motion_dlib: list[float] = field(default_factory=list)
    au_r_upper: list[float] = field(default_factory=list)
    au_r_lower: list[float] = field(default_factory=list)
    au_mae: list[float] = field(default_factory=list)
    seconds: float = 0.0
    final_loss: float = float("nan")


def _crop(frames: np.ndarray, box, size: int) -> np.ndarray:
    from generation.face.detect import crop_resize

    return np.stack([crop_resize(f, box, size) for f in frames])


def _gray3(frames: np.ndarray) -> np.ndarray:
    from generation.face.detect import to_gray

    g = np.stack([to_gray(f) for f in frames])
    return np.repeat(g[..., None], 3, axis=-1)


def dlib_track(frames: np.ndarray, rect, scale: int = 4) -> np.ndarray:
    """dlib landmarks (T, 68, 2) of small frames, upsampled by `scale` for the predictor,
    in the face box `rect` (crop pixels), mapped back to crop pixels."""
    from generation.face.detect import landmarks68

    box = scale_box(rect, scale)
    out = [(landmarks68(big, box) + 0.5) / scale - 0.5 for big in upsample_gray(frames, scale)]
    return np.stack(out).astype(np.float32)


def motion_error(pair: Pair, tracked: np.ndarray | None) -> float:
    """% IOD error of the landmark motion around the apex (None: the target unchanged)."""
    window = range(max(0, pair.apex - 2), min(len(pair.truth_landmarks), pair.apex + 3))
    true = pair.truth_landmarks[list(window)] - pair.truth_landmarks[pair.onset]
    if tracked is None:
        moved = np.zeros_like(true)
    else:
        onset = tracked[max(0, pair.onset - 2) : pair.onset + 3].mean(0)
        moved = tracked[list(window)] - onset
    idx = pair.moving
    lm = pair.truth_landmarks[pair.onset]
    iod = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
    err = np.linalg.norm(moved[:, idx] - true[:, idx], axis=-1).mean()
    return 100.0 * float(err) / iod


def au_scores(pair: Pair, tracked: np.ndarray | None, scores: Scores) -> None:
    """Append the AU fidelity (`generation.au.fidelity.au_fidelity`) of a video whose
    landmarks were `tracked` (None: the target unchanged, whose AUs are 0 in every frame, as
    the estimator gives for a still video) to the driving clip's AU curves, both from the
    landmark estimator relative to the driving onset: r of the upper and the lower face, and
    the MAE over all estimated AUs (mean of the two halves)."""
    from generation.au import AUTrack
    from generation.au.estimator import estimate_from_landmarks
    from generation.au.fidelity import au_fidelity

    driving = estimate_from_landmarks(pair.driving_landmarks, pair.onset)
    if tracked is None:
        generated = AUTrack(np.zeros_like(driving.values), meta=dict(driving.meta))
    else:
        generated = estimate_from_landmarks(tracked, pair.onset)
    fid = au_fidelity(driving, generated)
    scores.au_r_upper.append(fid.r_upper)
    scores.au_r_lower.append(fid.r_lower)
    scores.au_mae.append(float(np.nanmean([fid.mae_upper, fid.mae_lower])))


def frame_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean per-frame L1 (0-1) and SSIM (gray) of a video against the truth."""
    from skimage.metrics import structural_similarity

    from generation.face.detect import to_gray

    l1 = float(np.abs(pred.astype(np.float32) - truth.astype(np.float32)).mean() / 255.0)
    ssim = float(
        np.mean(
            [
                structural_similarity(to_gray(p), to_gray(t), data_range=255)
                for p, t in zip(pred, truth)
            ]
        )
    )
    return l1, ssim


def make_pairs(corpus: Path, prepared: Path, size: int, holdout: float, seed: int) -> list[Pair]:
    """The evaluation videos among the held-out subjects (identity j != clip's subject)."""
    from generation.data.frame_pairs import holdout_split
    from generation.data.prepared import load_prepared
    from generation.face.detect import landmarks68, to_gray
    from generation.face.prepare import to_crop_coords
    from generation.synth import render_cross

    clips = load_prepared(prepared)
    _, held = holdout_split(clips, holdout, seed)
    subjects = sorted({c.subject for c in held})
    driving: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # each clip read once, not per target
    pairs = []
    for target in subjects:
        own = next(c for c in held if c.subject == target)
        with np.load(own.dir / "landmarks.npz") as npz:
            box = tuple(int(v) for v in npz["box"])
            face = tuple(int(v) for v in npz["face_box"])
        for clip in held:
            if clip.subject == target:
                continue
            key = f"{clip.subject}/{clip.clip_id}"
            frames, lms = render_cross(corpus, target, key)
            onset = clip.onset_index
            if clip.key not in driving:
                driving[clip.key] = (clip.frames(), clip.landmarks())
            truth = _gray3(_crop(frames, box, size))
            truth_lm = to_crop_coords(lms, box, size)
            dlib_lm = to_crop_coords(
                landmarks68(to_gray(frames[onset]), face, upsample=0), box, size
            )
            rect = tuple(
                float(v)
                for v in to_crop_coords(np.array(face, float).reshape(2, 2), box, size).ravel()
            )
            apex = int(np.argmax(np.abs(truth_lm - truth_lm[onset]).sum((1, 2))))
            disp = np.linalg.norm(truth_lm[apex] - truth_lm[onset], axis=-1)
            pairs.append(
                Pair(
                    target=target,
                    clip_key=clip.key,
                    target_image=truth[onset],
                    target_landmarks=dlib_lm,
                    face_rect=rect,  # type: ignore[arg-type]
                    driving=driving[clip.key][0],
                    driving_landmarks=driving[clip.key][1],
                    onset=onset,
                    apex=apex,
                    truth=truth,
                    truth_landmarks=truth_lm,
                    moving=np.argsort(-disp)[:20],
                )
            )
    return pairs


def evaluate(model, pairs: list[Pair], scores: Scores, magnify=None) -> None:
    """Every pair animated by `model` (the driving clip magnified first where `magnify`, a
    `generation.animation.magnify.Magnification`, is given), scored into `scores`."""
    from generation.animation.animate import animate_clip, resize_frames

    for pair in pairs:
        size = pair.truth.shape[1]
        driving, driving_lm = resize_frames(pair.driving, pair.driving_landmarks, size)
        pred = animate_clip(
            model,
            pair.target_image,
            pair.target_landmarks,
            driving,
            driving_lm,
            onset_index=pair.onset,
            magnify=magnify,
        )
        l1, ssim = frame_scores(pred, pair.truth)
        scores.l1.append(l1)
        scores.ssim.append(ssim)
        tracked = lk_track_video(pred, pair.face_rect, pair.onset)
        scores.motion.append(motion_error(pair, tracked))
        au_scores(pair, tracked, scores)
        scores.motion_dlib.append(motion_error(pair, dlib_track(pred, pair.face_rect)))


def au_columns(scores: Scores) -> dict[str, float]:
    """The AU-fidelity columns of a row: mean r (upper, lower face; videos whose driving
    clip moves no AU of that half left out) and mean MAE over the videos."""
    return {
        "AU r upper": float(np.nanmean(scores.au_r_upper)) if scores.au_r_upper else np.nan,
        "AU r lower": float(np.nanmean(scores.au_r_lower)) if scores.au_r_lower else np.nan,
        "AU MAE": float(np.nanmean(scores.au_mae)) if scores.au_mae else np.nan,
    }


def beats(scores: Scores, base: Scores, margin: float = 0.01) -> bool:
    """Lower motion error than the baseline by more than `margin` % IOD (a tie, e.g. a
    model whose output does not move, is not a win)."""
    return bool(np.mean(scores.motion) < np.mean(base.motion) - margin)


def _run_configs(args: argparse.Namespace, variants: list[str]) -> list:
    """The run config of each variant, every option checked (ConfigError naming it)."""
    import yaml

    from fme.core.errors import ConfigError
    from generation.config import build_run_config, config_path, default_config_name, read_yaml

    if not variants:
        raise ConfigError("--variants names no variant")
    try:
        milestones = tuple(float(m) for m in args.milestones.split(",") if m.strip())
    except ValueError:
        raise ConfigError(
            f"--milestones: expected comma-separated fractions of the run, got {args.milestones!r}",
            hint="E.g. --milestones 0.6,0.9 (or 1.0 for none).",
        ) from None
    changes = {}
    if args.model_changes:
        try:
            changes = yaml.safe_load(args.model_changes)
        except yaml.YAMLError as err:
            reason = " ".join(str(err).split())
            raise ConfigError(f"--model-changes: not YAML ({reason})") from None
        if changes is None:
            changes = {}
        if not isinstance(changes, dict):
            raise ConfigError(
                f"--model-changes: expected a YAML mapping, got {args.model_changes!r}",
                hint="E.g. --model-changes '{prior: {grouping: sequential}}'.",
            )
    overrides = {
        "iterations": args.iterations,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "milestones": milestones,
        "holdout": args.holdout,
        "seed": args.seed,
        "sample_every": 0,
        "checkpoint_every": 0,
        "log_every": 10,
        "size": args.size,
    }
    if args.driving_jitter is not None:
        overrides["driving_jitter"] = args.driving_jitter
    made = []
    for variant in variants:
        path = config_path(default_config_name(args.size, variant))
        data = read_yaml(path)
        data["model"] = {**(data.get("model") or {})}
        from generation.config import merge

        data["model"] = merge(data["model"], changes)
        made.append(build_run_config(variant, data, "--model-changes", overrides))
    return made


def _same_run(out: Path, run_cfg) -> None:
    """ConfigError when --work already holds a run of this variant made with another model
    config (a rerun would resume it and ignore --model-changes)."""
    from fme.core.errors import ConfigError
    from generation.checkpoints.checkpoint import read_checkpoint

    ckpt = out / "checkpoint.pt"
    if not ckpt.is_file():
        return
    saved = read_checkpoint(ckpt)["config"].get("model") or {}

    def leaves(data, prefix=""):
        if isinstance(data, dict):
            for key, value in data.items():
                yield from leaves(value, f"{prefix}{key}.")
        else:
            yield prefix, list(data) if isinstance(data, tuple) else data

    before = dict(leaves(saved))
    if any(before.get(key, value) != value for key, value in leaves(run_cfg.model)):
        raise ConfigError(
            f"--work holds a {run_cfg.variant} run made with another model config "
            "(e.g. other --model-changes), which this bench would resume unchanged",
            out,
            "Give a new --work, or remove that run folder.",
        )


def baseline_and_floor(pairs: list[Pair]) -> tuple[Scores, Scores]:
    """The scores of the baseline (the target unchanged) and the measures' floor (both
    landmark measures applied to the rendered truth)."""
    base, floor = Scores(), Scores()
    for pair in pairs:
        still = np.repeat(pair.target_image[None], len(pair.truth), axis=0)
        l1, ssim = frame_scores(still, pair.truth)
        base.l1.append(l1)
        base.ssim.append(ssim)
        still_motion = motion_error(pair, None)  # a still video: both trackers read no motion
        base.motion.append(still_motion)
        base.motion_dlib.append(still_motion)
        au_scores(pair, None, base)
        truth_tracked = lk_track_video(pair.truth, pair.face_rect, pair.onset)
        floor.motion.append(motion_error(pair, truth_tracked))
        au_scores(pair, truth_tracked, floor)
        floor.motion_dlib.append(motion_error(pair, dlib_track(pair.truth, pair.face_rect)))
    return base, floor


def bench_table(base: Scores, methods: dict[str, Scores], floor: Scores):
    """The bench's table: the baseline, a row per method, the measures' floor."""
    import pandas as pd

    rows = []
    for name, s in [(BASELINE, base), *methods.items()]:
        rows.append(
            {
                "method": name,
                "L1": np.mean(s.l1),
                "SSIM": np.mean(s.ssim),
                "motion error (% IOD)": np.mean(s.motion),
                "beats baseline on motion": "" if name == BASELINE else beats(s, base),
                "motion error, dlib (% IOD)": np.mean(s.motion_dlib),
                **au_columns(s),
                "train L1 (last step)": s.final_loss if name != BASELINE else np.nan,
                "seconds": s.seconds if name != BASELINE else np.nan,
            }
        )
    rows.append(
        {
            "method": MEASURE_FLOOR,
            "motion error (% IOD)": np.mean(floor.motion),
            "motion error, dlib (% IOD)": np.mean(floor.motion_dlib),
            **au_columns(floor),
        }
    )
    return pd.DataFrame(rows)


def _alphas(text: str) -> list[float]:
    """`--magnify`'s ALPHAs, each checked as the options' positive numbers are
    (ConfigError naming the option)."""
    from fme.core.errors import ConfigError
    from fme.core.options import positive_float

    try:
        return [positive_float(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as err:
        raise ConfigError(
            f"--magnify {text}: {err}", hint="Give positive ALPHAs separated by commas, e.g. 2,4."
        ) from None


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fme bench generation", description=__doc__.split("\n")[0])
    p.add_argument(
        "--variants", default=",".join(TRAINABLE_VARIANTS), help="comma-separated variants"
    )
    p.add_argument("--iterations", type=int, default=300, help="training steps per variant")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3, help="higher than 2e-4 for a short run")
    p.add_argument(
        "--milestones",
        default="1.0",
        help="fractions of the run where lr / 10 (default: none in a short run)",
    )
    p.add_argument("--size", type=int, default=64, help="prepared/training image side")
    p.add_argument(
        "--driving-jitter",
        type=float,
        default=None,
        help="train.driving_jitter (default: the packaged config's, 0.03; 0: off): a random "
        "similarity motion of half the driving frames",
    )
    p.add_argument("--subjects", type=int, default=8)
    p.add_argument("--clips-per-subject", type=int, default=2)
    p.add_argument(
        "--holdout",
        type=float,
        default=0.5,
        help="fraction of subjects held out (8 x 0.5: 24 held-out videos of 4 identities)",
    )
    p.add_argument(
        "--model-changes",
        default=None,
        help="YAML mapping merged into every variant's model config, e.g. "
        "'{prior: {grouping: sequential}}' for the TPSMM prior variants",
    )
    p.add_argument(
        "--magnify",
        default="",
        help="comma-separated ALPHAs: each trained variant is also driven by the clips "
        "magnified by ALPHA (as `fme animate --magnify`), one row each",
    )
    p.add_argument("--work", default=None, help="folder for corpus, data and runs (kept)")
    p.add_argument("--out", default=None, help="write generation_bench.csv/.md/.tex here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    import tempfile

    import torch

    from generation.checkpoints.checkpoint import load_model
    from generation.face.prepare import PrepareConfig, prepare_dataset
    from generation.synth import SynthConfig, write_corpus
    from generation.training.train import train

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    alphas = _alphas(args.magnify)
    # every option is checked before the corpus is made and a variant trained
    run_configs = _run_configs(args, variants)
    tmp = None
    if args.work:
        work = Path(args.work)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="fme-bench-generation-")
        work = Path(tmp.name)
    start = time.perf_counter()
    corpus, prepared = work / "corpus", work / "prepared"
    if not (corpus / "synth.json").is_file():
        write_corpus(
            corpus,
            SynthConfig(args.subjects, args.clips_per_subject, args.seed, size=128),
            progress=False,
        )
    prepare_dataset("casme2", corpus, prepared, PrepareConfig(size=args.size), progress=False)
    pairs = make_pairs(corpus, prepared, args.size, args.holdout, args.seed)
    if not pairs:
        print("no evaluation pairs: hold out at least two subjects (--holdout, --subjects)")
        return 1
    setup_s = time.perf_counter() - start
    results: dict[str, Scores] = {}
    magnified_rows: dict[str, Scores] = {}
    base, floor = baseline_and_floor(pairs)
    for variant, run_cfg in zip(variants, run_configs):
        torch.manual_seed(args.seed)
        t0 = time.perf_counter()
        out = work / "runs" / variant
        _same_run(out, run_cfg)
        result = train(
            run_cfg, prepared, out, device=args.device, resume=out.exists(), progress=False
        )
        model = load_model(result.checkpoint, args.device)
        scores = Scores(final_loss=result.losses.get("l1", float("nan")))
        evaluate(model, pairs, scores)
        scores.seconds = time.perf_counter() - t0
        results[variant] = scores
        for alpha in alphas:
            magnified = Scores(final_loss=scores.final_loss)
            t1 = time.perf_counter()
            evaluate(model, pairs, magnified, Magnification(alpha))
            magnified.seconds = time.perf_counter() - t1
            magnified_rows[f"{variant}, magnify {alpha:g}"] = magnified

    table = bench_table(base, {**results, **magnified_rows}, floor)
    print(
        f"{len(pairs)} held-out videos ({len({p.target for p in pairs})} identities), "
        f"{args.iterations} steps per variant at {args.size} px, batch {args.batch_size}, "
        f"lr {args.lr:g}; setup {setup_s:.0f} s\n"
    )
    print(markdown(table))
    if args.out:
        out_dir = Path(args.out)
        write_csv_atomic(table, out_dir / "generation_bench.csv", index=False)
        write_text_atomic(out_dir / "generation_bench.md", markdown(table) + "\n")
        write_text_atomic(
            out_dir / "generation_bench.tex", table.to_latex(index=False, float_format="%.4f")
        )
    if tmp is not None:
        tmp.cleanup()
    failing = [v for v, s in results.items() if not beats(s, base)]
    return 1 if failing else 0
