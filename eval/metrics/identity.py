"""Identity metrics with an ArcFace embedding: CSIM, AED, AKD and identity leakage.

The embedding network is InsightFace's `arcface_torch` IResNet (iresnet50 / iresnet100)
under that code's module names, so its released `backbone.pth` files load strictly. Those
released models are for non-commercial research only (InsightFace's licence): the user
supplies the file and its terms (`--arcface PATH`). A face is aligned to ArcFace's 112 x 112
five-point template by a least-squares similarity transform from dlib's 68 landmarks (eye
centres, nose tip, mouth corners), then scaled to [-1, 1] as arcface_torch's inference does.

- CSIM: cosine similarity of the embeddings of a generated frame and the source (target)
  face, averaged over frames (higher = identity kept).
- AED (FOMM's protocol): mean L2 distance between the (unit-normalised) embeddings of
  generated and driving frames in reconstruction (same identity); FOMM used OpenFace's
  embedding, this uses ArcFace's: say so when comparing.
- AKD (FOMM's protocol): mean distance in pixels between the landmarks of generated and
  driving frames; FOMM used face-alignment's 68 points, this uses dlib's 68 points (the same
  iBUG layout, a different detector).
- identity leakage (cross-identity): cos(generated, driver) - cos(generated, target), per
  video; above 0 means the generated face looks more like the driving subject than like the
  face it should keep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.metrics.fid import load_state
from fme.core.errors import ConfigError, DataError

#: ArcFace's five-point template in a 112 x 112 crop (insightface's `arcface_dst`):
#: left eye, right eye, nose tip, left and right mouth corners (x, y)
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
#: the names the weights are looked for under (arcface_torch saves `backbone.pth`)
ARCFACE_FILE = "arcface_backbone.pth"
ARCFACE_GLOBS = ("arcface_backbone.pth", "backbone.pth", "*arcface*.pth", "*cosface*.pth")
FACENET_FILE = "20180402-114759-vggface2.pt"
LAYERS = {
    "iresnet18": (2, 2, 2, 2),
    "iresnet34": (3, 4, 6, 3),
    "iresnet50": (3, 4, 14, 3),
    "iresnet100": (3, 13, 30, 3),
}


def build_iresnet(arch: str = "iresnet50"):
    """arcface_torch's IResNet (random weights, eval mode): 112 x 112 -> 512-D."""
    import torch.nn as nn

    if arch not in LAYERS:
        raise ConfigError(f"unknown ArcFace backbone {arch!r}; choose one of {', '.join(LAYERS)}")

    class Block(nn.Module):
        def __init__(self, cin, c, stride):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
            self.conv1 = nn.Conv2d(cin, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c, eps=1e-5)
            self.prelu = nn.PReLU(c)
            self.conv2 = nn.Conv2d(c, c, 3, stride=stride, padding=1, bias=False)
            self.bn3 = nn.BatchNorm2d(c, eps=1e-5)
            if stride != 1 or cin != c:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, c, 1, stride=stride, bias=False), nn.BatchNorm2d(c, eps=1e-5)
                )
            else:
                self.downsample = None

        def forward(self, x):
            out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
            return out + (self.downsample(x) if self.downsample is not None else x)

    class IResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
            self.prelu = nn.PReLU(64)
            cin = 64
            for i, (c, n) in enumerate(zip((64, 128, 256, 512), LAYERS[arch])):
                blocks = [Block(cin, c, 2)] + [Block(c, c, 1) for _ in range(n - 1)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                cin = c
            self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
            self.fc = nn.Linear(512 * 7 * 7, 512)
            self.features = nn.BatchNorm1d(512, eps=1e-5)

        def forward(self, x):
            x = self.prelu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.features(self.fc(self.bn2(x).flatten(1)))

    return IResNet().eval()


def build_facenet():
    """facenet-pytorch's InceptionResnetV1 (embedding mode; random weights, eval mode):
    160 x 160 -> unit 512-D. Its VGGFace2 file (`20180402-114759-vggface2.pt`, MIT) is the
    free alternative to ArcFace."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Conv(nn.Module):
        def __init__(self, cin, cout, kernel, stride=1, padding=0):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    class Residual(nn.Module):
        """Inception-ResNet block: branches -> concat -> 1x1 up -> x + scale * up (-> ReLU)."""

        def __init__(self, branches, cat, cout, scale, relu=True):
            super().__init__()
            for i, b in enumerate(branches):
                setattr(self, f"branch{i}", b)
            self.n, self.scale, self.use_relu = len(branches), scale, relu
            self.conv2d = nn.Conv2d(cat, cout, 1)

        def forward(self, x):
            out = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n)], 1)
            out = self.conv2d(out) * self.scale + x
            return F.relu(out) if self.use_relu else out

    def block35():
        return Residual(
            [Conv(256, 32, 1), nn.Sequential(Conv(256, 32, 1), Conv(32, 32, 3, padding=1)),
             nn.Sequential(Conv(256, 32, 1), Conv(32, 32, 3, padding=1), Conv(32, 32, 3, padding=1))],
            96, 256, 0.17,
        )  # fmt: skip

    def block17():
        return Residual(
            [Conv(896, 128, 1),
             nn.Sequential(Conv(896, 128, 1), Conv(128, 128, (1, 7), padding=(0, 3)), Conv(128, 128, (7, 1), padding=(3, 0)))],
            256, 896, 0.10,
        )  # fmt: skip

    def block8(scale=0.20, relu=True):
        return Residual(
            [Conv(1792, 192, 1),
             nn.Sequential(Conv(1792, 192, 1), Conv(192, 192, (1, 3), padding=(0, 1)), Conv(192, 192, (3, 1), padding=(1, 0)))],
            384, 1792, scale, relu,
        )  # fmt: skip

    class Cat(nn.Module):
        def __init__(self, *branches):
            super().__init__()
            for i, b in enumerate(branches):
                setattr(self, f"branch{i}", b)
            self.n = len(branches)

        def forward(self, x):
            return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n)], 1)

    class InceptionResnetV1(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv2d_1a = Conv(3, 32, 3, stride=2)
            self.conv2d_2a = Conv(32, 32, 3)
            self.conv2d_2b = Conv(32, 64, 3, padding=1)
            self.conv2d_3b = Conv(64, 80, 1)
            self.conv2d_4a = Conv(80, 192, 3)
            self.conv2d_4b = Conv(192, 256, 3, stride=2)
            self.repeat_1 = nn.Sequential(*[block35() for _ in range(5)])
            self.mixed_6a = Cat(
                Conv(256, 384, 3, stride=2),
                nn.Sequential(
                    Conv(256, 192, 1), Conv(192, 192, 3, padding=1), Conv(192, 256, 3, stride=2)
                ),
                nn.MaxPool2d(3, stride=2),
            )
            self.repeat_2 = nn.Sequential(*[block17() for _ in range(10)])
            self.mixed_7a = Cat(
                nn.Sequential(Conv(896, 256, 1), Conv(256, 384, 3, stride=2)),
                nn.Sequential(Conv(896, 256, 1), Conv(256, 256, 3, stride=2)),
                nn.Sequential(
                    Conv(896, 256, 1), Conv(256, 256, 3, padding=1), Conv(256, 256, 3, stride=2)
                ),
                nn.MaxPool2d(3, stride=2),
            )
            self.repeat_3 = nn.Sequential(*[block8() for _ in range(5)])
            self.block8 = block8(scale=1.0, relu=False)
            self.last_linear = nn.Linear(1792, 512, bias=False)
            self.last_bn = nn.BatchNorm1d(512, eps=0.001)

        def forward(self, x):
            x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
            x = F.max_pool2d(x, 3, stride=2)
            x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(x)))
            x = self.repeat_3(self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x)))))
            x = F.adaptive_avg_pool2d(self.block8(x), 1).flatten(1)
            return F.normalize(self.last_bn(self.last_linear(x)), p=2, dim=1)

    return InceptionResnetV1().eval()


def load_facenet(path: str | Path, option: str = "--facenet"):
    """InceptionResnetV1 from a facenet-pytorch state dict (its `logits.*` classifier keys,
    present in the released files, are ignored)."""
    sd = {k: v for k, v in load_state(path, option).items() if not k.startswith("logits.")}
    net = build_facenet()
    if set(sd) != set(net.state_dict()):
        raise ConfigError(
            "is not facenet-pytorch's InceptionResnetV1 (keys differ); give 20180402-114759-vggface2.pt "
            f"with {option}",
            path=path,
        )
    net.load_state_dict(sd, strict=True)
    return net.eval()


def load_arcface(path: str | Path, option: str = "--arcface"):
    """An IResNet from an arcface_torch `backbone.pth`; the depth is read from the keys."""
    sd = load_state(path, option)
    depth = {}
    for k in sd:
        parts = k.split(".")
        if parts[0].startswith("layer") and len(parts) > 2 and parts[1].isdigit():
            depth[parts[0]] = max(depth.get(parts[0], 0), int(parts[1]) + 1)
    layers = tuple(depth.get(f"layer{i}", 0) for i in range(1, 5))
    arch = next((a for a, n in LAYERS.items() if n == layers), None)
    if arch is None:
        raise ConfigError(
            f"is not an arcface_torch IResNet backbone (blocks per stage {layers}); give its backbone.pth with {option}",
            path=path,
        )
    net = build_iresnet(arch)
    if set(sd) != set(net.state_dict()):
        raise ConfigError(
            f"does not match arcface_torch's {arch} (keys differ); check {option}", path=path
        )
    net.load_state_dict(sd, strict=True)
    return net.eval()


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """ArcFace's five points from dlib's 68 (iBUG): eye centres, nose tip, mouth corners."""
    p = np.asarray(landmarks68, dtype=np.float64)
    if p.shape != (68, 2):
        raise DataError(f"expected 68 x 2 landmarks, got {p.shape}")
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 least-squares similarity (rotation, uniform scale, shift) src -> dst
    (Umeyama's closed form, as skimage's SimilarityTransform.estimate)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    cov = d.T @ s / len(src)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    r = u @ np.diag(sign) @ vt
    scale = (sv * sign).sum() / s.var(0).sum()
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - scale * r @ ms
    return m


def align(frame: np.ndarray, landmarks68: np.ndarray, size: int = 112) -> np.ndarray:
    """The 112 x 112 ArcFace crop (uint8 RGB) of `frame` (bilinear warp)."""
    from PIL import Image

    m = similarity_transform(five_points(landmarks68), ARCFACE_TEMPLATE * (size / 112.0))
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]  # PIL maps output -> input
    img = Image.fromarray(np.asarray(frame, np.uint8))
    out = img.transform(
        (size, size), Image.AFFINE, data=tuple(inv.flatten()), resample=Image.BILINEAR
    )
    return np.asarray(out)


def embed(net, crops: np.ndarray, batch: int = 32) -> np.ndarray:
    """Unit-normalised embeddings (N x 512) of aligned 112 x 112 RGB crops (uint8)."""
    import torch

    a = np.asarray(crops)
    if a.ndim == 3:
        a = a[None]
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(net((x[i : i + batch] / 255.0 - 0.5) / 0.5).numpy())
    e = np.concatenate(out).astype(np.float64) if out else np.zeros((0, 512))
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def csim(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean cosine similarity of generated embeddings (N x D, unit) to one reference
    embedding (D,) or to a paired set (N x D)."""
    g = np.asarray(generated, np.float64)
    r = np.asarray(reference, np.float64)
    return float(np.mean(g @ r) if r.ndim == 1 else np.mean((g * r).sum(1)))


def aed(generated: np.ndarray, driving: np.ndarray) -> float:
    """Mean L2 distance of paired unit embeddings (FOMM's AED with ArcFace)."""
    g, d = np.asarray(generated, np.float64), np.asarray(driving, np.float64)
    if g.shape != d.shape:
        raise DataError(f"AED pairs frames: {g.shape} and {d.shape}")
    return float(np.linalg.norm(g - d, axis=1).mean())


def akd(generated_landmarks: np.ndarray, driving_landmarks: np.ndarray) -> float:
    """Mean distance (pixels) of paired landmarks, over points and frames (FOMM's AKD)."""
    g = np.asarray(generated_landmarks, np.float64)
    d = np.asarray(driving_landmarks, np.float64)
    if g.shape != d.shape:
        raise DataError(f"AKD pairs landmarks: {g.shape} and {d.shape}")
    return float(np.linalg.norm(g - d, axis=-1).mean())


def leakage(generated: np.ndarray, driver: np.ndarray, target: np.ndarray) -> float:
    """cos(generated, driver) - cos(generated, target), averaged over frames."""
    return csim(generated, driver) - csim(generated, target)


def embed_facenet(net, crops: np.ndarray, batch: int = 32) -> np.ndarray:
    """Unit embeddings (N x 512) of 160 x 160 RGB crops (uint8), standardised as
    facenet-pytorch's `fixed_image_standardization` ((x - 127.5) / 128)."""
    import torch

    a = np.asarray(crops)
    if a.ndim == 3:
        a = a[None]
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(net((x[i : i + batch] - 127.5) / 128.0).numpy())
    e = np.concatenate(out).astype(np.float64) if out else np.zeros((0, 512))
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
