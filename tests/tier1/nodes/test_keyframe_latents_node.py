"""The Start/End Keyframe Latents node on ComfyUI LATENT dicts."""
import pytest
import torch

from steadyframe.motion.keyframe_latents import blend_keyframe_latents
from steadyframe.nodes.vid2vid_nodes import NODE_CLASS_MAPPINGS, SteadyFrameKeyframeLatents


def test_blends_latent_dicts_and_keeps_other_keys():
    assert NODE_CLASS_MAPPINGS["SteadyFrameKeyframeLatents"] is SteadyFrameKeyframeLatents
    samples = torch.randn(8, 4, 8, 8)
    mask = torch.ones(8, 1, 64, 64)
    start = {"samples": torch.randn(1, 4, 8, 8)}
    end = {"samples": torch.randn(2, 4, 8, 8)}
    (out,) = SteadyFrameKeyframeLatents().blend({"samples": samples, "noise_mask": mask}, 0.9, 0.6, 1.5, 12.0,
                                                start_latent=start, end_latent=end)
    assert out["noise_mask"] is mask
    expected = blend_keyframe_latents(samples, start["samples"], end["samples"], 0.9, 0.6, 1.5, 12.0)
    assert torch.equal(out["samples"], expected)
    assert not torch.equal(out["samples"], samples)


def test_without_keyframes_nothing_changes_and_shape_errors_are_clear():
    samples = torch.randn(3, 4, 8, 8)
    (out,) = SteadyFrameKeyframeLatents().blend({"samples": samples}, 1.0, 1.0, 1.0, 32.0)
    assert torch.equal(out["samples"], samples)
    with pytest.raises(ValueError, match="end latent"):
        SteadyFrameKeyframeLatents().blend({"samples": samples}, 1.0, 1.0, 1.0, 32.0, end_latent={"samples": torch.zeros(1, 4, 16, 8)})
