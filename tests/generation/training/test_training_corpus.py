"""A few hundred steps of `fomm-awp` and of `mraa-awp` at 64x64, with the
packaged CPU config, on the synthetic corpus (generated, then prepared with dlib and the
landmark tracker) lower the reconstruction loss clearly, with the AWP layer (whose gradient
tests/generation/models/test_fomm.py and tests/generation/models/test_mraa.py check) trained with the rest."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from data_helpers import synth_corpus

from generation.config import build_run_config, config_path, read_yaml
from generation.face.prepare import PrepareConfig, prepare_dataset
from generation.training.train import train

pytestmark = pytest.mark.slow

STEPS = 200


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    synth_corpus(root / "corpus", subjects=3, clips=2, size=96)
    out = root / "prepared"
    prepare_dataset("casme2", root / "corpus", out, PrepareConfig(size=64), progress=False)
    return out


@pytest.mark.parametrize("variant", ["fomm-awp", "mraa-awp"])
def test_awp_variant_learns_the_synthetic_corpus(variant, prepared, tmp_path):
    overrides = {"iterations": STEPS, "batch_size": 4, "lr": 1e-3, "log_every": 1,
                 "sample_every": 0, "checkpoint_every": 0, "holdout": 0.34}  # fmt: skip
    run = build_run_config(variant, read_yaml(config_path("cpu-64")), "cpu-64", overrides)
    train(run, prepared, tmp_path / "run", device="cpu", progress=False)
    with (tmp_path / "run" / "log.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == STEPS
    rec = np.array([float(r["reconstruction"]) for r in rows])
    first, last = rec[:20].mean(), rec[-20:].mean()
    # The loss is still falling at step 200 and its path is chaotic (a 0.002 px change of
    # one landmark gives another trajectory after 3 steps): over seeds 0-3, mraa-awp's last
    # 20 steps were 0.22-0.52 of its first 20 (fomm-awp under 0.5). A model that does not
    # learn stays near 1.
    assert last < 0.6 * first, (first, last)
