"""The method and comparison-set specs a study is created from, as the command and the
admin page take them: `LABEL=DIR` and `A:B`."""

from __future__ import annotations

from pathlib import Path

from fme.core.errors import ConfigError


def parse_method(text: str) -> tuple[str, Path]:
    label, sep, folder = text.partition("=")
    if not sep or not label.strip() or not folder.strip():
        raise ConfigError(f"--method {text!r}: expected LABEL=DIR (e.g. FOMM+EWP=out/fomm-ewp)")
    return label.strip(), Path(folder.strip())


def parse_set(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a.strip() or not b.strip():
        raise ConfigError(f"--set {text!r}: expected A:B with two method labels")
    return a.strip(), b.strip()
