"""flow/warp.py: backward warping convention, exactness and out-of-frame detection."""
import pytest
import torch

from steadyframe.flow.warp import out_of_frame_mask, sample_positions, warp_backward


def _constant_flow(dx, dy, height, width, batch=1):
    flow = torch.empty(batch, 2, height, width)
    flow[:, 0] = dx
    flow[:, 1] = dy
    return flow


def test_integer_shift_is_exact_in_every_mode():
    image = torch.rand(1, 3, 29, 37, generator=torch.Generator().manual_seed(0))
    flow = _constant_flow(3, -2, 29, 37)
    for mode in ("bicubic", "bilinear", "nearest"):
        out = warp_backward(image, flow, mode=mode)
        # out(y, x) = image(y - 2, x + 3) wherever that lies inside the image.
        assert torch.equal(out[:, :, 2:, :-3], image[:, :, :-2, 3:]), mode
        # Outside: border-clamped, i.e. the last column / first row repeated.
        assert torch.equal(out[:, :, 2:, -1], image[:, :, :-2, -1]), mode
        assert torch.equal(out[:, :, 0, :-3], image[:, :, 0, 3:]), mode


def test_zero_flow_is_identity():
    image = torch.rand(2, 4, 17, 23)
    assert torch.equal(warp_backward(image, torch.zeros(2, 2, 17, 23)), image)


def test_subpixel_shift_of_a_linear_ramp_is_exact_bilinear_and_close_bicubic():
    height, width = 20, 30
    xs = torch.arange(width, dtype=torch.float32).view(1, 1, 1, width).expand(1, 1, height, width)
    ys = torch.arange(height, dtype=torch.float32).view(1, 1, height, 1).expand(1, 1, height, width)
    ramp = 0.02 * xs + 0.03 * ys
    flow = _constant_flow(0.3, 0.7, height, width)
    expected = 0.02 * (xs + 0.3) + 0.03 * (ys + 0.7)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    bilinear = warp_backward(ramp, flow, mode="bilinear")
    assert torch.allclose(bilinear[inner], expected[inner], atol=1e-5)
    bicubic = warp_backward(ramp, flow, mode="bicubic")
    assert torch.allclose(bicubic[inner], expected[inner], atol=2e-3)


def test_warp_direction_matches_the_documented_convention():
    # warp_backward(image, flow)(p) = image(p + flow(p)): a bright pixel at x=10 is read at x=7 with dx=+3.
    image = torch.zeros(1, 1, 5, 20)
    image[..., 2, 10] = 1.0
    out = warp_backward(image, _constant_flow(3, 0, 5, 20))
    assert out[0, 0, 2].argmax().item() == 7


def test_out_of_frame_mask_marks_positions_leaving_the_image():
    mask = out_of_frame_mask(_constant_flow(5, 0, 8, 12))
    assert mask.shape == (1, 1, 8, 12)
    assert torch.equal(mask[0, 0, :, -5:], torch.ones(8, 5))
    assert torch.equal(mask[0, 0, :, :-5], torch.zeros(8, 7))
    mask_up = out_of_frame_mask(_constant_flow(0, -2.6, 8, 12))
    assert mask_up[0, 0, :3].eq(1).all() and mask_up[0, 0, 3:].eq(0).all()


def test_sample_positions_adds_the_pixel_grid():
    pos = sample_positions(_constant_flow(1.5, -0.5, 3, 4))
    assert pos[0, 0, 2, 3].item() == pytest.approx(4.5)
    assert pos[0, 1, 2, 3].item() == pytest.approx(1.5)


def test_bad_shapes_and_modes_are_clear_errors():
    with pytest.raises(ValueError, match=r"flow must be \(B, 2, H, W\)"):
        warp_backward(torch.rand(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="share batch size, height and width"):
        warp_backward(torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 8, 9))
    with pytest.raises(ValueError, match="not one of"):
        warp_backward(torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 8, 8), mode="lanczos")
