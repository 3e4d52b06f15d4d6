"""Cross-frame GroupNorm (v1, HotshotXL) as per-instance copies of ComfyUI's own GroupNorm."""
import pytest
import torch
import torch.nn.functional as F

pytestmark = pytest.mark.tier2


def test_cross_frame_copy_normalises_over_all_frames_of_a_chunk(comfyui_root):
    import comfy.ops

    from steadyframe.comfy_glue.motion_patch import _ChunkCount, cross_frame_copy

    norm = comfy.ops.disable_weight_init.GroupNorm(32, 64, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(64) + 0.5)
        norm.bias.copy_(torch.randn(64))
    counter = _ChunkCount()
    copy = cross_frame_copy(norm, counter)
    assert copy.weight is norm.weight and copy.bias is norm.bias  # same parameters, same key names
    assert isinstance(copy, type(norm)) and type(norm) is comfy.ops.disable_weight_init.GroupNorm  # core class untouched

    chunks, frames = 2, 3
    x = torch.randn(chunks * frames, 64, 4, 4) + torch.arange(chunks * frames).float()[:, None, None, None]
    counter.chunks = chunks
    out = copy(x)
    five_d = x.reshape(chunks, frames, 64, 4, 4).transpose(1, 2)
    want = F.group_norm(five_d, 32, norm.weight, norm.bias, 1e-5).transpose(1, 2).reshape_as(x)
    assert torch.allclose(out, want, atol=1e-5)
    assert not torch.allclose(out, norm(x), atol=1e-3)  # per-frame statistics differ
    counter.chunks = None
    assert torch.allclose(copy(x), norm(x))  # outside a diffusion-model call: plain behaviour
    # the original module still normalises per frame
    assert torch.allclose(norm(x), F.group_norm(x, 32, norm.weight, norm.bias, 1e-5), atol=1e-6)
