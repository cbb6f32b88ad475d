"""MRAA region predictor: heatmaps -> region centre, covariance and PCA affine.

Each of K softmax heatmaps (temperature-scaled, over the pixels of the down-scaled
image) describes one region. Its first moment is the region centre ("shift"), its
second central moment the covariance, and the region's affine frame is the PCA square
root of the covariance, U sqrt(L), from the eigen-decomposition covar = U L U^T.

The 2x2 symmetric eigen-decomposition is written in closed form, batched over (batch,
region) on the tensors' device, with L sorted in decreasing order. The flow depends on
more than U sqrt(L) up to sign: A_s A_d^-1 changes when one frame's column flips and the
other's does not, and the inverse of a thin region magnifies its smaller eigenvalue. So
`pca="svd"` (the default) gives the reference's values: the affine of `torch.svd` of the
covariance on the CPU in float32 (LAPACK's column signs, det U = -1, no eigenvalue floor)
in the forward pass, with the gradients of the closed form (signs matched) in the
backward pass, which stay finite for round regions. `pca="closed_form"` keeps U a proper
rotation (det +1) whose first column is the major axis with a non-negative x component,
eigenvalues floored at MIN_EIGENVALUE, with no trip to the CPU.

With a facial prior, the prior keypoints are the region centres (`centres`), the
covariance is the second moment of the heatmap about those centres (the network
learns only the region shapes), and the prior channel is concatenated to the
predictor's input.

Module and parameter names are the upstream ones (`predictor`, `regions`, `down`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    downscaled_size,
    make_coordinate_grid,
    set_batch_norm_folding,
)

#: smallest eigenvalue kept by `covariance_sqrt`, in normalised units ([-1, 1] spans the
#: image, so one pixel of a 64x64 map is 0.03 wide): keeps sqrt and inverse finite.
MIN_EIGENVALUE = 1e-6


def heatmap_moments(
    heatmap: torch.Tensor, centres: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres (B, K, 2) and covariances (B, K, 2, 2) of normalised heatmaps (B, K, h, w).

    The heatmaps must sum to 1 over (h, w). The covariance is the second moment about
    `centres` when given (prior variants) and about the heatmap mean otherwise.
    Computed in float32 whatever the input dtype.
    """
    heatmap = heatmap.float()
    h, w = heatmap.shape[-2:]
    # products and sums in the reference's order, so that a thin region's small
    # eigenvalue (which its affine inverts) comes out as the reference's
    grid = make_coordinate_grid(h, w, heatmap.device, heatmap.dtype)[None, None]
    weights = heatmap.unsqueeze(-1)  # (B, K, h, w, 1)
    mean = (weights * grid).sum(dim=(2, 3))
    centre = mean if centres is None else centres.float()
    diff = grid - centre[:, :, None, None, :]  # (B, K, h, w, 2)
    covar = (diff.unsqueeze(-1) @ diff.unsqueeze(-2) * weights.unsqueeze(-1)).sum(dim=(2, 3))
    return mean, covar


def symmetric_eig2x2(covar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of symmetric 2x2 matrices (..., 2, 2) in closed form.

    Returns (eigenvalues (..., 2) in decreasing order, U (..., 2, 2) with the matching
    unit eigenvectors as columns), U = [[cos t, -sin t], [sin t, cos t]] with
    t = atan2(2b, a - c) / 2 in (-pi/2, pi/2] for covar = [[a, b], [b, c]].
    """
    a = covar[..., 0, 0]
    b = 0.5 * (covar[..., 0, 1] + covar[..., 1, 0])
    c = covar[..., 1, 1]
    half_diff = 0.5 * (a - c)
    # The tiny constant keeps the gradients finite for exactly isotropic covariances.
    radius = torch.sqrt(half_diff * half_diff + b * b + 1e-20)
    mid = 0.5 * (a + c)
    eigenvalues = torch.stack([mid + radius, mid - radius], dim=-1)
    # cos(2t) and sin(2t) of the major-axis angle t, then the half angle by whichever
    # formula is well conditioned (no atan2, whose gradient is undefined at (0, 0)).
    cos2 = half_diff / radius
    sin2 = b / radius
    tiny = 1e-20
    # |t| <= pi/4: cos t >= 0.7 from the half-angle formula, sin t = sin 2t / (2 cos t).
    cos_a = torch.sqrt(torch.clamp(0.5 * (1.0 + cos2), min=0.0) + tiny)
    sin_a = sin2 / (2.0 * cos_a)
    # |t| > pi/4: |sin t| >= 0.7 with the sign of sin 2t (cos t >= 0), t = pi/2 when vertical.
    sign = torch.where(sin2 < 0, -torch.ones_like(sin2), torch.ones_like(sin2))
    sin_b = sign * torch.sqrt(torch.clamp(0.5 * (1.0 - cos2), min=0.0) + tiny)
    cos_b = sin2 / (2.0 * sin_b)
    near_x = cos2 >= 0
    cos_t = torch.where(near_x, cos_a, cos_b)
    sin_t = torch.where(near_x, sin_a, sin_b)
    # (cos 2t, sin 2t) is (0, 0) for an isotropic covariance: renormalise (U = I there).
    norm = torch.sqrt(cos_t * cos_t + sin_t * sin_t)
    cos_t, sin_t = cos_t / norm, sin_t / norm
    u = torch.stack(
        [torch.stack([cos_t, -sin_t], dim=-1), torch.stack([sin_t, cos_t], dim=-1)], dim=-2
    )
    return eigenvalues, u


def covariance_sqrt(
    covar: torch.Tensor, min_eigenvalue: float = MIN_EIGENVALUE
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA square root of covariances (..., 2, 2): (affine = U diag(sqrt L), U, diag(sqrt L)).

    affine @ affine^T == covar (up to the eigenvalue floor `min_eigenvalue`).
    """
    eigenvalues, u = symmetric_eig2x2(covar)
    d = torch.diag_embed(torch.sqrt(torch.clamp(eigenvalues, min=min_eigenvalue)))
    return u @ d, u, d


#: `RegionPredictor.pca` choices
PCA_MODES = ("svd", "closed_form")


def svd_affine(covar: torch.Tensor, closed_form: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The reference's PCA affine of covariances (..., 2, 2): U_svd sqrt(S) of
    `torch.linalg.svd` on the CPU in float32, in the forward pass, and the closed-form
    `closed_form` = U sqrt(L) (eigenvectors `u`), its columns signed as U_svd's, in the
    backward pass."""
    with torch.no_grad():
        flat = covar.detach().float().cpu().reshape(-1, 2, 2)
        u_svd, s_svd, _ = torch.linalg.svd(flat)
        value = (u_svd * s_svd.sqrt()[:, None, :]).view(covar.shape)
        u_svd = u_svd.view(covar.shape).to(u.device)
        dots = (u_svd * u.detach().float()).sum(dim=-2, keepdim=True)
        signs = torch.where(dots < 0, -1.0, 1.0).to(closed_form.dtype)
    signed = closed_form * signs
    return signed + (value.to(signed.device, signed.dtype) - signed).detach()


def inverse2x2(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of 2x2 matrices (..., 2, 2) in closed form (batched, on the device)."""
    a, b = matrix[..., 0, 0], matrix[..., 0, 1]
    c, d = matrix[..., 1, 0], matrix[..., 1, 1]
    det = a * d - b * c
    adj = torch.stack([torch.stack([d, -b], dim=-1), torch.stack([-c, a], dim=-1)], dim=-2)
    return adj / det[..., None, None]


class RegionPredictor(nn.Module):
    """Hourglass on the down-scaled image -> K region heatmaps -> region parameters.

    forward(image (B, C, H, W), prior=None (B, P, h, w), centres=None (B, K, 2)) returns
    {"shift": (B, K, 2), "covar": (B, K, 2, 2), "affine": (B, K, 2, 2), "heatmap":
    (B, K, h, w)} where h, w = H * scale_factor, W * scale_factor. `prior` (the facial
    prior channel, P = `prior_channels`) is resized to (h, w) when needed; `centres`
    (normalised (x, y)) replace the heatmap means as region centres.
    """

    def __init__(
        self,
        block_expansion: int,
        num_regions: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        temperature: float,
        scale_factor: float = 1.0,
        pca_based: bool = True,
        prior_channels: int = 0,
        pad: int = 3,
        pca: str = "svd",
        fold_batch_norm: bool = False,
    ):
        super().__init__()
        if not pca_based:
            raise ValueError("only the PCA-based region predictor is implemented")
        if pca not in PCA_MODES:
            raise ValueError(f"pca must be one of {', '.join(PCA_MODES)}")
        self.pca = pca
        self.num_regions = num_regions
        self.prior_channels = prior_channels
        self.temperature = temperature
        self.scale_factor = scale_factor
        self.predictor = Hourglass(
            block_expansion,
            in_features=num_channels + prior_channels,
            max_features=max_features,
            num_blocks=num_blocks,
        )
        self.regions = nn.Conv2d(self.predictor.out_filters, num_regions, (7, 7), padding=pad)
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)
        # off by default: a thin region's affine is inverted by the flow predictor, which
        # magnifies the last bits of the heatmaps that folding changes (1e-5 -> 1e-2)
        set_batch_norm_folding(self, fold_batch_norm)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) the hourglass sees (and the heatmaps have) for a (height, width) image."""
        return downscaled_size(height, width, self.scale_factor, getattr(self, "down", None))

    def downscale(self, image: torch.Tensor) -> torch.Tensor:
        return self.down(image) if self.scale_factor != 1 else image

    def heatmaps(self, image: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Softmax heatmaps (B, K, h, w) (float32), each summing to 1."""
        x = self.downscale(image)
        if self.prior_channels:
            if prior is None:
                raise ValueError("this region predictor needs the facial prior channel")
            if prior.shape[-2:] != x.shape[-2:]:
                prior = F.interpolate(prior, size=x.shape[-2:], mode="bilinear", align_corners=True)
            x = torch.cat([x, prior.to(x.dtype)], dim=1)
        logits = self.regions(self.predictor(x)).float()
        b, k, h, w = logits.shape
        heatmap = F.softmax(logits.view(b, k, h * w) / self.temperature, dim=2)
        return heatmap.view(b, k, h, w)

    def forward(
        self,
        image: torch.Tensor,
        prior: torch.Tensor | None = None,
        centres: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        heatmap = self.heatmaps(image, prior)
        mean, covar = heatmap_moments(heatmap, centres)
        affine, u, _ = covariance_sqrt(covar)
        if self.pca == "svd":
            affine = svd_affine(covar, affine, u)
        shift = mean if centres is None else centres.float()
        return {"shift": shift, "covar": covar, "affine": affine, "heatmap": heatmap}
