"""`fme bench metrics`: cost of the published-table metrics' networks per 100 frames.

Random weights (the metrics' cost does not depend on the values), fixed random frames; each
network runs on 100 frames (FVD: 100 frames as 16-frame clips, 6.25 clips) after one warm-up
batch. The dlib landmarks every identity metric needs are measured too, as the reference the
others compare with. The threads are torch's setting (`--threads`, default 1).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fme.bench.common import markdown


def _time(fn, repeat: int = 1) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def run(argv: list[str]) -> int:
    import torch

    p = argparse.ArgumentParser(prog="fme bench metrics")
    p.add_argument("--size", type=int, default=128, help="frame size in pixels (square)")
    p.add_argument(
        "--frames", type=int, default=20, help="frames timed per network (scaled to 100)"
    )
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with torch.no_grad():  # a context, never the global switch: callers in-process keep autograd
        return _table(args)


def _table(args: argparse.Namespace) -> int:
    import pandas as pd

    from eval.metrics import fid, fvd, identity, lpips

    rng = np.random.default_rng(0)
    n = args.frames
    frames = rng.integers(0, 256, size=(n, args.size, args.size, 3), dtype=np.uint8)
    crops = rng.integers(0, 256, size=(n, 112, 112, 3), dtype=np.uint8)
    rows = []

    def add(name, what, seconds, count):
        rows.append({"metric": name, "network": what, "s per 100 frames": seconds * 100 / count})

    inc = fid.fid_inception()
    add("FID/KID", "Inception-v3 (299 px)", _time(lambda: fid.pool3_features(inc, frames)), n)
    for net in ("alex", "vgg"):
        m = lpips.build(net)
        add(
            f"LPIPS-{net}",
            f"{net} trunk, frame pairs",
            _time(lambda m=m: lpips.distances(m, frames, frames[::-1])),
            n,
        )
    i3d = fvd.build_i3d()
    clip = np.repeat(frames[:1], 16, 0)
    add("FVD", "I3D (16 x 224 px clip)", _time(lambda: fvd.i3d_features(i3d, [clip])), 16)
    arc = identity.build_iresnet("iresnet50")
    add("CSIM/AED", "ArcFace iresnet50 (112 px)", _time(lambda: identity.embed(arc, crops)), n)
    fn = identity.build_facenet()
    crops160 = rng.integers(0, 256, size=(n, 160, 160, 3), dtype=np.uint8)
    add(
        "CSIM/AED",
        "FaceNet InceptionResnetV1 (160 px)",
        _time(lambda: identity.embed_facenet(fn, crops160)),
        n,
    )
    table = pd.DataFrame(rows)
    print(
        f"{args.frames} frames of {args.size} px timed per network, {args.threads} thread(s), scaled to 100 frames\n"
    )
    print(markdown(table, digits=2))
    return 0
