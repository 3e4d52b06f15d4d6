"""Load AnimateLCM-I2V and Load PIA on the real ComfyUI: clear errors for the wrong file or input,
no copy of the UNet's weights, the UNet back as it was after sampling, context windows.

Heavy (a full random-weight SD1.5 UNet on CPU): run under ``flock /tmp/steadyframe-heavy.lock``.
"""
import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from support.image_motion_files import write_image_motion_file  # noqa: E402
from support.motion_files import write_random_motion_module  # noqa: E402

pytestmark = pytest.mark.tier2

SIZE = 64


@pytest.fixture(scope="module")
def files(comfyui_root, tmp_path_factory):
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder

    register_motion_folder()
    folder = tmp_path_factory.mktemp("image_motion_nodes")
    folder_paths.add_model_folder_path("animatediff_models", str(folder))
    write_image_motion_file(folder / "nodes_i2v.ckpt", "animatelcm_i2v", seed=1, dtype=torch.float16, wrap_state_dict=True)
    write_image_motion_file(folder / "nodes_pia.safetensors", "pia", seed=2, dtype=torch.float16)
    write_random_motion_module(folder / "nodes_v3.safetensors", "v3", seed=3, dtype=torch.float16)
    return {"i2v": "nodes_i2v.ckpt", "pia": "nodes_pia.safetensors", "v3": "nodes_v3.safetensors"}


def _image(seed=0):
    return torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(seed))


def _sample(model, frames, steps=2):
    import comfy.model_management

    import nodes as comfy_nodes

    gen = torch.Generator().manual_seed(1)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, SIZE // 8, SIZE // 8)}
    (out,) = comfy_nodes.KSampler().sample(model, 4, steps, 2.0, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)
    comfy.model_management.unload_all_models()
    return out["samples"]


def test_wrong_files_are_named_with_what_they_are(base_model, vae, files):
    from steadyframe.nodes.image_motion_nodes import SteadyFrameLoadAnimateLCMI2V, SteadyFrameLoadPIA

    with pytest.raises(ValueError, match=r"nodes_pia.safetensors is a PIA file .*not AnimateLCM-I2V"):
        SteadyFrameLoadAnimateLCMI2V.execute(base_model, files["pia"], _image(), vae)
    with pytest.raises(ValueError, match=r"nodes_v3.safetensors is AnimateDiff v3 .*not PIA: it has no conv_in"):
        SteadyFrameLoadPIA.execute(base_model, files["v3"], _image(), vae)
    with pytest.raises(ValueError, match=r"nodes_i2v.ckpt is an AnimateLCM-I2V file .*not PIA"):
        SteadyFrameLoadPIA.execute(base_model, files["i2v"], _image(), vae)


def test_bad_inputs_get_clear_errors(base_model, vae, files):
    from steadyframe.nodes.image_motion_nodes import SteadyFrameLoadAnimateLCMI2V, SteadyFrameLoadPIA

    with pytest.raises(ValueError, match=r"start_image must be an IMAGE batch \(frames, height, width, 3\), got \(64, 64, 3\)"):
        SteadyFrameLoadAnimateLCMI2V.execute(base_model, files["i2v"], _image()[0], vae)
    with pytest.raises(ValueError, match=r"PIA \(nodes_pia.safetensors\): connect a VAE"):
        SteadyFrameLoadPIA.execute(base_model, files["pia"], _image(), None)
    with pytest.raises(ValueError, match="unknown PIA affinity preset 'Wobble'"):
        SteadyFrameLoadPIA.execute(base_model, files["pia"], _image(), vae, affinity_preset="Wobble")


def test_pia_shares_the_unet_conv_in_and_restores_the_unet(base_model, vae, files):
    from steadyframe.comfy_glue.image_motion import CONV_IN_PATH
    from steadyframe.nodes.image_motion_nodes import SteadyFrameLoadPIA

    unet = base_model.model.diffusion_model
    conv = unet.input_blocks[0][0]
    before = {name: p.data_ptr() for name, p in unet.named_parameters()}
    (model,) = SteadyFrameLoadPIA.execute(base_model, files["pia"], _image(), vae, context_length=0).result
    wide = model.object_patches[CONV_IN_PATH]
    assert wide.weight is conv.weight and wide.bias is conv.bias  # shared, not copied
    assert wide._steadyframe_extra_weight.shape == (320, 5, 3, 3)
    latents = _sample(model, 3)
    assert torch.isfinite(latents).all()
    assert unet.input_blocks[0][0] is conv  # the object patch is gone after sampling
    assert {name: p.data_ptr() for name, p in unet.named_parameters()} == before
    assert not any(type(m).__name__.startswith("CrossFrame") for m in unet.modules())


@pytest.mark.parametrize("kind", ["i2v", "pia"])
def test_context_windows_run_and_change_the_result(base_model, vae, files, kind):
    from steadyframe.nodes.image_motion_nodes import SteadyFrameLoadAnimateLCMI2V, SteadyFrameLoadPIA

    def load(context_length):
        if kind == "i2v":
            return SteadyFrameLoadAnimateLCMI2V.execute(base_model, files[kind], _image(), vae, ref_drift=0.3,
                                                        context_length=context_length, context_overlap=2).result[0]
        return SteadyFrameLoadPIA.execute(base_model, files[kind], _image(), vae, affinity_preset="Animation (Large Motion)",
                                          context_length=context_length, context_overlap=2).result[0]

    windowed = _sample(load(4), 6)
    whole = _sample(load(0), 6)
    assert torch.isfinite(windowed).all() and windowed.shape == whole.shape == (6, 4, SIZE // 8, SIZE // 8)
    assert float((windowed - whole).norm() / whole.norm()) > 1e-3  # windows of 4 frames are not one call of 6
