"""Checkpoints: save/load round trip, wrong variant/size, upstream imports (FOMM, MRAA)."""

from __future__ import annotations

import pytest
import torch
import yaml
from engine_helpers import astronaut_face, small_model_config

from fme.core.errors import ConfigError
from generation.checkpoints.checkpoint import (
    import_checkpoint,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from generation.models import build_model, default_config


def _outputs(model, seed=0):
    face, lms = astronaut_face()
    src = torch.from_numpy(face.copy()).permute(2, 0, 1)[None].float() / 255
    lm = torch.from_numpy(lms.copy())[None]
    drv = torch.roll(src, shifts=2, dims=3)
    drv_lm = lm + torch.tensor([2.0, 0.0])
    with torch.inference_mode():
        state = model.encode_source(src, lm)
        return model.animate(state, drv, drv_lm, src, lm, mode="relative")


@pytest.mark.parametrize("variant", ["fomm-awp", "mraa-ewp"])
def test_save_and_load_give_identical_outputs(variant, tmp_path):
    torch.manual_seed(1)
    model = build_model(variant, small_model_config(variant)).eval()
    with torch.no_grad():  # weights off their initial values
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save_checkpoint(tmp_path / "c.pt", model, step=7)
    assert not (tmp_path / "c.pt.part").exists()
    state = read_checkpoint(path)
    assert state["variant"] == variant and state["step"] == 7
    torch.manual_seed(2)  # a fresh model would differ
    loaded = load_model(path, "cpu")
    assert torch.equal(_outputs(model), _outputs(loaded))
    with pytest.raises(ConfigError, match="variant"):
        load_model(path, variant="fomm")
    with pytest.raises(ConfigError, match="128"):
        load_model(path, size=128)


def test_reading_something_else_is_a_clear_error(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"kp_detector": {}, "generator": {}}, other)
    with pytest.raises(ConfigError, match="import-checkpoint"):
        load_model(other)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="junk.pt"):
        load_model(junk)


def _upstream(variant, family_keys, extra=True):
    """An upstream-shaped checkpoint from our vanilla modules, nothing renamed."""
    torch.manual_seed(5)
    model = build_model(variant, default_config(variant, "small"))
    modules = model.upstream_modules()
    assert set(modules) == set(family_keys)
    state = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in modules.items()}
    if extra:
        state["optimizer_generator"] = {"state": {}, "param_groups": []}
        state["epoch"] = 99
    return model, state


@pytest.mark.parametrize(
    "family,keys",
    [
        ("fomm", ("generator", "kp_detector", "discriminator")),
        ("mraa", ("generator", "region_predictor", "bg_predictor")),
    ],
)
def test_import_vanilla_takes_every_tensor(family, keys, tmp_path):
    model, state = _upstream(family, keys)
    file = tmp_path / "upstream.pth.tar"
    torch.save(state, file)
    out = tmp_path / "ours.pt"
    report = import_checkpoint(family, file, out, scale="small")
    assert not report.unused and not report.missing_modules
    ours = load_model(out)
    for key, module in ours.upstream_modules().items():
        for name, tensor in module.state_dict().items():
            assert torch.equal(tensor, state[key][name]), f"{key}.{name}"
    assert read_checkpoint(out)["step"] == 99
    assert (tmp_path / "ours.pt.import.csv").is_file()
    # --config with a run config of ours: its model section and image size
    (tmp_path / "ours.yaml").write_text(
        yaml.safe_dump({"scale": "small", "model": {"image_size": 128}})
    )
    report = import_checkpoint(None, file, tmp_path / "c.pt", config_file=tmp_path / "ours.yaml")
    assert report.family == family and not report.unused and not report.initialised
    assert load_model(tmp_path / "c.pt").config["image_size"] == 128
    # a vanilla checkpoint of another size does not fit silently
    with pytest.raises(ConfigError, match="does not fit"):
        import_checkpoint(family, file, tmp_path / "x.pt", scale="paper")
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    "family,variant,keys",
    [
        ("fomm", "fomm-awp", ("generator", "kp_detector", "discriminator")),
        ("mraa", "mraa-awp", ("generator", "region_predictor", "bg_predictor")),
    ],
)
def test_import_into_a_prior_variant_reports_taken_and_initialised(family, variant, keys, tmp_path):
    _, state = _upstream(family, keys)
    file = tmp_path / "upstream.pth.tar"
    torch.save(state, file)
    out = tmp_path / "prior.pt"
    torch.manual_seed(11)
    report = import_checkpoint(family, file, out, variant=variant, scale="small")
    ours = load_model(out, variant=variant)
    full = ours.state_dict()
    assert set(report.taken) | set(report.initialised) == set(full)
    assert report.taken and report.initialised
    prefix = {id(m): n for n, m in ours.named_modules()}
    for key, module in ours.upstream_modules().items():
        for name, tensor in module.state_dict().items():
            full_name = f"{prefix[id(module)]}.{name}"
            up = state[key].get(name)
            if full_name in report.taken:
                assert torch.equal(tensor, up)
            else:
                assert full_name in report.initialised
                assert up is None or up.shape != tensor.shape
    # the prior's own layers and the 18-keypoint heads are new
    assert any(n.startswith("prior.") for n in report.initialised)
    assert sum(1 for n in report.taken if n.startswith("generator.")) > 10
    text = (tmp_path / "prior.pt.import.csv").read_text()
    assert "taken" in text and "initialised" in text


def test_import_refuses_other_files(tmp_path):
    file = tmp_path / "x.pth.tar"
    torch.save({"something": 1}, file)
    with pytest.raises(ConfigError, match="kp_detector"):
        import_checkpoint("fomm", file, tmp_path / "o.pt")
    with pytest.raises(ConfigError, match="mraa"):
        import_checkpoint("fomm", file, tmp_path / "o.pt", variant="mraa")
