"""SparseCtrl in the real ComfyUI: core Apply ControlNet, context windows, clear errors (tier 2).

Random-weight full-size files in the published layouts. Under a context window the control must
compute exactly what it computes for a clip that consists of that window's frames only (hint
frames keep their place in the window, frames outside the window are dropped), both by itself and
through the Per-Window ControlNet node, which copies it per window like a core ControlNet.

Heavy (a full SD1.5 UNet and SparseCtrl encoders on CPU): run under the lock.
"""
import logging

import pytest
import torch

from support.sparsectrl_files import cached_sparsectrl_file

pytestmark = pytest.mark.tier2

LATENT = 8


@pytest.fixture(scope="module")
def controlnet_folder(comfyui_root, tmp_path_factory):
    import folder_paths

    folder = tmp_path_factory.mktemp("sparsectrl_comfy")
    folder_paths.add_model_folder_path("controlnet", str(folder))
    cached_sparsectrl_file(folder, "sc_scribble.safetensors", "scribble", seed=1)
    cached_sparsectrl_file(folder, "sc_rgb.ckpt", "rgb", seed=2)
    return folder


def _load(name):
    from steadyframe.nodes.sparsectrl_nodes import SteadyFrameLoadSparseCtrl

    return SteadyFrameLoadSparseCtrl.execute(name).result[0]


def _hint(images, indices, frames):
    from steadyframe.nodes.sparsectrl_nodes import SteadyFrameSparseCtrlHint

    return SteadyFrameSparseCtrlHint.execute(images, indices, frames).result[0]


def _prepared(control, hint, base_model, vae=None):
    c = control.copy().set_cond_hint(hint.movedim(-1, 1), 1.0, (0.0, 1.0), vae=vae)
    model = base_model.model
    c.pre_run(model, lambda p: model.model_sampling.percent_to_sigma(p))
    return c


def _call(c, frames, transformer_options, seed=4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * frames, 4, LATENT, LATENT, generator=gen)
    context = torch.randn(2 * frames, 77, 768, generator=gen)
    t = torch.full((2 * frames,), 5.0)
    return c.get_control(x, t, {"c_crossattn": context}, 2, transformer_options)


def _assert_same(a, b):
    for key in ("output", "middle"):
        for x, y in zip(a[key], b[key]):
            assert (x is None) == (y is None)
            if x is not None:
                assert torch.allclose(x, y, rtol=1e-4, atol=1e-5), key


def test_both_encoders_load_from_the_controlnet_folder(controlnet_folder):
    import comfy.controlnet

    for name, kind in (("sc_scribble.safetensors", "scribble"), ("sc_rgb.ckpt", "rgb")):
        control = _load(name)
        assert isinstance(control, comfy.controlnet.ControlNet)
        assert control.kind == kind
        assert len(control.control_model.motion_model.modules_in_order()) == 8


@pytest.mark.parametrize("name", ["sc_scribble.safetensors", "sc_rgb.ckpt"])
def test_a_window_sees_exactly_its_own_frames(controlnet_folder, base_model, vae, name):
    import comfy.context_windows

    images = torch.rand(2, LATENT * 8, LATENT * 8, 3, generator=torch.Generator().manual_seed(9))
    control = _load(name)
    vae = vae if "rgb" in name else None
    # 12 frames, hints on frames 2 and 10; the window 4..11 holds frame 10 at its position 6
    whole = _prepared(control, _hint(images, "2,10", 12), base_model, vae)
    window = comfy.context_windows.IndexListContextWindow(list(range(4, 12)), dim=0, total_frames=12)
    windowed = _call(whole, 8, {"context_window": window})
    alone = _prepared(control, _hint(images[1:], "6", 8), base_model, vae)
    _assert_same(windowed, _call(alone, 8, {}))
    # and the comparison can fail: the hint one frame later gives another control
    moved = _prepared(control, _hint(images[1:], "7", 8), base_model, vae)
    assert not torch.allclose(_call(moved, 8, {})["output"][0], windowed["output"][0], atol=1e-4)


def test_per_window_control_copies_it_per_window(controlnet_folder, base_model, caplog):
    """Full sampling of 12 frames in windows of 8 (overlap 4) with the Per-Window ControlNet node."""
    import comfy.patcher_extension
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    import nodes as comfy_nodes
    from steadyframe.nodes.vid2vid_nodes import SteadyFramePerWindowControl

    images = torch.rand(1, LATENT * 8, LATENT * 8, 3, generator=torch.Generator().manual_seed(2))
    control = _load("sc_scribble.safetensors")
    gen = torch.Generator().manual_seed(3)
    positive, negative = [[torch.randn(1, 77, 768, generator=gen), {}]], [[torch.randn(1, 77, 768, generator=gen), {}]]
    positive, negative = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        positive, negative, control, _hint(images, "10", 12), 1.0, 0.0, 1.0)
    model = ContextWindowsManualNode.execute(base_model, 8, 4, "standard_static", 1, False, "pyramid", 0, False).result[0]
    (model,) = SteadyFramePerWindowControl.execute(model).result
    seen = []

    def see_controls(executor, model_, conds, x_in, timestep, model_options):
        seen.append(conds[0][0].get("control"))
        return executor(model_, conds, x_in, timestep, model_options)

    model = model.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "test_see", see_controls)
    latent = {"samples": torch.zeros(12, 4, LATENT, LATENT)}
    with caplog.at_level(logging.WARNING):
        (out,) = comfy_nodes.KSampler().sample(model, 1, 1, 4.0, "euler", "normal", positive, negative, latent)
    assert torch.isfinite(out["samples"]).all()
    assert "not a core ControlNet" not in caplog.text
    assert len(seen) == 2  # two windows, one step
    for c in seen:
        assert type(c).__name__ == "SparseCtrl" and c.cond_hint_original.shape[0] == 8
    # window 0..7 has no hint frame; window 4..11 has frame 10 at its position 6
    assert seen[0].cond_hint_original[:, 3].sum() == 0
    assert seen[1].cond_hint_original[6, 3].min() == 1


def test_rgb_without_a_vae_says_where_to_connect_it(controlnet_folder, base_model):
    images = torch.rand(1, LATENT * 8, LATENT * 8, 3)
    c = _prepared(_load("sc_rgb.ckpt"), _hint(images, "0", 4), base_model, vae=None)
    with pytest.raises(ValueError, match="connect the VAE to the vae input of Apply ControlNet"):
        _call(c, 4, {})


def test_a_hint_of_another_length_names_both_counts(controlnet_folder, base_model):
    images = torch.rand(1, LATENT * 8, LATENT * 8, 3)
    c = _prepared(_load("sc_scribble.safetensors"), _hint(images, "0", 16), base_model)
    with pytest.raises(ValueError, match="the hint has 16 frames but this call has 8 latent frames"):
        _call(c, 8, {})


def test_the_hint_takes_the_clip_length_from_a_connected_latent(comfyui_root):
    from steadyframe.nodes.sparsectrl_nodes import SteadyFrameSparseCtrlHint

    images = torch.rand(1, 16, 16, 3)
    hint = SteadyFrameSparseCtrlHint.execute(images, "-1", 16, latent={"samples": torch.zeros(12, 4, 2, 2)}).result[0]
    assert hint.shape == (12, 16, 16, 4)
    assert hint[11, ..., 3].min() == 1 and hint[:11, ..., 3].max() == 0
