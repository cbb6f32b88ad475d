"""`fme bench animation`'s reference-style loop computes what the fast path computes."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import small_model_config

from generation.bench_speed import reference_style
from generation.models import build_model
from generation.models.blocks import fast_inference


@pytest.mark.parametrize("variant", ["fomm", "mraa"])
def test_reference_style_is_the_same_function_and_is_undone(variant):
    torch.manual_seed(0)
    model = build_model(variant, small_model_config(variant)).eval()
    x, y = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64)
    before = {m: m.__dict__.get("fold_batch_norm") for m in model.modules()}
    with torch.no_grad():
        fast = model.animate(model.encode_source(x), y, None, y[:1], None, mode="relative")
        blocks = [m for m in model.modules() if hasattr(m, "norm")]
        with reference_style(model):
            assert not any(fast_inference(m) for m in blocks)
            slow = model.animate(model.encode_source(x), y, None, y[:1], None, mode="relative")
    assert (fast - slow).abs().max() < 2e-3
    assert {m: m.__dict__.get("fold_batch_norm") for m in model.modules()} == before
