"""The fixture's weight recipe (tests/data/upstream/liveportrait/README.md) applied to
our networks: the same key names and shapes give the same weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from eval.metrics.random_weights import recipe_fill


def fill_rule(key: str, shape: tuple[int, ...], dtype: torch.dtype, sd: dict) -> str:
    if not dtype.is_floating_point:
        return "unchanged"
    if key.endswith(".running_mean"):
        return "running_mean"
    if key.endswith(".running_var"):
        return "running_var"
    if key.endswith(".weight_orig"):
        return "fan_in"
    if key.endswith(".weight_u"):
        return "spectral_u"
    if key.endswith(".weight_v"):
        return "spectral_v"
    if key.endswith(".gamma") or key.endswith(".beta"):
        return "norm_bias"
    if key.endswith(".weight"):
        return "fan_in" if len(shape) >= 2 else "norm_weight"
    if key.endswith(".bias"):
        sibling = sd.get(key[: -len("bias")] + "weight")
        return "norm_bias" if sibling is not None and sibling.ndim == 1 else "bias"
    raise AssertionError(f"no rule for {key}")


def spectral_vectors(weight: torch.Tensor, iterations: int = 30):
    w = weight.reshape(weight.shape[0], -1)
    v = torch.ones(w.shape[1], dtype=torch.float32) / math.sqrt(w.shape[1])
    for _ in range(iterations):
        u = F.normalize(torch.mv(w, v), dim=0, eps=1e-12)
        v = F.normalize(torch.mv(w.t(), u), dim=0, eps=1e-12)
    return F.normalize(torch.mv(w, v), dim=0, eps=1e-12), v


def fill(module: torch.nn.Module, seed: int) -> list[tuple[str, str]]:
    """Fill `module` by the recipe; returns (key, rule) in draw order."""
    sd = module.state_dict()
    rules = [(key, fill_rule(key, tuple(t.shape), t.dtype, sd)) for key, t in sorted(sd.items())]
    new = recipe_fill(sd, seed, rule=fill_rule)
    for key in sorted(sd):
        if key.endswith(".weight_u"):
            base = key[: -len("_u")]
            new[base + "_u"], new[base + "_v"] = spectral_vectors(new[base + "_orig"])
    module.load_state_dict(new, strict=True)
    return rules


def fill_model(model, seeds: dict[str, int]) -> None:
    """Every network of a LivePortraitModel by its seed (names of the released files)."""
    for name, module in model.upstream_modules().items():
        fill(module, seeds[name])
