"""Checkpoints of the reference FOMM and MRAA code give the reference's outputs here.

tests/data/upstream/ holds, per family, a checkpoint in the reference format with the
reference's own config and the tensors the reference code computed from it (see its
README.md). They are imported as a user would (`import_checkpoint` with the reference
YAML) and animated with the project's `encode_source` / `animate`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fme.core.errors import ConfigError
from generation.checkpoints.checkpoint import import_checkpoint, load_model, read_checkpoint

DATA = Path(__file__).resolve().parents[2] / "data" / "upstream"
FILES = {"fomm": "checkpoint.pth.tar", "mraa": "checkpoint.pth"}
PREDICTION_TOL = 1e-3
PARAMS_TOL = 1e-4


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = {}
    for family, name in FILES.items():
        path = tmp_path_factory.mktemp(family) / f"{family}.pt"
        report = import_checkpoint(
            None, DATA / family / name, path, config_file=DATA / family / "config.yaml", size=128
        )
        ref = torch.load(DATA / family / "reference_outputs.pt", weights_only=True)
        out[family] = (load_model(path), ref, report, path)
    return out


def _frames(ref):
    x = ref["frames_uint8"].float() / 255.0
    return x[:1], x[1:]


def _max_diff(a, b) -> float:
    return (a.float() - b.float()).abs().max().item()


def test_import_recognises_the_family_and_takes_the_epoch(imported):
    for family in FILES:
        model, _, report, path = imported[family]
        assert model.family == family and report.family == family
        assert not report.unused and not report.initialised
        assert read_checkpoint(path)["step"] == 7  # `epoch` / `epoch_reconstruction`
    fomm_report = imported["fomm"][2]
    # every key of the file and of its config that was not taken is named
    assert ("discriminator" not in fomm_report.not_taken) and "epoch" not in fomm_report.not_taken
    assert "dataset_params.root_dir" in fomm_report.not_taken
    assert "train_params.num_repeats" in fomm_report.not_taken
    mraa_report = imported["mraa"][2]
    assert "model_params.region_predictor_params.fast_svd" in mraa_report.not_taken
    assert "model_params.avd_network_params.id_bottle_size" in mraa_report.not_taken
    # the reference's widths were taken: the tiny networks load strictly
    model = imported["mraa"][0]
    assert model.config["generator"]["block_expansion"] == 8
    assert model.config["align_corners"] is False


def test_a_wrong_from_says_what_the_file_is(tmp_path):
    with pytest.raises(ConfigError, match="FOMM checkpoint of the reference code.*not MRAA"):
        import_checkpoint("mraa", DATA / "fomm" / FILES["fomm"], tmp_path / "x.pt")
    with pytest.raises(ConfigError, match="MRAA checkpoint.*not FOMM"):
        import_checkpoint("fomm", DATA / "mraa" / FILES["mraa"], tmp_path / "x.pt")
    with pytest.raises(ConfigError, match="MRAA config of the reference code"):
        import_checkpoint(
            "fomm",
            DATA / "fomm" / FILES["fomm"],
            tmp_path / "x.pt",
            config_file=DATA / "mraa" / "config.yaml",
        )
    assert not (tmp_path / "x.pt").exists()


def test_fomm_keypoints_and_standard_outputs(imported):
    model, ref, _, _ = imported["fomm"]
    source, driving = _frames(ref)
    with torch.no_grad():
        kp_s = model.detect(source, None)
        kp_d = model.detect(driving, None)
        for name, kp in (("source", kp_s), ("driving", kp_d)):
            assert _max_diff(kp["value"], ref[f"kp_{name}_value"]) < PARAMS_TOL
            assert _max_diff(kp["jacobian"], ref[f"kp_{name}_jacobian"]) < PARAMS_TOL
        out = model.generator(source.expand(3, -1, -1, -1), kp_driving=kp_d, kp_source=kp_s)
    assert _max_diff(out["occlusion_map"], ref["standard_occlusion_map"]) < PREDICTION_TOL
    assert _max_diff(out["deformed"], ref["standard_deformed"]) < PREDICTION_TOL
    state = model.encode_source(source)
    pred = model.animate(state, driving, None, driving[:1], None, mode="standard")
    assert _max_diff(pred, ref["standard_prediction"]) < PREDICTION_TOL


@pytest.mark.parametrize("adapt", [False, True])
def test_fomm_relative_with_and_without_movement_scale(imported, adapt):
    model, ref, _, _ = imported["fomm"]
    source, driving = _frames(ref)
    state = model.encode_source(source)
    pred = model.animate(
        state, driving, None, driving[:1], None, mode="relative", adapt_movement_scale=adapt
    )
    assert _max_diff(pred, ref[f"relative_prediction_adapt_{int(adapt)}"]) < PREDICTION_TOL
    # the other setting is measurably different: the test can tell them apart
    other = ref[f"relative_prediction_adapt_{int(not adapt)}"]
    assert _max_diff(pred, other) > 10 * PREDICTION_TOL


def test_mraa_regions_and_background(imported):
    model, ref, _, _ = imported["mraa"]
    source, driving = _frames(ref)
    with torch.no_grad():
        regions = {"source": model.regions(source, None), "driving": model.regions(driving, None)}
        bg = model.bg_predictor(source.expand(3, -1, -1, -1), driving)
    for name, reg in regions.items():
        for key in ("shift", "covar", "heatmap"):
            assert _max_diff(reg[key], ref[f"region_{name}_{key}"]) < PARAMS_TOL, (name, key)
        a, r = reg["affine"], ref[f"region_{name}_affine"]
        # the affine is defined up to the sign of each column
        assert _max_diff(a @ a.transpose(-1, -2), r @ r.transpose(-1, -2)) < PARAMS_TOL
        # and here the signs are the reference's own (torch.svd on the CPU)
        assert _max_diff(a, r) < PARAMS_TOL
    assert _max_diff(bg, ref["bg_params"]) < PARAMS_TOL


def test_mraa_reconstruction_standard_and_relative(imported):
    model, ref, _, _ = imported["mraa"]
    source, driving = _frames(ref)
    with torch.no_grad():
        src = model.regions(source, None)
        drv = model.regions(driving, None)
        bg = model.bg_predictor(source.expand(3, -1, -1, -1), driving)
        src3 = {k: v.expand(3, *v.shape[1:]) for k, v in src.items()}
        rec = model.generator(source.expand(3, -1, -1, -1), drv, src3, bg)["prediction"]
    assert _max_diff(rec, ref["reconstruction_prediction"]) < PREDICTION_TOL
    state = model.encode_source(source)
    for mode in ("standard", "relative"):
        pred = model.animate(state, driving, None, driving[:1], None, mode=mode)
        assert _max_diff(pred, ref[f"{mode}_prediction"]) < PREDICTION_TOL, mode
    # the two modes differ, so the relative check is not the standard one again (the
    # conventions are told apart below and by relative_regions' kept driving covariance:
    # A A^T there moves the relative prediction past the tolerance)
    assert _max_diff(ref["standard_prediction"], ref["relative_prediction"]) > 1e-2


def test_mraa_under_fomm_conventions_is_not_the_reference(imported, tmp_path):
    """The fixture can tell the conventions apart: MRAA warped with align_corners=True."""
    _, ref, _, path = imported["mraa"]
    state = read_checkpoint(path)
    from generation.models import build_model

    config = dict(state["config"]["model"], align_corners=True)
    model = build_model("mraa", config).eval()
    model.load_state_dict(state["model"])
    source, driving = _frames(ref)
    pred = model.animate(model.encode_source(source), driving, None, driving[:1], None, "standard")
    assert _max_diff(pred, ref["standard_prediction"]) > 0.05


def test_a_config_saved_before_the_conventions_keeps_its_own():
    from generation.models import build_model
    from generation.models.mraa.model import default_config

    old = default_config("mraa", "small")
    old.pop("align_corners")
    for key in ("pca", "fold_batch_norm"):
        old["region_predictor"].pop(key)
    model = build_model("mraa", old)
    assert model.config["align_corners"] is True
    assert model.config["region_predictor"]["pca"] == "closed_form"
    assert build_model("mraa", default_config("mraa", "small")).config["align_corners"] is False
