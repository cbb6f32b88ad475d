"""Checkpoints: ours (save/load with config, variant and step) and imports of upstream ones.

Our checkpoint is one `torch.save`d dict::

    format: "fme-checkpoint", version: 1
    variant, family, step
    config: the run config (variant, scale, train, model); the model section rebuilds it
    model: the model's state dict
    optimizers, schedulers: state dicts by param group (training checkpoints only)
    extra: anything else the trainer keeps (epoch, RNG states)

`import_checkpoint` turns a checkpoint of the reference code (FOMM: `generator`,
`kp_detector`, `discriminator`; MRAA: `generator`, `region_predictor`, `bg_predictor`,
`avd_network`) into one of ours. The family is recognised from the file's keys (a wrong
`--from` is told what the file is); the config is ours or the reference's own YAML
(`generation.checkpoints.upstream`); the reference's epoch (`epoch`, `epoch_reconstruction`)
becomes our step. For a vanilla variant every tensor must fit; for a prior variant the
tensors whose names and shapes match are taken and the rest keep their initial values.
The report (and `<out>.import.csv`) names every tensor and every other key of the file,
and every key of a reference config, with what became of it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fme.core.errors import ConfigError
from fme.core.outputs import atomic_open
from generation.checkpoints.upstream import (
    EPOCH_KEYS,
    FAMILY_KEYS,
    is_upstream_yaml,
    translate_upstream_config,
    upstream_families,
)
from generation.config import build_run_config, config_path, merge, read_yaml
from generation.models import build_model, default_config, split_variant
from generation.models.liveportrait.release import load_release
from generation.models.mraa.avd import bottle_sizes

FORMAT = "fme-checkpoint"
VERSION = 1
UPSTREAM_KEYS: dict[str, tuple[str, ...]] = {
    "fomm": ("generator", "kp_detector", "discriminator"),
    "mraa": ("generator", "region_predictor", "bg_predictor", "avd_network"),
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
    with atomic_open(path, "wb") as fh:  # ENOSPC: one line naming the file, no .part left
        torch.save(state, fh)
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
    model = state.get("model")
    if not isinstance(model, dict):
        raise ConfigError(
            "the checkpoint holds no model weights", path, "Train one with `fme train`."
        )
    refuse_nonfinite(model, path)
    return state


def refuse_nonfinite(weights: dict[str, Any], path: str | Path) -> None:
    """ConfigError naming the tensors of `weights` that hold NaN or infinite values (the
    weights of a run that diverged: animating with them gives black videos)."""
    import torch

    bad = [
        name
        for name, tensor in weights.items()
        if isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ConfigError(
            f"{len(bad)} weight tensor(s) hold NaN or infinite values ({shown}): the run that "
            "saved them diverged",
            path,
            "Use an earlier checkpoint of that run (checkpoints/step_*.pt), or train again with "
            "a lower learning rate.",
        )


def load_model(
    path: str | Path,
    device: str = "cpu",
    variant: str | None = None,
    size: int | None = None,
):
    """The AnimationModel of a checkpoint, in eval mode on `device`.

    `variant` / `size`, when given, must be the checkpoint's (ConfigError otherwise).
    """
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
    # the AU source its training read (famgan, tpsmm-au): animation should read the same
    model.trained_au_source = str(
        (state["config"].get("train") or {}).get("au_source") or "landmarks"
    )
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
    #: the file's other top-level keys: (key, what became of it)
    other_keys: list[tuple[str, str]] = field(default_factory=list)
    #: a reference config's keys (UpstreamConfig.rows), when one was given
    config_rows: list[dict[str, str]] = field(default_factory=list)
    family: str = ""
    step: int = 0

    @property
    def not_taken(self) -> list[str]:
        """Everything of the file and its config that was not taken, by name."""
        names = list(self.unused)
        names += [k for k, why in self.other_keys if not why.startswith("taken")]
        names += [r["key"] for r in self.config_rows if r["status"] != "taken"]
        return names

    def rows(self) -> list[dict[str, str]]:
        rows = [{"tensor": n, "status": "taken", "detail": ""} for n in self.taken]
        rows += [{"tensor": n, "status": "initialised", "detail": ""} for n in self.initialised]
        rows += [{"tensor": n, "status": "unused", "detail": ""} for n in self.unused]
        rows += [
            {"tensor": k, "status": "not in the file", "detail": ""} for k in self.missing_modules
        ]
        for key, what in self.other_keys:
            status = "taken" if what.startswith("taken") else "not taken"
            rows.append({"tensor": key, "status": status, "detail": what})
        rows += [
            {"tensor": f"config:{r['key']}", "status": r["status"], "detail": r["detail"]}
            for r in self.config_rows
        ]
        return rows

    def summary(self) -> str:
        text = (
            f"{self.variant} (from a {self.family.upper()} checkpoint, step {self.step}): "
            f"{len(self.taken)} tensors taken from the upstream checkpoint, "
            f"{len(self.initialised)} initialised, {len(self.unused)} upstream tensors unused"
        )
        if self.missing_modules:
            text += f"; not in the file: {', '.join(self.missing_modules)}"
        others = [k for k, what in self.other_keys if not what.startswith("taken")]
        if others:
            text += f"; other keys not taken: {', '.join(others)}"
        config_left = [r["key"] for r in self.config_rows if r["status"] != "taken"]
        if config_left:
            text += f"; config keys not taken: {', '.join(config_left)}"
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
            f"cannot read the upstream checkpoint: not a file torch.load reads "
            f"({err.__class__.__name__})",
            path,
            "Give the .pth.tar file the reference code saved.",
        ) from err


def _family_of_file(file: Path, upstream: Any, source_family: str | None) -> str:
    """The family of an upstream checkpoint: recognised from its keys, checked against
    `source_family` (--from) when given."""
    families = upstream_families(upstream)
    if len(families) > 1:
        held = "; ".join(f"{f.upper()}: {', '.join(dict(FAMILY_KEYS)[f])}" for f in families)
        raise ConfigError(
            f"this file holds the networks of more than one reference family ({held})",
            file,
            "Give the checkpoint one reference code saved, unchanged.",
        )
    found = families[0] if families else None
    if found is None:
        wanted = source_family or "fomm, mraa or tpsmm"
        keys = ", ".join(UPSTREAM_KEYS.get(source_family or "", ())) or (
            "kp_detector or region_predictor"
        )
        raise ConfigError(
            f"no {keys} in this file",
            file,
            f"Is it a checkpoint of the reference {wanted.upper()} code?",
        )
    present = ", ".join(k for k in upstream if isinstance(upstream[k], dict))
    if found not in UPSTREAM_KEYS:
        raise ConfigError(
            f"this is a {found.upper()} checkpoint of the reference code ({present}); "
            "only FOMM, MRAA and TPSMM checkpoints are imported here",
            file,
        )
    if source_family is not None and found != source_family:
        raise ConfigError(
            f"this is a {found.upper()} checkpoint of the reference code ({present}), "
            f"not {source_family.upper()}",
            file,
            f"Pass --from {found} (or leave --from out: the family is recognised).",
        )
    return found


def _config_from_file(
    config_file: str | Path, variant: str, family: str, scale: str, with_avd: bool
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(model config, extra run-config sections, UpstreamConfig or None) of --config:
    our run config or the reference's own YAML."""
    path = config_path(config_file)
    data = read_yaml(path)
    if is_upstream_yaml(data):
        translated = translate_upstream_config(data, family, str(path), with_avd=with_avd)
        changes = translated.model
        _, prior = _split(variant)
        if prior is not None:
            # a prior variant keeps its 18 keypoints / regions
            for section, key in (("common", "num_kp"), (None, "num_regions")):
                holder = changes.get(section, {}) if section else changes
                if key in holder:
                    holder.pop(key)
                    translated.not_taken.append(
                        (f"model_params.{key}", f"{variant} has the prior's 18")
                    )
                    translated.taken = [t for t in translated.taken if not t[1].endswith(key)]
        model = merge(default_config(variant, "paper"), changes)
        extra = {"train": translated.train, "avd": translated.avd}
        return model, {k: v for k, v in extra.items() if v}, translated
    return _own_model_config(data, variant, path), {}, None


def _own_model_config(data: dict[str, Any], variant: str, path: Path) -> dict[str, Any]:
    """The model config of one of our run configs (`data`, read from `path`); without a
    `train.size`, the image size is the model section's, or the scale's (256 / 64)."""
    run = build_run_config(variant, data, str(path))
    model = run.model
    if (data.get("train") or {}).get("size") is None:
        model["image_size"] = (data.get("model") or {}).get(
            "image_size", 256 if run.scale == "paper" else 64
        )
    return model


def _split(variant: str):
    return split_variant(variant)


def _avd_config(upstream: dict[str, Any]) -> dict[str, int]:
    """The AVD network's bottleneck sizes read off a reference `avd_network` state dict."""
    return bottle_sizes(upstream["avd_network"])


def import_checkpoint(
    source_family: str | None,
    file: str | Path,
    out: str | Path,
    variant: str | None = None,
    model_config: dict[str, Any] | None = None,
    scale: str = "paper",
    config_file: str | Path | None = None,
    size: int | None = None,
) -> ImportReport:
    """Convert an upstream FOMM, MRAA or TPSMM checkpoint into ours at `out` (LivePortrait's
    released weights folder: `import_liveportrait`).

    `source_family` (--from) may be None: the family is recognised from the file's keys,
    and a given one that the file is not raises ConfigError naming what the file is. The
    model is `variant` (default: the family's vanilla variant) with `model_config`, or
    the config of `config_file` (ours, or the reference's YAML, translated), or
    default_config(variant, scale); `size` sets its image size. A vanilla variant takes
    every tensor and must match exactly; a prior variant takes the tensors whose names
    and shapes match and keeps the others at their initial values. An `avd_network` in
    an MRAA file builds our AVD network and loads strictly. The reference's epoch becomes
    the step. A report CSV is written beside `out` (`<out>.import.csv`).
    """
    if source_family == "liveportrait" or (source_family is None and Path(file).is_dir()):
        return import_liveportrait(file, out, variant, scale=scale, config_file=config_file)
    if source_family is not None and source_family not in UPSTREAM_KEYS:
        choices = ", ".join([*UPSTREAM_KEYS, "liveportrait"])
        raise ConfigError(f"--from {source_family!r}: choose {choices}")
    file = Path(file)
    # the variant's name is checked before the file is read
    wanted = split_variant(variant)[0] if variant is not None else None
    upstream = _upstream_file(file)
    if wanted is not None and source_family is not None and wanted != source_family:
        raise ConfigError(f"a {source_family} checkpoint cannot become a {variant} model")
    family = _family_of_file(file, upstream, source_family)
    variant = variant or family
    vfamily, prior = split_variant(variant)
    if vfamily != family:
        raise ConfigError(f"a {family} checkpoint cannot become a {variant} model", file)
    with_avd = family == "mraa" and isinstance(upstream.get("avd_network"), dict)
    extra_sections: dict[str, Any] = {}
    translated = None
    if model_config is None and config_file is not None:
        if family == "tpsmm":  # the reference's TPSMM format or ours, see tpsmm_config_file
            model_config = tpsmm_config_file(config_file, variant, scale)
        else:
            model_config, extra_sections, translated = _config_from_file(
                config_file, variant, family, scale, with_avd
            )
    config = model_config if model_config is not None else default_config(variant, scale)
    if size is not None:
        config = merge(config, {"image_size": int(size)})
    if with_avd and not config.get("avd_network"):
        config = merge(config, {"avd_network": _avd_config(upstream)})
    model = build_model(variant, config)
    report = ImportReport(variant, family=family)
    if translated is not None:
        report.config_rows = translated.rows()
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
        if not isinstance(theirs, dict):
            raise ConfigError(
                f"'{key}' in this file holds a {type(theirs).__name__}, not the network's "
                "weights (a dict of tensors)",
                file,
                "Is it a checkpoint of the reference FOMM, MRAA or TPSMM code?",
            )
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
    refuse_nonfinite(model.state_dict(), file)  # a diverged reference run
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
    report.step = _upstream_step(family, upstream)
    report.other_keys = _other_keys(family, upstream, set(modules))
    out = Path(out)
    save_checkpoint(
        out,
        model,
        step=report.step,
        run_config={"variant": variant, "scale": scale, "model": model.config, **extra_sections},
        extra={"imported_from": str(file), "source_family": family},
    )
    with atomic_open(out.with_name(out.name + ".import.csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["tensor", "status", "detail"])
        writer.writeheader()
        writer.writerows(report.rows())
    return report


def _upstream_step(family: str, upstream: dict[str, Any]) -> int:
    """The reference's epoch (`epoch`, MRAA's `epoch_reconstruction` / `epoch_avd`)."""
    for key in EPOCH_KEYS[family]:
        value = upstream.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _other_keys(family: str, upstream: dict[str, Any], modules: set[str]) -> list[tuple[str, str]]:
    """What became of each top-level key of the file that is not a network we loaded."""
    step_key = next((k for k in EPOCH_KEYS[family] if isinstance(upstream.get(k), int)), None)
    out = []
    for key in upstream:
        if key in modules:
            continue
        if key == step_key:
            out.append((key, "taken as the step"))
        elif key.startswith("optimizer"):
            out.append((key, "optimizer state: not taken (fme train starts its own)"))
        elif key in EPOCH_KEYS[family]:
            out.append((key, "another stage's epoch: not taken"))
        else:
            out.append((key, "no counterpart here: not taken"))
    return out


# ---- TPSMM: the reference's checkpoint and config file ----------------------------------


def tpsmm_config_file(
    config_file: str | Path, variant: str = "tpsmm", scale: str = "paper"
) -> dict[str, Any]:
    """The model config of a TPSMM checkpoint's YAML: the reference's own format
    (`model_params`, `train_params`, `train_avd_params`, `dataset_params`, e.g. its
    `config/vox-256.yaml`) or ours (a run config with a model section)."""
    path = config_path(config_file)
    data = read_yaml(path)
    if isinstance(data, dict) and "model_params" in data:
        return tpsmm_config_from_reference(data, variant, scale, str(path))
    return _own_model_config(data, variant, path)


def import_tpsmm(
    file: str | Path,
    out: str | Path,
    variant: str | None = None,
    config_file: str | Path | None = None,
    scale: str = "paper",
) -> ImportReport:
    """`import_checkpoint` of a checkpoint of the reference TPSMM code (`kp_detector`,
    `dense_motion_network`, `inpainting_network`, and `bg_predictor` / `avd_network` when
    it has them; its `optimizer*` and `epoch` are reported as not taken)."""
    return import_checkpoint("tpsmm", file, out, variant, scale=scale, config_file=config_file)


def tpsmm_config_from_reference(
    data: dict[str, Any], variant: str = "tpsmm", scale: str = "paper", source: str = ""
) -> dict[str, Any]:
    """Our TPSMM model config from a config file of the reference code (its `model_params`
    and, when present, `train_params` / `train_avd_params`; the image side from
    `dataset_params.frame_shape`, 256 when null). Epoch counts of the schedule become
    fractions of `num_epochs`."""
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


# ---- LivePortrait: the released weights folder -------------------------------------------


def import_liveportrait(
    folder: str | Path,
    out: str | Path,
    variant: str | None = None,
    scale: str = "paper",
    config_file: str | Path | None = None,
) -> ImportReport:
    """The released LivePortrait weights (the reference's folder layout, see
    `generation.models.liveportrait.release`) as our `liveportrait` checkpoint at `out`,
    loaded strictly into the config of `scale` ("paper": the reference's models.yaml;
    "small": our narrow test networks). A missing or foreign file is a ConfigError naming
    it, and nothing is written. `<out>.import.csv` lists every tensor taken."""
    if variant not in (None, "liveportrait"):
        raise ConfigError(f"LivePortrait weights cannot become a {variant} model")
    folder = Path(folder)
    if config_file is not None:
        raise ConfigError(
            "--config is not read for LivePortrait weights: their shapes are the reference's "
            "models.yaml (--scale paper)",
            config_file,
        )
    config = default_config("liveportrait", scale)
    model = build_model("liveportrait", config)
    report = ImportReport("liveportrait", family="liveportrait")
    report.taken = load_release(model, folder)
    report.initialised = [n for n in model.state_dict() if n not in set(report.taken)]
    if report.initialised:  # every tensor of ours comes from the files
        raise ConfigError(
            f"the weights leave {len(report.initialised)} tensors of the model unset "
            f"(e.g. {', '.join(report.initialised[:3])})",
            folder,
        )
    out = Path(out)
    save_checkpoint(
        out,
        model,
        step=0,
        run_config={"variant": "liveportrait", "scale": scale, "model": model.config},
        extra={"imported_from": str(folder), "source_family": "liveportrait"},
    )
    with out.with_name(out.name + ".import.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["tensor", "status", "detail"])
        writer.writeheader()
        writer.writerows(report.rows())
    return report
