"""Training losses of the motion-transfer models.

- `Vgg19`: VGG19 features relu1_1..relu5_1 with torchvision's parameter names
  (`features.N.weight`), so torchvision's ImageNet file `vgg19-dcbb9e9d.pth` loads.
- `ReconstructionLoss`: the multi-scale perceptual loss over an image pyramid; without
  VGG weights, a multi-scale L1 pyramid in its place (with a logged warning).
- `RandomTransform`: random affine + thin-plate-spline warp for the equivariance terms.
- GAN terms (LSGAN as upstream, or hinge) and feature matching.

Nothing here downloads anything: VGG weights come from a path or from torch's hub
cache when that file already exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fme.core.errors import ConfigError, brief
from generation.models.blocks import AntiAliasInterpolation2d, grid_sample, make_coordinate_grid

log = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's vgg19 `features` up to relu5_1: (index, kind, in, out); "M" = max pool.
_VGG19_LAYOUT: tuple = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
)  # fmt: skip
#: indices in `features` of the ReLUs whose outputs are used: relu1_1 .. relu5_1
VGG19_SLICES: tuple[int, ...] = (1, 6, 11, 20, 29)


class Vgg19(nn.Module):
    """VGG19 `features[0:30]` (relu1_1..relu5_1) on ImageNet-normalised input.

    Parameters are `features.N.weight/bias` for N in 0, 2, 5, 7, 10, 12, 14, 16, 19,
    21, 23, 25, 28, exactly as in torchvision's vgg19. `forward(x)` takes images in
    [0, 1] and returns the five feature maps.
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
                layers.append(nn.ReLU(inplace=False))
                channels = item
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        feats = []
        last = VGG19_SLICES[-1]
        for i, layer in enumerate(self.features):
            out = layer(out)
            if i in VGG19_SLICES:
                feats.append(out)
            if i == last:
                break
        return feats

    def load_torchvision(self, path: str | Path) -> None:
        """Load torchvision's vgg19 state dict (the `features.*` entries we use)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                "VGG19 weights file not found",
                path,
                f"give the path of torchvision's {VGG19_FILE} (or leave vgg_weights unset "
                "to train with the L1 pyramid instead of the perceptual loss)",
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise ConfigError(
                f"cannot read VGG19 weights ({brief(err)})",
                path,
                f"Use torchvision's {VGG19_FILE}.",
            ) from err
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or wrong:
            raise ConfigError(
                f"not a torchvision vgg19 state dict (missing {missing[:3]}, wrong shape "
                f"{wrong[:3]})",
                path,
                f"use torchvision's {VGG19_FILE}",
            )
        self.load_state_dict({k: state[k] for k in own}, strict=True)


def find_vgg_weights(path: str | Path | None = None) -> Path | None:
    """The VGG19 weights to use: `path` when given (it must exist), else torch's hub
    cache file `<hub dir>/checkpoints/vgg19-dcbb9e9d.pth` when present, else None."""
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(
                "VGG19 weights file not found",
                p,
                f"give the path of torchvision's {VGG19_FILE}, or unset vgg_weights",
            )
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    return cached if cached.is_file() else None


def load_vgg19(path: str | Path | None = None) -> Vgg19 | None:
    """A frozen, eval-mode Vgg19 with ImageNet weights, or None (with a warning) when no
    weights file is given and none is in torch's cache."""
    found = find_vgg_weights(path)
    if found is None:
        log.warning(
            "no VGG19 weights (%s not in torch's hub cache and vgg_weights unset): "
            "training uses a multi-scale L1 pyramid instead of the perceptual loss",
            VGG19_FILE,
        )
        return None
    vgg = Vgg19()
    vgg.load_torchvision(found)
    log.info("perceptual loss: VGG19 weights from %s", found)
    return vgg.eval()


class ImagePyramid(nn.Module):
    """Anti-aliased copies of an image at several scales: {scale: (B, C, h, w)}."""

    def __init__(self, scales, channels: int = 3):
        super().__init__()
        self.scales = [float(s) for s in scales]
        self.downs = nn.ModuleList(
            AntiAliasInterpolation2d(channels, s, persistent=False) for s in self.scales
        )

    def forward(self, x: torch.Tensor) -> dict[float, torch.Tensor]:
        return {s: down(x) for s, down in zip(self.scales, self.downs)}


class ReconstructionLoss(nn.Module):
    """Multi-scale perceptual loss: sum over scales and VGG layers of
    weight_i * mean |phi_i(prediction) - phi_i(target)|.

    With `vgg=None` the term becomes sum over scales of sum(weights) * mean |pred - target|
    (the L1 pyramid), so that training still runs without ImageNet weights.
    """

    def __init__(self, scales, weights, vgg: Vgg19 | None):
        super().__init__()
        self.pyramid = ImagePyramid(scales)
        self.weights = [float(w) for w in weights]
        if vgg is not None and len(self.weights) != len(VGG19_SLICES):
            raise ConfigError(
                f"perceptual weights need {len(VGG19_SLICES)} entries (relu1_1..relu5_1), "
                f"got {len(self.weights)}"
            )
        self.vgg = vgg

    @property
    def perceptual(self) -> bool:
        return self.vgg is not None

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred_pyr = self.pyramid(prediction)
        target_pyr = self.pyramid(target)
        total = prediction.new_zeros(())
        for scale in self.pyramid.scales:
            p, t = pred_pyr[scale], target_pyr[scale]
            if self.vgg is None:
                total = total + sum(self.weights) * (p - t).abs().mean()
                continue
            fp = self.vgg(p)
            with torch.no_grad():
                ft = self.vgg(t)
            for w, a, b in zip(self.weights, fp, ft):
                if w:
                    total = total + w * (a - b).abs().mean()
        return total

    def train(self, mode: bool = True):
        super().train(mode)
        if self.vgg is not None:
            self.vgg.eval()  # frozen feature extractor, always in eval mode
        return self


class RandomTransform:
    """A random warp of the plane: affine (sigma_affine) plus a thin-plate spline with
    `points_tps` x `points_tps` control points (sigma_tps), one per batch item.

    `warp_coordinates(z)` maps points z of the transformed frame to the original frame;
    `transform_frame(x)` samples x there, so that x_t(z) = x(warp(z)). `jacobian(z)` is
    d warp / dz in closed form (B, N, 2, 2), and `inverse(p)` solves warp(z) = p by
    Newton's method (where a point of the original frame lands in the transformed one).
    """

    def __init__(
        self,
        batch: int,
        sigma_affine: float = 0.05,
        sigma_tps: float = 0.005,
        points_tps: int = 5,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ):
        def normal(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator).to(device)

        self.batch = batch
        self.theta = torch.eye(2, 3, device=device).expand(batch, 2, 3) + sigma_affine * normal(
            batch, 2, 3
        )
        self.tps = points_tps > 0 and sigma_tps > 0
        if self.tps:
            grid = make_coordinate_grid(points_tps, points_tps, device=device)
            self.control_points = grid.reshape(-1, 2)  # (P, 2)
            self.control_params = sigma_tps * normal(batch, points_tps**2, 2)  # (B, P, 2)

    def warp_coordinates(self, coords: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) -> (B, N, 2)."""
        theta = self.theta.to(coords.dtype)
        out = coords @ theta[:, :, :2].transpose(1, 2) + theta[:, None, :, 2]
        if self.tps:
            diff = coords[:, :, None, :] - self.control_points.to(coords.dtype)  # (B,N,P,2)
            r2 = diff.square().sum(-1)
            u = 0.5 * r2 * torch.log(r2 + 1e-9)  # r^2 log r
            out = out + u @ self.control_params.to(coords.dtype)
        return out

    def jacobian(self, coords: torch.Tensor) -> torch.Tensor:
        """d warp / d coords at each point, (B, N, 2, 2) with [i, j] = d out_i / d z_j."""
        theta = self.theta.to(coords.dtype)
        jac = theta[:, None, :, :2].expand(coords.shape[0], coords.shape[1], 2, 2)
        if self.tps:
            diff = coords[:, :, None, :] - self.control_points.to(coords.dtype)
            r2 = diff.square().sum(-1, keepdim=True)
            # d/dz of 0.5 r^2 log(r^2 + eps), (B, N, P, 2)
            grad_u = (torch.log(r2 + 1e-9) + r2 / (r2 + 1e-9)) * diff
            params = self.control_params.to(coords.dtype)  # (B,P,2)
            jac = jac + torch.einsum("bpi,bnpj->bnij", params, grad_u)
        return jac

    def inverse(self, points: torch.Tensor, iterations: int = 6) -> torch.Tensor:
        """z with warp(z) = points, (B, N, 2), by Newton steps from z = points."""
        z = points
        for _ in range(iterations):
            residual = self.warp_coordinates(z) - points
            step = torch.linalg.solve(self.jacobian(z), residual.unsqueeze(-1)).squeeze(-1)
            z = z - step
        return z

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """The transformed frame x_t(z) = x(warp(z)) (reflection padding)."""
        b, _, h, w = frame.shape
        grid = make_coordinate_grid(h, w, frame.device).reshape(1, -1, 2).expand(b, -1, 2)
        warped = self.warp_coordinates(grid).reshape(b, h, w, 2)
        return grid_sample(frame, warped, padding_mode="reflection")


def equivariance_losses(
    kp_driving: dict[str, torch.Tensor],
    kp_transformed: dict[str, torch.Tensor],
    transform: RandomTransform,
    value_weight: float,
    jacobian_weight: float,
) -> dict[str, torch.Tensor]:
    """Equivariance of keypoints under `transform` (driving -> transformed driving).

    value: mean |kp_d - warp(kp_t)|; jacobian: mean |I - J_d^-1 (dwarp/dz(kp_t) J_t)|.
    A weight of 0 (or a missing "jacobian") leaves that term out.
    """
    losses: dict[str, torch.Tensor] = {}
    kp_t = kp_transformed["value"]
    if value_weight:
        warped = transform.warp_coordinates(kp_t)
        losses["equivariance_value"] = value_weight * (kp_driving["value"] - warped).abs().mean()
    if jacobian_weight and "jacobian" in kp_driving and "jacobian" in kp_transformed:
        jt = transform.jacobian(kp_t) @ kp_transformed["jacobian"]
        value = torch.linalg.inv(kp_driving["jacobian"]) @ jt
        eye = torch.eye(2, device=value.device, dtype=value.dtype)
        losses["equivariance_jacobian"] = jacobian_weight * (eye - value).abs().mean()
    return losses


def generator_gan_loss(fake_maps: list[torch.Tensor], mode: str = "ls") -> torch.Tensor:
    """Generator adversarial term over discriminator prediction maps of fakes.

    "ls" (upstream): mean (1 - D(G))^2; "hinge": -mean D(G).
    """
    total = fake_maps[0].new_zeros(())
    for m in fake_maps:
        total = total + ((1.0 - m).square().mean() if mode == "ls" else -m.mean())
    return total


def discriminator_gan_loss(
    real_maps: list[torch.Tensor], fake_maps: list[torch.Tensor], mode: str = "ls"
) -> torch.Tensor:
    """Discriminator term: "ls" mean (1 - D(x))^2 + D(G)^2; "hinge" mean relu(1 - D(x))
    + relu(1 + D(G))."""
    total = real_maps[0].new_zeros(())
    for r, f in zip(real_maps, fake_maps):
        if mode == "ls":
            total = total + ((1.0 - r).square() + f.square()).mean()
        else:
            total = total + F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()
    return total


def feature_matching_loss(
    real_features: list[list[torch.Tensor]],
    fake_features: list[list[torch.Tensor]],
    weights,
) -> torch.Tensor:
    """sum over discriminator scales and layers of w_i * mean |D_i(x) - D_i(G)| (real
    features detached)."""
    weights = [float(w) for w in weights]
    total = fake_features[0][0].new_zeros(())
    for real, fake in zip(real_features, fake_features):
        for w, a, b in zip(weights, real, fake):
            if w:
                total = total + w * (a.detach() - b).abs().mean()
    return total


def check_gan_mode(mode: str) -> str:
    if mode not in ("ls", "hinge"):
        raise ConfigError(f"unknown gan_mode {mode!r}; choose 'ls' or 'hinge'")
    return mode
