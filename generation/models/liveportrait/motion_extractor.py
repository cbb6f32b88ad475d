"""M, the motion extractor: a ConvNeXt-V2 tiny under the name `detector` (as the
reference's `MotionExtractor`), returning the raw head outputs (pose as 66 bin logits)."""

from __future__ import annotations

from torch import nn

from generation.models.liveportrait.convnextv2 import ConvNeXtV2

BACKBONES = {
    "convnextv2_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    # ours: a narrow one of the same structure for tests (no released weights fit it)
    "convnextv2_test": dict(depths=(1, 1, 1, 1), dims=(16, 32, 48, 64)),
}


class MotionExtractor(nn.Module):
    def __init__(self, num_kp: int = 21, backbone: str = "convnextv2_tiny", num_bins: int = 66):
        super().__init__()
        self.detector = ConvNeXtV2(num_kp=num_kp, num_bins=num_bins, **BACKBONES[backbone])

    def forward(self, x) -> dict:
        return self.detector(x)
