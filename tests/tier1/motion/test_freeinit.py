"""FreeInit maths (motion/freeinit.py) against element-by-element references written from the
FreeInit paper's definitions: filters, frequency mixing with explicit fftshift, the re-noise step."""
import math

import pytest
import torch

from steadyframe.motion.freeinit import FreeInitSettings, FreqFilter, diffuse, frequency_mix, low_pass_filter, reinitialize


def _reference_mask(kind, frames, height, width, d_s, d_t, order):
    mask = torch.zeros(frames, 1, height, width)
    for t in range(frames):
        for h in range(height):
            for w in range(width):
                d2 = ((d_s / d_t) * (2 * t / frames - 1)) ** 2 + (2 * h / height - 1) ** 2 + (2 * w / width - 1) ** 2
                if kind == "gaussian":
                    mask[t, 0, h, w] = math.exp(-d2 / (2 * d_s ** 2))
                elif kind == "butterworth":
                    mask[t, 0, h, w] = 1 / (1 + (d2 / d_s ** 2) ** order)
                else:
                    mask[t, 0, h, w] = 1.0 if d2 <= d_s * 2 else 0.0
    return mask


@pytest.mark.parametrize("kind", ["gaussian", "butterworth", "ideal"])
@pytest.mark.parametrize("d_s,d_t", [(0.25, 0.25), (0.4, 0.1)])
def test_filters_equal_the_pointwise_definition(kind, d_s, d_t):
    got = low_pass_filter(6, 5, 8, kind, d_s, d_t, order=3)
    assert got.shape == (6, 1, 5, 8)
    assert torch.allclose(got, _reference_mask(kind, 6, 5, 8, d_s, d_t, 3), atol=1e-7)
    # a low-pass: the centred zero frequency (even sizes) is kept fully, the corners far less
    even = low_pass_filter(6, 4, 8, kind, d_s, d_t, order=3)
    assert even[3, 0, 2, 4] == 1.0 and even[0, 0, 0, 0] < 0.5


def test_box_filter_keeps_a_centred_block():
    got = low_pass_filter(8, 8, 8, "box", 0.5, 0.5)
    assert got.sum() == 4 * 4 * 4 and got[4, 0, 4, 4] == 1 and got[0, 0, 0, 0] == 0


def test_zero_stop_frequency_replaces_everything():
    assert low_pass_filter(4, 4, 4, "gaussian", 0.0, 0.25).abs().sum() == 0


def test_frequency_mix_equals_shifted_spectra():
    gen = torch.Generator().manual_seed(0)
    x, noise = torch.randn(6, 4, 5, 8, generator=gen), torch.randn(6, 4, 5, 8, generator=gen)
    lpf = low_pass_filter(6, 5, 8, "butterworth", 0.25, 0.25, 4)
    dims = (-4, -2, -1)
    xf = torch.fft.fftshift(torch.fft.fftn(x, dim=dims), dim=dims)
    nf = torch.fft.fftshift(torch.fft.fftn(noise, dim=dims), dim=dims)
    expected = torch.fft.ifftn(torch.fft.ifftshift(xf * lpf + nf * (1 - lpf), dim=dims), dim=dims).real
    got = frequency_mix(x, noise, lpf)
    assert torch.allclose(got, expected, atol=1e-5)
    # all-pass keeps x, all-stop gives the noise
    assert torch.allclose(frequency_mix(x, noise, torch.ones_like(lpf)), x, atol=1e-5)
    assert torch.allclose(frequency_mix(x, noise, torch.zeros_like(lpf)), noise, atol=1e-5)


def test_low_frequencies_come_from_the_result_high_from_fresh_noise():
    frames = 8
    smooth = torch.ones(frames, 4, 8, 8) * 3.0  # only the zero frequency
    fresh = torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    fresh = fresh - fresh.mean(dim=(0, 2, 3), keepdim=True)  # no zero frequency
    mixed = frequency_mix(smooth, fresh, low_pass_filter(frames, 8, 8, "ideal", 0.25, 0.25))
    assert torch.allclose(mixed.mean(dim=(0, 2, 3)), torch.full((4,), 3.0), atol=1e-5)
    assert 0 < (mixed - 3.0).std() < fresh.std()


def test_diffuse_is_ddim_add_noise():
    x, n = torch.full((2, 1, 1, 1), 2.0), torch.full((2, 1, 1, 1), -1.0)
    sigma = 3.0
    a = 1 / (sigma ** 2 + 1)
    assert torch.allclose(diffuse(x, n, sigma), torch.full((2, 1, 1, 1), 2 * a ** 0.5 - (1 - a) ** 0.5))
    assert torch.allclose(diffuse(x, n, torch.tensor(sigma)), diffuse(x, n, sigma))
    out = reinitialize(x.expand(2, 1, 2, 2).clone(), n.expand(2, 1, 2, 2).clone(), torch.zeros(2, 1, 2, 2),
                       torch.ones(2, 1, 2, 2), sigma)
    assert torch.allclose(out, torch.full((2, 1, 2, 2), 2 * a ** 0.5 - (1 - a) ** 0.5), atol=1e-6)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="iterations"):
        FreeInitSettings(iterations=0)
    with pytest.raises(ValueError, match="d_t"):
        FreeInitSettings(d_t=1.5)
    with pytest.raises(ValueError, match="filter"):
        FreeInitSettings(filter="sharp")
    assert FreeInitSettings(filter="ideal").filter == FreqFilter.IDEAL
