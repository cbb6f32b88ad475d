"""Inputs read as their format says, with one clear line when they are not.

- `read_text`: a text file (consent Markdown, a YAML config, a driver list) decoded as
  UTF-8, a byte-order mark accepted and dropped; a binary file or another encoding is a
  DataError naming the file, the byte and the fix ("save it as UTF-8").
- `read_yaml`: `read_text`, then YAML, a mapping expected.
- `read_csv`: a CSV through pandas, decoded the same way.
- `typed_fields`: the values of a config section checked against a dataclass's field
  types, naming the key (`train.lr: expected a number, got 'fast'`); a number YAML
  reads as a string (`lr: 1e-3`: YAML 1.1 wants `1.0e-3`) is taken as the number.
- `check_like`: a nested mapping checked against a reference of defaults, value by value.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any

from fme.core.errors import ConfigError, DataError

UTF8_HINT = "Save it as UTF-8 text (most editors: Save as... > Encoding: UTF-8)."


def decode_text(data: bytes, path: str | Path, what: str = "text file") -> str:
    """`data` as UTF-8 (a BOM dropped); DataError naming `path` when it is not text."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"not a {what}: it holds binary data (NUL bytes)", path, UTF8_HINT)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bad = data[err.start : err.start + 1].hex()
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"the {what} is not UTF-8 text (byte 0x{bad} on line {line})", path, UTF8_HINT
        ) from None


def read_text(path: str | Path, what: str = "text file", limit: int | None = None) -> str:
    """The text of `path` (see `decode_text`); DataError when missing, a folder, too large
    (`limit` bytes) or not text."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"the {what} is a folder, expected a file", path)
    try:
        size = path.stat().st_size
        if limit is not None and size > limit:
            raise DataError(f"the {what} is {size} bytes, more than {limit}", path)
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} not found", path, "Check the path.") from None
    except OSError as err:
        raise DataError(f"cannot read the {what} ({err.strerror or err})", path) from None
    return decode_text(data, path, what)


def read_yaml(path: str | Path, what: str = "YAML file") -> dict[str, Any]:
    """A YAML mapping from `path` (an empty file is an empty mapping)."""
    import yaml

    text = read_text(path, what)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        reason = " ".join(str(err).split())
        raise ConfigError(f"cannot read YAML ({reason})", path, "Fix the file.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"a {what} must be a mapping (key: value lines)", path)
    return data


def read_csv(path: str | Path, what: str = "CSV file", **kwargs: Any):
    """A pandas frame of the CSV at `path`, decoded as `read_text` does."""
    import io

    import pandas as pd

    text = read_text(path, what)
    try:
        return pd.read_csv(io.StringIO(text), **kwargs)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        reason = " ".join(str(err).split())
        raise DataError(f"not a readable CSV ({reason})", path) from None


# --- values of a config section ------------------------------------------------------------


def _type_name(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}s"
        return f"a list of {len(args)} {_type_name(args[0])}s"
    return {int: "whole number", float: "number", bool: "true or false", str: "text"}.get(
        kind, getattr(kind, "__name__", str(kind))
    )


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number
    return None


def coerce(value: Any, kind: Any, key: str, source: str | Path | None = None) -> Any:
    """`value` as the type `kind` (int, float, bool, str, tuple[T, ...], tuple[T, T]);
    ConfigError naming `key` when it is not one."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        kind = args[0]
        origin = typing.get_origin(kind)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{key}: expected {expected}, got {value!r}", source)

    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, (list, tuple)):
            raise bad(_type_name(kind))
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value))
        if len(value) != len(args):
            raise bad(_type_name(kind))
        return tuple(
            coerce(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args))
        )
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if kind is int:
        number = _as_number(value)
        if number is None or not math.isfinite(number) or number != int(number):
            raise bad("a whole number")
        return int(number)
    if kind is float:
        number = _as_number(value)
        if number is None or not math.isfinite(number):
            raise bad("a number")
        return number
    if kind is str:
        if isinstance(value, str):
            return value
        raise bad("text")
    return value


def typed_fields(
    cls: type, values: dict[str, Any], section: str, source: str | Path | None = None
) -> dict[str, Any]:
    """`values` (a config section for the dataclass `cls`) with each value made the field's
    type; ConfigError naming `section.key` for an unknown key or a value of another type."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(values, dict):
        raise ConfigError(f"the {section} section must be a mapping (key: value lines)", source)
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown {section} key(s) {', '.join(unknown)}",
            source,
            f"Known keys: {', '.join(sorted(names))}.",
        )
    return {k: coerce(v, hints[k], f"{section}.{k}", source) for k, v in values.items()}


def check_like(value: Any, reference: Any, key: str, source: str | Path | None = None) -> Any:
    """`value` checked against the default `reference` of a nested config (the model
    section): a number where the default is a number (an int where it is an int, >= 1
    where the default is a positive count; a loss weight any number >= 0), true/false
    where it is one, a mapping where it is one; a None default takes anything. Returns the
    value (numbers given as text converted)."""
    if reference is None or value is None:
        return value
    if isinstance(reference, dict):
        if not isinstance(value, dict):
            raise ConfigError(
                f"{key}: expected a mapping (key: value lines), got {value!r}", source
            )
        return {k: check_like(v, reference.get(k), f"{key}.{k}", source) for k, v in value.items()}
    if isinstance(reference, bool):
        return coerce(value, bool, key, source)
    if isinstance(reference, int) and _is_weight(key):  # a loss weight: 0 turns it off
        number = coerce(value, float, key, source)
        if number < 0:
            raise ConfigError(f"{key}: must not be negative, got {value!r}", source)
        return int(number) if number == int(number) else number
    if isinstance(reference, int):
        number = coerce(value, int, key, source)
        if reference >= 1 and number < 1 and not _may_be_zero(key):
            raise ConfigError(f"{key}: must be a whole number >= 1, got {value!r}", source)
        if reference >= 0 and number < 0:
            raise ConfigError(f"{key}: must not be negative, got {value!r}", source)
        return number
    if isinstance(reference, float):
        number = coerce(value, float, key, source)
        if reference >= 0 and number < 0 and not _may_be_negative(key):
            raise ConfigError(f"{key}: must not be negative, got {value!r}", source)
        return number
    if isinstance(reference, str):
        return coerce(value, str, key, source)
    if isinstance(reference, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}", source)
        return value
    return value


def _is_weight(key: str) -> bool:
    parts = key.split(".")
    return "loss" in parts[:-1] or "weights" in parts[:-1] or parts[-1].startswith("lambda")


_ZERO_OK = ("start", "every", "seed", "epoch", "offset", "warmup", "min", "pad")


def _may_be_zero(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return any(part in last for part in _ZERO_OK)


def _may_be_negative(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return any(part in last for part in ("shift", "offset", "bias", "min", "log"))
