"""Motion-transfer models: FOMM and MRAA, each with an optional facial prior.

`build_model(variant, config)` is the one entry point; every model is an
`AnimationModel` (see `base.py`).
"""

from __future__ import annotations

VARIANTS: tuple[str, ...] = ("fomm", "fomm-ewp", "fomm-awp", "mraa", "mraa-ewp", "mraa-awp")
