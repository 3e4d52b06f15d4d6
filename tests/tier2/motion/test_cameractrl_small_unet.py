"""CameraCtrl on a real ComfyUI SD1.5-architecture UNet at 1/10 width: the paths ADE cannot check.

AnimateDiff-Evolved builds its motion modules at the SD1.5 widths only, so these run our nodes
alone (seconds, not minutes): context windows with a camera, strength 0 equal to no camera, and
a camera change that reaches the latents. The full-width comparison with ADE is in
test_cameractrl_vs_animatediff_evolved.py.
"""
import pytest
import torch

from support.cameractrl_files import write_random_cameractrl
from support.motion_files import write_random_motion_module

pytestmark = pytest.mark.tier2


@pytest.fixture(scope="module")
def narrow_model(comfyui_root):
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    from support.sd15_factory import SD15_UNET_CONFIG, init_random_weights_

    model_config = comfy.supported_models.SD15(dict(SD15_UNET_CONFIG, model_channels=32, num_heads=8, dtype=torch.float32))
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({}, "", device=torch.device("cpu"))
    init_random_weights_(model.diffusion_model, 7)
    model.diffusion_model.to(torch.float32)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


@pytest.fixture(scope="module")
def with_motion(narrow_model, tmp_path_factory):
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    register_motion_folder()
    path = tmp_path_factory.mktemp("narrow_cameractrl")
    folder_paths.add_model_folder_path("animatediff_models", str(path))
    write_random_motion_module(path / "narrow_v3.safetensors", version="v3", channels_scale=0.1, seed=3)
    write_random_cameractrl(path / "narrow_cc.safetensors", channels_scale=0.1, seed=8)
    return {context: SteadyFrameLoadMotionModule.execute(narrow_model, "narrow_v3.safetensors", context_length=context,
                                                         context_overlap=4).result[0] for context in (0, 8)}


def _sample(model, frames, steps=2, seed=5, size=16):
    import nodes as comfy_nodes

    gen = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, size, size)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, steps, 3.0, "euler", "simple", [[cond, {}]], [[uncond, {}]], latent)
    return out["samples"]


def _camera(model, motion, strength=1.0, frames=16):
    from steadyframe.nodes.camera_nodes import SteadyFrameApplyCameraCtrl, SteadyFrameCameraPosePreset

    (poses,) = SteadyFrameCameraPosePreset.execute(motion, 1.0, frames).result
    return SteadyFrameApplyCameraCtrl.execute(model, "narrow_cc.safetensors", poses, strength).result[0]


def test_strength_zero_is_the_motion_module_alone_and_the_move_reaches_the_latents(with_motion):
    model = with_motion[0]
    plain = _sample(model, 6)
    assert torch.allclose(_sample(_camera(model, "orbit left", 0.0), 6), plain, atol=1e-6)
    orbit, zoom = _sample(_camera(model, "orbit left"), 6), _sample(_camera(model, "zoom in"), 6)
    assert float((orbit - plain).norm() / plain.norm()) > 1e-3
    assert float((orbit - zoom).norm() / zoom.norm()) > 1e-4


def test_context_windows_with_a_camera(with_motion):
    # 12 frames in windows of 8 (overlap 4): each window gets the poses of its own frames
    windowed = _sample(_camera(with_motion[8], "pan right", frames=12), 12)
    assert windowed.shape == (12, 4, 16, 16) and torch.isfinite(windowed).all()
    assert float((windowed - _sample(with_motion[8], 12)).norm() / windowed.norm()) > 1e-3
