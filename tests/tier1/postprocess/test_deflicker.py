"""Deflicker on synthetic clips with known ground truth (tests/support/deflicker_synthetic.py)."""
import pytest
import torch
from kornia.color import rgb_to_grayscale

from steadyframe.flow.provider import FlowOptions, flow_for
from steadyframe.postprocess.deflicker import (
    GlobalSettings,
    collect_statistics,
    deflicker_clip,
    deflicker_global,
    detect_scene_cuts,
    estimate_shift,
    find_scene_cuts,
    interpolate_monotone,
    segments_from_cuts,
    smooth_flow_guided,
    stabilize_texture,
    symmetric_flow,
    temporal_gaussian,
)
from steadyframe.postprocess.metrics import luminance_flicker, psnr, warping_error
from support.deflicker_synthetic import inject_flicker, moving_clip, moving_disc_clip

SMALL = dict(frames=48, height=64, width=96)
MODES = [("moments", "ycbcr"), ("moments", "lab"), ("quantiles", "ycbcr"), ("quantiles", "lab")]


@pytest.fixture(scope="module")
def small_clip():
    return moving_clip(SMALL["frames"], SMALL["height"], SMALL["width"], motion=(2, 1), seed=0)


@pytest.mark.parametrize("method,space", MODES)
def test_a_constant_clip_is_unchanged(method, space):
    textured = moving_clip(1, 40, 48, seed=2).clean[0].expand(10, -1, -1, -1).contiguous()
    flat = torch.tensor([0.3, 0.5, 0.7]).expand(10, 24, 24, 3).contiguous()
    for clip in (textured, flat):
        result = deflicker_global(clip, GlobalSettings(method=method, color_space=space))
        assert result.cuts == []
        assert (result.images - clip).abs().max() < 2e-5


@pytest.mark.parametrize("space", ["ycbcr", "lab"])
def test_an_already_clean_clip_changes_by_less_than_half_a_level(small_clip, space):
    # The clip pans across new content, so whole-frame statistics drift; the global stage compares
    # consecutive frames on the content they share and must leave it alone.
    result = deflicker_global(small_clip.clean, GlobalSettings(color_space=space))
    assert result.cuts == []
    assert (result.images - small_clip.clean).abs().mean() < 0.5 / 255


@pytest.mark.parametrize("space", ["ycbcr", "lab"])
def test_histogram_mode_leaves_a_steady_shot_alone(space):
    # Histogram matching compares whole frames, so it is judged on a shot whose content stays put.
    frame = moving_clip(1, 64, 96, seed=8).clean[0]
    clip = torch.stack([frame.roll(t % 3, dims=1) for t in range(24)])
    result = deflicker_global(clip, GlobalSettings(method="quantiles", color_space=space))
    assert (result.images - clip).abs().mean() < 0.5 / 255


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_global_flicker_is_removed_and_content_kept(small_clip, seed):
    flickering = inject_flicker(small_clip.clean, gain=0.08, offset=0.02, tint=0.02, seed=seed)
    before = luminance_flicker(flickering)
    result = deflicker_global(flickering)
    assert result.cuts == []
    assert luminance_flicker(result.images) <= 0.1 * before
    assert psnr(result.images, small_clip.clean) >= 36.0
    assert psnr(result.images, small_clip.clean) > psnr(flickering, small_clip.clean) + 6.0


@pytest.mark.parametrize("method,space", MODES[1:])
def test_every_method_and_space_removes_flicker(small_clip, method, space):
    flickering = inject_flicker(small_clip.clean, seed=4)
    result = deflicker_global(flickering, GlobalSettings(method=method, color_space=space))
    assert luminance_flicker(result.images) <= 0.1 * luminance_flicker(flickering)
    assert psnr(result.images, small_clip.clean) >= 34.0


def test_texture_stage_calms_boiling_within_the_bounds(small_clip):
    boiling = inject_flicker(small_clip.clean, boiling=0.03, seed=5)
    global_only = deflicker_global(boiling).images
    # The clip's exact flow stands in for the estimator: the stage is judged, not the flow.
    steadied = stabilize_texture(global_only, small_clip, strength=0.6)
    flows = small_clip.exact_flows()
    before = warping_error(global_only, flows).value
    after = warping_error(steadied, flows).value
    assert after <= 0.15e-3 < before
    assert psnr(steadied, small_clip.clean) >= 34.0
    assert psnr(steadied, small_clip.clean) > psnr(global_only, small_clip.clean)


def test_texture_stage_does_not_pull_content_through_bad_flow(small_clip):
    clip = small_clip.clean[:6]
    # Flow that points 9 px away from the true motion fails the forward-backward check nowhere (it
    # is self-consistent) but lands on other content: the photometric gate must refuse it.
    wrong = torch.zeros(5, 2, SMALL["height"], SMALL["width"])
    wrong[:, 0] = 9.0

    class Flow:
        forward = wrong
        backward = -wrong

    wrong_warp = (clip - clip.roll(9, dims=2)).abs().mean()
    gated = stabilize_texture(clip, Flow(), strength=0.9, photometric_threshold=0.02)
    ungated = stabilize_texture(clip, Flow(), strength=0.9, photometric_threshold=10.0)
    assert (gated - clip).abs().mean() < 0.1 * wrong_warp
    assert (ungated - clip).abs().mean() > 0.3 * wrong_warp


def test_strength_zero_is_identity_and_strength_blends_linearly(small_clip):
    flickering = inject_flicker(small_clip.clean, seed=6, gain=0.04)
    zero = deflicker_global(flickering, GlobalSettings(strength=0.0))
    assert torch.equal(zero.images, flickering)
    full = deflicker_global(flickering, GlobalSettings(strength=1.0)).images
    half = deflicker_global(flickering, GlobalSettings(strength=0.5)).images
    inside = (full > 0.01) & (full < 0.99) & (flickering > 0.01) & (flickering < 0.99)
    expected = flickering + 0.5 * (full - flickering)
    assert (half - expected)[inside].abs().max() < 1e-4
    assert torch.equal(stabilize_texture(flickering[:3], small_clip_flow(small_clip, 3), strength=0.0), flickering[:3])


def small_clip_flow(clip, frames):
    class Flow:
        forward = clip.forward[:frames - 1]
        backward = clip.backward[:frames - 1]

    return Flow()


def test_one_and_two_frame_inputs(small_clip):
    one = inject_flicker(small_clip.clean[:1], seed=7)
    result = deflicker_global(one)
    assert result.images.shape == one.shape and (result.images - one).abs().max() < 2e-5
    assert torch.equal(stabilize_texture(one, small_clip_flow(small_clip, 1)), one)

    two = small_clip.clean[:2].clone()
    two[1] = (two[1] * 1.15).clamp(max=1.0)
    result = deflicker_global(two)
    assert result.cuts == []
    assert luminance_flicker(result.images) < 0.2 * luminance_flicker(two)
    steadied = stabilize_texture(result.images, small_clip_flow(small_clip, 2))
    assert steadied.shape == two.shape


def _two_scene_clip():
    first = moving_clip(12, 48, 64, motion=(1, 1), seed=10).clean
    second = moving_clip(12, 48, 64, motion=(-2, 0), seed=11).clean
    second = (second * torch.tensor([0.6, 0.8, 1.4])).clamp(0, 1)  # a bluer, different scene
    return torch.cat([first, second])


def test_a_hard_cut_keeps_both_sides_colours():
    clean = _two_scene_clip()
    flickering = inject_flicker(clean, seed=12)
    result = deflicker_global(flickering)
    assert result.cuts == [12]
    for side in (slice(0, 12), slice(12, 24)):
        clean_colour = clean[side].mean(dim=(1, 2))
        out_colour = result.images[side].mean(dim=(1, 2))
        # Every frame, the ones next to the cut included, keeps its own scene's colour (up to the
        # scene's average flicker, which no deflicker can tell from the true colour).
        assert (out_colour - clean_colour).abs().max() < 0.03
    # Without the cut the frames next to it are pulled towards the other scene.
    blended = deflicker_global(flickering, GlobalSettings(detect_cuts=False)).images
    assert (blended[11].mean(dim=(0, 1)) - clean[11].mean(dim=(0, 1))).abs().max() > 0.05


def test_scene_cut_detection_ignores_flicker_and_finds_colour_only_cuts():
    clip = moving_clip(30, 48, 64, seed=13).clean
    strong = inject_flicker(clip, gain=0.15, offset=0.04, tint=0.05, seed=14)
    assert detect_scene_cuts(strong) == []
    # Same structure, very different colour from frame 17 on: only the colour-step test sees it.
    recoloured = clip.clone()
    recoloured[17:] = (recoloured[17:] * torch.tensor([1.5, 0.7, 0.5])).clamp(0, 1)
    assert detect_scene_cuts(inject_flicker(recoloured, seed=15)) == [17]
    assert detect_scene_cuts(_two_scene_clip()) == [12]


def test_streaming_chunk_size_does_not_change_the_result(small_clip):
    flickering = inject_flicker(small_clip.clean[:20], seed=16)
    for method in ("moments", "quantiles"):
        whole = deflicker_global(flickering, GlobalSettings(method=method, chunk_size=32)).images
        chunked = deflicker_global(flickering, GlobalSettings(method=method, chunk_size=3)).images
        assert (whole - chunked).abs().max() < 1e-5


@pytest.mark.parametrize("motion,size", [((3, -2), (96, 128)), ((-7, 5), (160, 200)), ((0, 0), (64, 64))])
def test_estimate_shift_finds_whole_pixel_pans_through_flicker(motion, size):
    clip = moving_clip(2, size[0], size[1], motion=motion, seed=9).clean
    luma = rgb_to_grayscale(clip.permute(0, 3, 1, 2))[:, 0].numpy()
    # current(p) = previous(p + motion), even when the second frame is brighter and offset.
    assert estimate_shift(luma[0], luma[1] * 1.2 + 0.05) == motion


def test_temporal_gaussian_respects_segments_and_renormalises_edges():
    values = torch.tensor([1.0, 1.0, 1.0, 5.0, 5.0, 5.0], dtype=torch.float64).view(6, 1)
    smoothed = temporal_gaussian(values, segments_from_cuts(6, [3]), sigma=2.0, radius=6)
    assert torch.allclose(smoothed, values)
    across = temporal_gaussian(values, segments_from_cuts(6, []), sigma=2.0, radius=6)
    assert across[2, 0] > 2.0 and across[3, 0] < 4.0
    ramp = torch.arange(9, dtype=torch.float64).view(9, 1)
    middle = temporal_gaussian(ramp, [(0, 9)], sigma=1.0, radius=3)[4, 0]
    assert float(middle) == pytest.approx(4.0)  # a symmetric kernel keeps linear trends inside


def test_interpolate_monotone():
    xp = torch.tensor([[0.1, 0.5, 0.9]])
    fp = torch.tensor([[0.2, 0.4, 1.0]])
    x = torch.tensor([[0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]])
    expected = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.7, 1.0, 1.1]])
    assert torch.allclose(interpolate_monotone(x, xp, fp), expected)


def test_statistics_are_robust_to_outlier_pixels():
    clip = moving_clip(1, 32, 32, seed=17).clean.expand(2, -1, -1, -1).clone()
    clip[1, :2, :2] = 1.0  # a few hot pixels must not move the frame's statistics much
    stats = collect_statistics(clip, GlobalSettings())
    assert (stats.mean[1] - stats.mean[0]).abs().max() < 2e-3
    assert find_scene_cuts(stats) == []


def test_bad_input_is_explained(small_clip):
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        deflicker_clip(small_clip.clean.permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match="strength"):
        GlobalSettings(strength=1.5)
    with pytest.raises(ValueError, match="color_space"):
        GlobalSettings(color_space="hsv")
    flow = small_clip.flow_sequence()
    short = type(flow)(flow.forward[:9], flow.backward[:9], flow.height, flow.width)
    with pytest.raises(ValueError, match="48 frames of 96x64"):
        deflicker_clip(small_clip.clean, texture=True, flow=short)
    with pytest.raises(ValueError, match="consistency"):
        stabilize_texture(small_clip.clean[:3], small_clip_flow(small_clip, 3), consistency=(1.0, 0.5))


def _disc_boundary_band(clip, width_px=6):
    """(F, H, W) bool: pixels within width_px of the disc's outline in each frame."""
    import torch.nn.functional as F

    count = clip.clean.shape[0]
    disc = torch.zeros(count, 1, clip.height, clip.width)
    disc[:-1, 0] = (clip.forward[:, 0] != clip.forward[0, 0, 0, 0]).float()
    disc[-1, 0] = (clip.backward[-1, 0] != clip.backward[0, 0, 0, 0]).float()
    size = 2 * width_px + 1
    grown = F.max_pool2d(disc, size, 1, width_px)
    shrunk = 1 - F.max_pool2d(1 - disc, size, 1, width_px)
    return (grown - shrunk)[:, 0] > 0


def _band_psnr(images, clean, band):
    return float(-10 * torch.log10(((images - clean) ** 2).mean(dim=-1)[band].mean()))


@pytest.mark.parametrize("kind", ["pan", "disc"])
def test_texture_stage_with_estimated_flow_meets_the_bounds(kind):
    # The bound with the flow the node really uses (TV-L1 'balanced' on the globally
    # corrected frames), scored with the exact flow. "disc" adds a disc moving against the pan:
    # motion boundaries and occlusions must not be smeared (no ghosting at the outline).
    clip = (moving_clip(12, 96, 128, motion=(2, 1), seed=0) if kind == "pan"
            else moving_disc_clip(12, 96, 128, motion=(2, 1), disc_motion=(-3, 2), seed=0))
    boiling = inject_flicker(clip.clean, boiling=0.03, seed=5)
    global_only = deflicker_global(boiling)
    flow = flow_for(global_only.images, options=FlowOptions("balanced"))
    steadied = stabilize_texture(global_only.images, flow, strength=0.6, cuts=global_only.cuts)
    exact = clip.exact_flows()
    assert warping_error(steadied, exact).value <= 0.15e-3
    assert psnr(steadied, clip.clean) >= 34.0
    assert psnr(steadied, clip.clean) > psnr(global_only.images, clip.clean) + 1.5
    if kind == "disc":
        band = _disc_boundary_band(clip)
        assert _band_psnr(steadied, clip.clean, band) >= _band_psnr(global_only.images, clip.clean, band)


def test_moving_disc_clip_has_exact_flow():
    clip = moving_disc_clip(5, 48, 64, motion=(2, 1), disc_motion=(-3, 2), seed=3)
    exact = clip.exact_flows()
    result = warping_error(clip.clean, exact)
    assert result.value == 0.0
    # The disc hides and reveals background: some pixels fail the forward-backward check.
    assert 0.8 < result.trusted_fraction < 0.99


def test_symmetric_flow_averages_consistent_estimates_and_leaves_occlusions_alone():
    generator = torch.Generator().manual_seed(0)
    truth = torch.tensor([1.5, -0.5]).view(1, 2, 1, 1).expand(1, 2, 32, 32)
    forward = truth + 0.3 * torch.randn(1, 2, 32, 32, generator=generator)
    backward = -truth + 0.3 * torch.randn(1, 2, 32, 32, generator=generator)
    averaged, confidence = symmetric_flow(forward, backward)
    inside = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    assert (averaged - truth)[inside].norm(dim=1).mean() < 0.8 * (forward - truth)[inside].norm(dim=1).mean()
    # Between the two tolerances the weight falls smoothly instead of dropping to 0.
    assert ((confidence > 0.05) & (confidence < 0.95)).any()
    # A region whose backward flow disagrees by 4 px (an occlusion) gets no weight and keeps its
    # own estimate.
    occluded = backward.clone()
    occluded[:, :, 10:20, 10:20] += 4.0
    averaged, confidence = symmetric_flow(forward, occluded)
    assert confidence[:, :, 12:16, 12:16].max() == 0
    assert torch.equal(averaged[:, :, 12:16, 12:16], forward[:, :, 12:16, 12:16])


def test_guided_flow_smoothing_removes_noise_but_keeps_edges_and_ignores_untrusted_vectors():
    generator = torch.Generator().manual_seed(1)
    guide = torch.full((1, 3, 40, 40), 0.2)
    guide[:, :, :, 20:] = 0.8  # an object edge in the frame
    truth = torch.zeros(1, 2, 40, 40)
    truth[:, 0, :, 20:] = 3.0  # ... that is also a motion boundary
    noisy = truth + 0.3 * torch.randn(1, 2, 40, 40, generator=generator)
    weight = torch.ones(1, 1, 40, 40)
    smoothed = smooth_flow_guided(noisy, guide, weight)
    error_before = (noisy - truth).norm(dim=1)
    error_after = (smoothed - truth).norm(dim=1)
    assert error_after.mean() < 0.4 * error_before.mean()
    # Next to the edge too: nothing leaks across it.
    assert error_after[:, :, 18:22].mean() < 0.5 * error_before[:, :, 18:22].mean()
    # Vectors with zero weight (an occluded, wrong patch) do not pull their neighbours.
    wrong = truth.clone()
    wrong[:, :, 5:10, 5:10] = 20.0
    untrusted = weight.clone()
    untrusted[:, :, 5:10, 5:10] = 0.0
    smoothed = smooth_flow_guided(wrong, guide, untrusted)
    assert (smoothed - truth)[:, :, 4:11, 4:11].abs().max() < 1e-4
