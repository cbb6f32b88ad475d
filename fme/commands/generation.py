"""`fme train`, `fme animate`, `fme megc`, `fme import-checkpoint`: the generation engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fme.core.errors import ConfigError
from fme.core.options import (
    device_name,
    fraction,
    frame_rate,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from generation.au.sources import add_au_source_options
from generation.face.presence import POLICIES, POLICY_HELP
from generation.models import TRAINABLE_VARIANTS

VARIANT_HELP = ", ".join(TRAINABLE_VARIANTS)
REGIONS = ("all", "exp", "pose", "lip", "eyes")


def add_motion_options(p: argparse.ArgumentParser) -> None:
    """The motion options of `fme animate` and `fme megc`: magnification and the motion
    factor (every keypoint family), LivePortrait's animation options."""
    p.add_argument(
        "--magnify",
        type=non_negative_float,
        default=None,
        metavar="ALPHA",
        help="linear Eulerian magnification of the driving frames (Wu et al. 2012; landmarks "
        "by the same gain), the motion read then divided by 1 + ALPHA (relative mode)",
    )
    p.add_argument(
        "--magnify-filter",
        default="onset",
        choices=("onset", "band"),
        help="the temporal filter: the change since the onset (default) or an ideal band",
    )
    p.add_argument(
        "--magnify-band",
        type=non_negative_float,
        nargs=2,
        default=(0.5, 10.0),
        metavar=("LOW", "HIGH"),
        help="the band in Hz at --magnify-fps (--magnify-filter band)",
    )
    p.add_argument(
        "--magnify-fps", type=frame_rate, default=100.0, help="the driving clip's frame rate"
    )
    p.add_argument(
        "--motion-scale",
        type=positive_float,
        default=1.0,
        help="factor on the driving motion (keypoint displacement from the onset; "
        "LivePortrait: the expression delta); default 1",
    )
    p.add_argument(
        "--animation-region",
        default=None,
        choices=REGIONS,
        help="LivePortrait: the motion taken (default all)",
    )
    p.add_argument(
        "--no-stitching",
        dest="stitching",
        action="store_false",
        default=None,
        help="LivePortrait: stitching off (on by default)",
    )
    p.add_argument(
        "--driving-multiplier",
        type=non_negative_float,
        default=None,
        help="LivePortrait: the reference's expression multiplier, x_s + (x_d - x_s) * X",
    )
    p.add_argument(
        "--pose-friendly",
        action="store_const",
        const="pose-friendly",
        dest="driving_option",
        default=None,
        help="LivePortrait: the reference's pose-friendly option (default expression-friendly)",
    )


def motion_options(args: argparse.Namespace) -> dict:
    """`animate_clip` / `make_megc_set` keywords of `add_motion_options`."""
    from generation.animation.magnify import Magnification

    magnify = None
    if args.magnify is not None:
        low, high = args.magnify_band
        magnify = Magnification(args.magnify, args.magnify_filter, args.magnify_fps, low, high)
    return {"magnify": magnify, "motion_scale": args.motion_scale}


def animation_options(args: argparse.Namespace) -> dict:
    return {
        "region": args.animation_region,
        "stitching": args.stitching,
        "multiplier": args.driving_multiplier,
        "driving_option": args.driving_option,
    }


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a motion-transfer model on prepared clips",
        description=(
            "Train a FOMM, MRAA or FAMGAN variant on the output of `fme prepare`. Writes RUN/config.yaml, "
            "holdout.csv, log.csv, checkpoint.pt, checkpoints/ and samples/. Several GPUs: "
            "`torchrun --nproc_per_node N -m fme.cli train ...` (no other change)."
        ),
    )
    p.add_argument("--variant", default=None, choices=TRAINABLE_VARIANTS, help=VARIANT_HELP)
    p.add_argument(
        "--stage",
        default="reconstruction",
        choices=("reconstruction", "avd"),
        help="reconstruction (default; needs --variant) or avd: MRAA's second stage, the "
        "AVD network of the model in --resume-from (train_avd_params; `avd:` of --config)",
    )
    p.add_argument(
        "--resume-from", default=None, help="the trained checkpoint the avd stage starts from"
    )
    p.add_argument("--data", required=True, help="prepared data folder (fme prepare OUT)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--config",
        default=None,
        help="packaged config (paper-256, cpu-64, cpu-128) or a YAML file; "
        "default: the packaged one for --size",
    )
    p.add_argument("--size", type=positive_int, default=None, help="image side (64, 128 or 256)")
    p.add_argument("--iterations", type=positive_int, default=None, help="training steps")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--lr", type=positive_float, default=None)
    p.add_argument(
        "--sample-every", type=non_negative_int, default=None, help="steps between sample videos"
    )
    p.add_argument(
        "--checkpoint-every", type=non_negative_int, default=None, help="steps between checkpoints"
    )
    p.add_argument(
        "--num-workers", type=non_negative_int, default=None, help="data-loading processes"
    )
    p.add_argument("--holdout", type=fraction, default=None, help="fraction of subjects held out")
    p.add_argument("--vgg-weights", default=None, help="torchvision vgg19-dcbb9e9d.pth")
    p.add_argument(
        "--device",
        type=device_name,
        default="auto",
        help="auto (CUDA when present), cpu, cuda, cuda:1",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--init", default=None, help="checkpoint whose weights start a new run")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks")
    p.add_argument("--no-mixed-precision", action="store_true", help="fp32 on GPU as well")
    add_au_source_options(p, "famgan's and tpsmm-au's training")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)


def _register_animate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "animate",
        help="drive a target face with a driving clip",
        description=(
            "Animate a face photo with a driving clip (a prepared clip folder, a video or a "
            "frame folder), motion relative to the driving onset frame; writes an H.264 MP4 "
            "at the driving clip's frame rate, the model's size and in grayscale unless "
            "--fps, --size or --color say otherwise."
        ),
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint of fme train / import")
    p.add_argument("--target", required=True, help="target face image")
    p.add_argument("--driving", required=True, help="prepared clip folder, video or frame folder")
    p.add_argument("--out", required=True, help="output .mp4")
    p.add_argument(
        "--mode",
        default="relative",
        choices=("standard", "relative", "avd", "absolute"),
        help="relative (default, from the driving onset), standard (the driving motion as "
        "it is; alias absolute) or avd (MRAA after `fme train --stage avd`)",
    )
    p.add_argument(
        "--find-best-frame",
        action="store_true",
        help="motion relative to the driving frame whose landmarks are nearest the "
        "target's (frames without a face are not considered)",
    )
    p.add_argument(
        "--onset",
        type=non_negative_int,
        default=None,
        help="driving onset frame index (a video: the face is searched from it on, and "
        "the first frame with one is the onset; default 0, or a prepared clip's onset)",
    )
    p.add_argument("--no-face", choices=POLICIES, default="hold", help=POLICY_HELP)
    p.add_argument(
        "--adapt-scale", action="store_true", help="adapt the movement scale to the target"
    )
    p.add_argument(
        "--fps",
        type=frame_rate,
        default=None,
        help="output frame rate; default: the driving clip's own (a video's container rate, "
        "a prepared clip's dataset rate), 100 when it has none",
    )
    p.add_argument(
        "--size",
        type=positive_int,
        default=None,
        help="output side in pixels; default: the model's size (e.g. 64 for the demo); the "
        "network always runs at the model's size",
    )
    p.add_argument(
        "--color",
        action="store_true",
        help="keep the target's (and a driving video's) colour; default grayscale in 3 "
        "channels, as `fme prepare` writes clips. Needs a 3-channel model (all families are; "
        "a model trained on grayscale clips renders colour it never saw)",
    )
    p.add_argument(
        "--face",
        type=non_negative_int,
        default=0,
        help="which face of the target, 0 the largest (default); the faces found are printed",
    )
    add_au_source_options(p, "famgan's and tpsmm-au's driving")
    p.add_argument("--batch-size", type=positive_int, default=16, help="driving frames per batch")
    p.add_argument("--side-by-side", action="store_true", help="driving | generated")
    p.add_argument(
        "--super-resolution",
        default=None,
        metavar="WEIGHTS",
        help="famgan: RRDBNet x4 weights (Real-ESRGAN names) to upsample the frames; 'none': "
        "off; default: the checkpoint's own setting (off unless its config names weights)",
    )
    add_motion_options(p)
    p.add_argument("--device", type=device_name, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_animate)


def _register_megc(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "megc",
        help="make a MEGC generation set: every template x every driving clip",
        description=(
            "Animate every template face with every driving clip: <driving>-<template>.mp4, "
            "manifest.csv and contact_sheet.png in --out. Frame rate: the built-in MEGC "
            "lists keep the MEGC convention (100 fps); a list of your clips keeps each "
            "clip's own rate; --fps sets one for all. The manifest's fps column says which."
        ),
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--templates", required=True, help="folder of template face images")
    p.add_argument(
        "--drivers",
        required=True,
        help="megc2021 (built in) or a text file of prepared clip keys or paths, one a line",
    )
    p.add_argument("--data", default=None, help="prepared data folder the clip keys refer to")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--fps",
        type=frame_rate,
        default=None,
        help="one frame rate for every video (default: see above)",
    )
    add_au_source_options(p, "famgan's and tpsmm-au's driving")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument(
        "--mode",
        default="relative",
        choices=("standard", "relative", "avd"),
        help="animation mode (see fme animate)",
    )
    p.add_argument(
        "--find-best-frame",
        action="store_true",
        help="each video relative to the driving frame nearest the template (frames "
        "without a face are not considered)",
    )
    p.add_argument("--no-face", choices=POLICIES, default="hold", help=POLICY_HELP)
    p.add_argument(
        "--super-resolution",
        default=None,
        metavar="WEIGHTS",
        help="famgan: RRDBNet x4 weights (Real-ESRGAN names) to upsample the videos; 'none': "
        "off; default: the checkpoint's own setting (off unless its config names weights)",
    )
    p.add_argument("--device", type=device_name, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--replace",
        action="store_true",
        help="--out holds another checkpoint's set: remove its videos and write this one's",
    )
    add_motion_options(p)
    p.set_defaults(func=run_megc)


def _register_au(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "au",
        help="write a clip's AU track (any AU source) as an OpenFace-style CSV",
        description=(
            "The per-frame AU intensities of a video, frame folder, prepared clip folder or "
            "OpenFace CSV, from the landmark estimator or a tool's CSV (--au-source), written "
            "with OpenFace's column names (frame, timestamp, AU01_r ... AU45_r) so tracks "
            "can be compared and plotted. --compare prints the per-AU agreement (Pearson r, "
            "mean absolute difference) with another track's CSV."
        ),
    )
    p.add_argument("input", help="video, frame folder, prepared clip folder or OpenFace CSV")
    p.add_argument("--out", required=True, help="the track CSV to write")
    add_au_source_options(p, "the")
    p.add_argument(
        "--onset",
        type=non_negative_int,
        default=None,
        help="the neutral frame the landmark estimator measures from (default: a prepared "
        "clip's onset; otherwise each cue's median over the clip)",
    )
    p.add_argument(
        "--reference",
        default=None,
        choices=("onset", "median"),
        help="landmark estimator: from the onset frame, or from each cue's median over the clip",
    )
    p.add_argument(
        "--compare",
        default=None,
        metavar="CSV",
        help="a track of the same clip (OpenFace, LibreFace or py-feat CSV, recognised by its "
        "columns) to compare with, per AU",
    )
    p.set_defaults(func=run_au)


def _register_import_checkpoint(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-checkpoint",
        help="convert an upstream FOMM, MRAA, TPSMM checkpoint or LivePortrait weights into ours",
        description=(
            "Load a checkpoint of the reference FOMM (generator, kp_detector, discriminator) "
            "or MRAA (generator, region_predictor, bg_predictor, avd_network) code into a "
            "variant of ours. The family is recognised from the file; --config takes our "
            "config or the reference's own YAML; the reference's epoch becomes the step. "
            "A prior variant takes the layers whose shapes match and initialises the rest; "
            "OUT.import.csv lists every tensor, key and config key and what became of it. "
            "--from liveportrait takes the folder of the released LivePortrait weights "
            "(base_models/*.pth, retargeting_models/stitching_retargeting_module.pth), strictly."
        ),
    )
    p.add_argument(
        "--from",
        dest="family",
        default=None,
        choices=("fomm", "mraa", "tpsmm", "liveportrait"),
        help="the file's family (default: recognised from its keys; a folder is LivePortrait's)",
    )
    p.add_argument(
        "file", help="the upstream checkpoint (.pth.tar), or the LivePortrait weights folder"
    )
    p.add_argument("--out", required=True, help="our checkpoint to write (.pt)")
    p.add_argument("--variant", default=None, help="default: the family's vanilla variant")
    p.add_argument(
        "--config",
        default=None,
        help="the config it was trained with: the reference's YAML (model_params, "
        "train_params, ...) or ours",
    )
    p.add_argument("--scale", default="paper", choices=("paper", "small"))
    p.add_argument(
        "--size", type=positive_int, default=None, help="image side (default: the config's)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the initialised layers")
    p.set_defaults(func=run_import)


def register(subparsers: argparse._SubParsersAction) -> None:
    """The generation commands: train, animate, megc, au, import-checkpoint."""
    _register_train(subparsers)
    _register_animate(subparsers)
    _register_megc(subparsers)
    _register_au(subparsers)
    _register_import_checkpoint(subparsers)


def _run_lock(out: str | Path):
    """The lock of a run folder (only the first process of a distributed run takes it)."""
    import contextlib
    import os

    from fme.core.locks import locked

    return locked(out) if os.environ.get("RANK", "0") in ("", "0") else contextlib.nullcontext()


def run_train_avd(args: argparse.Namespace) -> int:
    from fme.core.outputs import not_an_input, output_dir
    from generation.checkpoints.checkpoint import read_checkpoint
    from generation.config import avd_config, config_path, read_yaml
    from generation.training.avd_stage import train_avd

    if not args.resume_from:
        raise ConfigError(
            "--stage avd needs --resume-from CHECKPOINT", hint="Give a trained MRAA checkpoint."
        )
    for option, value in (("--variant", args.variant), ("--init", args.init)):
        if value:
            raise ConfigError(
                f"{option} does not apply to --stage avd, which trains the AVD network of the "
                "--resume-from checkpoint (its variant and weights)",
                hint=f"Leave {option} off.",
            )
    saved = read_checkpoint(args.resume_from)["config"].get("avd")
    from_file = None
    if args.config:
        path = config_path(args.config)
        from_file = read_yaml(path).get("avd")
    overrides = {
        "iterations": args.iterations,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "num_workers": args.num_workers,
        "seed": args.seed,
    }
    cfg = avd_config(saved, from_file, overrides, source=args.config or args.resume_from)
    output_dir(args.out, existing="reuse")
    not_an_input(args.out, data=args.data)
    with _run_lock(args.out):
        result = train_avd(
            args.resume_from, args.data, args.out, cfg, device=args.device, progress=not args.quiet
        )
    first = result.first_losses.get("total", float("nan"))
    last = result.losses.get("total", float("nan"))
    print(
        f"avd stage: {result.steps} steps in {result.seconds:.1f} s; loss {first:.4f} -> "
        f"{last:.4f}; checkpoint {result.checkpoint}"
    )
    return 0


def run_train(args: argparse.Namespace) -> int:
    from fme.core.outputs import not_an_input, output_dir
    from generation.config import load_run_config
    from generation.training.train import train

    if args.stage == "avd":
        return run_train_avd(args)
    if args.variant is None:
        raise ConfigError("fme train needs --variant", hint=f"Choose one of {VARIANT_HELP}.")
    if args.resume_from:
        raise ConfigError(
            "--resume-from is the starting checkpoint of --stage avd",
            hint="Add --stage avd to train an AVD network; to continue a run use --resume "
            "(same --out), to start a new run from weights use --init CHECKPOINT.",
        )
    output_dir(args.out, existing="reuse")  # train refuses a finished run unless --resume
    not_an_input(args.out, data=args.data)
    overrides = {
        "iterations": args.iterations,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "sample_every": args.sample_every,
        "checkpoint_every": args.checkpoint_every,
        "num_workers": args.num_workers,
        "holdout": args.holdout,
        "seed": args.seed,
        "au_source": args.au_source,
        "au_csv": args.au_csv,
    }
    if args.no_mixed_precision:
        overrides["mixed_precision"] = False
    run = load_run_config(args.variant, args.config, args.size, overrides)
    if run.model.get("stage") == "avd" and not (args.init or args.resume):
        raise ConfigError(
            "this config trains the AVD stage (model.stage: avd) on a trained model, which "
            "needs --init CHECKPOINT",
            args.config,
            f"Start it from a trained {run.variant} run: --init RUN/checkpoint.pt.",
        )
    _weight_files_exist(run.model, args.vgg_weights)
    with _run_lock(args.out):
        result = train(
            run,
            args.data,
            args.out,
            device=args.device,
            resume=args.resume,
            compile=args.compile,
            progress=not args.quiet,
            vgg_weights=args.vgg_weights,
            init=args.init,
        )
    if result.rank == 0:
        first = result.first_losses.get("total", float("nan"))
        last = result.losses.get("total", float("nan"))
        print(
            f"{run.variant}: steps {result.start_step}-{result.step} in {result.seconds:.1f} s "
            f"({result.seconds_per_step:.3f} s/step on {result.world_size} process(es)); "
            f"loss {first:.4f} -> {last:.4f}; checkpoint {result.checkpoint}"
        )
    return 0


def _weight_files_exist(model: dict, vgg_weights: str | None) -> None:
    """Every weights file a training run will read (`--vgg-weights`, the config's
    `vgg_weights` and `super_resolution.weights`) exists, checked before the data is read."""
    if vgg_weights and not Path(vgg_weights).expanduser().is_file():
        raise ConfigError(
            "--vgg-weights: file not found",
            vgg_weights,
            "Give torchvision's vgg19-dcbb9e9d.pth, or leave the option out.",
        )

    def walk(node, where):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from walk(value, f"{where}{key}.")
            elif key in ("vgg_weights", "weights") and isinstance(value, str) and value:
                yield f"{where}{key}", value

    for key, value in walk(model, "model."):
        if not Path(value).expanduser().is_file():
            raise ConfigError(
                f"{key}: file not found",
                value,
                "Give the weights file's path in the config, or set it to null.",
            )


def run_animate(args: argparse.Namespace) -> int:
    """`fme animate`: `fme.api.animate` with the options, written to --out."""
    import torch

    from fme import api
    from fme.core.locks import locked
    from fme.core.outputs import output_file
    from generation.animation.animate import describe_faces
    from generation.au.sources import AUSource

    output_file(args.out, suffixes=(".mp4",))
    source = AUSource(args.au_source or "landmarks", args.au_csv)
    torch.manual_seed(args.seed)
    model = api.load(args.checkpoint, args.device, args.super_resolution)
    trained = getattr(model, "trained_au_source", "landmarks")
    if model.variant in ("famgan", "tpsmm-au") and trained != source.name:
        print(
            f"note: this {model.variant} checkpoint was trained on {trained} AUs and is driven "
            f"by {source.name} AUs; pass --au-source {trained} to drive it as it was trained"
        )
    video = api.animate(
        model,
        args.target,
        args.driving,
        mode=args.mode,
        onset=args.onset,
        fps=args.fps,
        batch_size=args.batch_size,
        device=args.device,
        adapt_scale=args.adapt_scale,
        find_best_frame=args.find_best_frame,
        no_face=args.no_face,
        animation=animation_options(args),
        **motion_options(args),
        progress=True,
        size=args.size,
        color=args.color,
        face=args.face,
        au_source=source,
    )
    if len(video.faces) > 1:
        print(describe_faces(video.faces, video.face))
    for warning in video.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.side_by_side:
        video = video.side_by_side()
    with locked(args.out):
        out = video.write(args.out)
    colour = "colour" if args.color else "grayscale"
    print(
        f"wrote {out} ({len(video)} frames at {video.fps:g} fps, {video.fps_note}; "
        f"{video.frames.shape[2]}x{video.frames.shape[1]} px, {colour})"
    )
    return 0


def run_megc(args: argparse.Namespace) -> int:
    import torch

    from fme.api import make_megc_set
    from generation.au.sources import AUSource

    torch.manual_seed(args.seed)
    result = make_megc_set(
        args.checkpoint,
        args.templates,
        args.drivers,
        args.out,
        data=args.data,
        device=args.device,
        batch_size=args.batch_size,
        fps=args.fps,
        mode=args.mode,
        progress=not args.quiet,
        replace=args.replace,
        find_best_frame=args.find_best_frame,
        super_resolution=args.super_resolution,
        no_face=args.no_face,
        animation=animation_options(args),
        **motion_options(args),
        au_source=AUSource(args.au_source or "landmarks", args.au_csv),
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"wrote {len(result.videos)} videos ({result.frames} frames) in {result.seconds:.1f} s; "
        f"manifest {result.manifest}, contact sheet {result.contact_sheet}"
    )
    print(f"frame rate: {result.fps_note}")
    return 0


def agreement_markdown(rows: list[dict]) -> str:
    """The per-AU agreement rows (`generation.au.sources.agreement`) as a Markdown table, with
    the mean r over the AUs the reference moves."""
    lines = [
        "| AU | reference SD | reference max | r | MAE | our max | ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = "—" if row["r"] is None else f"{row['r']:.2f}"
        lines.append(
            f"| {row['au']} | {row['reference_sd']:.2f} | {row['reference_max']:.2f} | {r} | "
            f"{row['mae']:.2f} | {row['max']:.2f} | {row['status']} |"
        )
    scored = [
        row["r"] if row["r"] is not None else 0.0 for row in rows if row["reference_sd"] >= 0.05
    ]
    if scored:
        lines.append("")
        lines.append(
            f"mean r over the {len(scored)} AUs the reference moves (SD >= 0.05; "
            f"a flat curve of ours counts 0): {sum(scored) / len(scored):.2f}"
        )
    return "\n".join(lines)


def run_au(args: argparse.Namespace) -> int:
    from fme.core.outputs import output_file
    from generation.au.sources import (
        AUSource,
        agreement,
        detect_csv_source,
        input_track,
        read_au_csv,
        write_track_csv,
    )

    output_file(args.out)
    source = AUSource(args.au_source or "landmarks", args.au_csv)
    other = None
    if args.compare:
        other = read_au_csv(args.compare, detect_csv_source(args.compare))
    result = input_track(args.input, source, args.onset, args.reference)
    if other is not None:
        from generation.au.sources import check_length

        check_length(other, result.track.n_frames, args.compare)
    out = write_track_csv(Path(args.out), result.track, result.fps)
    rate = f"{result.fps:g} fps" if result.fps else "no frame rate known"
    print(f"wrote {out} ({result.track.n_frames} frames, {rate}; {result.how})")
    meta = result.track.meta
    if meta.get("not_estimated"):
        print(f"not estimated (0): {', '.join(meta['not_estimated'])}")
    for group in meta.get("combined", ()):
        print(f"one curve for {' and '.join(group)}: the landmarks cannot tell them apart")
    if other is not None:
        print(f"\nagreement with {args.compare} ({other.source}):\n")
        print(agreement_markdown(agreement(result.track, other)))
    return 0


def run_import(args: argparse.Namespace) -> int:
    import torch

    from fme.api import import_reference
    from fme.core.locks import locked
    from fme.core.outputs import output_file

    output_file(args.out, suffixes=(".pt", ".pth"))
    output_file(f"{args.out}.import.csv", "--out")
    torch.manual_seed(args.seed)
    with locked(args.out):
        report = import_reference(
            args.family,
            args.file,
            args.out,
            args.variant,
            scale=args.scale,
            config=args.config,
            size=args.size,
        )
    print(report.summary())
    print(f"wrote {args.out} and {args.out}.import.csv")
    return 0
