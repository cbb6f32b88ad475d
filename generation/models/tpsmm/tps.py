"""The thin-plate-spline transforms of TPSMM, fitted to keypoint groups.

For each group k of N control points p_i (the driving keypoints) and their targets q_i
(the source keypoints), the spline

    T_k(z) = A_k [z; 1] + sum_i w_ki U(|z - p_i|^2),   U(r^2) = r^2 log(r^2 + 1e-9)

maps driving-frame coordinates to source coordinates with T_k(p_i) ~ q_i. A_k (2x3,
`theta`) and w_k (N x 2, `control_params`) solve the (N+3) x (N+3) system
[[K, P], [P^T, 0]] + 0.01 I = [[q], [0]] with K_ij = U(|p_i - p_j|^2) and P = [p, 1],
regularised on the whole matrix and solved through its inverse, as the reference does
(TPSMM's `TPS(mode='kp')`, Eq. 2 of the paper). Coordinates are (x, y) in [-1, 1] on
`blocks.make_coordinate_grid`.
"""

from __future__ import annotations

import torch

from generation.models.blocks import make_coordinate_grid

#: the regulariser added to the whole TPS system matrix
TPS_REGULARISER = 0.01


def tps_kernel(r2: torch.Tensor) -> torch.Tensor:
    """U(r^2) = r^2 log(r^2 + 1e-9)."""
    return r2 * torch.log(r2 + 1e-9)


class KeypointTPS:
    """TPS transforms fitted to kp_driving (B, K, N, 2) -> kp_source (B, K, N, 2).

    Attributes: `theta` (B, K, 2, 3), `control_points` (B, K, N, 2) = kp_driving,
    `control_params` (B, K, N, 2).
    """

    def __init__(self, kp_driving: torch.Tensor, kp_source: torch.Tensor):
        b, k, n, _ = kp_driving.shape
        dtype, device = kp_driving.dtype, kp_driving.device
        dist = torch.linalg.vector_norm(kp_driving[:, :, :, None] - kp_driving[:, :, None], dim=4)
        kernel = tps_kernel(dist**2)
        ones = torch.ones(b, k, n, 1, dtype=dtype, device=device)
        p = torch.cat([kp_driving, ones], 3)  # (B, K, N, 3)
        top = torch.cat([kernel, p], 3)  # (B, K, N, N+3)
        bottom = torch.cat(
            [p.transpose(2, 3), torch.zeros(b, k, 3, 3, dtype=dtype, device=device)], 3
        )
        system = torch.cat([top, bottom], 2)
        system = system + torch.eye(n + 3, dtype=dtype, device=device) * TPS_REGULARISER
        target = torch.cat([kp_source, torch.zeros(b, k, 3, 2, dtype=dtype, device=device)], 2)
        params = torch.matmul(torch.inverse(system), target)  # (B, K, N+3, 2)
        self.theta = params[:, :, n:, :].transpose(2, 3)
        self.control_points = kp_driving
        self.control_params = params[:, :, :n, :]

    def warp_coordinates(self, coords: torch.Tensor) -> torch.Tensor:
        """Points (B or 1, P, 2) -> their images under every transform, (B, K, P, 2)."""
        theta = self.theta.to(coords.dtype)
        points = self.control_points.to(coords.dtype)
        params = self.control_params.to(coords.dtype)
        b, k, n, _ = points.shape
        affine = torch.matmul(theta[..., :2], coords.transpose(1, 2)[:, None]) + theta[..., 2:]
        diff = coords.view(coords.shape[0], 1, 1, -1, 2) - points.view(b, k, n, 1, 2)
        u = tps_kernel(diff.pow(2).sum(-1))  # (B, K, N, P)
        return affine.transpose(2, 3) + torch.matmul(u.transpose(2, 3), params)

    def grid(self, height: int, width: int) -> torch.Tensor:
        """The sampling grids of every transform over a (height, width) image,
        (B, K, height, width, 2): where each driving pixel comes from in the source."""
        coords = make_coordinate_grid(height, width, self.theta.device, self.theta.dtype)
        out = self.warp_coordinates(coords.view(1, height * width, 2))
        return out.view(*out.shape[:2], height, width, 2)
