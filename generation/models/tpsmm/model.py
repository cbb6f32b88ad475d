"""TPSMM (thin-plate spline motion model, Zhao and Zhang, CVPR 2022), with an optional
facial prior.

Variants: `tpsmm` (the reference model), `tpsmm-ewp` and `tpsmm-awp` (facial prior
fused with equal weights or by the learnable AWP layer). The networks keep the
reference's checkpoint names `kp_detector`, `dense_motion_network`,
`inpainting_network`, `bg_predictor`, `avd_network`, so a checkpoint of the published
code loads into the vanilla "paper" config (`generation.checkpoints.checkpoint.import_tpsmm`).

Motion: K = `num_tps` thin-plate splines of 5 keypoints each (`tps.KeypointTPS`), the
keypoints regressed by a ResNet-18 (`keypoints`); the dense motion network mixes
them with the identity (or, in training after `bg_start`, the background affine of
`bg`) into a flow and four occlusion masks; the inpainting network decodes the
warped source features (`inpainting`). Grids are sampled with `align_corners=True`,
as the reference passes explicitly.

With a prior the prior channel is stacked onto the keypoint detector's input and the 18
prior keypoints of each frame (from its cached landmarks) replace some of the learned
ones as TPS control points. `prior.grouping` says which (`PRIOR_GROUPINGS`):

- "sequential" (default): the 18 points fill keypoint slots 0-17 in order (transforms
  0-2 wholly, transform 3 with 2 learned points), the other 32 slots stay learned.
- "regions": six transforms over facial regions of the TIP paper's prior
  (`REGION_GROUPS`: each brow with its eye and the nose bridge, the nose wings with the
  points below the eyes, the lower lip with the mouth corners, the points around the
  mouth, the brows with the upper eyelids); points may serve two regions. The other
  `num_tps - 6` transforms keep learned keypoints.

On `fme bench generation` (24 held-out videos, 300 steps) both move the faces equally
well (motion error 1.040/1.049 % IOD sequential, 1.045/1.042 regions, for EWP/AWP, against
1.650 for the unchanged target), and "sequential" reconstructs better (L1 0.0165/0.0195
against 0.0182/0.0214; SSIM 0.971/0.962 against 0.964/0.952), so it is the default.

Training (the reference vox-256 config; `schedule` in fractions of training where the
reference counts epochs of a 100-epoch run): the multi-scale perceptual loss
("perceptual"; VGG19, or the L1 pyramid without VGG weights), equivariance of the
learned keypoints under a random affine + TPS warp ("equivariance_value"), the warp
loss on the encoder features ("warp_loss") and, after `bg_start`, the background
cycle loss |I - B(s, d) B(d, s)| ("bg"). TPS dropout (Eq. 7-8) until `dropout_until`
with p rising from `dropout_startp` to `dropout_maxp` over `dropout_ramp`. Adam with
weight decay 1e-4 and gradients of the keypoint detector, the dense motion network and
the background predictor clipped to 10 (max norm) in `after_backward`, as upstream.

The AVD stage (`stage: avd`): only `avd_network` trains, on keypoints of the frozen
detector: |kp_d - AVD(kp_s, random_scale(kp_d))| (`avd.avd_loss`).

Animation modes: "standard" (alias "absolute", the driving keypoints as they are),
"relative" (kp_s + scale (kp_d - kp_0), scale = sqrt(hull area of kp_s / hull area of
kp_0), as the reference's `relative_kp`, which always adapts the scale) and "avd".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fme.core.errors import ConfigError
from generation.config import merge
from generation.face.prior import NUM_PRIOR_KEYPOINTS, FacialPrior
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
    pixels_to_normalized,
)
from generation.models.tpsmm.avd import AVDNetwork, avd_loss
from generation.models.tpsmm.bg import BGMotionPredictor
from generation.models.tpsmm.dense_motion import DenseMotionNetwork
from generation.models.tpsmm.inpainting import InpaintingNetwork
from generation.models.tpsmm.keypoints import POINTS_PER_TPS, KPDetector
from generation.training.losses import RandomTransform

STAGES: tuple[str, ...] = ("reconstruction", "avd")
PRIOR_GROUPINGS: tuple[str, ...] = ("regions", "sequential")

#: TPS transforms over facial regions, as rows of the 18 prior keypoints
#: (0: landmark 19, 1: 24, 2: 27, 3: 38, 4: 41, 5: 43, 6: 46, 7: 48, 8: 54, 9: 55,
#: 10: 57, 11: 59, 12-17: 31, 35, 41, 46, 48, 54 shifted; see generation.face.prior)
REGION_GROUPS: tuple[tuple[int, ...], ...] = (
    (0, 3, 4, 14, 2),  # brow 19, eye 38/41, below the eye, nose bridge
    (1, 5, 6, 15, 2),  # brow 24, eye 43/46, below the eye, nose bridge
    (2, 12, 13, 14, 15),  # nose bridge, nose wings, below both eyes
    (7, 8, 9, 10, 11),  # mouth corners and lower lip
    (16, 17, 12, 13, 10),  # beside the mouth corners, nose wings, lower lip middle
    (0, 1, 3, 5, 2),  # both brows, both upper eyelids, nose bridge
)


def default_config(variant: str, scale: str = "small") -> dict[str, Any]:
    """The TPSMM model config of `variant` ("tpsmm", "tpsmm-ewp", "tpsmm-awp").

    "paper": the reference's vox-256 networks (10 TPS; generator 64/512 with 3 down
    blocks; dense motion 64/1024/5 at scale 0.25; AVD bottlenecks 128/128) and losses
    (perceptual 10 on relu1_1..relu5_1 at scales 1, 0.5, 0.25, 0.125; equivariance 10,
    warp 10, background 10). "small": narrower networks for 64 px on a CPU. The
    optimiser's learning rate and milestones are the run config's.
    """
    _prior_of(variant)
    if scale not in ("paper", "small"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'paper' or 'small'")
    defaults = packaged_defaults(__file__)
    return (
        defaults["paper"]
        if scale == "paper"
        else merge(defaults["paper"], defaults["small_changes"])
    )


def _prior_of(variant: str) -> str | None:
    return prior_of(variant, "tpsmm")


def prior_slots(grouping: str, num_tps: int) -> list[int]:
    """For each of the num_tps * 5 keypoint slots, the prior keypoint it holds (-1: a
    learned keypoint)."""
    slots = [-1] * (num_tps * POINTS_PER_TPS)
    if grouping == "regions":
        for k, group in enumerate(REGION_GROUPS):
            slots[k * POINTS_PER_TPS : (k + 1) * POINTS_PER_TPS] = list(group)
    elif grouping == "sequential":
        slots[:NUM_PRIOR_KEYPOINTS] = list(range(NUM_PRIOR_KEYPOINTS))
    else:
        raise ConfigError(
            f"prior.grouping {grouping!r}: choose one of {', '.join(PRIOR_GROUPINGS)}"
        )
    return slots


def validate_config(variant: str, config: dict[str, Any]) -> dict[str, Any]:
    """A complete, checked copy of a TPSMM model config (missing keys from the small
    default; ConfigError for unknown keys or sizes the networks cannot take)."""
    prior = _prior_of(variant)
    cfg = check_config_keys(config, default_config(variant, "small"), "TPSMM")
    size = int(cfg["image_size"])
    k = int(cfg["num_tps"])
    check_hourglass_input(size, "dense_motion", cfg["dense_motion"])
    if size % (2 ** int(cfg["inpainting"]["num_down_blocks"])):
        raise ConfigError(f"image_size {size} is not divisible by 2**inpainting.num_down_blocks")
    if cfg["stage"] not in STAGES:
        raise ConfigError(f"stage {cfg['stage']!r}: choose one of {', '.join(STAGES)}")
    if prior is not None:
        groups = len(REGION_GROUPS) if cfg["prior"]["grouping"] == "regions" else 4
        prior_slots(cfg["prior"]["grouping"], max(k, groups))
        if k < groups:
            raise ConfigError(
                f"prior.grouping {cfg['prior']['grouping']!r} needs num_tps >= {groups}, not {k}"
            )
        if cfg["prior"]["kernel"] not in ("code", "journal"):
            raise ConfigError(
                f"prior.kernel {cfg['prior']['kernel']!r}: choose 'code' or 'journal'"
            )
    if cfg["multi_mask"]:
        up = math.log2(1 / float(cfg["dense_motion"]["scale_factor"]))
        if abs(up - round(up)) > 1e-9:
            raise ConfigError("dense_motion.scale_factor must be 1/2**n with multi_mask")
    check_autocast(cfg["inference"]["autocast"])
    return cfg


@dataclass
class TPSMMSource:
    """What `encode_source` computes once per video (batch 1)."""

    image: torch.Tensor  # (1, C, H, W)
    small: torch.Tensor  # the source as the dense motion network sees it
    features: list[torch.Tensor]  # inpainting encoder features, finest first
    kp: torch.Tensor  # (1, K*5, 2)
    cache: dict[str, Any] = field(default_factory=dict)  # keypoints of the initial frame


def relative_keypoints(
    kp_source: torch.Tensor, kp_driving: torch.Tensor, kp_initial: torch.Tensor, scale: float
) -> torch.Tensor:
    """kp_source + scale (kp_driving - kp_initial): the reference's `relative_kp`."""
    return (kp_driving - kp_initial) * scale + kp_source


class TPSMM(AnimationModel):
    """The TPSMM family: `kp_detector`, `dense_motion_network`, `inpainting_network`,
    `bg_predictor`, `avd_network` (+ `prior`)."""

    family = "tpsmm"
    takes_motion_scale = True
    #: False: every keypoint is given (the AU variant's landmarks) and no detector is built
    learned_keypoints: bool = True
    #: width of the condition vector of every decoder stage (0: none; the AU variant: 17)
    condition_channels: int = 0
    #: the config check and the prior kind of a variant (a subclass widens them)
    validate = staticmethod(validate_config)
    prior_kind_of = staticmethod(_prior_of)

    def __init__(self, variant: str, config: dict[str, Any]):
        config = self.validate(variant, config)
        super().__init__(variant, config)
        self.prior_kind = self.prior_kind_of(variant)
        channels = int(config["num_channels"])
        num_tps = int(config["num_tps"])
        self.num_tps = num_tps
        self.multi_mask = bool(config["multi_mask"])
        self.prior: FacialPrior | None = None
        if self.prior_kind is not None:
            p = config["prior"]
            self.prior = FacialPrior(
                self.prior_kind,
                kernel=p["kernel"],
                map_size=int(p["map_size"]),
                sigma=p["sigma"],
                awp_init=p["awp_init"],
            )
            slots = torch.tensor(prior_slots(p["grouping"], num_tps))
            self.register_buffer("slots", slots, persistent=False)
        self.kp_detector = (
            KPDetector(
                num_tps, channels, 1 if self.prior is not None else 0, **config["kp_detector"]
            )
            if self.learned_keypoints
            else None
        )
        dm = config["dense_motion"]
        inp = config["inpainting"]
        self.dense_motion_network = DenseMotionNetwork(
            num_tps=num_tps,
            num_channels=channels,
            multi_mask=self.multi_mask,
            num_occlusion=int(inp["num_down_blocks"]) + 1,
            **dm,
        )
        self.inpainting_network = InpaintingNetwork(
            channels,
            multi_mask=self.multi_mask,
            num_cond_channels=self.condition_channels,
            **inp,
        )
        bg = config["bg_predictor"]
        self.bg_predictor = BGMotionPredictor(channels, int(bg["width"])) if bg["enabled"] else None
        avd = config["avd"]
        self.avd_network = AVDNetwork(
            num_tps * POINTS_PER_TPS, int(avd["id_bottle_size"]), int(avd["pose_bottle_size"])
        )
        self.progress = 0.0

    # ---- keypoints -------------------------------------------------------------------
    def keypoints(
        self,
        image: torch.Tensor,
        landmarks: torch.Tensor | None,
        normalized_landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The K*5 keypoints (B, K*5, 2) of frames (B, C, H, W); with a prior, from their
        pixel landmarks (B, 68, 2) (or landmarks already in [-1, 1])."""
        if self.prior is None:
            return self.kp_detector(image)["fg_kp"]
        h, w = image.shape[-2:]
        landmarks = self.frame_landmarks(image, landmarks, normalized_landmarks)
        with torch.autocast(device_type=image.device.type, enabled=False):
            prior_kp, channel = self.prior(landmarks, (h, w), out_size=(h, w))
        learned = self.kp_detector(image, channel)["fg_kp"]
        fixed = self.slots >= 0
        taken = prior_kp[:, self.slots.clamp(min=0)].to(learned.dtype)
        return torch.where(fixed[None, :, None], taken, learned)

    def fp32_keypoints(self, image: torch.Tensor, landmarks: torch.Tensor | None) -> torch.Tensor:
        """`keypoints` in fp32 even under autocast (animation): the TPS solve of nearby
        control points magnifies a keypoint's bf16 rounding into the whole flow."""
        with torch.autocast(device_type=image.device.type, enabled=False):
            return self.keypoints(image.float(), landmarks).float()

    # ---- training --------------------------------------------------------------------
    def set_training_progress(self, fraction: float) -> None:
        """The fraction of training done (the trainer calls this before each step)."""
        self.progress = float(fraction)

    def dropout_p(self) -> float | None:
        """The TPS dropout probability now (None: no dropout)."""
        s = self.config["schedule"]
        if self.progress >= float(s["dropout_until"]):
            return None
        ramp = max(float(s["dropout_ramp"]), 1e-12)
        p = self.progress / ramp * float(s["dropout_maxp"]) + float(s["dropout_startp"])
        return min(p, float(s["dropout_maxp"]))

    def bg_active(self) -> bool:
        return self.bg_predictor is not None and self.progress >= float(
            self.config["schedule"]["bg_start"]
        )

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """As upstream: one Adam for the keypoint detector, dense motion and inpainting
        networks (and the AWP layer), one for the background predictor; the AVD stage
        trains `avd_network` alone."""
        if self.config["stage"] == "avd":
            return {"avd_network": list(self.avd_network.parameters())}
        groups = {
            "generator": [
                p
                for name, p in self.named_parameters()
                if p.requires_grad and not name.startswith(("bg_predictor.", "avd_network."))
            ]
        }
        if self.bg_predictor is not None:
            groups["bg_predictor"] = list(self.bg_predictor.parameters())
        return groups

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.config["stage"] == "avd":
            # the AVD stage runs the motion networks frozen, in eval mode
            for name, module in self.named_children():
                if name != "avd_network":
                    module.eval()
        return self

    def after_backward(self) -> None:
        """Upstream's gradient treatment before the optimiser steps: the keypoint
        detector's, dense motion network's and (when in use) background predictor's
        gradients clipped to `optim.grad_clip` (max norm), then Adam's L2 weight decay
        (`optim.weight_decay`, added to the gradients as torch's Adam does)."""
        opt = self.config["optim"]
        if self.config["stage"] == "avd":
            return
        clip = float(opt["grad_clip"])
        if clip > 0:
            nets = [n for n in (self.kp_detector, self.dense_motion_network) if n is not None]
            if self.bg_active():
                nets.append(self.bg_predictor)
            for net in nets:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip, norm_type=math.inf)
        decay = float(opt["weight_decay"])
        if decay:
            for name, p in self.named_parameters():
                if p.grad is not None and not name.startswith("avd_network."):
                    p.grad.add_(p.detach(), alpha=decay)

    def training_losses(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        source_landmarks: torch.Tensor,
        driving_landmarks: torch.Tensor,
        condition: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Losses "perceptual", "equivariance_value", "warp_loss", "bg" (after
        `bg_start`); in the AVD stage "avd". `condition` (B, `condition_channels`) goes to
        every decoder stage (models with condition channels only). Outputs: "prediction", "deformed",
        "occlusion_map" (the finest), "kp_source", "kp_driving", "l1"."""
        if self.config["stage"] == "avd":
            return self._avd_losses(source, driving, source_landmarks, driving_landmarks)
        weights = self.config["loss"]
        kp_s = self.keypoints(source, source_landmarks)
        kp_d = self.keypoints(driving, driving_landmarks)
        bg_param = self.bg_predictor(source, driving) if self.bg_active() else None
        motion = self.dense_motion_network(source, kp_d, kp_s, bg_param, self.dropout_p())
        generated = self.inpainting_network(source, motion, condition=condition)
        prediction = generated["prediction"]
        losses = {"perceptual": self.reconstruction_loss(driving.device)(prediction, driving)}
        w_eq = float(weights["equivariance_value"])
        if w_eq:
            eq = self._equivariance(driving, driving_landmarks, kp_d)
            if eq is not None:
                losses["equivariance_value"] = w_eq * eq
        w_warp = float(weights["warp_loss"])
        if w_warp:
            targets = self.inpainting_network.encode_driving(driving, motion["occlusion_map"])
            warped = generated["warped_encoder_maps"]
            value = sum((t - warped[-i - 1]).abs().mean() for i, t in enumerate(targets))
            losses["warp_loss"] = w_warp * value
        w_bg = float(weights["bg"])
        if bg_param is not None and w_bg:
            reverse = self.bg_predictor(driving, source)
            eye = torch.eye(3, device=source.device, dtype=bg_param.dtype)
            losses["bg"] = w_bg * (eye - bg_param @ reverse).abs().mean()
        outputs = {
            "prediction": prediction,
            "deformed": generated["deformed"],
            "occlusion_map": motion["occlusion_map"][-1],
            "kp_source": kp_s,
            "kp_driving": kp_d,
            "l1": (prediction - driving).abs().mean().detach(),
        }
        return losses, outputs

    def _equivariance(
        self, driving: torch.Tensor, driving_landmarks, kp_d: torch.Tensor
    ) -> torch.Tensor | None:
        """mean |kp_d - warp(kp(warped frame))| over the learned keypoints (None when
        every keypoint is a prior point)."""
        if self.kp_detector is None:
            return None
        b, _, h, w = driving.shape
        t = dict(self.config["transform"])
        t["sigma_tps"] = 2.0 * float(t["sigma_tps"])  # r^2 log r^2 -> our r^2 log r
        transform = RandomTransform(b, device=driving.device, **t)
        transformed = transform.transform_frame(driving)
        moved = None
        if self.prior is not None:
            points = torch.as_tensor(driving_landmarks, device=driving.device).float()
            moved = transform.inverse(pixels_to_normalized(points, h, w))
        kp_t = self.keypoints(transformed, None, moved)
        diff = (kp_d - transform.warp_coordinates(kp_t)).abs()
        if self.prior is None:
            return diff.mean()
        learned = self.slots < 0
        if not bool(learned.any()):
            return None
        return diff[:, learned].mean()

    def _avd_losses(self, source, driving, source_landmarks, driving_landmarks):
        with torch.no_grad():
            kp_s = self.keypoints(source, source_landmarks).float()
            kp_d = self.keypoints(driving, driving_landmarks).float()
        avd = self.config["avd"]
        loss = avd_loss(
            self.avd_network, kp_s, kp_d, float(avd["random_scale"]), float(avd["lambda_shift"])
        )
        zero = driving.new_zeros(())
        return {"avd": loss}, {"prediction": driving, "l1": zero}

    # ---- animation -------------------------------------------------------------------
    @torch.no_grad()
    def encode_source(
        self, source: torch.Tensor, source_landmarks: torch.Tensor | None = None
    ) -> TPSMMSource:
        """Source keypoints, inpainting encoder features and the downscaled source."""
        with self._eval_mode(), self._autocast(source.device):
            kp = self.fp32_keypoints(source, source_landmarks)
            # once per video, in fp32 even under autocast: the decoder's fp32 parts (see
            # `inpainting.InpaintingNetwork.forward`) warp these features as they are
            with torch.autocast(device_type=source.device.type, enabled=False):
                features = self.inpainting_network.encode(source.float())
                small = self.dense_motion_network.downscale(source.float())
        return TPSMMSource(image=source, small=small, features=features, kp=kp)

    @torch.no_grad()
    def animate(
        self,
        state: TPSMMSource,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor | None,
        initial: torch.Tensor,
        initial_landmarks: torch.Tensor | None,
        mode: str = "relative",
        adapt_movement_scale: bool | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (T, 3, H, W) in [0, 1] for T driving frames: "standard" (alias
        "absolute"), "relative" (to `initial`, `relative_keypoints`) or "avd".
        `condition` (T, `condition_channels`): the decoder's condition of each frame."""
        mode = self.check_mode(mode)
        if adapt_movement_scale is None:
            adapt_movement_scale = bool(self.config["animation"]["adapt_movement_scale"])
        t = driving.shape[0]
        with self._eval_mode(), self._autocast(driving.device):
            kp_d = self.fp32_keypoints(driving, driving_landmarks)
            kp_s = state.kp.expand(t, *state.kp.shape[1:])
            if mode == "relative":
                kp_0 = self._initial_keypoints(state, initial, initial_landmarks)
                scale = state.cache["scale"] if adapt_movement_scale else 1.0
                kp_new = relative_keypoints(kp_s, kp_d, kp_0, scale * self.motion_scale)
            elif mode == "avd":
                kp_new = self.avd_motion(kp_s, kp_d)
            else:
                kp_new = kp_d
            motion = self.dense_motion_network(state.image, kp_new, kp_s, source_small=state.small)
            out = self.inpainting_network(
                state.image,
                motion,
                features=state.features,
                warped_maps=False,
                condition=condition,
            )["prediction"]
        return out.float().clamp_(0.0, 1.0)

    def avd_motion(self, source_motion: torch.Tensor, driving_motion: torch.Tensor) -> torch.Tensor:
        """The AVD network's keypoints: the driving pose carried onto the source's identity
        (`AnimationModel.avd_motion`; it offers mode "avd")."""
        return self.avd_network({"fg_kp": source_motion}, {"fg_kp": driving_motion})["fg_kp"]

    @torch.no_grad()
    def avd_animate(
        self, state: TPSMMSource, driving: torch.Tensor, driving_landmarks=None
    ) -> torch.Tensor:
        """`animate` in "avd" mode (no initial frame needed)."""
        return self.animate(state, driving, driving_landmarks, driving[:1], None, mode="avd")

    def _initial_keypoints(
        self, state: TPSMMSource, initial: torch.Tensor, landmarks: torch.Tensor | None
    ) -> torch.Tensor:
        """Keypoints of the initial driving frame and the movement scale, cached in
        `state` while the initial frame stays the same."""
        cached = state.cache.get("initial")
        if cached is not None:
            image, lms, kp = cached
            if self.same_frame(image, lms, initial, landmarks):
                return kp
        kp = self.fp32_keypoints(initial, landmarks)
        lms = None if landmarks is None else torch.as_tensor(landmarks).detach().float().clone()
        state.cache["initial"] = (initial.detach().clone(), lms, kp)
        state.cache["scale"] = movement_scale(state.kp, kp)
        return kp

    # ---- upstream checkpoints --------------------------------------------------------
    def upstream_modules(self) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {}
        if self.kp_detector is not None:
            modules["kp_detector"] = self.kp_detector
        modules["dense_motion_network"] = self.dense_motion_network
        modules["inpainting_network"] = self.inpainting_network
        if self.bg_predictor is not None:
            modules["bg_predictor"] = self.bg_predictor
        modules["avd_network"] = self.avd_network
        return modules


MODEL_CLASS = TPSMM
