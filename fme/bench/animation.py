"""`fme bench animation`: animation frames/s and training step time of every family
(LivePortrait: animation only, it is not trained here).

For each variant and size (64 and 128 with the small CPU networks, 256 with the paper
vox-256 networks; FAMGAN's own famgan-64/-128 configs), random-weight models animate one
target with a driving clip:

* `per-frame (reference style)`: the source encoded again for every frame, one driving
  frame at a time, fp32, the networks computed as the reference computes them (batch
  norms after their convolutions, upsampling then convolution, instance norms as torch's,
  NCHW: `reference_style`), as the reference demo scripts run it;
* `ours fp32`: `animate_clip` (source encoded once, frames batched, inference mode);
* `ours bf16`: the same under bf16 autocast, with the largest absolute difference from
  the fp32 frames (0-255 pixel values).

AU-driven models (tpsmm-au, famgan) compute their per-frame conditions from the clip
inside every timed loop, as `animate_clip` does. `famgan+sr` is FAMGAN with its RRDBNet
x4 super-resolution stage (random weights of the published shape, loaded from a file).

Then one training step at each training size for every trained family, as `fme train`
takes it (`train_step_seconds`), with the share of its parts (`step_breakdown`). On CUDA
the timings synchronise the device.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import shutil
import tempfile
import time

import numpy as np

from fme.core.options import positive_int
from generation.models import ZERO_SHOT_VARIANTS


def _landmarks(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A face image and its dlib landmarks at `size` (skimage's astronaut, prepared)."""
    from PIL import Image
    from skimage.data import astronaut

    from generation.animation.animate import prepare_face

    photo = np.asarray(Image.fromarray(astronaut()).resize((256, 256)))
    return prepare_face(photo, size)


def _clip(face: np.ndarray, lms: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import shift

    frames, marks = [], []
    for k in range(n):
        dx, dy = 1.5 * np.sin(0.5 * k), 1.0 * np.cos(0.4 * k) - 1.0
        frames.append(np.clip(shift(face.astype(np.float32), (dy, dx, 0), order=1), 0, 255))
        marks.append(lms + np.array([dx, dy], np.float32))
    return np.stack(frames).astype(np.uint8), np.stack(marks).astype(np.float32)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def reference_style(model):
    """The model's blocks computed as the reference's (no batch norm folded into its
    convolution, no phase-decomposed upsampling) inside the block; then as before."""
    from generation.models.blocks import set_batch_norm_folding

    saved = {m: m.__dict__.get("fold_batch_norm") for m in model.modules()}
    set_batch_norm_folding(model, False)
    try:
        yield model
    finally:
        for module, value in saved.items():
            if value is None:
                module.__dict__.pop("fold_batch_norm", None)
            else:
                module.__dict__["fold_batch_norm"] = value


#: `--variants` names that are not model variants: FAMGAN with its RRDBNet x4 stage
#: (random weights of the published shape), animating at 4x the model's side
SUPER_RESOLUTION_SUFFIX = "+sr"


def driving_condition(model, face, lms, frames, marks):
    """The per-frame condition an AU-driven model (FAMGAN, tpsmm-au) animates from, as
    `animate_clip` computes it from the clip (None for the others)."""
    import torch

    from generation.animation.animate import DrivingClip

    clip = DrivingClip(np.asarray(frames), np.asarray(marks, np.float32), 0)
    condition = model.driving_condition(clip, face, lms, mode="relative")
    return None if condition is None else torch.from_numpy(np.asarray(condition))


def per_frame(model, face, lms, frames, marks, device) -> float:
    """Seconds to animate frame by frame with the source encoded every time (LivePortrait:
    once, as its pipeline does), computed as the reference does (`reference_style`); an
    AU-driven model's conditions are computed from the clip inside the timed loop, as
    `animate_clip` does."""
    import torch

    def t(x):
        return torch.from_numpy(np.array(x)).to(device).permute(0, 3, 1, 2).float() / 255

    src, src_lm = t(face[None]), torch.from_numpy(np.array(lms[None])).to(device)
    init, init_lm = t(frames[:1]), torch.from_numpy(marks[:1]).to(device)
    _sync(device)
    start = time.perf_counter()
    kwargs = {}
    if "adapt_movement_scale" in inspect.signature(model.animate).parameters:
        kwargs["adapt_movement_scale"] = True
    # the FOMM-style demos encode the source for every frame; LivePortrait's pipeline
    # encodes its source image once and then runs M, the rule, W and G frame by frame
    once = model.family == "liveportrait"
    condition = driving_condition(model, face, lms, frames, marks)
    with torch.no_grad(), reference_style(model):
        state = model.encode_source(src, src_lm) if once else None
        for k in range(len(frames)):
            if not once:
                state = model.encode_source(src, src_lm)
            drv_lm = torch.from_numpy(marks[k : k + 1]).to(device)
            if condition is not None:
                kwargs["condition"] = condition[k : k + 1].to(device)
            model.animate(
                state, t(frames[k : k + 1]), drv_lm, init, init_lm, mode="relative", **kwargs
            )
    _sync(device)
    return time.perf_counter() - start


def _minor_faults() -> int:
    """This process's minor page faults so far (0 where `resource` is missing)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _profile(model, face, lms, frames, marks, device, rows: int = 12) -> str:
    """torch.profiler's table of one bf16 batch of ours: operators by input shape, by self
    CPU time (what the benchmarks page's shares of the time come from)."""
    from torch.profiler import profile

    with profile(record_shapes=True) as prof:
        batched(model, face, lms, frames, marks, device, "bf16", len(frames))
    return prof.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=28
    )


def _peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (0 where `resource` is missing)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def batched(model, face, lms, frames, marks, device, autocast=None, batch=16):
    from generation.animation.animate import animate_clip

    _sync(device)
    start = time.perf_counter()
    out = animate_clip(
        model,
        face,
        lms,
        frames,
        marks,
        batch_size=batch,
        device=str(device),
        autocast=autocast,
        adapt_movement_scale=True,  # as `per_frame`: relative mode with the movement scale
    )
    _sync(device)
    return time.perf_counter() - start, out


def _training_batch(model, size: int, batch: int, device) -> dict:
    """A training batch of the bench's clip: sources, driving frames, their landmarks and
    AU vectors (for the AU-driven families: random 0-5 intensities)."""
    import torch

    from generation.au import AU_NAMES

    face, lms = _landmarks(size)
    frames, marks = _clip(face, lms, 2 * batch)
    x = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 255
    lm = torch.from_numpy(marks).to(device)
    g = torch.Generator().manual_seed(0)
    aus = (torch.rand(2 * batch, len(AU_NAMES), generator=g) * 5).to(device)
    return {
        "source": x[:batch],
        "driving": x[batch:],
        "source_landmarks": lm[:batch],
        "driving_landmarks": lm[batch:],
        "source_aus": aus[:batch],
        "driving_aus": aus[batch:],
    }


#: the parts of a training step `train_step_seconds` times apart
STEP_PARTS: tuple[str, ...] = ("forward", "backward", "optimiser", "critic")


def train_step_seconds(
    variant: str, size: int, batch: int, device, steps: int = 2, parts: dict | None = None
) -> float:
    """Seconds of one training step as `fme train` takes it (the generator's losses,
    backward, the model's gradient treatment, its optimisers, then the critic's step where
    the family has one), the mean of `steps` after a warm-up step. `parts` (a dict) gets
    the mean seconds of each of `STEP_PARTS` and, under "modules", the forward seconds of
    each top-level sub-network (forward hooks)."""
    import torch

    from generation.config import load_run_config
    from generation.models import build_model

    run = load_run_config(variant, size=size)
    model = build_model(variant, run.model).to(device).train()
    model.set_training_progress(0.5)  # past the schedules' starts (TPSMM's background)
    opts = {
        name: torch.optim.Adam(p, lr=2e-4, betas=(0.5, 0.999))
        for name, p in model.param_groups().items()
    }
    inputs = model.training_inputs(_training_batch(model, size, batch, device))
    driving = inputs[1]
    clock: dict[str, float] = {}
    modules: dict[str, float] = {}
    started: dict[str, float] = {}

    def before(name):
        def hook(module, args):
            _sync(device)
            started[name] = time.perf_counter()

        return hook

    def after(name):
        def hook(module, args, output):
            _sync(device)
            modules[name] = modules.get(name, 0.0) + time.perf_counter() - started[name]

        return hook

    hooks = []
    for name, child in model.named_children():
        hooks.append(child.register_forward_pre_hook(before(name)))
        hooks.append(child.register_forward_hook(after(name)))

    def lap(key: str, since: float) -> float:
        _sync(device)
        now = time.perf_counter()
        clock[key] = clock.get(key, 0.0) + now - since
        return now

    times = []
    try:
        for k in range(steps + 1):
            if k == 1:  # the warm-up step is not counted
                clock.clear()
                modules.clear()
            _sync(device)
            start = t = time.perf_counter()
            losses, outputs = model.training_losses(*inputs)
            generator_modules = dict(modules)
            t = lap("forward", t)
            for name, o in opts.items():
                if name != "discriminator":
                    o.zero_grad()
            sum(v.float() for v in losses.values()).backward()
            model.after_backward()
            t = lap("backward", t)
            for name, o in opts.items():
                if name != "discriminator":
                    o.step()
            t = lap("optimiser", t)
            if "discriminator" in opts:
                opts["discriminator"].zero_grad()
                d_losses = model.discriminator_losses(driving, outputs)
                if d_losses:
                    sum(v.float() for v in d_losses.values()).backward()
                    opts["discriminator"].step()
                modules.clear()
                modules.update(generator_modules)  # the critic's own forward is "critic"
            t = lap("critic", t)
            if k:
                times.append(t - start)
    finally:
        for h in hooks:
            h.remove()
    if parts is not None:
        parts.update({key: clock.get(key, 0.0) / steps for key in STEP_PARTS})
        parts["modules"] = {name: sec / steps for name, sec in modules.items()}
    return float(np.mean(times))


def step_breakdown(parts: dict, total: float, top: int = 3) -> str:
    """'forward 31 % (inpainting_network 19 %, ...), backward 58 %, ...': the shares of a
    training step (`train_step_seconds(parts=...)`), the largest sub-networks' forward."""

    def pct(sec: float) -> str:
        return f"{100 * sec / total:.0f} %"

    largest = sorted(parts["modules"].items(), key=lambda kv: -kv[1])[:top]
    inner = ", ".join(f"{name} {pct(sec)}" for name, sec in largest if sec > 0)
    out = [f"forward {pct(parts['forward'])}" + (f" ({inner})" if inner else "")]
    out += [f"{key} {pct(parts[key])}" for key in STEP_PARTS[1:] if parts[key] > 0.0005 * total]
    return ", ".join(out)


def bench_model(variant: str, size: int, workdir: str):
    """(random-weight model, network label) of a variant at `size`: the packaged run
    config's; LivePortrait (not trained here): the reference's models.yaml at 256, our
    small networks below; "famgan+sr": famgan with its super-resolution stage on (RRDBNet
    weights of the published shape saved to `workdir`, loaded from that path as
    `fme animate --super-resolution` loads them)."""
    import os

    import torch

    from generation.config import load_run_config
    from generation.models import build_model, default_config

    if variant in ZERO_SHOT_VARIANTS:
        scale = "paper" if size >= 256 else "small"
        config = default_config(variant, scale)
        config["image_size"] = size
        return build_model(variant, config), "paper (models.yaml)" if scale == "paper" else "small"
    base = variant.removesuffix(SUPER_RESOLUTION_SUFFIX)
    run = load_run_config(base, size=size)
    model = build_model(base, run.model)
    net = "paper (vox-256)" if run.scale == "paper" else run.scale
    if variant.endswith(SUPER_RESOLUTION_SUFFIX):
        from generation.models.famgan.rrdbnet import RRDBNet

        sr = model.config["super_resolution"]
        rrdb = RRDBNet(sr["num_feat"], sr["num_block"], sr["num_grow_ch"])
        path = os.path.join(workdir, f"rrdbnet-{size}.pth")
        torch.save(rrdb.state_dict(), path)
        model.set_super_resolution(path)
        net += f" + RRDBNet x4 ({sr['num_block']} blocks)"
    return model, net


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fme bench animation", description=__doc__.split("\n")[0])
    p.add_argument(
        "--variants",
        default="fomm,mraa",
        help="comma-separated variants; famgan+sr: famgan with its super-resolution stage",
    )
    p.add_argument("--sizes", default="64,128,256")
    p.add_argument("--frames", default="48,24,6", help="driving frames per size")
    p.add_argument("--train-sizes", default="64,128", help="sizes of the training-step rows")
    p.add_argument("--train-batch", type=positive_int, default=4)
    p.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    p.add_argument(
        "--threads", type=positive_int, default=None, help="torch threads (default: torch's)"
    )
    p.add_argument("--batch", type=positive_int, default=16, help="driving frames per batch (ours)")
    p.add_argument(
        "--repeats", type=positive_int, default=1, help="interleaved rounds (median speed-up)"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--profile",
        action="store_true",
        help="also print torch.profiler's operators (self CPU time, by input shape) of one "
        "bf16 batch of ours per variant and size",
    )
    p.add_argument(
        "--no-reuse-memory",
        action="store_true",
        help="leave glibc's malloc thresholds as they are (see generation.animation.memory)",
    )
    args = p.parse_args(argv)
    if args.no_reuse_memory:
        import os

        os.environ["FME_REUSE_MEMORY"] = "0"

    import pandas as pd
    import torch

    from fme.bench.common import markdown
    from generation.animation.memory import reusing_large_allocations
    from generation.training.train import resolve_device

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    variants = [v for v in args.variants.split(",") if v]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    n_frames = [int(n) for n in args.frames.split(",") if n]
    n_frames += [n_frames[-1]] * (len(sizes) - len(n_frames))
    rows, memory_rows, profiles = [], [], []
    workdir = tempfile.mkdtemp(prefix="fme-bench-animation-")
    for size, n in zip(sizes, n_frames):
        face, lms = _landmarks(size)
        frames, marks = _clip(face, lms, n)
        for variant in variants:
            model, net = bench_model(variant, size, workdir)
            model = model.to(device).eval()
            batched(model, face, lms, frames[:2], marks[:2], device)  # warm-up
            if not args.no_bf16:
                batched(model, face, lms, frames[:2], marks[:2], device, "bf16")
            # interleaved rounds (reference, fp32, bf16): a change of the machine's load
            # reaches all three; the speed-up is the median of the rounds' ratios
            refs, fp32s, bfs = [], [], []
            faults: dict[str, list[int]] = {"fp32": [], "bf16": []}
            for _ in range(args.repeats):
                refs.append(per_frame(model, face, lms, frames, marks, device))
                before = _minor_faults()
                fp32_s, fp32 = batched(model, face, lms, frames, marks, device, batch=args.batch)
                faults["fp32"].append(_minor_faults() - before)
                fp32s.append(fp32_s)
                if not args.no_bf16:
                    before = _minor_faults()
                    bf_s, bf = batched(model, face, lms, frames, marks, device, "bf16", args.batch)
                    faults["bf16"].append(_minor_faults() - before)
                    bfs.append(bf_s)
            for mode, counts in faults.items():
                if counts:
                    memory_rows.append(
                        {
                            "variant": variant,
                            "size": size,
                            "mode": f"ours {mode}",
                            "page faults/frame": float(np.median(counts)) / n,
                        }
                    )
            ref = float(np.median(refs))
            row = {"variant": variant, "size": size, "network": net, "frames": n}
            rows.append({**row, "mode": "per-frame (reference style)", "frames/s": n / ref})
            rows.append(
                {
                    **row,
                    "mode": "ours fp32",
                    "frames/s": n / float(np.median(fp32s)),
                    "speed-up": float(np.median(np.array(refs) / np.array(fp32s))),
                }
            )
            if not args.no_bf16:
                diff = int(np.abs(bf.astype(int) - fp32.astype(int)).max())
                rows.append(
                    {
                        **row,
                        "mode": "ours bf16",
                        "frames/s": n / float(np.median(bfs)),
                        "speed-up": float(np.median(np.array(refs) / np.array(bfs))),
                        "max abs diff bf16 vs fp32 (0-255)": diff,
                    }
                )
            if args.profile:
                profiles.append((variant, size, _profile(model, face, lms, frames, marks, device)))
            print(f"  {variant} {size}: done", flush=True)
    table = pd.DataFrame(rows)
    print(
        f"\nanimation on {device} ({torch.get_num_threads()} threads; relative mode with the "
        "movement scale; speed-up = the reference-style loop's time over ours, same "
        f"weights, same run, median of {args.repeats} interleaved round(s))\n"
    )
    print(markdown(table, digits=2))
    reuse = "kept in the heap" if reusing_large_allocations() else "glibc's default"
    print(
        f"\nminor page faults of ours (large blocks: {reuse}; median of the rounds); "
        f"peak resident memory of this run: {_peak_rss_mib():.0f} MiB\n"
    )
    print(markdown(pd.DataFrame(memory_rows), digits=0))
    for variant, size, text in profiles:
        print(f"\ntorch.profiler, {variant} {size}, ours bf16, one batch\n\n{text}")
    shutil.rmtree(workdir, ignore_errors=True)
    train_rows = []
    trained = [v.removesuffix(SUPER_RESOLUTION_SUFFIX) for v in variants]
    trained = [v for v in dict.fromkeys(trained) if v not in ZERO_SHOT_VARIANTS]
    for size in [int(s) for s in args.train_sizes.split(",") if s]:
        for variant in trained:
            parts: dict = {}
            sec = train_step_seconds(variant, size, args.train_batch, device, parts=parts)
            train_rows.append(
                {
                    "variant": variant,
                    "size": size,
                    "batch": args.train_batch,
                    "s/step": sec,
                    "where the step goes": step_breakdown(parts, sec),
                }
            )
    if train_rows:
        print(
            f"\ntraining step on {device} (as `fme train` takes it, at half of training: "
            "generator forward with the sub-networks' share, backward with the model's "
            "gradient treatment, its optimisers, the critic's step)\n"
        )
        print(markdown(pd.DataFrame(train_rows), digits=3))
    return 0
