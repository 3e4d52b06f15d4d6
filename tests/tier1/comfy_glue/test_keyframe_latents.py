"""Start/End Keyframe Latents on ComfyUI LATENT dicts."""
import pytest
import torch

from steadyframe.comfy_glue.keyframe_latents import blend_keyframe_latent_dicts
from steadyframe.motion.keyframe_latents import blend_keyframe_latents


def test_blends_latent_dicts_and_keeps_other_keys():
    samples = torch.randn(8, 4, 8, 8)
    mask = torch.ones(8, 1, 64, 64)
    start = {"samples": torch.randn(1, 4, 8, 8)}
    end = {"samples": torch.randn(2, 4, 8, 8)}
    latents = {"samples": samples, "noise_mask": mask}
    out = blend_keyframe_latent_dicts(latents, start, end, start_strength=0.9, end_strength=0.6, power=1.5, scale=12.0)
    assert out["noise_mask"] is mask and latents["samples"] is samples  # the input LATENT is left as it was
    expected = blend_keyframe_latents(samples, start["samples"], end["samples"], 0.9, 0.6, 1.5, 12.0)
    assert torch.equal(out["samples"], expected)
    assert not torch.equal(out["samples"], samples)


def test_without_keyframes_nothing_changes_and_shape_errors_are_clear():
    samples = torch.randn(3, 4, 8, 8)
    out = blend_keyframe_latent_dicts({"samples": samples})
    assert torch.equal(out["samples"], samples)
    with pytest.raises(ValueError, match="end latent"):
        blend_keyframe_latent_dicts({"samples": samples}, end_latent={"samples": torch.zeros(1, 4, 16, 8)})
    with pytest.raises(ValueError, match=r"latents must be \(frames, channels, height, width\)"):
        blend_keyframe_latent_dicts({"samples": torch.zeros(4, 8, 8)})
