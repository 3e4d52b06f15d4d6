"""Consistent Noise's NOISE object (the interface SamplerCustomAdvanced calls), without ComfyUI."""
import pytest
import torch

from steadyframe.comfy_glue.noise import ConsistentNoise, consistent_noise
from steadyframe.flow.sequence import FlowSequence
from steadyframe.motion import noise as sfnoise

DEFAULTS = {"noise_seed": 77, "mode": "per-frame", "strength": 0.5, "context_length": 16, "context_overlap": 4, "subdivisions": 4}


def noise_object(**overrides):
    return consistent_noise(**{**DEFAULTS, **overrides})


@pytest.mark.parametrize("mode", ["per-frame", "shared", "mixed", "FreeNoise"])
def test_generate_noise_matches_the_pure_function(mode):
    latent = {"samples": torch.zeros(20, 4, 8, 8)}
    noise = noise_object(mode=mode, strength=0.3, context_length=8, context_overlap=2)
    assert isinstance(noise, ConsistentNoise) and noise.seed == 77
    out = noise.generate_noise(latent)
    expected = sfnoise.make_noise(mode, (20, 4, 8, 8), 77, strength=0.3, context_length=8, context_overlap=2)
    assert out.device.type == "cpu" and torch.equal(out, expected)


def test_generate_noise_keeps_the_latent_dtype_and_batch_index():
    latent = {"samples": torch.zeros(2, 4, 8, 8, dtype=torch.float16), "batch_index": [3, 0]}
    out = noise_object().generate_noise(latent)
    assert out.dtype == torch.float16
    assert torch.equal(out, sfnoise.per_frame_noise((4, 4, 8, 8), 77, torch.float16)[[3, 0]])


def test_flow_warped_from_a_flow_input():
    frames = 5
    forward = torch.zeros(frames - 1, 2, 64, 64)
    forward[:, 0] = 8.0  # one latent pixel to the right per frame
    flow = FlowSequence(forward=forward, backward=-forward, height=64, width=64)
    noise = noise_object(mode="flow-warped", flow=flow)
    out = noise.generate_noise({"samples": torch.zeros(frames, 4, 8, 8)})
    assert torch.allclose(out[1:, :, :, 1:], out[:-1, :, :, :-1], atol=1e-5)
    with pytest.raises(ValueError, match="computed for 5 source frames but the latent batch has 6 frames"):
        noise.generate_noise({"samples": torch.zeros(6, 4, 8, 8)})
    with pytest.raises(ValueError, match="different aspect ratio"):
        noise.generate_noise({"samples": torch.zeros(5, 4, 8, 16)})


def test_other_modes_drop_a_connected_flow():
    flow = FlowSequence(forward=torch.zeros(1, 2, 8, 8), backward=torch.zeros(1, 2, 8, 8), height=8, width=8)
    assert noise_object(mode="shared", flow=flow).flow is None


def test_flow_warped_from_source_images_follows_the_motion():
    # a textured image moving 8 px (one latent pixel) right per frame
    generator = torch.Generator().manual_seed(0)
    texture = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=generator), size=(96, 96), mode="bicubic")
    frames = torch.stack([torch.roll(texture[0], shifts=8 * i, dims=2) for i in range(3)]).permute(0, 2, 3, 1).clamp(0, 1)
    frames = frames[:, 16:80, 16:80].contiguous()  # 64x64 crops
    noise = noise_object(mode="flow-warped", source_images=frames, flow_preset="fast")
    assert noise.flow.frame_count == 3
    out = noise.generate_noise({"samples": torch.zeros(3, 4, 8, 8)})
    interior = (slice(None), slice(2, 6), slice(3, 6))
    moved = (slice(None), slice(2, 6), slice(2, 5))
    carried = torch.nn.functional.cosine_similarity(out[1][interior].reshape(1, -1), out[0][moved].reshape(1, -1)).item()
    assert carried > 0.8


def test_errors_are_clear():
    with pytest.raises(ValueError, match="connect flow \\(SF_FLOW\\) or source_images"):
        noise_object(mode="flow-warped")
    with pytest.raises(ValueError, match="context_overlap \\(16\\) must be smaller than context_length \\(16\\)"):
        noise_object(mode="FreeNoise", context_overlap=16)
    with pytest.raises(ValueError, match="unknown noise mode 'pink'; expected one of per-frame, shared"):
        noise_object(mode="pink")
    with pytest.raises(ValueError, match=r"got shape \(1, 4, 2, 8, 8\)"):
        noise_object().generate_noise({"samples": torch.zeros(1, 4, 2, 8, 8)})
