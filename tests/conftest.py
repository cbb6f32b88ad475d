"""Shared test set-up: small thread counts (CI has 2 cores) and a fixed seed."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
