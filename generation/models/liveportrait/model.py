"""LivePortrait (Guo et al. 2024) as a family of the toolkit: the released networks run
zero-shot (they are not trained here).

Networks (attributes under the reference's names, so its state dicts load strictly):
`appearance_feature_extractor` (F), `motion_extractor` (M, ConvNeXt-V2 tiny),
`warping_module` (W, with its dense motion network), `spade_generator` (G, 256 -> 512 px),
and `stitching_retargeting_module` with `stitching`, `lip`, `eye` (S, R_lip, R_eyes).

Animation (`animate`): the reference's per-frame loop for a source image and a driving
video (`generation.models.liveportrait.motion`): relative motion from the driving onset
frame, the expression-friendly multiplier, stitching on by default, then the driving
multiplier, then warping and decoding; batched here. The output is the decoder's 512 px.
What is not the reference: the face crop (the toolkit's dlib preparation, not InsightFace's
203-point alignment), so the lip normalisation and the eye / lip retargeting from landmark
ratios are not part of `animate` (the retargeting networks are exposed as `retarget_eye`
/ `retarget_lip`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fme.core.errors import ConfigError
from generation.models.base import AnimationModel, check_config_keys, packaged_defaults
from generation.models.liveportrait.appearance_feature_extractor import (
    AppearanceFeatureExtractor,
)
from generation.models.liveportrait.motion import (
    REGIONS,
    keypoint_info,
    motion_multiplier,
    relative_keypoints,
    transform_keypoints,
)
from generation.models.liveportrait.motion_extractor import MotionExtractor
from generation.models.liveportrait.spade_generator import SPADEDecoder
from generation.models.liveportrait.stitching_retargeting_network import (
    SIZES,
    StitchingRetargetingNetwork,
)
from generation.models.liveportrait.warping_network import WarpingNetwork

DRIVING_OPTIONS = ("expression-friendly", "pose-friendly")


def default_config(variant: str = "liveportrait", scale: str = "paper") -> dict[str, Any]:
    """The packaged config (defaults.yaml): "paper" is the reference's models.yaml (the
    released weights' shapes); "small" narrows every network (same structure and names,
    for tests and a quick look on a CPU: no released weights fit it)."""
    if variant != "liveportrait":
        raise ConfigError(f"{variant!r} is not a LivePortrait variant; choose liveportrait")
    if scale not in ("paper", "small"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'paper' or 'small'")
    defaults = packaged_defaults(__file__)
    cfg = defaults[scale]
    cfg.update(defaults["shared"])
    return cfg


#: the reference's models.yaml, as networks config
PAPER_PARAMS: dict[str, Any] = default_config("liveportrait", "paper")["networks"]


class LivePortraitModel(AnimationModel):
    family = "liveportrait"
    takes_motion_scale = True  # the expression delta (see `driving_keypoints`)

    def __init__(self, variant: str, config: dict[str, Any]):
        config = check_config_keys(config, default_config(variant, "paper"))
        super().__init__(variant, config)
        nets = config["networks"]
        anim = config["animation"]
        check_animation(anim)
        self.appearance_feature_extractor = AppearanceFeatureExtractor(
            **nets["appearance_feature_extractor"]
        )
        self.motion_extractor = MotionExtractor(**nets["motion_extractor"])
        self.warping_module = WarpingNetwork(**nets["warping_module"])
        self.spade_generator = SPADEDecoder(**nets["spade_generator"])
        num_kp = int(nets["motion_extractor"]["num_kp"])
        self.stitching_retargeting_module = nn.ModuleDict(
            {
                name: StitchingRetargetingNetwork(
                    inp - 126 + 6 * num_kp if name == "stitching" else inp - 63 + 3 * num_kp,
                    hidden,
                    out - 63 + 3 * num_kp,
                )
                for name, (inp, hidden, out) in SIZES.items()
            }
        )

    # ---- not trained here -----------------------------------------------------------
    def param_groups(self):
        raise ConfigError(
            "LivePortrait is not trained here: its released networks run zero-shot",
            hint="Import the released weights with `fme import-checkpoint --from liveportrait DIR`.",
        )

    def training_losses(self, *args, **kwargs):
        return self.param_groups()

    # ---- the stages -----------------------------------------------------------------
    def keypoint_info(self, image: torch.Tensor) -> dict:
        """Pose (degrees), t, exp, scale, canonical kp and rotation of frames (B, 3, 256, 256)."""
        return keypoint_info(self.motion_extractor(image))

    def stitch(self, x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        """x_d moved by the stitching network: + delta[:3K] on every keypoint and
        + delta[3K:3K+2] on x and y."""
        b, k = x_d.shape[:2]
        feat = torch.cat([x_s.reshape(b, -1), x_d.reshape(b, -1)], dim=1)
        delta = self.stitching_retargeting_module["stitching"](feat)
        out = x_d + delta[:, : 3 * k].reshape(b, k, 3)
        return torch.cat(
            [out[..., :2] + delta[:, 3 * k : 3 * k + 2].reshape(b, 1, 2), out[..., 2:]], -1
        )

    def retarget_eye(self, x_s: torch.Tensor, eye_ratio: torch.Tensor) -> torch.Tensor:
        """R_eyes(x_s; [c_s,eyes (2), c_d,eyes]) -> keypoint delta (B, K, 3)."""
        b, k = x_s.shape[:2]
        out = self.stitching_retargeting_module["eye"](
            torch.cat([x_s.reshape(b, -1), eye_ratio], 1)
        )
        return out.reshape(b, k, 3)

    def retarget_lip(self, x_s: torch.Tensor, lip_ratio: torch.Tensor) -> torch.Tensor:
        """R_lip(x_s; [c_s,lip, c_d,lip]) -> keypoint delta (B, K, 3)."""
        b, k = x_s.shape[:2]
        out = self.stitching_retargeting_module["lip"](
            torch.cat([x_s.reshape(b, -1), lip_ratio], 1)
        )
        return out.reshape(b, k, 3)

    def warp_decode(self, feature_3d, kp_source, kp_driving) -> dict:
        """W then G: {"out": image (B, 3, 512, 512), "occlusion_map", "deformation",
        "warped": the decoder's input}."""
        ret = self.warping_module(feature_3d, kp_driving=kp_driving, kp_source=kp_source)
        ret["warped"] = ret["out"]
        ret["out"] = self.spade_generator(ret["out"])
        return ret

    def driving_keypoints(self, state: dict, driving_info: dict, initial_info: dict, relative=True):
        """The keypoints the decoder is driven to for each driving frame (B, K, 3): the
        rule of `motion.relative_keypoints`, the expression-friendly multiplier, stitching
        and the driving multiplier, under `config["animation"]`; the expression delta is
        times `expression_scale` and the model's `motion_scale`."""
        anim = self.config["animation"]
        check_animation(anim)
        x_s = state["x_s"]
        scale = float(anim["expression_scale"]) * self.motion_scale
        rule = dict(region=anim["region"], relative=relative, expression_scale=scale)
        x_d = relative_keypoints(state["info"], driving_info, initial_info, **rule)
        if relative and anim["driving_option"] == "expression-friendly":
            x_0 = relative_keypoints(state["info"], initial_info, initial_info, **rule)
            m = motion_multiplier(x_s, x_0)
            x_d = (x_d - x_0) * m + x_s
        b = x_d.shape[0]
        x_s_b = x_s.expand(b, *x_s.shape[1:])
        if anim["stitching"]:
            x_d = self.stitch(x_s_b, x_d)
        multiplier = float(anim["multiplier"])
        if multiplier != 1.0:
            x_d = x_s_b + (x_d - x_s_b) * multiplier
        return x_d

    # ---- the AnimationModel contract --------------------------------------------------
    @torch.no_grad()
    def encode_source(self, source: torch.Tensor, source_landmarks: torch.Tensor | None = None):
        """F and M of the source (1, 3, 256, 256): feature volume, keypoint info, x_s."""
        with self._autocast(source.device):
            info = self.keypoint_info(source)
            f_s = self.appearance_feature_extractor(source)
        return {"f_s": f_s.float(), "info": info, "x_s": transform_keypoints(info), "initial": None}

    @torch.no_grad()
    def animate(
        self,
        state,
        driving,
        driving_landmarks,
        initial,
        initial_landmarks,
        mode="relative",
        adapt_movement_scale=None,
        condition=None,
    ):
        """Frames (T, 3, 512, 512) for T driving frames (T, 3, 256, 256): "relative" from
        the driving `initial` frame (the reference's default), or "standard" (the driving
        frames' own pose and expression, the reference's `--no_flag_relative_motion`)."""
        mode = self.check_mode(mode)
        cached = state.get("initial")
        if cached is None or not self.same_frame(initial, None, cached[0], None, False):
            with self._autocast(initial.device):
                state["initial"] = (initial, self.keypoint_info(initial))
        init_info = state["initial"][1]
        chunk = max(1, int(self.config["inference"]["chunk"]))
        outs = []
        for start in range(0, driving.shape[0], chunk):
            frames = driving[start : start + chunk]
            with self._autocast(frames.device):
                info = self.keypoint_info(frames)
            x_d = self.driving_keypoints(state, info, init_info, relative=mode == "relative")
            b = frames.shape[0]
            f_s = state["f_s"].expand(b, *state["f_s"].shape[1:])
            x_s = state["x_s"].expand(b, *state["x_s"].shape[1:])
            with self._autocast(frames.device):
                outs.append(self.warp_decode(f_s, x_s, x_d)["out"].float())
        return torch.cat(outs, 0)

    check_animation = staticmethod(lambda anim: check_animation(anim))

    def animation_modes(self) -> tuple[str, ...]:
        return ("standard", "relative")

    # ---- the released checkpoints -----------------------------------------------------
    def upstream_modules(self) -> dict[str, nn.Module]:
        """The networks under the released files' names (see `release.py`)."""
        sr = self.stitching_retargeting_module
        return {
            "appearance_feature_extractor": self.appearance_feature_extractor,
            "motion_extractor": self.motion_extractor,
            "warping_module": self.warping_module,
            "spade_generator": self.spade_generator,
            "retarget_shoulder": sr["stitching"],
            "retarget_mouth": sr["lip"],
            "retarget_eye": sr["eye"],
        }


def check_animation(anim: dict) -> None:
    """ConfigError for an animation option outside its choices."""
    if anim["region"] not in REGIONS:
        raise ConfigError(f"animation region {anim['region']!r}: choose {', '.join(REGIONS)}")
    if anim["driving_option"] not in DRIVING_OPTIONS:
        raise ConfigError(
            f"driving option {anim['driving_option']!r}: choose {' or '.join(DRIVING_OPTIONS)}"
        )
    for key in ("multiplier", "expression_scale"):
        value = anim[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ConfigError(f"animation {key} {value!r}: give a number")


MODEL_CLASS = LivePortraitModel
