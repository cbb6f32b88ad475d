"""Shared test set-up: small thread counts (CI has 2 cores), a fixed seed, and autograd left on."""

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


@pytest.fixture(autouse=True)
def _autograd_left_on():
    """A test (or the code it calls in-process) must not leave autograd switched off for the
    tests after it: a command turns it off in a context, never with the global switch."""
    yield
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if not torch.is_grad_enabled():
        torch.set_grad_enabled(True)
        pytest.fail(
            "autograd was left switched off (torch.set_grad_enabled(False) outside a context)"
        )
