"""S and R: the stitching MLP (source + driving keypoints -> keypoint delta and tx, ty) and
the eye / lip retargeting MLPs (source keypoints + closure ratios -> keypoint delta).
Names as the reference's `StitchingRetargetingNetwork` (`mlp.0`, `mlp.2`, ...)."""

from __future__ import annotations

from torch import nn

#: models.yaml's `stitching_retargeting_module_params`
SIZES = {
    "stitching": (126, (128, 128, 64), 65),
    "lip": (65, (128, 128, 64), 63),
    "eye": (66, (256, 256, 128, 128, 64), 63),
}
#: the key of each network in the released stitching_retargeting_module.pth
FILE_KEYS = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}


class StitchingRetargetingNetwork(nn.Module):
    def __init__(self, input_size: int, hidden_sizes, output_size: int):
        super().__init__()
        layers: list[nn.Module] = []
        last = input_size
        for size in hidden_sizes:
            layers += [nn.Linear(last, size), nn.ReLU(inplace=True)]
            last = size
        layers.append(nn.Linear(last, output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        return self.mlp(x)
