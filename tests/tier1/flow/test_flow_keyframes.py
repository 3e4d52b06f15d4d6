"""flow/keyframe_warp.py: FlowWarp on synthetic clips with known motion and a pointwise "style".

A pointwise style S commutes with warping, so the ground truth of a stylised frame t is S(frame t).
"""
import pytest
import torch
import torch.nn.functional as F

from steadyframe.flow.keyframe_warp import (
    WarpSettings,
    check_keyframes,
    dilate_mask,
    flow_warp,
    format_frame_indices,
    parse_keyframe_indices,
    warp_keyframes,
)
from steadyframe.flow.provider import ClipFlow, FlowOptions, flow_for
from steadyframe.flow.sequence import FlowSequence
from support.flow_synthetic import moving_disc_pair, translated_sequence


def style_a(x):
    return x.clamp(0, 1) ** 0.5


def style_b(x):
    return 1.0 - x


STEP = (2, 1)  # pixels per frame


@pytest.fixture(scope="module")
def clip():
    return translated_sequence(6, 40, 48, step=STEP, seed=21)


@pytest.fixture(scope="module")
def two_key_result(clip):
    keyframes = torch.stack((style_a(clip[0]), style_b(clip[5])))
    images, masks = warp_keyframes(ClipFlow(clip), keyframes, [0, 5], WarpSettings(mask_dilation=0))
    return keyframes, images, masks


def test_keyframes_come_out_exactly_at_their_indices(two_key_result):
    keyframes, images, masks = two_key_result
    assert torch.equal(images[0], keyframes[0]) and torch.equal(images[5], keyframes[1])
    assert masks[0].eq(0).all() and masks[5].eq(0).all()


def test_shapes_and_dtypes(clip, two_key_result):
    _, images, masks = two_key_result
    assert images.shape == clip.shape and images.dtype == torch.float32
    assert masks.shape == clip.shape[:3] and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert images.min() >= 0 and images.max() <= 1


def test_frames_between_keyframes_blend_both_warps_by_distance(clip, two_key_result):
    _, images, _ = two_key_result
    for t in (1, 2, 3, 4):
        # Pixels whose content is inside both keyframes (away from the entering/leaving edges).
        ys = slice(t * STEP[1] + 3, 40 - (5 - t) * STEP[1] - 3)
        xs = slice(t * STEP[0] + 3, 48 - (5 - t) * STEP[0] - 3)
        w_a = (5 - t) / 5
        expected = w_a * style_a(clip[t]) + (1 - w_a) * style_b(clip[t])
        error = (images[t, ys, xs] - expected[ys, xs]).abs()
        assert error.mean().item() < 0.01, f"frame {t}: mean error {error.mean().item():.4f}"
        # The plain temporal blend of one style would be far off: the test can fail.
        assert (images[t, ys, xs] - style_a(clip[t])[ys, xs]).abs().mean().item() > 0.05


def test_pixels_only_one_keyframe_shows_come_from_that_keyframe(clip, two_key_result):
    _, images, masks = two_key_result
    t = 3
    # The left strip entered the frame after keyframe 0: only keyframe 5 (style_b) shows it.
    ys, xs = slice(t * STEP[1] + 2, 40 - (5 - t) * STEP[1] - 2), slice(0, t * STEP[0] - 2)
    assert (images[t, ys, xs] - style_b(clip[t])[ys, xs]).abs().mean().item() < 0.02
    assert masks[t, ys, xs].eq(0).all()
    # The bottom-left corner is in neither keyframe: masked for inpainting.
    assert masks[t, -1, 0] == 1


def test_single_keyframe_masks_the_entering_edge_and_dilation_grows_it(clip):
    keyframes = style_a(clip[0:1])
    images, masks = warp_keyframes(ClipFlow(clip), keyframes, [0], WarpSettings(mask_dilation=0))
    _, grown = warp_keyframes(ClipFlow(clip), keyframes, [0], WarpSettings(mask_dilation=3))
    for t in range(1, 4):  # further away the motion reaches a quarter of this 48 px wide frame
        left = t * STEP[0]
        top = t * STEP[1]
        assert masks[t, :, : left - 1].eq(1).all(), f"frame {t}: entering columns must be masked"
        assert masks[t, :top - 1 if top > 1 else 0, :].eq(1).all()
        interior = (slice(top + 3, None), slice(left + 3, None))
        assert masks[t][interior].mean().item() < 0.02
        reliable = masks[t] == 0
        error = (images[t] - style_a(clip[t])).abs().mean(-1)[reliable]
        assert error.mean().item() < 0.01
        assert torch.equal(grown[t], F.max_pool2d(masks[t][None, None], 7, 1, 3)[0, 0])


def test_composed_flow_mode_matches_ground_truth_too(clip):
    seq = flow_for(clip, options=FlowOptions(preset="balanced"))
    keyframes = torch.stack((style_a(clip[0]), style_b(clip[5])))
    images, masks = warp_keyframes(ClipFlow(clip, seq), keyframes, [0, 5], WarpSettings(mask_dilation=0))
    assert torch.equal(images[0], keyframes[0]) and torch.equal(images[5], keyframes[1])
    for t in (1, 2, 3, 4):
        ys = slice(t * STEP[1] + 3, 40 - (5 - t) * STEP[1] - 3)
        xs = slice(t * STEP[0] + 3, 48 - (5 - t) * STEP[0] - 3)
        w_a = (5 - t) / 5
        expected = w_a * style_a(clip[t]) + (1 - w_a) * style_b(clip[t])
        assert (images[t, ys, xs] - expected[ys, xs]).abs().mean().item() < 0.015
        assert masks[t, ys, xs].mean().item() < 0.02


def test_disoccluded_background_is_masked_and_the_rest_is_correct():
    pair = moving_disc_pair(128, 160, magnitude=4.0, disc_motion=(7.0, 3.0), seed=11)
    frames = torch.cat((pair.frame_b, pair.frame_a)).permute(0, 2, 3, 1)  # keyframe first, target second
    keyframes = style_a(frames[0:1])
    images, masks = warp_keyframes(ClipFlow(frames), keyframes, [0], WarpSettings(mask_dilation=0))
    truth = (pair.occluded * (1 - pair.out_of_frame))[0, 0]
    mask = masks[1]
    recall = (mask * truth).sum() / truth.sum()
    assert recall.item() >= 0.85, f"recall {recall.item():.2f}"
    good = (mask == 0) & (pair.occluded[0, 0] == 0)
    error = (images[1] - style_a(frames[1])).abs().mean(-1)[good]
    assert error.mean().item() < 0.01
    # Dilation only adds pixels: recall can only grow.
    _, grown = warp_keyframes(ClipFlow(frames), keyframes, [0], WarpSettings(mask_dilation=2))
    assert ((grown[1] * truth).sum() / truth.sum()).item() >= recall.item()


def test_odd_size_and_single_frame_batch():
    clip = translated_sequence(3, 29, 37, step=(1, 1), seed=2)
    images, masks = warp_keyframes(ClipFlow(clip), clip[1:2], [1])
    assert images.shape == (3, 29, 37, 3) and masks.shape == (3, 29, 37)
    single, single_mask = warp_keyframes(ClipFlow(clip[:1]), clip[:1] * 0.5, [0])
    assert torch.equal(single, clip[:1] * 0.5) and single_mask.eq(0).all()


def test_formatted_indices_parse_back():
    text = format_frame_indices([0, 10, 22, 30])
    assert text == "0, 10, 22, 30"
    assert parse_keyframe_indices(text, 31) == [0, 10, 22, 30]
    assert format_frame_indices([]) == ""


def test_parse_keyframe_indices():
    assert parse_keyframe_indices("0, 12,24", 30) == [0, 12, 24]
    assert parse_keyframe_indices(" 5\t0 ", 6) == [5, 0]
    assert parse_keyframe_indices("0, -1", 10) == [0, 9]
    with pytest.raises(ValueError, match=r"'x4' at column 4 is not a whole frame number"):
        parse_keyframe_indices("0, x4", 10)
    with pytest.raises(ValueError, match=r"'0;5' at column 1"):
        parse_keyframe_indices("0;5", 10)
    with pytest.raises(ValueError, match=r"index 10 at column 4 is out of range; the source has 10 frames"):
        parse_keyframe_indices("0, 10", 10)
    with pytest.raises(ValueError, match=r"index -11 at column 1 is out of range"):
        parse_keyframe_indices("-11", 10)
    with pytest.raises(ValueError, match=r"frame 3 is given twice \(columns 1 and 4\)"):
        parse_keyframe_indices("3, 3", 10)
    with pytest.raises(ValueError, match="keyframe_indices is empty"):
        parse_keyframe_indices(" , ", 10)


def test_keyframe_count_and_size_errors_name_both_sides():
    frames = torch.rand(5, 16, 20, 3)
    with pytest.raises(ValueError, match=r"got 2 keyframe image\(s\) but 3 keyframe index\(es\) \(0, 2, 4\)"):
        check_keyframes(frames, torch.rand(2, 16, 20, 3), [0, 2, 4])
    with pytest.raises(ValueError, match=r"keyframes are 24x16 but the source frames are 20x16"):
        check_keyframes(frames, torch.rand(1, 16, 24, 3), [0])
    resized = check_keyframes(frames, torch.rand(1, 8, 10, 3), [0], resize=True)
    assert resized.shape == (1, 16, 20, 3) and resized.min() >= 0 and resized.max() <= 1


def test_dilate_mask_grows_by_the_radius():
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 4, 4] = 1
    grown = dilate_mask(mask, 2)
    assert grown.sum() == 25 and grown[0, 0, 2:7, 2:7].eq(1).all()
    assert torch.equal(dilate_mask(mask, 0), mask)


def test_direct_mode_streams_one_frame_of_flow_at_a_time():
    from steadyframe.flow.keyframe_warp import direct_propagations

    calls = []

    def counting(frame_a, frame_b):
        calls.append(frame_a.shape[0])
        return torch.zeros(frame_a.shape[0], 2, *frame_a.shape[-2:])

    frames = torch.rand(7, 12, 16, 3)
    stream = direct_propagations(frames, [0, 6], WarpSettings(), FlowOptions(estimator=counting))
    assert next(stream) == [] and calls == []  # keyframe: nothing estimated
    first = next(stream)
    # Frame 1: target->key and key->target for both keyframes, in one batch of 4 pairs.
    assert calls == [4] and [p.key for p in first] == [0, 6]
    remaining = list(stream)
    assert len(remaining) == 5 and remaining[-1] == [] and calls == [4] * 5  # frames 1-5


# Flow Warp Keyframes as the node calls it (was tests/tier1/nodes/test_flow_nodes.py).

def test_flow_warp_with_and_without_precomputed_flow():
    clip = translated_sequence(4, 32, 40, step=(1, 1), seed=5)
    keyframes = torch.stack((1 - clip[0], 1 - clip[3]))
    images, mask = flow_warp(clip, keyframes, "0, 3")
    assert images.shape == clip.shape and mask.shape == clip.shape[:3]
    assert torch.equal(images[0], keyframes[0]) and torch.equal(images[3], keyframes[1])
    assert ((images[1:3] - (1 - clip[1:3])).abs()[:, 4:-4, 4:-4]).mean().item() < 0.01
    flow = flow_for(clip)
    images2, mask2 = flow_warp(clip, keyframes, "0, 3", flow=flow)
    assert torch.equal(images2[3], keyframes[1])
    assert ((images2[1:3] - (1 - clip[1:3])).abs()[:, 4:-4, 4:-4]).mean().item() < 0.01


def test_flow_warp_errors():
    clip = translated_sequence(4, 32, 40, step=(1, 1), seed=5)
    with pytest.raises(ValueError, match=r"got 2 keyframe image\(s\) but 1 keyframe index\(es\)"):
        flow_warp(clip, clip[:2], "0")
    with pytest.raises(ValueError, match="index 7 at column 4 is out of range; the source has 4 frames"):
        flow_warp(clip, clip[:2], "0, 7")
    with pytest.raises(ValueError, match="keyframes are 20x16 but the source frames are 40x32"):
        flow_warp(clip, clip[:1, ::2, ::2], "0")
    images, _ = flow_warp(clip, clip[:1, ::2, ::2], "0", on_size_mismatch="resize keyframes")
    assert images.shape == clip.shape
    other = FlowSequence(torch.zeros(2, 2, 32, 40), torch.zeros(2, 2, 32, 40), 32, 40)
    with pytest.raises(ValueError, match="computed for 3 frames of 40x32 but frames has 4 frames of 40x32"):
        flow_warp(clip, clip[:1], "0", flow=other)
    with pytest.raises(ValueError, match="'stretch' is not a valid SizeMismatch"):
        flow_warp(clip, clip[:1], "0", on_size_mismatch="stretch")
