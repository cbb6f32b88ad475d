"""Kinetics-400 starting weights: which torchvision file each backbone starts from, checked
before any training starts.

`--kinetics` takes one file per backbone trained:

- `--kinetics r3d_18=FILE mc3_18=FILE r2plus1d_18=FILE` names each backbone's file;
- `--kinetics FOLDER` finds each as torchvision names it (`r3d_18-b3b3357e.pth`,
  `mc3_18-a90a0ba3.pth`, `r2plus1d_18-91a641e6.pth`: `<backbone>-*.pth` or `<backbone>*.pth`);
- `--kinetics FILE` when one backbone is trained.

Every backbone of `--backbones` needs a file; every file must exist, hold a state dict of
that backbone's architecture, and the width must be 1 (the published networks). A clip
starting from Kinetics weights is seen as those weights were trained
(`eval.clips.kinetics_resize`, size 112). The saved recognizer records the file it started
from (name, path, sha256).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from eval.clips import KINETICS_CROP
from eval.recognizers import guess_architecture, state_dict_from
from fme.core.digest import sha256_file
from fme.core.errors import ConfigError


@dataclass(frozen=True)
class KineticsWeights:
    """The torchvision file a backbone starts from."""

    backbone: str
    path: str
    sha256: str

    @property
    def name(self) -> str:
        return Path(self.path).name

    def record(self) -> dict[str, str]:
        """What a recognizer checkpoint keeps of it."""
        return {**asdict(self), "name": self.name}


def _check_file(path: Path, backbone: str, option: str) -> KineticsWeights:
    import torch

    if not path.is_file():
        raise ConfigError(
            f"{option}: Kinetics weights for {backbone} not found",
            path,
            "Give the path of torchvision's .pth file.",
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch raises many kinds of unpickling errors
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            raise ConfigError(
                f"{option}: cannot read Kinetics weights ({err.__class__.__name__})",
                path,
                "Give torchvision's .pth file of the backbone.",
            ) from err
    found = guess_architecture(state_dict_from(obj, path))
    if found != backbone:
        what = f"holds {found}" if found != "unknown" else "is not a video ResNet-18"
        raise ConfigError(
            f"{option}: the file for {backbone} {what}",
            path,
            f"Give {backbone}'s file ({backbone}-*.pth), e.g. --kinetics {backbone}=FILE.",
        )
    return KineticsWeights(backbone, str(path), sha256_file(path))


def _in_folder(folder: Path, backbone: str) -> Path:
    found = sorted(folder.glob(f"{backbone}-*.pth")) or sorted(folder.glob(f"{backbone}*.pth"))
    if not found:
        raise ConfigError(
            f"--kinetics: no {backbone}-*.pth in the folder",
            folder,
            f"Name the files as torchvision does ({backbone}-<hash>.pth) or give "
            f"--kinetics {backbone}=FILE.",
        )
    if len(found) > 1:
        raise ConfigError(
            f"--kinetics: several files for {backbone} in the folder "
            f"({', '.join(p.name for p in found)})",
            folder,
            f"Choose one with --kinetics {backbone}=FILE.",
        )
    return found[0]


def resolve_kinetics(
    values: Sequence[str] | str | None,
    backbones: Sequence[str],
    width: float,
    size: int,
) -> dict[str, KineticsWeights]:
    """Backbone -> the checked Kinetics file, {} without `--kinetics`; ConfigError naming
    the option and the file for every mistake, before any training starts."""
    if not values:
        return {}
    if isinstance(values, str):
        values = [values]
    if width != 1:
        raise ConfigError(
            f"Kinetics weights need --width 1 (got --width {width:g}): the published "
            "networks are full width",
            hint="Drop --width or drop --kinetics.",
        )
    if size != KINETICS_CROP:
        raise ConfigError(
            f"Kinetics weights need --size {KINETICS_CROP} (got --size {size}): torchvision's "
            "preset resizes to 128x171 and crops 112",
            hint=f"Use --size {KINETICS_CROP} with --kinetics.",
        )
    named = [v for v in values if "=" in v]
    if named and len(named) != len(values):
        raise ConfigError(
            f"--kinetics {' '.join(values)}: give either BACKBONE=FILE for each backbone or "
            "one folder (or one file for one backbone), not both"
        )
    paths: dict[str, Path] = {}
    if named:
        for value in named:
            name, _, file = value.partition("=")
            name = name.strip()
            if name not in backbones:
                raise ConfigError(
                    f"--kinetics {value}: {name!r} is not among --backbones "
                    f"({', '.join(backbones)})",
                    hint="Add it to --backbones or drop its file.",
                )
            if name in paths:
                raise ConfigError(f"--kinetics: two files for {name}")
            paths[name] = Path(file)
        missing = [b for b in backbones if b not in paths]
        if missing:
            raise ConfigError(
                f"--kinetics names no file for {', '.join(missing)}; every backbone trained "
                "needs one",
                hint="Add " + " ".join(f"{b}=FILE" for b in missing) + " or narrow --backbones.",
            )
    elif len(values) == 1 and Path(values[0]).is_dir():
        folder = Path(values[0])
        paths = {b: _in_folder(folder, b) for b in backbones}
    elif len(values) == 1:
        if len(backbones) != 1:
            raise ConfigError(
                f"--kinetics {values[0]}: one file for {len(backbones)} backbones "
                f"({', '.join(backbones)})",
                values[0],
                "Give one file per backbone: --kinetics "
                + " ".join(f"{b}=FILE" for b in backbones)
                + ", or a folder of torchvision's files, or --backbones with one backbone.",
            )
        paths = {backbones[0]: Path(values[0])}
    else:
        raise ConfigError(
            f"--kinetics {' '.join(values)}: several paths without names",
            hint="Write them as BACKBONE=FILE (e.g. r3d_18=r3d_18-b3b3357e.pth).",
        )
    return {
        b: _check_file(paths[b], b, f"--kinetics {b}={paths[b]}") for b in backbones if b in paths
    }
