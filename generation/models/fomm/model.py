"""FOMM (first-order motion model) with an optional facial prior: `fomm`, `fomm-ewp`,
`fomm-awp`.

`FOMM` holds `kp_detector`, `generator` and `discriminator` under the upstream names, so
`upstream_modules()` of the vanilla paper config matches an upstream vox-256 checkpoint.
With a prior (`prior`, a `FacialPrior`), the 18 prior keypoints from each frame's
landmarks replace the learned keypoint positions, the prior channel (EWP or AWP) is
concatenated to the detector's input, and the detector still learns the Jacobians.

The model config is a plain dict (see `default_config`); `config["inference"]["autocast"]`
("bf16", "fp16" or None) sets mixed precision for `encode_source`/`animate`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fme.core.errors import ConfigError
from generation.face.prior import NUM_PRIOR_KEYPOINTS, FacialPrior, check_prior_keypoints
from generation.models.base import (
    AnimationModel,
    check_autocast,
    check_config_keys,
    movement_scale,
    packaged_defaults,
    prior_of,
)
from generation.models.blocks import check_hourglass_input
from generation.models.discriminator import MultiScaleDiscriminator
from generation.models.fomm.dense_motion import SourceMotionInputs
from generation.models.fomm.generator import OcclusionAwareGenerator
from generation.models.fomm.keypoint_detector import KPDetector
from generation.training.losses import (
    ImagePyramid,
    RandomTransform,
    ReconstructionLoss,
    check_gan_mode,
    discriminator_gan_loss,
    equivariance_losses,
    feature_matching_loss,
    generator_gan_loss,
    load_vgg19,
)

log = logging.getLogger(__name__)


def default_config(variant: str, scale: str = "small") -> dict[str, Any]:
    """The model config of a FOMM variant at "paper" (vox-256) or "small" (CPU) scale.

    Paper: the upstream vox-256 networks (10 keypoints, 18 with the prior), perceptual
    weights 10 on relu1_1..relu5_1 at scales 1, 0.5, 0.25, 0.125, equivariance 10/10,
    GAN 1 with feature matching 10 (as the facial-prior runs; the same for `fomm` so the
    variants compare fairly). Small: narrower, shallower networks with the detector and
    dense motion at half resolution, for 64 or 128 px on a CPU; no GAN.
    `generator.image_residual` (not in the paper; on in small only) makes the generator decode a
    logit residual on the deformed source image instead of the whole frame;
    `generator.dense_motion.heatmaps` "both" (small only; paper: upstream's "difference")
    gives dense motion the driving heatmaps as well as their difference with the source's.
    """
    prior = _prior_of(variant)
    num_kp = NUM_PRIOR_KEYPOINTS if prior else 10
    if scale not in ("paper", "small"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'paper' or 'small'")
    defaults = packaged_defaults(__file__)
    cfg = defaults[scale]
    cfg["common"]["num_kp"] = num_kp
    cfg.update(defaults["shared"])
    return cfg


def _prior_of(variant: str) -> str | None:
    return prior_of(variant, "fomm")


def validate_config(variant: str, config: dict[str, Any]) -> dict[str, Any]:
    """A complete, checked copy of a FOMM model config (missing keys from the small
    default; unknown keys, a prior without 18 keypoints, or an image size the hourglasses
    cannot take raise ConfigError)."""
    prior = _prior_of(variant)
    generator = config.get("generator") if isinstance(config, dict) else None
    dense = generator.get("dense_motion") if isinstance(generator, dict) else None
    reference = default_config(variant, "small")["generator"]["dense_motion"]
    if (
        isinstance(dense, dict)
        and "heatmaps" not in dense
        and set(dense) >= set(reference) - {"heatmaps"}
    ):
        # a whole section written before the option existed: the upstream input
        config = copy.deepcopy(config)
        config["generator"]["dense_motion"]["heatmaps"] = "difference"
    cfg = check_config_keys(config, default_config(variant, "small"))
    heatmaps = cfg["generator"]["dense_motion"]["heatmaps"]
    if heatmaps not in ("difference", "both"):
        raise ConfigError(
            f"generator.dense_motion.heatmaps is {heatmaps!r}; choose 'difference' or 'both'"
        )
    num_kp = cfg["common"]["num_kp"]
    if prior and num_kp != NUM_PRIOR_KEYPOINTS:
        raise ConfigError(
            f"variant {variant} uses the facial prior, which has {NUM_PRIOR_KEYPOINTS} "
            f"keypoints, but common.num_kp is {num_kp}"
        )
    size = int(cfg["image_size"])
    for name, sect in (
        ("kp_detector", cfg["kp_detector"]),
        ("generator.dense_motion", cfg["generator"]["dense_motion"]),
    ):
        check_hourglass_input(size, name, sect)
    if size % (2 ** int(cfg["generator"]["num_down_blocks"])):
        raise ConfigError(
            f"image_size {size} is not divisible by 2**generator.num_down_blocks",
        )
    check_gan_mode(cfg["loss"]["gan_mode"])
    check_autocast(cfg["inference"]["autocast"])
    if cfg["prior"]["kernel"] not in ("code", "journal"):
        raise ConfigError(f"prior.kernel {cfg['prior']['kernel']!r}: choose 'code' or 'journal'")
    check_prior_keypoints(cfg["prior"]["keypoints"])
    return cfg


@dataclass
class FOMMSource:
    """The source image encoded once per video (`FOMM.encode_source`)."""

    image: torch.Tensor  # (1, 3, H, W)
    encoded: torch.Tensor  # generator features after the down blocks
    kp: dict[str, torch.Tensor]  # source keypoints ("value", "jacobian")
    motion: SourceMotionInputs  # downsampled source and its keypoint heatmaps
    cache: dict[str, Any] = field(default_factory=dict)  # keypoints of the initial frame


class FOMM(AnimationModel):
    family = "fomm"
    takes_motion_scale = True

    def __init__(self, variant: str, config: dict[str, Any]):
        config = validate_config(variant, config)
        super().__init__(variant, config)
        self.prior_kind = _prior_of(variant)
        common = config["common"]
        kp_cfg = dict(config["kp_detector"])
        gen_cfg = dict(config["generator"])
        dm_cfg = gen_cfg.pop("dense_motion")
        self.prior = (
            FacialPrior(
                self.prior_kind,
                kernel=config["prior"]["kernel"],
                map_size=config["prior"]["map_size"],
                sigma=config["prior"]["sigma"],
                awp_init=config["prior"]["awp_init"],
            )
            if self.prior_kind
            else None
        )
        self.kp_detector = KPDetector(
            num_kp=common["num_kp"],
            num_channels=common["num_channels"],
            estimate_jacobian=common["estimate_jacobian"],
            prior_channels=1 if self.prior_kind else 0,
            **kp_cfg,
        )
        self.generator = OcclusionAwareGenerator(
            num_channels=common["num_channels"],
            num_kp=common["num_kp"],
            estimate_jacobian=common["estimate_jacobian"],
            dense_motion_params=dm_cfg,
            **gen_cfg,
        )
        self.discriminator = MultiScaleDiscriminator(
            num_channels=common["num_channels"], num_kp=common["num_kp"], **config["discriminator"]
        )
        loss = config["loss"]
        self.use_gan = float(loss["generator_gan"]) != 0
        if not self.use_gan:
            # kept for upstream checkpoints, never trained: no gradients (DDP-friendly)
            self.discriminator.requires_grad_(False)
        self._losses: dict[str, Any] = {}  # built on first use (VGG is not a submodule)

    # ---- keypoints ----------------------------------------------------------------------
    def detect(self, image: torch.Tensor, landmarks: torch.Tensor | None) -> dict:
        """Keypoints of images (B, 3, H, W); landmarks (B, 68, 2) in pixels (prior only)."""
        if self.prior is None:
            return self.kp_detector(image)
        h, w = image.shape[2:]
        landmarks = self.frame_landmarks(image, landmarks)
        kp, channel = self.prior(landmarks, (h, w))
        channel = self._resize_channel(channel, self.kp_detector.input_size(h, w))
        return self.kp_detector(image, prior_channel=channel, prior_kp=kp)

    def _resize_channel(self, channel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(channel.shape[-2:]) == tuple(size):
            return channel
        shrink = size[0] < channel.shape[-2]
        return torch.nn.functional.interpolate(
            channel, size=size, mode="bilinear", align_corners=False, antialias=shrink
        )

    # ---- training -----------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {
            "generator": list(self.generator.parameters()),
            "kp_detector": list(self.kp_detector.parameters())
            + (list(self.prior.parameters()) if self.prior is not None else []),
        }
        if self.use_gan:
            groups["discriminator"] = list(self.discriminator.parameters())
        return groups

    def _loss_modules(self, device: torch.device) -> dict[str, Any]:
        if not self._losses:
            loss = self.config["loss"]
            vgg = load_vgg19(loss["vgg_weights"])
            self._losses["reconstruction"] = ReconstructionLoss(
                loss["scales"], loss["perceptual"], vgg
            )
            self._losses["disc_pyramid"] = ImagePyramid(self.config["discriminator"]["scales"])
        for key in ("reconstruction", "disc_pyramid"):
            module = self._losses[key]
            if next(iter(module.buffers())).device != device:
                module.to(device)
        return self._losses

    @property
    def perceptual(self) -> bool | None:
        """True when the reconstruction term is the VGG perceptual loss, False for the L1
        pyramid, None before the first training step."""
        rec = self._losses.get("reconstruction")
        return None if rec is None else rec.perceptual

    def training_losses(self, source, driving, source_landmarks, driving_landmarks):
        """Losses: "reconstruction" (perceptual, or the L1 pyramid without VGG weights),
        "equivariance_value" (learned positions only), "equivariance_jacobian",
        "generator_gan" and "feature_matching" (when the GAN weight is not 0).
        Outputs: "prediction", "deformed", "occlusion_map", "mask", "kp_source",
        "kp_driving" (keypoint positions) and "l1" (mean |prediction - driving|, detached).
        """
        cfg = self.config["loss"]
        mods = self._loss_modules(driving.device)
        kp_s = self.detect(source, source_landmarks)
        kp_d = self.detect(driving, driving_landmarks)
        gen = self.generator(source, kp_driving=kp_d, kp_source=kp_s)
        pred = gen["prediction"]

        losses: dict[str, torch.Tensor] = {"reconstruction": mods["reconstruction"](pred, driving)}

        if self.use_gan:
            pyr = mods["disc_pyramid"]
            fake = self.discriminator(pyr(pred))
            with torch.no_grad():
                real = self.discriminator(pyr(driving))
            losses["generator_gan"] = float(cfg["generator_gan"]) * generator_gan_loss(
                fake["predictions"], cfg["gan_mode"]
            )
            if any(float(w) for w in cfg["feature_matching"]):
                losses["feature_matching"] = feature_matching_loss(
                    real["features"], fake["features"], cfg["feature_matching"]
                )

        w_value = 0.0 if self.prior is not None else float(cfg["equivariance_value"])
        w_jac = float(cfg["equivariance_jacobian"]) if "jacobian" in kp_d else 0.0
        if w_value or w_jac:
            t = self.config["transform"]
            transform = RandomTransform(driving.shape[0], device=driving.device, **t)
            transformed = transform.transform_frame(driving)
            if self.prior is None:
                kp_t = self.kp_detector(transformed)
            else:
                # the prior keypoints of the transformed frame: where the warp puts them
                kp_val = transform.inverse(kp_d["value"].detach())
                h, w = driving.shape[2:]
                channel = self._resize_channel(
                    self.prior.channel(kp_val), self.kp_detector.input_size(h, w)
                )
                kp_t = self.kp_detector(transformed, prior_channel=channel, prior_kp=kp_val)
            losses.update(equivariance_losses(kp_d, kp_t, transform, w_value, w_jac))

        outputs = {
            "prediction": pred,
            "kp_source": kp_s["value"],
            "kp_driving": kp_d["value"],
            "l1": (pred - driving).abs().mean().detach(),
        }
        for key in ("deformed", "occlusion_map", "mask"):
            if key in gen:
                outputs[key] = gen[key]
        return losses, outputs

    def discriminator_losses(self, driving, outputs):
        """{"discriminator_gan": ...} on the driving frames and the detached prediction
        ({} without GAN). Zero the discriminator's gradients before its backward: the
        generator's GAN term also reaches them."""
        if not self.use_gan:
            return {}
        cfg = self.config["loss"]
        pyr = self._loss_modules(driving.device)["disc_pyramid"]
        real = self.discriminator(pyr(driving))
        fake = self.discriminator(pyr(outputs["prediction"].detach()))
        loss = discriminator_gan_loss(real["predictions"], fake["predictions"], cfg["gan_mode"])
        return {"discriminator_gan": float(cfg["discriminator_gan"]) * loss}

    # ---- animation ----------------------------------------------------------------------
    @torch.no_grad()
    def encode_source(self, source: torch.Tensor, source_landmarks: torch.Tensor | None = None):
        """Source keypoints, generator features and the dense-motion source inputs, once
        per video. source (1, 3, H, W) in [0, 1]."""
        with self._eval_mode(), self._autocast(source.device):
            kp = self.detect(source, source_landmarks)
            kp = {k: v.float() for k, v in kp.items()}
            encoded = self.generator.encode(source)
            dmn = self.generator.dense_motion_network
            motion = dmn.prepare_source(source, kp) if dmn is not None else None
        return FOMMSource(image=source, encoded=encoded, kp=kp, motion=motion)

    @torch.no_grad()
    def animate(
        self,
        state: FOMMSource,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor | None,
        initial: torch.Tensor,
        initial_landmarks: torch.Tensor | None,
        mode: str = "relative",
        adapt_movement_scale: bool | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (T, 3, H, W) in [0, 1] for T driving frames.

        "relative" (FOMM's relative mode): kp = kp_src + (kp_drv - kp_init) (times the
        movement scale sqrt(hull area src / hull area init) when `adapt_movement_scale`),
        J = J_drv J_init^-1 J_src. "absolute": the driving keypoints as they are.
        """
        mode = {"standard": "absolute"}.get(self.check_mode(mode), mode)
        with self._eval_mode(), self._autocast(driving.device):
            kp_d = {k: v.float() for k, v in self.detect(driving, driving_landmarks).items()}
            kp_s = state.kp
            if mode == "relative":
                kp_i = self._initial_keypoints(state, initial, initial_landmarks)
                scale = (
                    movement_scale(kp_s["value"], kp_i["value"])
                    if adapt_movement_scale
                    else 1.0  # None: off, as the reference
                ) * self.motion_scale
                kp_new = {"value": kp_s["value"] + scale * (kp_d["value"] - kp_i["value"])}
                if "jacobian" in kp_d:
                    kp_new["jacobian"] = (
                        kp_d["jacobian"] @ torch.linalg.inv(kp_i["jacobian"]) @ kp_s["jacobian"]
                    )
            else:
                kp_new = kp_d
            out = self.generator.warp_and_decode(
                state.image, state.encoded, kp_new, kp_s, state.motion, with_deformed=False
            )
        return out["prediction"].float().clamp_(0.0, 1.0)

    def _initial_keypoints(self, state: FOMMSource, initial, initial_landmarks) -> dict:
        cached = state.cache.get("initial")
        if cached is not None:
            image, lms, kp = cached
            if self.same_frame(image, lms, initial, initial_landmarks):
                return kp
        kp = {k: v.float() for k, v in self.detect(initial, initial_landmarks).items()}
        lms = None if initial_landmarks is None else initial_landmarks.detach().clone()
        state.cache["initial"] = (initial.detach().clone(), lms, kp)
        return kp

    # ---- upstream checkpoints -----------------------------------------------------------
    def upstream_modules(self) -> dict[str, nn.Module]:
        return {
            "generator": self.generator,
            "kp_detector": self.kp_detector,
            "discriminator": self.discriminator,
        }


MODEL_CLASS = FOMM
