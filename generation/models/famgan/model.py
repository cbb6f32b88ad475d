"""FAMGAN (Xu et al., MM'21): a face driven by action-unit intensities through GANimation.

The `famgan` variant. GANimation's generator (`generator.py`) moves the target's
face to each frame's AU vector; its critic (`critic.py`) is trained as a WGAN-GP
critic with an AU-regression head. Losses and weights as GANimation publishes them
(`options/train_options.py` of the reference code), with images in [-1, 1] and AUs (the AU
engine's, times `common.au_scale`) / 5:

    generator: adversarial -mean D(fake) (1), AU condition MSE(D_aus(fake), y_desired) / B
               (4000), cycle L1(G(G(x, y_desired), y_real), x) (10), attention mean over the
               fake and the cycle masks (0.1 each), their total variation (1e-5 each)
    critic:    -mean D(real) + mean D(fake) (1), AU regression MSE(D_aus(real), y_real) / B
               (4000), gradient penalty mean (||grad D(x_hat)|| - 1)^2 at random interpolates
               (10)

The generator is stepped once per `schedule.generator_every` (5) steps, the critic on every
step (the trainer honours `AnimationModel.generator_every`). Desired conditions get uniform
noise of +-`loss.au_noise` (0.1, as GANimation's data loader). Deviation: the reference steps
the critic twice per iteration (its losses, then the penalty); we step their sum once.

Training pairs are two frames of one clip (`generation.data.au_pairs.AUFramePairs`): the
source is the input, the other frame's AUs the desired condition. Animation drives the target
by the driving clip's modulated AU curve (`drive.py`), optionally through a
super-resolution stage (`rrdbnet.py`, user weights, off by default).

Deviations for paired data (GANimation has none; `loss.paired: 0` with
`pairs.onset_source: 0` gives its losses and sampling exactly):

- `loss.paired` (PAIRED_WEIGHT, 1e5): the mean squared error between the generated frame and
  the driving frame, the true face of the source's subject at the desired AUs. GANimation
  learns the AU-to-appearance mapping only through its critic's AU head, over 30 epochs;
  on a short CPU run that signal is too weak for a micro-expression (a change of a pixel
  or less), and the generator returns its input (attention about 0.99 after 300-600 CPU
  steps in our trials). A squared error, not an
  L1: where the change of an edge is uncertain across faces, L1's optimum is the median, no
  change; the mean keeps part of it. Two frames of a micro-expression differ by about 1e-4
  in squared [-1, 1] units, hence the weight (a term of about 10, the AU term's size).
- `pairs.onset_source` (ONSET_SOURCE, 1): the fraction of pairs whose source is the clip's
  onset frame (`AUFramePairs`). Animation moves a neutral target by the driving clip's
  change from its onset (Eq. 3); a source at another frame asks the generator to read the
  source's own tiny expression from its pixels first, and the output of such pairs averages
  to no change. With onset sources, the critic's real frames (and their AUs) are the driving
  frames, not the sources, or it would see only neutral faces.

Measured (`fme bench generation --variants famgan --iterations 1200`, docs/guides/famgan.md): with both at
GANimation's values the held-out faces change, but not the way the driving AUs go (AU r
upper / lower 0.11 / 0.02, AU MAE above the unchanged target's); with ours they follow the
driving curves (0.91 / 0.23, the truth 0.94 / 0.98), less far than the truth moves.
`famgan-64` also steps the generator on every critic step (`generator_every: 1`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fme.core.errors import ConfigError
from generation.au.asymmetry import midline_x, split_column
from generation.au.modulation import REFERENCES
from generation.au.sources import train_source
from generation.data.au_pairs import AUFramePairs, au_vectors
from generation.models.base import AnimationModel, check_config_keys, packaged_defaults
from generation.models.famgan.critic import GANimationCritic
from generation.models.famgan.drive import driving_condition
from generation.models.famgan.generator import GANimationGenerator

#: OpenFace's intensities are 0-5; GANimation feeds them divided by 5
AU_SCALE = 5.0
#: Default `common.au_scale`, the gain on the AU engine's intensities (clipped to 0-5) before
#: the division by AU_SCALE, in training and animation alike (the checkpoint keeps it). The
#: engine's unit is 0.03 IOD, so the synthetic micro-expressions peak at 0.4-1.0, only
#: 0.09-0.2 after /5, no more than the +-0.1 condition noise. After 100 training steps on the
#: training test's corpus, moving the condition from the onset's AUs to the apex's moved the
#: generator's output 0.45x as much as the true onset-to-apex change at gain 1, 1.15x at 3
#: and 2.45x at 5 (where the cycle and L1 terms fell least). The interim landmark proxy this
#: engine replaced gave about 1.6x the engine's intensities.
AU_GAIN = packaged_defaults(__file__)["shared"]["common"]["au_scale"]  # 3.0
#: Default `loss.paired` (see the module docstring); 0 gives GANimation's losses exactly.
PAIRED_WEIGHT = packaged_defaults(__file__)["shared"]["loss"]["paired"]  # 1e5
#: Default `pairs.onset_source` (see the module docstring); 0: both frames drawn at random.
ONSET_SOURCE = packaged_defaults(__file__)["shared"]["pairs"]["onset_source"]  # 1.0


def default_config(variant: str = "famgan", scale: str = "small") -> dict[str, Any]:
    """Paper: GANimation's defaults (128 px, generator conv_dim 64 with 6 residual blocks,
    critic conv_dim 64 with 6 stride-2 layers). Small (CPU, 32-64 px): conv_dim 16 with 2
    residual blocks, critic 16 with 4 layers. Loss weights and schedule as published at both.
    `common.au_scale` (AU_GAIN, 3): the gain on the AU engine's intensities (see AU_GAIN)."""
    _check_variant(variant)
    if scale not in ("paper", "small"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'paper' or 'small'")
    defaults = packaged_defaults(__file__)
    cfg: dict[str, Any] = defaults[scale]
    cfg.update(defaults["shared"])
    return cfg


def _check_variant(variant: str) -> None:
    if variant != "famgan":
        raise ConfigError(f"{variant!r} is not the FAMGAN variant; choose famgan")


def validate_config(variant: str, config: dict[str, Any]) -> dict[str, Any]:
    """A complete, checked copy of a FAMGAN model config (missing keys from the small one)."""
    _check_variant(variant)
    cfg = check_config_keys(config, default_config(variant, "small"))
    drive, schedule = cfg["drive"], cfg["schedule"]
    problems = []
    if drive["reference"] not in REFERENCES:
        problems.append(f"drive.reference {drive['reference']!r}: choose onset or previous")
    if not 0 <= float(drive["alpha"]) <= 1:
        problems.append("drive.alpha must be in [0, 1] (the paper: small)")
    if int(drive["window"]) < 0:
        problems.append("drive.window (n of the 2n+1 frames) must not be negative")
    if not 0 < float(cfg["common"]["au_scale"]) <= 50:
        problems.append("common.au_scale must be in (0, 50] (the AU engine's intensities times it)")
    if float(cfg["loss"]["paired"]) < 0:
        problems.append("loss.paired must not be negative (0: GANimation's losses)")
    if not 0 <= float(cfg["pairs"]["onset_source"]) <= 1:
        problems.append("pairs.onset_source must be in [0, 1] (a fraction of the pairs)")
    if int(schedule["generator_every"]) < 1:
        problems.append("schedule.generator_every must be at least 1")
    if int(cfg["image_size"]) % 4:
        problems.append("image_size must be a multiple of 4 (two downsamplings)")
    if problems:
        raise ConfigError("bad famgan model config: " + "; ".join(problems))
    return cfg


def total_variation(mask: torch.Tensor) -> torch.Tensor:
    """Sum of absolute differences of horizontal and vertical neighbours (GANimation's
    mask-smoothness term, a sum, not a mean)."""
    return (mask[..., :, 1:] - mask[..., :, :-1]).abs().sum() + (
        mask[..., 1:, :] - mask[..., :-1, :]
    ).abs().sum()


def paired_error(fake: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the generated frames and the driving frames (both in
    [-1, 1]): the paired reconstruction term, a deviation from GANimation (module docstring)."""
    return (fake.float() - driving.float()).pow(2).mean()


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """WGAN-GP: mean over the batch of (||d critic score / d x_hat||_2 - 1)^2 at
    x_hat = alpha real + (1 - alpha) fake, alpha ~ U(0, 1) per sample (or the given (B,1,1,1)).
    The score's patches are summed (as the reference's all-ones grad_outputs)."""
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    score = critic(x_hat)["score"]
    if score.dtype in (torch.float16, torch.bfloat16):  # under autocast
        score = score.float()
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    norm = grad.to(score.dtype).flatten(1).pow(2).sum(1).sqrt()
    return (norm - 1).pow(2).mean()


class FAMGAN(AnimationModel):
    family = "famgan"

    def __init__(self, variant: str, config: dict[str, Any]):
        config = validate_config(variant, config)
        super().__init__(variant, config)
        c_dim = int(config["common"]["c_dim"])
        self.generator = GANimationGenerator(c_dim, **config["generator"])
        self.discriminator = GANimationCritic(int(config["image_size"]), c_dim, **config["critic"])
        self.generator_every = int(config["schedule"]["generator_every"])
        self._onset_pairs = float(config["pairs"]["onset_source"]) > 0
        self._extras: dict[str, Any] = {}  # the super-resolution network (not in the state dict)

    # ---- training -------------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "generator": list(self.generator.parameters()),
            "discriminator": list(self.discriminator.parameters()),
        }

    def training_dataset(self, clips, train):
        return self.frame_pairs(
            AUFramePairs,
            clips,
            train,
            au_scale=float(self.config["common"]["au_scale"]),
            onset_source=float(self.config["pairs"]["onset_source"]),
            au_source=train_source(train),
        )

    def training_inputs(self, batch: dict) -> tuple[torch.Tensor, ...]:
        return batch["source"], batch["driving"], batch["source_aus"], batch["driving_aus"]

    def training_losses(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        source_aus: torch.Tensor,
        driving_aus: torch.Tensor,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Generator losses for source frames (B, 3, H, W) in [0, 1] moved to the AUs of the
        driving frames (B, 17); outputs: "prediction" (in [0, 1]), and for the critic "real",
        "fake" (in [-1, 1]) and "real_cond" (AUs / 5)."""
        w = self.config["loss"]
        real = source * 2 - 1
        real_cond = source_aus.float() / AU_SCALE
        desired = driving_aus.float() / AU_SCALE
        if w["au_noise"]:
            desired = desired + (torch.rand_like(desired) * 2 - 1) * float(w["au_noise"])
        batch = real.shape[0]
        out = self.generator(real, desired)
        fake = out["image"]
        judged = self.discriminator(fake)
        back = self.generator(fake, real_cond)
        losses = {
            "adversarial": -judged["score"].float().mean() * w["adversarial"],
            "au_condition": F.mse_loss(judged["aus"].float(), desired) / batch * w["au_condition"],
            "cycle": F.l1_loss(back["image"].float(), real.float()) * w["cycle"],
            "mask": (out["attention"].float().mean() + back["attention"].float().mean())
            * w["mask"],
            "mask_smooth": (total_variation(out["attention"]) + total_variation(back["attention"]))
            .float()
            .mul(w["mask_smooth"]),
        }
        if w["paired"]:
            losses["paired"] = paired_error(fake, driving * 2 - 1) * w["paired"]
        outputs = {
            "prediction": (fake.detach().float() + 1) / 2,
            "fake": fake.detach(),
            # the critic's real frames: the sources (GANimation), or the driving frames when
            # the pairs draw onset sources (a critic shown only onsets learns no AUs)
            "real": (driving * 2 - 1 if self._onset_pairs else real).detach(),
            "real_cond": driving_aus.float() / AU_SCALE if self._onset_pairs else real_cond,
            "attention": out["attention"].detach(),
        }
        return losses, outputs

    def discriminator_losses(
        self, driving: torch.Tensor, outputs: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Critic losses on the source frames (real) and the generated ones (fake)."""
        w = self.config["loss"]
        real, fake = outputs["real"], outputs["fake"]
        on_real = self.discriminator(real)
        on_fake = self.discriminator(fake)
        batch = real.shape[0]
        return {
            "critic_real": -on_real["score"].float().mean() * w["adversarial"],
            "critic_fake": on_fake["score"].float().mean() * w["adversarial"],
            "critic_au": F.mse_loss(on_real["aus"].float(), outputs["real_cond"])
            / batch
            * w["au_condition"],
            "gradient_penalty": gradient_penalty(self.discriminator, real, fake)
            * w["gradient_penalty"],
        }

    # ---- animation ------------------------------------------------------------------------
    def set_super_resolution(self, weights: str | None) -> None:
        """Turn the RRDBNet x4 stage on with the user's weights file (None: off)."""
        if weights is not None:
            from generation.models.famgan.rrdbnet import load_rrdbnet

            sr = self.config["super_resolution"]
            net = load_rrdbnet(weights, sr["num_feat"], sr["num_block"], sr["num_grow_ch"])
            self._extras["sr"] = net.to(next(self.parameters()).device)
        else:
            self._extras.pop("sr", None)
        self.config["super_resolution"]["weights"] = str(weights) if weights else None

    def _super_resolution(self):
        weights = self.config["super_resolution"]["weights"]
        if weights and "sr" not in self._extras:
            self.set_super_resolution(weights)
        return self._extras.get("sr")

    def driving_condition(self, clip, target: np.ndarray, target_landmarks, mode="relative"):
        """Per-frame AUs (T, 17) or (T, 2, 17) (asymmetric) driving the target: the
        driving clip's curve modulated (`drive.driving_condition`). `clip` has
        `landmarks` (T, 68, 2) and `onset_index` at the model's size; the target's own AUs
        come from the same estimator (one frame, its own reference)."""
        from types import SimpleNamespace

        mode = self.check_mode(mode)  # "relative", or "standard" (alias "absolute")
        one = SimpleNamespace(
            landmarks=np.asarray(target_landmarks)[None], onset_index=0, frames=target[None]
        )
        target_aus = au_vectors(one, float(self.config["common"]["au_scale"]))[0]
        d = self.config["drive"]
        return driving_condition(
            clip,
            target_aus,
            float(d["alpha"]),
            d["reference"],
            int(d["window"]),
            bool(d["asymmetric"]),
            relative=mode == "relative",
            au_scale=float(self.config["common"]["au_scale"]),
        )

    @torch.no_grad()
    def encode_source(self, source: torch.Tensor, source_landmarks: torch.Tensor | None = None):
        """The target in [-1, 1] and the column of its facial midline (the join of the
        asymmetric halves): `generation.au.asymmetry`'s split column at the midline of the
        target's landmarks (the one `half_landmarks` mirrors about), else the image centre."""
        width = int(source.shape[-1])
        if source_landmarks is not None:
            lms = source_landmarks.reshape(-1, 68, 2)[0].detach().cpu().numpy()
            mid = min(max(midline_x(lms), 0.0), width - 2.0)  # a column on either side
            column = split_column(width, mid)
        else:
            column = split_column(width)
        return {"image": source * 2 - 1, "column": column}

    @torch.no_grad()
    def animate(
        self,
        state: dict,
        driving: torch.Tensor,
        driving_landmarks: torch.Tensor | None,
        initial: torch.Tensor,
        initial_landmarks: torch.Tensor | None,
        mode: str = "relative",
        adapt_movement_scale: bool | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (B, 3, H, W) in [0, 1] (4H x 4W with super-resolution) of the target at the
        batch's AU `condition` (B, 17) or (B, 2, 17) (0-5; `driving_condition`); the driving
        frames themselves are not looked at."""
        if condition is None:
            raise ConfigError(
                "FAMGAN animates from per-frame AU vectors",
                hint="Use generation.animation.animate.animate_clip, which computes them.",
            )
        with self._eval_mode(), self._autocast(driving.device):
            cond = condition.to(driving.device).float() / AU_SCALE
            image = state["image"].expand(cond.shape[0], -1, -1, -1)
            if cond.dim() == 3:  # image-left and image-right halves, joined at the midline
                left = self.generator(image, cond[:, 0])["image"]
                right = self.generator(image, cond[:, 1])["image"]
                c = state["column"]
                out = torch.cat([left[..., :c], right[..., c:]], dim=-1)
            else:
                out = self.generator(image, cond)["image"]
            out = ((out.float() + 1) / 2).clamp(0, 1)
            sr = self._super_resolution()
            if sr is not None:
                out = sr(out).clamp(0, 1)
        return out

    def upstream_modules(self) -> dict[str, nn.Module]:
        """GANimation saves its networks as G and D."""
        return {"G": self.generator, "D": self.discriminator}


MODEL_CLASS = FAMGAN
