"""flow/provider.py: one place that gives a clip's flow (the connected FlowSequence, else estimated)."""
import pytest
import torch

from steadyframe.flow.provider import ClipFlow, FlowOptions, check_clip, flow_for
from steadyframe.flow.sequence import FlowSequence
from support.flow_synthetic import translated_sequence


def test_forward_and_backward_flows_of_a_translating_clip():
    frames = translated_sequence(3, 48, 64, step=(2, 1), seed=0)
    calls = []
    seq = flow_for(frames, options=FlowOptions(preset="balanced"), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    assert seq.forward.shape == seq.backward.shape == (2, 2, 48, 64)
    assert (seq.height, seq.width, seq.frame_count) == (48, 64, 3)
    assert seq.forward.dtype == torch.float32 and seq.forward.device.type == "cpu"
    # frames[t](p) = frames[t+1](p + (2, 1)): forward flow +step, backward -step.
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    assert torch.allclose(seq.forward[inner].mean(dim=(2, 3)), torch.tensor([[2.0, 1.0]] * 2), atol=0.05)
    assert torch.allclose(seq.backward[inner].mean(dim=(2, 3)), torch.tensor([[-2.0, -1.0]] * 2), atol=0.05)


def test_single_frame_gives_empty_flows_and_no_progress():
    calls = []
    seq = flow_for(torch.rand(1, 20, 24, 3), progress=lambda d, t: calls.append(d))
    assert seq.forward.shape == (0, 2, 20, 24) and seq.frame_count == 1 and calls == []
    with pytest.raises(ValueError, match=r"frames needs at least 2 frame\(s\), got 1"):
        flow_for(torch.rand(1, 20, 24, 3), minimum=2)


def test_progress_callback_can_cancel():
    class Cancelled(Exception):
        pass

    def cancel(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        flow_for(torch.rand(3, 16, 16, 3), options=FlowOptions(preset="fast"), progress=cancel)


def test_flow_for_another_clip_is_refused_with_both_sizes():
    seq = FlowSequence(torch.zeros(4, 2, 8, 10), torch.zeros(4, 2, 8, 10), 8, 10)
    seq.check_frames(5, 8, 10)
    with pytest.raises(ValueError, match=r"computed for 5 frames of 10x8 but frames has 6 frames of 10x8"):
        seq.check_frames(6, 8, 10)
    with pytest.raises(ValueError, match=r"computed for 5 frames of 10x8 but frames has 6 frames of 10x8"):
        flow_for(torch.rand(6, 8, 10, 3), seq)
    with pytest.raises(ValueError, match=r"computed for 5 frames of 10x8 but images has 5 frames of 12x8"):
        ClipFlow(torch.rand(5, 8, 12, 3), seq)


def test_a_given_flow_is_reused_not_estimated():
    def refuse(frame_a, frame_b):
        raise AssertionError("a consecutive pair of a given flow was estimated")

    forward = torch.randn(2, 2, 8, 10)
    seq = FlowSequence(forward, -forward, 8, 10)
    assert flow_for(torch.rand(3, 8, 10, 3), seq, FlowOptions(estimator=refuse)) is seq
    flows = ClipFlow(torch.rand(3, 8, 10, 3), seq, FlowOptions(estimator=refuse))
    there, back = flows.pair(1, 2)
    assert torch.equal(there[0], forward[1]) and torch.equal(back[0], -forward[1])


def test_pairs_the_flow_lacks_are_estimated_in_both_directions_in_one_batch():
    calls = []

    def constant(frame_a, frame_b):
        calls.append(tuple(frame_a.shape))
        return torch.arange(frame_a.shape[0], dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 2, *frame_a.shape[-2:])

    seq = FlowSequence(torch.zeros(2, 2, 8, 10), torch.zeros(2, 2, 8, 10), 8, 10)
    flows = ClipFlow(torch.rand(3, 8, 10, 3), seq, FlowOptions(estimator=constant))
    there, back = flows.pair(2, 0)  # a loop's closing pair: not in the sequence
    assert calls == [(2, 3, 8, 10)]
    assert there.shape == back.shape == (1, 2, 8, 10)
    assert there.eq(0).all() and back.eq(1).all()


def test_wrong_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"frames must be \(F, H, W, 3\)"):
        flow_for(torch.rand(3, 3, 16, 16))
    with pytest.raises(ValueError, match=r"images must be a torch tensor"):
        check_clip([1, 2, 3])
    with pytest.raises(ValueError, match=r"the flow input must be the output of the Optical Flow node, got dict"):
        ClipFlow(torch.rand(3, 8, 10, 3), {"forward": None})
