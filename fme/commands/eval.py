"""`fme eval`: train-recognizers, auto (Table VI), augment (Table VII), metrics."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from eval.augment import register_augment
    from eval.auto import register_auto
    from eval.metrics.objective import register_metrics
    from eval.train import register_train

    p = sub.add_parser("eval", help="recognizers, automatic evaluation, objective metrics")
    inner = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    register_train(inner)
    register_auto(inner)
    register_augment(inner)
    register_metrics(inner)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])
