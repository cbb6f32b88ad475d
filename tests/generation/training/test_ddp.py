"""DDP: two CPU processes (gloo) train a few steps and end with identical weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(
    rank: int, world: int, port: int, data: str, out: str, variant: str, steps: int = 3
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)
    from engine_helpers import run_config

    from generation.training.train import train

    run = run_config(variant, iterations=steps, batch_size=2, checkpoint_every=0, lr=1e-3)
    result = train(run, data, out, device="cpu", progress=False)
    assert result.world_size == world and result.rank == rank
    state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    torch.save(state, os.path.join(out, f"rank{rank}.pt"))


@pytest.mark.slow
@pytest.mark.parametrize("variant, steps", [("fomm", 3), ("famgan", 5)])  # famgan: 1 G step
def test_two_gloo_processes_end_with_identical_weights(variant, steps, tmp_path):
    import sys

    import torch.multiprocessing as mp
    from engine_helpers import make_prepared, small_model_config

    from generation.checkpoints.checkpoint import read_checkpoint
    from generation.models import build_model

    data = make_prepared(tmp_path / "prep", subjects=3, clips_per_subject=1, n_frames=5)
    out = tmp_path / "run"
    out.mkdir()
    helpers = os.path.dirname(sys.modules["engine_helpers"].__file__)
    if helpers not in sys.path:
        sys.path.insert(0, helpers)
    os.environ["PYTHONPATH"] = os.pathsep.join([helpers, os.environ.get("PYTHONPATH", "")])
    args = (2, _free_port(), str(data), str(out), variant, steps)
    mp.spawn(_worker, args=args, nprocs=2, join=True)
    a = torch.load(out / "rank0.pt")
    b = torch.load(out / "rank1.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the weights did train (same seed, not the initial weights) and rank 0 saved them
    torch.manual_seed(0)
    fresh = build_model(variant, small_model_config(variant)).state_dict()
    changed = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], fresh[k])]
    assert changed
    if variant == "famgan":  # the generator took its one step too
        assert any(k.startswith("generator.") for k in changed)
    ckpt = read_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == steps and ckpt["extra"]["world_size"] == 2
    for key in a:
        assert torch.equal(ckpt["model"][key], a[key])
