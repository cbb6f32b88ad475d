"""The one exception family for errors a user can fix.

It sits below every package (generation, eval, study, db import it; it imports nothing of
ours), so the schema and the app never depend on the models.

Every message names the file (or folder, or setting) at fault and what to do about it.
The `fme` command prints the message without a traceback and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class FMEError(Exception):
    """An error the user can fix; `str(err)` is the whole message."""

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        self.path = Path(path) if path is not None else None
        self.message = message
        self.hint = hint
        parts = [f"{path}: {message}" if path is not None else message]
        if hint:
            parts.append(hint)
        super().__init__(" ".join(parts))


class DataError(FMEError):
    """A dataset, sheet, folder or frame that cannot be read as expected."""


class VideoError(FMEError):
    """A video or image that cannot be decoded or written."""


class FaceNotFoundError(FMEError):
    """dlib found no frontal face where one was needed."""


class ConfigError(FMEError):
    """A configuration file or option that is not valid."""


class StorageError(FMEError):
    """A disk that is full, over its quota, failing or read-only (see
    `fme.core.outputs.storage_error`)."""


#: Where a bug is reported (the README says the same).
REPORT_TO = "the FME Studio issue tracker"


def brief(err: BaseException) -> str:
    """A short reason for a library's error in a message: its first line (at most 160
    characters), without torch.load's advice to load untrusted files unsafely."""
    text = str(err).strip()
    if "Weights only load failed" in text or "weights_only" in text:
        return "not a file of tensors that torch.load reads safely"
    first = text.splitlines()[0].strip() if text else type(err).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def one_line(err: BaseException) -> str:
    """The message of `err` on one line (newlines and runs of spaces folded)."""
    return " ".join(str(err).split())


def print_error(err: BaseException, file=None) -> None:
    """`error: MESSAGE` on one line of stderr: how the CLI answers a user's mistake."""
    import sys

    print(f"error: {one_line(err)}", file=file or sys.stderr)


def print_bug(err: BaseException, file=None) -> None:
    """A true bug (not one of ours): one line saying so and where to report it, then the
    traceback (the report needs it)."""
    import sys
    import traceback

    out = file or sys.stderr
    print(
        f"fme: internal error, a bug in FME Studio (not a mistake of yours): please report "
        f"it with the traceback below to {REPORT_TO}",
        file=out,
    )
    traceback.print_exception(err, file=out)
