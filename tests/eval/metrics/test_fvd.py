"""FVD: our I3D and preprocessing against VideoGPT's (fixture made by running its code on
recipe-filled weights; see tests/data/upstream/metrics/README.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_helpers import ROOT, assert_close, filled, inputs, keys, reference, spread

from eval.metrics import fvd
from fme.core.errors import ConfigError, DataError

torch.set_num_threads(1)


def test_state_dict_names_and_shapes_are_videogpts():
    _seed, ref = keys("i3d")
    ours = fvd.build_i3d().state_dict()
    assert [[k, list(v.shape), str(v.dtype)] for k, v in sorted(ours.items())] == ref


def test_logits_equal_videogpt_and_differ_across_clips():
    net = filled(fvd.build_i3d(), "i3d")
    d = inputs()
    ours = fvd.i3d_features(net, [d["real_clips"][0], d["fake_clips"][3]])
    ref = np.load(ROOT / "i3d_logits.npy")
    assert_close(ours, ref[[0, 7]], rel=1e-4)
    assert spread(ref) > 0.3
    assert np.abs(ours[0] - ours[1]).max() > 0.1 * np.abs(ours).max()


def test_fvd_equals_videogpts_frechet_distance():
    ref = reference()["fvd"]
    logits = np.load(ROOT / "i3d_logits.npy")
    ours = fvd.fvd(logits[:4], logits[4:])
    assert ours == pytest.approx(ref["fvd_float64"], rel=1e-6)
    assert ours == pytest.approx(ref["fvd_float32"], rel=1e-4)


def test_preprocess_resizes_the_shorter_side_and_crops_the_centre():
    clip = np.zeros((16, 48, 64, 3), np.uint8)
    clip[:, :, 32:] = 255  # right half white
    x = fvd.preprocess(clip)
    assert tuple(x.shape) == (3, 16, 224, 224)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    # 64 -> ceil(64 * 224 / 48) = 299 wide, crop 37 px from the left: the edge sits at 112
    row = x[0, 0, 100].numpy()
    assert row[105] == -1.0 and row[119] == 1.0


def test_short_clips_are_refused_with_one_line():
    with pytest.raises(DataError, match="first 16"):
        fvd.preprocess(np.zeros((12, 32, 32, 3), np.uint8))
    with pytest.raises(ConfigError, match="minimum of 9"):
        fvd.check_clip(20, 8)
