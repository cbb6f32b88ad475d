"""`fme bench animation`'s reference-style loop computes what the fast path computes."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import small_model_config

from fme.bench.animation import reference_style
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


@pytest.mark.parametrize("variant", ["fomm", "mraa"])
def test_fast_path_is_channels_last_and_the_reference_style_loop_is_not(variant):
    """Animation's fast path hands the generator's convolutions channels-last activations;
    the reference-style loop (the bench's baseline) keeps the reference's NCHW layout.
    (MRAA's region predictor never folds, so it keeps NCHW in both.)"""
    torch.manual_seed(0)
    model = build_model(variant, small_model_config(variant)).eval()
    x, y = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64)
    seen: list[bool] = []

    def record(module, args, output):
        seen.append(output.is_contiguous(memory_format=torch.channels_last))

    kinds = ("UpBlock2d", "ResBlock2d")
    blocks = [m for m in model.generator.modules() if type(m).__name__ in kinds]
    hooks = [m.register_forward_hook(record) for m in blocks]
    try:
        with torch.no_grad():
            model.animate(model.encode_source(x), y, None, y[:1], None, mode="relative")
            fast, seen[:] = list(seen), []
            with reference_style(model):
                model.animate(model.encode_source(x), y, None, y[:1], None, mode="relative")
    finally:
        for h in hooks:
            h.remove()
    assert fast and all(fast)
    assert seen and not any(seen)


def test_bench_animation_prints_page_faults_and_the_profile(capsys):
    from fme.bench.animation import run

    args = ["--variants", "fomm", "--sizes", "64", "--frames", "4", "--train-sizes", ""]
    assert run([*args, "--threads", "1", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "peak resident memory of this run" in out
    faults = [line.split("|") for line in out.splitlines() if line.startswith("| fomm | 64 | ours")]
    rows = {cells[3].strip(): cells[4].strip() for cells in faults if len(cells) == 6}
    assert set(rows) == {"ours fp32", "ours bf16"}
    assert all(float(v) >= 0 for v in rows.values())
    assert "torch.profiler, fomm 64, ours bf16" in out and "aten::" in out
