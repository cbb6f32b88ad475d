"""FID/KID: our Inception-v3 and distances against pytorch-fid and torch-fidelity (fixture
made by running them on recipe-filled weights; see tests/data/upstream/metrics/README.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_helpers import ROOT, assert_close, filled, inputs, keys, reference, spread

from eval.metrics import fid
from fme.core.errors import ConfigError, DataError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def net():
    return filled(fid._build_inception(), "inception")


#: a few of the 32 fixture images (real faces, a face with no face, noisy, noise, faded)
PICK = [0, 5, 15, 16, 18, 27]


@pytest.fixture(scope="module")
def features(net):
    d = inputs()
    return fid.pool3_features(net, np.concatenate([d["real"], d["fake"]])[PICK])


def test_state_dict_names_and_shapes_are_the_published_files():
    _seed, ref = keys("inception")
    ours = fid._build_inception().state_dict()
    assert [[k, list(v.shape), str(v.dtype)] for k, v in sorted(ours.items())] == ref


def test_pool3_features_equal_pytorch_fid_and_differ_across_inputs(features):
    ref = np.load(ROOT / "inception_pool3.npy")
    assert_close(features, ref[PICK], rel=1e-4)
    # a fixture of constant features would prove nothing: real and noise images differ
    assert spread(ref) > 0.3
    assert spread(features) > 0.3


def fid_root():
    from metric_helpers import ROOT

    return ROOT


def test_fid_and_kid_equal_the_references():
    """Our distances on the reference features (our features equal those, test above)."""
    ref = reference()["fid"]
    feats = np.load(ROOT / "inception_pool3.npy")
    real, fake = feats[:16], feats[16:]
    assert fid.frechet_distance(real, fake) == pytest.approx(ref["fid"], rel=1e-5)
    mean, std = fid.kid(
        real,
        fake,
        subsets=ref["kid_subsets"],
        subset_size=ref["kid_subset_size"],
        seed=ref["rng_seed"],
    )
    assert mean == pytest.approx(ref["kid_mean"], rel=1e-5)
    assert std == pytest.approx(ref["kid_std"], rel=1e-5)


def test_frechet_matches_closed_forms():
    rng = np.random.default_rng(0)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with the sample moments
    a, b = rng.normal(1, 2, 500), rng.normal(-1, 0.5, 400)
    want = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert fid.frechet_distance(a[:, None], b[:, None]) == pytest.approx(want, rel=1e-9)
    # few samples in many dimensions: the sample route equals the matrix square root
    x, y = rng.normal(size=(20, 64)), rng.normal(0.3, 1.5, size=(25, 64))
    full = fid.frechet_from_stats(*fid.gaussian_stats(x), *fid.gaussian_stats(y))
    assert fid.frechet_distance(x, y) == pytest.approx(full, rel=1e-6)
    assert fid.frechet_from_cov(*fid.gaussian_stats(x), *fid.gaussian_stats(y)) == pytest.approx(
        full, rel=1e-6
    )
    # many samples: the covariance route
    x, y = rng.normal(size=(300, 8)), rng.normal(0.2, 1.2, size=(200, 8))
    full = fid.frechet_from_stats(*fid.gaussian_stats(x), *fid.gaussian_stats(y))
    assert fid.frechet_distance(x, y) == pytest.approx(full, rel=1e-9)
    assert fid.frechet_distance(x, x) == pytest.approx(0, abs=1e-8)
    with pytest.raises(DataError):
        fid.frechet_distance(x[:1], y)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    same = fid.kid(
        rng.normal(size=(200, 16)), rng.normal(size=(200, 16)), subsets=20, subset_size=100
    )[0]
    other = fid.kid(
        rng.normal(size=(200, 16)), rng.normal(0.5, 1, size=(200, 16)), subsets=20, subset_size=100
    )[0]
    assert abs(same) < 0.02
    assert other > 10 * abs(same)


def test_bootstrap_resamples_whole_videos():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(6), 5)  # 6 videos of 5 frames, each video one value
    x = np.repeat(rng.normal(size=6), 5)[:, None]
    seen = []

    def stat(a, b):
        seen.append(len(a))
        return float(a.mean() - b.mean())

    lo, hi = fid.bootstrap_interval(stat, x, x + 1.0, groups, groups, n_boot=100)
    assert all(n == 30 for n in seen)  # whole videos drawn: 6 groups x 5 frames
    assert lo <= -1.0 <= hi or hi < -1.0 + 1e-9
    lo2, hi2 = fid.bootstrap_interval(stat, x, x + 1.0, n_boot=100)
    assert lo2 < hi2


def test_features_are_cached_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(2, 3)

    a = fid.cached_features(tmp_path, "pool3", "k1", compute)
    b = fid.cached_features(tmp_path, "pool3", "k1", compute)
    assert len(calls) == 1 and np.array_equal(a, b)
    fid.cached_features(tmp_path, "pool3", "k2", compute)
    assert len(calls) == 2


def test_a_file_that_is_not_the_fid_inception_names_the_option(tmp_path):
    bad = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ConfigError, match="--inception"):
        fid.load_inception(bad)
    with pytest.raises(ConfigError, match="not found"):
        fid.load_inception(tmp_path / "absent.pth")
