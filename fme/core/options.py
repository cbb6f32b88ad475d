"""Option values checked where they are parsed: argparse `type=` functions and the parser
that answers a bad one in one line.

Each type takes the text the user typed and returns the value or raises
`argparse.ArgumentTypeError` with the allowed range; argparse puts the option's name in
front (`argument --fps: must be frames per second > 0, got '0'`). `Parser.error` prints
that on one line (`error: fme animate: argument --fps: ... (see `fme animate -h`)`) instead
of argparse's usage block, and exits with status 2, like every other mistake the user can
fix. Nothing here imports torch: `--device` is checked by its form.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

from fme.core.errors import one_line


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2.

    Sub-parsers made by `add_subparsers().add_parser` are of the same class.
    """

    def error(self, message: str):
        print(f"error: {self.prog}: {one_line(message)} (see `{self.prog} -h`)", file=sys.stderr)
        raise SystemExit(2)


def _number(text: str, kind: type, what: str) -> float | int:
    try:
        value = kind(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _ranged(kind: type, what: str, check: Callable[[float], bool]) -> Callable[[str], float]:
    def parse(text: str):
        value = _number(text, kind, what)
        if not check(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = what
    return parse


positive_int = _ranged(int, "a whole number >= 1", lambda v: v >= 1)
non_negative_int = _ranged(int, "a whole number >= 0", lambda v: v >= 0)
positive_float = _ranged(float, "a number > 0", lambda v: v > 0)
non_negative_float = _ranged(float, "a number >= 0", lambda v: v >= 0)
#: 1000 fps is the fastest camera of the micro-expression datasets' kind; more gives
#: videos of zero length
frame_rate = _ranged(
    float, "frames per second, more than 0 and at most 1000", lambda v: 0 < v <= 1000
)
probability = _ranged(float, "a number strictly between 0 and 1", lambda v: 0 < v < 1)
fraction = _ranged(float, "a number from 0 up to (not including) 1", lambda v: 0 <= v < 1)
unit_interval = _ranged(float, "a number from 0 to 1", lambda v: 0 <= v <= 1)
voting_rate = _ranged(
    float, "a voting rate strictly between 0.5 and 1 (0.5 = no preference)", lambda v: 0.5 < v < 1
)
port_number = _ranged(int, "a port number from 1 to 65535", lambda v: 1 <= v <= 65535)


def int_range(low: int, high: int) -> Callable[[str], int]:
    """Whole numbers from `low` to `high` inclusive."""
    return _ranged(int, f"a whole number from {low} to {high}", lambda v: low <= v <= high)


def float_range(low: float, high: float) -> Callable[[str], float]:
    """Numbers from `low` to `high` inclusive."""
    return _ranged(float, f"a number from {low:g} to {high:g}", lambda v: low <= v <= high)


_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def device_name(text: str) -> str:
    """auto, cpu, cuda, cuda:N or mps (whether CUDA is present is checked when it is used)."""
    value = str(text).strip().lower()
    if not _DEVICE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; use auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps"
        )
    return value


def int_list(text: str) -> list[int]:
    """A comma list of whole numbers >= 0 (`0,1,10`), in the order given."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}")
    values = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated whole numbers >= 0 (e.g. 0,1,10), got {part!r}"
            ) from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be whole numbers >= 0, got {part!r}")
        values.append(value)
    return values


def existing_dir(text: str) -> str:
    """A path to a folder that exists."""
    path = Path(text)
    if path.is_file():
        raise argparse.ArgumentTypeError(f"{text} is a file, expected a folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: folder not found")
    return text
