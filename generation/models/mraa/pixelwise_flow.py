"""MRAA pixel-wise flow predictor: region motions -> one dense flow and an occlusion map.

For every region k the driving-to-source motion near that region is affine,
z -> A_s,k A_d,k^-1 (z - mu_d,k) + mu_s,k, and the background moves by the (B, 3, 3)
transform of the background predictor (identity when none is given). An hourglass sees,
per motion, the difference of the driving and source region Gaussians (with the
regions' covariances) and the source image warped by that motion; it predicts soft
masks that combine the K + 1 motions into one flow, and an occlusion map.

Coordinates are normalised (x, y) in [-1, 1]; flows are sampling grids (B, h, w, 2) for
`generation.models.blocks.grid_sample`, sampled with `align_corners` False as the
reference (released for torch 1.4, whose default that is) unless told otherwise. Module names are the upstream ones
(`hourglass`, `mask`, `occlusion`, `down`), as is the channel order of the hourglass
input, so upstream weights load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    grid_sample,
    make_coordinate_grid,
)
from generation.models.mraa.region_predictor import inverse2x2


def region_gaussians(
    shift: torch.Tensor, covar: torch.Tensor | float, size: tuple[int, int]
) -> torch.Tensor:
    """Heatmaps exp(-(z - mu)^T covar^-1 (z - mu) / 2) of regions: (B, K, h, w).

    shift (B, K, 2); covar (B, K, 2, 2), or one variance for isotropic Gaussians.
    """
    h, w = size
    grid = make_coordinate_grid(h, w, shift.device, torch.float32)
    diff = grid[None, None] - shift.float()[:, :, None, None, :]  # (B, K, h, w, 2)
    if isinstance(covar, float):
        return torch.exp(-0.5 * diff.pow(2).sum(-1) / covar)
    precision = inverse2x2(covar.float())
    quad = torch.einsum("bkhwi,bkij,bkhwj->bkhw", diff, precision, diff)
    return torch.exp(-0.5 * quad)


def region_motions(
    driving: dict[str, torch.Tensor],
    source: dict[str, torch.Tensor],
    size: tuple[int, int],
    bg_params: torch.Tensor | None = None,
    revert_axis_swap: bool = True,
) -> torch.Tensor:
    """Sparse motions (B, K + 1, h, w, 2): the background grid first, then one per region.

    `revert_axis_swap` flips the sign of A_s A_d^-1 when its top-left entry is negative,
    i.e. when the two PCA frames point opposite ways (the eigenvector sign is arbitrary).
    """
    h, w = size
    b, k = source["shift"].shape[:2]
    grid = make_coordinate_grid(h, w, source["shift"].device, torch.float32)
    diff = grid[None, None] - driving["shift"].float()[:, :, None, None, :]
    affine = source["affine"].float() @ inverse2x2(driving["affine"].float())
    if revert_axis_swap:
        affine = affine * torch.sign(affine[..., 0:1, 0:1])
    moved = torch.einsum("bkij,bkhwj->bkhwi", affine, diff)
    regions = moved + source["shift"].float()[:, :, None, None, :]
    if bg_params is None:
        background = grid.expand(b, 1, h, w, 2)
    else:
        homogeneous = torch.cat([grid, torch.ones_like(grid[..., :1])], dim=-1)
        mapped = torch.einsum("bij,hwj->bhwi", bg_params.float(), homogeneous)
        background = (mapped[..., :2] / mapped[..., 2:3]).unsqueeze(1)
    return torch.cat([background, regions], dim=1)


class PixelwiseFlowPredictor(nn.Module):
    """forward(source_image, driving_regions, source_regions, bg_params=None) ->
    {"optical_flow": (B, h, w, 2), "occlusion_map": (B, 1, h, w) when estimated}, at the
    resolution of the down-scaled source (h, w = H * scale_factor, W * scale_factor).

    `source_small` may pass the already down-scaled source (animation caches it).
    """

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_regions: int,
        num_channels: int,
        estimate_occlusion_map: bool = True,
        scale_factor: float = 1.0,
        region_var: float = 0.01,
        use_covar_heatmap: bool = True,
        use_deformed_source: bool = True,
        revert_axis_swap: bool = True,
        align_corners: bool = False,
    ):
        super().__init__()
        self.align_corners = align_corners
        self.num_regions = num_regions
        self.scale_factor = scale_factor
        self.region_var = float(region_var)
        self.use_covar_heatmap = use_covar_heatmap
        self.use_deformed_source = use_deformed_source
        self.revert_axis_swap = revert_axis_swap
        per_motion = num_channels * int(use_deformed_source) + 1
        self.hourglass = Hourglass(
            block_expansion,
            in_features=(num_regions + 1) * per_motion,
            max_features=max_features,
            num_blocks=num_blocks,
        )
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_regions + 1, (7, 7), padding=(3, 3))
        if estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_filters, 1, (7, 7), padding=(3, 3))
        else:
            self.occlusion = None
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def downscale(self, image: torch.Tensor) -> torch.Tensor:
        return self.down(image) if self.scale_factor != 1 else image

    def heatmap_representation(
        self, driving: dict[str, torch.Tensor], source: dict[str, torch.Tensor], size
    ) -> torch.Tensor:
        """Driving minus source region Gaussians, a zero background channel first:
        (B, K + 1, 1, h, w)."""
        cov_d = driving["covar"] if self.use_covar_heatmap else self.region_var
        cov_s = source["covar"] if self.use_covar_heatmap else self.region_var
        heat = region_gaussians(driving["shift"], cov_d, size)
        heat = heat - region_gaussians(source["shift"], cov_s, size)
        zeros = heat.new_zeros(heat.shape[0], 1, *size)
        return torch.cat([zeros, heat], dim=1).unsqueeze(2)

    def forward(
        self,
        source_image: torch.Tensor,
        driving_regions: dict[str, torch.Tensor],
        source_regions: dict[str, torch.Tensor],
        bg_params: torch.Tensor | None = None,
        source_small: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        device = driving_regions["shift"].device.type
        fp32 = torch.autocast(device_type=device, enabled=False)
        with fp32:  # the geometry in fp32 under autocast: Gaussians, motions, their warps
            small = self.downscale(source_image) if source_small is None else source_small
            b = driving_regions["shift"].shape[0]
            if small.shape[0] != b:
                small = small.expand(b, *small.shape[1:])
            c, h, w = small.shape[1:]
            k1 = self.num_regions + 1
            driving_regions = {k: v.float() for k, v in driving_regions.items()}
            source_regions = {k: v.float() for k, v in source_regions.items()}
            heatmap = self.heatmap_representation(driving_regions, source_regions, (h, w))
            motions = region_motions(
                driving_regions, source_regions, (h, w), bg_params, self.revert_axis_swap
            )
            parts = [heatmap.to(small.dtype)]
            if self.use_deformed_source:
                repeated = small.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
                deformed = grid_sample(
                    repeated, motions.reshape(b * k1, h, w, 2), align_corners=self.align_corners
                )
                parts.append(deformed.view(b, k1, c, h, w))
        # the hourglass under the caller's autocast (bf16 features moved no output pixel
        # by more than one level at 256 px: `fme bench animation`)
        features = self.hourglass(torch.cat(parts, dim=2).view(b, -1, h, w))
        with fp32:  # its heads in fp32: the masks weigh the motions into the flow
            features = features.float()
            mask = F.softmax(self.mask(features), dim=1)  # (B, K + 1, h, w)
            flow = torch.einsum("bkhw,bkhwc->bhwc", mask, motions)
            out = {"optical_flow": flow, "mask": mask}
            if self.occlusion is not None:
                out["occlusion_map"] = torch.sigmoid(self.occlusion(features))
        return out
