"""Consistent Noise's NOISE object with a chunk: state through chunking.state, noise equal to the whole run's."""
import pytest
import torch

from steadyframe.chunking import ChunkPlan
from steadyframe.comfy_glue.chunk_state import next_first, state_owner
from steadyframe.comfy_glue.noise import consistent_noise
from steadyframe.flow.sequence import FlowSequence
from steadyframe.motion import noise as sfnoise


@pytest.mark.parametrize("mode", ["per-frame", "mixed", "FreeNoise", "flow-warped"])
def test_chunked_noise_objects_give_the_unchunked_noise(tmp_path, mode):
    total, shape = 14, (4, 6, 8)
    forward = torch.randn((total - 1, 2, 48, 64), generator=torch.Generator().manual_seed(3)) * 4
    options = {"strength": 0.4, "context_length": 6, "context_overlap": 2, "subdivisions": 2}
    whole = sfnoise.make_noise(mode, (total, *shape), 5, forward_flow=forward, **options)
    plan = ChunkPlan(total, 5, 2)
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        chunk_flow = FlowSequence(forward=forward[chunk.first:chunk.end - 1], backward=-forward[chunk.first:chunk.end - 1],
                                  height=48, width=64)
        noise = consistent_noise(5, mode, flow=chunk_flow if mode == "flow-warped" else None, chunk=chunk,
                                 owner="noise.4", **options)
        out = noise.generate_noise({"samples": torch.zeros(chunk.frames, *shape)})
        assert torch.equal(out, whole[chunk.first:chunk.end]), index
    assert sorted(p.name for p in (tmp_path / "noise.4").iterdir()) == ["after-0.safetensors", "after-1.safetensors"]


def test_a_latent_of_another_size_than_the_chunk_is_refused(tmp_path):
    chunk = ChunkPlan(20, 8, 2).chunk(1, "job", str(tmp_path))
    with pytest.raises(ValueError, match="the latent has 8 frames but chunk 1 loads 10"):
        consistent_noise(1, "per-frame", chunk=chunk).generate_noise({"samples": torch.zeros(8, 4, 2, 2)})


def test_state_owner_and_next_first():
    assert state_owner("deflicker", "12") == "deflicker.12"
    assert state_owner("deflicker", "5:12") == "deflicker.5-12"
    assert state_owner("noise") == "noise"
    plan = ChunkPlan(20, 8, 3)
    assert next_first(plan.chunk(0)) == 5 and next_first(plan.chunk(2)) is None
