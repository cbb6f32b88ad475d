"""TPSMM's AVD network (animation via disentanglement): driving pose on source identity.

Two MLPs encode the flattened keypoints of the source (`id_encoder`, identity) and of
the driving frame (`pose_encoder`, pose); `decoder` maps both codes to new keypoints
for the source. Trained in a second stage with the motion networks frozen: the driving
keypoints, randomly rescaled about the origin, must come back as the driving keypoints
from the source's identity (`avd_loss`). Module names and layer indices are upstream's
(`id_encoder.0`, `.1` BatchNorm1d, ...), so its `avd_network` state dict loads.
"""

from __future__ import annotations

import torch
from torch import nn


def _mlp(sizes: list[int], inplace: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=inplace)]
    return nn.Sequential(*layers)


class AVDNetwork(nn.Module):
    """forward(kp_source {"fg_kp": (B, N, 2)}, kp_driving) -> {"fg_kp": (B, N, 2)}."""

    def __init__(self, num_keypoints: int, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        super().__init__()
        size = 2 * num_keypoints
        self.num_keypoints = num_keypoints
        self.id_encoder = _mlp([size, 256, 512, 1024, id_bottle_size], inplace=True)
        self.pose_encoder = _mlp([size, 256, 512, 1024, pose_bottle_size], inplace=True)
        self.decoder = _mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256, size], False)

    def forward(self, kp_source: dict, kp_driving: dict) -> dict[str, torch.Tensor]:
        b = kp_source["fg_kp"].shape[0]
        pose = self.pose_encoder(kp_driving["fg_kp"].reshape(b, -1))
        identity = self.id_encoder(kp_source["fg_kp"].reshape(b, -1))
        out = self.decoder(torch.cat([pose, identity], dim=1))
        return {"fg_kp": out.view(b, self.num_keypoints, 2)}


def random_scale(kp: torch.Tensor, scale: float, generator=None) -> torch.Tensor:
    """Keypoints (B, N, 2) times a random diagonal matrix per item, each factor uniform
    in [1 - scale, 1 + scale) (upstream's `random_scale`)."""
    factors = torch.rand(kp.shape[0], 2, generator=generator).to(kp) * (2 * scale) + (1 - scale)
    return kp * factors[:, None, :]


def avd_loss(
    avd: AVDNetwork, kp_source: torch.Tensor, kp_driving: torch.Tensor, scale: float, weight: float
) -> torch.Tensor:
    """weight * mean |kp_driving - AVD(kp_source, random_scale(kp_driving))|."""
    moved = random_scale(kp_driving, scale)
    rec = avd({"fg_kp": kp_source}, {"fg_kp": moved})["fg_kp"]
    return weight * (kp_driving - rec).abs().mean()
