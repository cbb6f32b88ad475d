"""FID and KID with the Inception-v3 of the FID convention, and the Fréchet distance.

The network is the "FID Inception" of the TensorFlow FID code as pytorch-fid publishes it
(`pt_inception-2015-12-05-6726825d.pth`): an Inception-v3 whose module names are those of that
file, so it loads with `strict=True`, and whose blocks keep the TensorFlow graph's quirks
(average pools that ignore padded zeros; max pooling in the last block's pool branch).
Features are the 2048-D outputs of the final average pool ("pool3") computed as pytorch-fid
does: RGB in [0, 1], bilinear resize to 299 x 299 (`align_corners=False`), scaled to [-1, 1].

FID is the Fréchet distance of two Gaussians fitted to the feature sets (pytorch-fid's
`calculate_frechet_distance`). KID is torch-fidelity's: the unbiased MMD^2 with the
polynomial kernel (x.y/d + 1)^3, averaged over random subsets drawn by
`numpy.random.RandomState(seed).choice(n, size, replace=False)`, first set then second.

Nothing here downloads: the weights come from a path the user gives.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from fme.core.errors import ConfigError, DataError

#: the file name pytorch-fid and torch-fidelity publish the weights under
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
POOL3_DIM = 2048
#: torch-fidelity's KID defaults (subsets, subset size, kernel degree, coef0, rng seed)
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_DEGREE = 3
KID_COEF0 = 1.0
KID_SEED = 2020


def _torch():
    import torch

    return torch


def _build_inception():
    """The FID Inception-v3 as an `nn.Module` (random weights; load a state dict into it)."""
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class Conv(nn.Module):
        """Convolution without bias, batch norm (eps 1e-3), ReLU: the names `conv`, `bn`."""

        def __init__(self, cin, cout, kernel, stride=1, padding=0):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    def avg3(x):
        # TensorFlow's average pool: padded zeros do not count
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

    class BlockA(nn.Module):
        def __init__(self, cin, pool):
            super().__init__()
            self.branch1x1 = Conv(cin, 64, 1)
            self.branch5x5_1 = Conv(cin, 48, 1)
            self.branch5x5_2 = Conv(48, 64, 5, padding=2)
            self.branch3x3dbl_1 = Conv(cin, 64, 1)
            self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
            self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
            self.branch_pool = Conv(cin, pool, 1)

        def forward(self, x):
            a = self.branch1x1(x)
            b = self.branch5x5_2(self.branch5x5_1(x))
            c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            d = self.branch_pool(avg3(x))
            return torch.cat([a, b, c, d], 1)

    class BlockB(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.branch3x3 = Conv(cin, 384, 3, stride=2)
            self.branch3x3dbl_1 = Conv(cin, 64, 1)
            self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
            self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

        def forward(self, x):
            a = self.branch3x3(x)
            b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)

    class BlockC(nn.Module):
        def __init__(self, cin, c7):
            super().__init__()
            self.branch1x1 = Conv(cin, 192, 1)
            self.branch7x7_1 = Conv(cin, c7, 1)
            self.branch7x7_2 = Conv(c7, c7, (1, 7), padding=(0, 3))
            self.branch7x7_3 = Conv(c7, 192, (7, 1), padding=(3, 0))
            self.branch7x7dbl_1 = Conv(cin, c7, 1)
            self.branch7x7dbl_2 = Conv(c7, c7, (7, 1), padding=(3, 0))
            self.branch7x7dbl_3 = Conv(c7, c7, (1, 7), padding=(0, 3))
            self.branch7x7dbl_4 = Conv(c7, c7, (7, 1), padding=(3, 0))
            self.branch7x7dbl_5 = Conv(c7, 192, (1, 7), padding=(0, 3))
            self.branch_pool = Conv(cin, 192, 1)

        def forward(self, x):
            a = self.branch1x1(x)
            b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            c = x
            for i in range(1, 6):
                c = getattr(self, f"branch7x7dbl_{i}")(c)
            d = self.branch_pool(avg3(x))
            return torch.cat([a, b, c, d], 1)

    class BlockD(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.branch3x3_1 = Conv(cin, 192, 1)
            self.branch3x3_2 = Conv(192, 320, 3, stride=2)
            self.branch7x7x3_1 = Conv(cin, 192, 1)
            self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
            self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
            self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

        def forward(self, x):
            a = self.branch3x3_2(self.branch3x3_1(x))
            b = x
            for i in range(1, 5):
                b = getattr(self, f"branch7x7x3_{i}")(b)
            return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)

    class BlockE(nn.Module):
        def __init__(self, cin, max_pool):
            super().__init__()
            self.max_pool = max_pool
            self.branch1x1 = Conv(cin, 320, 1)
            self.branch3x3_1 = Conv(cin, 384, 1)
            self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
            self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
            self.branch3x3dbl_1 = Conv(cin, 448, 1)
            self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
            self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
            self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
            self.branch_pool = Conv(cin, 192, 1)

        def forward(self, x):
            a = self.branch1x1(x)
            b = self.branch3x3_1(x)
            b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
            c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
            # the FID graph's last block max-pools here; the others average (no padded zeros)
            p = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else avg3(x)
            return torch.cat([a, b, c, self.branch_pool(p)], 1)

    class FIDInception(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
            self.Conv2d_2a_3x3 = Conv(32, 32, 3)
            self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
            self.Conv2d_3b_1x1 = Conv(64, 80, 1)
            self.Conv2d_4a_3x3 = Conv(80, 192, 3)
            self.Mixed_5b = BlockA(192, 32)
            self.Mixed_5c = BlockA(256, 64)
            self.Mixed_5d = BlockA(288, 64)
            self.Mixed_6a = BlockB(288)
            self.Mixed_6b = BlockC(768, 128)
            self.Mixed_6c = BlockC(768, 160)
            self.Mixed_6d = BlockC(768, 160)
            self.Mixed_6e = BlockC(768, 192)
            self.Mixed_7a = BlockD(768)
            self.Mixed_7b = BlockE(1280, max_pool=False)
            self.Mixed_7c = BlockE(2048, max_pool=True)
            # the classifier of the published file (1008 classes); pool3 does not use it
            self.fc = nn.Linear(2048, 1008)

        def forward(self, x):
            """`x`: N x 3 x H x W RGB in [0, 1] -> N x 2048 pool3 features."""
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            x = 2 * x - 1
            x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
            x = F.max_pool2d(x, 3, stride=2)
            x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
            x = F.max_pool2d(x, 3, stride=2)
            for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
                x = getattr(self, f"Mixed_{name}")(x)
            return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)

    return FIDInception()


def fid_inception(state_dict=None):
    """The FID Inception-v3 in eval mode, with `state_dict` loaded (strict) when given."""
    net = _build_inception()
    if state_dict is not None:
        net.load_state_dict(state_dict, strict=True)
    return net.eval()


def load_state(path: str | Path, option: str) -> dict:
    """A state dict from `path` (a plain state dict, or one under "state_dict"/"model");
    one clear line naming `option` when it is missing or unreadable."""
    torch = _torch()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"weights file not found; give an existing file with {option}", path=p)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise ConfigError(
            f"not a torch weights file ({type(err).__name__}); check {option}", path=p
        ) from err
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ConfigError(f"holds no state dict; check {option}", path=p)
    return obj


def load_inception(path: str | Path, option: str = "--inception"):
    """The FID Inception from a `pt_inception-2015-12-05-*.pth` file (names checked)."""
    sd = load_state(path, option)
    net = _build_inception()
    want, have = set(net.state_dict()), set(sd)
    if want != have:
        missing = sorted(want - have)[:3]
        raise ConfigError(
            f"is not the FID Inception-v3 ({len(want - have)} keys missing, e.g. {missing}); "
            f"give {INCEPTION_FILE} with {option}",
            path=path,
        )
    net.load_state_dict(sd, strict=True)
    return net.eval()


def _as_float_batch(frames: np.ndarray):
    torch = _torch()
    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise DataError(f"frames must be N x H x W x 3 RGB, got shape {a.shape}")
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)
    return x.float() / 255.0 if a.dtype == np.uint8 else x.float()


def pool3_features(net, frames: np.ndarray, batch: int = 32) -> np.ndarray:
    """pool3 features (N x 2048, float32) of RGB frames (N x H x W x 3; uint8, or float in
    [0, 1]), with the convention's resize to 299 and scaling to [-1, 1]."""
    torch = _torch()
    x = _as_float_batch(frames)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(net(x[i : i + batch]).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, POOL3_DIM), np.float32)


# ---------------------------------------------------------------- distances


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of a feature set, in float64 (as numpy's cov)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    if len(f) < 2:
        raise DataError(f"a Fréchet distance needs at least 2 samples per set, got {len(f)}")
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_from_stats(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), with the matrix root by
    `scipy.linalg.sqrtm` and pytorch-fid's safeguards (an eps offset when the product is
    singular; an imaginary part that is not negligible is an error)."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    s1, s2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise DataError(
                f"the covariance product has a large imaginary root ({np.abs(covmean.imag).max():.3g})"
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def frechet_from_cov(mu1, sigma1, mu2, sigma2) -> float:
    """The Fréchet distance with tr (S1 S2)^(1/2) = sum of the square roots of the
    eigenvalues of S1^(1/2) S2 S1^(1/2) (symmetric, positive semi-definite)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    s1, s2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.linalg.eigvalsh(root @ s2 @ root)
    diff = mu1 - mu2
    return float(
        diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum()
    )


def frechet_distance(x1: np.ndarray, x2: np.ndarray) -> float:
    """The Fréchet distance of two feature sets (rows are samples).

    When both sets have fewer samples than dimensions (the usual case for a few hundred
    frames against 2048-D features) it is computed exactly from the samples:
    tr (S1 S2)^(1/2) is the nuclear norm of A1 A2^T with Ai the centred features over
    sqrt(ni - 1), which avoids the d x d matrix root of a rank-deficient product; otherwise
    by `frechet_from_cov` (symmetric eigendecompositions, seconds where scipy's general
    `sqrtm` of pytorch-fid takes a minute at d = 2048). All agree with
    `frechet_from_stats` (pytorch-fid's procedure) to rounding; the tests check it."""
    a = np.asarray(x1, dtype=np.float64)
    b = np.asarray(x2, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise DataError(
            f"a Fréchet distance needs at least 2 samples per set, got {len(a)} and {len(b)}"
        )
    if a.shape[1] != b.shape[1]:
        raise DataError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}")
    if max(len(a), len(b)) >= a.shape[1]:
        return frechet_from_cov(*gaussian_stats(a), *gaussian_stats(b))
    mu1, mu2 = a.mean(0), b.mean(0)
    A = (a - mu1) / math.sqrt(len(a) - 1)
    B = (b - mu2) / math.sqrt(len(b) - 1)
    nuclear = np.linalg.svd(A @ B.T, compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + (A * A).sum() + (B * B).sum() - 2 * nuclear)


def _poly_kernel(x, y, degree, gamma, coef0):
    return (x @ y.T * gamma + coef0) ** degree


def _mmd2_unbiased(kxx, kxy, kyy) -> float:
    m = kxx.shape[0]
    sxx = kxx.sum() - np.trace(kxx)
    syy = kyy.sum() - np.trace(kyy)
    return float((sxx + syy) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def kid(
    x1: np.ndarray,
    x2: np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int | None = KID_SUBSET_SIZE,
    degree: int = KID_DEGREE,
    coef0: float = KID_COEF0,
    seed: int = KID_SEED,
) -> tuple[float, float]:
    """KID (mean, std over subsets) as torch-fidelity computes it. `subset_size` larger
    than a set is lowered to the smaller set's size (torch-fidelity refuses instead); the
    caller reports the size used."""
    a = np.asarray(x1, dtype=np.float32)
    b = np.asarray(x2, dtype=np.float32)
    size = min(subset_size or len(a), len(a), len(b))
    if size < 2:
        raise DataError(f"KID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    gamma = 1.0 / a.shape[1]
    rng = np.random.RandomState(seed)
    vals = np.zeros(subsets)
    for i in range(subsets):
        f1 = a[rng.choice(len(a), size, replace=False)]
        f2 = b[rng.choice(len(b), size, replace=False)]
        vals[i] = _mmd2_unbiased(
            _poly_kernel(f1, f1, degree, gamma, coef0),
            _poly_kernel(f1, f2, degree, gamma, coef0),
            _poly_kernel(f2, f2, degree, gamma, coef0),
        )
    return float(vals.mean()), float(vals.std())


def bootstrap_interval(
    stat: Callable[[np.ndarray, np.ndarray], float],
    x1: np.ndarray,
    x2: np.ndarray,
    groups1: Sequence | None = None,
    groups2: Sequence | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat(x1, x2)`, resampling both sets with
    replacement. With `groups` (e.g. the video each frame came from), whole groups are
    resampled (a cluster bootstrap: frames of one video are not independent)."""
    rng = np.random.default_rng(seed)

    def index_sets(groups, n):
        if groups is None:
            return [np.array([i]) for i in range(n)]
        by: dict = {}
        for i, g in enumerate(groups):
            by.setdefault(g, []).append(i)
        return [np.array(v) for v in by.values()]

    s1, s2 = index_sets(groups1, len(x1)), index_sets(groups2, len(x2))
    it: Iterable[int] = range(n_boot)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="bootstrap", unit="draw", leave=False)
    vals = []
    for _ in it:
        i1 = np.concatenate([s1[k] for k in rng.integers(0, len(s1), len(s1))])
        i2 = np.concatenate([s2[k] for k in rng.integers(0, len(s2), len(s2))])
        try:
            vals.append(stat(x1[i1], x2[i2]))
        except DataError:
            continue
    if not vals:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


# ---------------------------------------------------------------- feature cache


def features_digest(items: Iterable[str], model_path: str | Path, extra: str = "") -> str:
    """A key for cached features: the inputs' names/sizes/times, the weights file's
    size/time and the convention's parameters."""
    h = hashlib.sha256()
    for s in items:
        h.update(s.encode())
        h.update(b"\0")
    mp = Path(model_path)
    st = mp.stat()
    h.update(f"{mp.resolve()}|{st.st_size}|{st.st_mtime_ns}|{extra}".encode())
    return h.hexdigest()[:20]


def cached_features(
    cache_dir: str | Path | None, kind: str, key: str, compute: Callable[[], np.ndarray]
) -> np.ndarray:
    """`compute()` once per key: saved as `<cache_dir>/<kind>-<key>.npy` (written whole,
    through a temporary file); None for no cache."""
    if cache_dir is None:
        return compute()
    d = Path(cache_dir)
    path = d / f"{kind}-{key}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    feats = compute()
    d.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, feats)
    tmp.replace(path)
    return feats
