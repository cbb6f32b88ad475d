"""`fme eval`: train-recognizers, auto (Table VI), augment (Table VII), metrics."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from eval.augment import run_augment
from eval.clips import FRAMES, SIZE
from eval.metrics.objective import run_metrics
from eval.train import run_training
from fme.core.options import (
    device_name,
    int_list,
    int_range,
    non_negative_float,
    positive_float,
    positive_int,
)
from generation.au.sources import add_au_source_options


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
        "--frames",
        type=int_range(2, 512),
        default=FRAMES,
        help="frames per clip (onset..offset; a 3D CNN needs two or more)",
    )
    p.add_argument(
        "--size",
        type=int_range(16, 1024),
        default=SIZE,
        help="frame size (112 as in the paper; 16 or more: the networks halve it four times)",
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
        "metrics",
        help="identity, motion and AU fidelity, jitter, background change; FID, KID, FVD, "
        "LPIPS, CSIM, AED, AKD and identity leakage from weight files you give",
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
    g = p.add_argument_group(
        "published-table metrics (FID, KID, FVD, LPIPS, CSIM, AED, AKD, leakage)",
        "each network loads from a file you give; a metric whose file is absent is left out "
        "with one line saying which file to give; nothing is downloaded",
    )
    g.add_argument(
        "--real",
        default=None,
        metavar="DIR",
        help="real videos or images (or a prepared folder) for FID/KID/FVD (default: --driving)",
    )
    g.add_argument(
        "--weights",
        default=None,
        metavar="DIR",
        help="a folder searched for every file below under its published name "
        "(then torch's hub cache, $TORCH_HOME/hub/checkpoints)",
    )
    g.add_argument(
        "--inception",
        default=None,
        metavar="FILE",
        help="pt_inception-2015-12-05-6726825d.pth (FID/KID)",
    )
    g.add_argument(
        "--alexnet",
        default=None,
        metavar="FILE",
        help="alexnet-owt-7be5be79.pth (LPIPS-Alex trunk)",
    )
    g.add_argument(
        "--vgg16", default=None, metavar="FILE", help="vgg16-397923af.pth (LPIPS-VGG trunk)"
    )
    g.add_argument(
        "--lpips-dir",
        default=None,
        metavar="DIR",
        help="the lpips package's weights/v0.1 folder (alex.pth, vgg.pth)",
    )
    g.add_argument(
        "--i3d", default=None, metavar="FILE", help="VideoGPT's i3d_pretrained_400.pt (FVD)"
    )
    g.add_argument(
        "--arcface",
        default=None,
        metavar="FILE",
        help="an arcface_torch IResNet backbone.pth (CSIM/AED/leakage; InsightFace's models are non-commercial)",
    )
    g.add_argument(
        "--facenet",
        default=None,
        metavar="FILE",
        help="facenet-pytorch's 20180402-114759-vggface2.pt (the free alternative to --arcface)",
    )
    g.add_argument(
        "--feature-cache",
        default=str(
            Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "fme" / "features"
        ),
        metavar="DIR",
        help="where the real set's features are cached (default: %(default)s)",
    )
    g.add_argument(
        "--fvd-frames",
        type=positive_int,
        default=16,
        help="frames per FVD clip, the first N of each video (VideoGPT: 16; at least 9)",
    )
    g.add_argument(
        "--bootstrap",
        type=positive_int,
        default=200,
        help="bootstrap draws for the FID/FVD intervals",
    )
    g.add_argument(
        "--kid-subset-size",
        type=positive_int,
        default=1000,
        help="KID subset size (torch-fidelity: 1000; lowered to the smaller set's size)",
    )
    add_au_source_options(p, "AU fidelity's (driving and generated)")
    p.add_argument("--out", default=None, help="output folder (default: first set/metrics)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_metrics)


def run_random_weights(args: argparse.Namespace) -> int:
    from eval.metrics.random_weights import write_random_weights

    for path in write_random_weights(args.out, args.seed):
        print(path)
    return 0


def register_random_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "random-weights",
        help="write random-weight files under the published names (checks a metrics setup; "
        "the numbers mean nothing)",
    )
    p.add_argument(
        "--out", required=True, help="folder for the files (then `fme eval metrics --weights OUT`)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_random_weights)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="recognizers, automatic evaluation, objective metrics")
    inner = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    register_train(inner)
    register_auto(inner)
    register_augment(inner)
    register_metrics(inner)
    register_random_weights(inner)
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
