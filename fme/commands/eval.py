"""`fme eval`: train-recognizers, auto (Table VI), augment (Table VII), metrics."""

from __future__ import annotations

import argparse

from eval.augment import run_augment
from eval.clips import FRAMES, SIZE
from eval.metrics.objective import run_metrics
from eval.train import run_training
from fme.core.options import (
    device_name,
    int_list,
    non_negative_float,
    positive_float,
    positive_int,
)


def add_training_options(p: argparse.ArgumentParser, iterations: int = 150) -> None:
    p.add_argument(
        "--backbones",
        default="r3d_18,mc3_18,r2plus1d_18",
        help="comma-separated: r3d_18, mc3_18, r2plus1d_18",
    )
    p.add_argument(
        "--width",
        type=positive_float,
        default=1.0,
        help="channel width multiplier (1.0 = published network; e.g. 0.25 on CPU)",
    )
    p.add_argument(
        "--frames", type=positive_int, default=FRAMES, help="frames per clip (onset..offset)"
    )
    p.add_argument(
        "--size", type=positive_int, default=SIZE, help="frame size (112 as in the paper)"
    )
    p.add_argument("--iterations", type=positive_int, default=iterations)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=1e-4)
    p.add_argument(
        "--class-weights", action="store_true", help="weight the loss by inverse class frequency"
    )
    p.add_argument(
        "--kinetics",
        nargs="+",
        default=None,
        metavar="BACKBONE=FILE",
        help="start from torchvision's Kinetics-400 weights, one file per backbone: "
        "r3d_18=FILE mc3_18=FILE r2plus1d_18=FILE, or a folder of torchvision's files "
        "(r3d_18-*.pth, ...), or one FILE with one backbone; needs --width 1 and --size 112; "
        "clips are then resized to 128x171 and centre-cropped to 112 as those weights were "
        "trained",
    )
    p.add_argument("--device", type=device_name, default="auto", help="auto, cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-recognizers",
        help="train 3D-CNN recognizers on prepared clips (MEGC2019 composite, 3 classes)",
    )
    p.add_argument(
        "--data",
        nargs="+",
        required=True,
        metavar="PREPARED",
        help="one or more `fme prepare` output folders",
    )
    p.add_argument("--out", required=True, help="folder for checkpoints and score tables")
    p.add_argument("--protocol", choices=["7:3", "loso"], default="7:3")
    add_training_options(p)
    p.set_defaults(func=run_training)


def register_auto(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("auto", help="score generated sets with trained recognizers (Table VI)")
    p.add_argument(
        "--recognizers",
        required=True,
        help="folder of recognizer checkpoints from `fme eval train-recognizers`",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="LABEL=DIR",
        help="a generated set (videos `<driving>-<template>.mp4`); repeat",
    )
    p.add_argument(
        "--real",
        default=None,
        help="the real driving clips: a prepared folder or a labelled video folder",
    )
    p.add_argument("--out", default=None, help="output folder (default RECOGNIZERS/auto)")
    p.add_argument("--device", type=device_name, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_auto)


def register_augment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("augment", help="recognizers trained on real + generated clips (Table VII)")
    p.add_argument("--data", nargs="+", required=True, metavar="PREPARED")
    p.add_argument("--checkpoint", default=None, help="animation checkpoint that generates clips")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--ratios",
        type=int_list,
        default="0,1",
        help="R.D.:G.D. ratios 1:k as k values, e.g. 0,1,10,150 (0 = real only)",
    )
    p.add_argument(
        "--gen-weight", type=non_negative_float, default=1.0, help="lambda in L_real + lambda L_gen"
    )
    p.add_argument(
        "--max-generated",
        type=positive_int,
        default=None,
        help="cap on generated clips (default: ratio x training clips)",
    )
    add_training_options(p)
    p.set_defaults(func=run_augment)


def register_metrics(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics", help="identity, motion and AU fidelity, jitter, background change"
    )
    p.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="DIR",
        help="a generated set folder; repeat for several",
    )
    p.add_argument(
        "--templates",
        default=None,
        help="folder of template images `<template>.png` (identity metric)",
    )
    p.add_argument(
        "--driving",
        default=None,
        help="driving clips: a prepared folder or videos named `<driving>.mp4` "
        "(motion and AU fidelity)",
    )
    p.add_argument(
        "--synth",
        default=None,
        help="synthetic corpus folder: L1/SSIM/PSNR against its ground truth",
    )
    p.add_argument("--out", default=None, help="output folder (default: first set/metrics)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_metrics)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="recognizers, automatic evaluation, objective metrics")
    inner = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    register_train(inner)
    register_auto(inner)
    register_augment(inner)
    register_metrics(inner)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


def run_auto(args: argparse.Namespace) -> int:
    """`fme eval auto`: `fme.api.score_sets` with the options."""
    from eval.auto import parse_sets
    from fme.api import score_sets

    result = score_sets(
        args.recognizers,
        parse_sets(args.set or []),
        args.real,
        args.out,
        device=args.device,
        progress=not args.quiet,
    )
    for note in result.notes:
        print(f"note: {note}")
    print(result.markdown())
    return 0
