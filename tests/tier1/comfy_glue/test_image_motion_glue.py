"""PIA's wider conv_in without ComfyUI: a conv of the same class that shares the UNet's weights."""
import pytest
import torch
import torch.nn.functional as F

from steadyframe.comfy_glue.image_motion import check_start_image, wide_conv_in


def _conv():
    conv = torch.nn.Conv2d(4, 32, 3, padding=1)
    torch.nn.init.normal_(conv.weight, generator=torch.Generator().manual_seed(0))
    return conv


def test_wide_conv_in_shares_weights_and_equals_the_nine_channel_conv():
    conv = _conv()
    extra = torch.randn(32, 5, 3, 3, generator=torch.Generator().manual_seed(1))
    wide = wide_conv_in(conv, extra)
    assert isinstance(wide, torch.nn.Conv2d) and wide.weight is conv.weight and wide.bias is conv.bias
    x = torch.randn(2, 9, 6, 7, generator=torch.Generator().manual_seed(2))
    full = F.conv2d(x, torch.cat([conv.weight, extra], 1), conv.bias, 1, 1)
    assert torch.allclose(wide(x), full, atol=1e-5)
    # without the extra channels (another clone's call) it is the UNet's conv
    assert torch.equal(wide(x[:, :4]), conv(x[:, :4]))
    assert type(conv) is torch.nn.Conv2d  # the UNet's own conv class is not changed


def test_wide_conv_in_refuses_a_conv_of_another_width():
    with pytest.raises(ValueError, match=r"conv_in is 32 channels, kernel \(3, 3\); the file's extra kernel is \(320, 5, 3, 3\)"):
        wide_conv_in(_conv(), torch.zeros(320, 5, 3, 3))


@pytest.mark.parametrize("image,message", [
    (torch.zeros(64, 64, 3), r"got \(64, 64, 3\)"),
    (torch.zeros(1, 64, 64, 2), r"got \(1, 64, 64, 2\)"),
    (torch.zeros(1, 4, 64, 3), "is 64x4 pixels; it needs at least 8x8"),
    ("image.png", "got str"),
])
def test_start_image_checks(image, message):
    with pytest.raises(ValueError, match=message):
        check_start_image(image, "Load PIA (pia.ckpt)")
