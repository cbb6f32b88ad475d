"""The released LivePortrait weights: the reference's folder layout, read strictly.

    DIR/base_models/appearance_feature_extractor.pth   state dict of F
    DIR/base_models/motion_extractor.pth               state dict of M
    DIR/base_models/warping_module.pth                 state dict of W
    DIR/base_models/spade_generator.pth                state dict of G
    DIR/retargeting_models/stitching_retargeting_module.pth
        {"retarget_shoulder": S, "retarget_mouth": R_lip, "retarget_eye": R_eyes}
        (state dicts whose keys may carry DDP's "module." prefix, removed as the reference does)

`read_release(folder)` returns the seven state dicts by name; a missing file, a file that
torch cannot read, or one that is not a state dict of that network is one ConfigError
naming the file. Nothing is downloaded: the user gives the folder.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from fme.core.errors import ConfigError

BASE_FILES: dict[str, str] = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
}
RETARGETING_FILE = "retargeting_models/stitching_retargeting_module.pth"
RETARGETING_KEYS: tuple[str, ...] = ("retarget_shoulder", "retarget_mouth", "retarget_eye")
HINT = (
    "Give the folder of the released LivePortrait weights (the one holding base_models/ and "
    "retargeting_models/, e.g. pretrained_weights/liveportrait)."
)


def _load(path: Path) -> Any:
    import torch

    if not path.is_file():
        raise ConfigError("missing file of the LivePortrait weights", path, HINT)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise ConfigError(
            f"cannot read this LivePortrait weights file ({err.__class__.__name__})", path, HINT
        ) from err


def _state_dict(data: Any, path: Path, what: str) -> dict:
    import torch

    if (
        not isinstance(data, dict)
        or not data
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items())
    ):
        raise ConfigError(f"not a state dict of the {what}", path, HINT)
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in data.items()}


def read_release(folder: str | Path) -> tuple[dict[str, dict], dict[str, Path]]:
    """({network name: state dict}, {network name: file}) of a released weights folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError("LivePortrait weights folder not found", folder, HINT)
    states: dict[str, dict] = {}
    files: dict[str, Path] = {}
    for name, rel in BASE_FILES.items():
        path = folder / rel
        states[name] = _state_dict(_load(path), path, name.replace("_", " "))
        files[name] = path
    path = folder / RETARGETING_FILE
    data = _load(path)
    if not isinstance(data, dict) or any(k not in data for k in RETARGETING_KEYS):
        raise ConfigError(
            f"not the stitching and retargeting file (it needs {', '.join(RETARGETING_KEYS)})",
            path,
            HINT,
        )
    for key in RETARGETING_KEYS:
        states[key] = _state_dict(data[key], path, f"{key} network")
        files[key] = path
    return states, files


def load_release(model, folder: str | Path) -> list[str]:
    """Load a released folder into `model` (a LivePortraitModel) strictly; returns the
    names of the tensors taken. A tensor missing, extra or of another shape is a
    ConfigError naming the file and the first differences."""
    states, files = read_release(folder)
    taken = []
    prefix = {id(m): n for n, m in model.named_modules()}
    for name, module in model.upstream_modules().items():
        theirs, ours = states[name], module.state_dict()
        missing = [k for k in ours if k not in theirs]
        extra = [k for k in theirs if k not in ours]
        shapes = [
            f"{k} {tuple(theirs[k].shape)} vs {tuple(ours[k].shape)}"
            for k in ours
            if k in theirs and tuple(theirs[k].shape) != tuple(ours[k].shape)
        ]
        if missing or extra or shapes:
            detail = "; ".join(
                part
                for part in (
                    f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "",
                    f"{len(extra)} foreign (e.g. {', '.join(extra[:3])})" if extra else "",
                    f"{len(shapes)} of another shape (e.g. {'; '.join(shapes[:2])})"
                    if shapes
                    else "",
                )
                if part
            )
            raise ConfigError(
                f"the {name} weights do not fit this LivePortrait model: {detail}",
                files[name],
                "Give the released weights with the reference's models.yaml shapes "
                "(--scale paper).",
            )
        module.load_state_dict({k: theirs[k].to(v.dtype) for k, v in ours.items()}, strict=True)
        taken += [f"{prefix[id(module)]}.{k}" for k in ours]
    return taken
