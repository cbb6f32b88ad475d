"""Checkpoints: ours (save/load with config, variant and step) and imports of upstream ones.

Our checkpoint is one `torch.save`d dict::

    format: "fme-checkpoint", version: 1
    variant, family, step
    config: the run config (variant, scale, train, model); the model section rebuilds it
    model: the model's state dict
    optimizers, schedulers: state dicts by param group (training checkpoints only)
    extra: anything else the trainer keeps (epoch, RNG states)

`import_checkpoint` turns a checkpoint of the reference code (FOMM: `generator`,
`kp_detector`, `discriminator`; MRAA: `generator`, `region_predictor`, `bg_predictor`)
into one of ours. For a vanilla variant every tensor must fit; for a prior variant the
tensors whose names and shapes match are taken and the rest keep their initial values,
and the report says which is which.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fme.errors import ConfigError

FORMAT = "fme-checkpoint"
VERSION = 1
UPSTREAM_KEYS: dict[str, tuple[str, ...]] = {
    "fomm": ("generator", "kp_detector", "discriminator"),
    "mraa": ("generator", "region_predictor", "bg_predictor"),
    "tpsmm": (
        "kp_detector",
        "dense_motion_network",
        "inpainting_network",
        "bg_predictor",
        "avd_network",
    ),
}


def save_checkpoint(
    path: str | Path,
    model,
    step: int,
    run_config: dict[str, Any] | None = None,
    optimizers: dict[str, Any] | None = None,
    schedulers: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (a `.part` file renamed into place)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = dict(run_config) if run_config else {"variant": model.variant, "model": model.config}
    config.setdefault("model", model.config)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "variant": model.variant,
        "family": model.family,
        "step": int(step),
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "schedulers": {k: s.state_dict() for k, s in (schedulers or {}).items()},
        "extra": extra or {},
    }
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict of one of our checkpoints (ConfigError if it is not one)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError("checkpoint not found", path, "Check the path (a .pt file of fme train).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise ConfigError(
            f"cannot read checkpoint ({err.__class__.__name__})", path, "Is it a torch .pt file?"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        hint = "Train one with `fme train`."
        if isinstance(state, dict) and any(k in state for k in ("kp_detector", "region_predictor")):
            hint = "It looks like an upstream checkpoint: convert it with `fme import-checkpoint`."
        raise ConfigError("not an FME Studio checkpoint", path, hint)
    return state


def load_model(
    path: str | Path,
    device: str = "cpu",
    variant: str | None = None,
    size: int | None = None,
):
    """The AnimationModel of a checkpoint, in eval mode on `device`.

    `variant` / `size`, when given, must be the checkpoint's (ConfigError otherwise).
    """
    from generation.models import build_model

    state = read_checkpoint(path)
    if variant is not None and state["variant"] != variant:
        raise ConfigError(
            f"checkpoint holds variant {state['variant']}, not {variant}",
            path,
            "Pass the checkpoint's own variant or another checkpoint.",
        )
    model_config = state["config"]["model"]
    if size is not None and int(model_config.get("image_size", size)) != size:
        raise ConfigError(
            f"checkpoint was trained at {model_config['image_size']} px, not {size}",
            path,
            "Use the checkpoint's size or another checkpoint.",
        )
    model = build_model(state["variant"], model_config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ConfigError(
            f"weights do not fit the {state['variant']} model of its config ({err})", path
        ) from err
    return model.to(device).eval()


# ---- upstream checkpoints ------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import took from the upstream checkpoint."""

    variant: str
    taken: list[str] = field(default_factory=list)  # our tensor names filled from upstream
    initialised: list[str] = field(default_factory=list)  # ours left at their initial values
    unused: list[str] = field(default_factory=list)  # upstream tensors we had no place for
    missing_modules: list[str] = field(default_factory=list)  # upstream keys absent

    def rows(self) -> list[dict[str, str]]:
        rows = [{"tensor": n, "status": "taken"} for n in self.taken]
        rows += [{"tensor": n, "status": "initialised"} for n in self.initialised]
        rows += [{"tensor": n, "status": "unused"} for n in self.unused]
        return rows

    def summary(self) -> str:
        text = (
            f"{self.variant}: {len(self.taken)} tensors taken from the upstream checkpoint, "
            f"{len(self.initialised)} initialised, {len(self.unused)} upstream tensors unused"
        )
        if self.missing_modules:
            text += f"; not in the file: {', '.join(self.missing_modules)}"
        return text


def _upstream_file(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    if not path.is_file():
        raise ConfigError("upstream checkpoint not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise ConfigError(
            f"cannot read the upstream checkpoint ({err.__class__.__name__}: {err})",
            path,
            "Give the .pth.tar file the reference code saved.",
        ) from err


def import_checkpoint(
    source_family: str,
    file: str | Path,
    out: str | Path,
    variant: str | None = None,
    model_config: dict[str, Any] | None = None,
    scale: str = "paper",
) -> ImportReport:
    """Convert an upstream FOMM or MRAA checkpoint into ours at `out`.

    The model is `variant` (default: the family's vanilla variant) with `model_config`
    (default: default_config(variant, scale)). A vanilla variant takes every tensor and
    must match exactly; a prior variant takes the tensors whose names and shapes match
    and keeps the others at their initial values. A report CSV is written beside `out`
    (`<out>.import.csv`).
    """
    from generation.models import build_model, default_config, split_variant

    if source_family not in UPSTREAM_KEYS:
        raise ConfigError(f"--from {source_family!r}: choose fomm or mraa")
    variant = variant or source_family
    family, prior = split_variant(variant)
    if family != source_family:
        raise ConfigError(f"a {source_family} checkpoint cannot become a {variant} model")
    file = Path(file)
    upstream = _upstream_file(file)
    if not isinstance(upstream, dict) or not any(k in upstream for k in UPSTREAM_KEYS[family]):
        raise ConfigError(
            f"no {', '.join(UPSTREAM_KEYS[family])} in this file",
            file,
            f"Is it a checkpoint of the reference {family.upper()} code?",
        )
    config = model_config if model_config is not None else default_config(variant, scale)
    model = build_model(variant, config)
    report = ImportReport(variant)
    modules = model.upstream_modules()
    ours_all = model.state_dict()
    module_prefix = {id(m): name for name, m in model.named_modules()}
    filled: set[str] = set()
    mismatched: list[str] = []
    for key, module in modules.items():
        prefix = module_prefix[id(module)]
        theirs = upstream.get(key)
        if theirs is None:
            report.missing_modules.append(key)
            continue
        ours = module.state_dict()
        new_state = {}
        for name, tensor in ours.items():
            up = theirs.get(name)
            full = f"{prefix}.{name}"
            if up is not None and tuple(up.shape) == tuple(tensor.shape):
                new_state[name] = up.to(tensor.dtype)
                filled.add(full)
            else:
                new_state[name] = tensor
                if up is not None:
                    mismatched.append(f"{full} {tuple(up.shape)} vs {tuple(tensor.shape)}")
        report.unused += [f"{key}.{n}" for n in theirs if n not in ours]
        module.load_state_dict(new_state)
    report.taken = [n for n in ours_all if n in filled]
    report.initialised = [n for n in ours_all if n not in filled]
    if prior is None:
        needed = [
            n
            for n in report.initialised
            if any(n.startswith(module_prefix[id(m)] + ".") for m in modules.values())
            and not any(
                n.startswith(module_prefix[id(modules[k])] + ".") for k in report.missing_modules
            )
        ]
        if needed or report.unused:
            detail = (mismatched or needed or report.unused)[:5]
            raise ConfigError(
                f"the checkpoint does not fit the {variant} model of this config "
                f"({len(needed)} tensors missing or of another shape, {len(report.unused)} "
                f"unused; e.g. {'; '.join(detail)})",
                file,
                "Pass the model config it was trained with (--config), or import it into a "
                "prior variant to take the matching layers only.",
            )
        if set(report.missing_modules) >= {"generator"}:
            raise ConfigError("the checkpoint has no generator", file)
    out = Path(out)
    save_checkpoint(
        out,
        model,
        step=int(upstream.get("epoch", 0) or 0) if isinstance(upstream.get("epoch", 0), int) else 0,
        run_config={"variant": variant, "scale": scale, "model": model.config},
        extra={"imported_from": str(file), "source_family": source_family},
    )
    with out.with_name(out.name + ".import.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["tensor", "status"])
        writer.writeheader()
        writer.writerows(report.rows())
    return report


# ---- TPSMM: the reference's checkpoint and config file ----------------------------------


def import_tpsmm(
    file: str | Path,
    out: str | Path,
    variant: str | None = None,
    config_file: str | Path | None = None,
    scale: str = "paper",
) -> ImportReport:
    """Convert a checkpoint of the reference TPSMM code (`kp_detector`,
    `dense_motion_network`, `inpainting_network`, and `bg_predictor` / `avd_network` when
    it has them; its `optimizer*` and `epoch` are left out) into ours at `out`.

    `config_file` is the YAML it was trained with, in the reference's own format
    (`model_params`, `train_params`, `train_avd_params`, `dataset_params`, e.g. its
    `config/vox-256.yaml`) or ours (a run config with a model section); None: our
    `default_config(variant, scale)`, which at "paper" scale is vox-256.
    """
    from generation.config import build_run_config, config_path, read_yaml
    from generation.models import default_config

    variant = variant or "tpsmm"
    model_config = None
    if config_file is not None:
        path = config_path(config_file)
        data = read_yaml(path)
        if isinstance(data, dict) and "model_params" in data:
            model_config = tpsmm_config_from_reference(data, variant, scale, str(path))
        else:
            run = build_run_config(variant, data, str(path))
            model_config = run.model
            size = (data.get("train") or {}).get("size")
            if size is None:
                model_config["image_size"] = (data.get("model") or {}).get(
                    "image_size", 256 if run.scale == "paper" else 64
                )
    if model_config is None:
        model_config = default_config(variant, scale)
    return import_checkpoint("tpsmm", file, out, variant, model_config, scale)


def tpsmm_config_from_reference(
    data: dict[str, Any], variant: str = "tpsmm", scale: str = "paper", source: str = ""
) -> dict[str, Any]:
    """Our TPSMM model config from a config file of the reference code (its `model_params`
    and, when present, `train_params` / `train_avd_params`; the image side from
    `dataset_params.frame_shape`, 256 when null). Epoch counts of the schedule become
    fractions of `num_epochs`."""
    from generation.models import default_config

    try:
        params = data["model_params"]
        common = params["common_params"]
        cfg = default_config(variant, scale)
        # the reference's ResNet-18s are torchvision's, always of width 64
        cfg["kp_detector"]["width"] = cfg["bg_predictor"]["width"] = 64
        cfg["num_tps"] = int(common["num_tps"])
        cfg["num_channels"] = int(common.get("num_channels", 3))
        cfg["multi_mask"] = bool(common.get("multi_mask", True))
        cfg["bg_predictor"]["enabled"] = bool(common.get("bg", False))
        for ours, theirs in (
            ("inpainting", "generator_params"),
            ("dense_motion", "dense_motion_params"),
        ):
            for key, value in (params.get(theirs) or {}).items():
                if key not in cfg[ours]:
                    raise ConfigError(f"unknown {theirs} key {key!r}", source)
                cfg[ours][key] = value
        for key in ("id_bottle_size", "pose_bottle_size"):
            if key in (params.get("avd_network_params") or {}):
                cfg["avd"][key] = int(params["avd_network_params"][key])
        shape = (data.get("dataset_params") or {}).get("frame_shape")
        cfg["image_size"] = int(shape[0]) if shape else 256
        train = data.get("train_params") or {}
        weights = train.get("loss_weights") or {}
        for key in ("perceptual", "equivariance_value", "warp_loss", "bg"):
            if key in weights:
                cfg["loss"][key] = weights[key]
        if "scales" in train:
            cfg["loss"]["scales"] = list(train["scales"])
        if "transform_params" in train:
            cfg["transform"].update(train["transform_params"])
        epochs = float(train.get("num_epochs", 0) or 0)
        if epochs:
            sched = cfg["schedule"]
            for ours, theirs in (
                ("dropout_until", "dropout_epoch"),
                ("dropout_ramp", "dropout_inc_epoch"),
                ("bg_start", "bg_start"),
            ):
                if theirs in train:
                    sched[ours] = float(train[theirs]) / epochs
            for key in ("dropout_startp", "dropout_maxp"):
                if key in train:
                    sched[key] = float(train[key])
        avd = data.get("train_avd_params") or {}
        if "random_scale" in avd:
            cfg["avd"]["random_scale"] = float(avd["random_scale"])
        if "lambda_shift" in avd:
            cfg["avd"]["lambda_shift"] = float(avd["lambda_shift"])
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(
            f"not a TPSMM config of the reference code ({err.__class__.__name__}: {err})",
            source,
            "Give the config/*.yaml the checkpoint was trained with.",
        ) from err
    return cfg
