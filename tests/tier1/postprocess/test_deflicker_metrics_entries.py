"""deflicker_clip and measure_consistency: the Deflicker and Temporal Consistency nodes' work, called
with the nodes' settings."""
import re

import pytest
import torch

from steadyframe.flow.provider import FlowOptions
from steadyframe.postprocess.deflicker import DeflickerMode, GlobalSettings, deflicker_clip
from steadyframe.postprocess.metrics import luminance_flicker, measure_consistency, psnr
from support.deflicker_synthetic import inject_flicker, moving_clip

FAST = FlowOptions("fast")
BALANCED = FlowOptions("balanced")  # the Deflicker node's default flow_preset


def deflicker(images, mode="global", texture_strength=0.6, flow=None, options=BALANCED, **settings):
    """deflicker_clip with the node's defaults (strength 1, window 49, ycbcr, cuts at 0.5)."""
    mode = DeflickerMode(mode)
    result = deflicker_clip(images, GlobalSettings(method=mode.method, **settings), mode.texture, texture_strength,
                            flow, options)
    return result.images, result.cuts


@pytest.fixture(scope="module")
def clip():
    return moving_clip(16, 48, 64, motion=(1, 1), seed=20)


def test_deflicker_defaults_remove_flicker(clip):
    flickering = inject_flicker(clip.clean, seed=21)
    images, cuts = deflicker(flickering)
    assert images.shape == flickering.shape and images.dtype == flickering.dtype
    assert cuts == []
    assert luminance_flicker(images) < 0.15 * luminance_flicker(flickering)
    assert psnr(images, clip.clean) > psnr(flickering, clip.clean) + 5


def test_deflicker_strength_zero_returns_the_input(clip):
    images, cuts = deflicker(clip.clean, mode="global + texture", strength=0.0)
    assert images is clip.clean and cuts == []


def test_deflicker_texture_mode_with_connected_and_estimated_flow():
    sub = moving_clip(6, 48, 64, motion=(1, 1), seed=20)
    boiling = inject_flicker(sub.clean, gain=0.0, offset=0.0, tint=0.0, boiling=0.03, seed=22)
    progress = []
    with_flow, _ = deflicker(boiling, "global + texture", flow=sub.flow_sequence(), options=FAST)
    estimated = deflicker_clip(boiling, GlobalSettings(), True, 0.6, None, FAST,
                               progress=lambda done, total: progress.append((done, total))).images
    global_only, _ = deflicker(boiling, "global", options=FAST)
    for result in (with_flow, estimated):
        # Closer to the clean clip than the global stage alone: the boiling is averaged away.
        assert psnr(result, sub.clean) > psnr(global_only, sub.clean) + 1.0
    # One bar over the three stages: global (2F), flow (F-1), texture (2F); never backwards.
    assert progress[-1] == (29, 29) and {total for _, total in progress} == {29}
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_deflicker_reports_scene_cuts():
    first = moving_clip(8, 40, 48, seed=23).clean
    second = (moving_clip(8, 40, 48, seed=24).clean * torch.tensor([1.4, 0.8, 0.5])).clamp(0, 1)
    images, cuts = deflicker(torch.cat([first, second]))
    assert cuts == [8]


def test_deflicker_rejects_flow_of_another_clip(clip):
    other = moving_clip(5, 48, 64, seed=25)
    with pytest.raises(ValueError, match="5 frames of 64x48"):
        deflicker(clip.clean, "global + texture", flow=other.flow_sequence())
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        deflicker(clip.clean[..., :1])


def test_metrics_with_reference_and_connected_flow(clip):
    flickering = inject_flicker(clip.clean, seed=26)
    out = measure_consistency(flickering, clip.clean, True, flow=clip.flow_sequence(), options=FAST)
    assert out.flicker_fy == pytest.approx(luminance_flicker(flickering))
    assert out.psnr == pytest.approx(psnr(flickering, clip.clean))
    assert out.warp_error > 0.1  # x 1e-3: flicker shows up as warping error
    assert "reference: F_Y" in out.text and "E_warp 0.0000e-3" in out.text  # the clean source warps exactly
    assert "PSNR to reference" in out.text


def test_metrics_without_reference_estimate_flow_on_the_images(clip):
    out = measure_consistency(clip.clean[:4], options=FAST)
    assert out.psnr == -1.0 and out.flicker_fy < 1.0 and 0.0 <= out.warp_error < 0.5
    assert "'fast' flow of the images" in out.text


def test_metrics_score_with_the_flow_of_the_steady_clip_when_asked():
    # Deflicker's own use: the reference is the flickering input, whose flow is unreliable; the
    # flow of the deflickered images scores both rows.
    clip = moving_clip(10, 64, 96, motion=(2, 1), seed=27)
    flickering = inject_flicker(clip.clean, gain=0.1, offset=0.03, tint=0.02, seed=28)
    steady, _ = deflicker(flickering)
    out = measure_consistency(steady, flickering, True, "images", options=FAST)
    assert "'fast' flow of the images" in out.text
    reference_ew = float(re.search(r"^reference: .*E_warp ([0-9.]+)e-3", out.text, re.M).group(1))
    assert out.warp_error < 0.1 * reference_ew
    assert out.flicker_fy < 0.1 * luminance_flicker(flickering)


def test_metrics_edge_cases(clip):
    out = measure_consistency(clip.clean[:1], clip.clean[:1], True, options=FAST)
    assert (out.flicker_fy, out.warp_error, out.psnr) == (0.0, -1.0, 1000.0)
    assert "single frame" in out.text
    out = measure_consistency(clip.clean, measure_warp_error=False, options=FAST)
    assert out.warp_error == -1.0 and "E_warp" not in out.text
    with pytest.raises(ValueError, match="reference has 3 frames"):
        measure_consistency(clip.clean, clip.clean[:3], True, options=FAST)
