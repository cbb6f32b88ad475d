"""The reference code's own files: which family a file is, and its YAML in our terms.

`upstream_families(state)` names the family of a checkpoint dict of the reference code from
its keys (FOMM: `kp_detector` + `generator`; MRAA: `region_predictor`; TPSMM:
`inpainting_network`; more than one for a file that mixes them), and `yaml_family(data)`
that of a reference config (`model_params` with `common_params.num_kp`,
`region_predictor_params` or `num_tps`).

`translate_upstream_config(data, family)` turns a reference config (`dataset_params`,
`model_params`, `train_params`, `train_avd_params`, ...) into the changes to our model
config, our train section and our AVD-stage section, and says for every leaf key of the
file whether it was taken and where it went, or why not (`UpstreamConfig.rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fme.core.errors import ConfigError

#: checkpoint keys that identify a family (first match wins; TPSMM before FOMM, since
#: TPSMM checkpoints also hold a `kp_detector`)
FAMILY_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tpsmm", ("inpainting_network",)),
    ("mraa", ("region_predictor",)),
    ("fomm", ("kp_detector", "generator")),
)
#: the reference's epoch key per family (becomes our step)
EPOCH_KEYS: dict[str, tuple[str, ...]] = {
    "fomm": ("epoch",),
    "mraa": ("epoch_reconstruction", "epoch_avd", "epoch"),
    "tpsmm": ("epoch", "epoch_avd"),
}

# reference key path -> our key path ("model.", "train." or "avd." prefixed)
#: the train_params keys FOMM's and MRAA's reference configs share
_TRAIN_SHARED: dict[str, str] = {
    "train_params.batch_size": "train.batch_size",
    "train_params.epoch_milestones": "train.milestones",
    "train_params.scales": "model.loss.scales",
    **{
        f"train_params.transform_params.{k}": f"model.transform.{k}"
        for k in ("sigma_affine", "sigma_tps", "points_tps")
    },
}
_FOMM_MAP: dict[str, str] = {
    "dataset_params.frame_shape": "model.image_size",
    "model_params.common_params.num_kp": "model.common.num_kp",
    "model_params.common_params.num_channels": "model.common.num_channels",
    "model_params.common_params.estimate_jacobian": "model.common.estimate_jacobian",
    **{
        f"model_params.kp_detector_params.{k}": f"model.kp_detector.{k}"
        for k in ("temperature", "block_expansion", "max_features", "scale_factor", "num_blocks")
    },
    "model_params.kp_detector_params.pad": "model.kp_detector.pad",
    **{
        f"model_params.generator_params.{k}": f"model.generator.{k}"
        for k in (
            "block_expansion",
            "max_features",
            "num_down_blocks",
            "num_bottleneck_blocks",
            "estimate_occlusion_map",
        )
    },
    **{
        f"model_params.generator_params.dense_motion_params.{k}": f"model.generator.dense_motion.{k}"
        for k in ("block_expansion", "max_features", "num_blocks", "scale_factor")
    },
    **{
        f"model_params.discriminator_params.{k}": f"model.discriminator.{k}"
        for k in ("scales", "block_expansion", "max_features", "num_blocks", "sn")
    },
    "train_params.lr_generator": "train.lr",
    **_TRAIN_SHARED,
    **{
        f"train_params.loss_weights.{k}": f"model.loss.{k}"
        for k in (
            "generator_gan",
            "discriminator_gan",
            "feature_matching",
            "perceptual",
            "equivariance_value",
            "equivariance_jacobian",
        )
    },
}

_MRAA_MAP: dict[str, str] = {
    "dataset_params.frame_shape": "model.image_size",
    "model_params.num_regions": "model.num_regions",
    "model_params.num_channels": "model.num_channels",
    "model_params.revert_axis_swap": "model.revert_axis_swap",
    **{
        f"model_params.region_predictor_params.{k}": f"model.region_predictor.{k}"
        for k in (
            "temperature",
            "block_expansion",
            "max_features",
            "scale_factor",
            "num_blocks",
            "pca_based",
        )
    },
    **{
        f"model_params.bg_predictor_params.{k}": f"model.bg_predictor.{k}"
        for k in ("block_expansion", "max_features", "num_blocks", "bg_type")
    },
    **{
        f"model_params.generator_params.{k}": f"model.generator.{k}"
        for k in (
            "block_expansion",
            "max_features",
            "num_down_blocks",
            "num_bottleneck_blocks",
            "skips",
        )
    },
    **{
        f"model_params.generator_params.pixelwise_flow_predictor_params.{k}": (
            f"model.generator.pixelwise_flow_predictor_params.{k}"
        )
        for k in (
            "block_expansion",
            "max_features",
            "num_blocks",
            "scale_factor",
            "region_var",
            "use_deformed_source",
            "use_covar_heatmap",
            "estimate_occlusion_map",
        )
    },
    "model_params.avd_network_params.id_bottle_size": "model.avd_network.id_bottle_size",
    "model_params.avd_network_params.pose_bottle_size": "model.avd_network.pose_bottle_size",
    "train_params.lr": "train.lr",
    **_TRAIN_SHARED,
    **{
        f"train_params.loss_weights.{k}": f"model.loss.{k}"
        for k in ("perceptual", "equivariance_shift", "equivariance_affine")
    },
    "train_avd_params.lr": "avd.lr",
    "train_avd_params.batch_size": "avd.batch_size",
    "train_avd_params.epoch_milestones": "avd.milestones",
    "train_avd_params.random_scale": "avd.random_scale",
    "train_avd_params.lambda_shift": "avd.lambda_shift",
    "train_avd_params.lambda_affine": "avd.lambda_affine",
}

#: reference keys read but not copied, and why
_NOTED: dict[str, str] = {
    "model_params.estimate_affine": "MRAA's PCA affines are always estimated here",
    "model_params.region_predictor_params.fast_svd": (
        "the SVD always runs on the CPU, as the reference's default (fast_svd: false) does"
    ),
    "model_params.kp_detector_params.single_jacobian_map": (
        "one Jacobian map per keypoint here (the reference's default, false)"
    ),
    "model_params.discriminator_params.use_kp": "the discriminator never sees keypoints here",
    "train_params.num_epochs": "used for the milestones; iterations come from `fme train`",
    "train_avd_params.num_epochs": "used for the milestones; iterations come from `fme train`",
}


@dataclass
class UpstreamConfig:
    """A reference config in our terms."""

    family: str
    model: dict[str, Any] = field(default_factory=dict)  # changes to default_config(...)
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields
    avd: dict[str, Any] = field(default_factory=dict)  # AVDTrainConfig fields
    taken: list[tuple[str, str]] = field(default_factory=list)  # (reference key, our key)
    not_taken: list[tuple[str, str]] = field(default_factory=list)  # (reference key, why)

    def rows(self) -> list[dict[str, str]]:
        """One row per leaf key of the reference file (key, status, detail)."""
        rows = [{"key": k, "status": "taken", "detail": ours} for k, ours in self.taken]
        rows += [{"key": k, "status": "not taken", "detail": why} for k, why in self.not_taken]
        return rows


def upstream_families(state: Any) -> list[str]:
    """Every reference family ("tpsmm", "mraa", "fomm") whose distinctive keys `state` has:
    one for a checkpoint the reference code saved, more for a file mixing families."""
    if not isinstance(state, dict):
        return []
    return [family for family, keys in FAMILY_KEYS if all(k in state for k in keys)]


def yaml_family(data: dict[str, Any]) -> str | None:
    """The reference family of a reference config (None when it is not one)."""
    params = data.get("model_params")
    if not isinstance(params, dict):
        return None
    common = params.get("common_params") or {}
    if "num_tps" in common:
        return "tpsmm"
    if "region_predictor_params" in params:
        return "mraa"
    if "kp_detector_params" in params or "num_kp" in common:
        return "fomm"
    return None


def is_upstream_yaml(data: dict[str, Any]) -> bool:
    """True for a config in the reference code's format (a `model_params` section, which
    `translate_upstream_config` then checks)."""
    return "model_params" in data


def _leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict) and data:
        out: list[tuple[str, Any]] = []
        for key, value in data.items():
            out += _leaves(value, f"{prefix}{key}.")
        return out
    return [(prefix[:-1], data)]


def _set(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def translate_upstream_config(
    data: dict[str, Any], family: str, source: str = "<config>", with_avd: bool = False
) -> UpstreamConfig:
    """A reference config of `family` as changes to our config (see the module docstring).

    `with_avd`: the checkpoint holds an `avd_network`, so `avd_network_params` build ours
    (otherwise they are reported as not taken). The epoch milestones become fractions of
    training; `frame_shape` (when given) the image size.
    """
    if not isinstance(data.get("model_params"), dict):
        raise ConfigError(
            f"model_params must be a mapping (key: value lines), got {data.get('model_params')!r}",
            source,
            "Give the config.yaml the reference code trained the checkpoint with.",
        )
    found = yaml_family(data)
    if found is None:
        raise ConfigError("not a config of the reference code (no model_params)", source)
    if found != family:
        raise ConfigError(
            f"this is a {found.upper()} config of the reference code, not {family.upper()}",
            source,
            f"Pass the {family.upper()} config the checkpoint was trained with.",
        )
    mapping = {"fomm": _FOMM_MAP, "mraa": _MRAA_MAP}[family]
    out = UpstreamConfig(family)
    train_epochs = (data.get("train_params") or {}).get("num_epochs")
    avd_epochs = (data.get("train_avd_params") or {}).get("num_epochs")
    sections = {"model": out.model, "train": out.train, "avd": out.avd}
    sections_of = {k.rsplit(".", n)[0] for k in mapping for n in range(1, k.count(".") + 1)}
    for key, value in _leaves(data):
        ours = mapping.get(key)
        if key in sections_of and value is not None and not isinstance(value, dict):
            raise ConfigError(
                f"{key} must be a mapping (key: value lines), got {value!r}"[:200],
                source,
                "Fix the section, or give the config.yaml the checkpoint was trained with.",
            )
        if ours is None:
            out.not_taken.append((key, _NOTED.get(key, "no counterpart here")))
            continue
        if ours.startswith("model.avd_network.") and not with_avd:
            out.not_taken.append((key, "the checkpoint holds no avd_network"))
            continue
        if key == "dataset_params.frame_shape":
            if value is None:
                out.not_taken.append((key, "null in the file; the size is --size or 256"))
                continue
            value = int(value[0])
        if key.endswith("epoch_milestones"):
            epochs = avd_epochs if key.startswith("train_avd_params") else train_epochs
            if not epochs:
                out.not_taken.append((key, "no num_epochs to turn them into fractions"))
                continue
            value = [float(m) / float(epochs) for m in value]
        section, *path = ours.split(".")
        _set(sections[section], path, value)
        out.taken.append((key, ours))
    # the reference's own behaviour where our configs have options it lacks
    if family == "fomm" and "generator" in out.model:
        out.model["generator"].setdefault("image_residual", False)
        out.model["generator"].setdefault("dense_motion", {}).setdefault("heatmaps", "difference")
    return out
