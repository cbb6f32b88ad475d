"""Random-weight files in the published formats, to run the metric pipeline without the real
weights (numbers then mean nothing: for checking a setup and for tests only).

The fill is the project's deterministic fixture recipe (`tests/data/upstream/tpsmm/
weights_recipe.md`): one CPU generator per network, keys in sorted order, `fan_in` for weight
matrices, 0.02 randn for biases, 1 + 0.1 randn / 0.1 randn for norm weights / biases and running
means, 0.5 + 1.5 rand for running variances, integer buffers unchanged. A random deep network
with random batch-norm statistics maps every input to nearly the same feature, so
`calibrate_bn` sets the running statistics from one batch (one train-mode pass).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def recipe_rule(key: str, shape: tuple[int, ...], dtype, sd: dict) -> str:
    """The recipe's rule for one key, from its name, shape and dtype."""
    if not dtype.is_floating_point:
        return "unchanged"
    if key.endswith(".running_mean"):
        return "running_mean"
    if key.endswith(".running_var"):
        return "running_var"
    if key.endswith(".weight"):
        return "fan_in" if len(shape) >= 2 else "norm_weight"
    if key.endswith(".bias"):
        sibling = sd.get(key[: -len(".bias")] + ".weight")
        return "norm_bias" if sibling is not None and sibling.dim() == 1 else "bias"
    raise KeyError(f"no recipe rule for {key}")


def recipe_fill(sd: dict, seed: int, rule=recipe_rule) -> dict:
    """A new state dict with every key of `sd` drawn by the recipe (same names, shapes).

    `rule(key, shape, dtype, sd)` names each key's rule (default `recipe_rule`); a fixture
    with rules of its own (LivePortrait's spectral-norm vectors, TPSMM's untouched buffers)
    passes its function. A key whose rule draws nothing and is not "unchanged" is left out
    of the result, for the caller to set."""
    import torch

    g = torch.Generator().manual_seed(seed)
    f32 = torch.float32
    out = {}
    for key, t in sorted(sd.items()):
        shape = tuple(t.shape)
        name = rule(key, shape, t.dtype, sd)
        if name == "unchanged":
            out[key] = t.clone()
        elif name == "fan_in":
            out[key] = torch.randn(shape, generator=g, dtype=f32) * (
                1.0 / math.sqrt(math.prod(shape[1:]))
            )
        elif name == "bias":
            out[key] = torch.randn(shape, generator=g, dtype=f32) * 0.02
        elif name == "norm_weight":
            out[key] = 1.0 + 0.1 * torch.randn(shape, generator=g, dtype=f32)
        elif name in ("norm_bias", "running_mean"):
            out[key] = 0.1 * torch.randn(shape, generator=g, dtype=f32)
        elif name == "running_var":
            out[key] = 0.5 + 1.5 * torch.rand(shape, generator=g, dtype=f32)
    return out


def calibrate_bn(model, x) -> None:
    """Running statistics of every batch norm = this batch's (one train-mode pass)."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def _smooth_images(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """Deterministic smooth random RGB images (n, h, w, 3) in [0, 1]."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 3, max(h // 16, 2), max(w // 16, 2)), generator=g)
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


def write_random_weights(out: str | Path, seed: int = 0) -> list[Path]:
    """Write every metric's weights file under `out` with the published names."""
    import torch

    from eval.metrics import fid, fvd, identity, lpips

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(sd, name):
        p = out / name
        tmp = p.with_suffix(p.suffix + ".tmp")
        torch.save(sd, tmp)
        tmp.replace(p)
        written.append(p)

    net = fid._build_inception()
    net.load_state_dict(recipe_fill(net.state_dict(), seed + 2001))
    calibrate_bn(net, _smooth_images(8, 128, 128, seed))
    save(net.state_dict(), fid.INCEPTION_FILE)

    for name, s in (("alex", 2101), ("vgg", 2102)):
        m = lpips.build(name)
        feats = {k: v for k, v in m.state_dict().items() if k.startswith("features.")}
        save(recipe_fill(feats, seed + s), lpips.TRUNK_FILES[name])
        g = torch.Generator().manual_seed(seed + s + 50)
        heads = {
            k: torch.rand(v.shape, generator=g) * 0.1
            for k, v in m.state_dict().items()
            if k.startswith("lin")
        }
        save(heads, lpips.HEAD_FILES[name])

    i3d = fvd.build_i3d()
    i3d.load_state_dict(recipe_fill(i3d.state_dict(), seed + 2201))
    clip = (
        _smooth_images(2 * 16, 224, 224, seed + 1).view(2, 16, 3, 224, 224).permute(0, 2, 1, 3, 4)
    )
    calibrate_bn(i3d, clip * 2 - 1)
    save(i3d.state_dict(), fvd.I3D_FILE)

    arc = identity.build_iresnet("iresnet50")
    arc.load_state_dict(recipe_fill(arc.state_dict(), seed + 2301))
    calibrate_bn(arc, _smooth_images(8, 112, 112, seed + 2) * 2 - 1)
    save(arc.state_dict(), identity.ARCFACE_FILE)

    fn = identity.build_facenet()
    fn.load_state_dict(recipe_fill(fn.state_dict(), seed + 2302))
    calibrate_bn(fn, _smooth_images(8, 160, 160, seed + 3) * 2 - 1)
    save(fn.state_dict(), identity.FACENET_FILE)
    return written
