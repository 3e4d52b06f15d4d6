"""flow/propagation.py: pixels adopt a neighbour's flow only when it matches the images better."""
import torch

from steadyframe.flow.propagation import box_mean, propagate_candidates
from steadyframe.flow.warp import warp_backward
from support.flow_synthetic import value_noise_texture


def _shifted_pair(dx, dy, height=64, width=80):
    big = value_noise_texture(height + 20, width + 20, seed=5)[:, 1:2] * 255
    a = big[..., 10:10 + height, 10:10 + width]
    b = big[..., 10 - dy:10 - dy + height, 10 - dx:10 - dx + width]  # a(p) = b(p + (dx, dy))
    truth = torch.empty(1, 2, height, width)
    truth[:, 0], truth[:, 1] = dx, dy
    return a.contiguous(), b.contiguous(), truth


def test_a_wrong_band_takes_the_flow_of_its_neighbours():
    a, b, truth = _shifted_pair(5, -3)
    assert torch.allclose(warp_backward(b, truth)[..., 4:-4, 6:-6], a[..., 4:-4, 6:-6])
    flow = truth.clone()
    flow[..., 20:32, :] = 0.0  # a 12-row band that did not follow the motion
    fixed = propagate_candidates(a, b, flow, (8, 4, 2, 1))
    band_error = (fixed - truth)[..., 20:32, 8:-8].norm(dim=1)
    assert band_error.max().item() < 1e-5
    # Only the wrong band changed.
    assert torch.equal(fixed[..., :16, :], truth[..., :16, :])


def test_correct_flow_is_left_alone_and_the_margin_is_respected():
    a, b, truth = _shifted_pair(2, 1)
    ramp = truth + torch.linspace(0, 0.2, 80).view(1, 1, 1, 80)  # slightly off, smoothly
    assert torch.equal(propagate_candidates(a, b, truth, (4, 1)), truth)
    # A neighbour that is only marginally better does not replace a pixel's flow.
    unchanged = propagate_candidates(a, b, ramp, (1,), margin=1e6)
    assert torch.equal(unchanged, ramp)


def test_box_mean_averages_windows_with_replicated_borders():
    image = torch.arange(30.0).view(1, 1, 5, 6)
    out = box_mean(image, 3)
    assert out.shape == image.shape
    assert out[0, 0, 2, 3].item() == image[0, 0, 1:4, 2:5].mean().item()
    padded = torch.nn.functional.pad(image, (1, 1, 1, 1), mode="replicate")
    assert out[0, 0, 0, 0].item() == padded[0, 0, 0:3, 0:3].mean().item()
