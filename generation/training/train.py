"""The training loop of every variant: `fme train`.

It only uses the `AnimationModel` contract (`training_dataset`, `training_inputs`,
`param_groups`, `training_losses`, `discriminator_losses`, `generator_every`,
`encode_source`/`animate` for the sample videos), so FOMM, MRAA and FAMGAN train here alike.
A run folder holds::

    RUN/config.yaml            the complete run config (variant, scale, train, model)
    RUN/holdout.csv            the held-out subjects, never seen in training
    RUN/log.csv                step, seconds, lr, every loss and their total
    RUN/checkpoint.pt          the latest checkpoint (config, variant, step, optimizers)
    RUN/checkpoints/step_N.pt  every `checkpoint_every` steps
    RUN/samples/step_N.mp4     driving | generated, a held-out target, every `sample_every`

One Adam per parameter group with the reference schedule (MultiStepLR at the config's
milestones). Under `torchrun` (WORLD_SIZE > 1) each process takes one GPU (gloo on
CPU), the data are split by a DistributedSampler, gradients are averaged by DDP, and
only rank 0 logs, samples and saves. On CUDA the forward passes run under bf16 autocast
(`train.mixed_precision`); `compile=True` compiles the sub-networks with torch.compile.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fme.core.errors import ConfigError
from fme.core.outputs import atomic_open, copy_atomic
from generation.animation.animate import animate_clip, load_driving, side_by_side
from generation.checkpoints.checkpoint import read_checkpoint, save_checkpoint
from generation.config import RunConfig, run_config_from_dict, set_everywhere
from generation.data.frame_pairs import holdout_split, subject_key
from generation.data.prepared import load_prepared
from generation.data.video import write_mp4
from generation.models import build_model

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
LOG = "log.csv"


@dataclass
class TrainResult:
    """What a run did: its folder, the last step, the last logged losses."""

    out: Path
    step: int
    start_step: int
    losses: dict[str, float] = field(default_factory=dict)
    first_losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    rank: int = 0
    world_size: int = 1
    model: Any = None

    @property
    def checkpoint(self) -> Path:
        return self.out / CHECKPOINT

    @property
    def log(self) -> Path:
        return self.out / LOG

    @property
    def seconds_per_step(self) -> float:
        n = self.step - self.start_step
        return self.seconds / n if n else float("nan")


def resolve_device(name: str = "auto"):
    """ "auto": CUDA when present, else CPU; otherwise the named device."""

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available", hint="Use --device cpu.")
    return device


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[Distributed, Any]:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK); the device
    of this process (cuda:LOCAL_RANK with CUDA, else the CPU)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), resolve_device(device_name)
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    started = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        started = True
    return Distributed(rank, world, local, started), device


class TrainingSteps(nn.Module):
    """The model's training methods as forward passes, so that DDP sees (and syncs) them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, mode: str, *args):
        if mode == "generator":
            return self.model.training_losses(*args)
        return self.model.discriminator_losses(*args)


def _sync_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (batch-norm statistics) on every rank: DDP syncs gradients, and
    broadcasts buffers before each forward, but the last forward leaves each rank's own."""
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _held_out_rows(held) -> list[dict[str, str]]:
    return [{"subject": s} for s in sorted({subject_key(c) for c in held})]


def read_holdout(run_dir: str | Path) -> list[str]:
    """The held-out subject keys (`dataset/subject`) of a run."""
    path = Path(run_dir) / "holdout.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [row["subject"] for row in csv.DictReader(fh)]


def _check_resume(out: Path, run: RunConfig, resume: bool) -> dict | None:
    """The checkpoint to resume from (None for a new run); ConfigError on a conflict."""
    ckpt = out / CHECKPOINT
    if not ckpt.is_file():
        if resume:
            log.warning("%s: nothing to resume, starting a new run", out)
        return None
    if not resume:
        raise ConfigError(
            "the run folder already holds a checkpoint",
            out,
            "Pass --resume to continue it, or choose another --out.",
        )
    state = read_checkpoint(ckpt)
    if state["variant"] != run.variant:
        raise ConfigError(
            f"the run in this folder trains {state['variant']}, not {run.variant}",
            ckpt,
            "Resume with its variant or choose another --out.",
        )
    saved = run_config_from_dict(state["config"], str(ckpt))
    if int(saved.model.get("image_size", 0)) != int(run.model.get("image_size", 0)):
        raise ConfigError(
            f"the run in this folder is at {saved.model.get('image_size')} px, "
            f"not {run.model.get('image_size')}",
            ckpt,
            "Resume at its size or choose another --out.",
        )
    return state


class _CsvLog:
    def __init__(self, path: Path, resume_step: int):
        self.path = path
        self.columns: list[str] | None = None
        rows: list[dict[str, str]] = []
        if path.is_file() and resume_step > 0:
            with path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                self.columns = list(reader.fieldnames or [])
                rows = [r for r in reader if int(r["step"]) <= resume_step]
        # rewrite without the steps after the checkpoint (they are trained again)
        self.rows = rows

    def write(self, row: dict[str, Any]) -> None:
        if self.columns is None:
            self.columns = list(row)
        missing = [k for k in row if k not in self.columns]
        if missing:
            self.columns += missing
        self.rows.append({k: row.get(k, "") for k in self.columns})
        with atomic_open(self.path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)


def _sample_pair(held, train_clips, frames: int):
    """A fixed (target clip, driving clip) for the sample videos: held-out when possible."""
    pool = held if len(held) >= 1 else train_clips
    target = pool[0]
    others = [c for c in pool if c.subject != target.subject] or pool
    driving = others[-1]
    return target, driving


def write_sample(model, target_clip, driving_clip, path: Path, size: int, frames: int, device):
    """driving | generated MP4 of a target clip's onset frame driven by a driving clip."""
    tgt = load_driving(target_clip.dir, size)
    drv = load_driving(driving_clip.dir, size)
    onset = min(drv.onset_index, len(drv.frames) - 1)
    start = max(0, min(onset, len(drv.frames) - frames)) if frames else 0
    stop = len(drv.frames) if not frames else start + frames
    d_frames, d_lms = drv.frames[start:stop], drv.landmarks[start:stop]
    if len(d_frames) < 2:
        return None
    t = tgt.onset_index
    generated = animate_clip(
        model,
        tgt.frames[t],
        tgt.landmarks[t],
        d_frames,
        d_lms,
        onset_index=onset - start,
        device=str(device),
    )
    return write_mp4(path, side_by_side(d_frames, generated), fps=25)


def init_from_checkpoint(model: nn.Module, path: str | Path) -> list[str]:
    """Load the tensors of our checkpoint `path` that `model` has (a new part of the
    model, e.g. a network the checkpoint's run did not save, keeps its initial values);
    returns the names taken. ConfigError when it holds another variant, nothing fits, or
    a tensor has another shape (another config)."""
    state = read_checkpoint(path)
    if state["variant"] != model.variant:
        raise ConfigError(
            f"--init holds variant {state['variant']}, not {model.variant}",
            path,
            "Start from a checkpoint of the same variant.",
        )
    own = model.state_dict()
    taken = {k: v for k, v in state["model"].items() if k in own and v.shape == own[k].shape}
    other = [k for k, v in state["model"].items() if k in own and v.shape != own[k].shape]
    if other:
        raise ConfigError(
            f"--init was trained with another model config ({len(other)} tensors of "
            f"another shape, e.g. {other[0]})",
            path,
            "Train this stage with the config of the run it starts from.",
        )
    if not taken:
        raise ConfigError("no tensor of --init fits this model", path, "Check its config.")
    model.load_state_dict(taken, strict=False)
    return sorted(taken)


def train(
    run: RunConfig,
    data: str | Path,
    out: str | Path,
    device: str = "auto",
    resume: bool = False,
    compile: bool = False,
    progress: bool = True,
    vgg_weights: str | None = None,
    init: str | Path | None = None,
) -> TrainResult:
    """Train `run.variant` on the prepared data in `data`, writing the run folder `out`.

    `init`: a checkpoint of ours whose weights start a new run (e.g. TPSMM's AVD stage
    on a trained model; see `init_from_checkpoint`). The stages, in order, are the methods
    of `Trainer`: resume or start, build the model and its optimizers, restore, wrap
    (compile, DDP, autocast), the loader, the run folder, the loop of `step`s with its
    logging, checkpoints and samples, and the finish."""
    trainer = Trainer(run, Path(out), device, progress)
    trainer.resume_or_start(resume, vgg_weights)
    trainer.build(data)
    trainer.restore(init)
    trainer.wrap(compile)
    trainer.make_loader()
    trainer.open_run_folder()
    return trainer.loop()


class Trainer:
    """One training run in named stages (see `train`, which calls them in order)."""

    def __init__(self, run: RunConfig, out: Path, device: str, progress: bool) -> None:
        self.run, self.out, self.progress = run, out, progress
        self.cfg = run.train
        self.dist, self.dev = init_distributed(device)
        self.main = self.dist.is_main
        self.state: dict[str, Any] | None = None
        self.step, self.epoch = 0, 0
        self.amp: Any = contextlib.nullcontext()

    # ---- stages -------------------------------------------------------------------------
    def resume_or_start(self, resume: bool, vgg_weights: str | None) -> None:
        """The saved state of a resumed run (its scale and model config win), and the VGG19
        weights file of the perceptual loss set everywhere the model config takes it."""
        self.state = _check_resume(self.out, self.run, resume)
        if self.state is not None:
            saved = run_config_from_dict(self.state["config"])
            self.run = RunConfig(self.run.variant, saved.scale, self.run.train, saved.model)
        if vgg_weights:
            if not Path(vgg_weights).is_file():
                raise ConfigError("VGG19 weights file not found", vgg_weights)
            if not set_everywhere(self.run.model, "vgg_weights", str(vgg_weights)):
                log.warning("the %s model config has no vgg_weights setting", self.run.variant)

    def build(self, data: str | Path) -> None:
        """The clips (minus the held-out subjects), the model, its dataset, its optimizers
        (one Adam per parameter group) and their step schedules."""
        cfg = self.cfg
        _seed_everything(cfg.seed)
        clips = load_prepared(data)
        self.train_clips, self.held = holdout_split(clips, cfg.holdout, cfg.seed)
        self.model = build_model(self.run.variant, self.run.model).to(self.dev)
        self.dataset = self.model.training_dataset(self.train_clips, cfg)
        self.model.train()
        self.optimizers = {
            name: torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas))
            for name, params in self.model.param_groups().items()
            if params
        }
        self.schedulers = {
            name: torch.optim.lr_scheduler.MultiStepLR(opt, cfg.milestone_steps(), gamma=cfg.gamma)
            for name, opt in self.optimizers.items()
        }

    def restore(self, init: str | Path | None) -> None:
        """Weights, optimizer and schedule states, step, epoch and RNG of a resumed run, or
        the weights of `init` for a new one."""
        state = self.state
        if state is not None:
            self.model.load_state_dict(state["model"])
            for name, opt in self.optimizers.items():
                if name in state["optimizers"]:
                    opt.load_state_dict(state["optimizers"][name])
            for name, sched in self.schedulers.items():
                if name in state["schedulers"]:
                    sched.load_state_dict(state["schedulers"][name])
            self.step = int(state["step"])
            self.epoch = int(state["extra"].get("epoch", 0)) + 1
            if "torch_rng" in state["extra"]:
                torch.set_rng_state(state["extra"]["torch_rng"])
        elif init is not None:
            init_from_checkpoint(self.model, init)
        self.start_step = self.step

    def wrap(self, compile: bool) -> None:
        """torch.compile of the networks, DistributedDataParallel over the training steps on
        several processes, and bf16 autocast on a CUDA device that has it."""
        if compile:
            for module in self.model.upstream_modules().values():
                module.compile()
        self.steps: Any = TrainingSteps(self.model)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.steps = DistributedDataParallel(
                self.steps,
                device_ids=[self.dev.index] if self.dev.type == "cuda" else None,
                find_unused_parameters=True,
            )
        if self.dev.type == "cuda" and self.cfg.mixed_precision:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            if dtype == torch.float16:
                log.warning("this GPU has no bf16: training in fp32")
            else:
                self.amp = torch.autocast(device_type="cuda", dtype=dtype)

    def make_loader(self) -> None:
        """A seeded sampler (distributed on several processes) and the batch loader."""
        from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

        cfg, world = self.cfg, self.dist.world_size
        if self.dist.enabled:
            self.sampler = DistributedSampler(
                self.dataset, world, self.dist.rank, shuffle=True, seed=cfg.seed
            )
        else:
            gen = torch.Generator().manual_seed(cfg.seed)
            self.sampler = RandomSampler(self.dataset, generator=gen)
        loader_kw: dict[str, Any] = {"num_workers": cfg.num_workers}
        if cfg.num_workers:
            loader_kw["persistent_workers"] = False
        self.loader = DataLoader(
            self.dataset,
            batch_size=cfg.batch_size,
            sampler=self.sampler,
            drop_last=len(self.dataset) // world >= cfg.batch_size,
            pin_memory=self.dev.type == "cuda",
            **loader_kw,
        )

    def open_run_folder(self) -> None:
        """config.yaml, holdout.csv and the log (main process only), and the sample pair."""
        from generation.data.prepared import write_csv

        out = self.out
        if self.main:
            out.mkdir(parents=True, exist_ok=True)
            self.run.save(out / "config.yaml")
            write_csv(out / "holdout.csv", ("subject",), _held_out_rows(self.held))
        self.csv_log = _CsvLog(out / LOG, self.step) if self.main else None
        self.sample_clips = (
            _sample_pair(self.held, self.train_clips, self.cfg.sample_frames) if self.main else None
        )

    def loop(self) -> TrainResult:
        """`step` until the configured iterations, with the bookkeeping after each; then
        `finish`."""
        from tqdm import tqdm

        cfg = self.cfg
        self.result = TrainResult(
            out=self.out,
            step=self.step,
            start_step=self.start_step,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        bar = tqdm(
            total=cfg.iterations,
            initial=self.step,
            desc=f"train {self.run.variant}",
            unit="step",
            disable=not (self.progress and self.main),
        )
        batches = self.epoch_batches(self.epoch)
        self.t0 = time.perf_counter()
        self.last_saved = self.step
        while self.step < cfg.iterations:
            try:
                batch = next(batches)
            except StopIteration:
                self.epoch += 1
                batches = self.epoch_batches(self.epoch)
                continue
            values = self.train_step(batch)
            bar.update(1)
            bar.set_postfix(loss=f"{values['total']:.4f}")
            self.after_step(values)
        bar.close()
        return self.finish()

    # ---- the loop's parts ---------------------------------------------------------------
    def epoch_batches(self, e: int):
        """The batches of epoch `e` (the sampler's order reseeded for the epoch)."""
        from torch.utils.data import DistributedSampler

        self.dataset.set_epoch(e)
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(e)
        else:
            self.sampler.generator.manual_seed(self.cfg.seed * 100003 + e)
        return iter(self.loader)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimisation step (generator, then discriminator, then the schedules); the
        step's losses as floats. A non-finite loss stops the run with the fix."""
        model, optimizers, dev = self.model, self.optimizers, self.dev
        inputs = [t.to(dev, non_blocking=True) for t in model.training_inputs(batch)]
        drv = batch["driving"].to(dev, non_blocking=True)
        model.set_training_progress(self.step / self.cfg.iterations)
        # the generator learns on one step in `generator_every` (its losses are still logged)
        train_generator = (self.step + 1) % max(1, model.generator_every) == 0
        grad = contextlib.nullcontext() if train_generator else torch.no_grad()
        with self.amp, grad:
            losses, outputs = self.steps("generator", *inputs)
        total = sum(v.float() for v in losses.values())
        if train_generator:
            for name, opt in optimizers.items():
                if name != "discriminator":
                    opt.zero_grad(set_to_none=True)
            total.backward()
            model.after_backward()
            for name, opt in optimizers.items():
                if name != "discriminator":
                    opt.step()
        d_losses: dict[str, Any] = {}
        if "discriminator" in optimizers:
            optimizers["discriminator"].zero_grad(set_to_none=True)
            with self.amp:
                d_losses = self.steps("discriminator", drv, outputs)
            if d_losses:
                sum(v.float() for v in d_losses.values()).backward()
                optimizers["discriminator"].step()
        with warnings.catch_warnings():
            # the schedule runs in trainer steps, also before the generator's first step
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            for sched in self.schedulers.values():
                sched.step()
        self.step += 1
        values = {k: float(v.detach()) for k, v in {**losses, **d_losses}.items()}
        values["total"] = float(total.detach())
        if "l1" in outputs:
            values["l1"] = float(outputs["l1"])
        else:
            values["l1"] = float((outputs["prediction"].detach().float() - drv).abs().mean())
        if not np.isfinite(values["total"]):
            raise ConfigError(
                f"the loss became {values['total']} at step {self.step}",
                self.out,
                "Lower train.lr or turn train.mixed_precision off.",
            )
        return values

    def after_step(self, values: dict[str, float]) -> None:
        """The step's losses into the result, a checkpoint every `checkpoint_every` steps,
        a log row every `log_every` and a sample video every `sample_every` (main only)."""
        cfg, step, result = self.cfg, self.step, self.result
        if not result.first_losses:
            result.first_losses = values
        result.losses = values
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            if self.dist.enabled:
                _sync_buffers(self.model)  # every rank takes part
            if self.main:
                self.save()
            self.last_saved = step
        if not self.main:
            return
        every = max(1, cfg.log_every)
        if step % every == 0 or step == cfg.iterations or step == self.start_step + 1:
            lr = next(iter(self.optimizers.values())).param_groups[0]["lr"]
            row = {"step": step, "epoch": self.epoch, "seconds": time.perf_counter() - self.t0}
            self.csv_log.write({**row, "lr": lr, **values})
        if cfg.sample_every and step % cfg.sample_every == 0 and self.sample_clips:
            write_sample(
                self.model,
                *self.sample_clips,
                self.out / "samples" / f"step_{step:06d}.mp4",
                cfg.size,
                cfg.sample_frames,
                self.dev,
            )
            self.model.train()

    def save(self) -> None:
        """checkpoint.pt (atomically) and its copy checkpoints/step_NNNNNN.pt."""
        extra = {
            "epoch": self.epoch,
            "torch_rng": torch.get_rng_state(),
            "world_size": self.dist.world_size,
        }
        kw = {"optimizers": self.optimizers, "schedulers": self.schedulers, "extra": extra}
        ckpt = save_checkpoint(
            self.out / CHECKPOINT, self.model, self.step, self.run.to_dict(), **kw
        )
        named = self.out / "checkpoints" / f"step_{self.step:06d}.pt"
        named.parent.mkdir(exist_ok=True)
        copy_atomic(ckpt, named)

    def finish(self) -> TrainResult:
        """Buffers synchronised, a last checkpoint if the last step was not saved, the
        process group closed where this run opened it."""
        if self.dist.enabled:
            _sync_buffers(self.model)
        if self.main and self.last_saved != self.step:
            self.save()
        result = self.result
        result.step = self.step
        result.seconds = time.perf_counter() - self.t0
        result.model = self.model
        if self.dist.enabled:
            import torch.distributed as dist

            dist.barrier()
            if self.dist.started_here:
                dist.destroy_process_group()
        return result
