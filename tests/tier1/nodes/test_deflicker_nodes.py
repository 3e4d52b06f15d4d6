"""The Deflicker and Temporal Consistency nodes called the way ComfyUI calls them."""
import re

import pytest
import torch

from steadyframe.flow.sequence import FlowSequence
from steadyframe.nodes.deflicker_nodes import SteadyFrameDeflicker, SteadyFrameTemporalConsistency
from steadyframe.postprocess.metrics import luminance_flicker, psnr
from support.deflicker_synthetic import inject_flicker, moving_clip


def _defaults(node_class):
    inputs = node_class.INPUT_TYPES()["required"]
    return {name: spec[1]["default"] for name, spec in inputs.items() if len(spec) > 1 and "default" in spec[1]}


def _exact_flow(clip):
    return FlowSequence(forward=clip.forward, backward=clip.backward, height=clip.height, width=clip.width)


@pytest.fixture(scope="module")
def clip():
    return moving_clip(16, 48, 64, motion=(1, 1), seed=20)


def test_deflicker_node_defaults_remove_flicker(clip):
    flickering = inject_flicker(clip.clean, seed=21)
    images, cuts = SteadyFrameDeflicker().deflicker(flickering, **_defaults(SteadyFrameDeflicker))
    assert images.shape == flickering.shape and images.dtype == flickering.dtype
    assert cuts == ""
    assert luminance_flicker(images) < 0.15 * luminance_flicker(flickering)
    assert psnr(images, clip.clean) > psnr(flickering, clip.clean) + 5


def test_deflicker_node_strength_zero_returns_the_input(clip):
    settings = dict(_defaults(SteadyFrameDeflicker), strength=0.0, mode="global + texture")
    images, cuts = SteadyFrameDeflicker().deflicker(clip.clean, **settings)
    assert images is clip.clean and cuts == ""


def test_deflicker_node_texture_mode_with_connected_and_estimated_flow(clip):
    sub = moving_clip(6, 48, 64, motion=(1, 1), seed=20)
    boiling = inject_flicker(sub.clean, gain=0.0, offset=0.0, tint=0.0, boiling=0.03, seed=22)
    node = SteadyFrameDeflicker()
    base = dict(_defaults(SteadyFrameDeflicker), mode="global + texture", flow_preset="fast")
    with_flow, _ = node.deflicker(boiling, **base, flow=_exact_flow(sub))
    estimated, _ = node.deflicker(boiling, **base)
    global_only, _ = node.deflicker(boiling, **dict(base, mode="global"))
    for result in (with_flow, estimated):
        # Closer to the clean clip than the global stage alone: the boiling is averaged away.
        assert psnr(result, sub.clean) > psnr(global_only, sub.clean) + 1.0


def test_deflicker_node_reports_scene_cuts():
    first = moving_clip(8, 40, 48, seed=23).clean
    second = (moving_clip(8, 40, 48, seed=24).clean * torch.tensor([1.4, 0.8, 0.5])).clamp(0, 1)
    images, cuts = SteadyFrameDeflicker().deflicker(torch.cat([first, second]), **_defaults(SteadyFrameDeflicker))
    assert cuts == "8"


def test_deflicker_node_rejects_flow_of_another_clip(clip):
    other = moving_clip(5, 48, 64, seed=25)
    settings = dict(_defaults(SteadyFrameDeflicker), mode="global + texture")
    with pytest.raises(ValueError, match="5 frames of 64x48"):
        SteadyFrameDeflicker().deflicker(clip.clean, **settings, flow=_exact_flow(other))
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        SteadyFrameDeflicker().deflicker(clip.clean[..., :1], **_defaults(SteadyFrameDeflicker))


def test_metrics_node_with_reference_and_connected_flow(clip):
    flickering = inject_flicker(clip.clean, seed=26)
    node = SteadyFrameTemporalConsistency()
    out = node.measure(flickering, flow_preset="fast", measure_warp_error=True, reference=clip.clean,
                       flow=_exact_flow(clip))
    report, fy, ew, value = out["result"]
    assert out["ui"]["text"] == [report]
    assert fy == pytest.approx(luminance_flicker(flickering))
    assert value == pytest.approx(psnr(flickering, clip.clean))
    assert ew > 0.1  # x 1e-3: flicker shows up as warping error
    assert "reference: F_Y" in report and "E_warp 0.0000e-3" in report  # the clean source warps exactly
    assert "PSNR to reference" in report


def test_metrics_node_without_reference_estimates_flow_on_the_images(clip):
    out = SteadyFrameTemporalConsistency().measure(clip.clean[:4], flow_preset="fast", measure_warp_error=True)
    report, fy, ew, value = out["result"]
    assert value == -1.0 and fy < 1.0 and 0.0 <= ew < 0.5
    assert "'fast' flow of the images" in report


def test_metrics_node_scores_with_the_flow_of_the_steady_clip_when_asked():
    # Deflicker's own use: the reference is the flickering input, whose flow is unreliable; the
    # flow of the deflickered images scores both rows.
    clip = moving_clip(10, 64, 96, motion=(2, 1), seed=27)
    flickering = inject_flicker(clip.clean, gain=0.1, offset=0.03, tint=0.02, seed=28)
    steady, _ = SteadyFrameDeflicker().deflicker(flickering, **_defaults(SteadyFrameDeflicker))
    out = SteadyFrameTemporalConsistency().measure(steady, "fast", True, reference=flickering, flow_from="images")
    report, fy, ew, value = out["result"]
    assert "'fast' flow of the images" in report
    reference_ew = float(re.search(r"^reference: .*E_warp ([0-9.]+)e-3", report, re.M).group(1))
    assert ew < 0.1 * reference_ew
    assert fy < 0.1 * luminance_flicker(flickering)


def test_metrics_node_edge_cases(clip):
    node = SteadyFrameTemporalConsistency()
    report, fy, ew, value = node.measure(clip.clean[:1], "fast", True, reference=clip.clean[:1])["result"]
    assert (fy, ew, value) == (0.0, -1.0, 1000.0)
    assert "single frame" in report
    report, fy, ew, value = node.measure(clip.clean, "fast", False)["result"]
    assert ew == -1.0 and "E_warp" not in report
    with pytest.raises(ValueError, match="reference has 3 frames"):
        node.measure(clip.clean, "fast", True, reference=clip.clean[:3])
