"""Blend maths on tensors: easing, lerp, slerp, token-length fitting."""
import math

import pytest
import torch

from steadyframe.schedule import PROMPT_INTERPOLATIONS, blend, ease, fit_tokens, lerp, slerp


def test_ease_endpoints_and_shapes():
    for method in ("linear", "slerp", "ease_in", "ease_out", "ease_in_out"):
        assert ease(0.0, method) == 0.0 and ease(1.0, method) == 1.0
        samples = [ease(i / 20, method) for i in range(21)]
        assert samples == sorted(samples), f"{method} must not go backwards"
    assert ease(0.5, "none") == 0.0
    assert ease(0.25, "ease_in") < 0.25 < ease(0.25, "ease_out")
    assert ease(0.5, "ease_in_out") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not one of"):
        ease(0.5, "cubic")


def test_blend_returns_the_keyframe_tensor_itself_at_weight_zero():
    a, b = torch.randn(1, 77, 8), torch.randn(1, 77, 8)
    for method in PROMPT_INTERPOLATIONS:
        assert blend(a, b, 0.0, method) is a
        assert blend(a, None, 0.3, method) is a
    assert blend(a, b, 1.0, "slerp") is b


def test_lerp_midpoint():
    a, b = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    torch.testing.assert_close(blend(a, b, 0.25, "linear"), 0.75 * a + 0.25 * b)
    torch.testing.assert_close(lerp(a, b, 0.5), (a + b) / 2)


def test_slerp_of_unit_vectors_stays_on_the_sphere_and_splits_the_angle():
    generator = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(1, 77, 16, generator=generator), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(1, 77, 16, generator=generator), dim=-1)
    mid = slerp(a, b, 0.5)
    torch.testing.assert_close(mid.norm(dim=-1), torch.ones(1, 77), rtol=1e-5, atol=1e-5)
    angle_a = torch.arccos((mid * a).sum(-1).clamp(-1, 1))
    angle_b = torch.arccos((mid * b).sum(-1).clamp(-1, 1))
    torch.testing.assert_close(angle_a, angle_b, rtol=1e-4, atol=1e-5)
    # And it differs from the lerp midpoint, which cuts through the sphere.
    assert (lerp(a, b, 0.5).norm(dim=-1) < 0.999).all()


def test_slerp_of_a_2d_quarter_turn():
    a = torch.tensor([[2.0, 0.0]])
    b = torch.tensor([[0.0, 2.0]])
    third = slerp(a, b, 1 / 3)
    torch.testing.assert_close(third, torch.tensor([[2 * math.cos(math.pi / 6), 2 * math.sin(math.pi / 6)]]))


def test_slerp_falls_back_to_lerp_for_parallel_and_zero_vectors():
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[3.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
    out = slerp(a, b, 0.5)
    torch.testing.assert_close(out, (a + b) / 2)
    assert torch.isfinite(out).all()


def test_slerp_keeps_dtype():
    a, b = torch.randn(1, 4, 8, dtype=torch.float16), torch.randn(1, 4, 8, dtype=torch.float16)
    assert slerp(a, b, 0.3).dtype == torch.float16


def test_fit_tokens_repeats_whole_chunks_on_the_right():
    short = torch.randn(1, 77, 8)
    fitted = fit_tokens(short, 154)
    assert fitted.shape == (1, 154, 8)
    torch.testing.assert_close(fitted[:, :77], short)
    torch.testing.assert_close(fitted[:, 77:], short)
    assert fit_tokens(short, 77) is short


def test_fit_tokens_repetition_keeps_attention_output():
    # Cross-attention over a repeated key/value sequence equals attention over the original.
    generator = torch.Generator().manual_seed(1)
    context = torch.randn(1, 77, 8, generator=generator)
    query = torch.randn(1, 10, 8, generator=generator)
    once = torch.nn.functional.scaled_dot_product_attention(query, context, context)
    twice_ctx = fit_tokens(context, 154)
    twice = torch.nn.functional.scaled_dot_product_attention(query, twice_ctx, twice_ctx)
    torch.testing.assert_close(once, twice, rtol=1e-5, atol=1e-6)


def test_fit_tokens_zero_pads_other_lengths_and_refuses_shortening():
    cond = torch.randn(2, 5, 3)
    padded = fit_tokens(cond, 7)
    torch.testing.assert_close(padded[:, :5], cond)
    assert torch.count_nonzero(padded[:, 5:]) == 0
    with pytest.raises(ValueError, match="cannot shorten"):
        fit_tokens(cond, 4)


def test_blend_of_mismatched_shapes_is_an_error():
    with pytest.raises(ValueError, match="cannot blend"):
        blend(torch.zeros(1, 77, 4), torch.zeros(1, 154, 4), 0.5, "linear")
