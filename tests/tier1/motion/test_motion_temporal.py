"""The temporal transformer against an independent reference of the original AnimateDiff math."""
import math

import pytest
import torch

from steadyframe.motion.formats import build_motion_model, normalize_motion_state_dict
from steadyframe.motion.temporal import frame_values, sinusoidal_pe
from steadyframe.motion.windows import check_frames_per_call, plan_context
from support.motion_files import make_motion_state_dict
from support.motion_reference import reference_module

torch.manual_seed(0)


@pytest.fixture(scope="module")
def v2_model():
    normalized, info = normalize_motion_state_dict(make_motion_state_dict("v2", channels_scale=0.1, seed=1))
    return build_motion_model(normalized, info), normalized


@pytest.mark.parametrize("key", ["down_blocks.0.motion_modules.1", "mid_block.motion_modules.0", "up_blocks.2.motion_modules.2"])
@pytest.mark.parametrize("chunks,frames", [(1, 6), (2, 4)])
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "sampling"])
def test_forward_matches_the_reference_formulation(v2_model, key, chunks, frames, grad):
    """Also without autograd, where activations are reused in place: the input is left alone."""
    model, sd = v2_model
    module = model.get_submodule(key)
    x = torch.randn(chunks * frames, module.channels, 3, 5)
    x_before = x.clone()
    with torch.set_grad_enabled(grad):
        ours = module(x, frames)
        halved = module(x, frames, effect=0.5)
    ref = reference_module(sd, key, x, frames)
    assert torch.equal(x, x_before)
    assert torch.allclose(ours, ref, atol=2e-5, rtol=1e-4), (ours - ref).abs().max()
    assert torch.allclose(halved, x + 0.5 * (ref - x), atol=2e-5, rtol=1e-4)


def test_cond_and_uncond_chunks_do_not_mix(v2_model):
    model, _ = v2_model
    module = model.get_submodule("down_blocks.1.motion_modules.0")
    a, b = torch.randn(4, 64, 2, 2), torch.randn(4, 64, 2, 2)
    together = module(torch.cat([a, b]), frames=4)
    assert torch.allclose(together[:4], module(a, frames=4), atol=1e-6)
    assert torch.allclose(together[4:], module(b, frames=4), atol=1e-6)


def test_frames_really_attend_to_each_other(v2_model):
    model, _ = v2_model
    module = model.get_submodule("down_blocks.0.motion_modules.0")
    x = torch.randn(5, 32, 2, 2)
    y = x.clone()
    y[0] = torch.randn(32, 2, 2)  # change frame 0 only (a constant shift would vanish in GroupNorm)
    out_x, out_y = module(x, 5), module(y, 5)
    assert not torch.allclose(out_x[3], out_y[3], atol=1e-5)


def test_effect_blends_the_residual(v2_model):
    model, _ = v2_model
    module = model.get_submodule("up_blocks.0.motion_modules.0")
    x = torch.randn(8, 128, 2, 2)
    full = module(x, 8)
    assert torch.equal(module(x, 8, effect=0.0), x)
    assert torch.allclose(module(x, 8, effect=0.25), x + 0.25 * (full - x), atol=1e-5)
    per_frame = [0.0, 1.0, 0.5]  # the last value repeats for the remaining frames
    out = module(x, 8, effect=per_frame)
    assert torch.allclose(out[0], x[0]) and torch.allclose(out[1], full[1], atol=1e-5)
    assert torch.allclose(out[5], x[5] + 0.5 * (full[5] - x[5]), atol=1e-5)


def test_scale_multiplies_the_keys(v2_model):
    model, sd = v2_model
    key = "down_blocks.1.motion_modules.1"
    module = model.get_submodule(key)
    x = torch.randn(6, 64, 2, 3)
    assert torch.allclose(module(x, 6, scale=1.7), reference_module(sd, key, x, 6, scale=1.7), atol=2e-5, rtol=1e-4)
    assert torch.allclose(module(x, 6, scale=[1.7] * 6), module(x, 6, scale=1.7), atol=1e-6)
    assert not torch.allclose(module(x, 6, scale=1.7), module(x, 6), atol=1e-4)
    # scale 0: every frame attends uniformly, so attention gives every frame the same output
    attention = module.temporal_transformer.transformer_blocks[0].attention_blocks[0]
    seq = torch.randn(3, 6, 64)
    out = attention(seq, scale=torch.zeros(6))
    assert torch.allclose(out[:, 0], out[:, 4], atol=1e-5)


def test_window_picks_per_frame_values():
    assert frame_values(0.5, 4) is None
    assert frame_values([1, 2, 3, 4, 5, 6], 3, index_list=[2, 3, 4]).tolist() == [3, 4, 5]
    assert frame_values([1, 2], 3, index_list=[0, 5, 9]).tolist() == [1, 2, 2]


def test_chunked_attention_equals_one_call(v2_model):
    model, _ = v2_model
    module = model.get_submodule("down_blocks.0.motion_modules.0")
    x = torch.randn(2 * 4, 32, 3, 3)  # attention batch = 2*9 = 18 rows
    calls = []

    def counting(q, k, v, heads):
        calls.append(q.shape[0])
        from steadyframe.motion.temporal import sdpa_attention
        return sdpa_attention(q, k, v, heads)

    whole = module(x, 4, attention=counting)
    calls.clear()
    chunked = module(x, 4, attention=counting, max_attention_batch=5)
    assert max(calls) <= 5 and sum(calls) == 2 * 18
    assert torch.allclose(whole, chunked, atol=1e-6)


@pytest.mark.parametrize("projection", ["to_v", "to_out.0"])
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "sampling"])
def test_lora_hook_equals_merged_weights(v2_model, projection, grad):
    """Also in sampling, where the projection (and the residual sum of ``to_out``) run fused."""
    model, _ = v2_model
    key = "up_blocks.1.motion_modules.0"
    module = model.get_submodule(key)
    attention_key = f"{key}.temporal_transformer.transformer_blocks.0.attention_blocks.1"
    down, up = torch.randn(4, 128) * 0.1, torch.randn(128, 4) * 0.1
    x = torch.randn(4, 128, 2, 2)
    with torch.set_grad_enabled(grad):
        with_hook = module(x, 4, lora={f"{attention_key}.{projection}": [(down, up, 0.8)]})
        layer = model.get_submodule(f"{attention_key}.{projection}")
        original = layer.weight.detach().clone()
        try:
            layer.weight.data += 0.8 * up @ down
            merged = module(x, 4)
        finally:
            layer.weight.data.copy_(original)
        assert torch.allclose(with_hook, merged, atol=1e-5)
        assert not torch.allclose(with_hook, module(x, 4), atol=1e-4)


def test_too_many_frames_for_the_positional_table(v2_model):
    model, _ = v2_model
    module = model.get_submodule("down_blocks.0.motion_modules.0")
    with pytest.raises(ValueError, match="33 frames .* 32 positions"):
        module(torch.randn(33, 32, 1, 1), 33)
    with pytest.raises(ValueError, match="not a whole number"):
        module(torch.randn(7, 32, 1, 1), 4)


def test_sinusoid_formula():
    pe = sinusoidal_pe(24, 16)
    for pos in (0, 3, 23):
        for i in (0, 2, 14):
            angle = pos / 10000 ** (i / 16)
            assert pe[0, pos, i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[0, pos, i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_context_planning_clamps_with_warnings():
    settings, warnings = plan_context(pe_length=24, length=32, overlap=4)
    assert settings.length == 24 and "24" in warnings[0]
    settings, warnings = plan_context(pe_length=32, length=16, overlap=20, closed_loop=True)
    assert settings.overlap == 15 and settings.schedule == "looped_uniform" and len(warnings) == 2
    settings, warnings = plan_context(pe_length=32)
    assert (settings.length, settings.overlap, warnings) == (16, 4, [])
    with pytest.raises(ValueError, match="relative"):
        plan_context(32, schedule="looped_uniform", fuse_method="relative")
    with pytest.raises(ValueError, match="enable context windows"):
        check_frames_per_call(40, 32, windowed=False)
    check_frames_per_call(32, 32, windowed=True)
