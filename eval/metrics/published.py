"""The metrics of published tables, computed beside `fme eval metrics`' own.

Per video: LPIPS (AlexNet, VGG; v0.1) against the synthetic ground truth and between
consecutive generated frames (flicker); CSIM to the template, AED and AKD against the ground
truth (FOMM's protocol on the synthetic corpus's renders), identity leakage towards the driving
subject. Per set: FID and KID of the generated frames against real frames, FVD of the
generated clips against real clips, FID and FVD with percentile bootstrap intervals over
videos (sets of a few dozen videos give wide intervals).

Every network loads from a file the user gives (`--inception`, `--alexnet`, `--vgg16`,
`--lpips-dir`, `--i3d`, `--arcface`, `--facenet`, or one `--weights DIR` searched for the
published file names, then torch's hub cache). A metric whose weights are absent is left out
with one line naming the option and file; nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.metrics import fid as fidm
from eval.metrics import fvd as fvdm
from eval.metrics import identity as idm
from eval.metrics import lpips as lpm
from fme.core.errors import ConfigError, DataError, FMEError

#: weight key -> (option, file name(s) looked for, what it is)
WEIGHTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "inception": (
        "--inception",
        ("pt_inception-2015-12-05-*.pth",),
        "pytorch-fid's FID Inception-v3",
    ),
    "alexnet": (
        "--alexnet",
        ("alexnet-owt-*.pth",),
        "torchvision's ImageNet AlexNet (LPIPS trunk)",
    ),
    "vgg16": ("--vgg16", ("vgg16-*.pth",), "torchvision's ImageNet VGG-16 (LPIPS trunk)"),
    "lpips_alex": (
        "--lpips-dir",
        ("alex.pth",),
        "the lpips package's v0.1 AlexNet head (weights/v0.1/)",
    ),
    "lpips_vgg": ("--lpips-dir", ("vgg.pth",), "the lpips package's v0.1 VGG head (weights/v0.1/)"),
    "i3d": ("--i3d", (fvdm.I3D_FILE,), "VideoGPT's I3D (Kinetics-400)"),
    "arcface": (
        "--arcface",
        idm.ARCFACE_GLOBS,
        "an arcface_torch IResNet backbone (non-commercial licence)",
    ),
    "facenet": ("--facenet", (idm.FACENET_FILE,), "facenet-pytorch's VGGFace2 InceptionResnetV1"),
}

#: table column -> the weights it needs (short tag shown in the tables' headers)
TAGS = {
    "inception": "Inc",
    "lpips_alex": "Alex",
    "lpips_vgg": "VGG",
    "i3d": "I3D",
    "identity": "Id",
}


def hub_dirs() -> list[Path]:
    """torch's hub cache (where pytorch-fid and torchvision keep their downloads)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch"
    )
    return [Path(home).expanduser() / "hub" / "checkpoints"]


def _find(folder: Path, patterns: Sequence[str]) -> Path | None:
    for pat in patterns:
        hits = sorted(folder.glob(pat))
        if hits:
            return hits[0]
    return None


@dataclass
class WeightPaths:
    """Resolved weight files (None: absent) and the one-line notes of what is left out."""

    paths: dict[str, Path | None] = field(default_factory=dict)

    def get(self, key: str) -> Path | None:
        return self.paths.get(key)

    def missing_line(self, metric: str, keys: Sequence[str]) -> str:
        parts = []
        for k in keys:
            option, names, what = WEIGHTS[k]
            parts.append(f"{option} {names[0]} ({what})")
        return f"{metric} left out: no weights; give " + " and ".join(parts)


def resolve_weights(
    options: dict[str, str | None], weights_dir: str | None = None, search_hub: bool = True
) -> WeightPaths:
    """Each weight file from its option, else `weights_dir`, else torch's hub cache.
    An option naming a file (or folder) that does not exist is an error (one line)."""
    found: dict[str, Path | None] = {}
    wdir = Path(weights_dir) if weights_dir else None
    if wdir is not None and not wdir.is_dir():
        raise ConfigError(
            "--weights: folder not found", wdir, "Give a folder holding the weight files."
        )
    heads_dir = options.get("lpips_dir")
    if heads_dir and not Path(heads_dir).is_dir():
        raise ConfigError(
            "--lpips-dir: folder not found",
            heads_dir,
            "Give the folder holding alex.pth and vgg.pth.",
        )
    for key, (option, names, _what) in WEIGHTS.items():
        if key.startswith("lpips_"):
            folders = [Path(heads_dir)] if heads_dir else []
            folders += [wdir] if wdir else []
            found[key] = next((p for f in folders if (p := _find(f, names)) is not None), None)
            continue
        given = options.get(key)
        if given:
            p = Path(given)
            if not p.is_file():
                raise ConfigError(
                    f"{option}: file not found",
                    p,
                    f"Give {names[0]} ({_what}) or leave {option} out.",
                )
            found[key] = p
            continue
        folders = ([wdir] if wdir else []) + (hub_dirs() if search_hub else [])
        found[key] = next(
            (p for f in folders if f.is_dir() and (p := _find(f, names)) is not None), None
        )
    return WeightPaths(found)


@dataclass
class Nets:
    """The loaded networks (None where the weights are absent) and the notes on what is
    left out."""

    inception: object = None
    lpips: dict = field(default_factory=dict)
    i3d: object = None
    embedder: object = None
    embedder_name: str = ""
    notes: list[str] = field(default_factory=list)


def load_nets(w: WeightPaths) -> Nets:
    n = Nets()
    if w.get("inception"):
        n.inception = fidm.load_inception(w.get("inception"))
    else:
        n.notes.append(w.missing_line("FID/KID", ["inception"]))
    for net, trunk in (("alex", "alexnet"), ("vgg", "vgg16")):
        head = w.get(f"lpips_{net}")
        if w.get(trunk) and head:
            n.lpips[net] = lpm.load_lpips(net, w.get(trunk), head.parent, WEIGHTS[trunk][0])
        else:
            keys = [k for k in (trunk, f"lpips_{net}") if not w.get(k)]
            n.notes.append(w.missing_line(f"LPIPS-{net} and flicker-{net}", keys))
    if w.get("i3d"):
        n.i3d = fvdm.load_i3d(w.get("i3d"))
    else:
        n.notes.append(w.missing_line("FVD", ["i3d"]))
    if w.get("arcface"):
        n.embedder, n.embedder_name = idm.load_arcface(w.get("arcface")), "arcface"
    elif w.get("facenet"):
        n.embedder, n.embedder_name = idm.load_facenet(w.get("facenet")), "facenet"
    else:
        n.notes.append(
            "CSIM/AED/identity leakage left out: no weights; give --arcface backbone.pth (arcface_torch IResNet, "
            f"non-commercial licence) or --facenet {idm.FACENET_FILE} (facenet-pytorch, MIT)"
        )
    return n


def embed_frames(nets: Nets, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Unit embeddings of frames aligned by their 68 landmarks (ArcFace template; 160 px
    for FaceNet, the same template scaled)."""
    size = 112 if nets.embedder_name == "arcface" else 160
    crops = np.stack([idm.align(f, lm, size) for f, lm in zip(frames, landmarks)])
    if nets.embedder_name == "arcface":
        return idm.embed(nets.embedder, crops)
    return idm.embed_facenet(nets.embedder, crops)


def video_values(
    nets: Nets,
    frames: np.ndarray,
    landmarks: np.ndarray,
    target: np.ndarray | None,
    target_landmarks: np.ndarray | None,
    truth: np.ndarray | None,
    truth_landmarks: np.ndarray | None,
    driver_embedding: np.ndarray | None,
) -> dict[str, float]:
    """The per-video columns this module adds (only those whose inputs and weights exist)."""
    out: dict[str, float] = {}
    n = len(frames)
    if truth is not None:
        m = min(n, len(truth))
        for net, model in nets.lpips.items():
            out[f"lpips_{net}"] = float(lpm.distances(model, frames[:m], truth[:m]).mean())
        if truth_landmarks is not None:
            m = min(n, len(truth_landmarks))
            out["akd"] = idm.akd(landmarks[:m], truth_landmarks[:m])
    if n >= 2:
        for net, model in nets.lpips.items():
            out[f"flicker_{net}"] = float(lpm.flicker(model, frames).mean())
    if nets.embedder is not None:
        gen = embed_frames(nets, frames, landmarks)
        if target is not None and target_landmarks is not None:
            tgt = embed_frames(nets, target[None], target_landmarks[None])[0]
            out["csim"] = idm.csim(gen, tgt)
            if driver_embedding is not None:
                out["leakage"] = idm.leakage(gen, driver_embedding, tgt)
        if truth is not None and truth_landmarks is not None:
            m = min(n, len(truth_landmarks))
            out["aed"] = idm.aed(gen[:m], embed_frames(nets, truth[:m], truth_landmarks[:m]))
    return out


# ---- sets ---------------------------------------------------------------------------------


def real_videos(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    """(name, frames) of every real video: a prepared folder's clips, or video files /
    frame folders / images in a folder."""
    from eval.clips import is_prepared_root
    from generation.data.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image, read_video

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(
            "--real: folder not found", folder, "Give a folder of real videos or images."
        )
    if is_prepared_root(folder):
        from generation.data.prepared import load_prepared

        return [(c.key, c.frames()) for c in load_prepared(folder)]
    out = []
    images = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in VIDEO_SUFFIXES or p.is_dir():
            try:
                out.append((p.name, read_video(p)))
            except FMEError:
                if p.is_dir():
                    continue
                raise
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append((p.name, read_image(p)[None]))
    out += images
    if not out:
        raise DataError(
            "no real videos or images", folder, "Give --real a folder of videos or images."
        )
    return out


def real_features(
    nets: Nets,
    videos: list[tuple[str, np.ndarray]],
    weights: WeightPaths,
    cache_dir,
    frames: int,
    progress: bool,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pool3 features (with video ids) and I3D logits of the real set, cached on disk by
    the inputs' names and sizes and the weights file."""
    from tqdm import tqdm

    out = {}
    names = [f"{n}:{v.shape}:{int(v[::7, ::13, ::13].astype(np.int64).sum())}" for n, v in videos]
    if nets.inception is not None:

        def compute_pool3():
            feats = [
                fidm.pool3_features(nets.inception, v)
                for _n, v in tqdm(
                    videos, desc="real frames (Inception)", unit="video", disable=not progress
                )
            ]
            return np.concatenate(feats)

        key = fidm.features_digest(names, weights.get("inception"), "pool3")
        f = fidm.cached_features(cache_dir, "pool3", key, compute_pool3)
        groups = np.concatenate([np.full(len(v), i) for i, (_n, v) in enumerate(videos)])
        out["pool3"] = (f, groups)
    if nets.i3d is not None:
        long_enough = [(n, v) for n, v in videos if len(v) >= frames]
        if len(long_enough) >= 2:

            def compute_i3d():
                return fvdm.i3d_features(nets.i3d, [v for _n, v in long_enough], frames)

            key = fidm.features_digest(
                [s for s, (n, v) in zip(names, videos) if len(v) >= frames],
                weights.get("i3d"),
                f"i3d{frames}",
            )
            f = fidm.cached_features(cache_dir, "i3d", key, compute_i3d)
            out["i3d"] = (f, np.arange(len(f)))
    return out


@dataclass
class SetAccumulator:
    """Features of one generated set, gathered video by video."""

    pool3: list[np.ndarray] = field(default_factory=list)
    i3d: list[np.ndarray] = field(default_factory=list)
    short: list[str] = field(default_factory=list)

    def add(self, nets: Nets, name: str, frames: np.ndarray, clip_frames: int) -> None:
        if nets.inception is not None:
            self.pool3.append(fidm.pool3_features(nets.inception, frames))
        if nets.i3d is not None:
            if len(frames) < clip_frames:
                self.short.append(f"{name} ({len(frames)} frames)")
            else:
                self.i3d.append(fvdm.i3d_features(nets.i3d, [frames], clip_frames))


def set_values(
    acc: SetAccumulator,
    real: dict[str, tuple[np.ndarray, np.ndarray]],
    set_name: str,
    clip_frames: int,
    n_boot: int,
    kid_subset_size: int,
    notes: list[str],
    progress: bool = False,
) -> dict[str, float]:
    """FID, KID and FVD of a set against the real features, with bootstrap intervals."""
    out: dict[str, float] = {}
    if acc.pool3 and "pool3" in real:
        gen = np.concatenate(acc.pool3)
        groups = np.concatenate([np.full(len(f), i) for i, f in enumerate(acc.pool3)])
        rf, rg = real["pool3"]
        if len(gen) >= 2 and len(rf) >= 2:
            out["fid"] = fidm.frechet_distance(gen, rf)
            out["fid_lo"], out["fid_hi"] = fidm.bootstrap_interval(
                fidm.frechet_distance, gen, rf, groups, rg, n_boot=n_boot, progress=progress
            )
            size = min(kid_subset_size, len(gen), len(rf))
            out["kid"], out["kid_std"] = fidm.kid(gen, rf, subset_size=size)
            out["kid_subset"] = float(size)
            out["fid_frames"] = float(len(gen))
    if acc.short:
        notes.append(
            f"FVD left out for {set_name}: {len(acc.short)} video(s) shorter than the {clip_frames}-frame clip, "
            f"e.g. {acc.short[0]}; lower --fvd-frames (at least {fvdm.MIN_FRAMES}) or leave them out"
        )
    elif acc.i3d and "i3d" in real:
        gen = np.concatenate(acc.i3d)
        rf, _ = real["i3d"]
        if len(gen) < 2:
            notes.append(
                f"FVD left out for {set_name}: it needs at least 2 clips, the set has {len(gen)}"
            )
        else:
            out["fvd"] = fvdm.fvd(gen, rf)
            out["fvd_lo"], out["fvd_hi"] = fidm.bootstrap_interval(
                fidm.frechet_distance, gen, rf, n_boot=n_boot, progress=progress
            )
            out["fvd_clips"] = float(len(gen))
    return out


def column_tags(columns: Sequence[str], embedder: str) -> tuple[dict[str, str], list[str]]:
    """Header renames marking the weights each column needs, and the tables' notes."""
    need = {
        "fid": "inception", "fid_lo": "inception", "fid_hi": "inception", "kid": "inception",
        "kid_std": "inception", "lpips_alex": "lpips_alex", "flicker_alex": "lpips_alex",
        "lpips_vgg": "lpips_vgg", "flicker_vgg": "lpips_vgg", "fvd": "i3d", "fvd_lo": "i3d",
        "fvd_hi": "i3d", "csim": "identity", "aed": "identity", "leakage": "identity",
    }  # fmt: skip
    rename, used = {}, []
    for c in columns:
        if c in need:
            tag = TAGS[need[c]]
            rename[c] = f"{c} [{tag}]"
            if need[c] not in used:
                used.append(need[c])
    text = {
        "inception": f"[Inc] Inception-v3 of the FID convention (--inception {fidm.INCEPTION_FILE}); "
        "fid_lo/fid_hi: 95 % bootstrap interval over videos",
        "lpips_alex": "[Alex] LPIPS v0.1 AlexNet (--alexnet alexnet-owt-7be5be79.pth, --lpips-dir alex.pth)",
        "lpips_vgg": "[VGG] LPIPS v0.1 VGG-16 (--vgg16 vgg16-397923af.pth, --lpips-dir vgg.pth)",
        "i3d": f"[I3D] VideoGPT's I3D, FVD in VideoGPT's convention (--i3d {fvdm.I3D_FILE}); "
        "fvd_lo/fvd_hi: 95 % bootstrap interval over clips",
        "identity": f"[Id] identity embedding: {embedder or 'ArcFace or FaceNet'} (--arcface or --facenet)",
    }
    return rename, [text[k] for k in used]


class PublishedRun:
    """The published-table metrics over the sets of one `fme eval metrics` run: per-video
    values through `video_extra`, per-set values from `finish_set`."""

    def __init__(self, nets: Nets, real: dict, track, clip_frames: int = fvdm.CLIP_FRAMES, n_boot: int = 200,
                 kid_subset_size: int = fidm.KID_SUBSET_SIZE, progress: bool = True):  # fmt: skip
        self.nets, self.real, self.track = nets, real, track
        self.clip_frames, self.n_boot, self.kid_subset_size = clip_frames, n_boot, kid_subset_size
        self.progress = progress
        self.acc = SetAccumulator()
        self.notes: list[str] = list(nets.notes)
        self._driver_cache: dict = {}

    def start_set(self) -> None:
        self.acc = SetAccumulator()

    def _landmarks(self, frames):
        try:
            return self.track(frames)
        except FMEError:
            return None

    def driver_embedding(self, key: str, frames: np.ndarray | None) -> np.ndarray | None:
        """Mean unit embedding of up to 8 evenly spaced frames of the driving clip."""
        if self.nets.embedder is None or frames is None or not len(frames):
            return None
        if key not in self._driver_cache:
            pick = frames[
                np.unique(np.linspace(0, len(frames) - 1, min(8, len(frames))).astype(int))
            ]
            lm = self._landmarks(pick)
            if lm is None:
                self._driver_cache[key] = None
            else:
                e = embed_frames(self.nets, pick, lm).mean(0)
                self._driver_cache[key] = e / max(np.linalg.norm(e), 1e-12)
        return self._driver_cache[key]

    def video_extra(self, name: str, target, truth, driving_key: str = "", driving_frames=None):
        """The callable `objective.video_metrics` runs with the video's frames and landmarks."""

        def extra(frames: np.ndarray, landmarks: np.ndarray) -> dict[str, float]:
            self.acc.add(self.nets, name, frames, self.clip_frames)
            need_faces = self.nets.embedder is not None
            tlm = self._landmarks(target[None]) if (target is not None and need_faces) else None
            trlm = self._landmarks(truth) if truth is not None else None
            drv = self.driver_embedding(driving_key, driving_frames) if driving_key else None
            return video_values(
                self.nets,
                frames,
                landmarks,
                target,
                None if tlm is None else tlm[0],
                truth,
                trlm,
                drv,
            )

        return extra

    def finish_set(self, set_name: str) -> dict[str, float]:
        return set_values(
            self.acc, self.real, set_name, self.clip_frames, self.n_boot, self.kid_subset_size, self.notes,
            self.progress,
        )  # fmt: skip
