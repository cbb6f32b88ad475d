"""FAMGAN's networks, losses, schedule, checkpoints, animation,
the AU source (the AU engine) and modulation, and the super-resolution stage.

The training run on the synthetic corpus is in tests/generation/models/test_famgan_training.py (slow)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from engine_helpers import astronaut_face, make_prepared, small_model_config

from fme.core.errors import ConfigError
from generation.models import build_model, default_config
from generation.models.famgan.critic import GANimationCritic
from generation.models.famgan.generator import GANimationGenerator, compose
from generation.models.famgan.model import gradient_penalty, paired_error, total_variation

SIZE = 32


def tiny(size: int = SIZE, **changes):
    cfg = small_model_config("famgan", size)
    for key, value in changes.items():
        cfg[key] = {**cfg[key], **value}
    return cfg


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("prep"), subjects=3, clips_per_subject=1,
                         n_frames=6, size=SIZE)  # fmt: skip


# ---- networks --------------------------------------------------------------------------------


def test_paper_and_small_scales_are_ganimations_defaults():
    paper = default_config("famgan", "paper")
    assert paper["image_size"] == 128
    assert paper["generator"] == {"conv_dim": 64, "repeat_num": 6}
    assert paper["critic"] == {"conv_dim": 64, "repeat_num": 6}
    assert paper["common"]["c_dim"] == 17
    for scale in ("paper", "small"):
        loss = default_config("famgan", scale)["loss"]
        assert (loss["gradient_penalty"], loss["au_condition"], loss["cycle"]) == (10, 4000, 10)
        assert (loss["mask"], loss["mask_smooth"], loss["adversarial"]) == (0.1, 1e-5, 1)
        assert default_config("famgan", scale)["schedule"]["generator_every"] == 5
        assert default_config("famgan", scale)["super_resolution"]["weights"] is None
        # our deviations for paired data (0 and 0: GANimation's)
        assert loss["paired"] == 1e5
        assert default_config("famgan", scale)["pairs"]["onset_source"] == 1.0
    model = build_model("famgan", paper)
    # GANimation's layer names, layer for layer: its G state dict would load
    names = set(model.generator.state_dict())
    assert {"main.0.weight", "main.1.weight", "main.9.main.0.weight", "img_reg.0.weight",
            "attetion_reg.0.weight"} <= names  # fmt: skip
    assert model.discriminator.conv2.weight.shape == (17, 2048, 2, 2)  # 128 / 2^6 = 2
    with pytest.raises(ConfigError, match="famgan"):
        default_config("fomm-famgan", "small")


def test_generator_output_shapes_and_ranges():
    torch.manual_seed(0)
    gen = GANimationGenerator(c_dim=17, conv_dim=8, repeat_num=1)
    x = torch.rand(3, 3, SIZE, SIZE) * 2 - 1
    out = gen(x, torch.rand(3, 17))
    assert out["color"].shape == (3, 3, SIZE, SIZE) and out["attention"].shape == (3, 1, SIZE, SIZE)
    assert out["color"].abs().max() <= 1 and 0 <= out["attention"].min() <= 1
    assert out["attention"].max() <= 1 and out["image"].abs().max() <= 1
    # the AU vector is an input: another vector, another output
    assert not torch.allclose(out["image"], gen(x, torch.zeros(3, 17))["image"])


def test_attention_composition_is_exact():
    torch.manual_seed(0)
    gen = GANimationGenerator(c_dim=17, conv_dim=8, repeat_num=1)
    x = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    out = gen(x, torch.rand(2, 17))
    a, c = out["attention"], out["color"]
    assert torch.equal(out["image"], a * x + (1 - a) * c)
    ones, zeros = torch.ones_like(a), torch.zeros_like(a)
    assert torch.equal(compose(x, ones, c), x)  # A = 1 keeps the input
    assert torch.equal(compose(x, zeros, c), c)  # A = 0 paints the colour map
    half = compose(torch.full_like(x, 0.8), torch.full_like(a, 0.25), torch.full_like(c, -0.4))
    assert torch.allclose(half, torch.full_like(x, 0.25 * 0.8 + 0.75 * -0.4))


def test_critic_heads():
    critic = GANimationCritic(image_size=64, c_dim=17, conv_dim=8, repeat_num=4)
    out = critic(torch.rand(5, 3, 64, 64))
    assert out["score"].shape == (5, 1, 4, 4) and out["aus"].shape == (5, 17)
    with pytest.raises(ConfigError, match="divisible by 16"):
        GANimationCritic(image_size=40, conv_dim=8, repeat_num=4)


# ---- losses ---------------------------------------------------------------------------------


class _Linear(torch.nn.Module):
    """score = w . x per sample (one patch): its gradient in x is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return {"score": (x * self.w).flatten(1).sum(1).reshape(-1, 1, 1, 1)}


def test_gradient_penalty_by_hand_and_by_autograd():
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4, dtype=torch.float64) * 0.2
    real, fake = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.zeros(2, 3, 4, 4).double()
    gp = gradient_penalty(_Linear(w), real, fake)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-12)

    critic = GANimationCritic(image_size=16, c_dim=17, conv_dim=4, repeat_num=2).double()
    real = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    fake = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    alpha = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64).reshape(3, 1, 1, 1)
    gp = gradient_penalty(critic, real, fake, alpha)
    norms = []
    for i in range(3):  # one sample at a time, the Jacobian of its summed patch scores
        x_hat = alpha[i] * real[i : i + 1] + (1 - alpha[i]) * fake[i : i + 1]
        jac = torch.autograd.functional.jacobian(lambda x: critic(x)["score"].sum(), x_hat)
        norms.append(float(jac.norm()))
    assert gp.item() == pytest.approx(np.mean((np.array(norms) - 1) ** 2), rel=1e-10)
    gp.backward()  # a penalty on the score path's weights (create_graph; the biases only
    # pick LeakyReLU slopes, so their gradient is 0)
    weights = [m.weight for m in [*critic.main, critic.conv1] if hasattr(m, "weight")]
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)


def test_total_variation_by_hand():
    m = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]]]])
    # horizontal |1-0| + |3-1| + |2-2| + |0-2| = 5; vertical |2-0| + |2-1| + |0-3| = 6
    assert float(total_variation(m)) == 11.0


def test_losses_and_their_weights():
    """With `loss.paired: 0` and `pairs.onset_source: 0`, GANimation's losses exactly."""
    torch.manual_seed(0)
    cfg = tiny(loss={"au_noise": 0.0, "paired": 0.0}, pairs={"onset_source": 0.0})
    model = build_model("famgan", cfg)
    src, drv = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    src_aus, drv_aus = torch.rand(2, 17) * 5, torch.rand(2, 17) * 5
    torch.manual_seed(1)
    losses, outputs = model.training_losses(src, drv, src_aus, drv_aus)
    assert set(losses) == {"adversarial", "au_condition", "cycle", "mask", "mask_smooth"}
    with torch.no_grad():  # the same terms recomputed from the networks
        real = src * 2 - 1
        fake = model.generator(real, drv_aus / 5)
        judged = model.discriminator(fake["image"])
        back = model.generator(fake["image"], src_aus / 5)
        au = ((judged["aus"] - drv_aus / 5) ** 2).mean() / 2 * 4000
        cycle = (back["image"] - real).abs().mean() * 10
        mask = (fake["attention"].mean() + back["attention"].mean()) * 0.1
    assert losses["au_condition"].item() == pytest.approx(float(au), rel=1e-5)
    assert float(losses["cycle"]) == pytest.approx(float(cycle), rel=1e-5)
    assert float(losses["mask"]) == pytest.approx(float(mask), rel=1e-5)
    assert torch.allclose(outputs["prediction"], (fake["image"] + 1) / 2)
    d = model.discriminator_losses(drv, outputs)
    assert set(d) == {"critic_real", "critic_fake", "critic_au", "gradient_penalty"}
    with torch.no_grad():
        on_real = model.discriminator(real)
        critic_au = ((on_real["aus"] - src_aus / 5) ** 2).mean() / 2 * 4000
    assert float(d["critic_au"]) == pytest.approx(float(critic_au), rel=1e-5)
    assert float(d["critic_real"]) == pytest.approx(-float(on_real["score"].mean()), rel=1e-5)


def test_paired_error_by_hand():
    fake = torch.tensor([[[[0.5, -0.5], [1.0, 0.0]]]])
    driving = torch.tensor([[[[0.25, -0.5], [0.0, 0.5]]]])
    # squared differences 0.0625, 0, 1, 0.25 -> mean 1.3125 / 4
    assert float(paired_error(fake, driving)) == pytest.approx(0.328125)


def test_paired_term_and_the_onset_pairs_critic():
    """Our defaults: the paired term is the weight times the squared error of the output to
    the driving frame (in [-1, 1]); the critic's real frames and AUs are the driving ones."""
    torch.manual_seed(0)
    cfg = tiny(loss={"au_noise": 0.0, "paired": 250.0})
    model = build_model("famgan", cfg)
    src, drv = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    src_aus, drv_aus = torch.rand(2, 17) * 5, torch.rand(2, 17) * 5
    losses, outputs = model.training_losses(src, drv, src_aus, drv_aus)
    with torch.no_grad():
        fake = model.generator(src * 2 - 1, drv_aus / 5)["image"]
    by_hand = float(((fake - (drv * 2 - 1)) ** 2).mean()) * 250
    assert float(losses["paired"]) == pytest.approx(by_hand, rel=1e-5)
    assert torch.allclose(outputs["real"], drv * 2 - 1)
    assert torch.allclose(outputs["real_cond"], drv_aus / 5)
    d = model.discriminator_losses(drv, outputs)
    with torch.no_grad():
        on_real = model.discriminator(drv * 2 - 1)
    critic_au = float(((on_real["aus"] - drv_aus / 5) ** 2).mean()) / 2 * 4000
    assert float(d["critic_au"]) == pytest.approx(critic_au, rel=1e-5)
    with pytest.raises(ConfigError, match="onset_source"):
        build_model("famgan", tiny(pairs={"onset_source": 1.5}))
    with pytest.raises(ConfigError, match="paired"):
        build_model("famgan", tiny(loss={"paired": -1.0}))


def test_onset_source_pairs(prepared):
    from generation.data.au_pairs import AUFramePairs
    from generation.data.frame_pairs import FramePairs
    from generation.data.prepared import load_prepared

    clips = load_prepared(prepared)
    plain = FramePairs(clips, SIZE, seed=3)
    same = AUFramePairs(clips, SIZE, seed=3, onset_source=0.0)
    onset = AUFramePairs(clips, SIZE, seed=3, onset_source=1.0)
    half = AUFramePairs(clips, SIZE, seed=3, onset_source=0.5)
    n_onset = 0
    for i in range(len(onset)):
        assert same.pair_indices(i) == plain.pair_indices(i)  # 0: FramePairs' draw
        c, s, d, *rest = onset.pair_indices(i)
        clip = onset.clips[c].clip
        assert s == clip.onset_index and d != s and 0 <= d < clip.n_frames
        assert (c, *rest) == (plain.pair_indices(i)[0], *plain.pair_indices(i)[3:])
        n_onset += half.pair_indices(i)[1] == half.clips[c].clip.onset_index
    assert 0.25 * len(half) < n_onset < 0.9 * len(half)
    item = onset[0]
    c, s, d, *_ = onset.pair_indices(0)
    assert torch.equal(item["source_aus"], torch.from_numpy(onset.tracks[c][s]))
    assert torch.equal(item["driving_aus"], torch.from_numpy(onset.tracks[c][d]))


# ---- training through the engine -------------------------------------------------------------


def _run(iterations, **train):
    from generation.config import build_run_config, config_path, read_yaml

    data = read_yaml(config_path("famgan-64"))
    data["model"] = {"generator": {"conv_dim": 8, "repeat_num": 1}, "critic": {"conv_dim": 8}}
    overrides = {"iterations": iterations, "batch_size": 2, "log_every": 1, "sample_every": 0,
                 "checkpoint_every": 0, "holdout": 0.34, "size": SIZE, **train}  # fmt: skip
    return build_run_config("famgan", data, "famgan-64", overrides)


def _adam_steps(state, group):
    steps = {int(s["step"]) for s in state["optimizers"][group]["state"].values()}
    assert len(steps) == 1
    return steps.pop()


@pytest.mark.slow
def test_critic_steps_five_times_per_generator_step_and_resume(prepared, tmp_path):
    from generation.checkpoints.checkpoint import load_model, read_checkpoint
    from generation.training.train import train

    out = tmp_path / "run"
    first = train(_run(5, sample_every=5, sample_frames=4), prepared, out, device="cpu",
                  progress=False)  # fmt: skip
    assert (out / "samples" / "step_000005.mp4").is_file()  # driving | generated
    state = read_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 5 and state["variant"] == "famgan"
    assert (_adam_steps(state, "discriminator"), _adam_steps(state, "generator")) == (5, 1)
    # the round trip: the loaded model is the trained one
    loaded = load_model(out / "checkpoint.pt")
    ref = {k: v for k, v in first.model.state_dict().items()}
    assert all(torch.equal(ref[k], v) for k, v in loaded.state_dict().items())

    resumed = train(_run(10), prepared, out, device="cpu", resume=True, progress=False)
    assert (resumed.start_step, resumed.step) == (5, 10)
    state = read_checkpoint(out / "checkpoint.pt")
    assert (_adam_steps(state, "discriminator"), _adam_steps(state, "generator")) == (10, 2)
    with (out / "log.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert {"critic_au", "gradient_penalty", "cycle", "au_condition", "l1"} <= set(rows[0])
    with pytest.raises(ConfigError, match="--resume"):
        train(_run(10), prepared, out, device="cpu", progress=False)


@pytest.mark.slow
def test_fme_train_famgan_picks_the_famgan_config(prepared, tmp_path):
    from fme.cli import main
    from generation.config import load_run_config

    assert load_run_config("famgan", size=64).train.lr == 1e-4  # GANimation's rate
    assert load_run_config("famgan", size=128).scale == "paper"
    assert load_run_config("fomm", size=64).train.lr == 2e-4
    argv = ["train", "--variant", "famgan", "--data", str(prepared), "--out", str(tmp_path / "r"),
            "--size", str(SIZE), "--iterations", "2", "--batch-size", "2", "--quiet",
            "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "r" / "checkpoint.pt").is_file()


# ---- animation -------------------------------------------------------------------------------


def _driving(n=6, size=SIZE):
    """A driving clip whose brows rise (AU 1+2 of the synthetic library) and fall again."""
    from generation.animation.animate import DrivingClip
    from generation.synth.aus import AU_NUMBERS, expression, to_image

    face, lms = astronaut_face(size)
    a = np.zeros(len(AU_NUMBERS))
    a[[AU_NUMBERS.index(1), AU_NUMBERS.index(2)]] = 0.06
    bump = np.sin(np.pi * np.arange(n) / (n - 1))
    moved = np.stack([lms + to_image(expression(a * b), lms) for b in bump]).astype(np.float32)
    return DrivingClip(np.repeat(face[None], n, 0), moved, onset_index=0), face, lms


def test_animate_drives_the_target_by_the_au_curve():
    from generation.animation.animate import animate_clip

    torch.manual_seed(0)
    clip, face, lms = _driving()
    unit = build_model("famgan", tiny(common={"au_scale": 1.0})).driving_condition(clip, face, lms)
    au1 = unit[:, 0]  # the engine's unit: 0.06 IOD of brow raise -> 2
    assert au1[0] == 0 and au1[3] == pytest.approx(2.0, abs=0.2) and au1.argmax() in (2, 3)
    model = build_model("famgan", tiny()).eval()  # the packaged gain, 3
    cond = model.driving_condition(clip, face, lms)
    assert cond.shape == (6, 17)
    assert np.allclose(cond, np.clip(3 * unit, 0, 5), atol=1e-5)
    frames = animate_clip(model, face, lms, clip.frames, clip.landmarks, batch_size=4)
    assert frames.shape == (6, SIZE, SIZE, 3) and frames.dtype == np.uint8
    # frames are the generator at each frame's condition, batched or not
    with torch.inference_mode():
        src = torch.from_numpy(face.copy()).permute(2, 0, 1)[None].float() / 255
        state = model.encode_source(src, torch.from_numpy(lms.copy())[None])
        one = model.animate(state, src, None, src, None, condition=torch.from_numpy(cond[3:4]))
    assert (
        np.abs(frames[3].astype(int) - np.asarray(one[0].permute(1, 2, 0) * 255).round()).max() <= 1
    )
    assert not np.array_equal(frames[0], frames[3])
    with pytest.raises(ConfigError, match="mode"):
        model.driving_condition(clip, face, lms, mode="sideways")
    absolute = model.driving_condition(clip, face, lms, mode="absolute")  # the AUs as they are
    assert np.allclose(absolute, model.driving_condition(clip, face, lms, mode="standard"))
    assert np.allclose(absolute, np.clip(3 * unit, 0, 5), atol=1e-5)  # the onset's AUs are 0


def test_asymmetric_halves_are_generated_apart_and_joined():
    torch.manual_seed(0)
    cfg = tiny(drive={"asymmetric": True}, common={"au_scale": 1.0})
    model = build_model("famgan", cfg).eval()
    clip, face, lms = _driving()
    cond = model.driving_condition(clip, face, lms)
    assert cond.shape == (6, 2, 17)
    assert np.allclose(cond[:, 0], cond[:, 1], atol=0.3)  # a symmetric expression
    assert cond[3, :, 0].min() > 1.5  # AU1 in both halves (0.06 IOD -> 2)
    src = torch.from_numpy(face.copy()).permute(2, 0, 1)[None].float() / 255
    state = model.encode_source(src, torch.from_numpy(lms.copy())[None])
    c = state["column"]
    assert abs(c - lms[[27, 28, 29, 30, 33], 0].mean()) <= 1.5
    two = torch.zeros(1, 2, 17)
    two[0, 1, 8] = 4.0  # only the image-right half smiles (AU12)
    out = model.animate(state, src, None, src, None, condition=two)
    with torch.no_grad():
        left = (model.generator(src * 2 - 1, two[:, 0] / 5)["image"] + 1) / 2
        right = (model.generator(src * 2 - 1, two[:, 1] / 5)["image"] + 1) / 2
    assert torch.allclose(out[..., :c], left[..., :c].clamp(0, 1))
    assert torch.allclose(out[..., c:], right[..., c:].clamp(0, 1))


def test_fme_animate_a_famgan_checkpoint(prepared, tmp_path):
    from PIL import Image

    from fme.cli import main
    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.data.video import probe

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "famgan.pt", build_model("famgan", tiny()), step=0)
    target = tmp_path / "face.png"
    from engine_helpers import astronaut

    Image.fromarray(astronaut()).save(target)
    driving = prepared / "casme2" / "sub01" / "EP01_01"
    out = tmp_path / "out.mp4"
    argv = ["animate", "--checkpoint", str(ckpt), "--target", str(target), "--driving",
            str(driving), "--out", str(out), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    info = probe(out)
    assert (info.n_frames, info.width, info.codec) == (6, SIZE, "h264")
    assert main([*argv, "--super-resolution", str(tmp_path / "missing.pth")]) == 2


# ---- the AU source: the AU engine, through the one adapter --------------------------------


def test_au_vectors_is_the_engines_estimate_for_every_clip_type(prepared):
    from types import SimpleNamespace

    from generation.au import estimate_from_landmarks
    from generation.data.au_pairs import au_vectors
    from generation.data.prepared import load_prepared

    clip, _, _ = _driving()
    expected = estimate_from_landmarks(clip.landmarks, clip.onset_index).values
    assert np.allclose(au_vectors(clip), expected)  # a DrivingClip
    simple = SimpleNamespace(landmarks=clip.landmarks, onset_index=0)
    assert np.allclose(au_vectors(simple), expected)
    assert np.allclose(au_vectors(simple, 3.0), np.clip(3 * expected, 0, 5))
    record = load_prepared(prepared)[0]  # a PreparedClip
    assert np.allclose(
        au_vectors(record), estimate_from_landmarks(record.landmarks(), record.onset_index).values
    )
    with pytest.raises(ConfigError, match="au_scale"):
        build_model("famgan", tiny(common={"au_scale": 0.0}))


# ---- super-resolution -------------------------------------------------------------------------


def test_rrdbnet_loads_real_esrgan_names_strictly_and_upsamples_4x(tmp_path):
    from generation.models.famgan.rrdbnet import RRDBNet, load_rrdbnet

    torch.manual_seed(0)
    net = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4)
    state = net.state_dict()
    names = {"conv_first.weight", "body.0.rdb1.conv1.weight", "body.1.rdb3.conv5.bias",
             "conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight",
             "conv_last.weight"}  # fmt: skip
    assert names <= set(state)
    assert len([k for k in state if k.startswith("body.0.")]) == 3 * 5 * 2
    torch.save({"params_ema": state}, tmp_path / "x4.pth")  # Real-ESRGAN's file layout
    loaded = load_rrdbnet(tmp_path / "x4.pth", 8, 2, 4)
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        assert loaded(x).shape == (1, 3, 32, 48)
        assert torch.equal(loaded(x), net.eval()(x))
    del state["conv_hr.weight"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match="RRDBNet"):
        load_rrdbnet(tmp_path / "bad.pth", 8, 2, 4)
    with pytest.raises(ConfigError, match="not found"):
        load_rrdbnet(tmp_path / "none.pth")


def test_famgan_super_resolution_stage(tmp_path):
    from generation.animation.animate import animate_clip
    from generation.models.famgan.rrdbnet import RRDBNet

    torch.manual_seed(0)
    torch.save(RRDBNet(8, 1, 4).state_dict(), tmp_path / "x4.pth")
    model = build_model("famgan", tiny(super_resolution={"num_feat": 8, "num_block": 1,
                                                           "num_grow_ch": 4}))  # fmt: skip
    clip, face, lms = _driving(n=3)
    plain = animate_clip(model, face, lms, clip.frames, clip.landmarks)
    assert plain.shape == (3, SIZE, SIZE, 3)  # off by default
    model.set_super_resolution(tmp_path / "x4.pth")
    assert model.config["super_resolution"]["weights"] == str(tmp_path / "x4.pth")
    assert "sr" not in dict(model.named_modules())  # user weights stay out of checkpoints
    big = animate_clip(model, face, lms, clip.frames, clip.landmarks)
    assert big.shape == (3, 4 * SIZE, 4 * SIZE, 3)


# ---- FAMGAN in the toolkit's tables -------------------------------------------------------------


def test_megc2021_study_preset_pairs_famgan_with_fomm_ewp():
    from study.design import PAPER_LABELS, PRESETS, resolve_sets

    assert PAPER_LABELS["famgan"] == "FAMGAN"
    methods = {"FAMGAN": "a", "FOMM+EWP": "b"}
    assert resolve_sets(methods, None, "megc2021") == [("FAMGAN", "FOMM+EWP")]
    assert PRESETS["paper"][0] == ("FOMM", "FOMM+EWP")  # the paper's sets are unchanged
    with pytest.raises(ConfigError, match="FOMM"):
        resolve_sets({"FAMGAN": "a"}, None, "megc2021")


def test_fme_megc_with_a_famgan_checkpoint(prepared, tmp_path):
    from engine_helpers import write_templates

    from generation.animation.megc import DriverSpec, make_megc_set
    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.data.video import probe

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "famgan.pt", build_model("famgan", tiny()), step=0)
    templates = write_templates(tmp_path / "templates")
    specs = [DriverSpec(str(prepared / "casme2" / "sub02" / "EP01_01"))]
    result = make_megc_set(ckpt, templates[0].parent, specs, tmp_path / "set", progress=False)
    assert len(result.videos) == 2 and result.frames == 2 * 6
    assert all(probe(v).n_frames == 6 for v in result.videos)


def test_fme_megc_super_resolution(prepared, tmp_path):
    """`fme megc --super-resolution`: the videos 4x larger, the weights' sha256 in the
    manifest; a checkpoint without the stage is refused in one line before anything is
    written."""
    import subprocess
    import sys

    from engine_helpers import write_templates

    from fme.core.digest import sha256_file
    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.data.video import probe
    from generation.models.famgan.rrdbnet import RRDBNet

    torch.manual_seed(0)
    sr = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}
    ckpt = save_checkpoint(
        tmp_path / "famgan.pt", build_model("famgan", tiny(super_resolution=sr)), step=0
    )
    torch.save(RRDBNet(8, 1, 4).state_dict(), tmp_path / "x4.pth")
    templates = write_templates(tmp_path / "templates")
    clip = str(prepared / "casme2" / "sub02" / "EP01_01")
    (tmp_path / "drivers.txt").write_text(clip + "\n")

    def megc(checkpoint, out):
        cmd = [sys.executable, "-m", "fme", "megc", "--checkpoint", str(checkpoint),
               "--templates", str(templates[0].parent), "--drivers", str(tmp_path / "drivers.txt"),
               "--out", str(out), "--super-resolution", str(tmp_path / "x4.pth"), "--quiet",
               "--device", "cpu"]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True)

    done = megc(ckpt, tmp_path / "set")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "set" / "manifest.csv").open(newline="")))
    assert len(rows) == 2
    assert {r["super_resolution_sha256"] for r in rows} == {sha256_file(tmp_path / "x4.pth")}
    for row in rows:
        info = probe(tmp_path / "set" / row["path"])
        assert (info.width, info.height) == (4 * SIZE, 4 * SIZE)
    other = save_checkpoint(
        tmp_path / "fomm.pt", build_model("fomm", small_model_config("fomm")), step=0
    )
    refused = megc(other, tmp_path / "set2")
    assert refused.returncode == 2
    assert "--super-resolution" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "set2" / "manifest.csv").exists()


def test_demo_famgan_flag_adds_the_method():
    from dataclasses import replace

    from fme.commands.demo import FAST, METHODS

    assert "FAMGAN" not in FAST.methods and FAST.methods == METHODS
    assert replace(FAST, groups=("famgan",)).methods == {**METHODS, "FAMGAN": "famgan"}
