"""The fused CPU linear layers compute what the layers themselves compute, and only where they may."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from steadyframe.motion import fused_linear

needs_onednn = pytest.mark.skipif(fused_linear.onednn_linear() is None,
                                  reason="this torch build has no oneDNN linear primitive (torch.ops.mkldnn)")


class ForwardForbidden(nn.Linear):
    """A linear layer whose own forward must not run: proves that the fused path was taken."""

    def forward(self, x):
        raise AssertionError("the layer's own forward ran")


def _layer(cls, c_in, c_out, bias=True):
    torch.manual_seed(c_in * 7 + c_out)
    layer = cls(c_in, c_out, bias=bias)
    with torch.no_grad():
        layer.weight.normal_(0, c_in ** -0.5)
        if bias:
            layer.bias.normal_()
    return layer


def _reference(layer, x):
    return F.linear(x, layer.weight, layer.bias)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("leading", [(7,), (3, 5)])
def test_fused_layers_equal_the_plain_formulas(bias, leading):
    x = torch.randn(*leading, 24)
    other = torch.randn(*leading, 40)
    other_before = other.clone()
    layer = _layer(ForwardForbidden, 24, 40, bias)
    gated = _layer(ForwardForbidden, 24, 2 * 40, bias)
    with torch.no_grad():
        plain = _reference(layer, x)
        value, gate = _reference(gated, x).chunk(2, dim=-1)
        assert torch.allclose(fused_linear.linear(layer, x), plain, atol=1e-5)
        assert torch.allclose(fused_linear.linear(layer, x, other), plain + other, atol=1e-5)
        assert torch.allclose(fused_linear.geglu(gated, x), value * F.gelu(gate), atol=1e-5)
    assert torch.equal(other, other_before)


@needs_onednn
def test_a_non_contiguous_input_is_read_correctly():
    layer = _layer(ForwardForbidden, 16, 8)
    x = torch.randn(5, 4, 16).transpose(0, 1)
    with torch.no_grad():
        assert torch.allclose(fused_linear.linear(layer, x), _reference(layer, x), atol=1e-5)


def _cast_by_comfy(layer):
    layer.comfy_cast_weights = True


def _weight_patch_pending(layer):
    layer.weight_function = [lambda w: w * 2]


def _bias_patch_pending(layer):
    layer.bias_function = [lambda b: b + 1]


def _float64(layer):
    layer.double()


class _WrappedTensor(torch.Tensor):
    pass


def _tensor_subclass(layer):
    layer.weight = nn.Parameter(layer.weight.detach().as_subclass(_WrappedTensor))


@pytest.mark.parametrize("make_unfusable", [_cast_by_comfy, _weight_patch_pending, _bias_patch_pending, _float64,
                                            _tensor_subclass])
def test_layers_comfyui_casts_or_patches_run_their_own_forward(make_unfusable):
    """ComfyUI applies LoRA/lowvram casts in the layer's forward: skipping it would drop them."""
    layer = _layer(ForwardForbidden, 8, 8)
    make_unfusable(layer)
    x = torch.randn(3, 8, dtype=layer.weight.dtype)
    with torch.no_grad(), pytest.raises(AssertionError, match="own forward ran"):
        fused_linear.linear(layer, x)


def test_gradients_take_the_plain_path():
    layer = _layer(nn.Linear, 8, 12)
    x = torch.randn(3, 8, requires_grad=True)
    assert not fused_linear.fusable(layer, x)
    out = fused_linear.geglu(layer, x).sum() + fused_linear.linear(_layer(nn.Linear, 8, 4), x, torch.ones(3, 4)).sum()
    out.backward()
    assert x.grad is not None and layer.weight.grad is not None


def test_plain_path_keeps_the_residual_and_the_input():
    """Without fusion (float64 here), the sum goes into the fresh output, never into ``other``."""
    layer = _layer(nn.Linear, 8, 6).double()
    x, other = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    x_before, other_before = x.clone(), other.clone()
    with torch.no_grad():
        out = fused_linear.linear(layer, x, other)
    assert torch.allclose(out, _reference(layer, x) + other)
    assert torch.equal(x, x_before) and torch.equal(other, other_before)


def test_the_capability_probe_leaves_the_random_state_alone():
    fused_linear.onednn_linear.cache_clear()
    state = torch.get_rng_state()
    fused_linear.onednn_linear()
    assert torch.equal(torch.get_rng_state(), state)
