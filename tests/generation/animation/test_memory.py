"""`generation.animation.memory.reuse_large_allocations`: freed large blocks are reused already mapped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# page faults per round of five 64 MiB results, each freed when the next is made (as a
# network's layers make and free their batched activations), over 8 rounds
PROBE = textwrap.dedent(
    """
    import resource
    import torch
    from generation.animation.memory import reuse_large_allocations
    ok = reuse_large_allocations()
    assert reuse_large_allocations() == ok  # once per process, the same answer
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(16, 256, 64, 64)  # 64 MiB of float32
    rounds = []
    for _ in range(8):
        before = faults()
        for _ in range(5):
            y = torch.relu(x)
        rounds.append(faults() - before)
    print(ok, *rounds)
    """
)


def _probe(reuse: bool) -> tuple[bool, list[int]]:
    env = {**os.environ, "FME_REUSE_MEMORY": "1" if reuse else "0", "OMP_NUM_THREADS": "1"}
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", [int(n) for n in out[1:]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_large_tensors_are_reused_without_new_page_faults():
    pages = (1 << 26) // os.sysconf("SC_PAGE_SIZE")  # pages of one 64 MiB tensor
    set_, faults = _probe(reuse=True)
    unset, faults_default = _probe(reuse=False)
    assert set_ and not unset
    # glibc's default maps and unmaps each 64 MiB block: every result faults all its pages
    assert min(faults_default[4:]) > 4 * pages
    # kept in the heap, freed blocks are reused once the heap has grown to the pattern:
    # the last four rounds fault (almost) nothing
    assert sum(faults[4:]) < pages // 4
