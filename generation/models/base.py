"""The contract between the motion-transfer models and the trainer / animator.

Every variant (`fomm`, `fomm-ewp`, `fomm-awp`, `mraa`, `mraa-ewp`, `mraa-awp`) is an
`AnimationModel`. The trainer, the animator, `fme megc` and `fme import-checkpoint`
only use the methods below, so FOMM and MRAA plug into one trainer and one animator.

Tensors: images are float in [0, 1], shape (B, 3, H, W); landmarks are the dlib 68
points of the same frames in pixel coordinates of those images, shape (B, 68, 2)
(x, y). Models turn landmarks into the facial prior themselves (`generation.face.prior`),
so no landmark detection happens inside a training step.
"""

from __future__ import annotations

import contextlib
import copy
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from fme.core.errors import ConfigError
from generation.data.frame_pairs import FramePairs
from generation.models.blocks import normalized_to_pixels
from generation.training.losses import ReconstructionLoss, load_vgg19

#: `inference.autocast` values of a model config and their dtypes (None: fp32)
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

#: the animation modes of `fme animate --mode`: the driving motion as it is, relative to
#: the driving onset frame, or through the family's AVD network (where it has one)
ANIMATION_MODES: tuple[str, ...] = ("standard", "relative", "avd")
#: other names of the modes (FOMM calls "standard" "absolute")
MODE_ALIASES: dict[str, str] = {"absolute": "standard"}


@cache
def _read_defaults(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def packaged_defaults(module_file: str) -> dict[str, Any]:
    """The `defaults.yaml` beside a family's module (`module_file`: its `__file__`), a fresh
    copy at each call: the model configs `default_config` starts from."""
    return copy.deepcopy(_read_defaults(str(Path(module_file).with_name("defaults.yaml"))))


def prior_of(variant: str, family: str, article: str = "a") -> str | None:
    """The prior kind of a `family` variant ("ewp", "awp", or None for the vanilla model);
    ConfigError for a variant outside `family`, `family`-ewp, `family`-awp."""
    if variant not in (family, f"{family}-ewp", f"{family}-awp"):
        raise ConfigError(
            f"{variant!r} is not {article} {family.upper()} variant; "
            f"choose {family}, {family}-ewp or {family}-awp"
        )
    return variant.partition("-")[2] or None


def check_config_keys(
    config: Any, reference: dict[str, Any], label: str = "model", where: str = ""
) -> dict[str, Any]:
    """A copy of `config` with missing keys filled from `reference`; unknown keys raise
    ConfigError ("unknown {label} config key(s) ...")."""
    if not isinstance(config, dict):
        raise ConfigError(f"model config section {where or '<root>'!r} must be a mapping")
    unknown = sorted(set(config) - set(reference))
    if unknown:
        raise ConfigError(
            f"unknown {label} config key(s) {', '.join(where + k for k in unknown)}",
            hint=f"Known keys here: {', '.join(sorted(reference))}.",
        )
    out: dict[str, Any] = {}
    for key, ref in reference.items():
        if key not in config:
            out[key] = copy.deepcopy(ref)
        elif isinstance(ref, dict):
            out[key] = check_config_keys(config[key], ref, label, f"{where}{key}.")
        else:
            out[key] = copy.deepcopy(config[key])
    return out


def check_autocast(mode: Any, where: str = "inference.autocast") -> None:
    """ConfigError unless `mode` is None, "none" or a key of AUTOCAST_DTYPES."""
    if mode not in (None, "none", *AUTOCAST_DTYPES):
        raise ConfigError(f"{where} {mode!r}: choose null, 'bf16' or 'fp16'")


def hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of 2-D points (N, 2) (0 when they are collinear)."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))
    if len(pts) < 3:
        return 0.0

    def half(seq):
        chain: list[tuple[float, float]] = []
        for p in seq:
            while len(chain) >= 2:
                (ax, ay), (bx, by) = chain[-2], chain[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    hull = half(pts)[:-1] + half(reversed(pts))[:-1]
    x = np.array([p[0] for p in hull])
    y = np.array([p[1] for p in hull])
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def movement_scale(source_shift: torch.Tensor, initial_shift: torch.Tensor) -> float:
    """sqrt(hull area of the source centres / hull area of the initial driving centres),
    of (1, K, 2) centres; 1 when either hull is flat."""
    area_s = hull_area(source_shift[0].detach().float().cpu().numpy())
    area_0 = hull_area(initial_shift[0].detach().float().cpu().numpy())
    if area_s > 0 and area_0 > 0:
        return float(np.sqrt(area_s / area_0))
    return 1.0


class AnimationModel(nn.Module):
    """Base class of the variants (FOMM, MRAA, FAMGAN).

    Subclasses hold their networks as attributes with the upstream names
    (FOMM: `generator`, `kp_detector`, `discriminator`; MRAA: `generator`,
    `region_predictor`, `bg_predictor`), so that `upstream_state_dicts` matches a
    checkpoint of the reference code.
    """

    #: one of generation.models.VARIANTS
    variant: str = ""
    #: the architecture family, "fomm" or "mraa"
    family: str = ""

    def __init__(self, variant: str, config: dict[str, Any]):
        super().__init__()
        self.variant = variant
        #: the full model config (plain dict, YAML-serialisable); enough to rebuild
        self.config = config

    #: the trainer steps every param group but "discriminator" on one step in
    #: `generator_every` (and the discriminator on every step): WGAN critics (FAMGAN's) take
    #: several steps per generator step
    generator_every: int = 1

    # ---- training -----------------------------------------------------------------
    def training_dataset(self, clips, train):
        """The torch Dataset of training items for `clips` under the TrainConfig `train`
        (default: `FramePairs`, source/driving frames with their landmarks)."""
        return self.frame_pairs(FramePairs, clips, train)

    @staticmethod
    def frame_pairs(pairs_class, clips, train, **options):
        """`pairs_class` (`FramePairs` or a subclass) of `clips` with the TrainConfig
        `train`'s size, augmentation, seed and driving jitter, plus the class's `options`."""
        return pairs_class(
            clips,
            train.size,
            augment=train.augment,
            seed=train.seed,
            driving_jitter=train.driving_jitter,
            **options,
        )

    def training_inputs(self, batch: dict) -> tuple[torch.Tensor, ...]:
        """The tensors of a batch of `training_dataset` that `training_losses` takes, in order;
        the batch's "driving" frames are the ones `discriminator_losses` and the l1 log see."""
        return (
            batch["source"],
            batch["driving"],
            batch["source_landmarks"],
            batch["driving_landmarks"],
        )

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimizer, e.g. {"generator": [...], "kp_detector": [...],
        "discriminator": [...]}. The trainer makes one Adam per group; the group named
        "discriminator" (absent when the GAN weight is 0) is stepped by
        `discriminator_losses`, all others by `training_losses`."""
        raise NotImplementedError

    def training_losses(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        source_landmarks: torch.Tensor,
        driving_landmarks: torch.Tensor,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """One reconstruction step: returns (weighted scalar losses by name, outputs).
        The trainer sums the losses; outputs hold at least "prediction" (B, 3, H, W)."""
        raise NotImplementedError

    def set_training_progress(self, fraction: float) -> None:
        """The fraction of training done (step / iterations), set by the trainer before
        each step; families with a schedule (TPSMM's TPS dropout and background start)
        read it. Nothing by default."""

    def after_backward(self) -> None:
        """Called by the trainer between the backward pass and the optimiser steps (e.g.
        TPSMM's gradient clipping and weight decay). Nothing by default."""

    def discriminator_losses(
        self, driving: torch.Tensor, outputs: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """GAN discriminator losses for the outputs of `training_losses` ({} when the
        model has no GAN term)."""
        return {}

    # ---- animation ----------------------------------------------------------------
    @torch.no_grad()
    def encode_source(self, source: torch.Tensor, source_landmarks: torch.Tensor) -> Any:
        """Work that depends only on the source image (encoder features, source
        keypoints/regions), done once per video."""
        raise NotImplementedError

    @torch.no_grad()
    def animate(
        self,
        state: Any,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor,
        initial: torch.Tensor,
        initial_landmarks: torch.Tensor,
        mode: str = "relative",
        adapt_movement_scale: bool | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (T, 3, H, W) for a batch of T driving frames, motion taken relative to
        the driving `initial` (onset) frame (1, 3, H, W) when mode is "relative".

        Every family takes this one signature. `adapt_movement_scale`: scale the relative
        motion by the source/initial size ratio (None: the family's default; families
        without the rule ignore it). `condition`: the per-frame rows of
        `driving_condition` for this batch (None for families that take no condition).
        """
        raise NotImplementedError

    def driving_condition(
        self, clip: Any, target: Any, target_landmarks: Any, mode: str = "relative"
    ) -> Any:
        """One condition row per driving frame made from the whole clip (the AU-driven
        families: FAMGAN's modulated AU curves, TPSMM-AU's AU differences), or None for
        the families driven by motion alone. `clip` has `frames`, `landmarks` and
        `onset_index` at the model's size."""
        return None

    # ---- animation modes ---------------------------------------------------------
    #: the factor on the motion the relative mode takes from the driving clip (the keypoint
    #: or region displacement from the onset; LivePortrait: the expression delta), set for
    #: one animation by `scaled_motion` (`fme animate --motion-scale`, `--magnify`)
    motion_scale: float = 1.0
    #: whether the family's relative mode reads `motion_scale`
    takes_motion_scale: bool = False

    @contextlib.contextmanager
    def scaled_motion(self, factor: float):
        """`motion_scale` = `factor` inside the block; ConfigError for a family whose
        motion is not a displacement (FAMGAN's AU conditions) when factor is not 1."""
        factor = float(factor)
        if factor != 1.0 and not self.takes_motion_scale:
            raise ConfigError(
                f"the {self.variant} model cannot scale its driving motion "
                "(--motion-scale / --magnify)",
                hint="Use them with a keypoint family (FOMM, MRAA, TPSMM) or LivePortrait.",
            )
        saved = self.__dict__.get("motion_scale")
        self.motion_scale = factor
        try:
            yield self
        finally:
            if saved is None:
                self.__dict__.pop("motion_scale", None)
            else:
                self.motion_scale = saved

    def has_avd(self) -> bool:
        """True when the model holds an AVD network and its family implements `avd_motion`."""
        implemented = type(self).avd_motion is not AnimationModel.avd_motion
        return implemented and getattr(self, "avd_network", None) is not None

    def animation_modes(self) -> tuple[str, ...]:
        """The modes `animate` takes: "standard", "relative", and "avd" with `has_avd`."""
        return ("standard", "relative") + (("avd",) if self.has_avd() else ())

    def check_mode(self, mode: str) -> str:
        """`mode` under its canonical name (aliases resolved); ConfigError for a mode this
        model has not (an "avd" without AVD network says how to train one)."""
        name = MODE_ALIASES.get(mode, mode)
        modes = self.animation_modes()
        if name in modes:
            return name
        if name == "avd":
            raise ConfigError(
                f"this {self.variant} model has no trained AVD network",
                hint="Train one: `fme train --stage avd --resume-from CHECKPOINT --data DATA "
                "--out RUN` (MRAA), or choose --mode relative or standard.",
            )
        raise ConfigError(f"unknown animation mode {mode!r}; choose {' or '.join(modes)}")

    def avd_motion(self, source_motion: Any, driving_motion: Any) -> Any:
        """The family's AVD: the driving motion parameters carried onto the source's
        shape (MRAA: regions). A family with an AVD network overrides this and calls it
        from `animate` for mode "avd"; `has_avd` then offers the mode."""
        raise NotImplementedError

    # ---- the reconstruction term (MRAA, TPSMM; FOMM keeps its own with the GAN's pyramid) --
    def reconstruction_loss(self, device: torch.device | None = None):
        """The perceptual loss of `config["loss"]` (`perceptual` weights, `scales`,
        `vgg_weights`; the L1 pyramid without VGG weights), built on first use and kept
        outside the module tree (VGG is not a submodule, so it is not saved)."""
        built = self.__dict__.setdefault("_reconstruction", [])
        if not built:
            loss = self.config["loss"]
            weights = [float(w) for w in loss["perceptual"]]
            use_vgg = loss["vgg_weights"] is not False and any(weights)
            vgg = load_vgg19(loss["vgg_weights"]) if use_vgg else None
            built.append(ReconstructionLoss(loss["scales"], weights, vgg))
        module = built[0]
        if device is not None and module.pyramid.downs[0].weight.device != device:
            module.to(device)
        return module

    @property
    def perceptual(self) -> bool | None:
        """True when the reconstruction term is the VGG perceptual loss, False for the L1
        pyramid, None before the first training step."""
        built = self.__dict__.get("_reconstruction")
        return built[0].perceptual if built else None

    # ---- shared helpers for animation ----------------------------------------------
    def frame_landmarks(
        self,
        image: torch.Tensor,
        landmarks: torch.Tensor | None,
        normalized_landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The pixel landmarks (B, 68, 2) of frames `image` (B, C, H, W) as float on the
        frames' device, from `landmarks` in pixels or `normalized_landmarks` in [-1, 1]
        (which win); ConfigError when neither is given (a prior or landmark variant)."""
        h, w = image.shape[-2:]
        if normalized_landmarks is not None:
            landmarks = normalized_to_pixels(normalized_landmarks, h, w)
        if landmarks is None:
            raise ConfigError(f"{self.variant} needs the 68 landmarks of every frame")
        return torch.as_tensor(landmarks, device=image.device).float()

    def set_autocast(self, mode: str | None) -> None:
        """Mixed precision for `encode_source`/`animate`: "bf16", "fp16" or None (fp32)."""
        if mode not in (None, "none", *AUTOCAST_DTYPES):
            raise ConfigError(f"autocast {mode!r}: choose None, 'bf16' or 'fp16'")
        self.config["inference"]["autocast"] = mode

    def _autocast(self, device: torch.device):
        """The autocast context of `inference.autocast` (a no-op for fp32)."""
        mode = self.config["inference"]["autocast"]
        if mode in (None, "none"):
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[mode])

    @staticmethod
    def same_frame(image, landmarks, other, other_landmarks, with_landmarks: bool = True) -> bool:
        """Whether two frames (1, C, H, W) give the same motion (the cache test of the
        initial frame): the same pixels and, when `with_landmarks` (a variant whose motion
        follows the landmarks), the same landmarks (both None, or equal as float)."""
        if image.shape != other.shape or not torch.equal(image, other):
            return False
        if not with_landmarks:
            return True
        if landmarks is None or other_landmarks is None:
            return landmarks is None and other_landmarks is None
        a = torch.as_tensor(landmarks).float()
        b = torch.as_tensor(other_landmarks).float().to(a.device)
        return a.shape == b.shape and torch.equal(a, b)

    @contextlib.contextmanager
    def _eval_mode(self):
        """Eval mode for the block, then the mode the model was in."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    # ---- upstream checkpoints ------------------------------------------------------
    def upstream_modules(self) -> dict[str, nn.Module]:
        """The sub-networks under their upstream checkpoint keys."""
        raise NotImplementedError
