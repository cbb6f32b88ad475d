"""MRAA background motion predictor: one global transform between source and driving.

An encoder sees the source and driving frames stacked on the channel axis; the mean of
its deepest features goes through one linear layer to the transform's parameters. The
linear layer starts at zero weights and the identity bias, so training starts from a
still background. The result is a (B, 3, 3) matrix T acting on homogeneous driving
coordinates: the background pixel at driving position z comes from source position
T z (normalised (x, y) coordinates). Module names are the upstream ones (`encoder`, `fc`).
"""

from __future__ import annotations

import torch
from torch import nn

from generation.models.blocks import Encoder

#: motion models and the identity parameters their linear layer starts from
BG_TYPES: dict[str, tuple[float, ...]] = {
    "zero": (),
    "shift": (0.0, 0.0),
    "affine": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "perspective": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
}


class BGMotionPredictor(nn.Module):
    """forward(source (B, C, H, W), driving (B, C, H, W)) -> (B, 3, 3) transforms."""

    def __init__(
        self,
        block_expansion: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        bg_type: str = "affine",
    ):
        super().__init__()
        if bg_type not in BG_TYPES:
            raise ValueError(f"bg_type must be one of {', '.join(BG_TYPES)}, not {bg_type!r}")
        self.bg_type = bg_type
        if bg_type != "zero":
            self.encoder = Encoder(
                block_expansion,
                in_features=num_channels * 2,
                max_features=max_features,
                num_blocks=num_blocks,
            )
            in_features = min(max_features, block_expansion * (2**num_blocks))
            identity = BG_TYPES[bg_type]
            self.fc = nn.Linear(in_features, len(identity))
            with torch.no_grad():
                self.fc.weight.zero_()
                self.fc.bias.copy_(torch.tensor(identity))

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        b = source.shape[0]
        out = torch.eye(3, device=source.device, dtype=torch.float32).repeat(b, 1, 1)
        if self.bg_type == "zero":
            return out
        features = self.encoder(torch.cat([source, driving], dim=1))[-1]
        params = self.fc(features.mean(dim=(2, 3))).float()
        if self.bg_type == "shift":
            top = torch.cat([out[:, :2, :2], params.view(b, 2, 1)], dim=2)
            return torch.cat([top, out[:, 2:]], dim=1)
        if self.bg_type == "affine":
            return torch.cat([params.view(b, 2, 3), out[:, 2:]], dim=1)
        bottom = torch.cat([params[:, 6:].view(b, 1, 2), out[:, 2:, 2:]], dim=2)
        return torch.cat([params[:, :6].view(b, 2, 3), bottom], dim=1)
