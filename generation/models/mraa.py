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

Training (one optimizer, as upstream): the multi-scale perceptual loss (VGG19; an L1
pyramid when no VGG weights are at hand), equivariance of the region centres under a
random affine + TPS warp ("equivariance_shift"; left out with a prior, whose centres do
not depend on the network) and of the region affines ("equivariance_affine"). The
transformed frame's landmarks, which the prior variants need, are the driving landmarks
moved by the inverse warp.

Animation: "standard" uses the driving regions as they are; "relative" applies the
driving motion since the initial (onset) frame to the source regions, shifts scaled by
sqrt(source hull area / initial hull area) of the region centres, affines composed as
A_d A_0^-1 A_s. The background is kept still at animation time, as upstream does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from generation.errors import ConfigError
from generation.losses import RandomTransform, ReconstructionLoss, load_vgg19
from generation.models.base import AnimationModel
from generation.models.bg_motion import BGMotionPredictor
from generation.models.blocks import normalized_to_pixels, pixels_to_normalized
from generation.models.mraa_generator import Generator
from generation.models.region_predictor import RegionPredictor, inverse2x2
from generation.prior import NUM_PRIOR_KEYPOINTS, FacialPrior

ANIMATION_MODES: tuple[str, ...] = ("standard", "relative")

_PAPER: dict[str, Any] = {
    "family": "mraa",
    "image_size": 256,
    "num_channels": 3,
    "num_regions": 10,
    "revert_axis_swap": True,
    "prior": None,
    "region_predictor": {
        "block_expansion": 32,
        "max_features": 1024,
        "num_blocks": 5,
        "temperature": 0.1,
        "scale_factor": 0.25,
        "pca_based": True,
    },
    "bg_predictor": {
        "block_expansion": 32,
        "max_features": 1024,
        "num_blocks": 5,
        "bg_type": "affine",
    },
    "generator": {
        "block_expansion": 64,
        "max_features": 512,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 6,
        "skips": True,
        "pixelwise_flow_predictor_params": {
            "block_expansion": 64,
            "max_features": 1024,
            "num_blocks": 5,
            "scale_factor": 0.25,
            "region_var": 0.01,
            "use_deformed_source": True,
            "use_covar_heatmap": True,
            "estimate_occlusion_map": True,
        },
    },
    "train": {
        "scales": [1, 0.5, 0.25, 0.125],
        "loss_weights": {
            "perceptual": [10, 10, 10, 10, 10],
            "equivariance_shift": 10,
            "equivariance_affine": 10,
        },
        "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
        # path of torchvision's vgg19-dcbb9e9d.pth; None: torch's hub cache when the file
        # is there, else the L1 pyramid; False: always the L1 pyramid
        "vgg_weights": None,
        "lr": 2.0e-4,
        "betas": [0.5, 0.999],
        # learning rate divided by 10 at these fractions of training (epochs 60, 90 of 100)
        "milestones": [0.6, 0.9],
        "batch_size": 14,
    },
    "animation": {"mode": "relative", "adapt_movement_scale": True},
}

# CPU scale: 64-128 px; hourglasses of 4 blocks at half resolution (a 64 px image
# gives 32 px heatmaps, 2 px at the bottom), narrower layers, 2 bottleneck blocks.
_SMALL_CHANGES: dict[str, Any] = {
    "image_size": 64,
    "region_predictor": {
        "block_expansion": 16,
        "max_features": 128,
        "num_blocks": 4,
        "scale_factor": 0.5,
    },
    "bg_predictor": {"block_expansion": 8, "max_features": 64, "num_blocks": 4},
    "generator": {
        "block_expansion": 16,
        "max_features": 128,
        "num_bottleneck_blocks": 2,
        "pixelwise_flow_predictor_params": {
            "block_expansion": 16,
            "max_features": 128,
            "num_blocks": 4,
            "scale_factor": 0.5,
        },
    },
    "train": {"scales": [1, 0.5, 0.25], "batch_size": 8},
}


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_config(variant: str, scale: str = "small") -> dict[str, Any]:
    """The MRAA config of `variant` ("mraa", "mraa-ewp", "mraa-awp") at "paper" scale
    (vox256: 10 regions, 18 with the prior) or "small" scale (CPU, 64 px)."""
    prior = _prior_of(variant)
    if scale not in ("paper", "small"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'paper' or 'small'")
    config = copy.deepcopy(_PAPER) if scale == "paper" else _merge(_PAPER, _SMALL_CHANGES)
    if prior is not None:
        config["num_regions"] = NUM_PRIOR_KEYPOINTS
        config["prior"] = {"fusion": prior, "kernel": "code", "map_size": 64}
    return config


def _prior_of(variant: str) -> str | None:
    if variant not in ("mraa", "mraa-ewp", "mraa-awp"):
        raise ConfigError(f"{variant!r} is not an MRAA variant; choose mraa, mraa-ewp or mraa-awp")
    return variant.partition("-")[2] or None


@dataclass
class MRAASource:
    """What `encode_source` computes once per video (all with batch 1)."""

    image: torch.Tensor  # (1, C, H, W)
    small: torch.Tensor  # the source as the flow predictor sees it
    features: list[torch.Tensor]  # generator encoder features, finest first
    regions: dict[str, torch.Tensor]  # shift (1, K, 2), covar, affine (1, K, 2, 2)


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


def relative_regions(
    source: dict[str, torch.Tensor],
    driving: dict[str, torch.Tensor],
    initial: dict[str, torch.Tensor],
    adapt_movement_scale: bool = True,
) -> dict[str, torch.Tensor]:
    """Source regions (1, K, ...) moved as the driving regions (T, K, ...) moved since the
    initial driving frame (1, K, ...): shift_s + scale (shift_d - shift_0) and
    (A_d A_0^-1) A_s, with scale = sqrt(hull area of source centres / of initial ones)."""
    scale = 1.0
    if adapt_movement_scale:
        area_s = hull_area(source["shift"][0].detach().float().cpu().numpy())
        area_0 = hull_area(initial["shift"][0].detach().float().cpu().numpy())
        if area_s > 0 and area_0 > 0:
            scale = float(np.sqrt(area_s) / np.sqrt(area_0))
    shift = source["shift"] + scale * (driving["shift"] - initial["shift"])
    affine = driving["affine"] @ inverse2x2(initial["affine"]) @ source["affine"]
    return {"shift": shift, "affine": affine, "covar": affine @ affine.transpose(-1, -2)}


class MRAA(AnimationModel):
    """The MRAA family: `generator`, `region_predictor`, `bg_predictor` (+ `prior`)."""

    family = "mraa"

    def __init__(self, variant: str, config: dict[str, Any]):
        super().__init__(variant, config)
        prior = _prior_of(variant)
        if prior is not None and config.get("prior") is None:
            raise ConfigError(f"variant {variant} needs a 'prior' section in its model config")
        if prior is None and config.get("prior") is not None:
            raise ConfigError(
                f"variant {variant} has no facial prior; remove 'prior' from its config"
            )
        num_regions = int(config["num_regions"])
        channels = int(config.get("num_channels", 3))
        if prior is not None and num_regions != NUM_PRIOR_KEYPOINTS:
            raise ConfigError(
                f"{variant} takes its region centres from the {NUM_PRIOR_KEYPOINTS} prior "
                f"keypoints; set num_regions to {NUM_PRIOR_KEYPOINTS}, not {num_regions}"
            )
        revert = bool(config.get("revert_axis_swap", True))
        self.revert_axis_swap = revert
        if prior is not None:
            pc = config["prior"]
            self.prior = FacialPrior(
                fusion=pc.get("fusion", prior),
                kernel=pc.get("kernel", "code"),
                map_size=int(pc.get("map_size", 64)),
                sigma=pc.get("sigma"),
            )
        else:
            self.prior = None
        self.region_predictor = RegionPredictor(
            num_regions=num_regions,
            num_channels=channels,
            prior_channels=1 if prior is not None else 0,
            **config["region_predictor"],
        )
        self.bg_predictor = BGMotionPredictor(num_channels=channels, **config["bg_predictor"])
        self.generator = Generator(
            num_channels=channels,
            num_regions=num_regions,
            revert_axis_swap=revert,
            **config["generator"],
        )
        train = config.get("train", {})
        weights = train.get("loss_weights", {})
        self.loss_weights = {
            "perceptual": list(weights.get("perceptual", [10, 10, 10, 10, 10])),
            "equivariance_shift": float(weights.get("equivariance_shift", 0)),
            "equivariance_affine": float(weights.get("equivariance_affine", 0)),
        }
        self.transform_params = dict(train.get("transform_params", {}))
        self.scales = list(train.get("scales", [1]))
        self.vgg_weights = train.get("vgg_weights")
        # Built on first use and kept out of the module tree: the VGG weights are not
        # part of the model's state dict or parameters.
        self._loss: list[ReconstructionLoss] = []

    # ---- regions ---------------------------------------------------------------------
    def regions(
        self,
        image: torch.Tensor,
        landmarks: torch.Tensor | None,
        normalized_landmarks: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Region parameters of frames (B, C, H, W) with their pixel landmarks (B, 68, 2)
        (or landmarks already in [-1, 1]; both unused without a prior)."""
        if self.prior is None:
            return self.region_predictor(image)
        h, w = image.shape[-2:]
        if normalized_landmarks is not None:
            landmarks = normalized_to_pixels(normalized_landmarks, h, w)
        if landmarks is None:
            raise ValueError(f"{self.variant} needs the landmarks of every frame")
        landmarks = torch.as_tensor(landmarks, device=image.device).float()
        keypoints, channel = self.prior(
            landmarks, (h, w), out_size=self.region_predictor.input_size(h, w)
        )
        return self.region_predictor(image, channel, keypoints)

    # ---- training --------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """One optimizer over every network, as upstream ("reconstruction")."""
        return {"reconstruction": [p for p in self.parameters() if p.requires_grad]}

    def reconstruction_loss(self) -> ReconstructionLoss:
        """The perceptual (or L1 pyramid) loss module, built on first use."""
        if not self._loss:
            use_vgg = self.vgg_weights is not False and any(self.loss_weights["perceptual"])
            vgg = load_vgg19(self.vgg_weights) if use_vgg else None
            self._loss.append(ReconstructionLoss(self.scales, self.loss_weights["perceptual"], vgg))
        return self._loss[0]

    def training_losses(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        source_landmarks: torch.Tensor,
        driving_landmarks: torch.Tensor,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        src = self.regions(source, source_landmarks)
        drv = self.regions(driving, driving_landmarks)
        bg = self.bg_predictor(source, driving)
        generated = self.generator(source, drv, src, bg)
        losses: dict[str, torch.Tensor] = {}
        if any(self.loss_weights["perceptual"]):
            loss = self.reconstruction_loss().to(driving.device)
            losses["perceptual"] = loss(generated["prediction"], driving)
        w_shift = self.loss_weights["equivariance_shift"]
        w_affine = self.loss_weights["equivariance_affine"]
        if w_shift or w_affine:
            losses.update(self._equivariance(driving, driving_landmarks, drv, w_shift, w_affine))
        outputs = {
            "prediction": generated["prediction"],
            "deformed": generated["deformed"],
            "source_shift": src["shift"],
            "driving_shift": drv["shift"],
            "driving_affine": drv["affine"],
            "bg_params": bg,
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
        transform = RandomTransform(b, device=driving.device, **self.transform_params)
        transformed = transform.transform_frame(driving)
        moved = None
        if self.prior is not None:
            # where the driving landmarks land in the transformed frame: warp^-1
            points = pixels_to_normalized(torch.as_tensor(driving_landmarks).float(), h, w)
            moved = transform.inverse(points.to(driving.device))
        trn = self.regions(transformed, None, moved)
        losses: dict[str, torch.Tensor] = {}
        if w_shift and self.prior is None:
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
    def encode_source(self, source: torch.Tensor, source_landmarks: torch.Tensor) -> MRAASource:
        regions = self.regions(source, source_landmarks)
        return MRAASource(
            image=source,
            small=self.generator.pixelwise_flow_predictor.downscale(source),
            features=self.generator.encode(source),
            regions={k: v for k, v in regions.items() if k != "heatmap"},
        )

    @torch.no_grad()
    def animate(
        self,
        state: MRAASource,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor,
        initial: torch.Tensor,
        initial_landmarks: torch.Tensor,
        mode: str = "relative",
    ) -> torch.Tensor:
        if mode not in ANIMATION_MODES:
            raise ConfigError(
                f"unknown animation mode {mode!r} for MRAA; choose {' or '.join(ANIMATION_MODES)}"
            )
        t = driving.shape[0]
        drv = self.regions(driving, driving_landmarks)
        if mode == "relative":
            init = self.regions(initial, initial_landmarks)
            adapt = bool(self.config.get("animation", {}).get("adapt_movement_scale", True))
            new = relative_regions(state.regions, drv, init, adapt)
        else:
            new = {k: drv[k] for k in ("shift", "covar", "affine")}
        src = {k: v.expand(t, *v.shape[1:]) for k, v in state.regions.items()}
        motion = self.generator.pixelwise_flow_predictor(
            state.image, new, src, None, source_small=state.small
        )
        return self.generator.decode(state.image, state.features, motion)

    # ---- upstream checkpoints --------------------------------------------------------
    def upstream_modules(self) -> dict[str, nn.Module]:
        return {
            "generator": self.generator,
            "region_predictor": self.region_predictor,
            "bg_predictor": self.bg_predictor,
        }


MODEL_CLASS = MRAA
