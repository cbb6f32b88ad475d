"""One AU source for every consumer: FAMGAN's and TPSMM-AU's training pairs and driving
conditions, and AU fidelity, read a clip's OpenFace CSV when `--au-source openface`."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import make_prepared

from fme.core.errors import DataError
from generation.au import AU_NAMES, AUTrack
from generation.au.sources import AUSource, write_track_csv

SIZE = 32
N_FRAMES = 6


def _model(variant: str):
    from engine_helpers import small_model_config

    from generation.config import merge
    from generation.models import build_model, default_config

    if variant == "famgan":
        return build_model(variant, small_model_config(variant, SIZE))
    tiny = {
        "dense_motion": {"block_expansion": 8, "max_features": 32, "num_blocks": 3},
        "inpainting": {"block_expansion": 8, "max_features": 32},
        "avd": {"id_bottle_size": 16, "pose_bottle_size": 16},
        "loss": {"vgg_weights": False, "scales": [1, 0.5]},
    }
    return build_model(variant, merge(default_config(variant, "small"), tiny))


def _curve(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1.5, (N_FRAMES, len(AU_NAMES))).round(3)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = make_prepared(
        tmp_path_factory.mktemp("prep"),
        subjects=2,
        clips_per_subject=1,
        n_frames=N_FRAMES,
        size=SIZE,
    )
    for k, folder in enumerate(sorted(root.glob("casme2/*/*"))):
        write_track_csv(folder / "openface.csv", AUTrack(_curve(k)), fps=200.0)
    return root


def test_training_pairs_take_each_clips_csv(prepared):
    from generation.config import TrainConfig
    from generation.data.prepared import load_prepared

    clips = load_prepared(prepared)
    for variant, scale in (("famgan", 3.0), ("tpsmm-au", 1.0)):
        model = _model(variant)
        pairs = model.training_dataset(clips, TrainConfig(size=SIZE, au_source="openface"))
        for c, item in enumerate(pairs.clips):
            k = sorted(p.dir for p in clips).index(item.clip.dir)
            np.testing.assert_allclose(pairs.tracks[c], np.clip(scale * _curve(k), 0, 5), atol=1e-5)
        landmarks = model.training_dataset(clips, TrainConfig(size=SIZE))
        assert not np.allclose(landmarks.tracks[0], pairs.tracks[0])


def test_a_clip_without_its_csv_is_named(prepared, tmp_path):
    from generation.data.au_pairs import AUFramePairs
    from generation.data.prepared import load_prepared

    clips = load_prepared(prepared)
    with pytest.raises(DataError, match=r"EP01_01.*no libreface CSV"):
        AUFramePairs(clips, SIZE, au_source=AUSource("libreface"))


def test_driving_conditions_follow_the_clips_csv(prepared):
    from generation.animation.animate import load_driving
    from generation.au.modulation import moving_mean

    folder = sorted(prepared.glob("casme2/*/*"))[1]
    clip = load_driving(folder, SIZE)
    clip.au_track = AUSource("openface").csv_track(folder, len(clip.frames))
    values = _curve(1)
    tps = _model("tpsmm-au")
    np.testing.assert_allclose(
        tps.driving_condition(clip, None, None), values - values[clip.onset_index], atol=1e-6
    )
    famgan = _model("famgan")
    window = int(famgan.config["drive"]["window"])
    absolute = famgan.driving_condition(clip, clip.frames[0], clip.landmarks[0], mode="standard")
    expected = np.clip(moving_mean(np.clip(3.0 * values, 0, 5), window), 0, 5)
    np.testing.assert_allclose(absolute, expected, atol=1e-5)


@pytest.mark.slow
def test_au_fidelity_reads_the_driving_and_generated_csvs(tmp_path):
    from engine_helpers import astronaut_face, shift_image

    from eval.metrics.objective import set_metrics
    from generation.data.video import write_mp4

    face, _ = astronaut_face(96)
    frames = [shift_image(face, 0.4 * k, 0) for k in range(N_FRAMES)]
    drivers, generated = tmp_path / "drivers", tmp_path / "set"
    drivers.mkdir()
    generated.mkdir()
    write_mp4(drivers / "take1.mp4", frames, fps=30)
    write_mp4(generated / "take1-normalized_westernMale.mp4", frames, fps=30)
    truth, made = _curve(5), _curve(6)
    write_track_csv(drivers / "take1.openface.csv", AUTrack(truth), fps=30.0)
    write_track_csv(
        generated / "take1-normalized_westernMale.openface.csv", AUTrack(made), fps=30.0
    )
    (row,) = set_metrics(generated, driving=drivers, progress=False, au_source="openface")
    for k, au in enumerate(AU_NAMES):
        expected = float(np.corrcoef(truth[:, k], made[:, k])[0, 1])
        assert row.au_per_au[f"r_{au}"] == pytest.approx(expected, abs=1e-3)
    # a generated video without its CSV is named
    write_mp4(generated / "take1-normalized_asianFemale.mp4", frames, fps=30)
    with pytest.raises(DataError, match="normalized_asianFemale.*no openface CSV"):
        set_metrics(generated, driving=drivers, progress=False, au_source="openface")


@pytest.mark.slow
def test_megc_reads_each_driving_clips_csv(prepared, tmp_path):
    from engine_helpers import write_templates

    from generation.animation.megc import DriverSpec, make_megc_set
    from generation.checkpoints.checkpoint import save_checkpoint

    model = _model("tpsmm-au")
    ckpt = save_checkpoint(tmp_path / "tps.pt", model, step=0)
    templates = tmp_path / "templates"
    write_templates(templates)
    folders = sorted(prepared.glob("casme2/*/*"))
    seen = []
    original = type(model).driving_condition

    def spy(self, clip, *args, **kwargs):
        seen.append(clip.au_track)
        return original(self, clip, *args, **kwargs)

    import generation.models.tpsmm.au as tpsmm_au  # noqa: F401  (the class spied on)

    type(model).driving_condition = spy
    try:
        specs = [DriverSpec(str(f)) for f in folders]
        make_megc_set(
            ckpt, templates, specs, tmp_path / "set", progress=False, au_source="openface"
        )
    finally:
        type(model).driving_condition = original
    assert len(seen) == 4 and all(t is not None and t.source == "openface" for t in seen)
    np.testing.assert_allclose(seen[0].values, _curve(0), atol=1e-6)
    with pytest.raises(DataError, match="no pyfeat CSV"):
        make_megc_set(ckpt, templates, specs, tmp_path / "set2", progress=False, au_source="pyfeat")
    assert not (tmp_path / "set2" / "manifest.csv").exists()
