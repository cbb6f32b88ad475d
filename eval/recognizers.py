"""3D-CNN recognizers: R3D-18, MC3-18 and R(2+1)D-18 as one generic VideoResNet.

The three architectures differ only in data (the convolution of each stage and the stem),
as in torchvision's `models/video/resnet.py`. Module names and parameter shapes follow
torchvision's scheme (`stem.0.weight`, `layer1.0.conv1.0.weight`, `layer2.0.downsample.0`,
`fc.weight`, ...), so a torchvision Kinetics-400 state dict loads with `load_kinetics`.
With 400 classes the parameter counts are 33,371,472 (R3D-18), 11,695,440 (MC3-18) and
31,505,325 (R(2+1)D-18). `width` scales every channel count for small CPU runs (1.0 is
the published network).

Input: float (B, 3, T, H, W), RGB normalised with `eval.clips.MEAN` / `STD`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fme.core.errors import ConfigError
from fme.core.outputs import atomic_open

BACKBONES: tuple[str, ...] = ("r3d_18", "mc3_18", "r2plus1d_18")
# Names in the paper's tables.
DISPLAY_NAMES: dict[str, str] = {
    "mc3_18": "MC3-18",
    "r2plus1d_18": "R(2+1)D-18",
    "r3d_18": "R3D-18",
}


def _midplanes(inplanes: int, planes: int) -> int:
    """R(2+1)D's intermediate width: the (2+1)D factorisation has as many parameters as
    the full 3x3x3 convolution it replaces (torchvision's formula)."""
    return (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)


class Conv3DSimple(nn.Conv3d):
    """Full 3x3x3 convolution (R3D, and MC3's first stage)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1):
        super().__init__(in_planes, out_planes, (3, 3, 3), stride=stride, padding=1, bias=False)

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (stride, stride, stride)


class Conv3DNoTemporal(nn.Conv3d):
    """1x3x3 convolution: no temporal extent (MC3's later stages)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1):
        super().__init__(
            in_planes,
            out_planes,
            (1, 3, 3),
            stride=(1, stride, stride),
            padding=(0, 1, 1),
            bias=False,
        )

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (1, stride, stride)


class Conv2Plus1D(nn.Sequential):
    """Spatial 1x3x3 then temporal 3x1x1 convolution with BN+ReLU between (R(2+1)D)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1):
        super().__init__(
            nn.Conv3d(
                in_planes,
                midplanes,
                (1, 3, 3),
                stride=(1, stride, stride),
                padding=(0, 1, 1),
                bias=False,
            ),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(
                midplanes,
                out_planes,
                (3, 1, 1),
                stride=(stride, 1, 1),
                padding=(1, 0, 0),
                bias=False,
            ),
        )

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (stride, stride, stride)


ConvBuilder = Callable[..., nn.Module]


class BasicBlock(nn.Module):
    """Two convolutions with BN and a residual connection (`conv1`, `conv2`, `downsample`)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        conv_builder: ConvBuilder,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        mid = _midplanes(inplanes, planes)
        self.conv1 = nn.Sequential(
            conv_builder(inplanes, planes, mid, stride),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(conv_builder(planes, planes, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


def basic_stem(width: int) -> nn.Sequential:
    """3x7x7 convolution, stride (1, 2, 2) (R3D and MC3)."""
    return nn.Sequential(
        nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def r2plus1d_stem(width: int, mid: int) -> nn.Sequential:
    """1x7x7 spatial then 3x1x1 temporal convolution (R(2+1)D; 45 middle channels)."""
    return nn.Sequential(
        nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


@dataclass(frozen=True)
class Architecture:
    """What distinguishes one VideoResNet from another: data, not code."""

    name: str
    stem: str  # "basic" or "r2plus1d"
    stages: tuple[ConvBuilder, ConvBuilder, ConvBuilder, ConvBuilder]
    blocks: tuple[int, int, int, int] = (2, 2, 2, 2)


ARCHITECTURES: dict[str, Architecture] = {
    "r3d_18": Architecture("r3d_18", "basic", (Conv3DSimple,) * 4),
    "mc3_18": Architecture("mc3_18", "basic", (Conv3DSimple,) + (Conv3DNoTemporal,) * 3),
    "r2plus1d_18": Architecture("r2plus1d_18", "r2plus1d", (Conv2Plus1D,) * 4),
}


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class VideoResNet(nn.Module):
    """The generic 18-layer video ResNet; `arch` picks the stem and each stage's conv."""

    def __init__(self, arch: Architecture, num_classes: int = 400, width: float = 1.0):
        super().__init__()
        self.arch_name = arch.name
        self.num_classes = num_classes
        self.width = width
        planes = [_scaled(c, width) for c in (64, 128, 256, 512)]
        if arch.stem == "r2plus1d":
            self.stem = r2plus1d_stem(planes[0], _scaled(45, width))
        else:
            self.stem = basic_stem(planes[0])
        self.inplanes = planes[0]
        self.layer1 = self._make_layer(arch.stages[0], planes[0], arch.blocks[0], 1)
        self.layer2 = self._make_layer(arch.stages[1], planes[1], arch.blocks[1], 2)
        self.layer3 = self._make_layer(arch.stages[2], planes[2], arch.blocks[2], 2)
        self.layer4 = self._make_layer(arch.stages[3], planes[3], arch.blocks[3], 2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(planes[3], num_classes)
        self._init_weights()

    def _make_layer(
        self, conv_builder: ConvBuilder, planes: int, blocks: int, stride: int
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(
                    self.inplanes,
                    planes,
                    kernel_size=1,
                    stride=conv_builder.downsample_stride(stride),
                    bias=False,
                ),
                nn.BatchNorm3d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, conv_builder, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, conv_builder) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> logits (B, num_classes)."""
        return self.fc(self.features(x))


def r3d_18(num_classes: int = 400, width: float = 1.0) -> VideoResNet:
    return VideoResNet(ARCHITECTURES["r3d_18"], num_classes, width)


def mc3_18(num_classes: int = 400, width: float = 1.0) -> VideoResNet:
    return VideoResNet(ARCHITECTURES["mc3_18"], num_classes, width)


def r2plus1d_18(num_classes: int = 400, width: float = 1.0) -> VideoResNet:
    return VideoResNet(ARCHITECTURES["r2plus1d_18"], num_classes, width)


def build(name: str, num_classes: int, width: float = 1.0) -> VideoResNet:
    """A recognizer by backbone name (one of BACKBONES)."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if width <= 0:
        raise ConfigError(f"width must be positive, got {width}")
    return VideoResNet(ARCHITECTURES[name], num_classes, width)


def parse_backbones(text: str) -> list[str]:
    """ "r3d_18,mc3_18" -> ["r3d_18", "mc3_18"], checked against BACKBONES."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in ARCHITECTURES:
            raise ConfigError(f"unknown backbone {n!r}; choose from {', '.join(BACKBONES)}")
    if not names:
        raise ConfigError("no backbone given; choose from " + ", ".join(BACKBONES))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"--backbones names {', '.join(twice)} twice",
            hint="Name each backbone once (a second would overwrite the first's checkpoint).",
        )
    return names


def guess_architecture(state: dict[str, torch.Tensor]) -> str:
    """Which of BACKBONES a state dict (torchvision names) looks like, or "unknown"."""
    if "stem.3.weight" in state:
        return "r2plus1d_18"
    w = state.get("layer2.0.conv1.0.weight")
    if w is None or w.ndim != 5:
        return "unknown"
    return "mc3_18" if w.shape[2] == 1 else "r3d_18"


def state_dict_from(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(
            "not a state dict of tensors", path, "Give a torchvision video ResNet .pth file."
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def check_compatible(
    model: VideoResNet, state: dict[str, torch.Tensor], path: str | Path, skip_fc: bool = False
) -> None:
    """Raise ConfigError naming the file when `state` is not of `model`'s architecture."""
    own = model.state_dict()
    wrong = [
        k
        for k, v in own.items()
        if not (skip_fc and k.startswith("fc."))
        and (k not in state or tuple(state[k].shape) != tuple(v.shape))
    ]
    extra = [k for k in state if k not in own]
    if wrong or extra:
        found = guess_architecture(state)
        what = f"looks like {found}" if found != "unknown" else "is not a video ResNet-18"
        example = (wrong or extra)[0]
        raise ConfigError(
            f"checkpoint {what}, not {model.arch_name} at width {model.width} "
            f"({len(wrong)} missing or mis-shaped and {len(extra)} unexpected tensors, "
            f"e.g. {example!r})",
            path,
            f"Give a checkpoint of {model.arch_name} or choose the backbone it was made for.",
        )


def load_kinetics(model: VideoResNet, path: str | Path) -> list[str]:
    """Load a torchvision Kinetics-400 state dict (a `.pth` file) into `model`.

    The classifier (`fc`) is skipped when its shape differs (another number of classes);
    returns the names of the tensors left at their initial values. Another architecture or
    width raises ConfigError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("Kinetics weights not found", path, "Give the path of a .pth file.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds of unpickling errors
        raise ConfigError(f"cannot read weights ({err.__class__.__name__})", path) from err
    state = state_dict_from(obj, path)
    own = model.state_dict()
    fc_differs = any(
        k in state and tuple(state[k].shape) != tuple(own[k].shape)
        for k in ("fc.weight", "fc.bias")
    )
    if model.width != 1:
        full = build(model.arch_name, model.num_classes, 1.0).state_dict()
        if all(k in state and state[k].shape == v.shape for k, v in full.items() if "fc." not in k):
            raise ConfigError(
                f"Kinetics weights need --width 1 (the model is {model.arch_name} at width "
                f"{model.width:g})",
                path,
                "Drop --width or drop --kinetics.",
            )
    check_compatible(model, state, path, skip_fc=fc_differs)
    if fc_differs:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    model.load_state_dict(state, strict=not fc_differs)
    return ["fc.weight", "fc.bias"] if fc_differs else []


# ---- our own checkpoints -------------------------------------------------------------


@dataclass(frozen=True)
class RecognizerInfo:
    """What a recognizer checkpoint carries besides the weights: enough to rebuild it."""

    backbone: str
    width: float
    classes: tuple[str, ...]
    frames: int
    size: int = 112
    extra: dict[str, Any] | None = None
    # how frames become input (eval.clips.TRANSFORMS): "kinetics" for a recognizer that
    # started from Kinetics weights, "square" otherwise
    transform: str = "square"


def save_recognizer(path: str | Path, model: VideoResNet, info: RecognizerInfo) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": "fme-recognizer-1",
        "backbone": info.backbone,
        "width": info.width,
        "classes": list(info.classes),
        "frames": info.frames,
        "size": info.size,
        "transform": info.transform,
        "extra": info.extra or {},
        "state_dict": model.state_dict(),
    }
    with atomic_open(path, "wb") as fh:  # whole or not at all; ENOSPC named
        torch.save(payload, fh)
    return path


def load_recognizer(
    path: str | Path, expect_backbone: str | None = None
) -> tuple[VideoResNet, RecognizerInfo]:
    """Rebuild a recognizer saved by `save_recognizer` (eval mode, CPU).

    `expect_backbone` checks the checkpoint's architecture; a mismatch, a file that is not
    a recognizer checkpoint, or weights of another shape raise ConfigError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("recognizer checkpoint not found", path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ConfigError(f"cannot read checkpoint ({err.__class__.__name__})", path) from err
    if not isinstance(obj, dict) or obj.get("format") != "fme-recognizer-1":
        raise ConfigError(
            "not a recognizer checkpoint of `fme eval train-recognizers`",
            path,
            "Train one with `fme eval train-recognizers` or remove the file from the folder.",
        )
    info = RecognizerInfo(
        backbone=str(obj["backbone"]),
        width=float(obj["width"]),
        classes=tuple(obj["classes"]),
        frames=int(obj["frames"]),
        size=int(obj.get("size", 112)),
        extra=dict(obj.get("extra") or {}),
        transform=str(obj.get("transform", "square")),
    )
    if expect_backbone is not None and info.backbone != expect_backbone:
        raise ConfigError(
            f"checkpoint is {info.backbone}, expected {expect_backbone}",
            path,
            "Use the checkpoint trained for this backbone.",
        )
    if info.backbone not in ARCHITECTURES:
        raise ConfigError(f"checkpoint names unknown backbone {info.backbone!r}", path)
    model = build(info.backbone, len(info.classes), info.width)
    state = state_dict_from(obj["state_dict"], path)
    check_compatible(model, state, path)
    model.load_state_dict(state)
    model.eval()
    return model, info


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
