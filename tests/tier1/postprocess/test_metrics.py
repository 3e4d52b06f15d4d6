"""Temporal-consistency metrics on cases whose answer is known in closed form."""
import math

import pytest
import torch

from steadyframe.flow.provider import ClipFlow, FlowOptions
from steadyframe.flow.sequence import FlowSequence
from steadyframe.postprocess.metrics import (
    frame_luma_means,
    luminance_flicker,
    measure_consistency,
    psnr,
    warping_error,
    warping_errors,
)
from support.deflicker_synthetic import moving_clip


def _zero_flow(count, height, width):
    zeros = torch.zeros(count - 1, 2, height, width)
    return FlowSequence(forward=zeros, backward=zeros.clone(), height=height, width=width)


def test_static_clip_has_no_flicker_and_no_warping_error():
    frame = moving_clip(1, 32, 40, seed=3).clean[0]
    clip = frame.expand(6, -1, -1, -1).contiguous()
    assert luminance_flicker(clip) == 0.0
    exact = warping_error(clip, ClipFlow(clip, _zero_flow(6, 32, 40)))
    assert exact.value == 0.0 and exact.pairs == 5 and exact.trusted_fraction == 1.0
    # With flow estimated by the pack's estimator (a static pair gives ~zero flow).
    estimated = warping_error(clip, ClipFlow(clip, options=FlowOptions("fast")))
    assert estimated.value < 1e-6


def test_alternating_luma_gives_the_injected_amplitude():
    low, high = 0.40, 0.46
    clip = torch.tensor([low, high] * 4).view(8, 1, 1, 1).expand(8, 16, 16, 3).contiguous()
    assert luminance_flicker(clip) == pytest.approx(255 * (high - low), rel=1e-6)


def test_gain_flicker_on_texture_matches_the_closed_form():
    clean = moving_clip(1, 24, 24, seed=5).clean[0]
    gains = torch.tensor([1.0, 1.1, 0.95, 1.05, 0.9])
    clip = clean * gains.view(5, 1, 1, 1)
    assert float(clip.max()) <= 1.0  # no clipping, so mean luma scales with the gain
    base = float(frame_luma_means(clean[None])[0])
    expected = 255 * base * float((gains[1:] - gains[:-1]).abs().mean())
    assert luminance_flicker(clip) == pytest.approx(expected, rel=1e-5)


def test_skipped_pairs_are_not_counted():
    clip = torch.tensor([0.2, 0.2, 0.8, 0.8]).view(4, 1, 1, 1).expand(4, 8, 8, 3).contiguous()
    assert luminance_flicker(clip) == pytest.approx(255 * 0.6 / 3)
    assert luminance_flicker(clip, skip_pairs=[1]) == 0.0
    assert luminance_flicker(clip[:1]) == 0.0


def test_warping_error_of_a_translating_clip_is_zero_with_its_exact_flow():
    clip = moving_clip(6, 32, 48, motion=(2, 1), seed=1)
    result = warping_error(clip.clean, clip.exact_flows())
    assert result.value == 0.0
    # Out-of-frame pixels (the band entering the window) are excluded from the mask.
    assert 0.85 < result.trusted_fraction < 1.0


def test_warping_error_is_the_per_channel_mse_of_a_known_offset():
    clip = moving_clip(5, 32, 32, motion=(1, 2), seed=2)
    delta = 0.03
    shifted = clip.clean.clone()
    shifted[1::2] += delta  # every consecutive pair now differs by exactly delta on every channel
    result = warping_error(shifted, clip.exact_flows())
    assert result.value == pytest.approx(delta ** 2, rel=1e-4)
    # The wrong flow (zero) sees motion as error: the metric depends on the flow it is given.
    assert warping_error(clip.clean, ClipFlow(clip.clean, _zero_flow(5, 32, 32))).value > 1e-4


def test_forward_backward_inconsistent_pixels_are_masked_out():
    height = width = 32
    base = moving_clip(1, height, width, seed=4).clean[0]
    clip = torch.stack([base, base.clone()])
    clip[1, 8:16, 8:16] = 1.0 - clip[1, 8:16, 8:16]  # content changes only inside the square
    forward = torch.zeros(1, 2, height, width)
    backward = torch.zeros(1, 2, height, width)
    # Inside the square the two flows disagree (both point 6 px right): forward-backward fails.
    forward[:, 0, 8:16, 8:16] = 6.0
    backward[:, 0, 8:16, 8:16] = 6.0
    flow = FlowSequence(forward=forward, backward=backward, height=height, width=width)
    masked = warping_error(clip, ClipFlow(clip, flow))
    assert masked.value == pytest.approx(0.0, abs=1e-12)
    assert masked.trusted_fraction == pytest.approx(1 - 64 / (height * width))
    unmasked = warping_error(clip, ClipFlow(clip, _zero_flow(2, height, width)))
    assert unmasked.value > 1e-3


def test_estimated_flow_separates_a_steady_clip_from_a_flickering_one():
    clip = moving_clip(4, 48, 48, motion=(2, 1), seed=6).clean
    flicker = clip * torch.tensor([1.0, 0.9, 1.1, 0.95]).view(4, 1, 1, 1)
    # Flow from the steady source, as the metric node does with a reference.
    flows = ClipFlow(clip, options=FlowOptions("fast"))
    steady, flickering = warping_errors([clip, flicker], flows)
    assert steady.pairs == flickering.pairs == 3
    assert steady.value < 0.2e-3
    assert flickering.value > 5 * steady.value


def test_psnr_of_a_known_offset_and_of_identical_clips():
    clip = moving_clip(3, 16, 16, seed=7).clean
    assert psnr(clip, clip) == math.inf
    offset = (clip + 0.01).clamp(max=1.0)
    assert float(clip.max()) <= 0.99
    assert psnr(offset, clip) == pytest.approx(40.0, abs=1e-4)


def test_mismatched_inputs_are_explained():
    clip = moving_clip(3, 16, 16).clean
    with pytest.raises(ValueError, match="reference has 2 frames of 16x16 but images has 3 frames of 16x16"):
        measure_consistency(clip, clip[:2])
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        measure_consistency(clip.permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match="but the images has 3 frames of 16x16"):
        measure_consistency(clip, flow=_zero_flow(5, 16, 16))
    with pytest.raises(ValueError, match="but images has 3 frames of 16x16"):
        warping_error(clip, ClipFlow(clip, _zero_flow(5, 16, 16)))
