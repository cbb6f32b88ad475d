"""FME Studio: `import fme` is the Python front door, `fme` the command.

The functions of `fme.api` (load, import_reference, animate, make_megc_set, prepare,
score_sets, report_study) are reachable as `fme.<name>`; they are imported on first use,
so `import fme` (and `fme.core`, the error family every package shares) stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = (
    "Animation",
    "PreparedDataset",
    "animate",
    "import_reference",
    "load",
    "make_megc_set",
    "prepare",
    "report_study",
    "score_sets",
)


def __getattr__(name: str) -> Any:
    if name in _API:
        from fme import api

        return getattr(api, name)
    raise AttributeError(f"module 'fme' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
