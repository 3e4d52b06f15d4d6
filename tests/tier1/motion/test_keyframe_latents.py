"""Start/end keyframe blending into a clip's initial latents."""
import pytest
import torch

from steadyframe.motion.keyframe_latents import blend_keyframe_latents, blend_weights, keyframe_weights


def test_linear_curve_reaches_zero_at_scale():
    weights = keyframe_weights(40, strength=0.8, power=1.0, scale=32.0)
    assert weights[0] == pytest.approx(0.8)
    assert weights[16] == pytest.approx(0.8 * 0.5)
    assert weights[31] == pytest.approx(0.8 / 32)
    assert torch.all(weights[32:] == 0)
    assert torch.all(weights[1:] <= weights[:-1])


def test_power_shapes_the_falloff():
    fast = keyframe_weights(10, 1.0, power=2.0, scale=16.0)
    slow = keyframe_weights(10, 1.0, power=0.5, scale=16.0)
    assert fast[1] == pytest.approx(1 - 1 / 16)
    assert fast[3] == pytest.approx(1 - 9 / 16)
    assert torch.all(fast[4:] == 0)  # 0 from distance sqrt(scale) = 4 on
    for d in (1, 4, 9):
        assert slow[d] == pytest.approx(1 - d ** 0.5 / 16)
    assert fast[2] < slow[2]


def test_start_only_blend_per_frame():
    latents = torch.randn(6, 4, 8, 8)
    start = torch.randn(1, 4, 8, 8)
    out = blend_keyframe_latents(latents, start=start, start_strength=1.0, power=1.0, scale=4.0)
    for i in range(6):
        w = max(0.0, 1 - i / 4)
        assert torch.allclose(out[i], (1 - w) * latents[i] + w * start[0], atol=1e-6), i
    assert torch.allclose(out[0], start[0])
    assert torch.equal(out[4:], latents[4:])


def test_end_keyframe_mirrors_the_start_curve():
    latents = torch.randn(7, 4, 4, 4)
    key = torch.randn(1, 4, 4, 4)
    from_start = blend_keyframe_latents(latents.flip(0), start=key, start_strength=0.7, scale=3.0)
    from_end = blend_keyframe_latents(latents, end=key, end_strength=0.7, scale=3.0)
    assert torch.allclose(from_end, from_start.flip(0), atol=1e-6)


def test_overlapping_weights_are_normalised_for_a_loop():
    w_start, w_end = blend_weights(5, 1.0, 1.0, power=1.0, scale=32.0)
    assert torch.all(w_start + w_end <= 1.0 + 1e-6)
    assert w_start[0] == pytest.approx(1.0 / (1.0 + (1 - 4 / 32)))
    # a looping clip with the same image at both ends: frames 0 and F-1 are pulled equally
    latents = torch.zeros(5, 4, 2, 2)
    key = torch.ones(1, 4, 2, 2)
    out = blend_keyframe_latents(latents, start=key, end=key, scale=32.0)
    assert torch.allclose(out[0], out[-1])
    assert torch.allclose(out, torch.ones_like(out))  # all weight goes to the keyframes


def test_multi_frame_keyframe_batches_use_first_and_last_frame():
    latents = torch.zeros(3, 4, 2, 2)
    batch = torch.stack([torch.full((4, 2, 2), float(v)) for v in (1, 2, 3)])
    out = blend_keyframe_latents(latents, start=batch, end=batch, start_strength=1.0, end_strength=0.0, scale=1.0)
    assert torch.allclose(out[0], torch.ones(4, 2, 2))
    out = blend_keyframe_latents(latents, end=batch, end_strength=1.0, scale=1.0)
    assert torch.allclose(out[-1], torch.full((4, 2, 2), 3.0))


def test_no_keyframe_is_identity_and_dtype_is_kept():
    latents = torch.randn(4, 4, 2, 2, dtype=torch.float16)
    out = blend_keyframe_latents(latents)
    assert out.dtype == torch.float16 and torch.equal(out, latents)


def test_clear_errors():
    latents = torch.zeros(4, 4, 8, 8)
    with pytest.raises(ValueError, match=r"start latent is \(4, 8, 16\).*clip's latents are \(4, 8, 8\)"):
        blend_keyframe_latents(latents, start=torch.zeros(1, 4, 8, 16))
    with pytest.raises(ValueError, match="between 0 and 1"):
        blend_keyframe_latents(latents, start=torch.zeros(1, 4, 8, 8), start_strength=2.0)
    with pytest.raises(ValueError, match="latent power must be positive"):
        keyframe_weights(4, 1.0, 0.0, 1.0)
