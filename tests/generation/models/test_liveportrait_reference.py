"""LivePortrait against the published code: tests/data/upstream/liveportrait/ (made by
running KwaiVGI/LivePortrait 1986663; see its README.md).

No checkpoint is stored: the weights come from the fixture's fill recipe over the sorted
state-dict names, applied to our networks, whose names and shapes are the reference's
(state_dict_keys.json). Tolerances are fp32 noise, measured: keypoint info and keypoints
within 1e-4 (pose in degrees within 1e-3: 3 x 66 bins amplify the last bit), feature
volumes, warped features and occlusion within 1e-4, decoded images within 2e-4 (seen:
2.4e-5); uint8 frames within one level. A wrong convention (align_corners, the rotation's
transpose, the relative rule) shows as 1e-2 or more. The fixture's outputs differ across
its frames (asserted below), so a match is not the match of a constant.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from liveportrait_helpers import fill, fill_model

from generation.models.liveportrait.appearance_feature_extractor import (
    AppearanceFeatureExtractor,
)
from generation.models.liveportrait.model import PAPER_PARAMS, LivePortraitModel, default_config
from generation.models.liveportrait.motion import transform_keypoints
from generation.models.liveportrait.motion_extractor import MotionExtractor

FIXTURE = Path(__file__).parents[2] / "data" / "upstream" / "liveportrait"
KEYS = json.loads((FIXTURE / "state_dict_keys.json").read_text())
SEEDS = {name: entry["seed"] for name, entry in KEYS.items()}
REGIONS = {
    "all": {},
    "exp": {"region": "exp"},
    "pose": {"region": "pose"},
    "lip": {"region": "lip"},
    "eyes": {"region": "eyes"},
    "pose_friendly": {"driving_option": "pose-friendly"},
    "multiplier_1p5": {"multiplier": 1.5},
    "no_stitching": {"stitching": False},
}


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURE / "reference_outputs.pt", weights_only=True)


@pytest.fixture(scope="module")
def frames(reference):
    source = reference["source_uint8"][None].float() / 255
    driving = reference["driving_uint8"].float() / 255
    return source, driving


@pytest.fixture(scope="module")
def motion_extractor():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    net = MotionExtractor(**PAPER_PARAMS["motion_extractor"])
    fill(net, SEEDS["motion_extractor"])
    return net.eval()


@pytest.fixture(scope="module")
def infos(frames, motion_extractor):
    """keypoint_info of the source, the driving frames and the onset frame."""
    from generation.models.liveportrait.motion import keypoint_info

    source, driving = frames
    with torch.no_grad():
        return (
            keypoint_info(motion_extractor(source)),
            keypoint_info(motion_extractor(driving)),
            keypoint_info(motion_extractor(driving[:1])),
        )


def stitching_model():
    """A model whose stitching and retargeting networks (their shapes depend on the 21
    keypoints only, the same in the small config) are filled by the recipe."""
    m = LivePortraitModel("liveportrait", default_config("liveportrait", "small"))
    for name in ("retarget_shoulder", "retarget_mouth", "retarget_eye"):
        fill(m.upstream_modules()[name], SEEDS[name])
    return m.eval()


@pytest.fixture(scope="module")
def model():
    """The whole model (paper widths) filled by the recipe."""
    m = LivePortraitModel("liveportrait", default_config("liveportrait", "paper"))
    fill_model(m, SEEDS)
    return m.eval()


def test_fixture_outputs_differ_across_frames(reference):
    # random weights must not map every frame to one output, or a match proves nothing
    out = reference["anim_all_out_sub"]
    for i in range(1, 4):
        assert (out[i] - out[0]).abs().mean() > 0.05
    assert reference["anim_all_kp_driving"].std(0).mean() > 0.01
    assert reference["info_exp"].std(0).mean() > 0.01
    assert reference["info_pitch"].std() > 0.1
    occ = reference["anim_all_occlusion"]
    assert (occ[1:] - occ[:1]).abs().max() > 1e-3
    for name in ("exp", "pose", "lip", "eyes", "multiplier_1p5", "no_stitching"):
        assert (
            reference[f"anim_{name}_kp_driving"] - reference["anim_all_kp_driving"]
        ).abs().mean() > 0.01


def test_state_dict_names_and_shapes_are_the_reference_s():
    m = LivePortraitModel("liveportrait", default_config("liveportrait", "paper"))
    for name, module in m.upstream_modules().items():
        ours = [(k, list(t.shape)) for k, t in sorted(module.state_dict().items())]
        theirs = [(r["key"], r["shape"]) for r in KEYS[name]["keys"]]
        assert ours == theirs, name
        assert sum(p.numel() for p in module.parameters()) == KEYS[name]["n_parameters"]


def test_motion_extractor_keypoint_info(reference, frames, motion_extractor):
    from generation.models.liveportrait.motion import keypoint_info

    source, driving = frames
    x = torch.cat([source, driving])
    with torch.no_grad():
        raw = motion_extractor(x)
    for key in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp"):
        assert torch.allclose(raw[key], reference[f"raw_{key}"], atol=1e-4, rtol=0), key
    infos = [keypoint_info({k: v[i : i + 1] for k, v in raw.items()}) for i in range(5)]
    for key in ("pitch", "yaw", "roll"):
        got = torch.cat([i[key] for i in infos])
        assert torch.allclose(got, reference[f"info_{key}"], atol=1e-3, rtol=0), key
    for key in ("t", "exp", "scale", "kp"):
        got = torch.cat([i[key] for i in infos])
        assert torch.allclose(got, reference[f"info_{key}"], atol=1e-4, rtol=0), key
    rot = torch.cat([i["R"] for i in infos])
    assert torch.allclose(rot, reference["rotation"], atol=1e-5, rtol=0)
    kp = torch.cat([transform_keypoints(i) for i in infos])
    assert torch.allclose(kp, reference["kp_transformed"], atol=1e-4, rtol=0)


def test_appearance_features(reference, frames):
    net = AppearanceFeatureExtractor(**PAPER_PARAMS["appearance_feature_extractor"])
    fill(net, SEEDS["appearance_feature_extractor"])
    with torch.no_grad():
        f_s = net.eval()(frames[0])
    assert list(f_s.shape) == reference["f_s_shape"].tolist()
    assert torch.allclose(f_s[0, ::3, ::3, ::5, ::5], reference["f_s_sub"], atol=1e-4, rtol=0)
    assert torch.allclose(f_s[0, :, :, 28:36, 28:36], reference["f_s_block"], atol=1e-4, rtol=0)
    total = f_s.double()
    assert abs(total.sum() - reference["f_s_sum"]) < 1e-6 * reference["f_s_abs_sum"]
    assert abs(total.norm() - reference["f_s_norm"]) < 1e-6 * reference["f_s_norm"]


def test_stitching_and_retargeting(reference):
    m = stitching_model()
    kp = reference["kp_transformed"]
    x_s = kp[0:1]
    with torch.no_grad():
        stitched = torch.cat([m.stitch(x_s, kp[1 + i : 2 + i]) for i in range(4)])
        feat = torch.cat([x_s.expand(4, -1, -1).reshape(4, -1), kp[1:].reshape(4, -1)], 1)
        delta = m.stitching_retargeting_module["stitching"](feat)
        eye = torch.cat([m.retarget_eye(x_s, reference["eye_ratio"][i : i + 1]) for i in range(3)])
        lip = torch.cat([m.retarget_lip(x_s, reference["lip_ratio"][i : i + 1]) for i in range(3)])
    assert torch.allclose(delta, reference["stitch_delta"], atol=1e-5, rtol=0)
    assert torch.allclose(stitched, reference["stitching"], atol=1e-5, rtol=0)
    assert torch.allclose(eye, reference["retarget_eye"], atol=1e-5, rtol=0)
    assert torch.allclose(lip, reference["retarget_lip"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(REGIONS))
def test_relative_rule_regions_and_options(reference, infos, name):
    """The keypoints the reference pipeline drives the decoder to, per option."""
    m = stitching_model()
    m.config["animation"].update(REGIONS[name])
    info_s, info_d, info_0 = infos
    state = {"info": info_s, "x_s": transform_keypoints(info_s)}
    with torch.no_grad():
        x_d = m.driving_keypoints(state, info_d, info_0)
    assert torch.allclose(x_d, reference[f"anim_{name}_kp_driving"], atol=1e-4, rtol=0)
    multiplier = reference.get(f"anim_{name}_motion_multiplier")
    if multiplier is not None:  # expression-friendly: 1 for a source image
        assert float(multiplier[0]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.slow  # 3-8 min on 2 cores: the paper-width warping and 512 px decoding of 4 frames
def test_end_to_end_relative_animation(reference, frames, model):
    """`animate` (batched, the source encoded once) against the reference pipeline's loop:
    keypoints, staged warp (frame 2) and the decoded 512 px frames."""
    source, driving = frames
    with torch.no_grad():
        state = model.encode_source(source)
        staged = model.warp_decode(
            state["f_s"], state["x_s"], reference["anim_all_kp_driving"][2:3]
        )
        out = model.animate(state, driving, None, driving[:1], None, mode="relative")
    assert torch.allclose(staged["occlusion_map"], reference["f2_occlusion"], atol=1e-4, rtol=0)
    assert torch.allclose(
        staged["warped"][0, :, ::4, ::4], reference["f2_warped_sub"], atol=1e-4, rtol=0
    )
    assert torch.allclose(
        staged["out"][0, :, ::5, ::5], reference["f2_image_sub"], atol=2e-4, rtol=0
    )
    assert tuple(out.shape) == (4, 3, 512, 512)
    assert torch.allclose(out[:, :, ::5, ::5], reference["anim_all_out_sub"], atol=2e-4, rtol=0)
    patch = out[:, :, 224:288, 224:288]
    assert torch.allclose(patch, reference["anim_all_out_patch"], atol=2e-4, rtol=0)
    sums = out.double().sum((1, 2, 3))
    assert torch.allclose(sums, reference["anim_all_out_sum"], rtol=1e-6, atol=0)
    # the frames the reference writes: clip, x255, truncating cast
    u8 = (out.clamp(0, 1) * 255).clamp(0, 255).to(torch.uint8)[:, :, ::5, ::5]
    assert (u8.int() - reference["anim_all_uint8_sub"].int()).abs().max() <= 1
