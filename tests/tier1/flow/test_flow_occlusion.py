"""flow/occlusion.py: forward-backward (norm test), out-of-frame and photometric confidence."""
import torch

from steadyframe.flow.estimate import estimate_flow
from steadyframe.flow.occlusion import (
    coverage_confidence,
    flow_confidence,
    forward_backward_confidence,
    in_frame_confidence,
    photometric_confidence,
)
from support.flow_synthetic import moving_disc_pair


def _constant(dx, dy, height=10, width=12):
    flow = torch.empty(1, 2, height, width)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_norm_based_test_accepts_inverse_flows_and_rejects_mismatch():
    assert forward_backward_confidence(_constant(2, 1), _constant(-2, -1)).eq(1).all()
    # |(2,0) + (-1,0)| = 1 > 0.01 * (2 + 1) + 0.5 = 0.53
    assert forward_backward_confidence(_constant(2, 0), _constant(-1, 0)).eq(0).all()
    # |(20,0) + (-19.6,0)| = 0.4 <= 0.01 * 39.6 + 0.5: the tolerance grows with the motion.
    assert forward_backward_confidence(_constant(20, 0, width=40), _constant(-19.6, 0, width=40))[..., :15].eq(1).all()


def test_norm_test_uses_norms_not_squares():
    # Mismatch 0.8: the norm test bound is 0.01 * (10 + 9.2) + 0.5 = 0.692 -> inconsistent,
    # while the squared test (0.64 <= 0.01 * (100 + 84.64) + 0.5) would accept it.
    conf = forward_backward_confidence(_constant(10, 0, width=30), _constant(-9.2, 0, width=30), beta=0.5)
    assert conf[..., :15].eq(0).all()
    loose = forward_backward_confidence(_constant(10, 0, width=30), _constant(-9.2, 0, width=30), beta=0.9)
    assert loose[..., :15].eq(1).all()


def test_in_frame_and_photometric_checks():
    assert in_frame_confidence(_constant(3, 0))[0, 0, :, -3:].eq(0).all()
    assert in_frame_confidence(_constant(3, 0))[0, 0, :, :-3].eq(1).all()
    frame = torch.rand(1, 3, 10, 12)
    changed = frame.clone()
    changed[..., 2:5, 3:7] = 1 - changed[..., 2:5, 3:7] + 0.5
    conf = photometric_confidence(frame, changed, torch.zeros(1, 2, 10, 12), threshold=0.1)
    expected = torch.ones(10, 12)
    expected[2:5, 3:7] = (((1 - frame[0, :, 2:5, 3:7] + 0.5) - frame[0, :, 2:5, 3:7]).abs().mean(0) <= 0.1).float()
    assert torch.equal(conf[0, 0], expected)
    assert conf[0, 0, 2:5, 3:7].sum() < 12  # most of the changed patch is rejected


def test_coverage_marks_pixels_no_pixel_of_b_lands_on():
    # Every pixel of b moves 3 px to the right in a: a's first 3 columns show content b lacks.
    cover = coverage_confidence(_constant(3, 0))
    assert cover[0, 0, :, :3].eq(0).all() and cover[0, 0, :, 3:].eq(1).all()
    # A half-pixel shift still covers everything (bilinear splats sum to 1 per b pixel)...
    assert coverage_confidence(_constant(0.5, 0))[0, 0, :, 1:].eq(1).all()
    # ...and a 2x zoom-in of b leaves gaps below the threshold between the splats.
    ys, xs = torch.meshgrid(torch.arange(10.0), torch.arange(12.0), indexing="ij")
    zoom = torch.stack((xs, ys)).unsqueeze(0)  # q -> 2q
    assert coverage_confidence(zoom)[0, 0, :4, :4].mean() < 0.5


def _precision_recall(unreliable, pair):
    truth = pair.occluded * (1 - pair.out_of_frame)  # disoccluded by the disc, inside the frame
    predicted = unreliable * (1 - pair.out_of_frame)
    hits = (predicted * truth).sum().item()
    return hits / max(predicted.sum().item(), 1.0), hits / truth.sum().item(), truth.mean().item()


def test_disocclusion_recall_and_precision_on_a_moving_disc():
    pair = moving_disc_pair(128, 160, magnitude=4.0, disc_motion=(7.0, 3.0), seed=11)
    flows = estimate_flow(torch.cat((pair.frame_a, pair.frame_b)), torch.cat((pair.frame_b, pair.frame_a)), "balanced")
    fb_precision, fb_recall, base_rate = _precision_recall(1 - forward_backward_confidence(flows[0:1], flows[1:2]), pair)
    combined = flow_confidence(pair.frame_a, pair.frame_b, flows[0:1], flows[1:2], photometric_threshold=None)
    precision, recall, _ = _precision_recall(1 - combined, pair)
    # Research anchors (768x512): the norm test alone reaches recall 0.88-0.97 at precision
    # 0.34-0.39 with TV-L1; even exact backward flow keeps precision below 0.55 (FB masks are "fat"
    # at motion edges). At this small size the disc's edges weigh more, hence lower bounds here;
    # benchmarks/flow.py reports the 768x512 figures. A random mask would have precision = base rate.
    assert fb_recall >= 0.55, f"forward-backward recall {fb_recall:.2f}"
    assert recall >= 0.8, f"combined recall {recall:.2f}"
    assert precision >= 0.25 and precision > 10 * base_rate, f"precision {precision:.2f}, base rate {base_rate:.3f}"


def test_combined_confidence_includes_every_check():
    pair = moving_disc_pair(64, 80, magnitude=2.0, disc_motion=(4.0, 0.0), seed=12)
    flows = estimate_flow(torch.cat((pair.frame_a, pair.frame_b)), torch.cat((pair.frame_b, pair.frame_a)))
    combined = flow_confidence(pair.frame_a, pair.frame_b, flows[0:1], flows[1:2])
    fb = forward_backward_confidence(flows[0:1], flows[1:2])
    inside = in_frame_confidence(flows[0:1])
    photo = photometric_confidence(pair.frame_a, pair.frame_b, flows[0:1])
    cover = coverage_confidence(flows[1:2])
    assert torch.equal(combined, fb * inside * cover * photo)
    only_fb = flow_confidence(pair.frame_a, pair.frame_b, flows[0:1], flows[1:2], photometric_threshold=None, coverage_threshold=None)
    assert torch.equal(only_fb, fb * inside)


def test_fast_preset_mask_is_precise_around_a_fast_occluder():
    # With the disc's rim given the right motion (neighbour propagation in the estimator), the
    # forward-backward + coverage mask no longer flags a wide band around the disc: 0.57 precision
    # at 0.98 recall here, against 0.30 at 0.96 for the same preset without propagation.
    pair = moving_disc_pair(128, 192, magnitude=4.0, disc_motion=(8, 4), seed=1, integer=True)
    flows = estimate_flow(torch.cat((pair.frame_a, pair.frame_b)), torch.cat((pair.frame_b, pair.frame_a)), "fast")
    combined = flow_confidence(pair.frame_a, pair.frame_b, flows[0:1], flows[1:2], photometric_threshold=None)
    precision, recall, _ = _precision_recall(1 - combined, pair)
    assert recall >= 0.9, f"recall {recall:.2f}"
    assert precision >= 0.45, f"precision {precision:.2f}"


def test_flow_length_is_the_euclidean_norm_per_pixel():
    from steadyframe.flow.occlusion import flow_length

    flow = torch.randn(2, 2, 7, 9, generator=torch.Generator().manual_seed(4)) * 5
    assert flow_length(flow).shape == (2, 1, 7, 9)
    assert torch.allclose(flow_length(flow), torch.linalg.vector_norm(flow, dim=1, keepdim=True), atol=1e-5)
    assert flow_length(torch.tensor([[[[3.0]], [[-4.0]]]])).item() == 5.0
