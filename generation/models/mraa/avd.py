"""MRAA's animation-via-disentanglement (AVD) network: region parameters of an identity
frame and of a pose frame -> the pose's regions on the identity's shape.

Each frame's K regions enter as one vector (shift (2) and affine (4) per region, region
by region). An identity encoder and a pose encoder (three linear + batch norm + ReLU
layers of 256, 512 and 1024 units, then a linear bottleneck) code the two frames; a
decoder (1024, 512, 256, then linear) maps both codes back to K shifts and affines, and
the covariances are A A^T of the decoded affines. With `revert_axis_swap` the identity
affines first take the sign that makes A_id A_pose^-1 point the pose's way (the PCA
column signs are arbitrary). Module names (`id_encoder`, `pose_encoder`, `decoder`, their
`Sequential` indices) are the reference's, so its `avd_network` state dict loads strictly.

Training is the reference's second stage (`generation.training.avd_stage`): the region predictor
frozen, the pose frame's regions randomly scaled per axis, L1 on the reconstructed
(unscaled) pose shifts and affines.
"""

from __future__ import annotations

import torch
from torch import nn

#: the reference's vox256 bottlenecks (`avd_network_params`)
DEFAULT_BOTTLES: dict[str, int] = {"id_bottle_size": 64, "pose_bottle_size": 64}


def _encoder(inputs: int, bottle: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = inputs
    for units in (256, 512, 1024):
        layers += [nn.Linear(width, units), nn.BatchNorm1d(units), nn.ReLU(inplace=True)]
        width = units
    layers.append(nn.Linear(width, bottle))
    return nn.Sequential(*layers)


def _decoder(inputs: int, outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = inputs
    for units in (1024, 512, 256):
        layers += [nn.Linear(width, units), nn.BatchNorm1d(units), nn.ReLU()]
        width = units
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


def bottle_sizes(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """`id_bottle_size` / `pose_bottle_size` of an AVD state dict (from its last layers)."""
    return {
        "id_bottle_size": int(state["id_encoder.9.weight"].shape[0]),
        "pose_bottle_size": int(state["pose_encoder.9.weight"].shape[0]),
    }


def regions_to_vector(regions: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, K * 6): per region its shift (x, y) then its affine row by row."""
    shift, affine = regions["shift"], regions["affine"]
    b, k = shift.shape[:2]
    return torch.cat([shift, affine.reshape(b, k, 4)], dim=-1).reshape(b, k * 6)


class AVDNetwork(nn.Module):
    """forward(identity regions, pose regions) -> {"shift", "affine", "covar"} (B, K, ...).

    Both inputs are region dicts with "shift" (B, K, 2) and "affine" (B, K, 2, 2); a
    batch of 1 identity is expanded to the pose batch.
    """

    def __init__(
        self,
        num_regions: int,
        id_bottle_size: int = 64,
        pose_bottle_size: int = 64,
        revert_axis_swap: bool = True,
    ):
        super().__init__()
        self.num_regions = num_regions
        self.revert_axis_swap = revert_axis_swap
        size = 6 * num_regions
        self.id_encoder = _encoder(size, id_bottle_size)
        self.pose_encoder = _encoder(size, pose_bottle_size)
        self.decoder = _decoder(id_bottle_size + pose_bottle_size, size)

    def forward(
        self, identity: dict[str, torch.Tensor], pose: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        b = pose["shift"].shape[0]
        id_shift, id_affine = identity["shift"].float(), identity["affine"].float()
        if id_shift.shape[0] != b:
            id_shift = id_shift.expand(b, *id_shift.shape[1:])
            id_affine = id_affine.expand(b, *id_affine.shape[1:])
        pose = {"shift": pose["shift"].float(), "affine": pose["affine"].float()}
        if self.revert_axis_swap:
            relative = id_affine @ torch.linalg.inv(pose["affine"])
            id_affine = id_affine * torch.sign(relative[..., 0:1, 0:1])
        code = torch.cat(
            [
                self.pose_encoder(regions_to_vector(pose)),
                self.id_encoder(regions_to_vector({"shift": id_shift, "affine": id_affine})),
            ],
            dim=1,
        )
        out = self.decoder(code).view(b, self.num_regions, 6)
        affine = out[..., 2:].reshape(b, self.num_regions, 2, 2)
        return {
            "shift": out[..., :2],
            "affine": affine,
            "covar": affine @ affine.transpose(-1, -2),
        }


def random_axis_scale(
    regions: dict[str, torch.Tensor], scale: float, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Regions with x and y scaled by factors drawn uniformly from [1 - scale, 1 + scale],
    one pair per sample (shifts and affines alike), as the reference's AVD stage does."""
    shift = regions["shift"]
    b = shift.shape[0]
    theta = torch.rand(b, 2, generator=generator, device="cpu") * (2 * scale) + (1 - scale)
    theta = torch.diag_embed(theta).to(shift.device, shift.dtype).unsqueeze(1)  # (B, 1, 2, 2)
    return {
        "shift": (theta @ shift.unsqueeze(-1)).squeeze(-1),
        "affine": theta @ regions["affine"],
    }
