"""The generation models: FOMM, MRAA and TPSMM (each with an optional facial prior; TPSMM also
as the MEGC2022 AU entry, `tpsmm-au`), FAMGAN, and LivePortrait (its released weights,
zero-shot: not trained here).

`build_model(variant, config)` is the one entry point; every model is an
`AnimationModel` (see `base.py`).
"""

from __future__ import annotations

import importlib
from typing import Any

from fme.core.errors import ConfigError

VARIANTS: tuple[str, ...] = (
    "fomm",
    "fomm-ewp",
    "fomm-awp",
    "mraa",
    "mraa-ewp",
    "mraa-awp",
    "tpsmm",
    "tpsmm-ewp",
    "tpsmm-awp",
    "tpsmm-au",
    "famgan",
    "liveportrait",
)
#: variants whose released weights run as they are (imported, never trained here)
ZERO_SHOT_VARIANTS: tuple[str, ...] = ("liveportrait",)
#: the variants `fme train` trains
TRAINABLE_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANTS if v not in ZERO_SHOT_VARIANTS)

# family -> module defining `MODEL_CLASS` (an AnimationModel subclass) and
# `default_config(variant: str, scale: str) -> dict` ("paper" = vox-256 / GPU, "small" = CPU).
FAMILIES: dict[str, str] = {
    "fomm": "generation.models.fomm.model",
    "mraa": "generation.models.mraa.model",
    "tpsmm": "generation.models.tpsmm.model",
    "famgan": "generation.models.famgan.model",
    "liveportrait": "generation.models.liveportrait.model",
}


# variants built by a module of their own within their family (the family's other entry
# points, e.g. checkpoints, still see the family)
VARIANT_MODULES: dict[str, str] = {
    "tpsmm-au": "generation.models.tpsmm.au",
}


def split_variant(variant: str) -> tuple[str, str | None]:
    """ "fomm-awp" -> ("fomm", "awp"); "mraa" -> ("mraa", None)."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    family, _, prior = variant.partition("-")
    return family, prior or None


def _family_module(variant: str):
    family, _ = split_variant(variant)
    if variant in VARIANT_MODULES:
        return importlib.import_module(VARIANT_MODULES[variant])
    return importlib.import_module(FAMILIES[family])


def default_config(variant: str, scale: str = "small") -> dict[str, Any]:
    """The packaged model config of a variant at "paper" or "small" scale."""
    if scale not in ("paper", "small"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'paper' or 'small'")
    return _family_module(variant).default_config(variant, scale)


def build_model(variant: str, config: dict[str, Any] | None = None):
    """Build an AnimationModel of `variant` from a model config (default: small scale)."""
    module = _family_module(variant)
    if config is None:
        config = module.default_config(variant, "small")
    return module.MODEL_CLASS(variant, config)
