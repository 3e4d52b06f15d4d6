"""Deflicker of a chunked long video: the carried reference statistics make every frame the unchunked
result, except the last (window-1)/2 frames of each chunk, whose future is not loaded yet."""
import pytest
import torch

from steadyframe.chunking import ChunkPlan, load_state, save_state
from steadyframe.postprocess.chunk_span import ChunkSpan
from steadyframe.postprocess.deflicker import GlobalSettings, deflicker_clip
from steadyframe.postprocess.deflicker_chunks import DeflickerCarry, deflicker_chunk
from steadyframe.postprocess.metrics import psnr
from support.deflicker_synthetic import inject_flicker, moving_clip

FRAMES, HEIGHT, WIDTH = 60, 40, 56


@pytest.fixture(scope="module")
def clip():
    synthetic = moving_clip(FRAMES, HEIGHT, WIDTH, motion=(2, 1), seed=3)
    flickering = inject_flicker(synthetic.clean, gain=0.1, offset=0.02, tint=0.03, seed=4)
    # A scene cut at frame 33: the second half shows another texture.
    other = moving_clip(FRAMES, HEIGHT, WIDTH, motion=(1, 2), seed=9)
    clean = torch.cat((synthetic.clean[:33], other.clean[33:]))
    flickering = torch.cat((flickering[:33], inject_flicker(other.clean, gain=0.1, seed=5)[33:]))
    return clean, flickering, synthetic


def run_chunks(images, plan, state_dir, settings, **options):
    """Deflicker chunk by chunk as the node does (state through chunking.state); returns the frames each
    chunk writes (lead frames dropped, as Video Combine drops them) and every chunk's output cuts."""
    written, cuts = [], []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(state_dir))
        loaded = load_state(chunk, "deflicker.1")
        result, carry = deflicker_chunk(images[chunk.first:chunk.end], ChunkSpan.of(chunk), settings,
                                        None if loaded is None else DeflickerCarry(*loaded), **options)
        assert result.images.shape[0] == chunk.frames
        if carry is not None:
            save_state(chunk, "deflicker.1", carry.tensors, carry.meta)
        written.append(result.images[chunk.lead:])
        cuts.extend(result.cuts)
    return torch.cat(written), sorted(set(cuts))


def exact_frames(plan, radius):
    """Frames whose Gaussian window ends inside the chunk that writes them."""
    frames = []
    for index in range(plan.count):
        chunk = plan.chunk(index)
        frames.extend(t for t in range(chunk.first_new, chunk.end) if t + radius < chunk.end or chunk.is_last)
    return frames


@pytest.mark.parametrize("method", ["moments", "quantiles"])
@pytest.mark.parametrize("chunk_frames,overlap", [(20, 4), (17, 0), (25, 24)])
def test_chunked_global_deflicker_matches_the_unchunked_run(tmp_path, clip, method, chunk_frames, overlap):
    clean, flickering, _ = clip
    settings = GlobalSettings(window=9, method=method)
    whole = deflicker_clip(flickering, settings)
    plan = ChunkPlan(FRAMES, chunk_frames, overlap)
    chunked, cuts = run_chunks(flickering, plan, tmp_path, settings)
    assert chunked.shape == whole.images.shape and cuts == whole.cuts == [33]
    exact = exact_frames(plan, settings.radius)
    assert len(exact) > FRAMES // 2
    # Pair measurements share a crop margin within each batch of frames, and the batches start where
    # the chunk's work starts: the 4th decimal may differ.
    assert torch.allclose(chunked[exact], whole.images[exact], atol=5e-4)
    # The frames near chunk ends average the past side only: close, and as close to the truth.
    assert psnr(chunked, whole.images) > 40.0
    assert abs(psnr(chunked, clean) - psnr(whole.images, clean)) < 0.5


def test_chunked_texture_stage_carries_its_forward_pass(tmp_path, clip):
    _, flickering, synthetic = clip
    frames = 33  # one scene, with its exact flow
    settings = GlobalSettings(window=7)
    whole = deflicker_clip(flickering[:frames], settings, texture=True, texture_strength=0.6,
                           flow=_flow_of(synthetic, 0, frames))
    plan = ChunkPlan(frames, 12, 3)
    written = []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        loaded = load_state(chunk, "deflicker.2")
        result, carry = deflicker_chunk(flickering[chunk.first:chunk.end], ChunkSpan.of(chunk), settings,
                                        None if loaded is None else DeflickerCarry(*loaded), texture=True,
                                        texture_strength=0.6, flow=_flow_of(synthetic, chunk.first, chunk.end))
        if carry is not None:
            assert "forward" in carry.tensors
            save_state(chunk, "deflicker.2", carry.tensors, carry.meta)
        written.append(result.images[chunk.lead:])
    chunked = torch.cat(written)
    assert psnr(chunked, whole.images) > 35.0
    # Far from a chunk's end the backward pass's reach has decayed (by strength * confidence per frame).
    assert torch.allclose(chunked[:3], whole.images[:3], atol=2e-3)
    assert (chunked[:3] - whole.images[:3]).abs().max() < (chunked[9:12] - whole.images[9:12]).abs().max()


def _flow_of(synthetic, first, end):
    from steadyframe.flow.sequence import FlowSequence

    return FlowSequence(forward=synthetic.forward[first:end - 1], backward=synthetic.backward[first:end - 1],
                        height=HEIGHT, width=WIDTH)


def test_changed_settings_between_chunks_are_refused(tmp_path, clip):
    _, flickering, _ = clip
    plan = ChunkPlan(FRAMES, 30, 2)
    first = plan.chunk(0, "job", str(tmp_path))
    _, carry = deflicker_chunk(flickering[:30], ChunkSpan.of(first), GlobalSettings(window=9))
    second = plan.chunk(1, "job", str(tmp_path))
    with pytest.raises(ValueError, match="settings changed between chunks"):
        deflicker_chunk(flickering[second.first:second.end], ChunkSpan.of(second), GlobalSettings(window=11), carry)


def test_a_batch_of_another_length_than_the_chunk_is_refused(clip):
    _, flickering, _ = clip
    span = ChunkSpan.of(ChunkPlan(FRAMES, 30, 2).chunk(0))
    with pytest.raises(ValueError, match="images has 12 frames but the chunk loads 30"):
        deflicker_chunk(flickering[:12], span)


@pytest.mark.parametrize("connected", [True, False])
def test_texture_stage_without_overlap(tmp_path, clip, connected):
    """Without overlap the previous chunk's last frame goes in front: with a connected flow (which covers the
    chunk's own frames only) the texture stage starts afresh at the boundary, with estimated flow it links it."""
    _, flickering, synthetic = clip
    frames, settings = 20, GlobalSettings(window=5)
    whole = deflicker_clip(flickering[:frames], settings, texture=True, texture_strength=0.5,
                           flow=_flow_of(synthetic, 0, frames))
    plan = ChunkPlan(frames, 10, 0)
    written = []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        loaded = load_state(chunk, "deflicker.3")
        flow = _flow_of(synthetic, chunk.first, chunk.end) if connected else None
        result, carry = deflicker_chunk(flickering[chunk.first:chunk.end], ChunkSpan.of(chunk), settings,
                                        None if loaded is None else DeflickerCarry(*loaded), texture=True,
                                        texture_strength=0.5, flow=flow)
        assert result.images.shape[0] == chunk.frames
        if carry is not None:
            assert carry.tensors["frame"].shape == (HEIGHT, WIDTH, 3) and "forward" in carry.tensors
            save_state(chunk, "deflicker.3", carry.tensors, carry.meta)
        written.append(result.images)
    assert psnr(torch.cat(written), whole.images) > 30.0
