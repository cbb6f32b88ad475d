"""MRAA (motion representations for articulated animation), with an optional facial prior.

Variants: `mraa` (the reference model), `mraa-ewp` and `mraa-awp` (facial prior fused
with equal weights or by the learnable AWP layer). The networks keep the upstream
checkpoint names `generator`, `region_predictor`, `bg_predictor`, so an upstream vox256
checkpoint loads into the vanilla "paper" config.

With a prior, the 18 prior keypoints of each frame (from its cached landmarks) are the
region centres, the region predictor learns the region shapes (the heatmap's second
moment about those centres), and the prior channel is concatenated to the region
predictor's input. The AWP layer (`prior.awp`) is trained with everything else: its
output is that channel, so the reconstruction and equivariance losses reach it.

Training (one optimizer, as upstream): the multi-scale perceptual loss
("reconstruction"; VGG19, or an L1 pyramid when no VGG weights are at hand),
equivariance of the region centres under a random affine + TPS warp
("equivariance_shift"; left out with a prior, whose centres do not depend on the
network) and of the region affines ("equivariance_affine"). The
transformed frame's landmarks, which the prior variants need, are the driving landmarks
moved by the inverse warp.

Animation: "standard" uses the driving regions as they are; "relative" applies the
driving motion since the initial (onset) frame to the source regions, shifts scaled by
sqrt(source hull area / initial hull area) of the region centres, affines composed as
A_d A_0^-1 A_s, the driving frame's own covariance kept (as the reference's animate.py).
The background is kept still at animation time, as upstream does. Warps and resizes use
the reference's `align_corners=False` (config `align_corners`), so a checkpoint of the
reference code gives its videos here (tests/generation/checkpoints/test_upstream_fixtures.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fme.core.errors import ConfigError
from generation.config import merge
from generation.face.prior import NUM_PRIOR_KEYPOINTS, FacialPrior, check_prior_keypoints
from generation.models.base import (
    AnimationModel,
    check_autocast,
    check_config_keys,
    movement_scale,
    packaged_defaults,
    prior_of,
)
from generation.models.blocks import (
    check_hourglass_input,
    hourglass_min_size,
    pixels_to_normalized,
)
from generation.models.mraa.avd import DEFAULT_BOTTLES, AVDNetwork
from generation.models.mraa.bg_motion import BG_TYPES, BGMotionPredictor
from generation.models.mraa.generator import Generator
from generation.models.mraa.region_predictor import PCA_MODES, RegionPredictor, inverse2x2
from generation.training.losses import RandomTransform


def default_config(variant: str, scale: str = "small") -> dict[str, Any]:
    """The MRAA model config of `variant` ("mraa", "mraa-ewp", "mraa-awp").

    "paper": MRAA's vox256 networks (10 regions, 18 with the prior; PCA affines; affine
    background; skip connections), perceptual weights 10 on relu1_1..relu5_1 at scales 1,
    0.5, 0.25, 0.125, equivariance shift and affine 10, the random warp of FOMM vox.
    "small": narrower, shallower networks at half resolution for 64-128 px on a CPU.
    The optimiser and its schedule are the run config's (`generation.config`).
    """
    prior = _prior_of(variant)
    if scale not in ("paper", "small"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'paper' or 'small'")
    defaults = packaged_defaults(__file__)
    config = (
        defaults["paper"]
        if scale == "paper"
        else merge(defaults["paper"], defaults["small_changes"])
    )
    if prior is not None:
        config["num_regions"] = NUM_PRIOR_KEYPOINTS
    return config


def _prior_of(variant: str) -> str | None:
    return prior_of(variant, "mraa", "an")


def validate_config(variant: str, config: dict[str, Any]) -> dict[str, Any]:
    """A complete, checked copy of an MRAA model config: missing keys come from the small
    default; unknown keys, a prior variant without 18 regions, or an image size that an
    hourglass cannot take raise ConfigError.

    A complete config saved before the reference conventions existed (no `align_corners`
    and no `region_predictor.pca`: a checkpoint trained here under FOMM's conventions)
    keeps the conventions it was trained under: align_corners True, closed-form affines,
    folded batch norms."""
    prior = _prior_of(variant)
    region = config.get("region_predictor") if isinstance(config, dict) else None
    if (
        isinstance(region, dict)
        and "align_corners" not in config
        and "pca" not in region
        and {"block_expansion", "max_features", "num_blocks"} <= set(region)
    ):
        config = copy.deepcopy(config)
        config["align_corners"] = True
        config["region_predictor"].update(pca="closed_form", fold_batch_norm=True)
    cfg = check_config_keys(config, default_config(variant, "small"), "MRAA")
    k = int(cfg["num_regions"])
    if prior is not None and k != NUM_PRIOR_KEYPOINTS:
        raise ConfigError(
            f"{variant} takes its region centres from the {NUM_PRIOR_KEYPOINTS} prior "
            f"keypoints; set num_regions to {NUM_PRIOR_KEYPOINTS}, not {k}"
        )
    size = int(cfg["image_size"])
    flow = cfg["generator"]["pixelwise_flow_predictor_params"]
    for name, sect in (
        ("region_predictor", cfg["region_predictor"]),
        ("generator.pixelwise_flow_predictor_params", flow),
    ):
        check_hourglass_input(size, name, sect)
    bg_blocks = int(cfg["bg_predictor"]["num_blocks"])
    if cfg["bg_predictor"]["bg_type"] != "zero" and size < hourglass_min_size(bg_blocks):
        raise ConfigError(f"image_size {size} is too small for {bg_blocks} bg_predictor blocks")
    if size % (2 ** int(cfg["generator"]["num_down_blocks"])):
        raise ConfigError(f"image_size {size} is not divisible by 2**generator.num_down_blocks")
    if cfg["bg_predictor"]["bg_type"] not in BG_TYPES:
        raise ConfigError(
            f"bg_predictor.bg_type {cfg['bg_predictor']['bg_type']!r}: choose one of "
            f"{', '.join(BG_TYPES)}"
        )
    avd = cfg["avd_network"]
    if avd is not None and (
        not isinstance(avd, dict)
        or set(avd) != set(DEFAULT_BOTTLES)
        or not all(isinstance(v, int) and v > 0 for v in avd.values())
    ):
        raise ConfigError(
            f"avd_network {avd!r}: null, or positive id_bottle_size and pose_bottle_size"
        )
    if cfg["region_predictor"]["pca"] not in PCA_MODES:
        raise ConfigError(
            f"region_predictor.pca {cfg['region_predictor']['pca']!r}: "
            f"choose {' or '.join(PCA_MODES)}"
        )
    if not cfg["region_predictor"]["pca_based"]:
        raise ConfigError("region_predictor.pca_based: only PCA-based regions are implemented")
    if cfg["prior"]["kernel"] not in ("code", "journal"):
        raise ConfigError(f"prior.kernel {cfg['prior']['kernel']!r}: choose 'code' or 'journal'")
    check_prior_keypoints(cfg["prior"]["keypoints"])
    check_autocast(cfg["inference"]["autocast"])
    return cfg


@dataclass
class MRAASource:
    """What `encode_source` computes once per video (all with batch 1)."""

    image: torch.Tensor  # (1, C, H, W)
    small: torch.Tensor  # the source as the flow predictor sees it
    features: list[torch.Tensor]  # generator encoder features, finest first
    regions: dict[str, torch.Tensor]  # shift (1, K, 2), covar, affine (1, K, 2, 2)
    cache: dict[str, Any] = field(default_factory=dict)  # regions of the initial frame


def relative_regions(
    source: dict[str, torch.Tensor],
    driving: dict[str, torch.Tensor],
    initial: dict[str, torch.Tensor],
    adapt_movement_scale: bool = True,
    scale: float | None = None,
) -> dict[str, torch.Tensor]:
    """Source regions (1, K, ...) moved as the driving regions (T, K, ...) moved since the
    initial driving frame (1, K, ...): shift_s + scale (shift_d - shift_0) and
    (A_d A_0^-1) A_s, with scale = `movement_scale` of the centres when
    `adapt_movement_scale` (or the given `scale`), else 1. The covariance is the driving
    frame's own, as the reference's relative mode keeps it (it moves shift and affine
    only; the flow predictor's Gaussians are drawn with it)."""
    if scale is None:
        scale = movement_scale(source["shift"], initial["shift"]) if adapt_movement_scale else 1.0
    shift = source["shift"] + scale * (driving["shift"] - initial["shift"])
    affine = torch.matmul(driving["affine"] @ torch.linalg.inv(initial["affine"]), source["affine"])
    return {"shift": shift, "affine": affine, "covar": driving["covar"]}


class MRAA(AnimationModel):
    """The MRAA family: `generator`, `region_predictor`, `bg_predictor` (+ `prior`)."""

    family = "mraa"
    takes_motion_scale = True

    def __init__(self, variant: str, config: dict[str, Any]):
        config = validate_config(variant, config)
        super().__init__(variant, config)
        self.prior_kind = _prior_of(variant)
        num_regions = int(config["num_regions"])
        channels = int(config["num_channels"])
        self.revert_axis_swap = bool(config["revert_axis_swap"])
        if self.prior_kind is not None:
            self.prior = FacialPrior(
                self.prior_kind,
                kernel=config["prior"]["kernel"],
                map_size=int(config["prior"]["map_size"]),
                sigma=config["prior"]["sigma"],
                awp_init=config["prior"]["awp_init"],
            )
        else:
            self.prior = None
        self.region_predictor = RegionPredictor(
            num_regions=num_regions,
            num_channels=channels,
            prior_channels=1 if self.prior is not None else 0,
            **config["region_predictor"],
        )
        self.bg_predictor = BGMotionPredictor(num_channels=channels, **config["bg_predictor"])
        self.generator = Generator(
            num_channels=channels,
            num_regions=num_regions,
            revert_axis_swap=self.revert_axis_swap,
            align_corners=bool(config["align_corners"]),
            **config["generator"],
        )
        avd = config["avd_network"]
        self.avd_network = (
            AVDNetwork(num_regions, revert_axis_swap=self.revert_axis_swap, **avd) if avd else None
        )
        # Built on first use and kept out of the module tree: the VGG weights are not
        # part of the model's state dict or parameters.

    # ---- regions ---------------------------------------------------------------------
    def regions(
        self,
        image: torch.Tensor,
        landmarks: torch.Tensor | None,
        normalized_landmarks: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Region parameters of frames (B, C, H, W) with their pixel landmarks (B, 68, 2)
        (or landmarks already in [-1, 1]; both unused without a prior): "shift",
        "covar", "affine" and "heatmap" (see `RegionPredictor`).

        The region predictor runs in fp32 even under autocast: a thin region's affine is
        inverted by the flow, so bf16 heatmaps would move the output by tens of levels
        (measured by `fme bench animation`); it is a small part of the work."""
        with torch.autocast(device_type=image.device.type, enabled=False):
            return self._regions(image.float(), landmarks, normalized_landmarks)

    def _regions(self, image, landmarks, normalized_landmarks):
        if self.prior is None:
            return self.region_predictor(image)
        h, w = image.shape[-2:]
        landmarks = self.frame_landmarks(image, landmarks, normalized_landmarks)
        keypoints, channel = self.prior(
            landmarks, (h, w), out_size=self.region_predictor.input_size(h, w)
        )
        return self.region_predictor(image, channel, keypoints)

    # ---- training --------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """One optimizer over every network (the AWP layer included), as upstream."""
        return {
            "reconstruction": [
                p
                for name, p in self.named_parameters()
                if p.requires_grad and not name.startswith("avd_network.")
            ]
        }

    def training_losses(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        source_landmarks: torch.Tensor,
        driving_landmarks: torch.Tensor,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Losses: "reconstruction" (perceptual, or the L1 pyramid without VGG weights),
        "equivariance_shift" (vanilla only: with a prior the centres are given) and
        "equivariance_affine". Outputs: "prediction", "deformed", "occlusion_map",
        "source_shift", "driving_shift", "driving_affine", "bg_params" and "l1" (mean
        |prediction - driving|, detached)."""
        weights = self.config["loss"]
        src = self.regions(source, source_landmarks)
        drv = self.regions(driving, driving_landmarks)
        bg = self.bg_predictor(source, driving)
        generated = self.generator(source, drv, src, bg)
        prediction = generated["prediction"]
        losses = {"reconstruction": self.reconstruction_loss(driving.device)(prediction, driving)}
        w_shift = 0.0 if self.prior is not None else float(weights["equivariance_shift"])
        w_affine = float(weights["equivariance_affine"])
        if w_shift or w_affine:
            losses.update(self._equivariance(driving, driving_landmarks, drv, w_shift, w_affine))
        outputs = {
            "prediction": prediction,
            "deformed": generated["deformed"],
            "source_shift": src["shift"],
            "driving_shift": drv["shift"],
            "driving_affine": drv["affine"],
            "bg_params": bg,
            "l1": (prediction - driving).abs().mean().detach(),
        }
        if "occlusion_map" in generated:
            outputs["occlusion_map"] = generated["occlusion_map"]
        return losses, outputs

    def _equivariance(
        self,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor | None,
        drv: dict[str, torch.Tensor],
        w_shift: float,
        w_affine: float,
    ) -> dict[str, torch.Tensor]:
        b, _, h, w = driving.shape
        transform = RandomTransform(b, device=driving.device, **self.config["transform"])
        transformed = transform.transform_frame(driving)
        moved = None
        if self.prior is not None:
            # where the driving landmarks land in the transformed frame: warp^-1
            points = torch.as_tensor(driving_landmarks, device=driving.device).float()
            moved = transform.inverse(pixels_to_normalized(points, h, w))
        trn = self.regions(transformed, None, moved)
        losses: dict[str, torch.Tensor] = {}
        if w_shift:
            warped = transform.warp_coordinates(trn["shift"])
            losses["equivariance_shift"] = w_shift * (drv["shift"] - warped).abs().mean()
        if w_affine:
            affine_t = transform.jacobian(trn["shift"]) @ trn["affine"]
            value = inverse2x2(drv["affine"]) @ affine_t
            if self.revert_axis_swap:
                value = value * torch.sign(value[..., 0:1, 0:1])
            eye = torch.eye(2, device=value.device, dtype=value.dtype)
            losses["equivariance_affine"] = w_affine * (eye - value).abs().mean()
        return losses

    # ---- animation -------------------------------------------------------------------
    @torch.no_grad()
    def encode_source(
        self, source: torch.Tensor, source_landmarks: torch.Tensor | None = None
    ) -> MRAASource:
        """Source regions, generator features and the down-scaled source, once per video.
        source (1, 3, H, W) in [0, 1]."""
        with self._eval_mode(), self._autocast(source.device):
            regions = self.regions(source, source_landmarks)
            features = self.generator.encode(source)
            with torch.autocast(device_type=source.device.type, enabled=False):
                small = self.generator.pixelwise_flow_predictor.downscale(source.float())
        return MRAASource(
            image=source,
            small=small,
            features=features,
            regions={k: v.float() for k, v in regions.items() if k != "heatmap"},
        )

    @torch.no_grad()
    def animate(
        self,
        state: MRAASource,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor | None,
        initial: torch.Tensor,
        initial_landmarks: torch.Tensor | None,
        mode: str = "relative",
        adapt_movement_scale: bool | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (T, 3, H, W) in [0, 1] for T driving frames.

        "standard" (alias "absolute"): the driving regions as they are. "relative": the
        source regions moved as the driving regions moved since `initial`
        (`relative_regions`; `adapt_movement_scale` None takes the config's, True).
        "avd" (with an AVD network): `avd_motion` of the source and driving regions.
        """
        mode = self.check_mode(mode)
        if adapt_movement_scale is None:
            adapt_movement_scale = bool(self.config["animation"]["adapt_movement_scale"])
        t = driving.shape[0]
        fp32 = torch.autocast(device_type=driving.device.type, enabled=False)
        with self._eval_mode(), self._autocast(driving.device):
            with fp32:
                # region arithmetic in fp32 even under autocast (affines are inverted)
                drv = self.regions(driving, driving_landmarks)
                if mode == "relative":
                    init = self._initial_regions(
                        state, initial, initial_landmarks, driving, driving_landmarks, drv
                    )
                    scale = state.cache["scale"] if adapt_movement_scale else 1.0
                    scale *= self.motion_scale
                    new = relative_regions(state.regions, drv, init, scale=scale)
                elif mode == "avd":
                    new = self.avd_motion(state.regions, drv)
                else:
                    new = {k: drv[k] for k in ("shift", "covar", "affine")}
                src = {k: v.expand(t, *v.shape[1:]) for k, v in state.regions.items()}
            # the flow predictor keeps its geometry and its heads in fp32 (bf16 masks move
            # the samples near the border, which the zero padding turns into whole levels)
            motion = self.generator.pixelwise_flow_predictor(
                state.image, new, src, None, source_small=state.small.float()
            )
            out = self.generator.decode(state.image, state.features, motion)
        return out.float().clamp_(0.0, 1.0)

    def _initial_regions(
        self,
        state: MRAASource,
        initial: torch.Tensor,
        landmarks: torch.Tensor | None,
        driving: torch.Tensor | None = None,
        driving_landmarks: torch.Tensor | None = None,
        driving_regions: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Regions of the initial driving frame, and the movement scale, cached in `state`
        while the initial frame stays the same. When the initial frame is one of the
        `driving` frames of this batch, its regions are taken from `driving_regions`
        (one region pass less, and the very numbers its batch gave: a thin region's
        affine is inverted, so the last bits of a second pass would show)."""
        cached = state.cache.get("initial")
        if cached is not None:
            image, lms, regions = cached
            if self._same_input(image, lms, initial, landmarks):
                return regions
        regions = None
        if driving is not None and driving_regions is not None:
            for i in range(driving.shape[0]):
                lms = None if driving_landmarks is None else driving_landmarks[i : i + 1]
                if self._same_input(driving[i : i + 1], lms, initial, landmarks):
                    keys = ("shift", "covar", "affine")
                    regions = {k: driving_regions[k][i : i + 1].float() for k in keys}
                    break
        if regions is None:
            regions = {k: v.float() for k, v in self.regions(initial, landmarks).items()}
        lms = None if landmarks is None else torch.as_tensor(landmarks).detach().float().clone()
        state.cache["initial"] = (initial.detach().clone(), lms, regions)
        state.cache["scale"] = movement_scale(state.regions["shift"], regions["shift"])
        return regions

    def _same_input(self, image, landmarks, other, other_landmarks) -> bool:
        """Whether two frames (1, C, H, W) give the same regions: the same pixels and, for
        a prior variant (whose regions follow the landmarks), the same landmarks."""
        return self.same_frame(image, landmarks, other, other_landmarks, self.prior is not None)

    def avd_motion(
        self, source_motion: dict[str, torch.Tensor], driving_motion: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The reference's "avd" mode: the AVD network's regions for the driving pose on
        the source's identity (shift, affine, covar = A A^T), in fp32 and eval mode."""
        with torch.autocast(device_type=driving_motion["shift"].device.type, enabled=False):
            return self.avd_network(source_motion, driving_motion)

    def add_avd_network(self, bottles: dict[str, int] | None = None) -> AVDNetwork:
        """Build the AVD network (the reference's vox256 sizes by default) when the model
        has none, record it in the config, and return it."""
        if self.avd_network is None:
            sizes = dict(bottles or DEFAULT_BOTTLES)
            device = self.generator.final.weight.device
            self.avd_network = AVDNetwork(
                self.region_predictor.num_regions, revert_axis_swap=self.revert_axis_swap, **sizes
            ).to(device)
            self.config["avd_network"] = sizes
        return self.avd_network

    # ---- upstream checkpoints --------------------------------------------------------
    def upstream_modules(self) -> dict[str, nn.Module]:
        modules = {
            "generator": self.generator,
            "region_predictor": self.region_predictor,
            "bg_predictor": self.bg_predictor,
        }
        if self.avd_network is not None:
            modules["avd_network"] = self.avd_network
        return modules


MODEL_CLASS = MRAA
