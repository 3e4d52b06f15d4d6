"""flow/sequence.py: consecutive-frame flows computed once (the SF_FLOW payload)."""
import pytest
import torch

from steadyframe.flow.sequence import FlowSequence, compute_flow_sequence
from support.flow_synthetic import translated_sequence


def test_forward_and_backward_flows_of_a_translating_clip():
    frames = translated_sequence(3, 48, 64, step=(2, 1), seed=0)
    calls = []
    seq = compute_flow_sequence(frames, preset="balanced", progress=lambda done, total: calls.append((done, total)))
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
    seq = compute_flow_sequence(torch.rand(1, 20, 24, 3), progress=lambda d, t: calls.append(d))
    assert seq.forward.shape == (0, 2, 20, 24) and seq.frame_count == 1 and calls == []


def test_progress_callback_can_cancel():
    class Cancelled(Exception):
        pass

    def cancel(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        compute_flow_sequence(torch.rand(3, 16, 16, 3), preset="fast", progress=cancel)


def test_flow_for_another_clip_is_refused_with_both_sizes():
    seq = FlowSequence(torch.zeros(4, 2, 8, 10), torch.zeros(4, 2, 8, 10), 8, 10)
    seq.check_frames(5, 8, 10)
    with pytest.raises(ValueError, match=r"computed for 5 frames of 10x8 but frames has 6 frames of 10x8"):
        seq.check_frames(6, 8, 10)


def test_wrong_layout_is_a_clear_error():
    with pytest.raises(ValueError, match=r"frames must be \(F, H, W, 3\)"):
        compute_flow_sequence(torch.rand(3, 3, 16, 16))
