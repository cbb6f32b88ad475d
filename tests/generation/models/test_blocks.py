"""The fast inference path's instance norm and gather warp against torch's own."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from generation.models.blocks import gather_warp, instance_norm_inference


def test_instance_norm_inference_is_the_instance_norm_in_channels_last():
    torch.manual_seed(0)
    norm = nn.InstanceNorm2d(8, affine=True)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    x = (torch.randn(3, 8, 10, 12) * 3 + 1).contiguous(memory_format=torch.channels_last)
    out = instance_norm_inference(norm, x.clone(), relu=True)
    expected = F.relu(norm(x.contiguous()))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert (out - expected).abs().max() < 1e-5
    assert (instance_norm_inference(norm, x) - norm(x.contiguous())).abs().max() < 1e-5


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("grad", [False, True])
def test_instance_norm_inference_is_each_images_own_norm_bit_for_bit(affine, dtype, grad):
    # bf16 in, the affine in fp32 (or none): each image of a batch exactly as torch's batch
    # norm of that image alone computes it, in the input's dtype and memory format, both
    # when it is written into its block of one output (no autograd: animation) and when
    # the images are stacked (autograd on)
    torch.manual_seed(1)
    norm = nn.InstanceNorm2d(6, affine=affine)
    if affine:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    x = (torch.randn(4, 6, 7, 9) * 2 + 3).to(dtype, memory_format=torch.channels_last)
    with torch.set_grad_enabled(grad):
        out = instance_norm_inference(norm, x)
    with torch.no_grad():
        for i in range(x.shape[0]):
            alone = F.batch_norm(
                x[i : i + 1], None, None, norm.weight, norm.bias, True, 0.0, norm.eps
            )
            assert torch.equal(out[i : i + 1], alone)
    assert out.dtype == dtype
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert (out.float() - norm(x.float().contiguous())).abs().max() < (
        0.05 if dtype == torch.bfloat16 else 1e-5
    )


def test_gather_warp_is_grid_sample_of_the_shared_image_times_the_mask():
    torch.manual_seed(0)
    features = torch.randn(1, 5, 9, 11)
    # points inside, on the border and outside the image (zero padding)
    grid = torch.rand(4, 6, 7, 2) * 2.6 - 1.3
    grid[0, 0, 0] = torch.tensor([1.0, 1.0])
    grid[0, 0, 1] = torch.tensor([-1.0, -1.0])
    mask = torch.rand(4, 1, 6, 7)
    out = gather_warp(features, grid, mask)
    expected = (
        F.grid_sample(features.expand(4, -1, -1, -1), grid, mode="bilinear", align_corners=True)
        * mask
    )
    assert out.shape == (4, 5, 6, 7)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert (out - expected).abs().max() < 1e-5
    plain = gather_warp(features.expand(4, -1, -1, -1), grid)
    assert torch.allclose(plain * mask, expected, atol=1e-5)


def test_narrow_conv_is_the_convolution():
    from generation.models.blocks import narrow_conv, narrow_conv_applies

    torch.manual_seed(0)
    for cin, cout, k in ((6, 3, 7), (5, 1, 3), (4, 2, 5)):
        conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        x = torch.randn(2, cin, 11, 13).contiguous(memory_format=torch.channels_last)
        assert narrow_conv_applies(conv)
        with torch.no_grad():
            assert (narrow_conv(conv, x) - conv(x)).abs().max() < 1e-5
    assert not narrow_conv_applies(nn.Conv2d(4, 8, 3, padding=1))
    assert not narrow_conv_applies(nn.Conv2d(4, 1, 3, padding=0))
