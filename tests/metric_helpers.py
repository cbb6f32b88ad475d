"""The metric fixtures (tests/data/upstream/metrics): inputs, references, recipe-filled nets."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from eval.metrics.random_weights import recipe_fill

ROOT = Path(__file__).resolve().parent / "data" / "upstream" / "metrics"


@lru_cache(maxsize=1)
def inputs() -> dict[str, np.ndarray]:
    with np.load(ROOT / "inputs.npz") as z:
        return {k: z[k] for k in z.files}


@lru_cache(maxsize=1)
def reference() -> dict:
    return json.loads((ROOT / "reference.json").read_text())


def keys(name: str) -> tuple[int, list]:
    data = json.loads((ROOT / f"{name}_keys.json").read_text())
    return data["seed"], data["keys"]


def filled(net: torch.nn.Module, name: str, seed: int | None = None) -> torch.nn.Module:
    """`net` filled by the recipe with the fixture's seed, then its stored BN buffers."""
    if seed is None:
        seed = keys(name)[0]
    sd = recipe_fill(net.state_dict(), seed)
    bn = ROOT / f"{name}_bn.pt"
    if bn.is_file():
        sd.update(torch.load(bn, map_location="cpu", weights_only=True))
    net.load_state_dict(sd, strict=True)
    return net.eval()


def spread(features) -> float:
    """Spread of features across inputs relative to their mean (0: all the same)."""
    f = torch.as_tensor(np.asarray(features), dtype=torch.float64).flatten(1)
    return float((f - f.mean(0)).norm() / (f.mean(0).norm() * math.sqrt(len(f)) + 1e-30))


def assert_close(ours, ref, rel: float = 1e-4) -> None:
    """Equal to fp32 noise: |ours - ref| <= rel * max|ref| elementwise."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape
    err = np.abs(ours - ref).max()
    assert err <= rel * np.abs(ref).max(), f"max error {err:.3g} vs scale {np.abs(ref).max():.3g}"
