"""The AVD stage: the second training stage of MRAA, `fme train --stage avd`.

As the reference's `train_avd`: a trained model (our checkpoint, or an imported reference
one) is loaded and frozen; only its AVD network learns (built with the configured
bottlenecks when the model has none). Each step takes (source, driving) frame pairs of
one clip from the prepared data; the frozen region predictor gives the identity regions
(source) and the true pose regions (driving); the pose regions are scaled by a random
factor per axis (`random_scale`), so that the network must take the shape from the
identity and only the pose from the pose frame; the loss is L1 between the reconstructed
and the true pose shifts and affines (`lambda_shift`, `lambda_affine`). Adam with the
reference's lr 1e-3, betas (0.5, 0.999) and MultiStepLR at the milestones.

The run folder gets `checkpoint.pt` (the whole model, AVD network included, with its
config: `fme animate --mode avd` loads it) and `avd_log.csv` (step, rec_shift,
rec_affine, total). A family takes part by implementing `add_avd_network` and
`avd_motion` on its model (MRAA here).
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from fme.core.errors import ConfigError
from fme.core.outputs import atomic_open
from generation.checkpoints.checkpoint import load_model, read_checkpoint, save_checkpoint
from generation.config import AVDTrainConfig
from generation.data.frame_pairs import FramePairs
from generation.data.prepared import load_prepared
from generation.models.mraa.avd import random_axis_scale
from generation.training.train import resolve_device

LOG = "avd_log.csv"


@dataclass
class AVDResult:
    """What an AVD stage did: its folder, steps, first and last losses."""

    out: Path
    steps: int
    first_losses: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    model: Any = None

    @property
    def checkpoint(self) -> Path:
        return self.out / "checkpoint.pt"


def avd_losses(
    model, source, driving, source_landmarks, driving_landmarks, cfg: AVDTrainConfig, gen=None
) -> dict[str, torch.Tensor]:
    """The reference's AVD losses for one batch: {"rec_shift", "rec_affine"} (weighted)."""
    with torch.no_grad():
        identity = model.regions(source, source_landmarks)
        truth = model.regions(driving, driving_landmarks)
        pose = random_axis_scale(truth, cfg.random_scale, gen)
    rec = model.avd_network(identity, pose)
    return {
        "rec_shift": cfg.lambda_shift * (truth["shift"].float() - rec["shift"]).abs().mean(),
        "rec_affine": cfg.lambda_affine * (truth["affine"].float() - rec["affine"]).abs().mean(),
    }


def train_avd(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    cfg: AVDTrainConfig,
    device: str = "auto",
    progress: bool = True,
) -> AVDResult:
    """Train the AVD network of the model in `checkpoint` on the prepared `data`."""
    from torch.utils.data import DataLoader, RandomSampler
    from tqdm import tqdm

    dev = resolve_device(device)
    state = read_checkpoint(checkpoint)
    model = load_model(checkpoint, str(dev))
    if not hasattr(model, "add_avd_network"):
        raise ConfigError(
            f"the {model.family.upper()} family has no AVD stage",
            checkpoint,
            "Train the AVD stage on an MRAA checkpoint.",
        )
    torch.manual_seed(cfg.seed)
    avd = model.add_avd_network(
        {"id_bottle_size": cfg.id_bottle_size, "pose_bottle_size": cfg.pose_bottle_size}
    )
    model.eval()
    model.requires_grad_(False)
    avd.requires_grad_(True)
    avd.train()
    optimizer = torch.optim.Adam(avd.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, cfg.milestone_steps(), gamma=cfg.gamma
    )
    size = int(model.config["image_size"])
    dataset = FramePairs(load_prepared(data), size, augment=True, seed=cfg.seed)
    if len(dataset) < 2:
        raise ConfigError("the AVD stage needs at least two frame pairs", data)
    gen = torch.Generator().manual_seed(cfg.seed)
    batch = min(cfg.batch_size, len(dataset))
    loader = DataLoader(
        dataset,
        batch_size=batch,
        sampler=RandomSampler(dataset, replacement=True, num_samples=cfg.iterations * batch),
        num_workers=cfg.num_workers,
        drop_last=True,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = AVDResult(out, 0, model=model)
    start = time.perf_counter()
    with atomic_open(out / LOG, "w", newline="") as fh:  # whole or not at all
        writer = csv.DictWriter(fh, fieldnames=["step", "rec_shift", "rec_affine", "total"])
        writer.writeheader()
        bar = tqdm(loader, total=cfg.iterations, desc="avd", disable=not progress)
        for step, item in enumerate(bar, start=1):
            losses = avd_losses(
                model,
                item["source"].to(dev),
                item["driving"].to(dev),
                item["source_landmarks"].to(dev),
                item["driving_landmarks"].to(dev),
                cfg,
                gen,
            )
            total = losses["rec_shift"] + losses["rec_affine"]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            scheduler.step()
            values = {k: float(v.detach()) for k, v in losses.items()}
            values["total"] = float(total.detach())
            if step == 1:
                result.first_losses = values
            result.losses = values
            if step == 1 or step % max(1, cfg.log_every) == 0 or step == cfg.iterations:
                writer.writerow({"step": step, **{k: f"{v:.6f}" for k, v in values.items()}})
            bar.set_postfix(loss=f"{values['total']:.4f}")
            result.steps = step
    avd.eval()
    model.requires_grad_(True)
    run_config = dict(state["config"])
    run_config["model"] = model.config
    avd_section = asdict(cfg)
    avd_section["betas"] = list(cfg.betas)
    avd_section["milestones"] = list(cfg.milestones)
    run_config["avd"] = avd_section
    extra = dict(state.get("extra") or {})
    extra.update({"avd_steps": result.steps, "avd_from": str(checkpoint)})
    save_checkpoint(result.checkpoint, model, int(state["step"]), run_config, extra=extra)
    result.seconds = time.perf_counter() - start
    return result
