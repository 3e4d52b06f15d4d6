"""Consistent Noise of a chunked long video: every chunk's frames equal the unchunked noise."""
import pytest
import torch

from steadyframe.chunking import ChunkPlan, load_state, save_state
from steadyframe.motion.noise import make_noise, per_frame_noise
from steadyframe.motion.noise_chunks import NoiseCarry, chunk_noise, freenoise_sources, per_frame_noise_range


@pytest.mark.parametrize("shape", [(7, 4, 3, 5), (9, 4, 8, 8), (5, 1, 1, 3), (3, 4, 2, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64, torch.bfloat16])
def test_every_frame_range_of_per_frame_noise_is_bit_identical(shape, dtype):
    """Frame sizes that are and are not multiples of 16 values, totals with and without a ragged tail."""
    total = shape[0]
    whole = per_frame_noise(shape, 123, dtype)
    for first in range(total):
        for end in range(first + 1, total + 1):
            part, _ = per_frame_noise_range(shape[1:], total, 123, first, end, dtype)
            assert torch.equal(part, whole[first:end]), (first, end)


def test_a_carried_generator_state_starts_the_next_range_without_skipping():
    shape, total = (4, 5, 3), 20
    whole = per_frame_noise((total, *shape), 7)
    _, snapshot = per_frame_noise_range(shape, total, 7, 0, 8, snapshot_frame=6)
    assert snapshot[0] <= 6 * 60 and snapshot[0] % 16 == 0
    part, _ = per_frame_noise_range(shape, total, 7, 6, 14, start=snapshot)
    assert torch.equal(part, whole[6:14])


def test_freenoise_sources_reproduce_the_shuffled_noise():
    shape = (40, 4, 2, 3)
    base = per_frame_noise(shape, 5)
    shuffled = make_noise("FreeNoise", shape, 5, context_length=12, context_overlap=4)
    sources = freenoise_sources(40, 12, 4, 5)
    assert torch.equal(base[torch.tensor(sources)], shuffled)
    assert max(sources[12:]) < 12 and sources[:12] == list(range(12))


def _flow(frames, height=16, width=24, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((frames - 1, 2, height, width), generator=generator) * 3.0


def _run_chunks(plan, tmp_path, mode, shape, seed, dtype=torch.float32, flow=None, **options):
    """Run ``chunk_noise`` chunk by chunk as the node does, carrying state through chunking.state files."""
    owner = f"noise.{mode}"
    rows = {}
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        loaded = load_state(chunk, owner)
        carried = None if loaded is None else NoiseCarry(*loaded)
        next_first = None if chunk.is_last else plan.chunk(index + 1).first
        chunk_flow = None if flow is None else flow[chunk.first:chunk.end - 1]
        noise, carry = chunk_noise(mode, shape, plan.total_frames, chunk.first, chunk.end, seed, dtype,
                                   carried=carried, next_first=next_first, forward_flow=chunk_flow, **options)
        assert noise.shape == (chunk.frames, *shape) and noise.dtype == dtype
        if carry is not None:
            save_state(chunk, owner, carry.tensors, carry.meta)
        for local in range(chunk.frames):
            frame = chunk.absolute(local)
            if frame in rows:  # an overlap frame: the next chunk makes it again, identically
                assert torch.equal(rows[frame], noise[local]), frame
            rows[frame] = noise[local]
    return torch.stack([rows[f] for f in range(plan.total_frames)])


@pytest.mark.parametrize("mode,options", [
    ("per-frame", {}), ("shared", {}), ("mixed", {"strength": 0.3}),
    ("FreeNoise", {"context_length": 8, "context_overlap": 3}),
])
@pytest.mark.parametrize("chunk_frames,overlap", [(6, 2), (5, 0), (13, 12)])
def test_chunked_noise_equals_unchunked_noise_on_every_frame(tmp_path, mode, options, chunk_frames, overlap):
    shape, total, seed = (4, 3, 5), 29, 2**40 + 3
    plan = ChunkPlan(total, chunk_frames, overlap)
    whole = make_noise(mode, (total, *shape), seed, **options)
    assert torch.equal(_run_chunks(plan, tmp_path, mode, shape, seed, **options), whole)


def test_chunked_per_frame_noise_in_half_precision(tmp_path):
    shape, total = (4, 4, 4), 23
    whole = make_noise("per-frame", (total, *shape), 9, torch.float16)
    assert torch.equal(_run_chunks(ChunkPlan(total, 7, 2), tmp_path, "per-frame", shape, 9, torch.float16), whole)


@pytest.mark.parametrize("chunk_frames,overlap", [(5, 1), (7, 3)])
def test_chunked_flow_warped_noise_equals_unchunked_noise(tmp_path, chunk_frames, overlap):
    shape, total = (4, 8, 12), 17
    flow = _flow(total)
    whole = make_noise("flow-warped", (total, *shape), 11, forward_flow=flow, subdivisions=3)
    chunked = _run_chunks(ChunkPlan(total, chunk_frames, overlap), tmp_path, "flow-warped", shape, 11, flow=flow,
                          subdivisions=3)
    assert torch.equal(chunked, whole)


def test_flow_warped_noise_refuses_chunks_without_overlap(tmp_path):
    with pytest.raises(ValueError, match="overlap of at least one frame"):
        _run_chunks(ChunkPlan(12, 5, 0), tmp_path, "flow-warped", (4, 8, 12), 1, flow=_flow(12))


def test_changed_settings_between_chunks_are_refused(tmp_path):
    plan = ChunkPlan(20, 8, 2)
    chunk0, chunk1 = plan.chunk(0), plan.chunk(1)
    _, carry = chunk_noise("per-frame", (4, 2, 2), 20, chunk0.first, chunk0.end, 1, next_first=chunk1.first)
    with pytest.raises(ValueError, match="seed '1' -> '2'"):
        chunk_noise("per-frame", (4, 2, 2), 20, chunk1.first, chunk1.end, 2, carried=carry)
