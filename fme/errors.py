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
