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


def _tpsmm(variant: str):
    from generation.models import default_config

    torch.manual_seed(0)
    return build_model(variant, default_config(variant, "small")).eval()


def _animate(model, autocast: bool = False):
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(1, 3, 64, 64, generator=g), torch.rand(3, 3, 64, 64, generator=g)
    lm_x = 16 + 32 * torch.rand(1, 68, 2, generator=g)
    lm_y = lm_x + torch.randn(3, 68, 2, generator=g)
    cond = torch.randn(3, 17, generator=g) if variant_of(model) == "tpsmm-au" else None
    kwargs = {} if cond is None else {"condition": cond}
    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
    with torch.no_grad(), amp:
        state = model.encode_source(x, lm_x)
        return model.animate(state, y, lm_y, y[:1], lm_y[:1], mode="relative", **kwargs)


def variant_of(model) -> str:
    return model.variant


@pytest.mark.parametrize("variant", ["tpsmm", "tpsmm-au"])
def test_tpsmm_fast_path_is_the_reference_style_function(variant):
    """TPSMM's fast path (instance norms per image, phase-decomposed upsampling, fp32
    islands, the gather warp) computes the reference-style loop's frames in fp32."""
    model = _tpsmm(variant)
    fast = _animate(model)
    with reference_style(model):
        slow = _animate(model)
    assert (fast - slow).abs().max() < 1e-4


def test_tpsmm_fast_path_is_channels_last_and_the_reference_style_loop_is_not():
    """The dense motion hourglass and the inpainting decoder take the fast block path
    (channels-last activations) in animation, and the reference-style loop does not."""
    model = _tpsmm("tpsmm")
    seen: list[bool] = []

    def record(module, args, output):
        seen.append(output.is_contiguous(memory_format=torch.channels_last))

    kinds = ("UpBlock2d", "ResBlock2d", "DownBlock2d")
    nets = (model.dense_motion_network, model.inpainting_network)
    blocks = [m for net in nets for m in net.modules() if type(m).__name__ in kinds]
    hooks = [m.register_forward_hook(record) for m in blocks]
    try:
        _animate(model)
        fast, seen[:] = list(seen), []
        with reference_style(model):
            _animate(model)
    finally:
        for h in hooks:
            h.remove()
    assert fast and all(fast)
    assert seen and not any(seen)


@pytest.mark.parametrize("variant", ["tpsmm", "tpsmm-au"])
def test_tpsmm_bf16_frames_are_within_one_level_of_fp32(variant):
    """Under bf16 autocast the fp32 islands (keypoints, the motion network, the deepest
    decoder level, the output blend) keep the frames within 1/255 of fp32 (the whole
    network in bf16 moved the small random network's frames by 34 levels)."""
    model = _tpsmm(variant)
    fp32 = _animate(model)
    bf16 = _animate(model, autocast=True)
    assert (bf16.float() - fp32).abs().max() * 255 < 1.0


@pytest.mark.slow  # ~30 s: five models, a training step of two families
def test_bench_animation_rows_of_every_family_and_the_training_breakdown(capsys, monkeypatch):
    """tpsmm-au (its AU conditions in the timed loops), famgan and famgan with its
    super-resolution stage each get a reference-style row, fp32 and bf16 rows with the
    bf16 difference; the training table has every family with where its step goes."""
    import generation.config as config
    from fme.bench.animation import run

    real = config.load_run_config

    def one_block_sr(variant, *args, **kwargs):  # RRDBNet of 1 block, not 23, for the test
        cfg = real(variant, *args, **kwargs)
        if variant == "famgan":
            cfg.model.setdefault("super_resolution", {})["num_block"] = 1
        return cfg

    monkeypatch.setattr(config, "load_run_config", one_block_sr)
    args = ["--variants", "tpsmm-au,famgan,famgan+sr", "--sizes", "64", "--frames", "2"]
    args += ["--train-sizes", "64", "--train-batch", "1", "--threads", "1"]
    assert run(args) == 0
    out = capsys.readouterr().out
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()]
    speed = {(c[0], c[4]): c for c in cells if len(c) == 8 and c[1] == "64"}
    for variant in ("tpsmm-au", "famgan", "famgan+sr"):
        assert float(speed[(variant, "per-frame (reference style)")][5]) > 0
        assert float(speed[(variant, "ours fp32")][6]) > 0
        assert float(speed[(variant, "ours bf16")][7]) >= 0
    assert "RRDBNet x4 (1 blocks)" in speed[("famgan+sr", "ours bf16")][2]
    training = {c[0]: c for c in cells if len(c) == 5 and c[1] == "64"}
    assert set(training) == {"tpsmm-au", "famgan"}
    assert float(training["famgan"][3]) > 0
    assert training["famgan"][4].startswith("forward") and "critic" in training["famgan"][4]
    assert "inpainting_network" in training["tpsmm-au"][4]
