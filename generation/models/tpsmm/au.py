"""`tpsmm-au`: TPSMM as the MEGC2022 entry (MEA-LAB-421/MEGC2022-Generation, Zhao et
al., MM'22) uses it, landmark keypoints and an AU-difference condition in every decoder
stage.

What the entry's code does (read for the facts, not copied):

- 10 TPS transforms, no background motion (its `bg: False`), no learned keypoints: the
  control points are 50 of the dlib 68 landmarks, 0-based `LANDMARK_KEYPOINTS` = the jaw
  points 1, 2, 5, 8, 9, 10, 13, 16, then 17-28 (brows and nose bridge), then 31-60 (nose
  base, eyes, outer lips and the first inner-lip point), in this order (its `kpmaker.py`).
  TPSMM groups keypoints 5k..5k+4 into transform k, so the transforms are `TPS_GROUPS`,
  consecutive runs of that list: jaw 1-9, jaw 10-16 with brow 17-18, the brows 19-23,
  brow 24-26 with the nose bridge 27-28, the nose base 31-35, eye 36-40, 41 with the other
  eye 42-45, 46-47 with the mouth 48-50, the outer lips 51-55, and 56-59 with the
  inner-lip corner 60.
- A 17-channel AU-difference vector c = AU(driving) / 5 - AU(source) / 5 (OpenFace's 0-5
  intensities, each with uniform noise of +-0.02 in training) is broadcast over the
  feature map and concatenated to the input of every decoder stage of the inpainting
  network (`inpainting.InpaintingNetwork` with `num_cond_channels` 17; its residual and
  up blocks take 17 more channels).

Where we differ, on purpose: the entry computes the 50 points once per video on its first
frame and gives the same points to source and driving, so its splines never move (the
fault of the MM'21 entry that docs/design.md says not to repeat); here each frame's own cached
landmarks are its keypoints, so the TPS motion follows the face and the AU vector adds
what landmarks miss. The AU intensities come from the AU engine (`generation.au`, the
landmark estimator over the cached landmarks) in the data path, never from images in a
training step: training pairs are `generation.data.au_pairs.AUFramePairs` (the AU track of
each clip computed once), and in animation `driving_condition` gives each driving frame's
AUs minus the driving onset's.

Config: TPSMM's (`tpsmm.default_config`) with `num_tps` fixed at 10, `bg_predictor`
off, the entry's dropout schedule (p from 0 to 0.7 over the first 10 % of training, off
after 35 %), no equivariance loss (no learned keypoints), `animation.adapt_movement_scale`
False (the entry's animate setting), and an `au` section: `scale` (5, the divisor),
`noise` (0.02). The `kp_detector` section stays for the AVD stage's shapes but builds no
network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fme.core.errors import ConfigError
from generation.au import AU_NAMES, estimate_from_landmarks
from generation.au.sources import train_source
from generation.config import merge
from generation.data.au_pairs import AUFramePairs
from generation.models.base import check_config_keys, packaged_defaults
from generation.models.blocks import pixels_to_normalized
from generation.models.tpsmm import model as tpsmm_model
from generation.models.tpsmm.keypoints import POINTS_PER_TPS
from generation.models.tpsmm.model import TPSMM
from generation.models.tpsmm.model import default_config as tpsmm_default_config
from generation.models.tpsmm.model import validate_config as tpsmm_validate_config

VARIANT = "tpsmm-au"

#: the 50 dlib-68 landmarks (0-based) that are the entry's keypoints, in its order
LANDMARK_KEYPOINTS: tuple[int, ...] = (
    (1, 2, 5, 8, 9, 10, 13, 16) + tuple(range(17, 29)) + tuple(range(31, 61))
)
#: the entry's number of TPS transforms (50 points / 5)
NUM_TPS = len(LANDMARK_KEYPOINTS) // POINTS_PER_TPS
#: the landmarks of each transform (keypoints 5k..5k+4)
TPS_GROUPS: tuple[tuple[int, ...], ...] = tuple(
    LANDMARK_KEYPOINTS[k * POINTS_PER_TPS : (k + 1) * POINTS_PER_TPS] for k in range(NUM_TPS)
)


def default_config(variant: str = VARIANT, scale: str = "small") -> dict[str, Any]:
    """TPSMM's config of `scale` ("paper": the entry's 3MEdataset.yaml networks, i.e.
    vox-256's without background motion; "small": CPU) with the entry's changes."""
    _check_variant(variant)
    changes = packaged_defaults(tpsmm_model.__file__)["au_changes"]
    changes["num_tps"] = NUM_TPS
    return merge(tpsmm_default_config("tpsmm", scale), changes)


def _check_variant(variant: str) -> None:
    if variant != VARIANT:
        raise ConfigError(f"{variant!r} is not the {VARIANT} variant")


def validate_config(variant: str, config: dict[str, Any]) -> dict[str, Any]:
    """A complete, checked copy of a `tpsmm-au` config (TPSMM's checks, plus `num_tps`
    must be 10: the 50 landmarks make 10 transforms of 5)."""
    _check_variant(variant)
    cfg = check_config_keys(config, default_config(variant, "small"), "TPSMM-AU")
    if int(cfg["num_tps"]) != NUM_TPS:
        raise ConfigError(
            f"num_tps {cfg['num_tps']}: {VARIANT} has {NUM_TPS} transforms "
            f"({len(LANDMARK_KEYPOINTS)} landmark keypoints of {POINTS_PER_TPS})"
        )
    if float(cfg["au"]["scale"]) <= 0:
        raise ConfigError(f"au.scale {cfg['au']['scale']!r} must be positive")
    au = cfg.pop("au")
    cfg = tpsmm_validate_config("tpsmm", cfg)
    cfg["au"] = au
    return cfg


def landmark_keypoints(landmarks: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The 50 keypoints (B, 50, 2) in [-1, 1] of pixel landmarks (B, 68, 2)."""
    index = torch.tensor(LANDMARK_KEYPOINTS, device=landmarks.device)
    return pixels_to_normalized(landmarks.float().index_select(1, index), height, width)


def au_differences(landmarks: np.ndarray, onset_index: int, track=None) -> np.ndarray:
    """(T, 17) AU intensities of a clip minus those of its onset frame (OpenFace's 0-5
    scale): `track`'s (an `AUTrack`, e.g. read from the clip's OpenFace CSV) when given,
    else the landmark estimator's on `landmarks` (T, 68, 2)."""
    if track is not None:
        values = np.asarray(track.values, dtype=np.float64)
    else:
        values = estimate_from_landmarks(np.asarray(landmarks), onset_index).values
    return (values - values[onset_index]).astype(np.float32)


def _no_prior(variant: str) -> None:
    return None


class TPSMMAU(TPSMM):
    """TPSMM with the 50 landmark keypoints and the AU-difference decoder condition."""

    learned_keypoints = False
    condition_channels = len(AU_NAMES)
    validate = staticmethod(validate_config)
    prior_kind_of = staticmethod(_no_prior)

    # ---- keypoints ---------------------------------------------------------------------
    def keypoints(
        self,
        image: torch.Tensor,
        landmarks: torch.Tensor | None,
        normalized_landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The frames' own landmarks `LANDMARK_KEYPOINTS` as the (B, 50, 2) keypoints."""
        landmarks = self.frame_landmarks(image, landmarks, normalized_landmarks)
        return landmark_keypoints(landmarks, *image.shape[-2:])

    # ---- training ----------------------------------------------------------------------
    def training_dataset(self, clips, train):
        """Frame pairs with each frame's AUs (`AUFramePairs`: the AU engine's track of
        every clip, computed once from its cached landmarks)."""
        return self.frame_pairs(AUFramePairs, clips, train, au_source=train_source(train))

    def training_inputs(self, batch: dict) -> tuple[torch.Tensor, ...]:
        return (
            batch["source"],
            batch["driving"],
            batch["source_landmarks"],
            batch["driving_landmarks"],
            batch["driving_aus"] - batch["source_aus"],
        )

    def au_condition(self, difference: torch.Tensor | None, noise: bool = False):
        """The decoder condition of AU differences (B, 17) on the 0-5 scale: divided by
        `au.scale`, with uniform noise of +-`au.noise` when `noise` (training)."""
        if difference is None:
            return None
        au = self.config["au"]
        cond = difference.float() / float(au["scale"])
        if noise and float(au["noise"]):
            cond = cond + (torch.rand_like(cond) * 2 - 1) * float(au["noise"])
        return cond

    def training_losses(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        source_landmarks: torch.Tensor,
        driving_landmarks: torch.Tensor,
        au_difference: torch.Tensor | None = None,
    ):
        """TPSMM's losses with the AU difference driving - source (B, 17, 0-5 scale)
        conditioning the decoder (None: no change, zeros)."""
        condition = self.au_condition(au_difference, noise=self.training)
        return super().training_losses(
            source, driving, source_landmarks, driving_landmarks, condition=condition
        )

    # ---- animation ---------------------------------------------------------------------
    def driving_condition(self, clip, target, target_landmarks, mode: str = "relative"):
        """Per-frame AU differences (T, 17) of the driving clip from its onset frame
        (`clip.au_track` when the clip carries one, e.g. `fme animate --au-source openface`,
        else the estimator on `clip.landmarks`); `animate_clip` passes them to `animate`."""
        track = getattr(clip, "au_track", None)
        return au_differences(clip.landmarks, int(clip.onset_index), track)

    @torch.no_grad()
    def animate(
        self,
        state,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor | None,
        initial: torch.Tensor,
        initial_landmarks: torch.Tensor | None,
        mode: str = "relative",
        adapt_movement_scale: bool | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """TPSMM's `animate`; `condition` (T, 17) is the frames' AU differences (0-5
        scale) from the driving onset (`driving_condition`; None: zeros)."""
        return super().animate(
            state,
            driving,
            driving_landmarks,
            initial,
            initial_landmarks,
            mode=mode,
            adapt_movement_scale=adapt_movement_scale,
            condition=self.au_condition(condition),
        )


MODEL_CLASS = TPSMMAU
