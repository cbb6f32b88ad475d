"""Run configs: YAML files validated into dataclasses, saved beside every run.

A run config has three parts::

    variant: fomm-awp          # optional in a file; `fme train --variant` sets it
    scale: small               # "paper" (vox-256, GPU) or "small" (CPU, 64-128 px)
    train: {iterations: ..., batch_size: ..., lr: 2.0e-4, ...}   (TrainConfig)
    model: {...}               # changes to the model's default_config(variant, scale)

The packaged configs live in `generation/configs/` (`paper-256`, `cpu-64`, `cpu-128`, and
FAMGAN's `famgan-128`, `famgan-64`);
`--config NAME` picks one of them, `--config FILE.yaml` a file of one's own. The model
section of the saved `config.yaml` of a run is complete (the defaults filled in), so a
run can be rebuilt from it alone.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fme.core.errors import ConfigError
from fme.core.inputs import check_like, typed_fields
from fme.core.inputs import read_yaml as read_yaml_file
from fme.core.outputs import write_text_atomic
from generation.au import AU_SOURCES
from generation.models import default_config, split_variant

CONFIG_DIR = Path(__file__).with_name("configs")
SCALES = ("paper", "small")


@dataclass
class TrainConfig:
    """The training section (Adam and its schedule as in the reference FOMM/MRAA)."""

    iterations: int = 2000
    batch_size: int = 8
    lr: float = 2.0e-4
    betas: tuple[float, float] = (0.5, 0.999)
    #: learning rate times `gamma` at these fractions of `iterations`
    milestones: tuple[float, ...] = (0.6, 0.9)
    gamma: float = 0.1
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    #: frames in a sample video (its driving clip is cut to this length)
    sample_frames: int = 40
    num_workers: int = 0
    seed: int = 0
    size: int = 64
    #: fraction of the subjects held out (never seen in training)
    holdout: float = 0.2
    #: horizontal flip (landmarks permuted) and brightness/contrast jitter
    augment: bool = True
    #: half the driving frames moved by a random similarity of this size (shift as a
    #: fraction of the side; 0: off); see generation.data.frame_pairs.FramePairs
    driving_jitter: float = 0.0
    #: bf16 autocast on CUDA (ignored on CPU)
    mixed_precision: bool = True
    #: where the AU-driven families (famgan, tpsmm-au) take their training AUs from
    #: (generation.au.sources: landmarks, openface, libreface or pyfeat) and, for a CSV
    #: source, an explicit CSV folder (None: each clip's CSV matched by name)
    au_source: str = "landmarks"
    au_csv: str | None = None

    def check(self) -> TrainConfig:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.milestones = tuple(float(m) for m in self.milestones)
        problems = []
        if self.iterations < 1:
            problems.append("iterations must be at least 1")
        if self.batch_size < 1:
            problems.append("batch_size must be at least 1")
        if not self.lr > 0:
            problems.append("lr must be positive")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            problems.append("betas must be two numbers in [0, 1)")
        if not all(0 < m <= 1 for m in self.milestones):
            problems.append("milestones are fractions of training in (0, 1]")
        if not 0 <= self.driving_jitter <= 0.2:
            problems.append("driving_jitter must be in [0, 0.2]")
        if not 0 <= self.holdout < 1:
            problems.append("holdout must be in [0, 1)")
        if str(self.au_source).lower() not in AU_SOURCES:
            problems.append(f"au_source must be one of {', '.join(AU_SOURCES)}")
        if not 16 <= self.size <= 1024:
            problems.append("size must be in 16-1024")
        for name in ("log_every", "sample_every", "checkpoint_every", "sample_frames"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        if self.num_workers < 0:
            problems.append("num_workers must not be negative")
        if problems:
            raise ConfigError("bad train section: " + "; ".join(problems))
        return self

    def milestone_steps(self) -> list[int]:
        return sorted({max(1, int(round(m * self.iterations))) for m in self.milestones})


@dataclass
class AVDTrainConfig:
    """The AVD stage (`fme train --stage avd`), the reference's `train_avd_params`.

    The reference (vox256): 30 epochs of 2000 repeats, batch 256, Adam lr 1e-3 betas
    (0.5, 0.999), lr / 10 at epochs 20 and 25, pose regions scaled per axis by up to
    +-25 %, L1 weights 1 on shifts and affines. Here training is counted in steps.
    """

    iterations: int = 2000
    batch_size: int = 256
    lr: float = 1.0e-3
    betas: tuple[float, float] = (0.5, 0.999)
    milestones: tuple[float, ...] = (20 / 30, 25 / 30)
    gamma: float = 0.1
    random_scale: float = 0.25
    lambda_shift: float = 1.0
    lambda_affine: float = 1.0
    #: the network's bottlenecks when the model has no AVD network yet
    id_bottle_size: int = 64
    pose_bottle_size: int = 64
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0

    def check(self) -> AVDTrainConfig:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.milestones = tuple(float(m) for m in self.milestones)
        problems = []
        if self.iterations < 1:
            problems.append("iterations must be at least 1")
        if self.batch_size < 2:
            problems.append("batch_size must be at least 2 (the network has batch norms)")
        if not self.lr > 0:
            problems.append("lr must be positive")
        if not 0 <= self.random_scale < 1:
            problems.append("random_scale must be in [0, 1)")
        if not all(0 < m <= 1 for m in self.milestones):
            problems.append("milestones are fractions of training in (0, 1]")
        if self.id_bottle_size < 1 or self.pose_bottle_size < 1:
            problems.append("the bottle sizes must be positive")
        if problems:
            raise ConfigError("bad avd section: " + "; ".join(problems))
        return self

    def milestone_steps(self) -> list[int]:
        return sorted({max(1, int(round(m * self.iterations))) for m in self.milestones})


def avd_config(*sections: dict[str, Any] | None, source: str = "<config>") -> AVDTrainConfig:
    """An AVDTrainConfig from `avd` sections, later ones winning (None values skipped)."""
    names = {f.name for f in fields(AVDTrainConfig)}
    merged: dict[str, Any] = {}
    for section in sections:
        if not section:
            continue
        unknown = sorted(set(section) - names)
        if unknown:
            raise ConfigError(
                f"unknown avd key(s) {', '.join(unknown)}",
                source,
                f"Known keys: {', '.join(sorted(names))}.",
            )
        merged.update({k: v for k, v in section.items() if v is not None})
    merged = typed_fields(AVDTrainConfig, merged, "avd", source)
    try:
        return AVDTrainConfig(**merged).check()
    except ConfigError as err:
        raise ConfigError(err.message, source, err.hint) from None


@dataclass
class RunConfig:
    """Everything a training run needs to be repeated: variant, scale, train, model."""

    variant: str
    scale: str = "small"
    train: TrainConfig = field(default_factory=TrainConfig)
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["train"]["betas"] = list(self.train.betas)
        out["train"]["milestones"] = list(self.train.milestones)
        return out

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML (atomically)."""
        import yaml

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def packaged_configs() -> list[str]:
    """Names of the packaged configs (`paper-256`, `cpu-64`, ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def config_path(name_or_path: str | Path) -> Path:
    """A packaged config's file for its name, or the given file."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = CONFIG_DIR / f"{name_or_path}.yaml"
    if packaged.is_file():
        return packaged
    raise ConfigError(
        "config not found",
        name_or_path,
        f"Give a YAML file or one of the packaged configs: {', '.join(packaged_configs())}.",
    )


def default_config_name(size: int, variant: str | None = None) -> str:
    """The packaged config for an image size: paper-256 at 256 and above, else cpu-64/128;
    for `famgan` (GANimation's own optimiser and scale) famgan-128 above 64, else famgan-64."""
    if variant == "famgan":
        return "famgan-128" if size > 64 else "famgan-64"
    if size >= 256:
        return "paper-256"
    return "cpu-128" if size > 64 else "cpu-64"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file: UTF-8 YAML (see `fme.core.inputs.read_yaml`), a mapping, not empty."""
    data = read_yaml_file(path, "config file")
    if not data:
        raise ConfigError(
            "the config file is empty",
            path,
            "Give a config with the sections to change (or leave --config out for the defaults).",
        )
    return data


def _check_model_keys(config: Any, reference: Any, where: str, source: str) -> None:
    """Unknown keys of the model section raise ConfigError (a None default takes anything)."""
    if isinstance(reference, dict) and reference and not isinstance(config, dict):
        raise ConfigError(
            f"{where.rstrip('.')} must be a mapping (key: value lines), got {config!r}"[:200],
            source,
            f"Give its keys ({', '.join(sorted(reference))}) or leave the section out.",
        )
    if not isinstance(reference, dict) or not isinstance(config, dict):
        return
    unknown = sorted(set(config) - set(reference))
    if unknown:
        raise ConfigError(
            f"unknown model config key(s) {', '.join(where + k for k in unknown)}",
            source,
            f"Known keys here: {', '.join(sorted(reference))}.",
        )
    for key, value in config.items():
        _check_model_keys(value, reference[key], f"{where}{key}.", source)


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` merged in, recursively (a copy)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_everywhere(config: dict[str, Any], key: str, value: Any) -> int:
    """Set every `key` in a nested config to `value`; returns how many were set."""
    n = 0
    for k, v in config.items():
        if k == key:
            config[k] = value
            n += 1
        elif isinstance(v, dict):
            n += set_everywhere(v, key, value)
    return n


def build_run_config(
    variant: str,
    data: dict[str, Any] | None = None,
    source: str = "<config>",
    train_overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Validate a config mapping into a RunConfig for `variant`.

    `data` holds `scale`, `train` and `model` (and optionally `variant`, which must agree);
    `train_overrides` (command-line options) win over the file. The model section is the
    variant's default_config(variant, scale) with the file's changes merged in and
    `image_size` set to `train.size`.
    """
    split_variant(variant)
    data = dict(data or {})
    unknown = sorted(set(data) - {"variant", "scale", "train", "model", "avd"})
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(unknown)}",
            source,
            "A config has the sections variant, scale, train, model (and avd, for "
            "`fme train --stage avd`).",
        )
    if data.get("variant") not in (None, variant):
        raise ConfigError(
            f"the config is for variant {data['variant']!r}, not {variant!r}",
            source,
            "Pass the config's variant or remove `variant` from the file.",
        )
    scale = data.get("scale", "small")
    if scale not in SCALES:
        raise ConfigError(f"scale {scale!r}: choose 'paper' or 'small'", source)
    train_data = data.get("train") or {}
    if not isinstance(train_data, dict):
        raise ConfigError("the train section must be a mapping (key: value lines)", source)
    train_data = dict(train_data)
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(train_data) - names)
    if unknown:
        raise ConfigError(
            f"unknown train key(s) {', '.join(unknown)}",
            source,
            f"Known keys: {', '.join(sorted(names))}.",
        )
    train_data.update({k: v for k, v in (train_overrides or {}).items() if v is not None})
    train_data = typed_fields(TrainConfig, train_data, "train", source)
    try:
        train = TrainConfig(**train_data).check()
    except ConfigError as err:
        raise ConfigError(err.message, source, err.hint) from None
    reference = default_config(variant, scale)
    changes = data.get("model") or {}
    if not isinstance(changes, dict):
        raise ConfigError("the model section must be a mapping", source)
    _check_model_keys(changes, reference, "model.", source)
    changes = check_like(changes, reference, "model", source)
    model = merge(reference, changes)
    model["image_size"] = train.size
    return RunConfig(variant=variant, scale=scale, train=train, model=model)


def load_run_config(
    variant: str,
    config: str | Path | None = None,
    size: int | None = None,
    train_overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """The run config of `fme train`: a packaged name or a YAML file (default: the packaged
    config for `size`, 64 when no size is given), with command-line overrides."""
    overrides = dict(train_overrides or {})
    if size is not None:
        overrides["size"] = size
    name = config if config is not None else default_config_name(size or 64, variant)
    path = config_path(name)
    return build_run_config(variant, read_yaml(path), str(path), overrides)


def run_config_from_dict(data: dict[str, Any], source: str = "<checkpoint>") -> RunConfig:
    """Rebuild a saved RunConfig (a complete model section is taken as it is)."""
    try:
        variant = data["variant"]
        values = typed_fields(TrainConfig, dict(data.get("train") or {}), "train", source)
        train = TrainConfig(**values).check()
    except (KeyError, TypeError) as err:
        raise ConfigError(f"not a saved run config ({err})", source) from err
    return RunConfig(variant, data.get("scale", "small"), train, dict(data.get("model") or {}))
