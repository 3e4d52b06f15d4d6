"""Optical flow, Interpolate Frames and Retime run chunk by chunk equal the unchunked run frame for frame."""
from fractions import Fraction

import pytest
import torch

from steadyframe.chunking import ChunkPlan
from steadyframe.chunking.timeline import OutputChunk, audio_skip, owned_outputs, total_frames
from steadyframe.flow.chunked import chunk_flow
from steadyframe.flow.provider import FlowOptions, flow_for
from steadyframe.postprocess.chunked_timing import interpolate_chunk, retime_chunk
from steadyframe.postprocess.interpolate import inbetween_positions
from steadyframe.postprocess.timing import ResampleMethod, RetimeMode, interpolate_clip, retime_clip
from support.moving_scene import MovingSquareScene

FAST = FlowOptions(preset="fast", max_motion=8.0)
SCENE = MovingSquareScene(height=24, width=32, square_size=8, square_origin=(6.0, 4.0),
                          square_velocity=(2.0, 1.0), background_velocity=(-1.0, 0.0))
CLIP = SCENE.frames([float(t) for t in range(9)])  # (9, 24, 32, 3)


def run_chunks(plan, tmp_path, step):
    """Run ``step(frames, chunk)`` on every chunk in order; returns the per-chunk results."""
    results = []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        results.append(step(CLIP[chunk.first:chunk.end], chunk))
    return results


@pytest.mark.parametrize("overlap", [0, 2])
def test_chunked_flow_is_the_slice_of_the_whole_flow_and_carries_the_boundary_pair(tmp_path, overlap):
    whole = flow_for(CLIP, options=FAST)
    plan = ChunkPlan(9, 4, overlap)
    parts = run_chunks(plan, tmp_path, lambda frames, chunk: (chunk, chunk_flow(frames, chunk, "flow-1", FAST)))
    for chunk, sequence in parts:
        assert torch.equal(sequence.forward, whole.forward[chunk.first:chunk.end - 1])
        assert torch.equal(sequence.backward, whole.backward[chunk.first:chunk.end - 1])
        if chunk.is_first or overlap:
            assert sequence.before is None
        else:  # the pair (first - 1, first) across the boundary, made from the kept frame
            assert torch.equal(sequence.before[0], whole.forward[chunk.first - 1:chunk.first])
            assert torch.equal(sequence.before[1], whole.backward[chunk.first - 1:chunk.first])


@pytest.mark.parametrize("overlap, multiplier, keep, loop, with_flow", [
    (0, 2, True, False, False),
    (2, 3, True, False, False),
    (0, 3, False, False, True),
    (1, 2, True, True, True),
])
def test_chunked_interpolation_concatenates_to_the_unchunked_output(tmp_path, overlap, multiplier, keep, loop,
                                                                     with_flow):
    whole = interpolate_clip(CLIP, multiplier, keep, loop, 12.0, flow_for(CLIP, options=FAST) if with_flow else None,
                             FAST)
    plan = ChunkPlan(9, 4, overlap)

    def step(frames, chunk):
        flow = chunk_flow(frames, chunk, "flow-3", FAST) if with_flow else None
        return interpolate_chunk(frames, chunk, "interpolate-7", multiplier, keep, loop, 12.0, flow, FAST)

    parts = run_chunks(plan, tmp_path, step)
    joined = torch.cat([timed.images for timed, _ in parts])
    assert joined.shape == whole.images.shape
    assert torch.equal(joined, whole.images)
    assert all(timed.fps == whole.fps for timed, _ in parts)
    # Output chunks number the output frames back to back, with no lead for Video Combine to drop.
    starts = [out.first_new for _, out in parts]
    ends = [out.end for _, out in parts]
    assert starts[0] == 0 and ends[-1] == whole.frame_count and starts[1:] == ends[:-1]
    assert all(isinstance(out, OutputChunk) and out.lead == 0 and out.frames == timed.frame_count
               and total_frames(out) == whole.frame_count for timed, out in parts)
    assert parts[-1][1].is_last and not parts[0][1].is_last


@pytest.mark.parametrize("mode, n, target, method", [
    (RetimeMode.HOLD, 3, 24.0, ResampleMethod.NEAREST),
    (RetimeMode.REPEAT, 2, 24.0, ResampleMethod.NEAREST),
    (RetimeMode.DECIMATE, 2, 24.0, ResampleMethod.NEAREST),
    (RetimeMode.RESAMPLE, 2, 30.0, ResampleMethod.NEAREST),
    (RetimeMode.RESAMPLE, 2, 17.0, ResampleMethod.INTERPOLATE),
])
@pytest.mark.parametrize("overlap", [0, 1])
def test_chunked_retime_concatenates_to_the_unchunked_output(tmp_path, mode, n, target, method, overlap):
    whole = retime_clip(CLIP, 12.0, mode, n, target, method, None, FAST)
    plan = ChunkPlan(9, 4, overlap)
    parts = run_chunks(plan, tmp_path, lambda frames, chunk: retime_chunk(frames, chunk, "retime-2", 12.0, mode, n,
                                                                          target, method, None, FAST))
    joined = torch.cat([timed.images for timed, _ in parts])
    assert torch.equal(joined, whole.images)
    assert sum(out.frames for _, out in parts) == whole.frame_count
    assert {timed.fps for timed, _ in parts} == {whole.fps}


@pytest.mark.parametrize("overlap", [0, 2, 3])
@pytest.mark.parametrize("multiplier, keep", [(2, True), (3, True), (3, False)])
def test_each_chunks_audio_is_placed_under_its_first_written_frame(tmp_path, overlap, multiplier, keep):
    """The loader's audio of chunk k starts under source frame ``chunk.first``; ``audio_skip`` leads from
    there to the source moment the chunk's first written frame shows (before the audio without overlap)."""
    positions = inbetween_positions(9, multiplier, False, keep)
    plan = ChunkPlan(9, 4, overlap)
    parts = run_chunks(plan, tmp_path, lambda frames, chunk: (chunk, interpolate_chunk(
        frames, chunk, "interpolate-4", multiplier, keep, False, 12.0, None, FAST)[1]))
    skips = [audio_skip(out, Fraction(12 * multiplier)) for _, out in parts]
    for (source, out), skip in zip(parts, skips):
        assert Fraction(source.first, 12) + skip == Fraction(positions[out.first_new]).limit_denominator(1000) / 12
    assert skips[0] == Fraction(positions[0]).limit_denominator(1000) / 12  # under the first frame shown
    assert all(skip > 0 for skip in skips[1:]) == (overlap > 0)  # without overlap it lies before the audio
    # a loader's chunk (no retiming) skips its lead
    assert audio_skip(plan.chunk(1), Fraction(12)) == Fraction(plan.chunk(1).lead, 12)


def test_ownership_follows_the_right_end_of_each_gap():
    plan = ChunkPlan(5, 2, 0)
    positions = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert [list(owned_outputs(positions, plan.chunk(i))) for i in range(3)] == [[0, 1, 2], [3, 4, 5, 6], [7, 8]]


def test_a_missing_kept_frame_names_the_chunk_to_run_again(tmp_path):
    plan = ChunkPlan(9, 4, 0)
    chunk = plan.chunk(1, "job", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run the chain again from chunk 0"):
        interpolate_chunk(CLIP[4:8], chunk, "interpolate-1", 2, options=FAST)


def test_a_batch_that_is_not_the_chunk_is_refused(tmp_path):
    chunk = ChunkPlan(9, 4, 1).chunk(1, "job", str(tmp_path))
    with pytest.raises(ValueError, match="covers frames 3 .. 7 .5 frames, 1 of them re-read"):
        interpolate_chunk(CLIP[4:8], chunk, "interpolate-1", 2, options=FAST)


